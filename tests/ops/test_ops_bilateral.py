"""Tests for hdredu.ops.bilateral: slicing conventions, the loop reference, gradients, fitting, the classic grid."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from hdredu.ops.bilateral import (
    OFFICIAL_Z_EPSILON,
    apply_coeffs,
    bilateral_filter_bruteforce,
    bilateral_grid_filter,
    bilateral_slice,
    bilateral_slice_reference,
    bilateral_slice_stacked,
    bilateral_splat,
    blur_grid,
    grid_from_official,
    grid_to_official,
)


def random_problem(batch=2, channels=5, depth=4, grid_h=3, grid_w=4, height=7, width=9, dtype=torch.float64, seed=0):
    """A random grid and a random guide covering [0, 1] including both ends."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.randn(batch, channels, depth, grid_h, grid_w, generator=generator, dtype=dtype)
    guide = torch.rand(batch, 1, height, width, generator=generator, dtype=dtype)
    guide[0, 0, 0, 0], guide[0, 0, -1, -1] = 0.0, 1.0  # the clamped ends
    return grid, guide


def guide_away_from_kinks(shape, depth, seed=0, dtype=torch.float64):
    """Guide values strictly inside tent segments: g·D − 0.5 at least 0.1 from an integer, and away from the ends."""
    generator = torch.Generator().manual_seed(seed)
    segment = torch.randint(0, depth - 1, shape, generator=generator)  # which pair of bin centres
    fraction = 0.1 + 0.8 * torch.rand(shape, generator=generator, dtype=dtype)  # position between them
    return (segment + 0.5 + fraction) / depth


# ------------------------------------------------------------------ smoke and shapes


def test_slice_shape_dtype_and_device():
    grid, guide = random_problem(batch=3, channels=12, depth=8, grid_h=5, grid_w=6, height=11, width=13, dtype=torch.float32)
    coeffs = bilateral_slice(grid, guide)
    assert coeffs.shape == (3, 12, 11, 13)
    assert coeffs.dtype == torch.float32 and torch.isfinite(coeffs).all()


def test_apply_and_splat_and_filter_shapes():
    coeffs = torch.randn(2, 12, 5, 6)
    image = torch.rand(2, 3, 5, 6)
    assert apply_coeffs(coeffs, image).shape == (2, 3, 5, 6)
    guide = torch.rand(2, 1, 5, 6)
    assert bilateral_splat(image, guide, (4, 2, 3)).shape == (2, 3, 4, 2, 3)
    assert blur_grid(torch.rand(2, 3, 4, 2, 3), 0.7).shape == (2, 3, 4, 2, 3)
    assert bilateral_grid_filter(image, guide, sigma_spatial=2, sigma_range=0.25).shape == (2, 3, 5, 6)
    assert bilateral_filter_bruteforce(image, guide, sigma_spatial=1, sigma_range=0.2).shape == (2, 3, 5, 6)


# ------------------------------------------------------------------ error messages


def test_slice_rejects_bad_grid():
    with pytest.raises(ValueError, match=r"grid must have shape \(B C D Gh Gw\)"):
        bilateral_slice(torch.zeros(1, 12, 4, 4), torch.zeros(1, 1, 4, 4))


def test_slice_rejects_guide_with_three_channels():
    with pytest.raises(ValueError, match=r"guide must be \(B, 1, H, W\) with values in \[0, 1\]; got \(1, 3, 4, 4\)"):
        bilateral_slice(torch.zeros(1, 12, 8, 4, 4), torch.zeros(1, 3, 4, 4))


def test_slice_rejects_guide_out_of_range():
    with pytest.raises(ValueError, match=r"guide must be .* values in \[0, 1\]; got values in \[0, 2"):
        bilateral_slice(torch.zeros(1, 12, 8, 4, 4), torch.linspace(0, 2, 16).view(1, 1, 4, 4))
    with pytest.raises(ValueError, match="guide must be"):
        bilateral_slice(torch.zeros(1, 12, 8, 4, 4), torch.full((1, 1, 4, 4), float("nan")))


