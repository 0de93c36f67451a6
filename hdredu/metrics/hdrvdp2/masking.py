"""Visual masking: threshold-normalised band differences (hdrvdp2.md §10).

Bands are indexed from 0 in code (band b of the text is ``bands[b - 1]``) and each band is an
(n_orient, h, w) array, as produced by :mod:`.pyramid`.
"""

from __future__ import annotations

import numpy as np
import scipy.ndimage

from .resize import imresize

# §10 constants, as exact powers of ten (p is not exactly 3.5 and pf not exactly 1)
MASK_P = 10.0**0.544068  # excitation exponent p = 3.49999964257903
MASK_Q = 10.0**0.49576  # masking exponent q = 3.13155468498327
PSYCH_EXPONENT = 3.5 / MASK_P  # pf = 1.00000010212029
K_SELF = 10.0**0.189065  # self-masking weight
K_XO = 10.0**0.449199  # cross-orientation masking weight
K_XN = 10.0**1.52512  # neighbour-band masking weight


def band_gain(band_index: int) -> float:
    """n = 2^(b-1) for band b (``band_index`` = b - 1, 0-based)."""
    return 2.0**band_index


def signed_power(x: np.ndarray, exponent: float, n: float) -> np.ndarray:
    """sign(x)·|x/n|^exponent·n, the band-normalised power used for E (p) and D′ (pf), §10."""
    out = np.abs(x)
    out /= n  # n is a power of two: |x|/n = |x/n| exactly
    np.power(out, exponent, out=out)
    out *= n
    return np.copysign(out, x, out=out)  # sign(x)·(…); zeros stay zero


def box3(x: np.ndarray) -> np.ndarray:
    """3×3 mean over the last two axes with zero padding (border pixels average with zeros), §10.

    Args:
        x: (..., h, w) array.

    Returns:
        Same shape as ``x``.
    """
    size = (1,) * (x.ndim - 2) + (3, 3)
    return scipy.ndimage.uniform_filter(x, size=size, mode="constant", cval=0.0)


def mutual_masker(band_test: np.ndarray, band_ref: np.ndarray) -> np.ndarray:
    """m(b, o) = box3(min(|B_T|, |B_R|)) for each orientation of one band, §10.

    Args:
        band_test, band_ref: (n_orient, h, w) bands of the two images.

    Returns:
        (n_orient, h, w).
    """
    return box3(np.minimum(np.abs(band_test), np.abs(band_ref)))


def mutual_maskers(bands_test: list[np.ndarray], bands_ref: list[np.ndarray]) -> list[np.ndarray]:
    """:func:`mutual_masker` of every band: a list like the bands."""
    return [mutual_masker(t, r) for t, r in zip(bands_test, bands_ref)]


def pick_orientations(masker: np.ndarray, n_orient: int) -> np.ndarray:
    """m(b′, o) for o = 1…n_orient; a one-plane band (a residual) is read as o = 1 for all o, §10."""
    if masker.shape[0] == n_orient:
        return masker
    return np.broadcast_to(masker[:1], (n_orient,) + masker.shape[1:])


def neighbour_masking(maskers: list[np.ndarray], b: int, renormalise: bool = True) -> np.ndarray:
    """Neighbour-band masking signal m_xn of band ``b`` (0-based), §10.

    Adds max(R(m(b-1, o)), 0)·2/n for the finer neighbour (if any) and max(R(m(b+1, o)), 0)/(2n) for
    the coarser one, except that the coarser neighbour is never the low-pass band. R is the MATLAB
    bicubic resize (§13) to band b's size (the identity between equal sizes); ``renormalise`` picks
    the resize rule (:func:`.resize.resize_weights`).

    Returns:
        (n_orient, h, w) array of band ``b``'s shape.
    """
    n_bands = len(maskers)
    n = band_gain(b)
    n_orient, h, w = maskers[b].shape
    m_xn = np.zeros(maskers[b].shape)
    if b > 0:  # finer neighbour
        finer = imresize(pick_orientations(maskers[b - 1], n_orient), (h, w), renormalise)
        m_xn += np.maximum(finer, 0.0) * 2.0 / n
    if b < n_bands - 2:  # coarser neighbour, excluding the low-pass band (index n_bands - 1)
        coarser = imresize(pick_orientations(maskers[b + 1], n_orient), (h, w), renormalise)
        m_xn += np.maximum(coarser, 0.0) / (2.0 * n)
    return m_xn


def normalised_difference(
    band_test: np.ndarray,
    band_ref: np.ndarray,
    maskers: list[np.ndarray],
    b: int,
    noise: np.ndarray | float,
    renormalise: bool = True,
) -> np.ndarray:
    """Threshold-normalised difference D of band ``b`` (0-based) under masking, §10.

    E = sign(ΔB)·|ΔB/n|^p·n with ΔB = B_T - B_R;
    N_mask = n·[k_self·(m_self/(N·n))^q + k_xo·(m_xo/(N·n))^q + k_xn·(m_xn/N)^q];
    D = E / sqrt(N^(2p) + N_mask²).

    Args:
        band_test, band_ref: (n_orient, h, w) bands of the two images.
        maskers: :func:`mutual_maskers` of all bands.
        b: band index, 0-based.
        noise: per-pixel noise level N, (h, w) (broadcast over orientations), or 1 for the low-pass.
        renormalise: resize rule of the neighbour maskers, see :func:`neighbour_masking`.

    Returns:
        D, (n_orient, h, w), in units of the detection threshold (before the pf exponent).
    """
    n = band_gain(b)
    excitation = signed_power(band_test - band_ref, MASK_P, n)
    m_self = maskers[b]
    # cross-orientation: the band's other orientations (0 for one-plane bands)
    m_xo = np.maximum(m_self.sum(axis=0, keepdims=True) - m_self, 0.0)
    m_xn = neighbour_masking(maskers, b, renormalise)
    # N_mask = n·[k_self·(m_self/(N·n))^q + k_xo·(m_xo/(N·n))^q + k_xn·(m_xn/N)^q]
    mask_signal = _weighted_power(m_self, noise * n, K_SELF)
    mask_signal += _weighted_power(m_xo, noise * n, K_XO)
    mask_signal += _weighted_power(m_xn, noise, K_XN)
    mask_signal *= n
    # D = E / sqrt(N^(2p) + N_mask²)
    np.square(mask_signal, out=mask_signal)
    mask_signal += noise ** (2.0 * MASK_P)
    np.sqrt(mask_signal, out=mask_signal)
    return np.divide(excitation, mask_signal, out=excitation)


def _weighted_power(masker: np.ndarray, scale: np.ndarray | float, weight: float) -> np.ndarray:
    """weight·(masker/scale)^q as a new array (one term of N_mask, §10)."""
    out = np.divide(masker, scale)
    np.power(out, MASK_Q, out=out)
    out *= weight
    return out
