"""Classical baselines for single-image inverse tone mapping (the task of MQNet): what a network must beat.

| baseline | what it does | output |
|---|---|---|
| :func:`linearize` | undo the display gamma, L = V^γ, then match the exposure: to a reference HDR (median ratio on well-exposed pixels, an oracle) or min–max to [0, 1] like MQNet's target | radiance |
| :func:`inverse_reinhard` | Banterle et al.'s expansion: invert Reinhard's global curve L_d = L (1 + L / L_w²) / (1 + L), so highlights stretch towards L_w | radiance |

Both take LDR (3, H, W) or (B, 3, H, W) in [0, 1] and return the same shape; neither can restore clipped detail
(that is what a network learns), they only undo the tone curve.

Paper: Banterle, Ledda, Debattista, Chalmers, "Inverse tone mapping", GRAPHITE 2006 (inverse Reinhard operator).
Introduced in notebooks/04_mqnet.ipynb, section *Baselines*.
"""

from __future__ import annotations

import torch

from hdredu.imaging.tonemap import rgb_luminance


def _check_ldr(ldr: torch.Tensor) -> None:
    if not isinstance(ldr, torch.Tensor) or ldr.dim() not in (3, 4) or ldr.shape[-3] != 3:
        raise ValueError(f"ldr must be (3, H, W) or (B, 3, H, W); got {getattr(ldr, 'shape', type(ldr).__name__)}")
    if ldr.min() < 0 or ldr.max() > 1:
        raise ValueError(f"ldr must hold values in [0, 1]; got min {ldr.min().item():.4g}, max {ldr.max().item():.4g}")


def _min_max(image: torch.Tensor) -> torch.Tensor:
    """Min–max normalise each image (over its C, H, W) to [0, 1]."""
    dims = (-3, -2, -1)
    low, high = image.amin(dim=dims, keepdim=True), image.amax(dim=dims, keepdim=True)
    return (image - low) / (high - low).clamp_min(1e-12)


def match_exposure(radiance: torch.Tensor, ldr: torch.Tensor, reference: torch.Tensor,
                   low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """Scale ``radiance`` so its median ratio to ``reference`` is 1 on pixels well exposed in ``ldr`` (all channels
    in (low, high)); an oracle that fixes the unknown exposure of a single LDR image. Shapes as the inputs."""
    if reference.shape != radiance.shape:
        raise ValueError(f"reference must have the shape of ldr {tuple(ldr.shape)}; got {tuple(reference.shape)}")
    batched = radiance.dim() == 4
    radiance_b, ldr_b, reference_b = (t if batched else t[None] for t in (radiance, ldr, reference))
    scaled = []
    for rad, image, ref in zip(radiance_b, ldr_b, reference_b):
        good = ((image > low) & (image < high)).all(dim=0)  # (H, W)
        if good.sum() < 16:  # almost nothing well exposed: fall back to all pixels
            good = torch.ones_like(good)
        ratio = (ref[:, good] / rad[:, good].clamp_min(1e-8)).median()
        scaled.append(rad * ratio)
    out = torch.stack(scaled)
    return out if batched else out[0]


def linearize(ldr: torch.Tensor, gamma: float = 2.2, reference: torch.Tensor | None = None) -> torch.Tensor:
    """The LDR image as radiance: L = V^γ, exposure-matched to ``reference`` or min–max normalised.

    Args:
        ldr: (3, H, W) or (B, 3, H, W) gamma-encoded LDR in [0, 1].
        gamma: γ of the display encoding to undo (2.2).
        reference: HDR of the same shape to match the exposure to (median ratio on well-exposed pixels);
            None = min–max normalise each image to [0, 1], the scale of MQNet's training target.
    Returns:
        same shape as ``ldr``, linear; saturated pixels stay flat.
    """
    _check_ldr(ldr)
    if not gamma > 0:
        raise ValueError(f"gamma must be positive; got {gamma}")
    linear = ldr**gamma
    return _min_max(linear) if reference is None else match_exposure(linear, ldr, reference)


def inverse_reinhard(ldr: torch.Tensor, white: float = 100.0, gamma: float = 2.2,
                     reference: torch.Tensor | None = None) -> torch.Tensor:
    """Banterle's inverse of Reinhard's global operator: expand display luminance back to radiance.

    Reinhard maps radiance luminance L to display luminance L_d = L (1 + L / L_w²) / (1 + L). Solving the
    quadratic L² / L_w² + (1 − L_d) L − L_d = 0 for L ≥ 0:

        L = (L_w² / 2) · ( −(1 − L_d) + sqrt((1 − L_d)² + 4 L_d / L_w²) )       L_d = 1 → L = L_w

    Each pixel's RGB (linearised, V^γ) is scaled by L / L_d, keeping its colour ratios.

    Args:
        ldr: (3, H, W) or (B, 3, H, W) in [0, 1].
        white: L_w, the radiance that display white expands to (> 1; larger = stronger highlight expansion).
        gamma: γ undone before the expansion.
        reference: as in :func:`linearize` (exposure match); None = min–max normalise to [0, 1].
    Returns:
        same shape as ``ldr``.
    """
    _check_ldr(ldr)
    if not white > 1:
        raise ValueError(f"white must be > 1 (the expanded radiance of display white); got {white}")
    linear = ldr**gamma  # (…, 3, H, W) display-linear RGB
    display = rgb_luminance(linear).clamp(0.0, 1.0)  # L_d: (…, 1, H, W)
    w2 = white**2
    expanded = 0.5 * w2 * (-(1 - display) + torch.sqrt((1 - display) ** 2 + 4 * display / w2))  # L: (…, 1, H, W)
    radiance = linear * expanded / display.clamp_min(1e-8)
    return _min_max(radiance) if reference is None else match_exposure(radiance, ldr, reference)
