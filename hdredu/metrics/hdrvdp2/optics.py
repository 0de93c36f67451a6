"""Frequency grids, Fourier filtering with post-padding, the eye's optics (hdrvdp2.md §2, §3)."""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft

# §3: MTF(ρ) = Σ_k a_k·exp(-b_k·ρ) with a = [0.426·v, 0.574·v, (1 - v)·u, (1 - v)·(1 - u)]
_MTF_V = 0.99727370023777070
_MTF_U = 0.061466549455263
MTF_A = np.array(
    [0.426 * _MTF_V, 0.574 * _MTF_V, (1.0 - _MTF_V) * _MTF_U, (1.0 - _MTF_V) * (1.0 - _MTF_U)]
)
MTF_B = np.array([0.028, 0.37, 37.0, 360.0])

SURROUND_LUMINANCE = 1e-5  # cd/m², §1: pad value of the optics (per channel)
OPTICS_CLAMP = (1e-5, 1e10)  # cd/m², §3 step 2


def cycles_per_degree_grid(shape: tuple[int, int], ppd: float, half: bool = False) -> np.ndarray:
    """Radial frequency ρ (cycles/deg) of every entry of a 2-D FFT array, §2.

    Along each axis FFT index k has frequency k·ppd/N for k < N/2 and (k - N)·ppd/N otherwise
    (``np.fft.fftfreq(N) * ppd``); ρ = sqrt(f_x² + f_y²).

    Args:
        shape: (N_y, N_x) of the Fourier array.
        ppd: sampling rate in pixels per degree.
        half: give only the non-negative columns of a real FFT (``rfft2`` layout, N_x // 2 + 1).

    Returns:
        ρ of shape (N_y, N_x), or (N_y, N_x // 2 + 1) with ``half``.
    """
    n_y, n_x = shape
    f_y = np.fft.fftfreq(n_y) * ppd
    f_x = (np.fft.rfftfreq(n_x) if half else np.fft.fftfreq(n_x)) * ppd
    return np.sqrt(f_x[None, :] ** 2 + f_y[:, None] ** 2)


def fourier_filter_postpad(x: np.ndarray, response: np.ndarray, pad_value: float) -> np.ndarray:
    """Filter ``x`` with a radial frequency response, padding to twice its size bottom/right, §2.

    The array is padded from H×W to 2H×2W with ``pad_value`` (rows appended at the bottom, columns
    at the right), multiplied in the Fourier domain by the filter, transformed back and cropped to the
    top-left H×W. Because the filter is a function of ρ, which is even in both frequencies, a real
    FFT gives the real part of the full complex computation.

    Args:
        x: (H, W) float array.
        response: real filter values on ``cycles_per_degree_grid((2H, 2W), ppd, half=True)``,
            shape (2H, W + 1).
        pad_value: constant used for the padding.

    Returns:
        Filtered (H, W) float64 array.
    """
    h, w = x.shape
    padded = np.full((2 * h, 2 * w), pad_value, dtype=np.float64)
    padded[:h, :w] = x
    spectrum = scipy.fft.rfft2(padded, workers=-1) * response
    return scipy.fft.irfft2(spectrum, s=(2 * h, 2 * w), workers=-1)[:h, :w]


def eye_mtf(rho: np.ndarray) -> np.ndarray:
    """Modulation transfer function of the eye's optics (glare), §3.

    MTF(ρ) = Σ_{k=1..4} a_k·exp(-b_k·ρ); MTF(0) = 1.

    Args:
        rho: spatial frequency in cycles/deg, any shape.

    Returns:
        MTF values, same shape as ``rho``.
    """
    out = np.zeros_like(rho)
    for a_k, b_k in zip(MTF_A, MTF_B):
        out += a_k * np.exp(-b_k * rho)
    return out


@functools.lru_cache(maxsize=2)  # 16 MB each at 1024²; a notebook usually keeps one size
def mtf_response(image_shape: tuple[int, int], ppd: float) -> np.ndarray:
    """MTF on the half grid of the 2H×2W padded image (cached per size and ppd, read-only)."""
    h, w = image_shape
    response = eye_mtf(cycles_per_degree_grid((2 * h, 2 * w), ppd, half=True))
    response.setflags(write=False)
    return response


def apply_optics(image: np.ndarray, ppd: float, surround: float = SURROUND_LUMINANCE) -> np.ndarray:
    """Scatter light in the eye: MTF-filter each channel and clamp, §3.

    Args:
        image: (H, W, C) luminance-like channels in cd/m².
        ppd: pixels per degree.
        surround: luminance (cd/m²) of the surround, the pad value of the filtering.

    Returns:
        L_O, (H, W, C) retinal luminance in cd/m², clamped to [1e-5, 1e10].
    """
    response = mtf_response(image.shape[:2], ppd)
    channels = [
        fourier_filter_postpad(image[..., c], response, surround) for c in range(image.shape[-1])
    ]
    return np.clip(np.stack(channels, axis=-1), *OPTICS_CLAMP)
