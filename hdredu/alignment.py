"""Alignment, measured: deformable offsets read as a flow field and compared with the simulator's true motion.

A DCN moves each of its K taps by a learned offset (Δy, Δx) per output pixel and deformable group
(:mod:`hdredu.ops.deform`). Where a neighbour frame is a translated copy of the reference, the ideal offsets
are all the same: the displacement itself. The simulator knows it (``Brackets.flow``), with the same
convention as the offsets: (dy, dx), the scene point at reference pixel (y, x) sits at (y + dy, x + dx) in
frame i, which is exactly where a DCN aligning frame i to the reference must sample. So

    offsets_to_flow(offset, G)          the mean offset over the G groups and K taps: (B, 2, h, w), (dy, dx)
    endpoint_error(flow, true, mask)    mean ‖flow − true‖₂ over a region (pixels)
    feature_misalignment(f, r, flow)    mean |warp(f, flow) − r| over a region: how far a neighbour's
                                        features are from the reference's, before (flow None) or after warping
    tap_positions(offset, i, j)         where the K taps of output pixel (i, j) sample, per group
    motion_sweep(models, shifts)        PSNR-μ overall and inside the moving object, per object displacement,
                                        for merge networks and the reference frame / Debevec baselines

Introduced in notebooks/03_adnet.ipynb, sections *Deformable convolution* and *Looking inside PCD*.
"""

from __future__ import annotations

import dataclasses

import torch

from hdredu import baselines
from hdredu.data.samples import TEST_SCENES
from hdredu.data.synthetic import Capture, warp
from hdredu.generalisation import held_out_brackets
from hdredu.inference import predict
from hdredu.metrics import pooled_psnr_mu, psnr_mu
from hdredu.utils import check_shape


def offsets_to_flow(offset: torch.Tensor, deform_groups: int) -> torch.Tensor:
    """The mean DCN offset over deformable groups and taps, as a flow field.

    Args:
        offset: (B, 2·G·K, h, w) in the [G][K][(dy, dx)] layout of :func:`hdredu.ops.deform.deform_conv2d`.
        deform_groups: G.
    Returns:
        (B, 2, h, w): (dy, dx) in pixels of that level, the same convention as ``Brackets.flow``.
    """
    sizes = check_shape(offset, "B C h w", "offset")
    if deform_groups < 1 or sizes["C"] % (2 * deform_groups):
        raise ValueError(f"offset must have 2·G·K channels for G = {deform_groups}; got {sizes['C']}")
    taps = sizes["C"] // (2 * deform_groups)
    # (B, G, K, 2, h, w) → mean over G and K
    return offset.view(sizes["B"], deform_groups, taps, 2, sizes["h"], sizes["w"]).mean(dim=(1, 2))


def tap_positions(offset: torch.Tensor, row: int, col: int, kernel_size: int = 3, padding: int = 1,
                  dilation: int = 1, stride: int = 1) -> torch.Tensor:
    """Where the taps of output pixel (row, col) sample the input, for each deformable group (first image).

    p_y = row·s − p + di·d + Δy,  p_x = col·s − p + dj·d + Δx  (tap k = di·kw + dj).
    Args:
        offset: (B, 2·G·K, Ho, Wo), K = kernel_size².
    Returns:
        (G, K, 2) positions (y, x) in input pixels.
    """
    sizes = check_shape(offset, "B C Ho Wo", "offset")
    taps = kernel_size * kernel_size
    if sizes["C"] % (2 * taps):
        raise ValueError(f"offset must have 2·G·{taps} channels for a {kernel_size}×{kernel_size} kernel; got {sizes['C']}")
    groups = sizes["C"] // (2 * taps)
    off = offset[0, :, row, col].view(groups, taps, 2).to(torch.float64)
    di = torch.arange(kernel_size, dtype=torch.float64).repeat_interleave(kernel_size)
    dj = torch.arange(kernel_size, dtype=torch.float64).repeat(kernel_size)
    base = torch.stack([row * stride - padding + di * dilation, col * stride - padding + dj * dilation], dim=-1)
    return base + off  # (G, K, 2)


