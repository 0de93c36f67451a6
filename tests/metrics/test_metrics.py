"""Tests for hdredu.metrics: PSNR-L / PSNR-μ, SSIM, PU21, the optional ColorVideoVDP JOD and its stand-in blur."""

from __future__ import annotations

import importlib.util
import math
import re
import sys

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from hdredu import metrics
from hdredu.metrics import _torchvision_standin


def _smooth_image(height=64, width=96) -> np.ndarray:
    """(H, W, 3) float64 smooth RGB image in [0.2, 0.8]."""
    y, x = np.mgrid[0:height, 0:width] / 64.0
    return np.stack([0.5 + 0.3 * np.sin(3 * x + c) * np.cos(2 * y + 0.5 * c) for c in range(3)], axis=-1)


def _noisy(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    return np.clip(image + np.random.default_rng(seed).normal(0.0, sigma, image.shape), 0.0, 1.0)


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)


def _mu_law_np(x: np.ndarray) -> np.ndarray:
    return np.log1p(5000.0 * x) / np.log1p(5000.0)


# ---------------------------------------------------------------------------------------------------------
# PSNR-L and PSNR-μ.
# ---------------------------------------------------------------------------------------------------------


def test_psnr_hand_computation():
    target = torch.full((3, 8, 8), 0.5)
    assert metrics.psnr_l(target + 0.1, target) == pytest.approx(20.0, abs=1e-4)  # MSE 0.01 → 20 dB
    assert metrics.psnr(target + 0.1, target, peak=2.0) == pytest.approx(20.0 + 20 * math.log10(2.0), abs=1e-4)
    assert metrics.psnr_l(target, target) == math.inf


def test_psnr_is_averaged_per_image():
    target = torch.full((2, 3, 8, 8), 0.5)
    pred = target.clone()
    pred[0] += 0.1  # 20 dB
    pred[1] += 0.01  # 40 dB
    assert metrics.psnr_l(pred, target) == pytest.approx(30.0, abs=1e-3)  # not 10·log10(1 / mean MSE) ≈ 22.97


def test_psnr_l_matches_skimage():
    target = _smooth_image()
    pred = _noisy(target, 0.05)
    expected = peak_signal_noise_ratio(target, pred, data_range=1.0)
    assert metrics.psnr_l(_chw(pred), _chw(target)) == pytest.approx(expected, abs=1e-4)
    # (C, H, W) and a batch of one give the same score
    assert metrics.psnr_l(_chw(pred)[None], _chw(target)[None]) == metrics.psnr_l(_chw(pred), _chw(target))


def test_psnr_mu_hand_computation_and_skimage():
    target = _smooth_image() ** 3  # HDR-like: most values dark
    pred = _noisy(target, 0.01, seed=3)
    mse = np.mean((_mu_law_np(pred) - _mu_law_np(target)) ** 2)
    hand = 10.0 * math.log10(1.0 / mse)
    expected = peak_signal_noise_ratio(_mu_law_np(target), _mu_law_np(pred), data_range=1.0)
    assert hand == pytest.approx(expected, abs=1e-9)
    assert metrics.psnr_mu(_chw(pred), _chw(target)) == pytest.approx(hand, abs=1e-3)
    # μ-law weighs dark errors up: the same noise costs more dB in PSNR-μ than in PSNR-L
    assert metrics.psnr_mu(_chw(pred), _chw(target)) < metrics.psnr_l(_chw(pred), _chw(target))


def test_psnr_mu_clips_to_unit_range():
    target = torch.ones(3, 4, 4)
    assert metrics.psnr_mu(target * 1.5, target) == math.inf  # both clip to 1
    assert metrics.psnr_mu(-target, 0 * target) == math.inf  # the prediction clips to 0


@pytest.mark.parametrize("metric", [metrics.psnr_l, metrics.psnr_mu, metrics.ssim, metrics.pu21_psnr, metrics.pu21_ssim])
def test_mismatched_shapes(metric):
    with pytest.raises(ValueError, match=re.escape("pred and target must have the same shape; got (3, 16, 16) and (3, 16, 17)")):
        metric(torch.rand(3, 16, 16), torch.rand(3, 16, 17))


