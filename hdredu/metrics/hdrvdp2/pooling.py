"""Probability summation into P_map (hdrvdp2.md §11) and the quality correlate Q (§12)."""

from __future__ import annotations

import numpy as np

from .resize import imresize

# §12: band weights of the 2.2 quality pooling, as a function of band frequency (cycles/deg)
Q_WEIGHT_FREQS = np.array([60, 30, 15, 7.5, 3.75, 1.875, 0.9375, 0.4688, 0.2344, 0.1172])
Q_WEIGHTS = np.array([0, 0.2832, 0.2832, 0.2142, 0.2690, 0.0398, 0.0003, 0.0003, 0, 0])
Q_EPSILON = 1e-12
DIFF_MASK_THRESHOLD = 0.001  # relative difference that marks a pixel as changed


def spatial_pooling(contrast: np.ndarray) -> np.ndarray:
    """S ← S·(ΣS)/(max S + 1e-12), §11: C_max grows with the number of affected pixels."""
    return contrast * contrast.sum() / (contrast.max() + 1e-12)


def probability_map(contrast: np.ndarray) -> np.ndarray:
    """P_map = 1 - exp(ln(0.5)·S), §11: S = 1 is the detection threshold (P = 0.5)."""
    return 1.0 - np.exp(np.log(0.5) * contrast)


def band_weights(freqs: np.ndarray) -> np.ndarray:
    """Q band weights w_b, piecewise linear in f_b clamped to [0.1172, 60] cycles/deg, §12."""
    f = np.clip(freqs, Q_WEIGHT_FREQS[-1], Q_WEIGHT_FREQS[0])
    return np.interp(f, Q_WEIGHT_FREQS[::-1], Q_WEIGHTS[::-1])


def difference_mask(test: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """d = 1 where any channel has |T - R|/R > 0.001, else 0, §12.

    Args:
        test, reference: (H, W, C) images after the display conversion of §1.

    Returns:
        (H, W) float64 mask of 0 and 1.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # R = 0: inf counts as changed, NaN not
        rel = np.abs(test - reference) / reference
    return np.any(rel > DIFF_MASK_THRESHOLD, axis=-1).astype(np.float64)


def msre(x: np.ndarray) -> float:
    """sqrt(Σ X²)/numel(X): the L2 norm over the pixel count (not an RMS), §12."""
    return float(np.sqrt(np.sum(x * x)) / x.size)


def quality_correlate(
    diffs: list[np.ndarray], diff_mask: np.ndarray, freqs: np.ndarray, renormalise: bool = True
) -> float:
    """Q = 100 - Σ_b Σ_o w_b·[ln(msre(D·d_b) + ε) - ln ε], ε = 1e-12, §12.

    Args:
        diffs: D per band (before the pf exponent), each (n_orient, h, w), finest first.
        diff_mask: (H, W) difference mask; it is resized to each band size with the MATLAB bicubic
            resize and not clamped.
        freqs: band frequencies f_b, shape (B,).
        renormalise: resize rule of the mask, see :func:`.resize.resize_weights`.

    Returns:
        Q: 100 for identical images, lower for larger differences (unbounded below).
    """
    weights = band_weights(freqs)
    penalty = 0.0
    for d, w_b in zip(diffs, weights):
        mask_b = imresize(diff_mask, d.shape[1:], renormalise)
        for d_o in d:  # the weight counts once per orientation
            penalty += w_b * (np.log(msre(d_o * mask_b) + Q_EPSILON) - np.log(Q_EPSILON))
    return 100.0 - penalty
