"""Tests for hdredu.data.lowlight (synthetic SID-style pairs) and the classical amplify + process baseline."""

from __future__ import annotations

import pytest
import torch

from hdredu.data.lowlight import LowLightPairs, amplify_and_process, full_pairs, make_pair
from hdredu.data.samples import load_sample
from hdredu.imaging import raw as R
from hdredu.imaging.tonemap import reinhard


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


@pytest.fixture(scope="module")
def pairs() -> LowLightPairs:
    return LowLightPairs(length=16)


def test_item_shapes_ranges_and_ratios(pairs):
    inputs, target = pairs[0]
    assert inputs.shape == (4, 32, 32) and target.shape == (3, 64, 64)
    assert inputs.dtype == torch.float32 and target.dtype == torch.float32
    assert 0 <= inputs.min() and inputs.max() <= 1 and 0 <= target.min() and target.max() <= 1
    drawn = {pairs.ratio(i) for i in range(len(pairs))}
    assert drawn == {100.0, 250.0, 300.0}
    assert len(pairs) == 16


def test_items_are_a_function_of_seed_and_index(pairs):
    first = pairs[5]
    fresh = LowLightPairs(length=16)
    _ = fresh[3]  # another item drawn first must not matter
    again = fresh[5]
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    other = LowLightPairs(length=16, seed=1)[5]
    assert not torch.equal(first[0], other[0])


def test_target_is_a_window_of_the_tone_mapped_scene():
    scene = load_sample("studio")
    pairs = LowLightPairs(scenes=["studio"], length=4, crop_size=32)
    display = reinhard(scene)
    _, _, top, left, flip, _ = pairs._draw(2)
    window = display[:, top : top + 32, left : left + 32]
    _, target = pairs[2]
    torch.testing.assert_close(target, window.flip(-1) if flip else window)
    # a tensor scene works the same as its name
    tensor_pairs = LowLightPairs(scenes=[scene], length=4, crop_size=32)
    assert torch.equal(tensor_pairs[2][1], target)


def test_noiseless_pairs_invert_with_the_pipeline():
    # ratio 1, no noise: amplify + process recovers the target up to demosaicing and 14-bit rounding
    # (mean PSNR ≥ 29 dB over 12 crops; measured 31.8; the finely textured forest crops are the worst, 18-19 dB)
    clean = LowLightPairs(length=12, ratios=(1,), shot_noise=0.0, read_noise=0.0)
    scores = [psnr(amplify_and_process(x), y) for x, y in (clean[i] for i in range(12))]
    assert sum(scores) / len(scores) >= 29


def test_noise_grows_with_the_ratio():
    # the same windows (the draws do not depend on the ratio values) at ratio 100 and 300: amplified noise
    # variance ≈ ratio · a · s + ratio² · b, so ratio 300 is noisier
    def residual_power(ratio):
        pairs = LowLightPairs(length=6, ratios=(ratio,))
        total = 0.0
        for i in range(6):
            inputs, target = pairs[i]
            clean = R.pack_bayer(R.unprocess_linear(target, pairs.camera))
            total += float(((inputs - clean) ** 2).mean())
        return total / 6

    low, high = residual_power(100), residual_power(300)
    assert high > 2 * low


def test_baselines_shapes_and_denoising_helps(pairs):
    inputs, target = pairs[0]
    plain = amplify_and_process(inputs)
    denoised = amplify_and_process(inputs, denoise=True)
    assert plain.shape == denoised.shape == (3, 64, 64)
    assert 0 <= plain.min() and plain.max() <= 1
    assert torch.equal(denoised, (denoised * 255).round() / 255)  # 8-bit OpenCV output
    # averaged over 16 crops of ratios 100-300, non-local means raises PSNR by more than 1 dB
    items = [pairs[i] for i in range(len(pairs))]
    plain_score = sum(psnr(amplify_and_process(x), y) for x, y in items) / len(items)
    denoised_score = sum(psnr(amplify_and_process(x, denoise=True), y) for x, y in items) / len(items)
    assert denoised_score > plain_score + 1.0
    with pytest.raises(ValueError, match="strength must be positive"):
        amplify_and_process(inputs, denoise=True, strength=0)
    with pytest.raises(ValueError, match=r"packed must have shape \(4 h w\)"):
        amplify_and_process(torch.zeros(3, 8, 8))


def test_full_pairs_and_make_pair():
    (inputs, target), = full_pairs(["courtyard"], ratio=100)
    assert inputs.shape == (4, 128, 192) and target.shape == (3, 256, 384)
    srgb = torch.full((3, 8, 8), 0.5)
    first = make_pair(srgb, 250, generator=torch.Generator().manual_seed(0))[0]
    again = make_pair(srgb, 250, generator=torch.Generator().manual_seed(0))[0]
    assert torch.equal(first, again)


def test_bad_arguments(pairs):
    with pytest.raises(ValueError, match="crop_size must be an even int in"):
        LowLightPairs(crop_size=63)
    with pytest.raises(ValueError, match="crop_size must be an even int in"):
        LowLightPairs(crop_size=1024)
    with pytest.raises(ValueError, match="ratios must be a non-empty sequence"):
        LowLightPairs(ratios=(0.5,))
    with pytest.raises(ValueError, match="length must be a positive integer"):
        LowLightPairs(length=0)
    with pytest.raises(ValueError, match="scenes must hold at least one"):
        LowLightPairs(scenes=[])
    with pytest.raises(ValueError, match=r"scenes\[0\] must have shape \(3 H W\)"):
        LowLightPairs(scenes=[torch.zeros(4, 64, 64)])
    with pytest.raises(IndexError, match=r"index must be in \[0, 16\)"):
        pairs[16]
