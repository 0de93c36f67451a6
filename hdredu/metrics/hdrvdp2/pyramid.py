"""Steerable-pyramid decomposition and reconstruction with ``pyrtools`` (hdrvdp2.md §7).

A decomposition is held as a list of B bands, each a (n_orient, h, w) array, finest first:

* b = 1: high-pass residual, (1, H, W);
* b = 2 … ht + 1: oriented levels, (4, h, w), the first full size, each next halved (rounding up);
* b = B = ht + 2: low-pass residual, (1, h, w).

(The code indexes bands from 0; the docstrings and hdrvdp2.md count from 1.)
"""

from __future__ import annotations

import copy

import numpy as np
import pyrtools as pt

ORDER = 3  # sp3 filters: third-order derivatives, 4 orientations
N_ORIENT = ORDER + 1
EDGE_TYPE = "reflect1"
LOWPASS_TAPS = 17  # the recursive low-pass filter that limits the height


def pyramid_height(shape: tuple[int, int]) -> int:
    """Number of oriented levels ht, §7: 0 if a side is < 17, else 1 + ht(floor(size/2)).

    Examples: 96×128 → 3, 200×300 → 4, 512×512 → 5, 1000×1500 → 6.
    """
    h, w = shape
    height = 0
    while min(h, w) >= LOWPASS_TAPS:
        height += 1
        h, w = h // 2, w // 2
    return height


def band_frequencies(n_bands: int, ppd: float) -> np.ndarray:
    """Peak frequency of each band, f_b = (ppd/2)·2^-(b-1) for b = 1…B, §7 (cycles/deg)."""
    return 0.5 * ppd * 2.0 ** -np.arange(n_bands, dtype=np.float64)


def decompose(image: np.ndarray) -> tuple[list[np.ndarray], pt.pyramids.SteerablePyramidSpace]:
    """Steerable-pyramid bands of an (H, W) image, finest first (see the module docstring).

    Args:
        image: (H, W) float array, both sides ≥ 17.

    Returns:
        ``(bands, layout)``: a list of B = ht + 2 arrays of shape (n_orient, h, w), and the
        ``pyrtools`` pyramid object, which :func:`reconstruct` reuses as the layout to synthesise
        from (pyrtools reconstructs only from a pyramid object).
    """
    pyr = pt.pyramids.SteerablePyramidSpace(image, height="auto", order=ORDER, edge_type=EDGE_TYPE)
    coeffs = pyr.pyr_coeffs
    bands = [coeffs["residual_highpass"][None]]
    for level in range(pyr.num_scales):
        bands.append(np.stack([coeffs[(level, o)] for o in range(N_ORIENT)]))
    bands.append(coeffs["residual_lowpass"][None])
    return bands, pyr


def reconstruct(bands: list[np.ndarray], layout: pt.pyramids.SteerablePyramidSpace) -> np.ndarray:
    """Invert :func:`decompose`: the (H, W) image synthesised from (possibly modified) bands.

    Args:
        bands: list in the layout of :func:`decompose`.
        layout: a pyramid object from :func:`decompose` of an image of the same size; it is not
            modified.

    Returns:
        (H, W) reconstruction with the same ``sp3`` filters and edge handling.
    """
    pyr = copy.copy(layout)  # shallow copy: shares filters and sizes, gets its own coefficient dict
    pyr.pyr_coeffs = {"residual_highpass": np.ascontiguousarray(bands[0][0])}
    for level, band in enumerate(bands[1:-1]):
        for o in range(N_ORIENT):
            pyr.pyr_coeffs[(level, o)] = np.ascontiguousarray(band[o])
    pyr.pyr_coeffs["residual_lowpass"] = np.ascontiguousarray(bands[-1][0])
    return pyr.recon_pyr()