def endpoint_error(flow: torch.Tensor, true_flow: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """Mean endpoint error ‖flow − true_flow‖₂ (pixels) over the pixels where ``mask`` is true.

    Args:
        flow, true_flow: (2, H, W) or (B, 2, H, W), (dy, dx).
        mask: (H, W), (1, H, W) or (B, 1, H, W) booleans; None = every pixel.
    Raises:
        ValueError: the mask selects no pixel.
    """
    if flow.shape != true_flow.shape or flow.shape[-3] != 2:
        raise ValueError(f"flow and true_flow must both be (..., 2, H, W); got {tuple(flow.shape)}, "
                         f"{tuple(true_flow.shape)}")
    error = (flow.double() - true_flow.double()).norm(dim=-3)  # (..., H, W)
    if mask is None:
        return float(error.mean())
    mask = mask.bool()
    if mask.dim() == error.dim() + 1:  # (…, 1, H, W) → (…, H, W)
        mask = mask.squeeze(-3)
    selected = error[mask.expand_as(error)]
    if selected.numel() == 0:
        raise ValueError("the mask selects no pixel: the endpoint error of an empty region is undefined")
    return float(selected.mean())


def feature_misalignment(feat: torch.Tensor, ref_feat: torch.Tensor, flow: torch.Tensor | None = None,
                         mask: torch.Tensor | None = None) -> float:
    """Mean |warp(feat, flow) − ref_feat| over channels and the pixels where ``mask`` is true.

    ``warp`` is :func:`hdredu.data.synthetic.warp` (out(y, x) = feat(y + dy, x + dx)); flow None = no warp.
    Args:
        feat, ref_feat: (C, H, W) features of a neighbour frame and of the reference.
        flow: (2, H, W) (dy, dx) in pixels, or None.
        mask: (H, W) or (1, H, W) booleans; None = every pixel.
    """
    check_shape(feat, "C H W", "feat")
    if ref_feat.shape != feat.shape:
        raise ValueError(f"ref_feat must be shaped like feat {tuple(feat.shape)}; got {tuple(ref_feat.shape)}")
    moved = feat if flow is None else warp(feat, flow)
    difference = (moved - ref_feat).abs().mean(dim=0)  # (H, W)
    if mask is None:
        return float(difference.mean())
    selected = difference[mask.bool().reshape(difference.shape)]
    if selected.numel() == 0:
        raise ValueError("the mask selects no pixel")
    return float(selected.mean())


def motion_sweep(models: dict[str, torch.nn.Module], shifts, scenes=TEST_SCENES, brackets_per_shift: int = 2,
                 seed: int = 0, crop_size: int | None = 128, capture: Capture | None = None) -> list[dict]:
    """Score merge networks and the baselines on held-out brackets whose object moves ``shift`` pixels per frame.

    Every shift uses the same crops, objects, camera jitter and noise (``held_out_brackets`` with one seed);
    only ``Capture.object_shift_px`` changes.
    Args:
        models: {name: merge network taking (N, 6, H, W) [L_i, L_i^γ/t_i]}; run whole-image without gradients.
        shifts: object displacements in pixels per frame away from the reference.
        scenes, brackets_per_shift, seed, crop_size: see :func:`hdredu.generalisation.held_out_brackets`.
        capture: the base condition (default: EV 0/2/4, 10 % of the reference clipped).
    Returns:
        one dict per (shift, method), methods = the models, then "reference alone" and "Debevec":
        ``shift_px``, ``method``, ``psnr_mu`` (per image, then averaged; dB) and ``psnr_mu_motion`` (pooled
        over the pixels where any frame's ``motion_mask`` is set; dB).
    """
    base = Capture(saturated_fraction=0.1) if capture is None else capture
    rows = []
    for shift in shifts:
        brackets = held_out_brackets(dataclasses.replace(base, object_shift_px=float(shift)), scenes,
                                     brackets_per_shift, seed, crop_size)
        estimates = {name: [predict(model, b.model_input()[None])[0] for b in brackets] for name, model in models.items()}
        estimates["reference alone"] = [baselines.reference_alone(b) for b in brackets]
        estimates["Debevec"] = [baselines.debevec_merge(b) for b in brackets]
        truths = [b.hdr for b in brackets]
        regions = [b.motion_mask.amax(dim=0) > 0 for b in brackets]  # (1, H, W)
        for method, predictions in estimates.items():
            rows.append({"shift_px": float(shift), "method": method,
                         "psnr_mu": sum(psnr_mu(p, t) for p, t in zip(predictions, truths)) / len(truths),
                         "psnr_mu_motion": pooled_psnr_mu(predictions, truths, regions)})
    return rows


def sweep_table(rows: list[dict], key: str = "psnr_mu_motion") -> str:
    """The rows of :func:`motion_sweep` as a Markdown table: one row per shift, one column per method (dB)."""
    methods = list(dict.fromkeys(row["method"] for row in rows))
    shifts = list(dict.fromkeys(row["shift_px"] for row in rows))
    value = {(row["shift_px"], row["method"]): row[key] for row in rows}
    lines = ["| shift (px) | " + " | ".join(methods) + " |", "|---" * (len(methods) + 1) + "|"]
    for shift in shifts:
        lines.append(f"| {shift:g} | " + " | ".join(f"{value[(shift, m)]:.2f}" for m in methods) + " |")
    return "\n".join(lines)
