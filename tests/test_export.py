"""Tests for hdredu.export: ONNX files of MQNet's fp32 and mixed (QDQ) variants, run by onnxruntime, equal PyTorch.

Skipped where onnx / onnxscript / onnxruntime (and, for the quantized variant, torchao) are not installed.
"""

import pytest
import torch

from hdredu import export, quantize
from hdredu.data.samples import load_sample
from hdredu.imaging.tonemap import reinhard
from hdredu.models.mqnet import MQNet, MQNetConfig

needs_onnx = pytest.mark.skipif(bool(export.onnx_support_problems("fp32")), reason="onnx / onnxscript / onnxruntime missing")
needs_int8 = pytest.mark.skipif(bool(export.onnx_support_problems("mixed")), reason="ONNX packages or torchao missing")


@pytest.fixture(scope="module")
def crops():
    ldr = reinhard(load_sample("courtyard"))  # (3, 256, 384) in [0, 1]
    calibration = [ldr[None, :, top : top + 32, left : left + 32].contiguous() for top in (0, 128) for left in (0, 192)]
    return calibration, ldr[None, :, 96:128, 160:192].contiguous()


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return MQNet(MQNetConfig.tiny()).eval()


@needs_onnx
def test_fp32_onnx_equals_pytorch(tmp_path, crops, tiny_model):
    _, test = crops
    path = export.export_onnx(tiny_model, tmp_path / "fp32.onnx", test)
    with torch.no_grad():
        expected = tiny_model(test)
    assert torch.allclose(export.OnnxModel(path, threads=1)(test), expected, atol=1e-5)
    counts = export.op_counts(path)
    assert counts["Conv"] > 50 and "QuantizeLinear" not in counts


@pytest.mark.slow  # quantize + export + onnxruntime: ≈ 10 s on a quiet 2-core CPU (≈ 60 s under heavy load)
@needs_int8
def test_mixed_onnx_is_qdq_and_equals_the_converted_graph(tmp_path, crops, tiny_model):
    calibration, test = crops
    path = export.export_onnx(tiny_model, tmp_path / "mixed.onnx", test, "mixed", calibration)
    with torch.no_grad():
        expected = quantize.quantize_network(tiny_model, calibration, "mixed", test)(test)
    got = export.OnnxModel(path, threads=1)(test)
    # the same integer grid on both sides: equal up to float rounding (measured 1.2e-7)
    assert torch.allclose(got, expected, atol=1e-4)
    counts = export.op_counts(path)
    assert counts["QuantizeLinear"] > 0 and counts["DequantizeLinear"] >= counts["QuantizeLinear"]
    assert counts["InstanceNormalization"] == 2, "the head (with its two instance norms) stays in float"


def test_export_refuses_unknown_variants(tmp_path, crops, tiny_model):
    with pytest.raises(ValueError, match="variant must be one of"):
        export.export_onnx(tiny_model, tmp_path / "x.onnx", crops[1], "int4")


def test_support_problems_name_the_missing_packages(monkeypatch):
    monkeypatch.setattr(export.importlib.util, "find_spec", lambda name: None)
    problems = export.onnx_support_problems("fp32")
    assert len(problems) == 1 and "onnxruntime" in problems[0] and "pip install" in problems[0]