def test_slice_rejects_batch_mismatch():
    with pytest.raises(ValueError, match="same batch size; got 2 and 1"):
        bilateral_slice(torch.zeros(2, 12, 8, 4, 4), torch.zeros(1, 1, 4, 4))


def test_apply_coeffs_errors():
    with pytest.raises(ValueError, match=r"coeffs must have shape \(B 12 H W\)"):
        apply_coeffs(torch.zeros(1, 9, 4, 4), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"image must have shape \(B 3 H W\)"):
        apply_coeffs(torch.zeros(1, 12, 4, 4), torch.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match="coeffs and image must share batch and spatial size"):
        apply_coeffs(torch.zeros(1, 12, 4, 4), torch.zeros(1, 3, 4, 5))


def test_splat_blur_filter_errors():
    with pytest.raises(ValueError, match=r"grid_size must be \(D, Gh, Gw\)"):
        bilateral_splat(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4), (4, 0, 2))
    with pytest.raises(ValueError, match="guide must be"):
        bilateral_splat(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 5), (4, 2, 2))
    with pytest.raises(ValueError, match="sigma must be > 0"):
        blur_grid(torch.zeros(1, 1, 2, 2, 2), 0.0)
    with pytest.raises(ValueError, match=r"sigma_range must be in \(0, 1\]"):
        bilateral_grid_filter(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4), 2, 0.0)
    with pytest.raises(ValueError, match="sigma_spatial must be ≥ 1 pixel"):
        bilateral_grid_filter(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4), 0.5, 0.1)
    with pytest.raises(ValueError, match="sigma_spatial and sigma_range must be > 0"):
        bilateral_filter_bruteforce(torch.zeros(1, 3, 4, 4), torch.zeros(1, 1, 4, 4), 1.0, 0.0)


# ------------------------------------------------------------------ layout conversion


def test_official_layout_round_trip_and_element_positions():
    grid = torch.randn(2, 12, 8, 3, 5)  # (B, C, D, Gh, Gw)
    official = grid_to_official(grid)
    assert official.shape == (2, 3, 5, 8, 12)  # (B, Gh, Gw, D, C)
    assert official[1, 2, 4, 7, 11] == grid[1, 11, 7, 2, 4]
    assert official[0, 1, 3, 2, 5] == grid[0, 5, 2, 1, 3]
    assert torch.equal(grid_from_official(official), grid)


# ------------------------------------------------------------------ known answers


def test_known_answer_constant_per_depth():
    """google/hdrnet's test: a grid equal to k at depth k, sliced at the centre of bin k, returns k."""
    depth = 8
    grid = torch.arange(depth, dtype=torch.float32).view(1, 1, depth, 1, 1).expand(2, 3, depth, 4, 5).contiguous()
    bins = torch.randint(0, depth, (2, 1, 6, 7), generator=torch.Generator().manual_seed(1))
    guide = (bins.float() + 0.5) / depth
    assert torch.allclose(bilateral_slice(grid, guide), bins.float().expand(2, 3, 6, 7), atol=1e-6)


def test_known_answer_one_cell_per_pixel_reads_cells_in_x_y_z_order():
    """With Gh = H, Gw = W and the guide at bin centres, every pixel reads exactly its own cell.

    A wrong coordinate order (y, x, z), align_corners=True or a guide left in [0, 1] would read other cells.
    """
    depth, height, width = 4, 3, 5  # H ≠ W so a swapped x / y shows
    grid = torch.randn(1, 2, depth, height, width, generator=torch.Generator().manual_seed(2))
    bins = torch.randint(0, depth, (1, 1, height, width), generator=torch.Generator().manual_seed(3))
    guide = (bins.float() + 0.5) / depth
    expected = torch.gather(grid, 2, bins.unsqueeze(1).expand(1, 2, 1, height, width)).squeeze(2)
    assert torch.allclose(bilateral_slice(grid, guide), expected, atol=1e-6)


