"""Tests for hdredu.data.operator_pairs: the input encoding, the Mantiuk operator, the dataset of pairs."""

from __future__ import annotations

import math

import pytest
import torch

from hdredu.data.operator_pairs import OperatorPairs, detail_enhance, encode_input, full_pairs, local_tonemap, mantiuk_tonemap
from hdredu.data.samples import TEST_SCENES, load_sample


def synthetic_scene(height=80, width=96, seed=0) -> torch.Tensor:
    """A smooth random HDR scene spanning ~10 stops, (3, H, W)."""
    generator = torch.Generator().manual_seed(seed)
    log_radiance = torch.nn.functional.interpolate(
        torch.randn(1, 3, 6, 7, generator=generator) * 2.5, size=(height, width), mode="bicubic", align_corners=False
    )[0]
    return torch.exp2(log_radiance).float()


# ------------------------------------------------------------------ encode_input


def test_encode_input_known_answer():
    hdr = torch.tensor([8.0, 2.0, 0.0, 4.0]).view(1, 2, 2).expand(3, 2, 2)
    encoded = encode_input(hdr, gamma=2.0)
    expected = torch.tensor([1.0, 0.5, 0.0, math.sqrt(0.5)]).view(1, 2, 2).expand(3, 2, 2)
    assert torch.allclose(encoded, expected)


def test_encode_input_normalises_each_image_of_a_batch():
    batch = torch.stack([synthetic_scene(seed=1), 100 * synthetic_scene(seed=2)])
    encoded = encode_input(batch)
    assert torch.allclose(encoded.amax(dim=(1, 2, 3)), torch.ones(2))
    assert torch.allclose(encoded[1], encode_input(batch[1]))
    assert encoded.min() >= 0


def test_encode_input_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"hdr must be \(3, H, W\) or \(B, 3, H, W\) linear RGB; got \(4, 5, 5\)"):
        encode_input(torch.rand(4, 5, 5))


# ------------------------------------------------------------------ the operator


def test_mantiuk_output_range_shape_and_determinism():
    scene = synthetic_scene()
    mapped = mantiuk_tonemap(scene)
    assert mapped.shape == scene.shape and mapped.dtype == torch.float32
    assert torch.isfinite(mapped).all() and mapped.min() >= 0 and mapped.max() <= 1
    assert mapped.max() > 0.9 and mapped.min() < 0.1  # OpenCV stretches the result to the full range
    assert torch.equal(mapped, mantiuk_tonemap(scene))


def test_detail_enhancement_is_local_and_boosts_texture():
    """Fine texture gains contrast, and equal input values map to different outputs: no global curve does that."""
    columns = torch.arange(96, dtype=torch.float32)
    ramp = torch.linspace(0.2, 0.8, 64).view(64, 1)  # slow brightness change down the image
    texture = 0.03 * torch.sin(2 * math.pi * columns / 6).view(1, 96)  # fine texture across it
    ldr = (ramp + texture).expand(3, 64, 96).contiguous()
    enhanced = detail_enhance(ldr)
    assert enhanced.shape == ldr.shape and 0 <= enhanced.min() and enhanced.max() <= 1
    middle = (slice(None), slice(16, 48), slice(16, 80))
    assert enhanced[middle].std(dim=-1).mean() > 1.3 * ldr[middle].std(dim=-1).mean()  # texture amplified
    quantised = (ldr[0] * 255).round()
    spreads = [enhanced[0][quantised == value].max() - enhanced[0][quantised == value].min() for value in quantised.unique()]
    assert max(spreads) > 10 / 255


def test_local_tonemap_is_detail_enhanced_mantiuk():
    scene = synthetic_scene(seed=11)
    assert torch.equal(local_tonemap(scene), detail_enhance(mantiuk_tonemap(scene)))


def test_mantiuk_rejects_a_batch():
    with pytest.raises(ValueError, match=r"hdr must have shape \(3 H W\)"):
        mantiuk_tonemap(torch.rand(1, 3, 8, 8))


# ------------------------------------------------------------------ the dataset


def test_items_are_shaped_and_ranged():
    data = OperatorPairs([synthetic_scene(), synthetic_scene(96, 120, seed=3)], crop_size=32, length=10)
    assert len(data) == 10
    for index in range(10):
        inputs, target = data[index]
        assert inputs.shape == target.shape == (3, 32, 32)
        assert 0 <= inputs.min() and inputs.max() <= 1 and torch.isclose(inputs.max(), torch.tensor(1.0))
        assert 0 <= target.min() and target.max() <= 1


def test_item_is_the_operator_applied_to_its_window():
    data = OperatorPairs([synthetic_scene()], crop_size=32, length=4, seed=5)
    for index in range(4):
        window = data.window(index)
        inputs, target = data[index]
        assert torch.equal(inputs, encode_input(window))
        assert torch.equal(target, local_tonemap(window))


def test_items_depend_only_on_seed_and_index():
    scenes = [synthetic_scene(seed=6)]
    first = OperatorPairs(scenes, crop_size=24, length=8, seed=7)
    second = OperatorPairs(scenes, crop_size=24, length=8, seed=7)
    other = OperatorPairs(scenes, crop_size=24, length=8, seed=8)
    for index in (5, 0, 3):  # any order
        assert torch.equal(first[index][0], second[index][0]) and torch.equal(first[index][1], second[index][1])
    assert not all(torch.equal(first.window(i), other.window(i)) for i in range(8))
    assert not torch.equal(first.window(0), first.window(1))


def test_windows_vary_in_size_then_are_downscaled():
    """A window as large as the scene, area-downscaled, keeps the scene's mean radiance."""
    scene = synthetic_scene(64, 64, seed=9)
    data = OperatorPairs([scene], crop_size=16, length=64, seed=10, augment=False)
    means = torch.stack([data.window(i).mean() for i in range(64)])
    assert means.std() > 0  # different places and sizes
    full_window = torch.nn.functional.interpolate(scene[None], size=(16, 16), mode="area")[0]
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
    assert torch.equal(pairs[0][0], encode_input(scene))
