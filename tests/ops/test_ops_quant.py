"""Tests for hdredu.ops.quant: known answers, the STE gradient, agreement with torch's fake-quant ops, part wrapping."""

import pytest
import torch

from hdredu.models.mqnet import MQNet, MQNetConfig
from hdredu.ops.quant import (
    FakeQuantConv2d,
    FakeQuantize,
    calibrate,
    fake_quantize,
    fake_quantize_tensor,
    qrange,
    quant_params,
    quantize_part,
)


def test_qrange_and_params_known_answers():
    assert qrange(8, True) == (-127, 127) and qrange(8, False) == (0, 255) and qrange(4, True) == (-7, 7)
    scale, zero = quant_params(torch.tensor(-1.0), torch.tensor(1.0), 8, symmetric=True)
    assert scale.item() == pytest.approx(1 / 127) and zero.item() == 0
    scale, zero = quant_params(torch.tensor(0.0), torch.tensor(2.55), 8, symmetric=False)
    assert scale.item() == pytest.approx(0.01) and zero.item() == 0
    # an all-positive range is widened to contain 0; an affine range [-1, 3] puts 0 at q = round(1 / s)
    scale, zero = quant_params(torch.tensor(-1.0), torch.tensor(3.0), 8, symmetric=False)
    assert scale.item() == pytest.approx(4 / 255) and zero.item() == round(255 / 4)


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric", [True, False])
def test_error_at_most_half_a_step_inside_the_range_and_clipped_outside(bits, symmetric):
    torch.manual_seed(bits)
    scale, zero = quant_params(torch.tensor(-0.7), torch.tensor(1.3), bits, symmetric)
    q_min, q_max = qrange(bits, symmetric)
    lo, hi = ((q_min - zero) * scale).item(), ((q_max - zero) * scale).item()
    inside = torch.empty(10_000).uniform_(lo, hi)
    err = (fake_quantize(inside, scale, zero, bits, symmetric) - inside).abs()
    assert err.max() <= scale / 2 + 1e-6
    assert err.max() > scale / 2 * 0.9  # the bound is tight
    outside = torch.tensor([lo - 5.0, hi + 5.0])
    torch.testing.assert_close(fake_quantize(outside, scale, zero, bits, symmetric), torch.tensor([lo, hi]))
    # zero is represented exactly
    assert fake_quantize(torch.zeros(1), scale, zero, bits, symmetric).item() == 0.0


def test_ste_gradient_is_identity_inside_and_zero_outside():
    scale, zero = torch.tensor(0.1), torch.tensor(0.0)
    x = torch.tensor([-20.0, -12.8, -3.14, 0.0, 0.05, 7.77, 12.7, 12.8, 30.0], requires_grad=True)
    fake_quantize(x, scale, zero, 8, symmetric=True).sum().backward()
    # 8-bit symmetric with s = 0.1: range [-12.7, 12.7]; -12.8 and 12.8 round outside it
    torch.testing.assert_close(x.grad, torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]))


def test_matches_torch_fake_quantize_per_tensor():
    torch.manual_seed(0)
    x = (torch.randn(4, 5, 6) * 2).requires_grad_()
    scale, zero = quant_params(torch.tensor(-1.5), torch.tensor(2.5), 8, symmetric=False)
    ours = fake_quantize(x, scale, zero, 8, symmetric=False)
    ref_x = x.detach().clone().requires_grad_()
    ref = torch.fake_quantize_per_tensor_affine(ref_x, scale.item(), int(zero.item()), 0, 255)
    torch.testing.assert_close(ours, ref)
    ours.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(x.grad, ref_x.grad)


def test_matches_torch_fake_quantize_per_channel():
    torch.manual_seed(0)
    weight = torch.randn(6, 3, 3, 3) * torch.linspace(0.1, 3, 6)[:, None, None, None]
    ours = fake_quantize_tensor(weight, 4, symmetric=True, axis=0)
    amax = weight.abs().amax(dim=(1, 2, 3))
    ref = torch.fake_quantize_per_channel_affine(weight, amax / 7, torch.zeros(6, dtype=torch.int32), 0, -7, 7)
    torch.testing.assert_close(ours, ref)
    # each channel has its own step: at most 7 positive levels per channel, and the channel max is exact
    torch.testing.assert_close(ours.abs().amax(dim=(1, 2, 3)), amax)


def test_fake_quantize_module_observes_then_freezes():
    quant = FakeQuantize(8, symmetric=False)
    quant(torch.tensor([0.0, 1.0]))
    quant(torch.tensor([-0.5, 0.5]))
    assert quant.lo.item() == -0.5 and quant.hi.item() == 1.0
    quant.freeze()
    out = quant(torch.tensor([-3.0, 5.0]))
    assert quant.lo.item() == -0.5 and quant.hi.item() == 1.0
    scale, zero = quant_params(quant.lo, quant.hi, 8, False)
    torch.testing.assert_close(out, torch.stack([(0 - zero) * scale, (255 - zero) * scale]))
    per_channel = FakeQuantize(8, symmetric=True, axis=1)
    per_channel(torch.randn(2, 3, 4, 4))
    assert per_channel.lo.shape == (3,)


def test_fake_quant_conv_equals_conv_on_quantized_tensors():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(4, 5, 3, padding=1)
    wrapped = FakeQuantConv2d(conv, bits=6)
    x = torch.rand(2, 4, 8, 8)
    out = wrapped(x)
    scale, zero = quant_params(x.min(), x.max(), 6, False)
    xq = fake_quantize(x, scale, zero, 6, False)
    wq = fake_quantize_tensor(conv.weight, 6, True, axis=0)
    torch.testing.assert_close(out, torch.nn.functional.conv2d(xq, wq, conv.bias, padding=1))


def test_quantize_part_wraps_only_that_part_and_error_falls_with_bits():
    torch.manual_seed(0)
    model = MQNet(MQNetConfig.tiny()).eval()
    ldr = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        reference = model(ldr)
    errors = {}
    for bits in (3, 5, 8, 12):
        quantized = calibrate(quantize_part(model, "decoder", bits), [ldr])
        wrapped = [m for m in quantized.modules() if isinstance(m, FakeQuantConv2d)]
        n_convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.decoder.modules())
        assert len(wrapped) == n_convs
        assert not any(isinstance(m, FakeQuantConv2d) for m in quantized.backbone.modules())
        with torch.no_grad():
            errors[bits] = (quantized(ldr) - reference).abs().max().item()
    assert not any(isinstance(m, FakeQuantConv2d) for m in model.modules())  # the original is untouched
    assert errors[3] > errors[5] > errors[8] > errors[12]
    assert errors[12] < 1e-3


def test_error_messages():
    with pytest.raises(ValueError, match=r"bits must be an integer in \[2, 16\]; got 1"):
        qrange(1, True)
    with pytest.raises(RuntimeError, match="no range observed yet"):
        FakeQuantize(8).freeze()
    model = MQNet(MQNetConfig.tiny())
    with pytest.raises(ValueError, match=r"part must name a submodule of the model, one of \['backbone', 'decoder', 'head'\]"):
        quantize_part(model, "encoder", 8)
    with pytest.raises(ValueError, match="batches must hold at least one calibration batch"):
        calibrate(quantize_part(model, "head", 8), [])
    with pytest.raises(TypeError, match="conv must be an nn.Conv2d"):
        FakeQuantConv2d(torch.nn.Linear(2, 2))
