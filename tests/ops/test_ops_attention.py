"""Tests for hdredu.ops.attention: AHDRNet's attention module."""

import pytest
import torch
import torch.nn.functional as F

from hdredu.ops.attention import Attention, attention_map


def _weights(features, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    w1 = torch.randn(2 * features, 2 * features, 3, 3, generator=gen, dtype=dtype) * 0.2
    b1 = torch.randn(2 * features, generator=gen, dtype=dtype) * 0.1
    w2 = torch.randn(features, 2 * features, 3, 3, generator=gen, dtype=dtype) * 0.2
    b2 = torch.randn(features, generator=gen, dtype=dtype) * 0.1
    return w1, b1, w2, b2


def test_smoke_and_shape_range():
    feat, ref = torch.randn(2, 4, 9, 7), torch.randn(2, 4, 9, 7)
    attn = attention_map(feat, ref, *_weights(4))
    assert attn.shape == (2, 4, 9, 7)
    assert attn.min() >= 0 and attn.max() <= 1  # sigmoid; float32 can round to exactly 0 or 1


def test_module_equals_function_and_parameter_count():
    module = Attention(8)
    feat, ref = torch.randn(1, 8, 6, 5), torch.randn(1, 8, 6, 5)
    expected = attention_map(feat, ref, module.conv1.weight, module.conv1.bias, module.conv2.weight, module.conv2.bias)
    torch.testing.assert_close(module(feat, ref), expected, rtol=0, atol=0)
    # official table rows 2 + 3 at F = 64: 147,584 + 73,792
    assert sum(p.numel() for p in Attention(64).parameters()) == 147_584 + 73_792


def test_known_answer_with_1x1_kernels():
    # 1×1 kernels turn the module into per-pixel arithmetic that can be written out by hand:
    # hidden = LReLU(W1 [z, r] + b1), A = σ(W2 hidden + b2)
    feat = torch.tensor([[[[1.0, -2.0]]]])  # (1, 1, 1, 2)
    ref = torch.tensor([[[[0.5, 3.0]]]])
    w1 = torch.tensor([[1.0, 1.0], [1.0, -1.0]]).view(2, 2, 1, 1)
    b1 = torch.tensor([0.0, -1.0])
    w2 = torch.tensor([[2.0, 1.0]]).view(1, 2, 1, 1)
    b2 = torch.tensor([0.5])
    attn = attention_map(feat, ref, w1, b1, w2, b2, negative_slope=0.1)
    # pixel 0: pre = [1.5, -0.5] → LReLU → [1.5, -0.05]; 2·1.5 − 0.05 + 0.5 = 3.45
    # pixel 1: pre = [1.0, -6.0] → [1.0, -0.6]; 2 − 0.6 + 0.5 = 1.9
    expected = torch.sigmoid(torch.tensor([3.45, 1.9])).view(1, 1, 1, 2)
    torch.testing.assert_close(attn, expected)


def test_matches_official_layer_sequence():
    # same computation written as the official code does it (conv → LeakyReLU() → conv → sigmoid)
    module = Attention(4)
    feat, ref = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    hidden = torch.nn.LeakyReLU()(module.conv1(torch.cat([feat, ref], 1)))
    torch.testing.assert_close(module(feat, ref), torch.sigmoid(module.conv2(hidden)))


def test_order_of_inputs_matters():
    # the non-reference frame comes first in the concatenation; swapping changes the map
    module = Attention(4)
    feat, ref = torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5)
    assert not torch.allclose(module(feat, ref), module(ref, feat))


def test_gradcheck_float64():
    feat = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    ref = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    weights = [w.requires_grad_() for w in _weights(2, torch.float64)]
    assert torch.autograd.gradcheck(lambda *a: attention_map(*a), (feat, ref, *weights))


def test_error_messages():
    w = _weights(4)
    with pytest.raises(ValueError, match="feat must have shape"):
        attention_map(torch.randn(4, 5, 5), torch.randn(1, 4, 5, 5), *w)
    with pytest.raises(ValueError, match="feat and ref_feat must have the same shape"):
        attention_map(torch.randn(1, 4, 5, 5), torch.randn(1, 4, 6, 5), *w)
    with pytest.raises(ValueError, match=r"weight1 must be \(2F, 2F, k, k\) = \(6, 6, k, k\)"):
        attention_map(torch.randn(1, 3, 5, 5), torch.randn(1, 3, 5, 5), *w)
    with pytest.raises(ValueError, match="feat must have 8 channels"):
        Attention(8)(torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5))
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        Attention(8, kernel_size=2)
    with pytest.raises(TypeError, match="feat must be a torch.Tensor"):
        Attention(2)(None, torch.randn(1, 2, 3, 3))


def test_uses_sigmoid_saturation_for_gating():
    # a large negative bias closes the gate everywhere; a large positive one opens it
    module = Attention(2)
    feat, ref = torch.randn(1, 2, 4, 4), torch.randn(1, 2, 4, 4)
    with torch.no_grad():
        module.conv2.weight.zero_()
        module.conv2.bias.fill_(-20.0)
    assert module(feat, ref).max() < 1e-8
    with torch.no_grad():
        module.conv2.bias.fill_(20.0)
    assert module(feat, ref).min() > 1 - 1e-6
    assert F.mse_loss(feat * module(feat, ref), feat) < 1e-12
