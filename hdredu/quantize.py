"""Real int8 inference on an x86 CPU: MQNet's mixed quantization with torchao's PT2E flow.

MQNet's release converts the trained network in two pieces with TFLite: backbone + decoder to full int8
(static: weights and activations, ranges calibrated on validation images), the small head to "dynamic range"
(int8 weights, float activations), with σ(I + O) computed in float. The PyTorch equivalent that runs on x86
(reference/dependencies.md §6; ``torch.ao.quantization`` is deprecated and not used here) is post-training
static quantization in torchao's PT2E flow:

    1. export      torch.export.export(network, (example,))            one static graph (ATen ops)
    2. annotate    X86InductorQuantizer(): which ops get int8 in / out (conv, linear, add, cat, …)
                   "int8"  : quantizer.set_global(config)              every supported op
                   "mixed" : set_module_name_qconfig("model.backbone" | "model.decoder", config), nothing global:
                             the head (conv + InstanceNorm + tanh) and σ(I + O) stay FP32 — TFLite's dynamic-range
                             head becomes an FP32 head (dynamic quantization does not cover Conv2d in PyTorch)
    3. prepare     prepare_pt2e: insert observers (min / max, per-channel symmetric weights, affine activations)
    4. calibrate   run a few representative LDR images
    5. convert     convert_pt2e: observers → quantize / dequantize pairs (still float math: a "reference" model)
    6. compile     torch.compile (Inductor, freezing=True) fuses each dequant → conv → quant into one oneDNN
                   int8 kernel; only now is it fast. Inductor on CPU needs a C++ compiler.

Variants: "fp32" (export + compile, the baseline), "int8" (everything), "mixed" (MQNet's split).
The exported graph has a static input shape: quantize one model per input size.

Measured (torch 2.13.0 + torchao 0.18.0, shared 2-core AVX-512 CPU, 1 thread, benchmarks/bench_mqnet.py): paper
model at 768×1280, compiled fp32 1.77 s, all-int8 0.82 s, mixed 0.75 s (2.35×); at 256², 55 / 49 / 69 ms (the
mixed split does not pay at that size). Stored weights 3.6 MB → 1.06 MB. Output agreement with fp32: PSNR-μ ≈ 90 dB
(int8) and ≈ 97 dB (mixed) on random weights; a briefly trained tiny model loses < 0.01 dB PSNR-μ.
Introduced in notebooks/04_mqnet.ipynb, section *Mixed quantization*.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
from collections.abc import Iterable

import torch
from torch import nn

VARIANTS = ("fp32", "int8", "mixed")
# the parts of an MQNet that "mixed" quantizes (names inside the exported wrapper below)
MIXED_INT8_PARTS = ("model.backbone", "model.decoder")
TORCHAO_HINT = "install it with: pip install -c constraints.txt 'torchao==0.18.*' (0.18.0 is tested with torch 2.13)"


class ExportableNetwork(nn.Module):
    """``model.network(ldr)[0]`` as a plain Module: the bare network without input checks or padding.

    ``torch.export`` cannot trace MQNet's data-dependent checks (values in [0, 1], padding to 32), so the export
    starts here; the parts keep their names under ``model.`` (``model.backbone``, ``model.decoder``, ``model.head``).
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        return self.model.network(ldr)[0]


