"""Viewing geometry and colour encodings: what the visual model is given (hdrvdp2.md §1, §2)."""

from __future__ import annotations

import math

import numpy as np

# §1: display model of the two display-referred encodings: 100 cd/m² peak, 1 cd/m² black
DISPLAY_PEAK = 100.0
DISPLAY_BLACK = 1.0
LUMA_GAMMA = 2.2
# §1: XYZ → linear BT.709 RGB, applied per pixel
XYZ_TO_RGB = np.array(
    [
        [3.240708, -1.537259, -0.498570],
        [-0.969257, 1.875995, 0.041555],
        [0.055636, -0.203996, 1.057069],
    ]
)

# encoding name (lower case) → number of channels
COLOR_ENCODINGS = {
    "luminance": 1,
    "luma-display": 1,
    "srgb-display": 3,
    "rgb-bt.709": 3,
    "xyz": 3,
}
DISPLAY_ENCODINGS = ("luma-display", "srgb-display")


def pixels_per_degree(
    display_diagonal_in: float, resolution: tuple[int, int], distance_m: float
) -> float:
    """Angular resolution of a display, in pixels per visual degree (hdrvdp2.md §2).

    Uses the display height: ar = W_px/H_px, h_mm = sqrt((25.4·d)² / (1 + ar²)),
    h_deg = 2·atan(h_mm / (2·1000·D)) in degrees, ppd = H_px / h_deg.

    Args:
        display_diagonal_in: diagonal d in inches.
        resolution: (W_px, H_px), width first as in ``hdrvdp_pix_per_deg``.
        distance_m: viewing distance D in metres.

    Returns:
        Pixels per degree; 24-inch 1920×1080 at 0.5 m gives 32.4529519503.

    Raises:
        ValueError: a non-positive or non-finite size or distance.
    """
    if not (np.isfinite(display_diagonal_in) and display_diagonal_in > 0):
        raise ValueError(
            f"display_diagonal_in must be a positive number of inches; got {display_diagonal_in!r}"
        )
    if len(resolution) != 2 or not all(np.isfinite(r) and r > 0 for r in resolution):
        raise ValueError(
            f"resolution must be (width_px, height_px), two positive numbers; got {resolution!r}"
        )
    if not (np.isfinite(distance_m) and distance_m > 0):
        raise ValueError(f"distance_m must be a positive distance in metres; got {distance_m!r}")
    width_px, height_px = resolution
    aspect = width_px / height_px
    height_mm = math.sqrt((25.4 * display_diagonal_in) ** 2 / (1.0 + aspect**2))
    height_deg = math.degrees(2.0 * math.atan(height_mm / (2.0 * 1000.0 * distance_m)))
    return height_px / height_deg


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """sRGB decoding: V/12.92 for V ≤ 0.04045, else ((V + 0.055)/1.055)^2.4 (V in [0, 1])."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def display_model(relative: np.ndarray) -> np.ndarray:
    """Relative linear display output in [0, 1] → cd/m²: L = 99·lin + 1 (100 peak, 1 black)."""
    return (DISPLAY_PEAK - DISPLAY_BLACK) * relative + DISPLAY_BLACK


def to_physical(image: np.ndarray, encoding: str) -> np.ndarray:
    """Convert an already validated image to the channels the visual model works on, §1.

    Args:
        image: (H, W) or (H, W, C) array in the units of ``encoding`` (lower case):
            ``luminance``: cd/m²; ``luma-display``: luma V in [0, 1]; ``srgb-display``: sRGB V in
            [0, 1]; ``rgb-bt.709``: linear BT.709 RGB in cd/m²; ``xyz``: CIE XYZ in cd/m².

    Returns:
        (H, W, C) float64: luminance (C = 1) or linear RGB (C = 3), in cd/m².
    """
    x = image.reshape(image.shape[:2] + (-1,)).astype(np.float64)
    if encoding == "luma-display":
        return display_model(x**LUMA_GAMMA)  # L = 99·V^2.2 + 1
    if encoding == "srgb-display":
        return display_model(srgb_to_linear(x))
    if encoding == "xyz":
        return x @ XYZ_TO_RGB.T  # RGB = M·XYZ per pixel
    return x
