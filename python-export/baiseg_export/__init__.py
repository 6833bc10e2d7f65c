"""BAISeg in PyTorch: model definitions, training and verified ONNX export for baiseg-rt."""

__version__ = "0.1.0"
