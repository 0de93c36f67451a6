"""Tests for hdredu.models.adnet: the official layer table, the official forward, PCD and attention
intermediates, padding of odd sizes, ablations, the two output/loss pairs, one training step."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hdredu.imaging.tonemap import mu_law
from hdredu.losses import mu_law_l1, ntire_mu_loss
from hdredu.models.adnet import ABLATIONS, ADNet, ADNetConfig, ADNetOutput, DCNPack
from hdredu.ops.deform import deform_conv2d


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def test_parameter_count_equals_official_model():
    # reference/adnet.md §3.5: 2,956,483 = pyramid + PCD + LDR encoder + attention + merging
    model = ADNet(ADNetConfig.paper())
    assert n_params(model) == 2_956_483
    assert n_params(model.pyramid) == 221_824
    assert n_params(model.pcd) == 1_384_288
    assert n_params(model.ldr_encoder) == 1_792
    assert n_params(model.attention) == 442_752
    merging = [model.fuse_frames, model.blocks, model.global_fuse_1x1, model.global_fuse_3x3, model.conv_up, model.to_hdr]
    assert sum(n_params(m) for m in merging) == 905_827
    # 6 dense layers per DRDB (reference/adnet.md §3.5)
    assert n_params(ADNet(dataclasses.replace(ADNetConfig.paper(), dense_layers=6))) == 3_156_259
    # each DCN's offset/mask conv: 64 → 8·27 = 216 channels
    assert model.pcd.l1_dcn.offset_mask.out_channels == 216


def test_ablation_and_tiny_parameter_counts():
    paper = ADNetConfig.paper()
    assert n_params(ADNet(paper.ablation("no_pcd"))) == 2_956_483 - 1_384_288
    assert n_params(ADNet(paper.ablation("no_attention"))) == 2_956_483 - 442_752
    assert n_params(ADNet(ADNetConfig.tiny())) == 163_147
    assert set(ABLATIONS) == {"ADNet", "no_pcd", "no_attention"}
    with pytest.raises(ValueError, match="ablation must be one of"):
        paper.ablation("no_dcn")


def test_official_initialisation():
    model = ADNet(ADNetConfig.paper())
    for pack in (model.pcd.l3_dcn, model.pcd.l2_dcn, model.pcd.l1_dcn, model.pcd.cascade_dcn):
        assert torch.all(pack.offset_mask.weight == 0) and torch.all(pack.offset_mask.bias == 0)
        assert torch.all(pack.dcn.bias == 0) and pack.dcn.weight.abs().max() <= 1 / (64 * 9) ** 0.5
        assert pack.dcn.weight.std() > 0.5 / (3 * 64 * 9) ** 0.5  # uniform(±b) has std b/√3


def test_zero_initialised_pack_is_half_a_plain_conv():
    # offsets 0 and masks σ(0) = 0.5 at step 0
    pack = DCNPack(8, 2)
    torch.nn.init.uniform_(pack.dcn.bias, -1, 1)
    feat, offset_feat = torch.randn(2, 8, 9, 10), torch.randn(2, 8, 9, 10)
    out, offset, mask = pack(feat, offset_feat)
    assert offset.shape == (2, 2 * 2 * 9, 9, 10) and torch.all(offset == 0)
    assert mask.shape == (2, 2 * 9, 9, 10) and torch.all(mask == 0.5)
    expected = 0.5 * F.conv2d(feat, pack.dcn.weight, None, padding=1) + pack.dcn.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(out, expected)


def _randomise_offset_convs(model, scale=0.05):
    """Give the zero-initialised offset/mask convs weights, so that the DCNs really deform."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, DCNPack):
                module.offset_mask.weight.normal_(0, scale)
                module.offset_mask.bias.normal_(0, 0.5)