def test_known_answer_linear_interpolation_between_cell_centres():
    """Two cells across the width: pixels between their centres interpolate linearly, outside they clamp."""
    grid = torch.tensor([0.0, 1.0]).view(1, 1, 1, 1, 2)  # (B, C, D, Gh, Gw) = (1, 1, 1, 1, 2)
    width = 8
    guide = torch.full((1, 1, 1, width), 0.5)
    sliced = bilateral_slice(grid, guide)[0, 0, 0]
    # gx = (col + 0.5) · 2 / 8; cell centres at 0.5 and 1.5
    gx = (torch.arange(width) + 0.5) * 2 / width
    assert torch.allclose(sliced, (gx - 0.5).clamp(0, 1), atol=1e-6)
    assert sliced[0] == 0 and sliced[-1] == 1  # edge pixels are clamped (border padding)


@pytest.mark.parametrize("seed", [0, 1])
def test_identity_grid_returns_input_for_any_guide(seed):
    """The tent weights are a partition of unity, so a grid of identity transforms returns the image."""
    generator = torch.Generator().manual_seed(seed)
    identity = torch.tensor([[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]]).reshape(1, 12, 1, 1, 1)
    grid = identity.expand(2, 12, 8, 4, 6).contiguous()
    image = torch.rand(2, 3, 17, 23, generator=generator)
    guide = torch.rand(2, 1, 17, 23, generator=generator)
    assert torch.allclose(apply_coeffs(bilateral_slice(grid, guide), image), image, atol=1e-6)


def test_apply_coeffs_known_answer_output_major():
    """Channel 4·i + j holds A[i, j]: out_R = 2R + 1, out_G = G − B, out_B = 0.5."""
    matrix = torch.tensor([[2.0, 0, 0, 1], [0, 1, -1, 0], [0, 0, 0, 0.5]])  # (3, 4)
    coeffs = matrix.reshape(1, 12, 1, 1).expand(1, 12, 2, 3)
    image = torch.rand(1, 3, 2, 3, generator=torch.Generator().manual_seed(4))
    red, green, blue = image[:, 0], image[:, 1], image[:, 2]
    expected = torch.stack([2 * red + 1, green - blue, torch.full_like(red, 0.5)], dim=1)
    assert torch.allclose(apply_coeffs(coeffs, image), expected, atol=1e-6)


# ------------------------------------------------------------------ grid_sample slice vs the loop reference


@pytest.mark.parametrize(
    "sizes",
    [
        dict(depth=4, grid_h=3, grid_w=4, height=7, width=9),
        dict(depth=8, grid_h=5, grid_w=2, height=6, width=11),  # grid aspect ≠ image aspect
        dict(depth=3, grid_h=6, grid_w=7, height=4, width=5),  # grid finer than the image
    ],
)
def test_slice_matches_loop_reference_float64(sizes):
    grid, guide = random_problem(**sizes)
    reference = bilateral_slice_reference(grid, guide)
    assert (bilateral_slice(grid, guide) - reference).abs().max() < 1e-12


def test_slice_matches_loop_reference_float32():
    grid, guide = random_problem(channels=12, depth=8, grid_h=4, grid_w=5, height=12, width=10, dtype=torch.float32, seed=5)
    reference = bilateral_slice_reference(grid, guide)
    assert (bilateral_slice(grid, guide).double() - reference).abs().max() < 1e-6


def test_slice_close_to_official_smoothed_depth_weight():
    grid, guide = random_problem(seed=6)
    official = bilateral_slice_reference(grid, guide, z_epsilon=OFFICIAL_Z_EPSILON)
    difference = (bilateral_slice(grid, guide) - official).abs().max()
    assert 0 < difference <= 1e-4  # differs (the ε does something) but only by the smoothing


