"""Checks of the metric's inputs, shared by the numpy metric and the torch backend (hdrvdp2.md §1, §2).

Both :mod:`.metric` and :mod:`.torch_backend` import from here, so neither imports the other at module level.
"""

from __future__ import annotations

import warnings

import numpy as np

from .display import COLOR_ENCODINGS, DISPLAY_ENCODINGS, pixels_per_degree
from .pooling import Q_WEIGHT_FREQS, band_weights
from .pyramid import LOWPASS_TAPS, band_frequencies, pyramid_height

ENCODING_NAMES = ("luminance", "luma-display", "sRGB-display", "rgb-bt.709", "XYZ")  # as documented
DEFAULT_PPD = pixels_per_degree(24.0, (1920, 1080), 0.5)  # 32.4529519503, the reference condition


def check_encoding(color_encoding) -> str:
    """Lower-cased encoding name, or a ValueError listing the accepted names."""
    key = color_encoding.lower() if isinstance(color_encoding, str) else None
    if key not in COLOR_ENCODINGS:
        names = ", ".join(map(repr, ENCODING_NAMES))
        raise ValueError(f"color_encoding must be one of {names}; got {color_encoding!r}")
    return key


def check_image(image, name: str, encoding: str) -> np.ndarray:
    """Validate one (H, W[, C]) input image for ``encoding``: shape, finiteness and range (§1)."""
    x = np.asarray(image, dtype=np.float64)
    channels = COLOR_ENCODINGS[encoding]
    if channels == 1:
        ok = x.ndim == 2 or (x.ndim == 3 and x.shape[2] == 1)
        expected = "(H, W) or (H, W, 1)"
    else:
        ok = x.ndim == 3 and x.shape[2] == 3
        expected = "(H, W, 3)"
    if not ok:
        raise ValueError(
            f"{name} must have shape {expected} for color_encoding={encoding!r}; got {x.shape}"
        )
    check_values(name, encoding, int(np.count_nonzero(~np.isfinite(x))), x.min(), x.max())
    return x


def check_values(
    name: str, encoding: str, n_non_finite: int, lowest: float, highest: float
) -> None:
    """Raise a ValueError unless the values of image ``name`` suit ``encoding`` (§1).

    All values must be finite; display encodings need values in [0, 1], the others non-negative
    absolute values. Shared by the numpy and the torch entry points.
    """
    if n_non_finite:
        raise ValueError(f"{name} must be finite; it has {n_non_finite} NaN or infinite values")
    if encoding in DISPLAY_ENCODINGS:
        if lowest < 0.0 or highest > 1.0:
            raise ValueError(
                f"{name} must hold display values in [0, 1] for color_encoding={encoding!r}; "
                f"got values in [{lowest:.4g}, {highest:.4g}]"
            )
    elif lowest < 0.0:
        raise ValueError(
            f"{name} must be non-negative (absolute values in cd/m²) for "
            f"color_encoding={encoding!r}; got a minimum of {lowest:.4g}"
        )


def check_pair(test_shape: tuple, reference_shape: tuple, size: tuple[int, int]) -> None:
    """Same shape, and an image size (H, W) large enough for the 17-tap pyramid filter (§7)."""
    if tuple(test_shape) != tuple(reference_shape):
        raise ValueError(
            f"test and reference must have the same shape; got test {tuple(test_shape)} and "
            f"reference {tuple(reference_shape)}"
        )
    if min(size) < LOWPASS_TAPS:
        raise ValueError(
            f"test and reference must be at least {LOWPASS_TAPS}×{LOWPASS_TAPS} pixels (the "
            f"steerable pyramid's 17-tap low-pass filter); got {size[0]}×{size[1]}"
        )


def check_ppd(ppd, size: tuple[int, int]) -> float:
    """A positive, finite ppd leaving at least one band where the Q weights are non-zero (§12)."""
    try:
        value = float(ppd)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(
            f"pixels_per_degree must be a positive number (pixels per visual degree); got {ppd!r}"
        )
    n_bands = pyramid_height(size) + 2
    freqs = band_frequencies(n_bands, value)
    if not np.any(band_weights(freqs) > 0):
        # weights are non-zero for f_lo < f_b < f_hi; f_1 = ppd/2 and f_B = ppd·2^-B
        f_lo, f_hi = Q_WEIGHT_FREQS[-2], Q_WEIGHT_FREQS[0]
        raise ValueError(
            f"pixels_per_degree={value:g} puts every pyramid band of a {size[0]}×{size[1]} image "
            f"(from {freqs[0]:.4g} down to {freqs[-1]:.4g} cycles/deg) outside "
            f"{f_lo:g}–{f_hi:g} cycles/deg, where the Q weights are non-zero; expected "
            f"{2 * f_lo:g} < pixels_per_degree < {f_hi * 2.0**n_bands:g} for this image size"
        )
    return value


def warn_if_relative(test_peak: float, encoding: str) -> None:
    """Warn (as the reference does) when the test image looks relative rather than absolute (§1).

    Args:
        test_peak: largest value of the test image after conversion (the green channel for RGB).
        encoding: lower-case colour encoding; display encodings never warn.
    """
    if encoding not in DISPLAY_ENCODINGS and test_peak <= 1.0:
        warnings.warn(
            "the test image's largest value is <= 1 cd/m²: HDR-VDP-2.2 expects absolute luminance; "
            "scale relative images to cd/m² (e.g. I / max(I) · peak luminance)",
            UserWarning,
            stacklevel=3,
        )