def int8_support_problems(compile: bool = True) -> list[str]:
    """What this machine lacks for real int8 with PT2E + Inductor; an empty list when everything is there.

    Checks: torch ≥ 2.5 (``torch.export`` + PT2E), torchao installed, an x86-64 CPU with AVX2 or better
    (oneDNN's int8 kernels behind ``X86InductorQuantizer``), and, with ``compile``, a C++ compiler for Inductor.
    """
    problems = []
    major, minor = (int(part) for part in torch.__version__.split(".")[:2])
    if (major, minor) < (2, 5):
        problems.append(f"torch >= 2.5 is needed for torch.export + PT2E quantization; installed {torch.__version__}")
    if importlib.util.find_spec("torchao") is None:
        problems.append(f"torchao is not installed ({TORCHAO_HINT})")
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64", "x64"):
        problems.append(f"X86InductorQuantizer needs an x86-64 CPU; this one is {platform.machine()!r} "
                        "(on ARM / mobile, ExecuTorch's XNNPACKQuantizer is the analogue)")
    else:
        capability = torch.backends.cpu.get_cpu_capability()
        if not capability.startswith("AVX"):
            problems.append(f"oneDNN int8 kernels need AVX2 or AVX-512; torch reports CPU capability {capability!r}")
    if compile and not any(shutil.which(name) for name in (os.environ.get("CXX", ""), "g++", "c++", "clang++") if name):
        problems.append("torch.compile (Inductor) needs a C++ compiler on PATH (g++ or clang++; or set CXX)")
    return problems


def check_int8_support(compile: bool = True) -> None:
    """Raise RuntimeError listing everything :func:`int8_support_problems` finds missing."""
    problems = int8_support_problems(compile)
    if problems:
        raise RuntimeError("real int8 quantization cannot run here:\n  - " + "\n  - ".join(problems))


def _import_pt2e():
    """torchao's PT2E entry points (imported late: torchao prints load warnings for GPU kernels it cannot use)."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

    return prepare_pt2e, convert_pt2e, x86


def export_network(model: nn.Module, example: torch.Tensor) -> torch.fx.GraphModule:
    """``torch.export`` MQNet's bare network for inputs shaped like ``example`` (B, 3, H, W), H, W multiples of 32."""
    if example.dim() != 4 or example.shape[1] != 3 or example.shape[-1] % 32 or example.shape[-2] % 32:
        raise ValueError(f"example must be (B, 3, H, W) with H and W multiples of 32; got {tuple(example.shape)}")
    model.eval()
    with torch.no_grad():
        return torch.export.export(ExportableNetwork(model).eval(), (example,)).module()


def quantize_network(model: nn.Module, calibration: Iterable[torch.Tensor], variant: str = "mixed",
                     example: torch.Tensor | None = None) -> torch.fx.GraphModule:
    """Steps 1–5: an exported network with int8 quantize / dequantize nodes, not yet compiled (float math).

    Args:
        model: a trained MQNet (any module with ``network(ldr) -> (output, ...)`` and parts ``backbone``,
            ``decoder``, ``head``).
        calibration: (B, 3, H, W) LDR batches in [0, 1], all of the example's shape (at least one).
        variant: "fp32" (export only), "int8" (every supported op), "mixed" (backbone + decoder int8, head FP32).
        example: the input shape to export for; default the first calibration batch.
    Returns:
        a GraphModule: ``gm(ldr)`` → (B, 3, H, W). Compile it with :func:`compile_cpu` for speed.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
    batches = list(calibration)
    if not batches:
        raise ValueError("calibration must hold at least one (B, 3, H, W) batch of LDR images")
    example = batches[0] if example is None else example
    for index, batch in enumerate(batches):
        if batch.shape != example.shape:
            raise ValueError(f"calibration[{index}] must have the example's shape {tuple(example.shape)} (the export is "
                             f"static); got {tuple(batch.shape)}")
    if variant != "fp32":
        check_int8_support(compile=False)
    exported = export_network(model, example)
    if variant == "fp32":
        return exported
    prepare_pt2e, convert_pt2e, x86 = _import_pt2e()
    quantizer = x86.X86InductorQuantizer()
    config = x86.get_default_x86_inductor_quantization_config()  # int8 static: per-channel weights, affine activations
    if variant == "int8":
        quantizer.set_global(config)
    else:
        for name in MIXED_INT8_PARTS:  # no global config: everything else (the head) stays FP32
            quantizer.set_module_name_qconfig(name, config)
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for batch in batches:  # 4. calibrate: the observers record activation ranges
            prepared(batch)
    return convert_pt2e(prepared)


class CompiledCPU(nn.Module):
    """``torch.compile`` (Inductor) of a module, always called without gradients and with constant freezing.

    Freezing (``torch._inductor.config.freezing``) turns the weights into constants so Inductor can pre-pack them and
    fuse dequantize → conv → quantize into one oneDNN int8 convolution; without it the int8 graph cannot compile.
    It is set only around each call (``config.patch``), not for the whole process.
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.compiled = torch.compile(module)

    def forward(self, *args):
        with torch.no_grad(), torch._inductor.config.patch(freezing=True):
            return self.compiled(*args)


