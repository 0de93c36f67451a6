"""Neural contrast sensitivity (hdrvdp2.md §9) and its two uses: per-band noise levels (§9) and the
CSF filtering of the low-pass band (§8)."""

from __future__ import annotations

import numpy as np

from .optics import cycles_per_degree_grid, fourier_filter_postpad
from .resize import imresize

# §9: nCSF parameters p1..p4, interpolated linearly in log10 L_a between these rows
CSF_LUMINANCES = np.array([0.002, 0.02, 0.2, 2.0, 20.0, 150.0])  # cd/m²
CSF_PARAMS = np.array(
    [
        [0.991265, 3.74038, 0.50722, 4.46044],
        [0.800889, 3.54104, 0.682505, 4.94958],
        [0.476505, 4.37453, 0.750315, 5.28678],
        [0.405782, 4.40602, 0.935314, 5.61425],
        [0.334278, 3.79542, 1.07327, 6.4635],
        [0.394533, 2.7755, 1.16577, 7.45665],
    ]
)
N_CSF_TABLE = 256  # luminance samples of the per-band sensitivity table
LOG_LA_RANGE = (-5.0, 5.0)  # log10 L_a range of the table and of the per-pixel clamp
LOWPASS_GRID_FACTOR = 2.0 * np.sqrt(2.0)  # §8: the low-pass grid uses "ppd" = 2√2·f_B, not 2·f_B


def csf_params(adapting: np.ndarray) -> np.ndarray:
    """p1..p4 of the nCSF at adapting luminance(s) L_a, §9.

    Linear interpolation in log10 L_a, with log10 L_a clamped to [log10 0.002, log10 150].

    Args:
        adapting: L_a in cd/m², any shape (must be positive).

    Returns:
        Array of shape ``adapting.shape + (4,)``.
    """
    log_rows = np.log10(CSF_LUMINANCES)
    log_la = np.clip(np.log10(adapting), log_rows[0], log_rows[-1])
    return np.stack([np.interp(log_la, log_rows, CSF_PARAMS[:, i]) for i in range(4)], axis=-1)


def ncsf(rho: np.ndarray, adapting: np.ndarray | float) -> np.ndarray:
    """Neural contrast sensitivity nCSF(ρ, L_a), §9.

    nCSF = p4·[(1 + (p1·ρ)^p2)·(1 - exp(-(ρ/7)²))^(-p3)]^(-1/2), and nCSF(0, ·) = 0 (the limit the
    reference gets from IEEE arithmetic: 0^(-p3) = ∞).

    Args:
        rho: spatial frequency in cycles/deg (≥ 0).
        adapting: adapting luminance in cd/m²; broadcast against ``rho``.

    Returns:
        Sensitivity (1/threshold contrast), the broadcast shape of the inputs.
    """
    rho, adapting = np.broadcast_arrays(
        np.asarray(rho, dtype=np.float64), np.asarray(adapting, dtype=np.float64)
    )
    p = csf_params(adapting)
    p1, p2, p3, p4 = (p[..., i] for i in range(4))
    out = np.zeros(rho.shape)
    pos = rho > 0
    r = rho[pos]
    low_freq_loss = (1.0 - np.exp(-((r / 7.0) ** 2))) ** (-p3[pos])
    out[pos] = p4[pos] * ((1.0 + (p1[pos] * r) ** p2[pos]) * low_freq_loss) ** (-0.5)
    return out


def band_sensitivity_table(freq: float) -> tuple[np.ndarray, np.ndarray]:
    """Sensitivity table T_b(j) = nCSF(f_b, ℓ_j) of one band, ℓ_j = 10^(-5 + 10·j/255), §9.

    Args:
        freq: the band's peak frequency f_b in cycles/deg.

    Returns:
        ``(log10 ℓ, T_b)``, each of shape (256,).
    """
    log_l = np.linspace(LOG_LA_RANGE[0], LOG_LA_RANGE[1], N_CSF_TABLE)
    return log_l, ncsf(np.full(N_CSF_TABLE, freq), 10.0**log_l)


def log_adapting_luminance(adapting_test: np.ndarray, adapting_ref: np.ndarray) -> np.ndarray:
    """λ = log10(clamp((L_a,test + L_a,ref)/2, 1e-5, 1e5)), the per-pixel CSF input, §9.

    Args:
        adapting_test, adapting_ref: (H, W) adapting luminances in cd/m².

    Returns:
        (H, W) log10 of the average adapting luminance.
    """
    mean_la = 0.5 * (adapting_test + adapting_ref)
    return np.log10(np.clip(mean_la, 10.0 ** LOG_LA_RANGE[0], 10.0 ** LOG_LA_RANGE[1]))


def band_noise_level(
    log_la: np.ndarray, freq: float, size: tuple[int, int], renormalise: bool = True
) -> np.ndarray:
    """Per-pixel noise level N_b = 1/CSF_b of an oriented band or the high-pass residual, §9.

    λ is resized to the band size with the MATLAB bicubic resize (§13), clamped to [-5, 5], and
    CSF_b is read from T_b by linear interpolation over log10 ℓ.

    Args:
        log_la: (H, W) log10 average adapting luminance (:func:`log_adapting_luminance`).
        freq: band peak frequency f_b in cycles/deg.
        size: band size (h, w).
        renormalise: resize rule, see :func:`.resize.resize_weights`.

    Returns:
        (h, w) noise level N_b (contrast threshold in band units).
    """
    lam = np.clip(imresize(log_la, size, renormalise), *LOG_LA_RANGE)
    log_l, table = band_sensitivity_table(freq)
    return 1.0 / np.interp(lam, log_l, table)


def filter_lowpass_band(
    band: np.ndarray, freq: float, mean_adapting: float, pad_value: float
) -> np.ndarray:
    """CSF-filter the low-pass (base) band in the Fourier domain, §8.

    The cycles-per-degree grid of the 2h×2w padded band uses "ppd" = 2√2·f_B; the filter is
    nCSF(ρ, L̄) with L̄ the mean adapting luminance of *this* image; nCSF(0) = 0 removes the DC.

    Args:
        band: (h, w) low-pass residual of one image.
        freq: low-pass band frequency f_B in cycles/deg.
        mean_adapting: L̄ in cd/m².
        pad_value: padding constant, the mean of the *reference* image's low-pass band.

    Returns:
        (h, w) filtered band.
    """
    h, w = band.shape
    rho = cycles_per_degree_grid((2 * h, 2 * w), LOWPASS_GRID_FACTOR * freq, half=True)
    return fourier_filter_postpad(band, ncsf(rho, mean_adapting), pad_value)