@pytest.mark.parametrize(
    "variant",
    ["align_corners", "zeros_padding", "yxz_order", "guide_not_rescaled"],
)
def test_common_port_mistakes_disagree_with_the_reference(variant):
    """The variants seen in PyTorch ports give visibly different values; ours does not."""
    grid, guide = random_problem(depth=8, grid_h=4, grid_w=5, height=9, width=11, seed=7)
    height, width = guide.shape[2:]
    x = ((torch.arange(width, dtype=grid.dtype) + 0.5) * 2 / width - 1).view(1, 1, width).expand(2, height, width)
    y = ((torch.arange(height, dtype=grid.dtype) + 0.5) * 2 / height - 1).view(1, height, 1).expand(2, height, width)
    z = 2 * guide[:, 0] - 1
    align, padding = False, "border"
    if variant == "align_corners":
        align = True
    elif variant == "zeros_padding":
        padding = "zeros"
    elif variant == "yxz_order":
        x, y = y, x
    elif variant == "guide_not_rescaled":
        z = guide[:, 0]
    coords = torch.stack([x, y, z], -1).unsqueeze(1)
    wrong = F.grid_sample(grid, coords, mode="bilinear", padding_mode=padding, align_corners=align).squeeze(2)
    reference = bilateral_slice_reference(grid, guide)
    assert (wrong - reference).abs().max() > 0.05
    assert (bilateral_slice(grid, guide) - reference).abs().max() < 1e-12


def test_slicing_bands_of_rows_equals_the_whole_slice():
    grid, guide = random_problem(depth=8, grid_h=4, grid_w=5, height=13, width=9, seed=22)
    whole = bilateral_slice(grid, guide)
    bands = [bilateral_slice(grid, guide[:, :, start : start + 5], 13, start) for start in range(0, 13, 5)]
    assert torch.equal(torch.cat(bands, dim=2), whole)


def test_band_outside_the_image_is_rejected():
    grid, guide = random_problem()
    with pytest.raises(ValueError, match=r"rows \[row_offset, row_offset \+ h\) = \[3, 10\) must lie in \[0, image_height = 8\)"):
        bilateral_slice(grid, guide, image_height=8, row_offset=3)


@pytest.mark.parametrize(
    "sizes",
    [dict(depth=4, grid_h=3, grid_w=4, height=7, width=9), dict(depth=8, grid_h=5, grid_w=2, height=6, width=11)],
)
def test_stacked_slice_matches_the_loop_reference(sizes):
    grid, guide = random_problem(**sizes, seed=23)
    assert (bilateral_slice_stacked(grid, guide) - bilateral_slice_reference(grid, guide)).abs().max() < 1e-12
    grid32, guide32 = grid.float(), guide.float()
    assert (bilateral_slice_stacked(grid32, guide32).double() - bilateral_slice_reference(grid32, guide32)).abs().max() < 1e-5


def test_stacked_slice_in_bands_and_its_gradients():
    grid, guide = random_problem(channels=12, depth=8, grid_h=4, grid_w=5, height=10, width=9, seed=24)
    bands = [bilateral_slice_stacked(grid, guide[:, :, start : start + 4], 10, start) for start in (0, 4, 8)]
    assert torch.allclose(torch.cat(bands, dim=2), bilateral_slice(grid, guide), atol=1e-12)
    small_grid = torch.randn(1, 2, 4, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(25))
    small_guide = guide_away_from_kinks((1, 1, 7, 9), depth=4, seed=26)
    small_grid.requires_grad_(True)
    small_guide.requires_grad_(True)
    assert torch.autograd.gradcheck(bilateral_slice_stacked, (small_grid, small_guide), eps=1e-6, atol=1e-5)


# ------------------------------------------------------------------ splat is the adjoint of slice


