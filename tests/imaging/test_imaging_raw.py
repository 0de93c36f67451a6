"""Tests for hdredu.imaging.raw: the camera pipeline both ways, packing, noise, DNG files.

Known answers: sRGB curve values from IEC 61966-2-1; SID's packing re-written here with numpy slices as in SID's
``pack_raw``; OpenCV demosaic checked on single-colour mosaics; ``process`` checked against LibRaw's own pipeline
(rawpy.postprocess) on the same DNG; the noise variance measured on flat patches.
"""

from __future__ import annotations

import numpy as np
import pytest
import rawpy
import torch
import torch.nn.functional as F

from hdredu.data.samples import load_sample
from hdredu.imaging import raw as R
from hdredu.imaging.tonemap import reinhard

PATTERNS = R.BAYER_PATTERNS
LEVELS = R.SONY_WHITE_LEVEL - R.SONY_BLACK_LEVEL  # 15871 counts between black and white


@pytest.fixture(scope="module")
def scene() -> torch.Tensor:
    """A display-referred sRGB picture: the bundled 'city' HDR scene through Reinhard, 256×384."""
    return reinhard(load_sample("city"))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


# ---------------------------------------------------------------------------------------------------------
# sRGB curve.
# ---------------------------------------------------------------------------------------------------------


