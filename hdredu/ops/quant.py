"""Fake quantization: simulate b-bit integers in float, and train through the rounding with a straight-through estimator.

A b-bit quantizer with step (scale) s and zero point z maps a real x to an integer q and back:

    q    = clamp(round(x / s) + z, q_min, q_max)          the stored integer
    x̂    = (q − z) · s                                    what the integer stands for ("fake-quantized" x)

Inside the representable range [(q_min − z)·s, (q_max − z)·s] the error is at most s/2 (rounding); outside it
x̂ is clipped to the range's end. Two ways to choose (s, z) from a range [lo, hi] of observed values:

    symmetric (weights)   z = 0,  q ∈ [−(2^(b−1) − 1), 2^(b−1) − 1],   s = max(|lo|, |hi|) / (2^(b−1) − 1)
    affine    (activations)       q ∈ [0, 2^b − 1],  s = (hi − lo) / (2^b − 1),  z = round(−lo / s)

(the range is first widened to contain 0, so that 0 is represented exactly: zero padding and ReLU zeros stay
exact). Per tensor, one (s, z) serves the whole tensor; per channel, each output channel of a weight gets its own.

round() has zero gradient almost everywhere, so training through it needs the straight-through estimator (STE):
the backward pass treats round as the identity, and clamp keeps its own gradient. Hence

    ∂x̂/∂x = 1  inside the clip range,   0  outside  (the clipped values do not move)

which is what ``torch.fake_quantize_per_tensor_affine`` computes too (the tests compare both).

:func:`quantize_part` wraps the convolutions of one named part of a model (``"backbone"``, ``"decoder"`` or
``"head"`` of MQNet) so that their weights (per channel, symmetric) and input activations (per tensor, affine,
calibrated) are fake-quantized to b bits: sweep b per part and watch the error grow. Teaching grade: batch norm
is not folded into the weights first, and biases stay float (a real int8 kernel folds BN and keeps an int32
bias); :mod:`hdredu.quantize` does real int8.

Introduced in notebooks/04_mqnet.ipynb, section *Quantization*.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def qrange(bits: int, symmetric: bool) -> tuple[int, int]:
    """(q_min, q_max) of a b-bit quantizer: symmetric [−(2^(b−1) − 1), 2^(b−1) − 1], affine [0, 2^b − 1]."""
    if not isinstance(bits, int) or not 2 <= bits <= 16:
        raise ValueError(f"bits must be an integer in [2, 16]; got {bits!r}")
    if symmetric:
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def quant_params(lo: torch.Tensor, hi: torch.Tensor, bits: int = 8, symmetric: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale s and zero point z that cover [lo, hi] (widened to contain 0) with b bits.

    Args:
        lo, hi: range ends, scalars (per tensor) or (C,) (per channel); lo ≤ hi.
        bits: b in [2, 16]. symmetric: z = 0 and a range symmetric about 0 (weights), else affine (activations).
    Returns:
        (scale, zero_point): float tensors shaped like ``lo``; scale > 0, zero_point an integer in [q_min, q_max].
    """
    q_min, q_max = qrange(bits, symmetric)
    lo = torch.as_tensor(lo, dtype=torch.float32).clamp(max=0.0)  # the range must contain 0
    hi = torch.as_tensor(hi, dtype=torch.float32).clamp(min=0.0)
    tiny = torch.finfo(torch.float32).eps  # a constant tensor (all zeros) still gets a valid step
    if symmetric:
        scale = (torch.maximum(-lo, hi) / q_max).clamp(min=tiny)
        return scale, torch.zeros_like(scale)
    scale = ((hi - lo) / (q_max - q_min)).clamp(min=tiny)
    zero_point = (q_min - torch.round(lo / scale)).clamp(q_min, q_max)
    return scale, zero_point


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    """round(x) forward, identity backward (the straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor, bits: int = 8,
                  symmetric: bool = False, axis: int | None = None) -> torch.Tensor:
    """x̂ = (clamp(round(x / s) + z, q_min, q_max) − z) · s, with the STE gradient (1 inside the range, 0 outside).

    Args:
        x: any shape. scale, zero_point: scalars, or (C,) with ``axis`` naming the dimension of size C.
        bits, symmetric: choose (q_min, q_max) as in :func:`qrange`.
        axis: the channel dimension for per-channel parameters; None = per tensor.
    Returns:
        same shape as x, values on the grid {(q − z)·s}.
    """
    q_min, q_max = qrange(bits, symmetric)
    if axis is not None:  # (C,) → broadcastable (1, …, C, …, 1)
        shape = [1] * x.dim()
        shape[axis] = -1
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    # q = clamp(round(x / s) + z): clamp passes the gradient only where it does not clip
    q = torch.clamp(_round_ste(x / scale) + zero_point, q_min, q_max)
    return (q - zero_point) * scale


def fake_quantize_tensor(x: torch.Tensor, bits: int = 8, symmetric: bool = True, axis: int | None = None) -> torch.Tensor:
    """Fake-quantize x with a range taken from x itself (min / max per tensor, or per slice along ``axis``)."""
    if axis is None:
        lo, hi = x.detach().min(), x.detach().max()
    else:
        flat = x.detach().movedim(axis, 0).flatten(1)  # (C, rest)
        lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
    scale, zero_point = quant_params(lo, hi, bits, symmetric)
    return fake_quantize(x, scale.to(x), zero_point.to(x), bits, symmetric, axis)


class FakeQuantize(nn.Module):
    """A fake quantizer with an observed range: calibrate on a few batches, then freeze.

    While ``observing`` (the start), each forward widens the stored range [lo, hi] to the batch's min / max
    (per tensor, or per slice along ``axis``) and quantizes with it; call :meth:`freeze` after calibration so the
    range stays fixed, as in a deployed integer model.

    Args:
        bits: b in [2, 16]. symmetric: z = 0 (weights) or affine (activations). axis: per-channel dimension or None.
    """

    def __init__(self, bits: int = 8, symmetric: bool = False, axis: int | None = None):
        super().__init__()
        qrange(bits, symmetric)  # validates bits
        self.bits, self.symmetric, self.axis = bits, symmetric, axis
        self.observing = True
        self.register_buffer("lo", torch.tensor([]))
        self.register_buffer("hi", torch.tensor([]))

    def freeze(self) -> FakeQuantize:
        """Stop widening the range (after calibration)."""
        if self.lo.numel() == 0:
            raise RuntimeError("FakeQuantize.freeze(): no range observed yet; run calibration batches first")
        self.observing = False
        return self

    def observe(self, x: torch.Tensor) -> None:
        """Widen [lo, hi] to contain x."""
        if self.axis is None:
            lo, hi = x.detach().min(), x.detach().max()
        else:
            flat = x.detach().movedim(self.axis, 0).flatten(1)
            lo, hi = flat.min(dim=1).values, flat.max(dim=1).values
        if self.lo.numel() == 0:
            self.lo, self.hi = lo.clone(), hi.clone()
        else:
            self.lo, self.hi = torch.minimum(self.lo, lo), torch.maximum(self.hi, hi)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (any shape) → x̂, same shape."""
        if self.observing:
            self.observe(x)
        if self.lo.numel() == 0:
            raise RuntimeError("FakeQuantize has no range: it was frozen before observing any batch")
        scale, zero_point = quant_params(self.lo, self.hi, self.bits, self.symmetric)
        return fake_quantize(x, scale.to(x), zero_point.to(x), self.bits, self.symmetric, self.axis)

    def extra_repr(self) -> str:
        kind = "symmetric" if self.symmetric else "affine"
        return f"bits={self.bits}, {kind}, axis={self.axis}, observing={self.observing}"


