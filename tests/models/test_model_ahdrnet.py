"""Tests for hdredu.models.ahdrnet: the official layer table, shapes, ablations, one training step."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from hdredu.losses import mu_law_l1
from hdredu.models.ahdrnet import ABLATIONS, AHDRNet, AHDRNetConfig, AHDRNetOutput


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_equals_official_layer_table():
    # reference/ahdrnet.md §3.2: rows 1–12 sum to 1,441,283 (the unused attConv layers are not counted)
    model = AHDRNet(AHDRNetConfig.paper())
    assert n_params(model) == 1_441_283
    table = 3_520 + 2 * (147_584 + 73_792) + 110_656 + 3 * 265_472 + 12_352 + 36_928 + 36_928 + 1_731
    assert table == 1_441_283


def test_parameter_counts_of_other_depths():
    # reference/ahdrnet.md §3.3: 5 dense layers (lz / ADNet) and 3 dense layers (toolkit)
    assert n_params(AHDRNet(dataclasses.replace(AHDRNetConfig.paper(), dense_layers=5))) == 1_241_507
    assert n_params(AHDRNet(dataclasses.replace(AHDRNetConfig.paper(), dense_layers=3))) == 924_899


def test_ablation_parameter_counts():
    paper = AHDRNetConfig.paper()
    attention = 2 * (147_584 + 73_792)
    assert n_params(AHDRNet(paper.ablation("DRDB-Net"))) == 1_441_283 - attention
    # dilation does not change the weights
    assert n_params(AHDRNet(paper.ablation("A-RDB-Net"))) == 1_441_283
    # RB-Net: each DRDB (265,472) becomes two 64→64 3×3 convolutions (2 · 36,928)
    assert n_params(AHDRNet(paper.ablation("RB-Net"))) == 1_441_283 - attention - 3 * (265_472 - 2 * 36_928)
    assert set(ABLATIONS) == {"AHDRNet", "DRDB-Net", "A-RDB-Net", "RDB-Net", "RB-Net"}


def test_forward_shapes_range_and_intermediates():
    model = AHDRNet(AHDRNetConfig.tiny())
    inputs = torch.rand(2, 3, 6, 32, 24)
    hdr = model(inputs)
    assert hdr.shape == (2, 3, 32, 24)
    # a sigmoid: in (0, 1) mathematically; float32 rounds logits above ~17 to exactly 1.0
    assert hdr.min() >= 0 and hdr.max() <= 1
    out = model(inputs, return_intermediates=True)
    assert isinstance(out, AHDRNetOutput)
    torch.testing.assert_close(out.output, hdr, rtol=0, atol=0)
    assert len(out.attention) == 2
    assert all(a.shape == (2, model.config.features, 32, 24) for a in out.attention)
    no_attention = AHDRNet(AHDRNetConfig.tiny().ablation("DRDB-Net"))
    assert no_attention(inputs, return_intermediates=True).attention == []


def _official_forward(model, inputs):
    """The official AHDR.forward written out layer by layer, with this model's weights (3 frames)."""
    lrelu = torch.nn.LeakyReLU()  # slope 0.01
    x1, x2, x3 = inputs.unbind(1)
    f1, f2, f3 = (lrelu(model.encoder(x)) for x in (x1, x2, x3))
    short, long = model.attention
    a1 = torch.sigmoid(short.conv2(lrelu(short.conv1(torch.cat([f1, f2], 1)))))
    a3 = torch.sigmoid(long.conv2(lrelu(long.conv1(torch.cat([f3, f2], 1)))))
    f0 = model.fuse_frames(torch.cat([f1 * a1, f2, f3 * a3], 1))
    outs, x = [], f0
    for block in model.blocks:
        dense = x
        for conv in block.dense:
            dense = torch.cat([dense, F.relu(conv(dense))], 1)
        x = block.fuse(dense) + x
        outs.append(x)
    fused = model.global_fuse_3x3(model.global_fuse_1x1(torch.cat(outs, 1))) + f2
    return torch.sigmoid(model.to_hdr(model.conv_up(fused)))


