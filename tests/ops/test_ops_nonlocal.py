"""Tests for hdredu.ops.nonlocal_: the embedded-Gaussian non-local block and its memory formula."""

import math

import pytest
import torch
import torch.nn.functional as F

from hdredu.ops.nonlocal_ import (
    NonLocalBlock,
    nonlocal_attention,
    nonlocal_memory_bytes,
    query_attention,
)


def _weights(channels, embed, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    shapes = [(embed, channels, 1, 1), (embed,)] * 3 + [(channels, embed, 1, 1), (channels,)]
    return [torch.randn(*s, generator=gen, dtype=dtype) * 0.5 for s in shapes]


def _loop_reference(feat, weights, subsample):
    """The non-local block written out pixel by pixel with an explicit softmax (no matrix products)."""
    tw, tb, pw, pb, gw, gb, ow, ob = weights
    batch, _, height, width = feat.shape
    theta = F.conv2d(feat, tw, tb)
    phi, g = F.conv2d(feat, pw, pb), F.conv2d(feat, gw, gb)
    if subsample:
        phi, g = F.max_pool2d(phi, 2, ceil_mode=True), F.max_pool2d(g, 2, ceil_mode=True)
    keys = [(y, x) for y in range(phi.shape[2]) for x in range(phi.shape[3])]
    out = torch.empty_like(feat)
    attn = torch.empty(batch, height * width, len(keys), dtype=feat.dtype)
    for b in range(batch):
        for i in range(height):
            for j in range(width):
                scores = [float((theta[b, :, i, j] * phi[b, :, ky, kx]).sum()) for ky, kx in keys]
                top = max(scores)
                exps = [math.exp(s - top) for s in scores]
                total = sum(exps)
                weights_ij = [e / total for e in exps]
                attn[b, i * width + j] = torch.tensor(weights_ij, dtype=feat.dtype)
                y = sum(w * g[b, :, ky, kx] for w, (ky, kx) in zip(weights_ij, keys))
                out[b, :, i, j] = ow[:, :, 0, 0] @ y + ob + feat[b, :, i, j]
    return out, attn


@pytest.mark.parametrize("subsample", [False, True])
def test_known_answer_against_explicit_softmax_loop(subsample):
    feat = torch.randn(2, 4, 4, 6, dtype=torch.float64)
    weights = _weights(4, 2, torch.float64)
    out, attn = nonlocal_attention(feat, *weights, subsample=subsample, return_attention=True)
    ref_out, ref_attn = _loop_reference(feat, weights, subsample)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(attn, ref_attn)
    assert attn.shape == (2, 24, 6 if subsample else 24)
    torch.testing.assert_close(attn.sum(-1), torch.ones(2, 24, dtype=torch.float64))


def test_odd_sizes_pool_the_last_row_on_its_own():
    # 5 × 3 map subsampled: keys on a 3 × 2 grid (ceil), checked against the loop (which pools the same way)
    feat = torch.randn(1, 4, 5, 3, dtype=torch.float64)
    weights = _weights(4, 2, torch.float64)
    out, attn = nonlocal_attention(feat, *weights, subsample=True, return_attention=True)
    ref_out, ref_attn = _loop_reference(feat, weights, True)
    assert attn.shape == (1, 15, 6)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(attn, ref_attn)
    # the last row of the map is a key of its own: the loop pools it from that row only
    phi = F.conv2d(feat, weights[2], weights[3])
    torch.testing.assert_close(F.max_pool2d(phi, 2, ceil_mode=True)[..., 2, 0], phi[..., 4, :2].amax(-1))
    # N = 15, M = 6, C = 4, C' = 2: the output moment, N·M + 2C'N + 2C'M + 2CN
    assert nonlocal_memory_bytes(5, 3, 4, subsample=True) == 4 * (15 * 6 + 2 * 2 * 15 + 2 * 2 * 6 + 2 * 4 * 15)


def test_query_attention_map():
    attn = torch.rand(2, 6 * 4, 3 * 2).softmax(-1)
    maps = query_attention(attn, 6, 4, row=2, col=3, subsample=True)
    assert maps.shape == (2, 3, 2)
    torch.testing.assert_close(maps.flatten(1), attn[:, 2 * 4 + 3], rtol=0, atol=0)


def test_known_answer_hand_set_weights():
    # 1 channel, θ = φ = identity, g = identity, W_z = 1: pixel values 0 and log 3 on a 1×2 image
    # f(0 → ·) ∝ [e^0, e^0] = [1/2, 1/2]; f(log3 → ·) ∝ [e^0, e^{(log 3)²}]
    a = math.log(3.0)
    feat = torch.tensor([[[[0.0, a]]]], dtype=torch.float64)
    one = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.float64)
    out, attn = nonlocal_attention(feat, one, zero, one, zero, one, zero, one, zero, return_attention=True)
    e = math.exp(a * a)
    expected_attn = torch.tensor([[[0.5, 0.5], [1 / (1 + e), e / (1 + e)]]], dtype=torch.float64)
    torch.testing.assert_close(attn, expected_attn)
    # z_i = Σ_j f_ij x_j + x_i
    expected = torch.tensor([[[[0.5 * a + 0.0, e / (1 + e) * a + a]]]], dtype=torch.float64)
    torch.testing.assert_close(out, expected)


def test_fresh_block_is_the_identity():
    block = NonLocalBlock(8, subsample=True)
    feat = torch.randn(2, 8, 6, 6)
    out, attn = block(feat, return_attention=True)
    torch.testing.assert_close(out, feat, rtol=0, atol=0)
    assert attn.shape == (2, 36, 9)
    # and it is trainable: W_z gets a gradient at the start (y ≠ 0)
    block(feat).square().sum().backward()
    assert block.out.weight.grad.abs().sum() > 0