def compile_cpu(module: nn.Module) -> CompiledCPU:
    """Step 6: Inductor with constant freezing; compiles on the first call (tens of seconds on a small CPU)."""
    check_int8_support(compile=True)
    import torch._inductor.config  # noqa: F401  (makes torch._inductor.config available for CompiledCPU)

    return CompiledCPU(module)


class QuantizedMQNet(nn.Module):
    """An MQNet variant ready to run: checks the input like MQNet, then calls the exported (compiled) network.

    Args:
        network: from :func:`quantize_network` (optionally compiled). shape: the static (B, 3, H, W) it was built for.
        variant: its name, for messages.
    """

    def __init__(self, network, shape: tuple[int, ...], variant: str):
        super().__init__()
        self.network, self.shape, self.variant = network, tuple(shape), variant

    def forward(self, ldr: torch.Tensor) -> torch.Tensor:
        if tuple(ldr.shape) != self.shape:
            raise ValueError(f"ldr must have shape {self.shape}: the {self.variant} network was exported and calibrated "
                             f"for it; got {tuple(ldr.shape)} (build another variant for this size)")
        if ldr.min() < 0 or ldr.max() > 1:
            raise ValueError(f"ldr must hold LDR values in [0, 1]; got min {ldr.min().item():.4g}, max {ldr.max().item():.4g}")
        with torch.no_grad():
            return self.network(ldr)


def build_variant(model: nn.Module, variant: str, calibration: Iterable[torch.Tensor], compile: bool = True) -> QuantizedMQNet:
    """Export, quantize (unless "fp32"), calibrate, convert and (by default) compile one variant of ``model``.

    Example::

        crops = [ldr[None] for ldr in validation_crops]           # (1, 3, 256, 256) each
        mixed = build_variant(model, "mixed", crops)              # backbone + decoder int8, head FP32
        hdr = mixed(crops[0])

    Raises:
        RuntimeError: torch / torchao / the CPU / the C++ compiler cannot serve the request (what is missing is listed).
    """
    batches = list(calibration)
    if compile:
        check_int8_support(compile=True)
    network = quantize_network(model, batches, variant)
    shape = tuple(batches[0].shape)
    return QuantizedMQNet(compile_cpu(network) if compile else network, shape, variant)


def model_bytes(model) -> int:
    """Bytes of the weights a variant stores: parameters and buffers, or for an exported / converted graph the
    constants its nodes read (int8 weights count 1 byte per value, their float scales and int64 zero points too).

    Accepts an nn.Module, a GraphModule from :func:`quantize_network`, a :class:`CompiledCPU` or a
    :class:`QuantizedMQNet` (both unwrapped to the graph they run).
    """
    while isinstance(model, (QuantizedMQNet, CompiledCPU)):
        model = model.network if isinstance(model, QuantizedMQNet) else model.module
    if isinstance(model, torch.fx.GraphModule):
        tensors = {}
        for node in model.graph.nodes:
            if node.op == "get_attr":
                value = model
                for part in node.target.split("."):
                    value = getattr(value, part)
                if isinstance(value, torch.Tensor):
                    tensors[node.target] = value
        return sum(t.numel() * t.element_size() for t in tensors.values())
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)