def test_splat_is_the_adjoint_of_slice():
    grid, guide = random_problem(seed=8)
    upstream = torch.randn(2, 5, 7, 9, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    grid.requires_grad_(True)
    (bilateral_slice(grid, guide) * upstream).sum().backward()  # grid.grad = Sᵀ u
    splatted = bilateral_splat(upstream, guide, grid.shape[2:])
    assert torch.allclose(splatted, grid.grad, atol=1e-12)
    # ⟨S g, u⟩ = ⟨g, Sᵀ u⟩
    assert torch.isclose((bilateral_slice(grid, guide) * upstream).sum(), (grid * splatted).sum(), atol=1e-10)


# ------------------------------------------------------------------ gradients


def test_gradcheck_slice_wrt_grid_and_guide():
    grid = torch.randn(1, 2, 4, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(10))
    guide = guide_away_from_kinks((1, 1, 7, 9), depth=4, seed=11)
    grid.requires_grad_(True)
    guide.requires_grad_(True)
    assert torch.autograd.gradcheck(bilateral_slice, (grid, guide), eps=1e-6, atol=1e-5)


def test_guide_gradient_is_nonzero_inside_the_bins():
    """A guide that cannot learn would make HDRNet's guide network useless; check the gradient flows."""
    grid = torch.randn(1, 2, 4, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(12))
    guide = guide_away_from_kinks((1, 1, 7, 9), depth=4, seed=13).requires_grad_(True)
    bilateral_slice(grid, guide).sum().backward()
    assert (guide.grad.abs() > 0).float().mean() > 0.9


def test_gradcheck_apply_coeffs():
    generator = torch.Generator().manual_seed(14)
    coeffs = torch.randn(1, 12, 3, 4, dtype=torch.float64, generator=generator).requires_grad_(True)
    image = torch.rand(1, 3, 3, 4, dtype=torch.float64, generator=generator).requires_grad_(True)
    assert torch.autograd.gradcheck(apply_coeffs, (coeffs, image), eps=1e-6, atol=1e-5)


def test_gradcheck_splat_wrt_values():
    generator = torch.Generator().manual_seed(15)
    values = torch.randn(1, 2, 5, 6, dtype=torch.float64, generator=generator).requires_grad_(True)
    guide = torch.rand(1, 1, 5, 6, dtype=torch.float64, generator=generator)
    assert torch.autograd.gradcheck(lambda v: bilateral_splat(v, guide, (3, 2, 3)), (values,), eps=1e-6, atol=1e-5)


# ------------------------------------------------------------------ fitting


def test_gradient_descent_recovers_a_known_grid():
    """Slice a known grid; fit a zero grid to the sliced values by gradient descent; get the grid back."""
    generator = torch.Generator().manual_seed(16)
    true_grid = torch.randn(1, 3, 4, 3, 3, generator=generator)
    guide = torch.rand(1, 1, 24, 24, generator=generator)  # covers every cell densely
    target = bilateral_slice(true_grid, guide)
    grid = torch.zeros_like(true_grid, requires_grad=True)
    optimizer = torch.optim.Adam([grid], lr=0.05)
    initial_loss = F.mse_loss(bilateral_slice(grid, guide), target).item()
    for _ in range(600):
        optimizer.zero_grad()
        loss = F.mse_loss(bilateral_slice(grid, guide), target)
        loss.backward()
        optimizer.step()
    assert loss.item() < 1e-6 * initial_loss
    assert (grid.detach() - true_grid).abs().max() < 5e-3


def test_gradient_descent_fits_a_smooth_target_through_the_guide():
    """Fit the grid so the sliced scalar is sin(2π·guide) + x/W: a per-pixel curve learned in the grid."""
    generator = torch.Generator().manual_seed(17)
    guide = torch.rand(1, 1, 32, 32, generator=generator)
    x = torch.linspace(0, 1, 32).view(1, 1, 1, 32)
    target = torch.sin(2 * math.pi * guide) + x
    grid = torch.zeros(1, 1, 16, 4, 4, requires_grad=True)
    optimizer = torch.optim.Adam([grid], lr=0.1)
    for _ in range(300):
        optimizer.zero_grad()
        loss = F.mse_loss(bilateral_slice(grid, guide), target)
        loss.backward()
        optimizer.step()
    assert loss.item() < 2e-3  # target variance ≈ 0.58; a constant fit would leave ≈ 0.58


# ------------------------------------------------------------------ the classic grid filter


def step_image(height=24, width=32, seed=18):
    """Left half dark, right half bright, plus a little noise; the guide is the mean of the channels."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.full((1, 3, height, width), 0.2)
    image[..., width // 2 :] = 0.8
    image = (image + 0.03 * torch.randn(image.shape, generator=generator)).clamp(0, 1)
    return image, image.mean(dim=1, keepdim=True)


def test_blur_grid_is_normalised_and_symmetric():
    grid = torch.zeros(1, 1, 9, 9, 9)
    grid[0, 0, 4, 4, 4] = 1.0
    blurred = blur_grid(grid, sigma=1.0)
    assert torch.isclose(blurred.sum(), torch.tensor(1.0), atol=1e-6)
    assert torch.allclose(blurred, blurred.flip(2), atol=1e-7)
    assert torch.allclose(blurred, blurred.transpose(3, 4), atol=1e-7)
    assert blurred[0, 0, 4, 4, 4] == blurred.max()


def test_grid_filter_keeps_a_constant_image():
    image = torch.full((1, 3, 20, 28), 0.37)
    guide = torch.rand(1, 1, 20, 28, generator=torch.Generator().manual_seed(19))
    assert torch.allclose(bilateral_grid_filter(image, guide, 4, 0.1), image, atol=1e-6)


def test_bruteforce_with_huge_range_sigma_is_a_gaussian_blur():
    image, guide = step_image()
    radius = 3
    bilateral = bilateral_filter_bruteforce(image, guide, sigma_spatial=1.5, sigma_range=1e6, radius=radius)
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel_1d = torch.exp(-(taps**2) / (2 * 1.5**2))
    kernel = (kernel_1d[:, None] * kernel_1d[None, :]).expand(3, 1, -1, -1)
    blurred = F.conv2d(image, kernel, padding=radius, groups=3)
    normaliser = F.conv2d(torch.ones_like(image), kernel, padding=radius, groups=3)  # renormalised at borders
    assert torch.allclose(bilateral, blurred / normaliser, atol=1e-5)


def test_bilateral_filters_preserve_the_edge_and_remove_noise():
    image, guide = step_image()
    clean = torch.where(torch.arange(32) < 16, 0.2, 0.8).expand(1, 3, 24, 32)
    for filtered in (
        bilateral_filter_bruteforce(image, guide, sigma_spatial=3, sigma_range=0.1),
        bilateral_grid_filter(image, guide, sigma_spatial=3, sigma_range=0.1),
    ):
        # the two columns next to the edge keep their sides' levels (a Gaussian blur would average them)
        assert filtered[..., 15].mean() < 0.25 and filtered[..., 16].mean() > 0.75
        assert (filtered - clean).abs().mean() < 0.5 * (image - clean).abs().mean()  # noise halved at least


def test_grid_filter_approximates_the_bruteforce_filter():
    generator = torch.Generator().manual_seed(20)
    image, _ = step_image(32, 40)
    image = (image + 0.2 * torch.rand(1, 3, 1, 40, generator=generator)).clamp(0, 1)  # add a horizontal ramp
    guide = image.mean(dim=1, keepdim=True)
    brute = bilateral_filter_bruteforce(image, guide, sigma_spatial=4, sigma_range=0.1)
    grid = bilateral_grid_filter(image, guide, sigma_spatial=4, sigma_range=0.1)
    mse = F.mse_loss(grid, brute).item()
    assert 10 * math.log10(1 / mse) > 35  # PSNR against the brute-force filter


# ------------------------------------------------------------------ CUDA


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_slice_on_cuda_matches_cpu():
    grid, guide = random_problem(channels=12, depth=8, grid_h=16, grid_w=16, height=64, width=80, dtype=torch.float32)
    cpu = bilateral_slice(grid, guide)
    gpu = bilateral_slice(grid.cuda(), guide.cuda()).cpu()
    assert torch.allclose(cpu, gpu, atol=1e-5)
    values = torch.rand(2, 3, 64, 80, generator=torch.Generator().manual_seed(21))
    splat_cpu = bilateral_splat(values, guide, (8, 16, 16))
    splat_gpu = bilateral_splat(values.cuda(), guide.cuda(), (8, 16, 16)).cpu()
    assert torch.allclose(splat_cpu, splat_gpu, atol=1e-4)
