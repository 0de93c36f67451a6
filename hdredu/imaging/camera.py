"""A camera in a few lines: exposure, sensor noise, clipping, camera response (CRF), 8-bit quantisation.

    radiance H ──×t──▶ exposure E = H·t ──noise──▶ clip to [0, 1] ──CRF f──▶ quantise ──▶ LDR pixel Z

and back:  ``ldr_to_linear``  H_i ≈ f⁻¹(Z_i) / t_i  (AHDRNet's input mapping with f⁻¹(Z) = Z^γ).
All functions are torch, batched and (except quantisation and noise sampling) differentiable.
Introduced in notebooks/00_hdr_basics.ipynb, section *A camera in a few lines*.
"""

from __future__ import annotations

import torch

from hdredu.imaging.tonemap import gamma_decode, gamma_encode

# ---------------------------------------------------------------------------------------------------------
# Camera response functions f: normalised exposure E in [0, 1] → pixel value Z in [0, 1], monotone.
# ---------------------------------------------------------------------------------------------------------


def gamma_crf(exposure: torch.Tensor, gamma: float = 2.2) -> torch.Tensor:
    """Z = E^(1/γ): the idealised response that Kalantari's data uses (γ = 2.2); the display gamma curve."""
    return gamma_encode(exposure, gamma)


def inverse_gamma_crf(ldr: torch.Tensor, gamma: float = 2.2) -> torch.Tensor:
    """E = Z^γ."""
    return gamma_decode(ldr, gamma)


def filmic_crf(exposure: torch.Tensor, contrast: float = 4.0) -> torch.Tensor:
    """An S-shaped, film-like response in log exposure, rescaled so that f(0) = 0 and f(1) = 1.

    Z = (s(E) − s(0)) / (s(1) − s(0)),  s(E) = E^(1/2.2)·c / (1 + E^(1/2.2)·(c − 1))  — a gamma curve
    followed by a shoulder that rolls highlights off, as consumer cameras do.
    """
    encoded = exposure.clamp(0.0, 1.0) ** (1.0 / 2.2)
    return encoded * contrast / (1.0 + encoded * (contrast - 1.0))


def inverse_filmic_crf(ldr: torch.Tensor, contrast: float = 4.0) -> torch.Tensor:
    """Inverse of :func:`filmic_crf`: solve z = c·e / (1 + e(c − 1)) for e, then E = e^2.2."""
    z = ldr.clamp(0.0, 1.0)
    encoded = z / (contrast - z * (contrast - 1.0))
    return encoded**2.2


CRFS = {"gamma": (gamma_crf, inverse_gamma_crf), "filmic": (filmic_crf, inverse_filmic_crf)}


def crf_pair(name: str):
    """Return (f, f⁻¹) for a CRF name in ``CRFS`` ("gamma", "filmic")."""
    if name not in CRFS:
        raise ValueError(f"crf must be one of {sorted(CRFS)}; got {name!r}")
    return CRFS[name]


# ---------------------------------------------------------------------------------------------------------
# Sensor: exposure, noise, clipping, quantisation.
# ---------------------------------------------------------------------------------------------------------


def _broadcast_times(exposure_times, like: torch.Tensor, channel_dims: int = 3) -> torch.Tensor:
    """Turn a float or a (..., N) tensor of exposure times into a tensor that broadcasts over (..., N, C, H, W)."""
    times = torch.as_tensor(exposure_times, dtype=like.dtype, device=like.device)
    if not torch.all(times > 0):  # also catches NaN
        raise ValueError(f"exposure_times must be positive numbers; got {times.tolist()}")
    return times.reshape(times.shape + (1,) * channel_dims)


def expose(hdr: torch.Tensor, exposure_times) -> torch.Tensor:
    """Sensor exposure  E = H · t.

    Args:
        hdr: (..., C, H, W) linear radiance, or (..., N, C, H, W) with one time per frame.
        exposure_times: a float, or a tensor of shape (..., N) for a stack.
    """
    return hdr * _broadcast_times(exposure_times, hdr)


def add_sensor_noise(exposure: torch.Tensor, shot: float = 1e-3, read: float = 2e-3,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """Heteroscedastic Gaussian approximation of shot + read noise:  E + sqrt(shot·E + read²) · n,  n ~ N(0, 1).

    ``shot`` and ``read`` are in units of the full-well (E = 1) signal; set both to 0 for a noiseless camera.
    """
    if shot == 0 and read == 0:
        return exposure
    noise = torch.randn(exposure.shape, generator=generator, dtype=exposure.dtype).to(exposure.device)
    return exposure + torch.sqrt(shot * exposure.clamp_min(0.0) + read**2) * noise


def quantize(ldr: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """Round values in [0, 1] to 2^bits levels:  round(Z · (2^b − 1)) / (2^b − 1)."""
    levels = 2**bits - 1
    return torch.round(ldr.clamp(0.0, 1.0) * levels) / levels


def capture(hdr: torch.Tensor, exposure_times, crf: str = "gamma", shot: float = 1e-3, read: float = 2e-3,
            bits: int = 8, generator: torch.Generator | None = None) -> torch.Tensor:
    """Simulate a camera: expose, add noise, clip, apply the CRF, quantise.

    Args:
        hdr: (..., C, H, W) or (..., N, C, H, W) linear radiance.
        exposure_times: float or (..., N) tensor.
        crf: a name in ``CRFS``.
        bits: quantisation depth; None keeps floats.
    Returns:
        LDR in [0, 1], same shape as ``hdr`` (after broadcasting with the times).
    """
    f, _ = crf_pair(crf)
    exposure = add_sensor_noise(expose(hdr, exposure_times), shot, read, generator)
    ldr = f(exposure.clamp(0.0, 1.0))
    return quantize(ldr, bits) if bits else ldr


def ldr_to_linear(ldr: torch.Tensor, exposure_times, gamma: float = 2.2) -> torch.Tensor:
    """AHDRNet's input mapping  H_i = L_i^γ / t_i: an LDR frame brought to the radiance domain.

    Args:
        ldr: (..., C, H, W) or (..., N, C, H, W) gamma-encoded values in [0, 1].
        exposure_times: float or (..., N) tensor of times (t = 2^EV for Kalantari data).
    Returns:
        same shape as ``ldr``, linear.
    """
    return inverse_gamma_crf(ldr, gamma) / _broadcast_times(exposure_times, ldr)


def merge_input(ldr: torch.Tensor, exposure_times, gamma: float = 2.2) -> torch.Tensor:
    """The multi-exposure models' input  X_i = [L_i, L_i^γ / t_i]:  (..., N, 3, H, W) → (..., N, 6, H, W).

    Every merge dataset (simulated brackets, Kalantari, NTIRE) builds its input here, with t from the
    bracket's own exposure times, so a network trained on one spacing can be given another.
    """
    return torch.cat([ldr, ldr_to_linear(ldr, exposure_times, gamma)], dim=-3)


def saturation_mask(ldr: torch.Tensor, threshold: float = 0.98) -> torch.Tensor:
    """1 where any channel is saturated (≥ threshold), else 0.  (..., C, H, W) → (..., 1, H, W)."""
    return (ldr >= threshold).any(dim=-3, keepdim=True).to(ldr.dtype)
