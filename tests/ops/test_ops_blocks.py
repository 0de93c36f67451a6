"""Tests for hdredu.ops.blocks: the dilated residual dense block (DRDB) and the plain residual block."""

import pytest
import torch
import torch.nn.functional as F

from hdredu.ops.blocks import DRDB, ResidualBlock, drdb, residual_block


def _drdb_args(block: DRDB):
    return (
        [c.weight for c in block.dense],
        [c.bias for c in block.dense],
        block.fuse.weight,
        block.fuse.bias,
        block.dilation,
    )


def test_smoke_and_shapes():
    block = DRDB(features=8, dense_layers=3, growth=4, dilation=2)
    out = block(torch.randn(2, 8, 11, 13))
    assert out.shape == (2, 8, 11, 13)
    assert [c.in_channels for c in block.dense] == [8, 12, 16]
    assert block.fuse.in_channels == 8 + 3 * 4


def test_parameter_count_official_rows():
    # reference/ahdrnet.md §3.2 rows 7 + 8: 249,024 + 16,448 = 265,472 per DRDB
    block = DRDB(64, 6, 32, 2)
    assert sum(p.numel() for c in block.dense for p in c.parameters()) == 249_024
    assert sum(p.numel() for p in block.fuse.parameters()) == 16_448
    assert sum(p.numel() for p in block.parameters()) == 265_472


def test_module_equals_function():
    block = DRDB(6, 2, 3, dilation=3)
    feat = torch.randn(1, 6, 10, 10)
    torch.testing.assert_close(block(feat), drdb(feat, *_drdb_args(block)), rtol=0, atol=0)
    res = ResidualBlock(5)
    feat = torch.randn(2, 5, 7, 7)
    expected = residual_block(feat, res.conv1.weight, res.conv1.bias, res.conv2.weight, res.conv2.bias)
    torch.testing.assert_close(res(feat), expected, rtol=0, atol=0)


def test_matches_explicit_dense_loop():
    # written the way the official code builds it: conv(dilation 2, padding 2) → ReLU → concat, then 1×1 + input
    block = DRDB(4, 3, 2, dilation=2)
    x = torch.randn(2, 4, 9, 9)
    dense = x
    for conv in block.dense:
        dense = torch.cat([dense, F.relu(F.conv2d(dense, conv.weight, conv.bias, padding=2, dilation=2))], 1)
    torch.testing.assert_close(block(x), F.conv2d(dense, block.fuse.weight, block.fuse.bias) + x)


def test_known_answer_zero_fusion_is_identity():
    # with the 1×1 fusion zeroed, the block is the identity (local residual only)
    block = DRDB(4, 2, 3)
    with torch.no_grad():
        block.fuse.weight.zero_()
        block.fuse.bias.zero_()
    x = torch.randn(1, 4, 6, 6)
    torch.testing.assert_close(block(x), x, rtol=0, atol=0)
    res = ResidualBlock(3)
    with torch.no_grad():
        res.conv2.weight.zero_()
        res.conv2.bias.fill_(1.0)
    torch.testing.assert_close(res(x[:, :3]), x[:, :3] + 1)


@pytest.mark.parametrize("dilation, radius", [(1, 2), (2, 4)])
def test_receptive_field_grows_with_dilation(dilation, radius):
    # two dense layers of dilation d reach 2·d pixels; an impulse spreads exactly that far
    block = DRDB(1, 2, 1, dilation=dilation)
    with torch.no_grad():
        for conv in block.dense:
            conv.weight.fill_(1.0)
            conv.bias.zero_()
        block.fuse.weight.fill_(1.0)
        block.fuse.bias.zero_()
    x = torch.zeros(1, 1, 21, 21)
    x[0, 0, 10, 10] = 1.0
    changed = (block(x) - x)[0, 0].abs() > 0
    rows = changed.any(dim=1).nonzero().flatten()
    assert rows.min() == 10 - radius and rows.max() == 10 + radius


def test_gradcheck_float64():
    block = DRDB(2, 2, 2, dilation=2).double()
    x = torch.randn(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    params = [p.detach().clone().requires_grad_() for p in block.parameters()]

    def run(x, w0, b0, w1, b1, wf, bf):
        return drdb(x, [w0, w1], [b0, b1], wf, bf, 2)

    assert torch.autograd.gradcheck(run, (x, *params))
    res_params = [p.detach().double().clone().requires_grad_() for p in ResidualBlock(2).parameters()]
    assert torch.autograd.gradcheck(residual_block, (x, *res_params))


def test_error_messages():
    block = DRDB(4, 2, 2)
    with pytest.raises(ValueError, match="feat must have shape"):
        block(torch.randn(4, 6, 6))
    with pytest.raises(ValueError, match=r"dense_weights\[0\] must be \(g, 3, k, k\)"):
        block(torch.randn(1, 3, 6, 6))
    w, b, fw, fb, _ = _drdb_args(block)
    with pytest.raises(ValueError, match="same length"):
        drdb(torch.randn(1, 4, 6, 6), w, b[:1], fw, fb)
    with pytest.raises(ValueError, match="dilation must be a positive integer"):
        drdb(torch.randn(1, 4, 6, 6), w, b, fw, fb, dilation=0)
    with pytest.raises(ValueError, match=r"fuse_weight must be \(F, F \+ n·g, 1, 1\)"):
        drdb(torch.randn(1, 4, 6, 6), w, b, torch.randn(4, 7, 1, 1), fb)
    with pytest.raises(ValueError, match="growth must be a positive integer"):
        DRDB(4, 2, 0)
    with pytest.raises(ValueError, match=r"weight1 must be \(F, F, k, k\)"):
        ResidualBlock(3)(torch.randn(1, 4, 5, 5))
