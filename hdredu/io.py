"""Reading and writing images: HDR (.exr via openexr, .hdr via OpenCV) and LDR (8/16-bit PNG / TIFF).

Arrays are always (H, W, 3) RGB float32 in hdredu; BGR exists only at the OpenCV boundary inside this file.
HDR files hold linear radiance; LDR files are read as values in [0, 1] (÷255 or ÷65535).
Every reader raises a clear error naming the file for a missing, unreadable or non-finite image.
Introduced in notebooks/00_hdr_basics.ipynb, section *Pixels are not radiance*.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

HDR_SUFFIXES = (".exr", ".hdr")
LDR_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
HALF_MAX = 65504.0  # the largest finite float16


class ImageReadError(ValueError):
    """An image file is missing, unreadable, or holds values hdredu cannot use (names the file)."""


def _existing_file(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path} (check the path; hdredu never downloads data)")
    return path


def _check_finite(image: np.ndarray, path: Path) -> np.ndarray:
    bad = ~np.isfinite(image)
    if bad.any():
        raise ImageReadError(
            f"{path}: {int(bad.sum())} pixel values are NaN or Inf; an HDR image must hold finite radiance "
            "(re-export it, or replace them, e.g. with np.nan_to_num, before saving)"
        )
    return image


def _as_rgb_float(image: np.ndarray, name: str) -> np.ndarray:
    """Check an (H, W, 3) array and return it as contiguous float32."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be an (H, W, 3) RGB array; got shape {image.shape}")
    return np.ascontiguousarray(image, dtype=np.float32)


def read_hdr(path) -> np.ndarray:
    """Read a linear HDR image (.exr or .hdr) as an (H, W, 3) float32 RGB array.

    Raises:
        FileNotFoundError: the file does not exist.
        ImageReadError: the file is corrupt, not RGB, or holds NaN / Inf.
    """
    path = _existing_file(path)
    suffix = path.suffix.lower()
    if suffix == ".exr":
        image = _read_exr(path)
    elif suffix == ".hdr":
        bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if bgr is None or bgr.ndim != 3:
            raise ImageReadError(f"{path}: not a readable Radiance .hdr RGB image (is the file complete?)")
        image = bgr[..., ::-1]
    else:
        raise ValueError(f"{path}: HDR files must end in {HDR_SUFFIXES}; got {suffix!r} (use read_ldr for LDR)")
    return _check_finite(np.ascontiguousarray(image, dtype=np.float32), path)


def _read_exr(path: Path) -> np.ndarray:
    import OpenEXR

    try:
        channels = OpenEXR.File(str(path)).channels()
    except Exception as error:  # the bindings raise plain Exceptions for corrupt files
        raise ImageReadError(f"{path}: not a readable OpenEXR file ({error})") from None
    if "RGB" in channels:
        return channels["RGB"].pixels
    if all(c in channels for c in "RGB"):
        return np.stack([channels[c].pixels for c in "RGB"], axis=-1)
    raise ImageReadError(f"{path}: an RGB EXR is expected; found channels {sorted(channels)}")


def write_hdr(path, image: np.ndarray, half: bool = False) -> Path:
    """Write an (H, W, 3) linear RGB image to .exr (float32, or float16 with ``half=True``) or .hdr (RGBE).

    RGBE shares one exponent per pixel: expect ≈1 % error relative to the pixel's largest channel.
    """
    path = Path(path)
    image = _as_rgb_float(image, "image")
    if not np.isfinite(image).all():
        raise ValueError(f"image for {path} holds NaN or Inf; HDR files must hold finite radiance")
    suffix = path.suffix.lower()
    if suffix == ".exr":
        import OpenEXR

        if half and image.max() > HALF_MAX:
            raise ValueError(f"image for {path} peaks at {image.max():.4g}, above the float16 maximum {HALF_MAX}: "
                             "write it with half=False (float32) or scale it down")
        pixels = image.astype(np.float16) if half else image
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        OpenEXR.File(header, {"RGB": pixels}).write(str(path))
    elif suffix == ".hdr":
        if (image < 0).any():
            raise ValueError(f"image for {path} has negative values (minimum {image.min():.4g}); Radiance .hdr (RGBE) "
                             "stores only non-negative radiance: clip them first or write .exr, which keeps them")
        if not cv2.imwrite(str(path), image[..., ::-1].copy()):
            raise OSError(f"OpenCV could not write {path}")
    else:
        raise ValueError(f"{path}: HDR files must end in {HDR_SUFFIXES}; got {suffix!r}")
    return path


def read_ldr(path) -> np.ndarray:
    """Read an 8- or 16-bit LDR image (PNG / TIFF / JPEG) as (H, W, 3) float32 RGB in [0, 1].

    Values are divided by 255 or 65535 according to the file's bit depth (the MATLAB ``im2single`` rule).
    """
    path = _existing_file(path)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ImageReadError(f"{path}: not a readable image (corrupt or unsupported format)")
    if raw.dtype == np.uint8:
        scale = 255.0
    elif raw.dtype == np.uint16:
        scale = 65535.0
    else:
        raise ImageReadError(f"{path}: an 8- or 16-bit LDR image is expected; got dtype {raw.dtype} (HDR? use read_hdr)")
    if raw.ndim == 2:
        raw = np.repeat(raw[..., None], 3, axis=2)
    if raw.shape[2] == 4:  # drop alpha
        raw = raw[..., :3]
    return np.ascontiguousarray(raw[..., ::-1], dtype=np.float32) / np.float32(scale)


def write_ldr(path, image: np.ndarray, bits: int = 8) -> Path:
    """Write an (H, W, 3) RGB image with values in [0, 1] as an 8- or 16-bit PNG / TIFF (values are clipped).

    Raises:
        ValueError: ``bits`` is not 8 or 16, or the image holds NaN.
    """
    path = Path(path)
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16; got {bits}")
    image = _as_rgb_float(image, "image")
    if np.isnan(image).any():
        raise ValueError(f"image for {path} holds NaN values; an LDR file cannot store them (values outside [0, 1] "
                         "are clipped, NaN has no place to go): fix or replace them first")
    levels = 2**bits - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    quantized = np.round(np.clip(image, 0.0, 1.0) * levels).astype(dtype)
    if not cv2.imwrite(str(path), quantized[..., ::-1].copy()):
        raise OSError(f"OpenCV could not write {path} (suffix must be one of {LDR_SUFFIXES})")
    return path


def check_same_size(images: list[np.ndarray], paths: list, what: str) -> None:
    """Raise ValueError if the (H, W, C) ``images`` read from ``paths`` differ in height × width, listing each
    file's size after ``what`` (e.g. "scene 0001: the frames and the ground truth")."""
    sizes = [image.shape[:2] for image in images]
    if len(set(sizes)) != 1:
        listing = ", ".join(f"{Path(path).name} {h}x{w}" for path, (h, w) in zip(paths, sizes))
        raise ValueError(f"{what} must have the same height x width; got {listing}")


def to_tensor(image: np.ndarray):
    """(H, W, C) numpy → (C, H, W) float32 torch tensor."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(np.asarray(image, dtype=np.float32).transpose(2, 0, 1)))


def to_numpy(image) -> np.ndarray:
    """(C, H, W) torch tensor → (H, W, C) float32 numpy array."""
    return image.detach().cpu().float().numpy().transpose(1, 2, 0)