def test_module_equals_function_and_parameter_count():
    block = NonLocalBlock(6, subsample=False)
    with torch.no_grad():
        block.out.weight.normal_()
    feat = torch.randn(1, 6, 5, 3)
    weights = [block.theta.weight, block.theta.bias, block.phi.weight, block.phi.bias, block.g.weight,
               block.g.bias, block.out.weight, block.out.bias]
    torch.testing.assert_close(block(feat), nonlocal_attention(feat, *weights), rtol=0, atol=0)
    # θ, φ, g: 3 · (6·3 + 3); W_z: 3·6 + 6
    assert sum(p.numel() for p in block.parameters()) == 3 * 21 + 24


def test_gradcheck_float64():
    feat = torch.randn(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    weights = [w.requires_grad_() for w in _weights(2, 1, torch.float64)]
    assert torch.autograd.gradcheck(lambda *a: nonlocal_attention(*a, subsample=True), (feat, *weights))


def test_attention_is_global():
    # one pixel changed far away changes every output pixel (unlike a convolution)
    block = NonLocalBlock(4)
    with torch.no_grad():
        block.out.weight.normal_()
    feat = torch.randn(1, 4, 8, 8)
    moved = feat.clone()
    moved[0, :, 7, 7] += 3.0
    diff = (block(moved) - block(feat)).abs().sum(1)[0]
    assert (diff > 0).all()


def test_memory_formula_values():
    # N = 16·16 = 256, M = 64, C = 8, C' = 4: softmax 2·N·M + C'·N + 2·C'·M wins over N·M + 2C'N + 2C'M + 2CN
    assert nonlocal_memory_bytes(16, 16, 8, subsample=True) == 4 * (2 * 256 * 64 + 4 * 256 + 2 * 4 * 64)
    assert nonlocal_memory_bytes(16, 16, 8, subsample=False, batch=2) == 2 * 4 * (2 * 256**2 + 4 * 256 + 8 * 256)
    # 4 × 4 map with 64 channels: the output moment wins, N = 16, M = 4, C' = 32
    assert nonlocal_memory_bytes(4, 4, 64, subsample=True) == 4 * (16 * 4 + 2 * 32 * 16 + 2 * 32 * 4 + 2 * 64 * 16)
    assert NonLocalBlock(8, subsample=True).memory_bytes(4, 4) == nonlocal_memory_bytes(4, 4, 8, True)
    # a Sony frame at 1/16 (89 × 133 tokens), full attention: ≈ 2 × 0.56 GB
    assert 1.1e9 < nonlocal_memory_bytes(89, 133, 512, subsample=False) < 1.2e9


def _measured_peak_bytes(fn):
    """Peak of live CPU tensor bytes while ``fn`` runs, from the profiler's allocation events."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()
        peak = max(peak, live)
    return peak


@pytest.mark.parametrize("subsample", [False, True])
@pytest.mark.parametrize(("channels", "side"), [(16, 32), (256, 16), (64, 15)])
def test_memory_formula_matches_measured_allocation(subsample, channels, side):
    # (16, 32): the softmax moment is the peak; (256, 16): the output moment; (64, 15): odd, pooled with ceil
    block = NonLocalBlock(channels, subsample=subsample)
    feat = torch.randn(1, channels, side, side)
    with torch.no_grad():
        block(feat)  # warm-up
        measured = _measured_peak_bytes(lambda: block(feat))
    predicted = block.memory_bytes(side, side)
    # measured equal to the byte on torch 2.13 CPU; 1 % slack for other allocator versions
    assert abs(measured - predicted) < 0.01 * predicted, (measured, predicted)


@pytest.mark.cuda
def test_memory_formula_matches_cuda_allocation():
    block = NonLocalBlock(64, subsample=True).cuda()
    feat = torch.randn(1, 64, 64, 64, device="cuda")
    with torch.no_grad():
        block(feat)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        block(feat)
        torch.cuda.synchronize()
    measured = torch.cuda.max_memory_allocated() - base
    predicted = block.memory_bytes(64, 64)
    assert abs(measured - predicted) < 0.1 * predicted, (measured, predicted)


def test_error_messages():
    weights = _weights(4, 2)
    with pytest.raises(ValueError, match=r"the query pixel \(row, col\) must lie in the 4×4 map; got \(4, 0\)"):
        query_attention(torch.rand(1, 16, 4), 4, 4, 4, 0, subsample=True)
    with pytest.raises(ValueError, match=r"attn must have shape \(B 16 4\)"):
        query_attention(torch.rand(1, 16, 16), 4, 4, 0, 0, subsample=True)
    with pytest.raises(ValueError, match=r"phi_weight must be \(C', C, 1, 1\)"):
        nonlocal_attention(torch.randn(1, 4, 4, 4), weights[0], None, torch.randn(3, 4, 1, 1), None, *weights[4:])
    with pytest.raises(ValueError, match=r"out_weight must be \(C, C', 1, 1\) = \(4, 2, 1, 1\)"):
        nonlocal_attention(torch.randn(1, 4, 4, 4), *weights[:6], torch.randn(4, 3, 1, 1), None)
    with pytest.raises(ValueError, match="feat must have 8 channels"):
        NonLocalBlock(8)(torch.randn(1, 4, 4, 4))
    with pytest.raises(ValueError, match="height must be a positive integer"):
        nonlocal_memory_bytes(0, 4, 8, True)