def test_wrong_number_of_dimensions():
    with pytest.raises(ValueError, match=re.escape("pred must be (B, C, H, W) or (C, H, W); got shape (16, 16)")):
        metrics.psnr_l(torch.rand(16, 16), torch.rand(16, 16))


ALL_METRICS = [metrics.psnr_l, metrics.psnr_mu, metrics.psnr_display, metrics.ssim, metrics.pu21_psnr,
               metrics.pu21_ssim, metrics.hdrvdp2_q, metrics.hdrvdp2_q_display]


@pytest.mark.parametrize("metric", ALL_METRICS)
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_non_finite_pixels_are_refused(metric, bad):
    target = torch.rand(3, 16, 16) * 0.5 + 0.1
    pred = target.clone()
    pred[1, 3, 4] = bad
    with pytest.raises(ValueError, match="pred holds 1 NaN or Inf values"):
        metric(pred, target)
    with pytest.raises(ValueError, match="target holds 1 NaN or Inf values"):
        metric(target, pred)


@pytest.mark.parametrize("metric", ALL_METRICS)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32, torch.bool])
def test_integer_and_bool_images_are_refused(metric, dtype):
    image = (torch.rand(3, 16, 16) * 200).to(dtype)
    with pytest.raises(TypeError, match=f"pred must hold floating-point values.*got dtype {dtype}"):
        metric(image, torch.rand(3, 16, 16))


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_hwc_arrays_are_refused_with_the_fix(metric):
    hwc = np.random.default_rng(0).random((20, 24, 3), dtype=np.float32)  # what hdredu.io.read_hdr returns
    with pytest.raises(ValueError, match="looks like an \\(H, W, 3\\) array.*hdredu.io.to_tensor"):
        metric(hwc, hwc)


@pytest.mark.parametrize("metric", [metrics.psnr_mu, metrics.pu21_psnr, metrics.pu21_ssim, metrics.hdrvdp2_q])
def test_hdr_metrics_refuse_negative_or_black_targets(metric):
    pred = torch.rand(3, 16, 16)
    with pytest.raises(ValueError, match="target must be non-negative linear radiance"):
        metric(pred, pred - 0.5)
    if metric is not metrics.psnr_mu:  # the other three scale the target's peak to cd/m²
        with pytest.raises(ValueError, match="a target image is all zero"):
            metric(pred, torch.zeros(3, 16, 16))


@pytest.mark.parametrize("metric", [metrics.pu21_psnr, metrics.pu21_ssim, metrics.hdrvdp2_q])
@pytest.mark.parametrize("peak", [0, -100, math.inf, math.nan])
def test_peak_nits_must_be_positive_and_finite(metric, peak):
    image = torch.rand(3, 16, 16)
    with pytest.raises(ValueError, match="peak_nits must be a positive number of cd/m²"):
        metric(image, image, peak_nits=peak)


def test_psnr_display_needs_a_display_target_and_clips_the_prediction():
    target = torch.rand(3, 8, 8)
    assert metrics.psnr_display(target + 5 * (target > 0.999), target) == math.inf  # clipped back to 1... or equal
    assert metrics.psnr_display(target.clamp(0.2, 1) - 1, target.clamp(0.2, 1)) == metrics.psnr(
        torch.zeros(3, 8, 8), target.clamp(0.2, 1))
    with pytest.raises(ValueError, match="target must be a display image in \\[0, 1\\]"):
        metrics.psnr_display(target, target * 3)


def test_pu21_ssim_never_exceeds_one():
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):
        target = torch.rand(1, 3, 32, 32, generator=generator) ** 8 * 1000 + 1e-3  # bright, high dynamic range
        assert metrics.pu21_ssim(target, target) <= 1.0
        noisy = target * (1 + 0.01 * torch.randn(target.shape, generator=generator)).clamp_min(0)
        assert metrics.pu21_ssim(noisy, target) <= 1.0


def test_metric_functions_are_keyed_like_the_labels():
    assert set(metrics.metric_functions()) <= set(metrics.LABELS)