def _official_forward(model, inputs):
    """The official ADNet.forward / PCD_Align.forward written out as in liuzhen03/ADNet, with this model's weights."""
    lrelu = lambda t: F.leaky_relu(t, 0.1)
    up = lambda t: F.interpolate(t, scale_factor=2, mode="bilinear", align_corners=False)

    def dcn_sep(pack, x, fea):  # DCN_sep.forward: chunk(3), offsets = the first two chunks, sigmoid mask
        o1, o2, mask = torch.chunk(pack.offset_mask(fea), 3, dim=1)
        return deform_conv2d(x, torch.cat((o1, o2), 1), pack.dcn.weight, pack.dcn.bias, padding=1,
                             mask=torch.sigmoid(mask))

    def pyramid(x):
        p = model.pyramid
        x1 = p.level1(lrelu(p.stem(x)))
        x2 = lrelu(p.down2[1](lrelu(p.down2[0](x1))))
        return [x1, x2, lrelu(p.down3[1](lrelu(p.down3[0](x2))))]

    def pcd(nbr, ref):
        a = model.pcd
        o3 = lrelu(a.l3_offset[1](lrelu(a.l3_offset[0](torch.cat([nbr[2], ref[2]], 1)))))
        f3 = lrelu(dcn_sep(a.l3_dcn, nbr[2], o3))
        o2 = lrelu(a.l2_offset[0](torch.cat([nbr[1], ref[1]], 1)))
        o2 = lrelu(a.l2_offset[2](lrelu(a.l2_offset[1](torch.cat([o2, up(o3) * 2], 1)))))
        f2 = lrelu(a.l2_fuse(torch.cat([dcn_sep(a.l2_dcn, nbr[1], o2), up(f3)], 1)))
        o1 = lrelu(a.l1_offset[0](torch.cat([nbr[0], ref[0]], 1)))
        o1 = lrelu(a.l1_offset[2](lrelu(a.l1_offset[1](torch.cat([o1, up(o2) * 2], 1)))))
        f1 = a.l1_fuse(torch.cat([dcn_sep(a.l1_dcn, nbr[0], o1), up(f2)], 1))
        oc = lrelu(a.cascade_offset[1](lrelu(a.cascade_offset[0](torch.cat([f1, ref[0]], 1)))))
        return lrelu(dcn_sep(a.cascade_dcn, f1, oc))

    x1, x2, x3 = inputs.unbind(1)
    f1_l, f2_l, f3_l = pyramid(x1[:, 3:]), pyramid(x2[:, 3:]), pyramid(x3[:, 3:])
    f1_al, f3_al = pcd(f1_l, f2_l), pcd(f3_l, f2_l)
    f1_t, f2_t, f3_t = (F.relu(model.ldr_encoder(x[:, :3])) for x in (x1, x2, x3))
    short, long = model.attention
    f1_t = f1_t * torch.sigmoid(short.conv2(F.leaky_relu(short.conv1(torch.cat([f1_t, f2_t], 1)))))
    f3_t = f3_t * torch.sigmoid(long.conv2(F.leaky_relu(long.conv1(torch.cat([f3_t, f2_t], 1)))))
    feat = model.fuse_frames(torch.cat((f1_al, f1_t, f2_l[0], f2_t, f3_al, f3_t), 1))
    outs = []
    for block in model.blocks:
        dense = feat
        for conv in block.dense:
            dense = torch.cat([dense, F.relu(conv(dense))], 1)
        feat = block.fuse(dense) + feat
        outs.append(feat)
    fused = model.global_fuse_3x3(model.global_fuse_1x1(torch.cat(outs, 1))) + f2_l[0]
    return F.relu(model.to_hdr(F.leaky_relu(model.conv_up(fused)))), f1_al


