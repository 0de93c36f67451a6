"""Tests for hdredu.ops.shuffle: the inverted shuffle layer (ISL) of ALEN."""

import pytest
import torch
import torch.nn.functional as F

from hdredu.ops.shuffle import InvertedShuffle, inverted_shuffle


def test_shape_and_parameter_count():
    module = InvertedShuffle(8)
    assert module(torch.randn(2, 8, 12, 10)).shape == (2, 8, 6, 5)
    # 1×1 conv 4C → C with bias: 32·8 + 8
    assert sum(p.numel() for p in module.parameters()) == 32 * 8 + 8
    assert InvertedShuffle(8, out_channels=16)(torch.randn(1, 8, 4, 4)).shape == (1, 16, 2, 2)
    assert InvertedShuffle(3, factor=4)(torch.randn(1, 3, 8, 8)).shape == (1, 3, 2, 2)


def test_known_answer_pixel_unshuffle_layout():
    # identity 1×1 conv: the output is the unshuffled tensor itself, channel c·4 + i·2 + j = X[c, 2y + i, 2x + j]
    feat = torch.arange(2 * 4 * 6, dtype=torch.float32).view(1, 2, 4, 6)
    out = inverted_shuffle(feat, torch.eye(8).view(8, 8, 1, 1))
    for c in range(2):
        for i in range(2):
            for j in range(2):
                torch.testing.assert_close(out[0, c * 4 + i * 2 + j], feat[0, c, i::2, j::2], rtol=0, atol=0)
    # the top-left 2×2 block of channel 0 is [[0, 1], [6, 7]]: it lands in channels 0..3 at (0, 0)
    assert out[0, :4, 0, 0].tolist() == [0.0, 1.0, 6.0, 7.0]


def test_keeps_every_pixel_and_can_learn_average_pooling():
    feat = torch.randn(1, 3, 8, 8)
    # each output channel averages its own input channel's four sub-pixels: avg_pool2d(2)
    weight = torch.zeros(3, 12, 1, 1)
    for c in range(3):
        weight[c, 4 * c : 4 * c + 4] = 0.25
    torch.testing.assert_close(inverted_shuffle(feat, weight), F.avg_pool2d(feat, 2))
    # an invertible 1×1 (4C → 4C) loses nothing: pixel_shuffle undoes it
    module = InvertedShuffle(3, out_channels=12, bias=False)
    with torch.no_grad():
        module.conv.weight.copy_(torch.eye(12).view(12, 12, 1, 1))
    torch.testing.assert_close(F.pixel_shuffle(module(feat), 2), feat, rtol=0, atol=0)


def test_module_equals_function():
    module = InvertedShuffle(5)
    feat = torch.randn(2, 5, 6, 4)
    expected = inverted_shuffle(feat, module.conv.weight, module.conv.bias)
    torch.testing.assert_close(module(feat), expected, rtol=0, atol=0)
    # and the definition written out: conv1x1(pixel_unshuffle(x))
    torch.testing.assert_close(module(feat), module.conv(F.pixel_unshuffle(feat, 2)))


def test_gradcheck_float64():
    feat = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 8, 1, 1, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(inverted_shuffle, (feat, weight, bias))


def test_error_messages():
    with pytest.raises(ValueError, match=r"multiples of factor=2 \(crop or pad the image\); got 5×4"):
        inverted_shuffle(torch.randn(1, 2, 5, 4), torch.randn(2, 8, 1, 1))
    with pytest.raises(ValueError, match=r"weight must be \(C_out, C·s², 1, 1\) = \(C_out, 8, 1, 1\)"):
        inverted_shuffle(torch.randn(1, 2, 4, 4), torch.randn(2, 2, 1, 1))
    with pytest.raises(ValueError, match="feat must have shape"):
        inverted_shuffle(torch.randn(2, 4, 4), torch.randn(2, 8, 1, 1))
    with pytest.raises(ValueError, match="feat must have 4 channels"):
        InvertedShuffle(4)(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="factor must be a positive integer"):
        InvertedShuffle(4, factor=0)
    with pytest.raises(ValueError, match="channels must be a positive"):
        InvertedShuffle(0)
