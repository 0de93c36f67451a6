"""Tests for ALEN's part of hdredu.ops.attention: channel attention, spatial attention, the mixed attention block."""

import pytest
import torch

from hdredu.ops.attention import (
    ChannelAttention,
    MixedAttention,
    MixedAttentionOutput,
    SpatialAttention,
    channel_weights,
    spatial_map,
)


def test_channel_weights_shape_range_and_parameter_count():
    module = ChannelAttention(32, reduction=16)
    w = module(torch.randn(2, 32, 7, 5))
    assert w.shape == (2, 32, 1, 1)
    assert w.min() >= 0 and w.max() <= 1
    # 32 → 2 → 32, 1×1 with bias
    assert sum(p.numel() for p in module.parameters()) == (32 * 2 + 2) + (2 * 32 + 32)
    # fewer channels than the ratio: one hidden channel
    assert ChannelAttention(8, reduction=16).squeeze.out_channels == 1


def test_channel_weights_known_answer():
    # 2 channels with means 1 and 3; W_1 = [1, 1] (C_r = 1), b_1 = −1 → hidden = ReLU(4 − 1) = 3
    # W_2 = [[1], [−1]], b_2 = [0, 2] → w = σ([3, −1])
    feat = torch.stack([torch.full((2, 2), 1.0), torch.tensor([[2.0, 4.0], [3.0, 3.0]])]).unsqueeze(0)
    w = channel_weights(feat, torch.ones(1, 2, 1, 1), torch.tensor([-1.0]),
                        torch.tensor([1.0, -1.0]).view(2, 1, 1, 1), torch.tensor([0.0, 2.0]))
    torch.testing.assert_close(w.flatten(), torch.sigmoid(torch.tensor([3.0, -1.0])))


def test_spatial_map_known_answer_with_1x1_kernel():
    # 1×1 kernel: m = σ(a·mean_c + b·max_c + c) per pixel
    feat = torch.tensor([[[[1.0, -2.0]], [[3.0, 0.0]]]])  # (1, 2, 1, 2): means [2, −1], maxima [3, 0]
    m = spatial_map(feat, torch.tensor([0.5, -1.0]).view(1, 2, 1, 1), torch.tensor([0.25]))
    expected = torch.sigmoid(torch.tensor([0.5 * 2 - 3 + 0.25, 0.5 * -1 - 0 + 0.25])).view(1, 1, 1, 2)
    torch.testing.assert_close(m, expected)


def test_modules_equal_functions():
    feat = torch.randn(2, 16, 6, 5)
    ca = ChannelAttention(16, 4)
    expected = channel_weights(feat, ca.squeeze.weight, ca.squeeze.bias, ca.excite.weight, ca.excite.bias)
    torch.testing.assert_close(ca(feat), expected, rtol=0, atol=0)
    sa = SpatialAttention(7)
    torch.testing.assert_close(sa(feat), spatial_map(feat, sa.conv.weight, sa.conv.bias), rtol=0, atol=0)
    assert sum(p.numel() for p in sa.parameters()) == 2 * 49 + 1


def test_gradcheck_float64():
    feat = torch.randn(1, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    ca = [torch.randn(*s, generator=gen, dtype=torch.float64, requires_grad=True)
          for s in [(2, 4, 1, 1), (2,), (4, 2, 1, 1), (4,)]]
    assert torch.autograd.gradcheck(channel_weights, (feat, *ca))
    # max over channels is differentiable where the maximum is unique (random data)
    sa = [torch.randn(*s, generator=gen, dtype=torch.float64, requires_grad=True) for s in [(1, 2, 3, 3), (1,)]]
    assert torch.autograd.gradcheck(spatial_map, (feat, *sa))


def test_mixed_attention_equals_its_parts_in_order():
    block = MixedAttention(16, reduction=4, nonlocal_=True, subsample=True)
    with torch.no_grad():
        block.nonlocal_block.out.weight.normal_()
    feat = torch.randn(2, 16, 8, 6)
    out = block(feat, return_intermediates=True)
    assert isinstance(out, MixedAttentionOutput)
    # channel → spatial → non-local, written out
    w = block.channel_attention(feat)
    a = feat * w
    m = block.spatial_attention(a)
    z, attn = block.nonlocal_block(a * m, return_attention=True)
    torch.testing.assert_close(out.output, z, rtol=0, atol=0)
    torch.testing.assert_close(out.channel_weights, w.flatten(1), rtol=0, atol=0)
    torch.testing.assert_close(out.spatial_map, m, rtol=0, atol=0)
    torch.testing.assert_close(out.nonlocal_attention, attn, rtol=0, atol=0)
    assert out.nonlocal_attention.shape == (2, 48, 12)
    torch.testing.assert_close(block(feat), z, rtol=0, atol=0)


def test_mixed_attention_switches():
    feat = torch.randn(1, 8, 4, 4)
    plain = MixedAttention(8, channel=False, nonlocal_=False)
    out = plain(feat, return_intermediates=True)
    assert out.channel_weights is None and out.nonlocal_attention is None
    torch.testing.assert_close(out.output, feat * plain.spatial_attention(feat), rtol=0, atol=0)
    # a fresh non-local block is the identity: adding it does not change the output
    with_nl = MixedAttention(8, nonlocal_=True)
    without = MixedAttention(8)
    without.load_state_dict({k: v for k, v in with_nl.state_dict().items() if not k.startswith("nonlocal_block")})
    torch.testing.assert_close(with_nl(feat), without(feat), rtol=0, atol=0)


def test_gates_can_suppress():
    # a large negative excitation bias closes every channel: the block outputs ≈ 0 (no residual around it)
    block = MixedAttention(4)
    with torch.no_grad():
        block.channel_attention.excite.weight.zero_()
        block.channel_attention.excite.bias.fill_(-30.0)
    assert block(torch.randn(1, 4, 5, 5)).abs().max() < 1e-10


def test_error_messages():
    with pytest.raises(ValueError, match=r"weight1 must be \(C_r, C, 1, 1\) = \(C_r, 4, 1, 1\)"):
        channel_weights(torch.randn(1, 4, 3, 3), torch.randn(2, 3, 1, 1), None, torch.randn(4, 2, 1, 1), None)
    with pytest.raises(ValueError, match=r"weight2 must be \(C, C_r, 1, 1\) = \(4, 2, 1, 1\)"):
        channel_weights(torch.randn(1, 4, 3, 3), torch.randn(2, 4, 1, 1), None, torch.randn(4, 3, 1, 1), None)
    with pytest.raises(ValueError, match=r"weight must be \(1, 2, k, k\) with k odd"):
        spatial_map(torch.randn(1, 4, 3, 3), torch.randn(1, 2, 2, 2), None)
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        SpatialAttention(4)
    with pytest.raises(ValueError, match="reduction must be a positive integer"):
        ChannelAttention(8, reduction=0)
    with pytest.raises(ValueError, match="feat must have 8 channels"):
        MixedAttention(8)(torch.randn(1, 4, 4, 4))
    with pytest.raises(ValueError, match="feat must have shape"):
        SpatialAttention()(torch.randn(4, 4, 4))
