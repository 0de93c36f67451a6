"""Tests for hdredu.io: round trips per format, RGB order on disk and in memory, clear errors."""

from __future__ import annotations

import re

import cv2
import numpy as np
import OpenEXR
import pytest
import torch

from hdredu import io

RED = (slice(2, 6), slice(3, 9))  # rows, columns of a pure-red patch


def _hdr_image(seed: int = 0) -> np.ndarray:
    """64×96 RGB radiance, luminance log-uniform in 1e-3 … 1e3, pixel (0, 0) = 1000, a pure-red patch."""
    rng = np.random.default_rng(seed)
    image = (10.0 ** rng.uniform(-3, 3, size=(64, 96, 1)) * rng.uniform(0.3, 1.0, size=(64, 96, 3))).astype(np.float32)
    image[0, 0] = 1000.0
    image[RED] = (2.0, 0.0, 0.0)
    return image


def _ldr_image(seed: int = 0) -> np.ndarray:
    image = np.random.default_rng(seed).uniform(0.0, 1.0, size=(64, 96, 3)).astype(np.float32)
    image[RED] = (1.0, 0.0, 0.0)
    return image


def _assert_red_patch(image: np.ndarray) -> None:
    """RGB order: the patch is red only, in channel 0."""
    patch = image[RED]
    assert (patch[..., 0] > 0.5).all()
    assert (patch[..., 1:] == 0).all()


# ---------------------------------------------------------------------------------------------------------
# Round trips.
# ---------------------------------------------------------------------------------------------------------


def test_exr_float32_round_trip_is_exact(tmp_path):
    image = _hdr_image()
    path = io.write_hdr(tmp_path / "scene.exr", image)
    back = io.read_hdr(path)
    assert back.dtype == np.float32 and back.shape == (64, 96, 3)
    np.testing.assert_array_equal(back, image)
    _assert_red_patch(back)


def test_exr_half_round_trip_within_half_precision(tmp_path):
    image = _hdr_image()
    back = io.read_hdr(io.write_hdr(tmp_path / "scene.exr", image, half=True))
    assert back.dtype == np.float32
    relative = np.abs(back - image) / image.clip(1e-30)
    assert relative[image > 0].max() <= 4.9e-4  # float16: 11 significant bits, 2^-11 ≈ 4.88e-4
    assert relative[image > 0].max() > 0  # it really was stored as half
    _assert_red_patch(back)


def test_exr_on_disk_is_rgb(tmp_path):
    path = io.write_hdr(tmp_path / "scene.exr", _hdr_image())
    channels = OpenEXR.File(str(path)).channels()
    pixels = channels["RGB"].pixels if "RGB" in channels else np.stack([channels[c].pixels for c in "RGB"], -1)
    _assert_red_patch(pixels)


def test_hdr_round_trip_relative_to_the_pixel_max(tmp_path):
    image = _hdr_image()
    back = io.read_hdr(io.write_hdr(tmp_path / "scene.hdr", image))
    assert back.dtype == np.float32 and back.shape == image.shape
    # RGBE shares one exponent per pixel: the error scales with the pixel's largest channel.
    error = np.abs(back - image) / image.max(axis=2, keepdims=True)
    assert error.max() < 1e-2
    _assert_red_patch(back)


def test_hdr_on_disk_is_bgr(tmp_path):
    path = io.write_hdr(tmp_path / "scene.hdr", _hdr_image())
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    _assert_red_patch(bgr[..., ::-1])


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_ldr_16bit_round_trip_is_exact(tmp_path, suffix):
    levels = np.random.default_rng(1).integers(0, 65536, size=(64, 96, 3)).astype(np.uint16)
    levels[RED] = (65535, 0, 0)
    image = levels.astype(np.float32) / np.float32(65535)
    back = io.read_ldr(io.write_ldr(tmp_path / f"frame{suffix}", image, bits=16))
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, image)
    raw = cv2.imread(str(tmp_path / f"frame{suffix}"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw[..., ::-1], levels)  # BGR on disk, the same levels
    _assert_red_patch(back)


def test_ldr_8bit_round_trip_within_half_a_level(tmp_path):
    image = _ldr_image()
    back = io.read_ldr(io.write_ldr(tmp_path / "frame.png", image, bits=8))
    assert np.abs(back - image).max() <= 0.5 / 255 + 1e-7
    assert cv2.imread(str(tmp_path / "frame.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8
    _assert_red_patch(back)


def test_ldr_values_outside_unit_range_are_clipped(tmp_path):
    image = np.full((4, 5, 3), 0.5, dtype=np.float32)
    image[0, 0] = (-0.2, 1.7, 0.5)
    back = io.read_ldr(io.write_ldr(tmp_path / "frame.png", image))
    np.testing.assert_allclose(back[0, 0], (0.0, 1.0, 128 / 255), atol=1e-7)


def test_read_ldr_of_a_bgr_file_written_by_opencv(tmp_path):
    bgr = np.zeros((8, 8, 3), dtype=np.uint8)
    bgr[..., 2] = 255  # red, in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    rgb = io.read_ldr(tmp_path / "red.png")
    np.testing.assert_array_equal(rgb[0, 0], (1.0, 0.0, 0.0))


def test_read_ldr_grayscale_becomes_three_channels(tmp_path):
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((4, 6), 51, dtype=np.uint8))
    grey = io.read_ldr(tmp_path / "grey.png")
    assert grey.shape == (4, 6, 3)
    np.testing.assert_allclose(grey, 0.2, atol=1e-7)


def test_tensor_conversions_round_trip():
    image = _ldr_image()
    tensor = io.to_tensor(image)
    assert tensor.shape == (3, 64, 96) and tensor.dtype == torch.float32
    assert float(tensor[0, 2, 3]) == 1.0 and float(tensor[1, 2, 3]) == 0.0  # channel-first, RGB kept
    np.testing.assert_array_equal(io.to_numpy(tensor), image)


# ---------------------------------------------------------------------------------------------------------
# Errors.
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reader, name", [(io.read_hdr, "missing.exr"), (io.read_hdr, "missing.hdr"),
                                          (io.read_ldr, "missing.png")])