# ---------------------------------------------------------------------------------------------------------
# SSIM.
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1])
def test_ssim_against_skimage(sigma):
    # metrics.md §4 settings. Measured differences at 64×96: 6e-4, 1.6e-3, 8e-4 (hdredu higher). They come from
    # the border: torchmetrics averages the SSIM map over the whole image with reflect padding, skimage drops
    # a 5-pixel border. The interior is identical (next test).
    target = _smooth_image()
    pred = _noisy(target, sigma)
    expected = structural_similarity(pred, target, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=1.0, channel_axis=-1)
    assert metrics.ssim(_chw(pred), _chw(target)) == pytest.approx(expected, abs=2.5e-3)


def test_ssim_equals_skimage_map_with_the_same_border_rule():
    # Pad with 'reflect' (= torch reflect), take skimage's full SSIM map, crop the padding, average:
    # the same quantity torchmetrics computes, so the two agree to float32 precision.
    target = _smooth_image()
    pred = _noisy(target, 0.05)
    pad = ((5, 5), (5, 5), (0, 0))
    _, ssim_map = structural_similarity(np.pad(pred, pad, mode="reflect"), np.pad(target, pad, mode="reflect"),
                                        gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                        data_range=1.0, channel_axis=-1, full=True)
    expected = float(ssim_map[5:-5, 5:-5].mean())
    assert metrics.ssim(_chw(pred), _chw(target)) == pytest.approx(expected, abs=2e-5)


def test_ssim_identical_is_one_and_falls_with_noise():
    target = _chw(_smooth_image())
    assert metrics.ssim(target, target) == pytest.approx(1.0, abs=1e-6)
    scores = [metrics.ssim(_chw(_noisy(_smooth_image(), s)), target) for s in (0.01, 0.05, 0.2)]
    assert scores[0] > scores[1] > scores[2]


# ---------------------------------------------------------------------------------------------------------
# PU21.
# ---------------------------------------------------------------------------------------------------------


def test_pu21_encode_reference_values():
    luminance = torch.tensor([0.005, 1.0, 100.0, 10000.0], dtype=torch.float64)
    encoded = metrics.pu21_encode(luminance)
    torch.testing.assert_close(encoded, torch.tensor([0.0, 36.544, 256.384, 595.394], dtype=torch.float64),
                               rtol=0, atol=1e-3)
    assert abs(float(encoded[0])) < 1e-8


def test_pu21_encode_clamps_to_its_range():
    torch.testing.assert_close(metrics.pu21_encode(torch.tensor([0.0, 1e-4, 1e5])),
                               metrics.pu21_encode(torch.tensor([0.005, 0.005, 1e4])))


def test_pu21_decode_round_trip():
    luminance = 10.0 ** torch.linspace(math.log10(0.005), 4.0, 500, dtype=torch.float64)
    back = metrics.pu21_decode(metrics.pu21_encode(luminance))
    assert float(((back - luminance).abs() / luminance).max()) < 1e-9


def test_to_nits_scales_by_the_reference_maximum():
    hdr = torch.tensor([[[0.5, 2.0]]])
    torch.testing.assert_close(metrics.to_nits(hdr, peak_nits=4000.0), torch.tensor([[[1000.0, 4000.0]]]))
    torch.testing.assert_close(metrics.to_nits(hdr, 100.0, reference=4 * hdr), torch.tensor([[[6.25, 25.0]]]))


def test_pu21_scores_identical_and_falling_with_noise():
    target = torch.from_numpy(_smooth_image() ** 4).permute(2, 0, 1).float() * 50.0  # relative radiance
    assert metrics.pu21_psnr(target, target) == math.inf
    assert metrics.pu21_ssim(target, target) == pytest.approx(1.0, abs=1e-5)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(target.shape, generator=generator)
    noisy = [(target * (1 + s * noise)).clamp_min(0) for s in (0.01, 0.05, 0.2)]
    psnrs = [metrics.pu21_psnr(p, target) for p in noisy]
    ssims = [metrics.pu21_ssim(p, target) for p in noisy]
    assert all(math.isfinite(p) for p in psnrs)
    assert psnrs[0] > psnrs[1] > psnrs[2]
    assert ssims[0] > ssims[1] > ssims[2]


