"""Tests for hdredu.data.operator_pairs: the edge-aware operator, the pairs, the dataset of small pictures."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hdredu.data.operator_pairs import OperatorPairs, detail_enhance, full_pairs, make_pair
from hdredu.data.samples import TEST_SCENES, load_sample
from hdredu.imaging.tonemap import reinhard


def synthetic_scene(height=80, width=96, seed=0) -> torch.Tensor:
    """A smooth random HDR scene spanning ~10 stops, (3, H, W)."""
    generator = torch.Generator().manual_seed(seed)
    log_radiance = F.interpolate(
        torch.randn(1, 3, 6, 7, generator=generator) * 2.5, size=(height, width), mode="bicubic", align_corners=False
    )[0]
    return torch.exp2(log_radiance).float()


def textured_ramp(height=64, width=96, period=6, amplitude=0.03) -> torch.Tensor:
    """A slow vertical brightness ramp with a fine horizontal sine texture, (3, H, W) in [0, 1]."""
    columns = torch.arange(width, dtype=torch.float32)
    ramp = torch.linspace(0.2, 0.8, height).view(height, 1)
    texture = amplitude * torch.sin(2 * math.pi * columns / period).view(1, width)
    return (ramp + texture).expand(3, height, width).contiguous()


# ------------------------------------------------------------------ the operator


def test_detail_enhance_boosts_texture_and_is_not_a_global_curve():
    ldr = textured_ramp()
    enhanced = detail_enhance(ldr, sigma_spatial=0.1)
    assert enhanced.shape == ldr.shape and enhanced.dtype == torch.float32
    assert 0 <= enhanced.min() and enhanced.max() <= 1
    assert torch.allclose(enhanced * 255, (enhanced * 255).round(), atol=1e-3)  # 8-bit values
    middle = (slice(None), slice(16, 48), slice(16, 80))
    assert enhanced[middle].std(dim=-1).mean() > 1.3 * ldr[middle].std(dim=-1).mean()  # texture amplified
    quantised = (ldr[0] * 255).round()
    spreads = [enhanced[0][quantised == v].max() - enhanced[0][quantised == v].min() for v in quantised.unique()]
    assert max(spreads) > 10 / 255  # equal inputs, different outputs


def test_detail_enhance_scale_is_relative_to_the_image_size():
    """Enhancing a downscaled picture ≈ downscaling the enhanced picture (the point of a relative σ)."""
    big = textured_ramp(128, 192, period=16, amplitude=0.05)
    small = F.interpolate(big[None], scale_factor=0.5, mode="area")[0]
    enhanced_then_down = F.interpolate(detail_enhance(big)[None], scale_factor=0.5, mode="area")[0]
    down_then_enhanced = detail_enhance(small)
    difference_from_input = (enhanced_then_down - small).abs().mean()
    # relative σ: ≈ 0.04 of the change the operator makes; a σ fixed in pixels gives ≈ 0.34 of it
    assert (down_then_enhanced - enhanced_then_down).abs().mean() < 0.1 * difference_from_input


def test_detail_enhance_errors():
    with pytest.raises(ValueError, match=r"ldr must have shape \(3 H W\)"):
        detail_enhance(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"sigma_spatial must be in \(0, 1\] \(a fraction of the longer side\); got 10"):
        detail_enhance(torch.rand(3, 8, 8), sigma_spatial=10)
    with pytest.raises(ValueError, match=r"sigma_range must be in \(0, 1\]; got 0"):
        detail_enhance(torch.rand(3, 8, 8), sigma_range=0)


def test_make_pair_is_reinhard_then_the_operator():
    scene = synthetic_scene(seed=1)
    inputs, target = make_pair(scene)
    assert torch.equal(inputs, reinhard(scene))
    assert torch.equal(target, detail_enhance(reinhard(scene)))
    with pytest.raises(ValueError, match=r"hdr must have shape \(3 H W\)"):
        make_pair(scene[None])


# ------------------------------------------------------------------ the dataset


def test_items_are_shaped_and_ranged():
    data = OperatorPairs([synthetic_scene(), synthetic_scene(96, 120, seed=3)], crop_size=32, length=10)
    assert len(data) == 10
    for index in range(10):
        inputs, target = data[index]
        assert inputs.shape == target.shape == (3, 32, 32)
        assert 0 <= inputs.min() and inputs.max() <= 1
        assert 0 <= target.min() and target.max() <= 1


def test_item_is_the_pair_of_its_window():
    data = OperatorPairs([synthetic_scene()], crop_size=32, length=4, seed=5)
    for index in range(4):
        inputs, target = data[index]
        expected_inputs, expected_target = make_pair(data.window(index))
        assert torch.equal(inputs, expected_inputs) and torch.equal(target, expected_target)


def test_items_depend_only_on_seed_and_index():
    scenes = [synthetic_scene(seed=6)]
    first = OperatorPairs(scenes, crop_size=24, length=8, seed=7)
    second = OperatorPairs(scenes, crop_size=24, length=8, seed=7, cache=False)
    other = OperatorPairs(scenes, crop_size=24, length=8, seed=8)
    for index in (5, 0, 3):  # any order
        assert torch.equal(first[index][0], second[index][0]) and torch.equal(first[index][1], second[index][1])
    assert not all(torch.equal(first.window(i), other.window(i)) for i in range(8))
    assert not torch.equal(first.window(0), first.window(1))
    assert first[5] is first[5] and second[5] is not second[5]  # cached vs recomputed (equal values above)


def test_windows_vary_in_size_then_are_downscaled():
    """Windows differ in place and size; one as large as the scene, area-downscaled, keeps its mean radiance."""
    scene = synthetic_scene(64, 64, seed=9)
    data = OperatorPairs([scene], crop_size=16, length=64, seed=10, augment=False)
    means = torch.stack([data.window(i).mean() for i in range(64)])
    assert means.std() > 0
    full_window = F.interpolate(scene[None], size=(16, 16), mode="area")[0]
    matches = [i for i in range(64) if torch.allclose(data.window(i), full_window) or torch.allclose(data.window(i), full_window.flip(-1))]
    assert torch.isclose(full_window.mean(), scene.mean(), rtol=1e-5)
    assert len(matches) >= 1  # side drawn in [16, 64]: the whole scene comes up about once in 49 draws


def test_augmentation_changes_white_balance_and_contrast_only():
    scene = synthetic_scene(seed=12)
    plain = OperatorPairs([scene], crop_size=32, length=6, seed=13, augment=False)
    augmented = OperatorPairs([scene], crop_size=32, length=6, seed=13, augment=True)
    for index in range(6):
        window, changed = plain.window(index), augmented.window(index)
        assert not torch.allclose(window, changed)
        # H' = g_c · H^k: log H' is an affine function of log H per channel, with one shared slope k
        slopes = []
        for channel in range(3):
            x, y = window[channel].log().flatten(), changed[channel].log().flatten()
            slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()
            assert torch.allclose(y, slope * x + (y.mean() - slope * x.mean()), atol=1e-3)
            slopes.append(slope)
        assert 0.8 - 1e-3 <= slopes[0] <= 1.25 + 1e-3 and torch.allclose(torch.stack(slopes), slopes[0], atol=1e-3)


def test_dataset_errors():
    with pytest.raises(ValueError, match="scenes must hold at least one"):
        OperatorPairs([], crop_size=16)
    with pytest.raises(ValueError, match=r"crop_size must be in \[16, 80\] \(the smallest scene side\); got 81"):
        OperatorPairs([synthetic_scene()], crop_size=81)
    with pytest.raises(ValueError, match=r"scenes\[1\] must have shape \(3 H W\)"):
        OperatorPairs([synthetic_scene(), torch.rand(1, 3, 80, 80)], crop_size=16)
    with pytest.raises(ValueError, match="length must be a positive integer; got 0"):
        OperatorPairs([synthetic_scene()], crop_size=16, length=0)
    with pytest.raises(IndexError, match=r"index must be in \[0, 3\); got 3"):
        OperatorPairs([synthetic_scene()], crop_size=16, length=3)[3]


def test_default_scenes_and_full_resolution_pairs():
    data = OperatorPairs(crop_size=32, length=2)
    assert data[0][0].shape == (3, 32, 32)
    pairs = full_pairs(TEST_SCENES[:1])
    scene = load_sample(TEST_SCENES[0])
    assert pairs[0][0].shape == pairs[0][1].shape == scene.shape
    assert torch.equal(pairs[0][0], reinhard(scene))
