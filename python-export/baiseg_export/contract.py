"""The model contract of docs/model-contract.md (what the Rust runtime validates)."""

INPUT_NAME = "image"
BOUNDARY_NAME = "boundary"
SEMANTIC_NAME = "semantic"
OPSET = 17
SIZE_DIVISOR = 32  # HRNet's coarsest branch has stride 32

META_CLASSES = "baiseg.classes"
META_MEAN = "baiseg.mean"
META_STD = "baiseg.std"
META_SIZE_DIVISOR = "baiseg.size_divisor"
META_INPUT_SIZE = "baiseg.input_size"
META_CONFIG = "baiseg.config"
META_VERSION = "baiseg.version"
REQUIRED_METADATA = (META_CLASSES, META_MEAN, META_STD, META_SIZE_DIVISOR, META_INPUT_SIZE, META_CONFIG, META_VERSION)
# extra, informative keys written by this exporter
META_CONTOURS = "baiseg.contours"  # "semantic" | "instance": the boundary labels the model was trained on
META_ITERATIONS = "baiseg.train_iterations"
