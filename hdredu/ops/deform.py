"""Modulated deformable convolution (DCNv2) in pure PyTorch, with ``torchvision.ops.deform_conv2d``'s contract.

A k×k convolution reads its K = kh·kw taps on a fixed grid around each output pixel. A deformable
convolution moves every tap by a learned, per-pixel offset (Δy, Δx) and, in DCNv2, scales it by a learned
modulation m ∈ [0, 1]:

    out[o, i, j] = b[o] + Σ_{c, k} w[o, c, k] · m[g, k, i, j] · x[c](p_y, p_x)
    p_y = i·s − p + di·d + Δy[g, k, i, j],   p_x = j·s − p + dj·d + Δx[g, k, i, j]

with tap k = di·kw + dj, stride s, padding p, dilation d, and x[c](p_y, p_x) the bilinear interpolation of
channel c at a fractional position, **zero outside the image** (each of the 4 corners outside
[0, H−1] × [0, W−1] contributes 0). The channels are split into G contiguous *deformable groups*; channel c
uses the offsets and mask of group g = c // (C/G). Conv ``groups`` (weight (Cout, C/groups, kh, kw)) are
independent of G.

Layouts (torchvision, mmcv, CharlesShang's DCNv2 and ADNet's CUDA kernel agree):
    input  (B, C, H, W)
    offset (B, 2·G·K, Ho, Wo)   channel 2·(g·K + k) is Δy and 2·(g·K + k) + 1 is Δx: [G][K][(dy, dx)],
                                **dy first** (optical flow is (dx, dy): flip it before adding flow)
    mask   (B, G·K, Ho, Wo)     channel g·K + k, used as given (the caller applies the sigmoid); None = 1
    weight (Cout, C/groups, kh, kw),  bias (Cout,) or None
Offsets and mask live at the *output* resolution Ho × Wo.

How it is computed (``F.grid_sample`` does the bilinear sampling with zero padding): the sample positions
of all taps are one grid; ``grid_sample`` reads each deformable group of channels at its own positions;
the samples times the mask are the im2col "columns", and one matmul with the weights finishes the
convolution. Two ways to organise this, equal up to float rounding:
    "columns"  build the (B, C·K, Ho·Wo) column tensor, then one matmul. Fastest, but it holds K = 9 copies
               of the input: 64 channels at 1000×1500 are 3.5 GB of columns.
    "taps"     loop over the K taps: positions and samples (B, C, Ho, Wo) of one tap, accumulated into the
               output as w[:, :, k] · sample_k. Never holds more than one tap's samples (in inference).
    "auto"     (default) "columns" while the column tensor stays under ``COLUMN_BYTES_LIMIT`` (128 MiB),
               else "taps": small crops (training, tests) take the fast path, full frames the bounded one.
(Under autograd both paths keep every tap's samples for the weight gradient, so the saving is at inference.)
``rows=(top, bottom)`` computes only those output rows from offsets and mask given for them, so a caller can
also make the offsets band by band (ADNet does, in inference); the input stays whole.

``grid_sample`` is used with ``align_corners=False`` and the matching normalisation g = (2p + 1)/W − 1, which
maps pixel p exactly to the same point as ``align_corners=True`` with 2p/(W − 1) − 1 but does not divide by
zero when H or W is 1. :func:`deform_conv2d_reference` is the literal loop written from the equation above,
in float64, for tests.

Paper: Zhu, Hu, Lin, Dai, "Deformable ConvNets v2: More Deformable, Better Results", CVPR 2019 (modulation);
Dai et al., "Deformable Convolutional Networks", ICCV 2017.
Introduced in notebooks/03_adnet.ipynb, section *Deformable convolution*.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.utils import check_shape

# "auto" switches from the column tensor to the per-tap loop above this many bytes of columns.
COLUMN_BYTES_LIMIT = 128 * 2**20
METHODS = ("auto", "columns", "taps")


def _pair(value, name: str) -> tuple[int, int]:
    """An int or a pair of ints → (rows, cols), checked to be non-negative integers."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 0 for v in pair):
        raise ValueError(f"{name} must be a non-negative int or a pair of them; got {value!r}")
    return pair


