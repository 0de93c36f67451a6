"""ONNX export of MQNet's variants, run by onnxruntime and checked against PyTorch.

Two forms leave PyTorch:

    fp32    torch.onnx.export of the bare network (``quantize.ExportableNetwork``): plain Conv / Relu / … nodes
    int8, mixed
            the PT2E-quantized graph of :func:`hdredu.quantize.quantize_network` (steps 1–5: export, annotate,
            calibrate, convert), exported as it is. Its quantize / dequantize pairs become ONNX
            ``QuantizeLinear`` / ``DequantizeLinear`` nodes around float ops: the "QDQ" form. A runtime with int8
            kernels (onnxruntime's graph optimiser, TensorRT, XNNPACK …) fuses DequantizeLinear → Conv →
            QuantizeLinear into an integer convolution; in "mixed" the head has no QDQ nodes and stays float.

Both use the dynamo-based exporter (``torch.onnx.export(..., dynamo=True)``), which needs the ``onnx`` and
``onnxscript`` packages; running needs ``onnxruntime``. None of them is a dependency of hdredu: install them with
``pip install -c constraints.txt onnx onnxscript onnxruntime``. The exported graph has the example's static shape.

Introduced in notebooks/04_mqnet.ipynb, section *Real int8*.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn

from hdredu import quantize

ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
ONNX_HINT = "install them with: pip install -c constraints.txt onnx onnxscript onnxruntime"


def onnx_support_problems(variant: str = "fp32") -> list[str]:
    """What this machine lacks to export ``variant`` to ONNX and run it; an empty list when nothing is missing."""
    missing = [name for name in ONNX_PACKAGES if importlib.util.find_spec(name) is None]
    problems = [f"{', '.join(missing)} not installed ({ONNX_HINT})"] if missing else []
    if variant != "fp32":
        problems += quantize.int8_support_problems(compile=False)
    return problems


def export_onnx(model: nn.Module, path: str | Path, example: torch.Tensor, variant: str = "fp32",
                calibration: Iterable[torch.Tensor] | None = None) -> Path:
    """Write ``variant`` of an MQNet to an ONNX file.

    Args:
        model: a trained MQNet (anything :func:`hdredu.quantize.quantize_network` accepts).
        path: the .onnx file to write (its folder must exist).
        example: (B, 3, H, W) LDR in [0, 1], H and W multiples of 32: the static input shape of the file.
        variant: "fp32", "int8" or "mixed" (see :data:`hdredu.quantize.VARIANTS`).
        calibration: batches shaped like ``example`` for "int8" / "mixed" (default: the example alone).
    Returns:
        the path written. Input name "ldr", output name "hdr".
    Raises:
        ValueError: unknown variant. RuntimeError: the ONNX packages (or, for int8, torchao) are missing.
    """
    if variant not in quantize.VARIANTS:
        raise ValueError(f"variant must be one of {quantize.VARIANTS}; got {variant!r}")
    problems = onnx_support_problems(variant)
    if problems:
        raise RuntimeError("ONNX export cannot run here:\n  - " + "\n  - ".join(problems))
    model.eval()
    if variant == "fp32":
        network = quantize.ExportableNetwork(model).eval()
    else:  # the converted PT2E graph: quantize / dequantize nodes → QuantizeLinear / DequantizeLinear
        network = quantize.quantize_network(model, [example] if calibration is None else calibration, variant, example)
    path = Path(path)
    with torch.no_grad(), warnings.catch_warnings():
        # a GraphModule from torch.export cannot be switched to eval(); it has no train-mode behaviour left to warn of
        warnings.filterwarnings("ignore", message="Exporting a model while it is in training mode")
        # optimize=False: onnxscript's graph optimiser roughly doubles the export time on a small CPU, and
        # onnxruntime optimises the graph itself when it loads it (constant folding, QDQ fusion)
        torch.onnx.export(network, (example,), str(path), input_names=["ldr"], output_names=["hdr"], dynamo=True,
                          optimize=False, verbose=False)
    return path


class OnnxModel:
    """An ONNX file run by onnxruntime on the CPU, called like a module: (B, 3, H, W) tensor → (B, 3, H, W) tensor.

    Args:
        path: the file written by :func:`export_onnx`. threads: intra-op threads (None = onnxruntime's default).
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        self.path = Path(path)
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, ldr: torch.Tensor) -> torch.Tensor:
        array = ldr.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])


def op_counts(path: str | Path) -> dict[str, int]:
    """{ONNX op type: number of nodes} of a file, most frequent first (e.g. QuantizeLinear, Conv …)."""
    import onnx

    graph = onnx.load(str(path)).graph
    return dict(Counter(node.op_type for node in graph.node).most_common())
