"""Tests for hdredu.models.hdrnet: the official parameter count, shapes, grid layout, guides, training."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from hdredu.models import MODELS, build_model
from hdredu.models.hdrnet import CoefficientNetwork, CurveGuide, HDRNet, HDRNetConfig, HDRNetOutput, PointwiseGuide
from hdredu.ops.bilateral import apply_coeffs, bilateral_slice


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ------------------------------------------------------------------ parameter counts (reference/hdrnet.md §4)


def test_paper_parameter_count_matches_the_official_layer_table():
    model = HDRNet(HDRNetConfig.paper())
    assert count(model) == 482_081
    assert count(model.coefficients) == 481_968
    fully_connected = (model.coefficients.global_fc1, model.coefficients.global_fc2, model.coefficients.global_fc3)
    assert sum(count(layer) for layer in fully_connected) == 303_552
    assert count(model.guide) == 113


def test_layer_table_widths_and_sizes():
    """Every row of the official table: output channels and sizes of the paper preset."""
    net = CoefficientNetwork(HDRNetConfig.paper())
    assert [conv.out_channels for conv in net.splat] == [8, 16, 32, 64]
    assert all(conv.stride == (2, 2) and conv.kernel_size == (3, 3) for conv in net.splat)
    assert [conv.out_channels for conv in net.global_convs] == [64, 64]
    assert (net.global_fc1.in_features, net.global_fc1.out_features) == (1024, 256)
    assert (net.global_fc2.out_features, net.global_fc3.out_features) == (128, 64)
    assert net.local2.bias is None and net.local1.bias is not None
    assert net.prediction.kernel_size == (1, 1) and net.prediction.out_channels == 96


def test_curves_guide_and_tiny_counts():
    assert count(CurveGuide(16)) == 112
    assert count(PointwiseGuide(16)) == 113
    assert count(HDRNet(HDRNetConfig(guide="curves"))) == 481_968 + 112
    assert count(HDRNet(HDRNetConfig.tiny())) == 230_113


def test_registered_and_built_from_presets():
    assert MODELS["hdrnet"] is HDRNet
    model = build_model("hdrnet", "tiny", guide="curves")
    assert isinstance(model.guide, CurveGuide) and model.config.net_input_size == 64
    assert count(build_model("hdrnet")) == 482_081


# ------------------------------------------------------------------ config errors


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(net_input_size=100), r"net_input_size / spatial_bin must be a power of two ≥ 2; got 100 / 16"),
        (dict(spatial_bin=256), r"power of two ≥ 2; got 256 / 256"),
        (dict(net_input_size=48, spatial_bin=6), r"spatial_bin must be a multiple of 4"),
        (dict(guide="sigmoid"), r"guide must be one of \('pointwise', 'curves'\); got 'sigmoid'"),
        (dict(luma_bins=0), r"luma_bins must be a positive integer; got 0"),
    ],
)
def test_config_errors_name_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        HDRNet(dataclasses.replace(HDRNetConfig.paper(), **overrides))


def test_forward_rejects_a_non_rgb_image():
    with pytest.raises(ValueError, match=r"image must have shape \(B 3 H W\)"):
        HDRNet(HDRNetConfig.tiny())(torch.rand(1, 4, 32, 32))


# ------------------------------------------------------------------ shapes and composition


@pytest.mark.parametrize("size", [(64, 64), (37, 90)])
def test_forward_shapes_at_any_resolution(size):
    torch.manual_seed(0)
    model = HDRNet(HDRNetConfig.tiny()).eval()
    image = torch.rand(2, 3, *size)
    result = model(image, return_intermediates=True)
    assert isinstance(result, HDRNetOutput)
    assert result.output.shape == (2, 3, *size)
    assert result.lowres.shape == (2, 3, 64, 64)
    assert result.grid.shape == (2, 12, 8, 8, 8)
    assert result.guide.shape == (2, 1, *size)
    assert result.coeffs.shape == (2, 12, *size)
    assert 0 <= result.guide.min() and result.guide.max() <= 1
    assert torch.equal(model(image), result.output)


def test_paper_grid_shape():
    grid = CoefficientNetwork(HDRNetConfig.paper())(torch.rand(1, 3, 256, 256))
    assert grid.shape == (1, 12, 8, 16, 16)


def test_forward_is_slice_then_apply_of_its_intermediates():
    torch.manual_seed(1)
    model = HDRNet(HDRNetConfig.tiny()).eval()
    image = torch.rand(1, 3, 40, 50)
    result = model(image, return_intermediates=True)
    assert torch.equal(result.lowres, F.interpolate(image, size=(64, 64), mode="nearest"))
    assert torch.equal(result.grid, model.coefficients(result.lowres))
    assert torch.equal(result.guide, model.guide(image))
    assert torch.equal(result.coeffs, bilateral_slice(result.grid, result.guide))
    assert torch.equal(result.output, apply_coeffs(result.coeffs, image))


def test_grid_channels_are_coefficient_major_groups_of_depth():
    """Prediction channel D·k + z becomes grid[:, k, z] (12 groups of D = 8)."""
    torch.manual_seed(2)
    net = CoefficientNetwork(HDRNetConfig.tiny())
    captured = {}
    net.prediction.register_forward_hook(lambda module, inputs, output: captured.setdefault("raw", output))
    grid = net(torch.rand(1, 3, 64, 64))
    raw = captured["raw"]  # (1, 96, 8, 8)
    for k, z in [(0, 0), (0, 7), (5, 3), (11, 7)]:
        assert torch.equal(grid[:, k, z], raw[:, 8 * k + z])


def test_lowres_copy_is_nearest_and_skipped_at_the_right_size():
    model = HDRNet(HDRNetConfig.tiny())
    image = torch.rand(1, 3, 128, 128)
    assert torch.equal(model.lowres_copy(image), image[:, :, ::2, ::2])  # nearest = every other pixel here
    small = torch.rand(1, 3, 64, 64)
    assert model.lowres_copy(small) is small


@pytest.mark.parametrize("guide", ["pointwise", "curves"])
def test_chunked_process_equals_forward(guide):
    torch.manual_seed(12)
    model = HDRNet(dataclasses.replace(HDRNetConfig.tiny(), guide=guide)).eval()
    image = torch.rand(2, 3, 45, 70)
    assert torch.allclose(model.process(image, chunk_rows=16), model(image), rtol=1e-5, atol=1e-5)


def test_process_errors():
    model = HDRNet(HDRNetConfig.tiny())
    with pytest.raises(ValueError, match=r"process\(\) is for inference: call model.eval\(\) first"):
        model.process(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="chunk_rows must be ≥ 1; got 0"):
        model.eval().process(torch.rand(1, 3, 8, 8), chunk_rows=0)


# ------------------------------------------------------------------ guides


def test_curve_guide_starts_as_the_channel_mean():
    """Identity colour matrix (+1e-4 noise), identity curves on [0, 1], mix 1/3: g ≈ (R + G + B) / 3."""
    torch.manual_seed(3)
    image = torch.rand(2, 3, 9, 11)
    guide = CurveGuide(16)(image)
    assert torch.allclose(guide, image.mean(dim=1, keepdim=True), atol=1e-3)


def test_curve_guide_curve_is_piecewise_linear_and_clipped():
    """With slopes 1 then −2 at the knot 0.5 the curve is a tent; the mix of equal channels returns it."""
    guide = CurveGuide(16)
    with torch.no_grad():
        guide.color_matrix.copy_(torch.eye(3))
        guide.slopes.zero_()
        guide.slopes[:, 0] = 1.0  # knot at 0
        guide.slopes[:, 8] = -2.0  # knot at 8/16 = 0.5
    x = torch.linspace(0, 1, 11).view(1, 1, 1, 11).expand(1, 3, 1, 11)
    expected = torch.where(x[:, :1] < 0.5, x[:, :1], 1.0 - x[:, :1])
    assert torch.allclose(guide(x), expected, atol=1e-6)
    with torch.no_grad():
        guide.mix.bias.fill_(2.0)
    assert torch.equal(guide(x), torch.ones(1, 1, 1, 11))  # clipped to 1


def test_pointwise_guide_is_per_pixel():
    """A 1×1 network: permuting pixels permutes the guide (eval mode, fixed BN statistics)."""
    torch.manual_seed(4)
    guide = PointwiseGuide(16).eval()
    image = torch.rand(1, 3, 6, 7)
    permutation = torch.randperm(42)
    shuffled = image.flatten(2)[:, :, permutation].view(1, 3, 6, 7)
    assert torch.allclose(guide(shuffled).flatten(2), guide(image).flatten(2)[:, :, permutation], atol=1e-6)
    assert 0 < guide(image).min() and guide(image).max() < 1


# ------------------------------------------------------------------ training


@pytest.mark.parametrize("preset, guide", [("tiny", "pointwise"), ("tiny", "curves"), ("paper", "pointwise")])
def test_one_training_step_lowers_the_l2_loss(preset, guide):
    torch.manual_seed(5)
    model = build_model("hdrnet", preset, guide=guide)
    generator = torch.Generator().manual_seed(6)
    image = torch.rand(4, 3, 48, 48, generator=generator)
    target = (image**0.5).clamp(0, 1)  # a brightening curve
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)  # the paper's optimiser and rate
    loss_before = F.mse_loss(model(image), target)
    optimizer.zero_grad()
    loss_before.backward()
    optimizer.step()
    loss_after = F.mse_loss(model(image), target)
    assert loss_after.item() < loss_before.item()


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(7)
    model = HDRNet(HDRNetConfig.tiny())
    image = torch.rand(2, 3, 32, 32)
    F.mse_loss(model(image), image**0.5).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_a_short_fit_learns_a_global_curve():
    """60 Adam steps on one batch: the L2 loss on a gamma curve falls at least tenfold."""
    torch.manual_seed(8)
    model = HDRNet(HDRNetConfig.tiny())
    image = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    target = image**0.5
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = None
    for _ in range(60):
        optimizer.zero_grad()
        loss = F.mse_loss(model(image), target)
        loss.backward()
        optimizer.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.1 * first


def test_seeded_construction_repeats_exactly():
    torch.manual_seed(10)
    first = HDRNet(HDRNetConfig.tiny()).state_dict()
    torch.manual_seed(10)
    second = HDRNet(HDRNetConfig.tiny()).state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)


@pytest.mark.cuda
def test_forward_on_cuda_matches_cpu():
    torch.manual_seed(11)
    model = HDRNet(HDRNetConfig.tiny()).eval()
    image = torch.rand(1, 3, 48, 64)
    cpu = model(image)
    gpu = model.cuda()(image.cuda()).cpu()
    assert torch.allclose(cpu, gpu, atol=1e-4)