def _check_args(input, offset, weight, bias, mask, stride, padding, dilation, rows=None):
    """Check every shape against the layouts of the module docstring; return the derived sizes.

    Returns:
        dict with B, C, H, W, Cout, groups, G, kh, kw, K, Ho, Wo, row0, stride, padding, dilation
        (Ho = the number of output rows computed, row0 = the first one; all rows unless ``rows`` is given).
    """
    sizes = check_shape(input, "B C H W", "input")
    batch, channels, height, width = sizes["B"], sizes["C"], sizes["H"], sizes["W"]
    check_shape(weight, "Cout Cg kh kw", "weight")
    out_channels, group_channels, kh, kw = weight.shape
    if group_channels == 0 or channels % group_channels:
        raise ValueError(f"weight must be (Cout, C/groups, kh, kw) with C/groups dividing C = {channels}; "
                         f"got {tuple(weight.shape)}")
    groups = channels // group_channels
    if out_channels % groups:
        raise ValueError(f"weight's Cout = {out_channels} must be divisible by groups = {groups} (= C / weight.shape[1])")
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"bias must be (Cout,) = ({out_channels},) or None; got {tuple(bias.shape)}")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride"), _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(sh, sw, dh, dw) < 1:
        raise ValueError(f"stride and dilation must be positive; got stride={stride!r}, dilation={dilation!r}")
    # output size of an ordinary convolution with these settings
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(f"input {height}x{width} is too small for a {kh}x{kw} kernel with padding {padding}, "
                         f"dilation {dilation}")
    row0 = 0
    if rows is not None:
        if len(rows) != 2 or not 0 <= rows[0] < rows[1] <= out_h:
            raise ValueError(f"rows must be (top, bottom) with 0 ≤ top < bottom ≤ Ho = {out_h}; got {rows!r}")
        row0, out_h = rows[0], rows[1] - rows[0]
    taps = kh * kw
    # the number of deformable groups G is read from the offset channels, as torchvision does
    good = isinstance(offset, torch.Tensor) and offset.dim() == 4 and offset.shape[1] > 0
    good = good and offset.shape[1] % (2 * taps) == 0 and channels % max(offset.shape[1] // (2 * taps), 1) == 0
    if not good or offset.shape[0] != batch or tuple(offset.shape[2:]) != (out_h, out_w):
        got = tuple(offset.shape) if isinstance(offset, torch.Tensor) else type(offset).__name__
        raise ValueError(f"offset must be (B, 2·G·K, Ho, Wo) = ({batch}, 2·G·{taps}, {out_h}, {out_w}) with G "
                         f"deformable groups dividing C = {channels}, laid out [G][K][(dy, dx)]; got {got}")
    deform_groups = offset.shape[1] // (2 * taps)
    if mask is not None:
        expected = (batch, deform_groups * taps, out_h, out_w)
        if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != expected:
            got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise ValueError(f"mask must be (B, G·K, Ho, Wo) = {expected} for G = {deform_groups} deformable groups "
                             f"(after the sigmoid, values in [0, 1]); got {got}")
    return {"B": batch, "C": channels, "H": height, "W": width, "Cout": out_channels, "groups": groups,
            "G": deform_groups, "kh": kh, "kw": kw, "K": taps, "Ho": out_h, "Wo": out_w, "row0": row0,
            "stride": (sh, sw), "padding": (ph, pw), "dilation": (dh, dw)}


def _sample_grid(offset: torch.Tensor, s: dict, tap: int | None = None) -> torch.Tensor:
    """Normalised ``grid_sample`` positions of every tap (B, G, K, Ho, Wo, 2), or of one ``tap`` (B, G, 1, Ho, Wo, 2).

    p_y = i·s − p + di·d + Δy,  p_x = j·s − p + dj·d + Δx;  g = (2p + 1)/size − 1 (``align_corners=False``).
    Last axis (gx, gy); output row i counts from ``s["row0"]``.
    """
    (sh, sw), (ph, pw), (dh, dw) = s["stride"], s["padding"], s["dilation"]
    dtype, device = offset.dtype, offset.device
    # tap k = di·kw + dj: its row and column shift di·d, dj·d, each (K,)
    di = torch.arange(s["kh"], dtype=dtype, device=device).repeat_interleave(s["kw"]) * dh
    dj = torch.arange(s["kw"], dtype=dtype, device=device).repeat(s["kh"]) * dw
    # base positions of the undeformed kernel: by (K, Ho, 1), bx (K, 1, Wo)
    taps = slice(None) if tap is None else slice(tap, tap + 1)
    di, dj = di[taps], dj[taps]
    rows = (torch.arange(s["Ho"], dtype=dtype, device=device) + s["row0"]) * sh - ph
    cols = torch.arange(s["Wo"], dtype=dtype, device=device) * sw - pw
    base_y = di[:, None, None] + rows[None, :, None]
    base_x = dj[:, None, None] + cols[None, None, :]
    # offsets (B, 2·G·K, Ho, Wo) → (B, G, K, 2, Ho, Wo): [G][K][(dy, dx)]
    off = offset.view(s["B"], s["G"], s["K"], 2, s["Ho"], s["Wo"])[:, :, taps]
    pos_y = base_y + off[:, :, :, 0]  # (B, G, K or 1, Ho, Wo)
    pos_x = base_x + off[:, :, :, 1]
    # grid_sample wants (x, y) in [−1, 1]; the zero padding happens there
    return torch.stack([(2 * pos_x + 1) / s["W"] - 1, (2 * pos_y + 1) / s["H"] - 1], dim=-1)


def _sample(input: torch.Tensor, grid: torch.Tensor, s: dict) -> torch.Tensor:
    """Bilinear samples, zero outside: input (B, C, H, W), grid (B, G, T, Ho, Wo, 2) → (B, G, C/G, T, Ho, Wo)."""
    batch, groups, taps = grid.shape[:3]
    # each deformable group reads its own C/G contiguous channels at its own positions: fold G into the batch
    feats = input.reshape(batch * groups, s["C"] // groups, s["H"], s["W"])
    flat_grid = grid.reshape(batch * groups, taps * s["Ho"], s["Wo"], 2)
    sampled = F.grid_sample(feats, flat_grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return sampled.view(batch, groups, s["C"] // groups, taps, s["Ho"], s["Wo"])


def _grouped_matmul(weight: torch.Tensor, cols: torch.Tensor, s: dict, out: torch.Tensor | None = None) -> torch.Tensor:
    """Conv groups as one batched matmul: weight (Cout, C/groups·T), cols (B, C·T, Ho·Wo) → (B, Cout, Ho·Wo).

    With ``out`` (B, Cout, Ho·Wo) the product is added to it in place (``baddbmm_``: no temporary product).
    """
    groups, batch = s["groups"], s["B"]
    # (B·groups, Cout/groups, C/groups·T) @ (B·groups, C/groups·T, Ho·Wo) → (B·groups, Cout/groups, Ho·Wo)
    w = weight.reshape(1, groups, s["Cout"] // groups, -1).expand(batch, -1, -1, -1)
    w = w.reshape(batch * groups, s["Cout"] // groups, -1)
    cols = cols.reshape(batch * groups, -1, cols.shape[-1])
    if out is None:
        return torch.bmm(w, cols).reshape(batch, s["Cout"], -1)
    # safe in place under autograd: baddbmm's backward reads w and cols only
    out.view(batch * groups, s["Cout"] // groups, -1).baddbmm_(w, cols)
    return out


def deform_conv2d(
    input: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride=1,
    padding=0,
    dilation=1,
    mask: torch.Tensor | None = None,
    *,
    method: str = "auto",
    rows: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Modulated deformable convolution (DCNv2), the same contract as ``torchvision.ops.deform_conv2d``.

    Args:
        input: (B, C, H, W).
        offset: (B, 2·G·K, Ho, Wo), K = kh·kw taps, G deformable groups (G divides C), [G][K][(dy, dx)], pixels.
        weight: (Cout, C/groups, kh, kw); groups = C / weight.shape[1].
        bias: (Cout,) or None.
        stride, padding, dilation: int or (rows, cols), as in ``F.conv2d``.
        mask: (B, G·K, Ho, Wo) modulation in [0, 1] (after the sigmoid), or None for DCNv1 (mask 1).
        method: "auto" (default), "columns" or "taps"; see the module docstring (same result, different memory).
        rows: (top, bottom) to compute output rows [top, bottom) only, with ``offset`` and ``mask`` given for
            those rows (B, ·, bottom − top, Wo); the input stays whole, since taps may land anywhere. Lets a
            caller work in bands of rows (not part of torchvision's contract). None = every row.
    Returns:
        (B, Cout, Ho, Wo) with Ho, Wo the output size of ``F.conv2d`` with the same settings
        (Ho = bottom − top with ``rows``).
    Raises:
        ValueError: a shape that does not fit, naming the argument and the expected shape.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    s = _check_args(input, offset, weight, bias, mask, stride, padding, dilation, rows)
    batch, groups, taps = s["B"], s["G"], s["K"]
    if mask is None:
        mask = input.new_ones(batch, groups * taps, s["Ho"], s["Wo"])
    # mask (B, G·K, Ho, Wo) → (B, G, 1, K, Ho, Wo): one value per group, tap and pixel, shared by the channels
    mask = mask.view(batch, groups, 1, taps, s["Ho"], s["Wo"])
    if method == "auto":
        column_bytes = batch * s["C"] * taps * s["Ho"] * s["Wo"] * input.element_size()
        method = "columns" if column_bytes <= COLUMN_BYTES_LIMIT else "taps"
    if method == "columns":
        grid = _sample_grid(offset, s)  # (B, G, K, Ho, Wo, 2)
        # columns m · x(p): (B, G, C/G, K, Ho, Wo) → (B, C·K, Ho·Wo) in (c, k) order, like weight.view(Cout, C·K)
        cols = (_sample(input, grid, s) * mask).reshape(batch, s["C"] * taps, s["Ho"] * s["Wo"])
        out = _grouped_matmul(weight.reshape(s["Cout"], -1), cols, s)
    else:
        out = None
        for k in range(taps):
            # one tap: samples (B, G, C/G, 1, Ho, Wo) times its mask → (B, C, Ho·Wo)
            # this tap's positions only: (B, G, 1, Ho, Wo, 2)
            cols = _sample(input, _sample_grid(offset, s, k), s)
            # in place when nothing needs the samples for a backward pass (inference): one buffer less
            cols = cols.mul_(mask[:, :, :, k:k + 1]) if not torch.is_grad_enabled() else cols * mask[:, :, :, k:k + 1]
            # out += w[:, :, di, dj] · samples_k   (weight (Cout, C/groups) for this tap)
            out = _grouped_matmul(weight[:, :, k // s["kw"], k % s["kw"]], cols.reshape(batch, s["C"], -1), s, out)
            del cols
    out = out.view(batch, s["Cout"], s["Ho"], s["Wo"])
    return out if bias is None else out + bias.view(1, -1, 1, 1)


def _bilinear_zero(image, y: float, x: float) -> float:
    """Bilinear value of a 2-D float64 array at (y, x); each corner outside the image contributes 0."""
    height, width = image.shape
    y0, x0 = math.floor(y), math.floor(x)
    value = 0.0
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < height and 0 <= xx < width:
                value += wy * wx * float(image[yy, xx])
    return value


def deform_conv2d_reference(input, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None):
    """The DCNv2 equation as a literal loop, in float64: the oracle for tests (tiny sizes only; slow).

    Same arguments and result as :func:`deform_conv2d`, computed pixel by pixel, tap by tap, channel by
    channel with a scalar bilinear interpolation. Returns float64.
    """
    s = _check_args(input, offset, weight, bias, mask, stride, padding, dilation)
    (sh, sw), (ph, pw), (dh, dw) = s["stride"], s["padding"], s["dilation"]
    x, off, w = input.detach().double(), offset.detach().double(), weight.detach().double()
    m = None if mask is None else mask.detach().double()
    cin_per_dgroup = s["C"] // s["G"]
    cin_per_group, cout_per_group = s["C"] // s["groups"], s["Cout"] // s["groups"]
    out = torch.zeros(s["B"], s["Cout"], s["Ho"], s["Wo"], dtype=torch.float64)
    for b in range(s["B"]):
        for i in range(s["Ho"]):
            for j in range(s["Wo"]):
                for c in range(s["C"]):
                    g = c // cin_per_dgroup  # deformable group of channel c
                    conv_group, c_local = divmod(c, cin_per_group)
                    for di in range(s["kh"]):
                        for dj in range(s["kw"]):
                            k = di * s["kw"] + dj
                            dy, dx = float(off[b, 2 * (g * s["K"] + k), i, j]), float(off[b, 2 * (g * s["K"] + k) + 1, i, j])
                            py, px = i * sh - ph + di * dh + dy, j * sw - pw + dj * dw + dx
                            value = _bilinear_zero(x[b, c], py, px)
                            if m is not None:
                                value *= float(m[b, g * s["K"] + k, i, j])
                            for o in range(conv_group * cout_per_group, (conv_group + 1) * cout_per_group):
                                out[b, o, i, j] += float(w[o, c_local, di, dj]) * value
    if bias is not None:
        out += bias.detach().double().view(1, -1, 1, 1)
    return out


class DeformConv2d(nn.Module):
    """A modulated deformable convolution layer: holds weight and bias; offsets and mask come from outside.

    Args:
        in_channels, out_channels: C and Cout.
        kernel_size: k or (kh, kw); stride, padding, dilation: as in ``nn.Conv2d``.
        groups: conv groups (weight (Cout, C/groups, kh, kw)); the deformable groups G are read from ``offset``.
        bias: learn a bias (zero-initialised).
        method: "auto", "columns" or "taps" (see the module docstring).

    Initialisation as the official DCNv2 layer: weight uniform(±1/√(C/groups·kh·kw)), bias 0.
    ``forward(input, offset, mask=None)`` = :func:`deform_conv2d` with these weights.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=3, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, method: str = "auto"):
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"groups must divide in_channels = {in_channels} and out_channels = {out_channels}; "
                             f"got {groups}")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}; got {method!r}")
        kh, kw = _pair(kernel_size, "kernel_size")
        self.stride, self.padding, self.dilation, self.method = stride, padding, dilation, method
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Official DCNv2 init: weight uniform(±1/√fan_in), bias 0."""
        bound = 1.0 / math.sqrt(self.weight[0].numel())
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, input: torch.Tensor, offset: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, H, W), offset (B, 2·G·K, Ho, Wo), mask (B, G·K, Ho, Wo) or None → (B, Cout, Ho, Wo)."""
        return deform_conv2d(input, offset, self.weight, self.bias, self.stride, self.padding, self.dilation,
                             mask, method=self.method)