class FakeQuantConv2d(nn.Module):
    """A Conv2d whose input activation (per tensor, affine) and weight (per output channel, symmetric) are fake-quantized.

    The weight's range is read from the weight at every call (it is known in advance); the activation's range
    is observed during calibration (:meth:`FakeQuantize.freeze` stops it). The bias stays float.

    Args:
        conv: the convolution to wrap (its parameters are shared, not copied).
        bits: weight bits. activation_bits: activation bits (default = bits); None leaves activations float.
    """

    def __init__(self, conv: nn.Conv2d, bits: int = 8, activation_bits: int | None = -1):
        super().__init__()
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"conv must be an nn.Conv2d; got {type(conv).__name__}")
        activation_bits = bits if activation_bits == -1 else activation_bits
        self.conv, self.bits = conv, bits
        qrange(bits, True)
        self.act_quant = FakeQuantize(activation_bits, symmetric=False) if activation_bits is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) → (B, C_out, H', W'), as the wrapped conv on quantized input and weight."""
        if self.act_quant is not None:
            x = self.act_quant(x)
        weight = fake_quantize_tensor(self.conv.weight, self.bits, symmetric=True, axis=0)  # per output channel
        return self.conv._conv_forward(x, weight, self.conv.bias)


def quantize_part(model: nn.Module, part: str, bits: int = 8, activation_bits: int | None = -1,
                  inplace: bool = False) -> nn.Module:
    """Wrap every Conv2d inside ``model.<part>`` in a :class:`FakeQuantConv2d` with b-bit weights and activations.

    Args:
        model: e.g. an MQNet. part: a submodule name ("backbone", "decoder", "head", or a dotted path).
        bits: weight bits; activation_bits: activation bits (default = bits; None = float activations).
        inplace: modify ``model`` itself; by default a deep copy is changed and returned.
    Returns:
        the model with the part's convolutions wrapped. Calibrate it with :func:`calibrate` before measuring.
    """
    try:
        target = model.get_submodule(part)
    except AttributeError:
        names = [name for name, _ in model.named_children()]
        raise ValueError(f"part must name a submodule of the model, one of {names}; got {part!r}") from None
    model = model if inplace else copy.deepcopy(model)
    target = model.get_submodule(part)
    convs = [(name, module) for name, module in target.named_modules() if isinstance(module, nn.Conv2d)]
    if not convs:
        raise ValueError(f"model.{part} holds no nn.Conv2d to quantize")
    for name, conv in convs:
        parent_name, _, child = name.rpartition(".")
        parent = target.get_submodule(parent_name) if parent_name else target
        setattr(parent, child, FakeQuantConv2d(conv, bits, activation_bits))
    return model


@torch.no_grad()
def calibrate(model: nn.Module, batches, forward=None) -> nn.Module:
    """Observe activation ranges on ``batches`` (an iterable of inputs) in eval mode, then freeze every quantizer.

    Args:
        model: a model with :class:`FakeQuantize` modules inside. batches: inputs for ``forward``.
        forward: how to call the model on one batch (default ``model(batch)``).
    Returns:
        the model (frozen, in eval mode).
    """
    model.eval()
    quantizers = [m for m in model.modules() if isinstance(m, FakeQuantize)]
    for q in quantizers:
        q.observing = True
    count = 0
    for batch in batches:
        model(batch) if forward is None else forward(model, batch)
        count += 1
    if count == 0:
        raise ValueError("batches must hold at least one calibration batch; got none")
    for q in quantizers:
        q.freeze()
    return model
