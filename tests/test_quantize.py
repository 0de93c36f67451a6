"""Tests for hdredu.quantize: PT2E int8 variants of MQNet stay close to FP32 on a bundled scene; clear errors."""

import platform
import shutil

import pytest
import torch

from hdredu import quantize
from hdredu.data.samples import load_sample
from hdredu.imaging.tonemap import reinhard
from hdredu.models.mqnet import MQNet, MQNetConfig

# max / mean |variant − FP32| on the tiny model (seed 0), 64² crops of the courtyard scene, reference (uncompiled)
# int8 graphs; measured: int8 2.6e-3 / 7e-5, mixed 6.8e-4 / 5e-5 (outputs lie in (0.27, 0.88))
TOLERANCE = {"fp32": (1e-6, 1e-7), "int8": (1e-2, 5e-4), "mixed": (5e-3, 3e-4)}


@pytest.fixture(scope="module")
def scene_crops():
    ldr = reinhard(load_sample("courtyard"))  # (3, 256, 384) display image in [0, 1]
    calibration = [ldr[None, :, top : top + 64, left : left + 64].contiguous() for top in (0, 96, 192) for left in (0, 160, 320)]
    test = ldr[None, :, 128:192, 200:264].contiguous()
    return calibration, test


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return MQNet(MQNetConfig.tiny()).eval()


def conv_parts(graph_module):
    """{part: [is the conv's weight int8-dequantized?]} for every convolution node of an exported graph."""
    parts = {}
    for node in graph_module.graph.nodes:
        if node.op == "call_function" and node.target == torch.ops.aten.conv2d.default:
            stack = [path for path, _ in node.meta.get("nn_module_stack", {}).values()]
            part = next((p.split(".")[1] for p in stack if p.count(".") >= 1 and p.startswith("model.")), "?")
            weight = node.args[1]
            parts.setdefault(part, []).append(weight.op == "call_function" and "dequantize" in str(weight.target))
    return parts


@pytest.mark.parametrize("variant", quantize.VARIANTS)
def test_variants_stay_within_tolerance_of_fp32(variant, tiny_model, scene_crops):
    pytest.importorskip("torchao")
    calibration, test = scene_crops
    with torch.no_grad():
        reference = tiny_model(test)
    network = quantize.quantize_network(tiny_model, calibration, variant, example=test)
    with torch.no_grad():
        err = (network(test) - reference).abs()
    max_tol, mean_tol = TOLERANCE[variant]
    assert err.max() <= max_tol and err.mean() <= mean_tol
    parts = conv_parts(network)
    assert set(parts) == {"backbone", "decoder", "head"}
    if variant == "fp32":
        assert not any(any(flags) for flags in parts.values())
    if variant == "int8":
        assert all(all(flags) for flags in parts.values())
    if variant == "mixed":  # backbone + decoder int8, head FP32
        assert all(parts["backbone"]) and all(parts["decoder"]) and not any(parts["head"])
    # stored weights: fp32 = 4 bytes per parameter (+ BN statistics); int8 variants store ≈ 1 byte per weight
    fp32_bytes = quantize.model_bytes(tiny_model)
    if variant == "fp32":
        assert quantize.model_bytes(network) == fp32_bytes
    else:
        assert quantize.model_bytes(network) < 0.5 * fp32_bytes


@pytest.mark.slow
def test_compiled_mixed_variant_runs_int8_kernels_close_to_fp32(tiny_model, scene_crops):
    # torch.compile (Inductor, C++ codegen) takes ~1–2 minutes on a shared 2-core CPU: hence `slow`
    pytest.importorskip("torchao")
    if quantize.int8_support_problems(compile=True):
        pytest.skip("; ".join(quantize.int8_support_problems(compile=True)))
    calibration, test = scene_crops
    with torch.no_grad():
        reference = tiny_model(test)
    mixed = quantize.build_variant(tiny_model, "mixed", calibration)
    err = (mixed(test) - reference).abs()
    assert err.max() <= TOLERANCE["mixed"][0] and err.mean() <= TOLERANCE["mixed"][1]


def test_quantized_model_checks_its_input(tiny_model, scene_crops):
    pytest.importorskip("torchao")
    calibration, test = scene_crops
    wrapped = quantize.build_variant(tiny_model, "fp32", calibration, compile=False)
    torch.testing.assert_close(wrapped(test), tiny_model(test).detach())
    with pytest.raises(ValueError, match=r"ldr must have shape \(1, 3, 64, 64\): the fp32 network was exported"):
        wrapped(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"ldr must hold LDR values in \[0, 1\]"):
        wrapped(test * 2)


def test_argument_errors(tiny_model, scene_crops):
    calibration, test = scene_crops
    with pytest.raises(ValueError, match="variant must be one of"):
        quantize.quantize_network(tiny_model, calibration, "int4")
    with pytest.raises(ValueError, match="calibration must hold at least one"):
        quantize.quantize_network(tiny_model, [], "mixed")
    with pytest.raises(ValueError, match=r"calibration\[1\] must have the example's shape \(1, 3, 64, 64\)"):
        quantize.quantize_network(tiny_model, [test, torch.rand(1, 3, 32, 32)], "fp32")
    with pytest.raises(ValueError, match="example must be .* multiples of 32"):
        quantize.export_network(tiny_model, torch.rand(1, 3, 50, 64))


def test_missing_support_is_named_not_a_traceback(monkeypatch, tiny_model, scene_crops):
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(quantize.importlib.util, "find_spec", lambda name: None)
    problems = quantize.int8_support_problems(compile=True)
    assert any("torchao is not installed" in p for p in problems)
    assert any("needs an x86-64 CPU; this one is 'arm64'" in p for p in problems)
    assert any("needs a C++ compiler" in p for p in problems)
    calibration, _ = scene_crops
    with pytest.raises(RuntimeError, match=r"real int8 quantization cannot run here:\n  - torchao is not installed"):
        quantize.quantize_network(tiny_model, calibration, "mixed")
    with pytest.raises(RuntimeError, match="C\\+\\+ compiler"):
        quantize.build_variant(tiny_model, "fp32", calibration)
    assert quantize.int8_support_problems(compile=False) == [p for p in problems if "C++" not in p]