def test_matches_official_forward():
    torch.manual_seed(0)
    model = AHDRNet(dataclasses.replace(AHDRNetConfig.tiny(), blocks=3))
    inputs = torch.rand(1, 3, 6, 20, 20)
    torch.testing.assert_close(model(inputs), _official_forward(model, inputs))


def test_reference_frame_is_the_middle_one():
    # with attention closed (gates ≈ 0) the output depends on the reference frame only
    model = AHDRNet(AHDRNetConfig.tiny())
    with torch.no_grad():
        for module in model.attention:
            module.conv2.weight.zero_()
            module.conv2.bias.fill_(-60.0)
    inputs = torch.rand(1, 3, 6, 16, 16)
    changed = inputs.clone()
    changed[:, [0, 2]] = torch.rand(1, 2, 6, 16, 16)
    torch.testing.assert_close(model(changed), model(inputs))
    changed[:, 1] += 0.5
    assert not torch.allclose(model(changed), model(inputs))


@pytest.mark.parametrize("ablation", ["AHDRNet", "DRDB-Net", "RDB-Net", "RB-Net"])
def test_receptive_radius_is_exact(ablation):
    # perturb one input pixel: the output changes exactly up to receptive_radius pixels away
    model = AHDRNet(AHDRNetConfig.tiny().ablation(ablation)).double()
    radius = model.receptive_radius
    size = 2 * radius + 11
    inputs = torch.rand(1, 3, 6, size, size, dtype=torch.float64)
    moved = inputs.clone()
    moved[0, :, :, size // 2, size // 2] += 1.0
    with torch.no_grad():
        diff = (model(moved) - model(inputs)).abs().amax(dim=(0, 1))
    rows = (diff.amax(dim=1) > 0).nonzero().flatten()
    assert rows.min() == size // 2 - radius and rows.max() == size // 2 + radius


def test_paper_receptive_radius():
    assert AHDRNet(AHDRNetConfig.paper()).receptive_radius == 1 + 2 + 1 + 3 * 6 * 2 + 3


def test_one_training_step_lowers_the_loss():
    torch.manual_seed(0)
    model = AHDRNet(AHDRNetConfig.tiny())
    inputs = torch.rand(4, 3, 6, 32, 32)
    target = inputs[:, 1, 3:] * 0.5  # a fixed batch: half the reference radiance
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    before = mu_law_l1(model(inputs), target)
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = mu_law_l1(model(inputs), target)
    assert after < before


def test_build_model_registry():
    from hdredu.models import MODELS, build_model

    assert MODELS["ahdrnet"] is AHDRNet
    model = build_model("ahdrnet", "tiny", attention=False)
    assert isinstance(model, AHDRNet) and model.config.attention is False
    assert n_params(build_model("ahdrnet")) == 1_441_283


def test_error_messages():
    model = AHDRNet(AHDRNetConfig.tiny())
    with pytest.raises(ValueError, match=r"inputs \(frames short → long, each \[LDR, LDR\^γ/t\]\) must have shape \(B 3 6 H W\)"):
        model(torch.rand(1, 3, 3, 8, 8))
    with pytest.raises(ValueError, match=r"must have shape \(B 3 6 H W\), 5 dimensions"):
        model(torch.rand(3, 6, 8, 8))
    with pytest.raises(ValueError, match="frames must be odd"):
        AHDRNet(dataclasses.replace(AHDRNetConfig.tiny(), frames=2))
    with pytest.raises(ValueError, match="block must be 'drdb' or 'residual'"):
        AHDRNet(dataclasses.replace(AHDRNetConfig.tiny(), block="dense"))
    with pytest.raises(ValueError, match="growth must be a positive integer"):
        AHDRNet(dataclasses.replace(AHDRNetConfig.tiny(), growth=0))
    with pytest.raises(ValueError, match="ablation must be one of"):
        AHDRNetConfig.tiny().ablation("NoNet")
