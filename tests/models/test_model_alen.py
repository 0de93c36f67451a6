"""Tests for hdredu.models.alen: the reconstruction's structure, intermediates, ablations, memory, one training step."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from hdredu.losses import ssim_l2
from hdredu.models.alen import ABLATIONS, ALEN, ALENConfig, ALENOutput
from hdredu.models.sid_unet import SIDUNet, SIDUNetConfig
from hdredu.ops.nonlocal_ import nonlocal_memory_bytes, query_attention
from hdredu.ops.shuffle import InvertedShuffle


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_counts_against_the_sid_table():
    # ALEN = SID (7,760,748) + ISLs + channel / spatial attention + non-local blocks + decoder CABs
    paper = ALENConfig.paper()
    sid = 7_760_748
    isl = sum(4 * c * c + c for c in (32, 64, 128, 256))
    def se(c, r=16):
        return (c * (c // r) + c // r) + (c // r * c + c)
    channel = sum(se(c) for c in (32, 64, 128, 256, 512)) + sum(se(c) for c in (256, 128, 64, 32))
    spatial = 5 * (2 * 49 + 1)
    nonlocal_ = sum(3 * (c * c // 2 + c // 2) + (c // 2 * c + c) for c in (256, 512))
    assert n_params(ALEN(paper)) == sid + isl + channel + spatial + nonlocal_ == 8_823_255
    assert n_params(ALEN(paper.ablation("maxpool"))) == sid + channel + spatial + nonlocal_
    assert n_params(ALEN(paper.ablation("no_nonlocal"))) == sid + isl + channel + spatial
    assert n_params(ALEN(paper.ablation("no_channel_attention"))) == sid + isl + spatial + nonlocal_
    assert n_params(ALEN(ALENConfig.tiny())) == 563_895


def test_trunk_is_the_sid_unet():
    # with every attention and the ISL removed ALEN's U-Net layers are SID's, name for name
    alen = ALEN(ALENConfig.paper())
    sid = SIDUNet(SIDUNetConfig.paper())
    for part in ("encoder", "upsample", "decoder", "to_output"):
        shapes = [p.shape for p in getattr(alen, part).parameters()]
        assert shapes == [p.shape for p in getattr(sid, part).parameters()]


def test_forward_shapes_and_intermediates():
    model = ALEN(ALENConfig.tiny())
    inputs = torch.rand(2, 4, 32, 48)
    out = model(inputs)
    assert out.shape == (2, 3, 64, 96)
    inter = model(inputs, return_intermediates=True)
    assert isinstance(inter, ALENOutput) and dataclasses.fields(ALENOutput)[0].name == "output"
    torch.testing.assert_close(inter.output, out, rtol=0, atol=0)
    # non-local at levels 4 (4 × 6 map, keys 2 × 3) and 5 (2 × 3 map, keys 1 × 2)
    assert [tuple(a.shape) for a in inter.nonlocal_attention] == [(2, 24, 6), (2, 6, 2)]
    for attn in inter.nonlocal_attention:
        torch.testing.assert_close(attn.sum(-1), torch.ones(attn.shape[:2]))
    assert query_attention(inter.nonlocal_attention[0], 4, 6, 1, 2, subsample=True).shape == (2, 2, 3)
    # channel weights: encoder 8 … 128, then decoder 64 … 8
    assert [w.shape[1] for w in inter.channel_weights] == [8, 16, 32, 64, 128, 64, 32, 16, 8]
    assert all(w.min() >= 0 and w.max() <= 1 for w in inter.channel_weights)
    assert [tuple(m.shape) for m in inter.spatial_maps] == [(2, 1, 32 // 2**k, 48 // 2**k) for k in range(5)]
    assert model.task == "lowlight" and model.config_class is ALENConfig


def test_ablations_change_what_they_say():
    tiny = ALENConfig.tiny()
    inputs = torch.rand(1, 4, 32, 32)
    maxpool = ALEN(tiny.ablation("maxpool"))
    assert not any(isinstance(m, InvertedShuffle) for m in maxpool.modules())
    assert all(isinstance(m, torch.nn.MaxPool2d) for m in maxpool.downsample)
    no_nl = ALEN(tiny.ablation("no_nonlocal"))(inputs, return_intermediates=True)
    assert no_nl.nonlocal_attention == [] and len(no_nl.channel_weights) == 9
    no_ca = ALEN(tiny.ablation("no_channel_attention"))(inputs, return_intermediates=True)
    assert no_ca.channel_weights == [] and len(no_ca.nonlocal_attention) == 2
    assert set(ABLATIONS) == {"ALEN", "maxpool", "no_nonlocal", "no_channel_attention"}


def test_fresh_nonlocal_blocks_change_nothing():
    # the non-local output projections start at zero: with the same other weights, ALEN == its no_nonlocal ablation
    full = ALEN(ALENConfig.tiny())
    ablated = ALEN(ALENConfig.tiny().ablation("no_nonlocal"))
    ablated.load_state_dict({k: v for k, v in full.state_dict().items() if "nonlocal_block" not in k})
    inputs = torch.rand(1, 4, 32, 32)
    torch.testing.assert_close(full(inputs), ablated(inputs), rtol=0, atol=0)


def test_output_depends_on_the_whole_image():
    # receptive_radius is None: once the non-local projections are trained (here: random), a pixel far
    # outside SID's 107-pixel reach still changes the output
    model = ALEN(dataclasses.replace(ALENConfig.tiny(), channel_attention=False)).double().eval()
    assert model.receptive_radius is None
    with torch.no_grad():
        for block in model.modules():
            if block.__class__.__name__ == "NonLocalBlock":
                block.out.weight.normal_()
        inputs = torch.rand(1, 4, 16, 256, dtype=torch.float64)
        moved = inputs.clone()
        moved[0, :, 8, 250] += 10.0
        diff = (model(moved) - model(inputs)).abs()
    assert diff[..., :2 * (250 - 120)].amax() > 0  # output columns more than 120 packed pixels away


def test_nonlocal_memory_of_the_model():
    # what the module docstring states: 512² packed and a full Sony frame (1424 × 2128 packed), float32
    def level(h, w, k, c):
        return nonlocal_memory_bytes(-(-h // 2**k), -(-w // 2**k), c, subsample=True)

    assert round(level(512, 512, 3, 256) / 1e6) == 37 and round(level(512, 512, 4, 512) / 1e5) == 79
    assert round(level(1424, 2128, 3, 256) / 1e7) == 452 and round(level(1424, 2128, 4, 512) / 1e7) == 30
    assert round(nonlocal_memory_bytes(178, 266, 256, subsample=False) / 1e8) == 180


def test_one_training_step_lowers_the_loss():
    model = ALEN(ALENConfig.tiny())
    inputs = torch.rand(2, 4, 32, 32)
    target = F.pixel_shuffle(inputs[:, [0, 1, 2, 1] * 3], 2) * 0.8  # a fixed batch
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    before = ssim_l2(model(inputs), target)
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = ssim_l2(model(inputs), target)
    assert after < before


def test_error_messages():
    model = ALEN(ALENConfig.tiny())
    with pytest.raises(ValueError, match=r"inputs \(packed RAW, amplified\) must have shape \(B 4 H W\)"):
        model(torch.rand(1, 4, 32))
    with pytest.raises(ValueError, match=r"multiples of 16 .*got 24×32"):
        model(torch.rand(1, 4, 24, 32))
    with pytest.raises(ValueError, match="downsample must be 'isl' or 'maxpool'"):
        ALEN(dataclasses.replace(ALENConfig.tiny(), downsample="avg"))
    with pytest.raises(ValueError, match=r"nonlocal_levels must be levels between 1 and 5; got \(6,\)"):
        ALEN(dataclasses.replace(ALENConfig.tiny(), nonlocal_levels=(6,)))
    with pytest.raises(ValueError, match="spatial_kernel must be odd"):
        ALEN(dataclasses.replace(ALENConfig.tiny(), spatial_kernel=4))
    with pytest.raises(ValueError, match="ablation must be one of"):
        ALENConfig.tiny().ablation("no_spatial")


def test_parameter_breakdown_stated_in_the_docstring():
    model = ALEN(ALENConfig.paper())
    nl = sum(n_params(m.nonlocal_block) for m in model.attention if m.nonlocal_block is not None)
    ca = sum(n_params(m.channel_attention) for m in model.attention) + n_params(model.decoder_attention)
    sa = sum(n_params(m.spatial_attention) for m in model.attention)
    assert (n_params(model.downsample), nl, ca, sa) == (348_640, 657_280, 56_092, 495)