def test_srgb_curve_known_values_and_inverse():
    # IEC 61966-2-1: V = 0.5 ↔ L = 0.214041; the linear toe below 0.0031308 has slope 12.92; 1 ↔ 1.
    torch.testing.assert_close(R.srgb_to_linear(torch.tensor([0.0, 0.5, 1.0])),
                               torch.tensor([0.0, 0.214041, 1.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(R.linear_to_srgb(torch.tensor([0.001])), torch.tensor([0.01292]))
    grid = torch.linspace(0, 1, 1001, dtype=torch.float64)
    torch.testing.assert_close(R.srgb_to_linear(R.linear_to_srgb(grid)), grid, atol=1e-12, rtol=0)
    # continuous at the knee
    knee = torch.tensor([0.0031308 - 1e-9, 0.0031308 + 1e-9], dtype=torch.float64)
    assert abs(float(R.linear_to_srgb(knee).diff())) < 1e-6


# ---------------------------------------------------------------------------------------------------------
# Bayer positions, packing, mosaicking.
# ---------------------------------------------------------------------------------------------------------


def sid_pack_reference(im: np.ndarray) -> np.ndarray:
    """SID's packing of an RGGB frame, (H, W) → (H/2, W/2, 4), as SID's train_Sony.py slices it."""
    return np.concatenate([im[0::2, 0::2, None], im[0::2, 1::2, None], im[1::2, 1::2, None], im[1::2, 0::2, None]],
                          axis=2)


def test_pack_order_matches_sid():
    mosaic = np.arange(6 * 8, dtype=np.float32).reshape(6, 8)
    packed = R.pack_bayer(torch.from_numpy(mosaic))
    assert packed.shape == (4, 3, 4)
    np.testing.assert_array_equal(packed.permute(1, 2, 0).numpy(), sid_pack_reference(mosaic))
    # the first tile [[0, 1], [8, 9]] packs to [R, G, B, G] = [0, 1, 9, 8]
    assert packed[:, 0, 0].tolist() == [0, 1, 9, 8]
    assert R.PACKED_CHANNELS == ("R", "G", "B", "G")


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pack_unpack_round_trip_with_batch_dims(pattern):
    mosaic = torch.randn(2, 3, 8, 10)
    packed = R.pack_bayer(mosaic, pattern)
    assert packed.shape == (2, 3, 4, 4, 5)
    torch.testing.assert_close(R.unpack_bayer(packed, pattern), mosaic, rtol=0, atol=0)


def test_bayer_positions_of_every_pattern():
    # channels [R, G on R's row, B, G on B's row] as (row, column) in the 2x2 tile
    assert R.bayer_positions("RGGB") == [(0, 0), (0, 1), (1, 1), (1, 0)]
    assert R.bayer_positions("BGGR") == [(1, 1), (1, 0), (0, 0), (0, 1)]
    assert R.bayer_positions("GRBG") == [(0, 1), (0, 0), (1, 0), (1, 1)]
    assert R.bayer_positions("GBRG") == [(1, 0), (1, 1), (0, 1), (0, 0)]
    with pytest.raises(ValueError, match="pattern must be a 2x2 Bayer pattern"):
        R.bayer_positions("RGBG")


def test_mosaic_keeps_the_filter_colour():
    rgb = torch.stack([torch.full((4, 6), 0.1), torch.full((4, 6), 0.5), torch.full((4, 6), 0.9)])
    mosaic = R.mosaic_rgb(rgb, "RGGB")
    assert mosaic[0, 0] == pytest.approx(0.1) and mosaic[1, 1] == pytest.approx(0.9)
    assert mosaic[0, 1] == pytest.approx(0.5) and mosaic[1, 0] == pytest.approx(0.5)
    assert R.mosaic_rgb(rgb, "BGGR")[0, 0] == pytest.approx(0.9)


def test_odd_sizes_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match="mosaic must have even height and width.*5x6"):
        R.pack_bayer(torch.zeros(5, 6))
    with pytest.raises(ValueError, match="srgb must have even height and width"):
        R.unprocess(torch.zeros(3, 6, 7))
    with pytest.raises(ValueError, match="mosaic must have even height and width"):
        R.demosaic(torch.zeros(6, 7))
    with pytest.raises(ValueError, match="counts must have even height and width"):
        R.process(torch.full((6, 7), 600.0))
    with pytest.raises(ValueError, match="linear_mosaic must have even height and width"):
        R.finish(torch.zeros(7, 6), R.Camera.default())
    with pytest.raises(ValueError, match=r"packed must have shape \(\.\.\., 4, h, w\)"):
        R.unpack_bayer(torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match=r"counts must have shape \(H W\)"):
        R.process(torch.zeros(3, 4, 4))


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("colour", [0, 2])
def test_opencv_demosaic_pattern_mapping(pattern, colour):
    # a single-colour scene (pure red or pure blue) must come back as that colour in the image interior
    rgb = torch.zeros(3, 8, 8)
    rgb[colour] = 0.8
    out = R.demosaic(R.mosaic_rgb(rgb, pattern), pattern)
    torch.testing.assert_close(out[:, 2:-2, 2:-2], rgb[:, 2:-2, 2:-2], atol=1e-4, rtol=0)


# ---------------------------------------------------------------------------------------------------------
# Camera.
# ---------------------------------------------------------------------------------------------------------


def test_camera_matrices_and_random_cameras():
    camera = R.Camera.default()
    torch.testing.assert_close(camera.rgb_to_cam.sum(dim=1), torch.ones(3, dtype=torch.float64))
    torch.testing.assert_close(camera.cam_to_rgb @ camera.rgb_to_cam, torch.eye(3, dtype=torch.float64))
    first = R.Camera.random(torch.Generator().manual_seed(1))
    again = R.Camera.random(torch.Generator().manual_seed(1))
    other = R.Camera.random(torch.Generator().manual_seed(2))
    assert torch.equal(first.rgb_to_cam, again.rgb_to_cam) and torch.equal(first.wb_gains, again.wb_gains)
    assert not torch.equal(first.rgb_to_cam, other.rgb_to_cam)
    for seed in range(20):
        gains = R.Camera.random(torch.Generator().manual_seed(seed)).wb_gains
        assert 1.9 <= gains[0] <= 2.4 and gains[1] == 1 and 1.5 <= gains[2] <= 1.9
    listed = R.Camera([[1, 0, 0], [0, 1, 0], [0, 0, 1]], [2.0, 1.0, 1.5])  # lists become float64 tensors
    assert listed.rgb_to_cam.dtype == torch.float64 and torch.equal(listed.cam_to_rgb, torch.eye(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"rgb_to_cam must have shape \(3 3\)"):
        R.Camera(torch.eye(4), camera.wb_gains)
    with pytest.raises(ValueError, match="wb_gains must be positive"):
        R.Camera(camera.rgb_to_cam, torch.tensor([2.0, 0.0, 1.5]))
    with pytest.raises(ValueError, match="black_level < white_level"):
        R.Camera(camera.rgb_to_cam, camera.wb_gains, black_level=700, white_level=600)


# ---------------------------------------------------------------------------------------------------------
# process ∘ unprocess without noise.
# ---------------------------------------------------------------------------------------------------------


def test_unprocess_gives_14_bit_counts_above_black():
    counts = R.unprocess(torch.rand(3, 8, 8))
    assert counts.shape == (8, 8) and counts.dtype == torch.float32
    assert torch.equal(counts, counts.round())
    assert counts.min() >= R.SONY_BLACK_LEVEL and counts.max() <= R.SONY_WHITE_LEVEL
    assert R.unprocess(torch.zeros(3, 4, 4)).unique().tolist() == [R.SONY_BLACK_LEVEL]


def test_round_trip_flat_colours_within_1e_3():
    # a flat colour survives demosaicing exactly; only the 14-bit rounding is left (≤ 1e-3 in sRGB)
    for camera in (R.Camera.default(), R.Camera.random(torch.Generator().manual_seed(5))):
        for colour in ([0.2, 0.5, 0.8], [0.9, 0.3, 0.1], [0.05, 0.05, 0.05], [1.0, 1.0, 1.0]):
            srgb = torch.tensor(colour).reshape(3, 1, 1).expand(3, 16, 16)
            out = R.process(R.unprocess(srgb, camera), camera)
            assert (out - srgb).abs().max() <= 1e-3


def test_round_trip_smooth_and_natural_images(scene):
    # smooth picture (4x area-downscaled then bicubic-upscaled): only demosaic error, PSNR ≥ 42 dB (measured 45.5-46);
    # the full-resolution scene keeps sharp edges that bilinear demosaicing blurs: PSNR ≥ 27 dB (measured 28.6-29.3)
    small = F.interpolate(scene[None], scale_factor=0.25, mode="area")
    smooth = F.interpolate(small, size=scene.shape[1:], mode="bicubic", align_corners=False)[0].clamp(0, 1)
    camera = R.Camera.default()
    assert psnr(R.process(R.unprocess(smooth, camera), camera), smooth) >= 42
    assert psnr(R.process(R.unprocess(scene, camera), camera, method="edge_aware"), scene) >= 27


def test_process_matches_libraw_on_the_same_dng(tmp_path, scene):
    # LibRaw's pipeline (camera WB from AsShotNeutral, bilinear demosaic, sRGB matrix from ColorMatrix1, sRGB-like
    # gamma 2.4 / 12.92) on the DNG of the same counts: interior max difference ≤ 2e-3 (measured 5.3e-4)
    camera = R.Camera.random(torch.Generator().manual_seed(7))
    counts = R.unprocess(scene[:, :64, :96], camera)
    path = R.write_dng(tmp_path / "scene.dng", counts, camera=camera)
    with rawpy.imread(str(path)) as raw:
        reference = raw.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16, gamma=(2.4, 12.92),
                                    demosaic_algorithm=rawpy.DemosaicAlgorithm.LINEAR, adjust_maximum_thr=0.0,
                                    user_flip=0, output_color=rawpy.ColorSpace.sRGB)
    reference = torch.from_numpy(reference.astype(np.float32) / 65535).permute(2, 0, 1)
    difference = (R.process(counts, camera) - reference)[:, 2:-2, 2:-2]
    assert difference.abs().max() <= 2e-3


# ---------------------------------------------------------------------------------------------------------
# Low-light capture: noise model, determinism, SID input.
# ---------------------------------------------------------------------------------------------------------


def test_noise_variance_follows_the_model_on_flat_patches():
    # variance of the linear short capture = a·s + b (+ the 14-bit rounding variance 1/12 count²), within 5 %
    a, b = R.SHOT_NOISE, R.READ_NOISE**2
    rounding = 1.0 / (12 * LEVELS**2)
    generator = torch.Generator().manual_seed(0)
    for ratio, signal in [(1, 0.0), (1, 0.01), (1, 0.05), (100, 20.0 * 0.01), (300, 0.9)]:
        flat = torch.full((256, 256), signal)
        counts = R.low_light_capture(flat, ratio, generator=generator)
        short = (counts - R.SONY_BLACK_LEVEL) / LEVELS  # not clipped at black: variance measured at s = 0 too
        expected_mean = signal / ratio
        assert abs(float(short.mean()) - expected_mean) < 3e-5
        assert float(short.var()) == pytest.approx(a * expected_mean + b + rounding, rel=0.05)


def test_low_light_capture_is_deterministic_by_seed():
    flat = torch.full((16, 16), 0.3)
    first = R.low_light_capture(flat, 250, generator=torch.Generator().manual_seed(4))
    again = R.low_light_capture(flat, 250, generator=torch.Generator().manual_seed(4))
    other = R.low_light_capture(flat, 250, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(first, first.round()) and first.min() >= 0 and first.max() <= R.SONY_WHITE_LEVEL
    with pytest.raises(ValueError, match="ratio must be >= 1"):
        R.low_light_capture(flat, 0.5)


def test_sid_input_levels_ratio_and_clipping():
    counts = torch.tensor([[512.0, 512 + LEVELS / 100], [400.0, 16383.0]])  # R, G / G, B
    packed = R.sid_input(counts, ratio=100)
    assert packed.shape == (4, 1, 1)
    # [R, G, B, G] = [(0,0), (0,1), (1,1), (1,0)]: black → 0; 1/100 of white × 100 → 1; white × 100 clips to 1;
    # below black → 0
    torch.testing.assert_close(packed.flatten(), torch.tensor([0.0, 1.0, 1.0, 0.0]))
    # per-channel black levels in packed order
    packed = R.sid_input(torch.full((2, 2), 1000.0), ratio=1, black_level=[1000, 900, 800, 700], white_level=1100)
    torch.testing.assert_close(packed.flatten(), torch.tensor([0.0, 100 / 200, 200 / 300, 300 / 400]))


# ---------------------------------------------------------------------------------------------------------
# DNG files.
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR"])
def test_dng_round_trip(tmp_path, cfa):
    rng = np.random.default_rng(0)
    mosaic = rng.integers(0, 16384, size=(64, 96)).astype(np.float32)
    camera = R.Camera.random(torch.Generator().manual_seed(3))
    path = R.write_dng(tmp_path / "00001_00_0.04s.dng", torch.from_numpy(mosaic), black_level=[500, 510, 520, 530],
                       white_level=16383, cfa=cfa, camera=camera, exposure_time=0.04)
    with rawpy.imread(str(path)) as raw:
        assert raw.raw_image_visible.dtype == np.uint16
        np.testing.assert_array_equal(raw.raw_image_visible, mosaic.astype(np.uint16))
        assert R.dng_pattern(raw) == cfa
        # black levels per colour index: the row-major tile values land on the colours at those positions
        tile_black = {pos: value for pos, value in zip([(0, 0), (0, 1), (1, 0), (1, 1)], [500, 510, 520, 530])}
        colours = np.asarray(raw.raw_pattern)
        for (y, x), value in tile_black.items():
            assert raw.black_level_per_channel[colours[y, x]] == value
        assert raw.white_level == 16383
        np.testing.assert_allclose(raw.camera_whitebalance[:3], camera.wb_gains.numpy(), rtol=1e-3)
        np.testing.assert_allclose(raw.color_matrix[:, :3], camera.cam_to_rgb.numpy(), atol=1e-3)


def test_dng_single_black_level_and_bad_mosaics(tmp_path):
    path = R.write_dng(tmp_path / "a.dng", np.full((22, 24), 600, dtype=np.uint16))
    with rawpy.imread(str(path)) as raw:
        assert list(raw.black_level_per_channel) == [512] * 4 and raw.white_level == 16383
    with pytest.raises(ValueError, match="mosaic must be a 2-D"):
        R.write_dng(tmp_path / "b.dng", np.zeros((2, 4, 6)))
    with pytest.raises(ValueError, match="integer counts in"):
        R.write_dng(tmp_path / "b.dng", np.full((24, 24), 0.5))
    with pytest.raises(ValueError, match="at least 22 pixels"):  # LibRaw refuses smaller frames
        R.write_dng(tmp_path / "b.dng", np.zeros((20, 24)))
    with pytest.raises(ValueError, match="cfa must be one of"):
        R.write_dng(tmp_path / "b.dng", np.zeros((24, 24)), cfa="XTRANS")