def test_matches_official_forward():
    config = dataclasses.replace(ADNetConfig.tiny(), blocks=3, dense_layers=2, output="relu")
    model = ADNet(config).double()  # float64: coarse-level slips change the output by ~1e-6 only
    _randomise_offset_convs(model)
    inputs = torch.rand(2, 3, 6, 16, 20, dtype=torch.float64)
    out = model(inputs, return_intermediates=True)
    assert out.offsets[0]["L1"].abs().mean() > 0.1  # the DCNs really move their taps
    official, official_aligned = _official_forward(model, inputs)
    torch.testing.assert_close(out.output, official, rtol=1e-10, atol=1e-12)
    # the whole output barely depends on the PCD at initialisation: compare the aligned features directly
    short_pyramid, ref_pyramid = model.pyramid(inputs[:, 0, 3:]), model.pyramid(inputs[:, 1, 3:])
    aligned = model.pcd(short_pyramid, ref_pyramid)[0]
    assert aligned.abs().mean() > 1e-3
    torch.testing.assert_close(aligned, official_aligned, rtol=1e-10, atol=1e-12)


def test_forward_shapes_and_intermediates():
    model = ADNet(ADNetConfig.tiny())
    inputs = torch.rand(2, 3, 6, 32, 24)
    hdr = model(inputs)
    assert hdr.shape == (2, 3, 32, 24)
    assert hdr.min() >= 0 and hdr.max() <= 1  # sigmoid
    out = model(inputs, return_intermediates=True)
    assert isinstance(out, ADNetOutput) and dataclasses.fields(out)[0].name == "output"
    torch.testing.assert_close(out.output, hdr, rtol=0, atol=0)
    groups, features = model.config.deform_groups, model.config.features
    sizes = {"L3": (8, 6), "L2": (16, 12), "L1": (32, 24), "cascade": (32, 24)}
    assert len(out.offsets) == len(out.masks) == len(out.attention) == 2  # short and long
    for offsets, masks in zip(out.offsets, out.masks):
        assert list(offsets) == ["L3", "L2", "L1", "cascade"]
        for level, (h, w) in sizes.items():
            assert offsets[level].shape == (2, 2 * groups * 9, h, w)
            assert masks[level].shape == (2, groups * 9, h, w)
            assert torch.all(offsets[level] == 0) and torch.all(masks[level] == 0.5)  # zero-initialised
    assert all(a.shape == (2, features, 32, 24) and a.min() >= 0 and a.max() <= 1 for a in out.attention)


def test_relu_output_is_unbounded_and_non_negative():
    model = ADNet(dataclasses.replace(ADNetConfig.tiny(), output="relu"))
    with torch.no_grad():
        model.to_hdr.bias.fill_(3.0)
    hdr = model(torch.rand(1, 3, 6, 16, 16))
    assert hdr.min() >= 0 and hdr.max() > 1


def test_odd_sizes_are_padded_and_cropped_back():
    model = ADNet(ADNetConfig.tiny())
    _randomise_offset_convs(model)
    inputs = torch.rand(1, 3, 6, 18, 21)
    out = model(inputs, return_intermediates=True)
    assert out.output.shape == (1, 3, 18, 21)
    assert out.offsets[1]["L3"].shape[-2:] == (5, 6) and out.masks[0]["L2"].shape[-2:] == (9, 11)
    assert out.attention[0].shape[-2:] == (18, 21)
    # the same as running the replicate-padded 20×24 stack and cropping
    padded = F.pad(inputs.flatten(0, 1), (0, 3, 0, 2), mode="replicate").unflatten(0, (1, 3))
    full = model(padded, return_intermediates=True)
    torch.testing.assert_close(out.output, full.output[..., :18, :21], rtol=0, atol=0)
    torch.testing.assert_close(out.offsets[1]["L3"], full.offsets[1]["L3"][..., :5, :6], rtol=0, atol=0)


def test_ablations_drop_their_branch():
    inputs = torch.rand(1, 3, 6, 16, 16)
    no_pcd = ADNet(ADNetConfig.tiny().ablation("no_pcd"))
    out = no_pcd(inputs, return_intermediates=True)
    assert no_pcd.pcd is None and out.offsets == [] and out.masks == [] and len(out.attention) == 2
    no_attention = ADNet(ADNetConfig.tiny().ablation("no_attention"))
    out = no_attention(inputs, return_intermediates=True)
    assert len(no_attention.attention) == 0 and out.attention == [] and len(out.offsets) == 2
    assert out.output.shape == (1, 3, 16, 16)