def test_missing_file_names_the_path(tmp_path, reader, name):
    with pytest.raises(FileNotFoundError, match=re.escape(f"image file not found: {tmp_path / name}")):
        reader(tmp_path / name)


@pytest.mark.parametrize("reader, name, message", [
    (io.read_hdr, "broken.exr", "not a readable OpenEXR file"),
    (io.read_hdr, "broken.hdr", "not a readable Radiance .hdr"),
    (io.read_ldr, "broken.png", "not a readable image"),
    (io.read_ldr, "broken.tif", "not a readable image"),
])
def test_corrupt_file_names_the_path(tmp_path, reader, name, message):
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(io.ImageReadError, match=re.escape(f"{path}: {message}")):
        reader(path)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf])
def test_non_finite_exr_is_rejected_on_read(tmp_path, bad_value):
    image = _hdr_image()
    image[5, 7, 1] = bad_value
    path = tmp_path / "bad.exr"
    OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, {"RGB": image}).write(str(path))
    with pytest.raises(io.ImageReadError, match=re.escape(f"{path}: 1 pixel values are NaN or Inf")):
        io.read_hdr(path)


def test_non_finite_image_is_rejected_on_write(tmp_path):
    image = _hdr_image()
    image[1, 1, 0] = np.nan
    with pytest.raises(ValueError, match="holds NaN or Inf"):
        io.write_hdr(tmp_path / "bad.exr", image)
    assert not (tmp_path / "bad.exr").exists()


def test_half_exr_rejects_values_above_the_float16_range(tmp_path):
    image = _hdr_image()
    image[0, 0] = 1e5
    with pytest.raises(ValueError, match=r"(?i)half|float16|65504"):
        io.write_hdr(tmp_path / "too_bright.exr", image, half=True)


@pytest.mark.parametrize("shape", [(64, 96), (64, 96, 4), (3, 64, 96), (2, 64, 96, 3)])
@pytest.mark.parametrize("writer, name", [(io.write_hdr, "x.exr"), (io.write_hdr, "x.hdr"), (io.write_ldr, "x.png")])
def test_write_of_wrong_shape_names_the_shape(tmp_path, shape, writer, name):
    with pytest.raises(ValueError, match=re.escape(f"image must be an (H, W, 3) RGB array; got shape {shape}")):
        writer(tmp_path / name, np.zeros(shape, dtype=np.float32))


def test_wrong_suffix_and_bits(tmp_path):
    with pytest.raises(ValueError, match=r"HDR files must end in \('.exr', '.hdr'\); got '.png'"):
        io.write_hdr(tmp_path / "x.png", _hdr_image())
    path = io.write_ldr(tmp_path / "frame.png", _ldr_image())
    with pytest.raises(ValueError, match=r"got '.png' \(use read_ldr for LDR\)"):
        io.read_hdr(path)
    with pytest.raises(ValueError, match="bits must be 8 or 16; got 12"):
        io.write_ldr(tmp_path / "frame.png", _ldr_image(), bits=12)


def test_read_ldr_of_a_float_image_points_to_read_hdr(tmp_path):
    path = io.write_hdr(tmp_path / "scene.hdr", _hdr_image())
    with pytest.raises(io.ImageReadError, match=re.escape(f"{path}: an 8- or 16-bit LDR image is expected; got dtype float32")):
        io.read_ldr(path)


def test_write_ldr_refuses_nan(tmp_path):
    image = np.full((4, 5, 3), 0.5, dtype=np.float32)
    image[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="holds NaN values; an LDR file cannot store them"):
        io.write_ldr(tmp_path / "a.png", image)
    assert not (tmp_path / "a.png").exists()


def test_write_hdr_refuses_negative_radiance_but_exr_keeps_it(tmp_path):
    image = np.full((4, 5, 3), 0.5, dtype=np.float32)
    image[0, 0, 1] = -0.25
    with pytest.raises(ValueError, match="negative values.*write .exr"):
        io.write_hdr(tmp_path / "a.hdr", image)
    io.write_hdr(tmp_path / "a.exr", image)
    assert io.read_hdr(tmp_path / "a.exr")[0, 0, 1] == -0.25
