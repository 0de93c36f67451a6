"""Tone mapping: μ-law (the loss / metric domain), display gamma, Reinhard.

Every function is torch, batched (any leading dimensions) and differentiable.
HDR values are linear relative radiance; outputs are in [0, 1] unless stated.
Introduced in notebooks/00_hdr_basics.ipynb, section *Tone mapping*.
"""

from __future__ import annotations

import math

import torch

MU = 5000.0


def mu_law(hdr: torch.Tensor, mu: float = MU) -> torch.Tensor:
    """μ-law compression  T(H) = log(1 + μH) / log(1 + μ)  (μ = 5000).

    Args:
        hdr: linear HDR, any shape, values ≥ 0 (≈ [0, 1] for Kalantari-style data; not normalised here).
    Returns:
        tensor of the same shape; T(1) = 1.
    """
    return torch.log1p(mu * hdr) / math.log1p(mu)


def inverse_mu_law(tonemapped: torch.Tensor, mu: float = MU) -> torch.Tensor:
    """Inverse of :func:`mu_law`:  H = ((1 + μ)^T − 1) / μ."""
    return torch.expm1(tonemapped * math.log1p(mu)) / mu


def gamma_encode(linear: torch.Tensor, gamma: float = 2.2) -> torch.Tensor:
    """Display encoding  V = clip(L, 0, 1)^(1/γ)."""
    return linear.clamp(0.0, 1.0) ** (1.0 / gamma)


def gamma_decode(encoded: torch.Tensor, gamma: float = 2.2) -> torch.Tensor:
    """Inverse display encoding  L = V^γ  (V clipped to [0, 1])."""
    return encoded.clamp(0.0, 1.0) ** gamma


def reinhard(hdr: torch.Tensor, key: float = 0.18, white: float | None = None, gamma: float = 2.2) -> torch.Tensor:
    """Reinhard et al. (2002) global operator, then display gamma.

    Scale by the log-average luminance:  L_s = key · L / exp(mean(log(ε + L)))  per image, then
    L_d = L_s (1 + L_s / L_white²) / (1 + L_s)  applied to each channel (colour ratios kept).

    Args:
        hdr: (..., 3, H, W) linear RGB.
        key: target middle grey.
        white: smallest scaled luminance mapped to white; None = infinity (plain L / (1 + L)).
    Returns:
        (..., 3, H, W) display values in [0, 1].
    """
    luminance = rgb_luminance(hdr)  # (..., 1, H, W)
    log_average = torch.exp(torch.log(luminance + 1e-6).mean(dim=(-2, -1), keepdim=True))
    scaled = key * hdr / log_average
    if white is None:
        display = scaled / (1.0 + scaled)
    else:
        display = scaled * (1.0 + scaled / white**2) / (1.0 + scaled)
    return gamma_encode(display, gamma)


def exposure_tonemap(hdr: torch.Tensor, exposure: float | None = None, gamma: float = 2.2,
                     percentile: float = 99.0) -> torch.Tensor:
    """The simplest display: scale, clip to [0, 1], gamma.  V = clip(k · H)^(1/γ).

    ``exposure`` is k; None puts the ``percentile``-th percentile of all values at 1 (a robust auto-exposure;
    the brightest (100 − p) % clip).
    """
    if exposure is None:
        if not 0 < percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100]; got {percentile}")
        white = torch.quantile(hdr.detach().flatten().double(), percentile / 100.0).clamp_min(1e-12)
        exposure = 1.0 / float(white)
    return gamma_encode(hdr * exposure, gamma)


def min_max(image: torch.Tensor) -> torch.Tensor:
    """(x − min x) / (max x − min x) over each (C, H, W) image of (C, H, W) or (B, C, H, W) (a constant image → 0)."""
    dims = (-3, -2, -1)
    low, high = image.amin(dim=dims, keepdim=True), image.amax(dim=dims, keepdim=True)
    return (image - low) / (high - low).clamp_min(1e-12)


def rgb_luminance(rgb: torch.Tensor) -> torch.Tensor:
    """BT.709 luminance Y = 0.2126 R + 0.7152 G + 0.0722 B of (..., 3, H, W) → (..., 1, H, W)."""
    weights = torch.tensor([0.2126, 0.7152, 0.0722], dtype=rgb.dtype, device=rgb.device)
    return torch.einsum("...chw,c->...hw", rgb, weights).unsqueeze(-3)