def test_contract_attributes():
    model = ADNet(ADNetConfig.tiny())
    assert ADNet.config_class is ADNetConfig and ADNet.task == "merge"
    assert model.receptive_radius is None  # deformable offsets are unbounded: tiling is not exact
    assert ADNetConfig.paper().gamma == 2.24 and ADNetConfig.paper().output == "relu"


def test_input_and_config_errors():
    model = ADNet(ADNetConfig.tiny())
    with pytest.raises(ValueError, match=r"inputs \(frames short → long, each \[LDR, exposure-aligned LDR\]\) must have shape"):
        model(torch.rand(1, 3, 3, 16, 16))
    with pytest.raises(ValueError, match="inputs .* must have shape"):
        model(torch.rand(1, 2, 6, 16, 16))
    cases = {
        "features": {"features": 0},
        "frames must be odd": {"frames": 2},
        "deform_groups must divide features": {"deform_groups": 3},
        "output must be": {"output": "tanh"},
        "gamma must be positive": {"gamma": 0.0},
        "dcn_method must be one of": {"dcn_method": "cuda"},
    }
    for message, override in cases.items():
        with pytest.raises(ValueError, match=message):
            ADNet(dataclasses.replace(ADNetConfig.tiny(), **override))


def test_taps_and_columns_give_the_same_model_output():
    inputs = torch.rand(1, 3, 6, 16, 16)
    outputs = []
    for method in ("columns", "taps"):
        torch.manual_seed(0)
        model = ADNet(dataclasses.replace(ADNetConfig.tiny(), dcn_method=method))
        _randomise_offset_convs(model)
        outputs.append(model(inputs))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)


def test_ntire_mu_loss_known_answer_and_checks():
    gen = torch.Generator().manual_seed(0)
    pred, target = 1.5 * torch.rand(2, 3, 8, 8, generator=gen), 1.5 * torch.rand(2, 3, 8, 8, generator=gen)
    # the official recipe, step by step with numpy's percentile
    p, y = pred.double() ** 2.24, target.double() ** 2.24
    norm = np.percentile(p.numpy(), 99)
    expected = (mu_law(torch.tanh(p / norm)) - mu_law(torch.tanh(y / norm))).abs().mean()
    loss = ntire_mu_loss(pred, target)
    torch.testing.assert_close(loss.double(), expected, rtol=1e-5, atol=1e-7)
    assert float(ntire_mu_loss(target, target)) == 0.0
    pred.requires_grad_()
    ntire_mu_loss(pred, target).backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="pred must be ≥ 0"):
        ntire_mu_loss(pred.detach() - 1, target)
    with pytest.raises(ValueError, match="same shape"):
        ntire_mu_loss(pred.detach(), target[:1])
    # the model picks the loss matching its output
    relu = ADNet(dataclasses.replace(ADNetConfig.tiny(), output="relu"))
    torch.testing.assert_close(relu.loss(pred.detach(), target), ntire_mu_loss(pred.detach(), target))
    sigmoid = ADNet(ADNetConfig.tiny())
    torch.testing.assert_close(sigmoid.loss(pred.detach(), target), mu_law_l1(pred.detach(), target))


@pytest.mark.parametrize("output", ["sigmoid", "relu"])
def test_training_steps_lower_the_loss(output):
    model = ADNet(dataclasses.replace(ADNetConfig.tiny(), output=output))
    inputs = torch.rand(2, 3, 6, 16, 16)
    target = inputs[:, 1, 3:].clone()  # a learnable target: the reference frame's aligned half
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        optimiser.zero_grad()
        loss = model.loss(model(inputs), target)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]
    # the offset convs receive gradients (the PCD branch is trained, not only the plain paths)
    assert model.pcd.l1_dcn.offset_mask.weight.grad.abs().sum() > 0


