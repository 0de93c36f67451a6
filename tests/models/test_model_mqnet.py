"""Tests for hdredu.models.mqnet: the released layer table, backbone taps, attention variants, output bound, loss."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from hdredu.losses import mqnet_loss
from hdredu.models.mqnet import (
    ABLATIONS,
    MQNet,
    MQNetConfig,
    MQNetOutput,
    make_divisible,
)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def paper_model():
    torch.manual_seed(0)
    return MQNet(MQNetConfig.paper()).eval()


def test_parameter_counts_per_part(paper_model):
    # reference/mqnet.md §2.2: backbone ≈ 250k, decoder ≈ 623k, head 1,872 (PyTorch counts: BN = γ, β only)
    assert n_params(paper_model.head) == 1_872
    # head by hand: conv3×3 16→12 + bias, IN(12), conv1×1 12→6 + bias, IN(6), conv1×1 6→3 without bias
    assert (16 * 12 * 9 + 12) + 24 + (12 * 6 + 6) + 12 + 6 * 3 == 1_872
    assert n_params(paper_model.decoder) == 623_352
    assert n_params(paper_model.backbone) == 250_208
    assert n_params(paper_model) == 875_432


def test_decoder_count_from_the_layer_table():
    def irlb(c_in, c_out, t=6, attention=True):
        hidden = t * c_in
        count = c_in * hidden + 2 * hidden + 9 * hidden + 2 * hidden + hidden * c_out + 2 * c_out
        if attention:  # CA, r = 2, both 1×1 convolutions with bias
            count += (c_out * (c_out // 2) + c_out // 2) + (c_out // 2 * c_out + c_out)
        return count

    table = (irlb(112, 32) + irlb(32, 32, attention=False) + irlb(224, 24) + irlb(24, 24, attention=False)
             + irlb(120, 16) + irlb(64, 8) + (56 * 16 + 32) + (19 * 16 + 32))
    assert table == 623_352


def test_backbone_channel_table(paper_model):
    # reference/mqnet.md §2.1: output and expansion widths of blocks 0..16 for α = 0.35
    blocks = paper_model.backbone.blocks
    assert len(blocks) == 17 and paper_model.backbone.stem.out_channels == 16
    assert [b.project.out_channels for b in blocks] == [8, 8, 8, 16, 16, 16, 24, 24, 24, 24, 32, 32, 32, 56, 56, 56, 112]
    expansion = [None] + [b.expand.out_channels for b in blocks[1:]]
    assert expansion[1:] == [48, 48, 48, 96, 96, 96, 144, 144, 144, 144, 192, 192, 192, 336, 336, 336]
    assert blocks[0].expand is None  # block 0: t = 1, no expand convolution
    assert make_divisible(32 * 0.35) == 16 and make_divisible(24 * 0.35) == 8 and make_divisible(320 * 0.35) == 112


def test_tap_shapes_at_256(paper_model):
    # reference/mqnet.md §2 table, 256² input
    with torch.no_grad():
        out = paper_model(torch.rand(1, 3, 256, 256), return_intermediates=True)
    assert isinstance(out, MQNetOutput)
    assert [tuple(s.shape) for s in out.skips] == [(1, 48, 128, 128), (1, 48, 64, 64), (1, 96, 32, 32), (1, 192, 16, 16)]
    assert out.bottleneck.shape == (1, 112, 8, 8)
    assert [tuple(a.shape) for a in out.attention] == [(1, 32, 1, 1), (1, 24, 1, 1), (1, 16, 1, 1), (1, 8, 1, 1)]
    assert out.features.shape == (1, 16, 256, 256) and out.residual.shape == (1, 3, 256, 256)
    assert out.output.shape == (1, 3, 256, 256)


def test_torchvision_shape_oracle(paper_model):
    # where torchvision imports, its mobilenet_v2(width_mult=0.35) has the same layers (reference/mqnet.md §5)
    tv = pytest.importorskip("torchvision")
    ref = tv.models.mobilenet_v2(width_mult=0.35).features[:18]
    assert n_params(ref) == n_params(paper_model.backbone)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        skips, bottleneck = paper_model.backbone(x)
        assert ref(x).shape == bottleneck.shape
        assert ref[2].conv[0](ref[:2](x)).shape == skips[0].shape


def test_batch_norm_settings_match_keras(paper_model):
    # Keras momentum 0.999 ↔ PyTorch 0.001 (backbone, IRLBs); Keras default 0.99 ↔ 0.01 (d7, d8); eps 1e-3
    decoder = paper_model.decoder
    fuse = {decoder.d7.bn, decoder.d8.bn}
    norms = [m for m in paper_model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.eps == 1e-3 for m in norms)
    assert all(m.momentum == pytest.approx(0.001) for m in norms if m not in fuse)
    assert all(m.momentum == pytest.approx(0.01) for m in fuse)
    # one training-mode pass moves the running mean by 0.001 of the batch mean, from 0
    model = MQNet(MQNetConfig.paper()).train()
    x = torch.rand(2, 3, 32, 32)
    model(x)
    stem = model.backbone.stem_bn
    batch_mean = model.backbone.stem(2 * x - 1).mean(dim=(0, 2, 3))
    torch.testing.assert_close(stem.running_mean, 0.001 * batch_mean.detach())


def test_head_init_quirk_output_starts_near_sigmoid_of_input():
    torch.manual_seed(1)
    model = MQNet(MQNetConfig.paper()).eval()
    for norm in (model.head.norm1, model.head.norm2):
        assert norm.eps == 1e-3 and norm.affine
        assert norm.weight.abs().max() <= 0.05 and norm.bias.abs().max() <= 0.05
    ldr = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        out = model(ldr, return_intermediates=True)
    assert out.residual.abs().max() < 0.1
    assert (out.output - torch.sigmoid(ldr)).abs().max() < 0.03


def test_paper_output_bound_and_unbounded_option():
    low, high = 1 / (1 + math.e), 1 / (1 + math.e**-2)  # σ(−1), σ(2)
    torch.manual_seed(0)
    model = MQNet(MQNetConfig.tiny()).eval()
    with torch.no_grad():
        model.head.conv3.weight.mul_(1e4)  # saturate tanh: O = ±1
        ldr = torch.rand(2, 3, 32, 32)
        ldr[:, :, :4] = 0.0
        ldr[:, :, -4:] = 1.0
        out = model(ldr)
    assert out.min() >= low - 1e-6 and out.max() <= high + 1e-6
    assert out.min() < low + 0.01 or out.max() > high - 0.01  # the bound is reached, not only respected
    unbounded = MQNet(dataclasses.replace(MQNetConfig.tiny(), output="unbounded")).eval()
    with torch.no_grad():
        unbounded.head.conv3.weight.mul_(1e4)
        free = unbounded(ldr, return_intermediates=True)
    torch.testing.assert_close(free.output, ldr + free.residual)
    assert free.output.min() < 0 or free.output.max() > 1


def test_forward_shapes_intermediates_and_task():
    model = MQNet(MQNetConfig.tiny()).eval()
    ldr = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        out = model(ldr)
        parts = model(ldr, return_intermediates=True)
    assert out.shape == (2, 3, 64, 96)
    torch.testing.assert_close(parts.output, out, rtol=0, atol=0)
    assert MQNet.task == "itm" and MQNet.config_class is MQNetConfig
    assert model.receptive_radius is None
    assert all((a > 0).all() and (a < 1).all() for a in parts.attention)


def test_sides_not_multiple_of_32_are_padded_and_cropped():
    model = MQNet(MQNetConfig.tiny()).eval()
    ldr = torch.rand(1, 3, 50, 70)
    with torch.no_grad():
        out = model(ldr, return_intermediates=True)
        padded = F.pad(ldr, (0, 26, 0, 14), mode="replicate")  # → 64 × 96
        reference = model(padded)[..., :50, :70]
    assert out.output.shape == (1, 3, 50, 70) and out.residual.shape == (1, 3, 50, 70)
    torch.testing.assert_close(out.output, reference)
    strict = MQNet(dataclasses.replace(MQNetConfig.tiny(), pad_to_multiple=False))
    with pytest.raises(ValueError, match=r"ldr height and width must be multiples of 32.*got 50x70"):
        strict(ldr)


def test_global_pooling_makes_tiling_inexact():
    # CA pools the whole image: a pixel in one corner changes the output in the opposite corner
    torch.manual_seed(0)
    model = MQNet(MQNetConfig.tiny()).eval().double()
    ldr = torch.rand(1, 3, 128, 128, dtype=torch.float64)
    moved = ldr.clone()
    moved[..., 0, 0] = 1.0 - moved[..., 0, 0]
    with torch.no_grad():
        diff = (model(moved) - model(ldr)).abs()
    assert diff[..., -1, -1].max() > 0


@pytest.mark.parametrize("name", list(ABLATIONS))
def test_attention_variants(name):
    config = MQNetConfig.tiny().ablation(name)
    model = MQNet(config).eval()
    with torch.no_grad():
        out = model(torch.rand(1, 3, 64, 64), return_intermediates=True)
    shapes = [tuple(a.shape) for a in out.attention]
    channels = [16, 12, 8, 8]
    sides = [2, 4, 8, 16]
    expected = {
        "CA": [(1, c, 1, 1) for c in channels],
        "SE": [(1, c, 1, 1) for c in channels],
        "SA": [(1, 1, s, s) for s in sides],
        "CSA": [(1, c, s, s) for c, s in zip(channels, sides)],
        "none": [],
    }[name]
    assert shapes == expected
    assert all(((a > 0) & (a < 1)).all() for a in out.attention)


def test_attention_parameter_counts():
    paper = MQNetConfig.paper()
    base = n_params(MQNet(paper.ablation("none")))
    channels = (32, 24, 16, 8)
    ca = sum(c * (c // 2) + c // 2 + (c // 2) * c + c for c in channels)
    se = sum(2 * c * (c // 2) for c in channels)
    sa = sum(c + 1 for c in channels)
    csa = sum(c * c * c + c + c + 1 for c in channels)  # depthwise C×C kernel per channel + bias, then SA
    assert n_params(MQNet(paper)) == base + ca
    assert n_params(MQNet(paper.ablation("SE"))) == base + se
    assert n_params(MQNet(paper.ablation("SA"))) == base + sa
    assert n_params(MQNet(paper.ablation("CSA"))) == base + csa
    one_by_one = dataclasses.replace(paper.ablation("CSA"), csa_kernel=1)
    assert n_params(MQNet(one_by_one)) == base + sum(2 * c + c + 1 for c in channels)


def test_csa_matches_its_formula():
    torch.manual_seed(0)
    model = MQNet(MQNetConfig.tiny().ablation("CSA")).eval()
    block = model.decoder.d6.attention  # C = 8: an 8×8 depthwise kernel, TF 'same' pads 3 before, 4 after
    x = torch.randn(1, 8, 16, 16)
    channel = torch.sigmoid(F.conv2d(F.pad(x, (3, 4, 3, 4)), block.channel.weight, block.channel.bias, groups=8))
    spatial = torch.sigmoid(F.conv2d(x, block.score.weight, block.score.bias))
    out, weights = block(x)
    torch.testing.assert_close(out, x * channel * spatial)
    torch.testing.assert_close(weights, channel * spatial)


def test_one_training_step_lowers_the_loss():
    torch.manual_seed(0)
    model = MQNet(MQNetConfig.tiny())
    ldr = torch.rand(4, 3, 64, 64)
    target = (ldr**2.2 * 0.8 + 0.1).clamp(0, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = mqnet_loss(model(ldr), target)
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = mqnet_loss(model(ldr), target)
    assert after < before


def test_mqnet_loss_known_answers():
    target = torch.rand(2, 3, 8, 8)
    assert mqnet_loss(target, target).abs() < 1e-6
    # ŷ = 2y: the global cosine is 1 (L_cos = 0); L2 = mean y², L1 = mean y
    torch.testing.assert_close(mqnet_loss(2 * target, target), (target**2).mean() + target.mean())
    # the cosine is global over the batch: swapping which image is scaled changes nothing for L_cos alone
    pred = torch.rand(2, 3, 8, 8)
    cos = 1 - F.cosine_similarity(pred.flatten(), target.flatten(), dim=0)
    expected = F.mse_loss(pred, target) + F.l1_loss(pred, target) + 0.1 * cos
    torch.testing.assert_close(mqnet_loss(pred, target), expected)
    with pytest.raises(ValueError, match="pred and target must have the same shape"):
        mqnet_loss(pred, target[:1])


def test_error_messages():
    model = MQNet(MQNetConfig.tiny())
    with pytest.raises(ValueError, match=r"ldr must hold LDR values in \[0, 1\]; got min -0\.5"):
        model(torch.full((1, 3, 32, 32), -0.5))
    with pytest.raises(ValueError, match=r"ldr must hold LDR values in \[0, 1\].*max 255"):
        model(torch.full((1, 3, 32, 32), 255.0))
    with pytest.raises(ValueError, match=r"ldr \(gamma-encoded LDR image\) must have shape \(B 3 H W\)"):
        model(torch.rand(1, 4, 32, 32))
    tiny = MQNetConfig.tiny()
    with pytest.raises(ValueError, match="attention must be one of"):
        MQNet(dataclasses.replace(tiny, attention="cbam"))
    with pytest.raises(ValueError, match="output must be one of"):
        MQNet(dataclasses.replace(tiny, output="clip"))
    with pytest.raises(ValueError, match="decoder_channels must be 4 positive integers"):
        MQNet(dataclasses.replace(tiny, decoder_channels=(8, 8)))
    with pytest.raises(ValueError, match="attention_ratio must leave ≥ 1 channel"):
        MQNet(dataclasses.replace(tiny, attention_ratio=16))
    with pytest.raises(ValueError, match="bn_momentum must be in"):
        MQNet(dataclasses.replace(tiny, bn_momentum=0.999 * 2))
    with pytest.raises(ValueError, match="ablation must be one of"):
        tiny.ablation("CBAM")