def test_pu21_psnr_uses_the_target_scale_for_both():
    # A global exposure error is visible to PU21-PSNR: the prediction is scaled by the target's maximum.
    target = torch.from_numpy(_smooth_image()).permute(2, 0, 1).float()
    assert metrics.pu21_psnr(0.5 * target, target) < 30.0


# ---------------------------------------------------------------------------------------------------------
# ColorVideoVDP (optional) and the torchvision stand-in.
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(importlib.util.find_spec("pycvvdp") is not None, reason="cvvdp is installed here")
def test_jod_without_cvvdp_explains_how_to_install():
    assert metrics.cvvdp_available() is False
    with pytest.raises(ImportError, match=re.escape("pip install --no-deps cvvdp==0.5.7")):
        metrics.jod(torch.rand(3, 16, 16), torch.rand(3, 16, 16))


def _scipy_blur(image: np.ndarray, kernel_size: tuple[int, int], sigma: float) -> np.ndarray:
    """Separable normalised Gaussian with mirror borders (torch 'reflect'): width first, then height."""
    out = image.astype(np.float64)
    for axis, size in ((-1, kernel_size[0]), (-2, kernel_size[1])):
        x = np.arange(size) - (size - 1) / 2
        weights = np.exp(-0.5 * (x / sigma) ** 2)
        out = ndimage.correlate1d(out, weights / weights.sum(), axis=axis, mode="mirror")
    return out


@pytest.mark.parametrize("kernel_size, sigma", [(5, 1.0), (11, 2.5), ((3, 9), 1.7)])
def test_standin_gaussian_blur_matches_scipy(kernel_size, sigma):
    image = torch.rand(2, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    blurred = _torchvision_standin.GaussianBlur(kernel_size, sigma)(image)
    sizes = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    expected = _scipy_blur(image.numpy(), sizes, sigma)
    assert blurred.shape == image.shape and blurred.dtype == torch.float32
    np.testing.assert_allclose(blurred.numpy(), expected, rtol=0, atol=1e-6)  # measured ≤ 1.7e-7


def test_standin_gaussian_blur_keeps_constants_and_any_leading_shape():
    constant = torch.full((4, 1, 1, 9, 7), 0.3)  # (..., H, W) with extra leading dims
    torch.testing.assert_close(_torchvision_standin.GaussianBlur(5, 1.0)(constant), constant)


def test_standin_install_registers_the_modules(monkeypatch):
    for name in ("torchvision", "torchvision.transforms"):
        monkeypatch.setitem(sys.modules, name, None)  # undone after the test, whatever install() leaves
    _torchvision_standin.install()
    import torchvision.transforms

    assert torchvision.transforms.GaussianBlur is _torchvision_standin.GaussianBlur


def test_hdrvdp2_q_is_100_for_identical_and_falls_with_noise():
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(1, 3, 48, 64, generator=generator) * 0.5 + 0.05
    noisy = lambda s: (target + s * torch.randn(target.shape, generator=generator)).clamp_min(0)  # noqa: E731
    assert metrics.hdrvdp2_q(target, target) == pytest.approx(100.0)
    q_small, q_large = metrics.hdrvdp2_q(noisy(0.01), target), metrics.hdrvdp2_q(noisy(0.1), target)
    assert 100.0 > q_small > q_large
    assert metrics.LABELS["hdrvdp2_q"] == "HDR-VDP-2.2 Q"


def test_hdrvdp2_q_display_is_100_for_identical_pictures_and_falls_with_noise():
    generator = torch.Generator().manual_seed(2)
    picture = torch.rand(3, 48, 48, generator=generator)
    noisy = (picture + 0.05 * torch.randn(picture.shape, generator=generator)).clamp(0, 1)
    assert metrics.hdrvdp2_q_display(picture, picture) == pytest.approx(100.0)
    assert metrics.hdrvdp2_q_display(noisy, picture) < 90
    with pytest.raises(ValueError, match="target must be an RGB display image in \\[0, 1\\]"):
        metrics.hdrvdp2_q_display(picture, picture * 2)
