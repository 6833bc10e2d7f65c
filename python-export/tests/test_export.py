"""Export + ORT parity check + metadata (docs/model-contract.md), and the committed tiny fixture."""

import json
import os

import numpy as np
import onnx
import pytest
import torch

from baiseg_export import contract as C
from baiseg_export.export import ParityError, check_parity, onnx_export, read_metadata
from baiseg_export.models import create_model
from baiseg_export.models.baiseg import ExportWrapper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "fixtures", "models", "tiny.onnx")


def _check_contract(path, single_branch=False):
    m = onnx.load(path)
    assert m.opset_import[0].version >= 17
    assert [i.name for i in m.graph.input] == [C.INPUT_NAME]
    outs = [o.name for o in m.graph.output]
    assert outs == ([C.BOUNDARY_NAME] if single_branch else [C.BOUNDARY_NAME, C.SEMANTIC_NAME])
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert dims[1].dim_value == 3
    for d in (dims[0], dims[2], dims[3]):
        assert d.dim_param and not d.dim_value  # dynamic N, H, W
    assert m.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    meta = read_metadata(path)
    for k in C.REQUIRED_METADATA:
        assert k in meta, k
    classes = json.loads(meta[C.META_CLASSES])
    assert len(json.loads(meta[C.META_MEAN])) == 3 and len(json.loads(meta[C.META_STD])) == 3
    assert int(meta[C.META_SIZE_DIVISOR]) == 32
    cfg = json.loads(meta[C.META_CONFIG])
    assert cfg["num_classes"] == len(classes)
    return meta


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """tiny config, random init, exported once per branch layout (the export checks parity)."""
    torch.manual_seed(0)
    model = create_model("tiny")
    d = tmp_path_factory.mktemp("export")
    paths = {}
    for single in (False, True):
        path = str(d / f"m{int(single)}.onnx")
        worst = onnx_export(model, path, single_branch=single, input_size=192)
        assert worst <= 1e-4
        paths[single] = path
    return paths


@pytest.mark.parametrize("single", [False, True])
def test_export_parity_and_metadata(exported, single):
    path = exported[single]
    meta = _check_contract(path, single)
    assert meta[C.META_INPUT_SIZE] == "192"
    # the exported graph at a third size, batch 3
    import onnxruntime as ort

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((3, 3, 96, 64)).astype(np.float32)
    outs = sess.run(None, {"image": x})
    assert outs[0].shape == (3, 1, 96, 64)
    if not single:
        assert outs[1].shape == (3, 4, 96, 64)
        np.testing.assert_allclose(outs[1].sum(1), 1.0, atol=1e-5)


def test_parity_check_fails_on_mismatch(exported):
    torch.manual_seed(1)
    other = ExportWrapper(create_model("tiny")).eval()  # different random weights
    with pytest.raises(ParityError):
        check_parity(other, exported[False], inputs=[torch.randn(1, 3, 64, 64)])


@pytest.mark.skipif(not os.path.exists(TINY), reason="fixtures/models/tiny.onnx not built")
def test_tiny_fixture_contract():
    meta = _check_contract(TINY)
    assert json.loads(meta[C.META_CLASSES]) == ["disc", "box", "triangle"]
    assert os.path.getsize(TINY) < 5_000_000