def test_merging_in_bands_equals_whole_frames(monkeypatch):
    assert ADNet(ADNetConfig.paper()).merge_radius == 37  # 1 + 2 + 1 + 3·5·2 + 1 + 2
    whole = ADNet(dataclasses.replace(ADNetConfig.tiny(), band_rows=None, merge_band_rows=None))
    banded = ADNet(dataclasses.replace(ADNetConfig.tiny(), band_rows=8, merge_band_rows=8))
    _randomise_offset_convs(whole)
    banded.load_state_dict(whole.state_dict())
    inputs = torch.rand(1, 3, 6, 60, 20)  # 60 rows > 8 + 2 · 13: 8 bands
    calls = []
    monkeypatch.setattr(banded, "merge", lambda *a, _m=banded.merge: calls.append(1) or _m(*a))
    with torch.no_grad():
        expected, got = whole(inputs), banded(inputs)
    assert len(calls) == 8
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    # too little overlap is visibly wrong: the overlap is what makes the bands exact
    monkeypatch.setattr(ADNet, "merge_radius", property(lambda self: 2))
    with torch.no_grad():
        assert (banded(inputs) - expected).abs().max() > 1e-4
    # training and intermediates always use the whole frame
    monkeypatch.undo()
    torch.testing.assert_close(banded(inputs, return_intermediates=True).output, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="band_rows must be a positive int or None"):
        ADNet(dataclasses.replace(ADNetConfig.tiny(), band_rows=0))
    with pytest.raises(ValueError, match="merge_band_rows must be a positive int or None"):
        ADNet(dataclasses.replace(ADNetConfig.tiny(), merge_band_rows=2.5))


def test_dcn_pack_in_bands_equals_whole():
    pack = DCNPack(8, 2)
    torch.nn.init.normal_(pack.offset_mask.weight, 0, 0.3)
    feat, offset_feat = torch.randn(1, 8, 11, 9), torch.randn(1, 8, 11, 9)
    whole, offset, _ = pack(feat, offset_feat)
    assert offset.abs().mean() > 0.5
    banded, no_offset, no_mask = pack(feat, offset_feat, band_rows=3)
    assert no_offset is None and no_mask is None
    torch.testing.assert_close(banded, whole, rtol=1e-5, atol=1e-6)


def test_upsampled_rows_equal_rows_of_the_upsampling():
    from hdredu.models.adnet import _upsample, _upsample_rows

    x = torch.randn(1, 2, 9, 5)
    full = _upsample(x)
    for top in range(18):
        for bottom in range(top + 1, 19):
            torch.testing.assert_close(_upsample_rows(x, top, bottom), full[..., top:bottom, :], rtol=0, atol=0)


@pytest.mark.parametrize("band_rows", [3, 5, 16])
def test_pcd_in_bands_equals_whole(monkeypatch, band_rows):
    # float64 and the aligned features themselves: the model output barely depends on the PCD at init
    model = ADNet(ADNetConfig.tiny()).double()
    _randomise_offset_convs(model, scale=0.2)
    inputs = torch.rand(1, 3, 6, 44, 12, dtype=torch.float64)
    nbr, ref = model.pyramid(inputs[:, 0, 3:]), model.pyramid(inputs[:, 1, 3:])
    calls = []
    spy = model.pcd._fine_levels_in_bands
    monkeypatch.setattr(model.pcd, "_fine_levels_in_bands", lambda *a: calls.append(1) or spy(*a))
    with torch.no_grad():
        whole, offsets, _ = model.pcd(nbr, ref, keep_offsets=True)
        banded, no_offsets, _ = model.pcd(nbr, ref, keep_offsets=False, band_rows=band_rows)
    assert calls == [1] and no_offsets == {}
    assert offsets["L1"].abs().mean() > 0.2 and whole.abs().mean() > 1e-3
    torch.testing.assert_close(banded, whole, rtol=1e-10, atol=1e-12)
