"""Bilateral grids: the classic edge-aware filter (splat, blur, slice) and HDRNet's learned slicing.

A bilateral grid is a coarse 3-D array over (intensity, row, column). Image pixels are *splatted*
into it at their position and guide value, the grid is *blurred*, and values are read back by
*slicing*: trilinear interpolation at each pixel's (x, y, guide) position. HDRNet predicts the grid
with a CNN instead of splatting it, and each grid cell holds a 3×4 affine colour transform.

Layout (channels-first everywhere in hdredu):
    grid   (B, C, D, Gh, Gw)  C channels (12 = a 3×4 affine matrix for HDRNet), D intensity bins,
                              Gh × Gw spatial cells; the 5-D layout ``F.grid_sample`` expects.
    guide  (B, 1, H, W)       values in [0, 1]; 0 is the bottom of the lowest bin, 1 the top of the highest.
    coeffs (B, C, H, W)       one sliced value per pixel and channel.
The official TensorFlow code stores grids as (B, Gh, Gw, D, C); :func:`grid_from_official` and
:func:`grid_to_official` are the only places that convert.

Coordinate conventions (google/hdrnet ``bilateral_slice`` kernel), pixel (row, col) of an H × W image:
    gx = (col + 0.5) · Gw / W,   gy = (row + 0.5) · Gh / H,   gz = guide · D.
Grid samples sit at cell centres (integer + 0.5); weights are tents max(1 − |Δ|, 0) over the 2 × 2 × 2
neighbours; indices outside the grid are clamped (edge replicate). The grid is stretched over the
whole image whatever its aspect ratio.

Paper: Chen, Paris, Durand, "Real-time edge-aware image processing with the bilateral grid", SIGGRAPH 2007;
Gharbi, Chen, Barron, Hasinoff, Durand, "Deep Bilateral Learning for Real-Time Image Enhancement", SIGGRAPH 2017.
Introduced in notebooks/02_hdrnet.ipynb, sections *The bilateral grid from scratch* and *Learned slicing*.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from hdredu.utils import check_shape

# The official kernel smooths |Δz| to sqrt(Δz² + ε) so the guide gradient exists at the tent's peak.
OFFICIAL_Z_EPSILON = 1e-8


# ---------------------------------------------------------------------------------------------
# Argument checks shared by every op
# ---------------------------------------------------------------------------------------------


def _check_grid_and_guide(grid: torch.Tensor, guide: torch.Tensor) -> None:
    """Raise a ValueError naming the argument when grid or guide has the wrong shape or range."""
    check_shape(grid, "B C D Gh Gw", "grid")
    _check_guide(guide)
    if grid.shape[0] != guide.shape[0]:
        raise ValueError(f"grid and guide must have the same batch size; got {grid.shape[0]} and {guide.shape[0]}")


def _check_guide(guide: torch.Tensor, name: str = "guide") -> None:
    """The guide must be (B, 1, H, W) with finite values in [0, 1]."""
    if not isinstance(guide, torch.Tensor) or guide.dim() != 4 or guide.shape[1] != 1:
        got = tuple(guide.shape) if isinstance(guide, torch.Tensor) else type(guide).__name__
        raise ValueError(f"{name} must be (B, 1, H, W) with values in [0, 1]; got {got}")
    low, high = torch.aminmax(guide.detach())
    if not (low >= 0.0 and high <= 1.0):  # also False for NaN
        raise ValueError(f"{name} must be (B, 1, H, W) with values in [0, 1]; got values in [{low:.4g}, {high:.4g}]")


# ---------------------------------------------------------------------------------------------
# Layout conversion (the one place that knows the official NHWC grid layout)
# ---------------------------------------------------------------------------------------------


def grid_from_official(grid: torch.Tensor) -> torch.Tensor:
    """Official TF layout (B, Gh, Gw, D, C) → hdredu layout (B, C, D, Gh, Gw)."""
    check_shape(grid, "B Gh Gw D C", "grid")
    return grid.permute(0, 4, 3, 1, 2).contiguous()


def grid_to_official(grid: torch.Tensor) -> torch.Tensor:
    """hdredu layout (B, C, D, Gh, Gw) → official TF layout (B, Gh, Gw, D, C)."""
    check_shape(grid, "B C D Gh Gw", "grid")
    return grid.permute(0, 3, 4, 2, 1).contiguous()


# ---------------------------------------------------------------------------------------------
# Slicing: the fast grid_sample version and the literal loop reference
# ---------------------------------------------------------------------------------------------


def _normalised_pixel_centres(
    guide: torch.Tensor, image_height: int | None, row_offset: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel centres in grid_sample's normalised units: x = 2 (col + 0.5) / W − 1, y = 2 (row + 0.5) / H − 1.

    Args:
        guide: (B, 1, h, W), rows [row_offset, row_offset + h) of an image ``image_height`` rows tall
            (None: the guide is the whole image).
    Returns:
        x (W,) and y (h,), in the guide's dtype and device.
    """
    height, width = guide.shape[2:]
    image_height = height if image_height is None else image_height
    if row_offset < 0 or row_offset + height > image_height:
        raise ValueError(
            f"rows [row_offset, row_offset + h) = [{row_offset}, {row_offset + height}) must lie in [0, image_height = {image_height})"
        )
    rows = torch.arange(row_offset, row_offset + height, dtype=guide.dtype, device=guide.device)
    cols = torch.arange(width, dtype=guide.dtype, device=guide.device)
    return (cols + 0.5) * (2.0 / width) - 1.0, (rows + 0.5) * (2.0 / image_height) - 1.0


def slice_coordinates(guide: torch.Tensor, image_height: int | None = None, row_offset: int = 0) -> torch.Tensor:
    """Sampling positions for ``F.grid_sample``: (B, 1, H, W, 3), last axis ordered (x, y, z).

    With ``align_corners=False`` grid_sample maps a normalised coordinate u ∈ [−1, 1] to the sample
    position ((u + 1) · size − 1) / 2 in units of cells with samples at integer positions. Choosing
        x = 2 (col + 0.5) / W − 1,   y = 2 (row + 0.5) / H − 1,   z = 2 · guide − 1
    gives (col + 0.5) · Gw / W − 0.5 = gx − 0.5, i.e. exactly the kernel's cell-centred gx (same for y, z).

    Args:
        guide: (B, 1, h, W) in [0, 1]: the whole image (h = H), or rows [row_offset, row_offset + h) of it.
        image_height: H, rows of the whole image (default h: the guide is the whole image).
        row_offset: index of the guide's first row in the whole image.
    Returns:
        (B, 1, h, W, 3) normalised coordinates, same dtype and device as ``guide``.
    """
    batch, _, height, width = guide.shape
    x, y = _normalised_pixel_centres(guide, image_height, row_offset)  # (W,), (h,)
    x = x.view(1, 1, 1, width).expand(batch, 1, height, width)  # (B, 1, h, W)
    y = y.view(1, 1, height, 1).expand(batch, 1, height, width)  # (B, 1, h, W)
    z = 2.0 * guide - 1.0  # the guide picks the depth: [0, 1] → [−1, 1]  (B, 1, h, W)
    return torch.stack([x, y, z], dim=-1)  # (B, 1, h, W, 3), order (x, y, z) = (W, H, D)


def bilateral_slice(
    grid: torch.Tensor, guide: torch.Tensor, image_height: int | None = None, row_offset: int = 0
) -> torch.Tensor:
    """Slice a bilateral grid at every pixel: trilinear interpolation at (gx, gy, guide · D).

    coeffs[b, c, row, col] = Σ_corners tent(Δx) tent(Δy) tent(Δz) · grid[b, c, z_i, y_i, x_i]
    computed by ``F.grid_sample`` (5-D 'bilinear' is trilinear) with ``align_corners=False`` and
    ``padding_mode='border'`` (= the kernel's clamped indices). Differentiable in grid and guide.
    Slicing a band of rows (``image_height``, ``row_offset``) gives exactly those rows of the whole
    slice, so large images can be processed in cache-sized chunks.

    Args:
        grid: (B, C, D, Gh, Gw).
        guide: (B, 1, h, W) in [0, 1], the whole image (h = H) or a band of its rows.
        image_height: H, rows of the whole image (default h).
        row_offset: index of the guide's first row in the whole image.
    Returns:
        coeffs (B, C, h, W).
    """
    _check_grid_and_guide(grid, guide)
    coords = slice_coordinates(guide, image_height, row_offset).to(grid.dtype)  # (B, 1, h, W, 3)
    sliced = F.grid_sample(grid, coords, mode="bilinear", padding_mode="border", align_corners=False)  # (B, C, 1, h, W)
    return sliced.squeeze(2)  # (B, C, h, W)


def bilateral_slice_stacked(
    grid: torch.Tensor, guide: torch.Tensor, image_height: int | None = None, row_offset: int = 0
) -> torch.Tensor:
    """The same slice as :func:`bilateral_slice`, by two 2-D bilinear samples instead of one 3-D one.

    Trilinear = linear in z between two bilinear (x, y) samples of the depth slices z₀ = ⌊gz − 0.5⌋ and
    z₀ + 1 (clamped). The D depth slices are stacked top to bottom in one tall 2-D image, each with one
    replicated row above and below so a bilinear sample never bleeds into the next slice; then one
    ``F.grid_sample`` call reads both neighbours of every pixel. PyTorch's CPU 2-D sampler is vectorised
    and its 3-D sampler is not, so this is about 3× faster on a CPU; values agree to float rounding.

    Args:
        grid: (B, C, D, Gh, Gw).
        guide: (B, 1, h, W) in [0, 1], the whole image (h = H) or a band of its rows.
        image_height: H, rows of the whole image (default h).
        row_offset: index of the guide's first row in the whole image.
    Returns:
        coeffs (B, C, h, W). Differentiable in grid and guide.
    """
    _check_grid_and_guide(grid, guide)
    batch, channels, depth, grid_h, grid_w = grid.shape
    height, width = guide.shape[2:]
    x, y = _normalised_pixel_centres(guide, image_height, row_offset)  # (W,), (h,)
    # depth slices stacked in a column, one replicated row above and below each   (B, C, D·(Gh + 2), Gw)
    column = F.pad(grid, (0, 0, 1, 1, 0, 0), mode="replicate").reshape(batch, channels, depth * (grid_h + 2), grid_w)
    # depth sample position pz = gz − 0.5 = guide · D − 0.5; neighbours z₀ = ⌊pz⌋ and z₀ + 1, weight of z₀ + 1 = pz − z₀
    pz = guide[:, 0].to(grid.dtype) * depth - 0.5  # (B, h, W)
    lower = torch.floor(pz.detach())  # no gradient through the choice of cells
    upper_weight = (pz - lower).unsqueeze(1)  # (B, 1, h, W), carries the guide's gradient
    # row r = gy − 0.5 of slice z sits at row z·(Gh + 2) + 1 + r of the column; normalised for grid_sample
    # (align_corners=False): 2·(row + 0.5) / (D·(Gh + 2)) − 1 = z · 2/D + row_term
    rows_in_slice = (y.to(grid.dtype) + 1.0) * grid_h / 2.0 - 0.5  # gy − 0.5   (h,)
    row_term = ((2.0 * (1.0 + rows_in_slice) + 1.0) / (depth * (grid_h + 2)) - 1.0).view(1, height, 1)  # (1, h, 1)
    coords = grid.new_empty(batch, 2 * height, width, 2)  # lower slice's samples on top, upper slice's below
    coords[..., 0] = x.to(grid.dtype)  # same x for both
    coords[:, :height, :, 1] = lower.clamp(0, depth - 1) * (2.0 / depth) + row_term
    coords[:, height:, :, 1] = (lower + 1).clamp(0, depth - 1) * (2.0 / depth) + row_term
    sampled = F.grid_sample(column, coords, mode="bilinear", padding_mode="border", align_corners=False)  # (B, C, 2h, W)
    below, above = sampled.chunk(2, dim=2)  # (B, C, h, W) each
    return below + upper_weight * (above - below)  # linear in z


def _tent(delta: float) -> float:
    """Linear interpolation weight max(1 − |Δ|, 0) for a sample |Δ| cells away."""
    return max(1.0 - abs(delta), 0.0)


def bilateral_slice_reference(
    grid: torch.Tensor, guide: torch.Tensor, z_epsilon: float = 0.0
) -> torch.Tensor:
    """Slow loop reference: the official kernel's formula written out pixel by pixel (float64).

    For each pixel: gx = (col + 0.5)·Gw/W, gy = (row + 0.5)·Gh/H, gz = guide·D; for the 8 cells
    (x_i, y_i, z_i) around (gx − 0.5, gy − 0.5, gz − 0.5), weight
    tent(x_i + 0.5 − gx) · tent(y_i + 0.5 − gy) · max(1 − sqrt((z_i + 0.5 − gz)² + ε), 0),
    read the cell at indices clamped into the grid, and sum. ε = 0 gives pure tents (what
    :func:`bilateral_slice` computes); ε = ``OFFICIAL_Z_EPSILON`` is the official smoothing.

    Args:
        grid: (B, C, D, Gh, Gw).
        guide: (B, 1, H, W) in [0, 1].
        z_epsilon: ε in the smoothed depth weight.
    Returns:
        coeffs (B, C, H, W) float64 on the CPU. Not differentiable; use for tests and teaching only.
    """
    _check_grid_and_guide(grid, guide)
    cells = grid.detach().cpu().double().numpy()  # (B, C, D, Gh, Gw)
    guide_np = guide.detach().cpu().double().numpy()  # (B, 1, H, W)
    batch, channels, depth, grid_h, grid_w = cells.shape
    height, width = guide_np.shape[2:]
    out = np.zeros((batch, channels, height, width))
    for b in range(batch):
        for row in range(height):
            for col in range(width):
                gx = (col + 0.5) * grid_w / width  # cell-centred grid coordinates
                gy = (row + 0.5) * grid_h / height
                gz = guide_np[b, 0, row, col] * depth
                fx, fy, fz = (math.floor(g - 0.5) for g in (gx, gy, gz))  # lower corner index
                for xi in (fx, fx + 1):
                    wx = _tent(xi + 0.5 - gx)
                    for yi in (fy, fy + 1):
                        wy = _tent(yi + 0.5 - gy)
                        for zi in (fz, fz + 1):
                            wz = max(1.0 - math.sqrt((zi + 0.5 - gz) ** 2 + z_epsilon), 0.0)
                            # clamp indices: the grid's edge cells extend to infinity
                            xc = min(max(xi, 0), grid_w - 1)
                            yc = min(max(yi, 0), grid_h - 1)
                            zc = min(max(zi, 0), depth - 1)
                            out[b, :, row, col] += wx * wy * wz * cells[b, :, zc, yc, xc]
    return torch.from_numpy(out)


# ---------------------------------------------------------------------------------------------
# Apply: the per-pixel 3×4 affine colour transform
# ---------------------------------------------------------------------------------------------


def apply_coeffs(coeffs: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Apply a 3 × 4 affine colour transform per pixel:  out_i = Σ_{j<3} A[i, j] · in_j + A[i, 3].

    Coefficients are output-major: channel 4·i + j holds A[i, j] (i = output R, G, B; j = input R, G, B,
    then the offset). HDRNet trained from scratch may use any fixed order; this is hdredu's.

    Args:
        coeffs: (B, 12, H, W).
        image: (B, 3, H, W).
    Returns:
        (B, 3, H, W).
    """
    sizes = check_shape(coeffs, "B 12 H W", "coeffs")
    check_shape(image, "B 3 H W", "image")
    if image.shape[0] != sizes["B"] or image.shape[2:] != coeffs.shape[2:]:
        raise ValueError(
            f"coeffs and image must share batch and spatial size; got coeffs {tuple(coeffs.shape)}, "
            f"image {tuple(image.shape)}"
        )
    matrix = coeffs.view(sizes["B"], 3, 4, sizes["H"], sizes["W"])  # (B, i=3, j=4, H, W)
    # A[i, 3] + Σ_j A[i, j] in_j, one input channel at a time (no (B, 3, 3, H, W) temporary)   (B, 3, H, W)
    red, green, blue = image[:, 0:1], image[:, 1:2], image[:, 2:3]  # (B, 1, H, W) each
    return matrix[:, :, 3] + matrix[:, :, 0] * red + matrix[:, :, 1] * green + matrix[:, :, 2] * blue


# ---------------------------------------------------------------------------------------------
# The classic bilateral grid: splat, blur, slice
# ---------------------------------------------------------------------------------------------


def bilateral_splat(values: torch.Tensor, guide: torch.Tensor, grid_size: tuple[int, int, int]) -> torch.Tensor:
    """Splat pixel values into a grid with the slice's own tent weights (the adjoint of slicing).

    Each pixel adds value · weight to the 8 cells around (gx, gy, guide · D), with the same weights
    and clamped indices :func:`bilateral_slice` reads with, so ⟨splat(u), g⟩ = ⟨u, slice(g)⟩.

    Args:
        values: (B, C, H, W).
        guide: (B, 1, H, W) in [0, 1].
        grid_size: (D, Gh, Gw).
    Returns:
        grid (B, C, D, Gh, Gw).
    """
    sizes = check_shape(values, "B C H W", "values")
    _check_guide(guide)
    if guide.shape[0] != sizes["B"] or guide.shape[2:] != values.shape[2:]:
        raise ValueError(f"guide must be (B, 1, H, W) matching values {tuple(values.shape)}; got {tuple(guide.shape)}")
    if len(grid_size) != 3 or min(grid_size) < 1:
        raise ValueError(f"grid_size must be (D, Gh, Gw) with positive sizes; got {grid_size}")
    depth, grid_h, grid_w = (int(s) for s in grid_size)
    batch, channels, height, width = values.shape
    dtype, device = values.dtype, values.device

    # sample positions in cell units (samples at integers), as in slice_coordinates: (g − 0.5)
    px = ((torch.arange(width, dtype=dtype, device=device) + 0.5) * grid_w / width - 0.5).view(1, 1, width)
    py = ((torch.arange(height, dtype=dtype, device=device) + 0.5) * grid_h / height - 0.5).view(1, height, 1)
    pz = guide[:, 0].to(dtype) * depth - 0.5  # (B, H, W)
    px, py = px.expand(batch, height, width), py.expand(batch, height, width)

    grid = values.new_zeros(batch, channels, depth * grid_h * grid_w)
    flat_values = values.reshape(batch, channels, height * width)  # (B, C, H·W)
    for corner_x in (0, 1):
        x_index, x_weight = _corner(px, corner_x, grid_w)
        for corner_y in (0, 1):
            y_index, y_weight = _corner(py, corner_y, grid_h)
            for corner_z in (0, 1):
                z_index, z_weight = _corner(pz, corner_z, depth)
                cell = (z_index * grid_h + y_index) * grid_w + x_index  # flat cell index (B, H, W)
                weight = (x_weight * y_weight * z_weight).reshape(batch, 1, height * width)  # (B, 1, H·W)
                index = cell.reshape(batch, 1, height * width).expand(batch, channels, height * width)
                grid = grid.scatter_add(2, index, flat_values * weight)  # (B, C, D·Gh·Gw)
    return grid.view(batch, channels, depth, grid_h, grid_w)


def _corner(position: torch.Tensor, offset: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Index (clamped into [0, size − 1]) and tent weight of the lower (0) or upper (1) neighbour.

    Args:
        position: sample position in cell units, samples at integers, any shape.
    Returns:
        (index as int64, weight) with the shape of ``position``.
    """
    lower = torch.floor(position)
    index = lower + offset
    weight = (1.0 - (position - index).abs()).clamp(min=0.0)
    return index.long().clamp(0, size - 1), weight


def blur_grid(grid: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Separable Gaussian blur of a grid along depth, rows and columns (σ in cells, zero padding).

    Zero padding is right for homogeneous grids: the weight channel blurs the same way, so the
    normalisation after slicing undoes the loss at the grid's edges.

    Args:
        grid: (B, C, D, Gh, Gw).
        sigma: standard deviation in cells (> 0); the kernel spans ±ceil(2σ) cells.
    Returns:
        (B, C, D, Gh, Gw).
    """
    sizes = check_shape(grid, "B C D Gh Gw", "grid")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0 (in grid cells); got {sigma}")
    radius = math.ceil(2.0 * sigma)
    taps = torch.arange(-radius, radius + 1, dtype=grid.dtype, device=grid.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()  # (K,)
    # fold channels into the batch so one single-channel conv3d blurs them all
    blurred = grid.reshape(sizes["B"] * sizes["C"], 1, *grid.shape[2:])  # (B·C, 1, D, Gh, Gw)
    for axis in range(3):  # depth, rows, columns
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = kernel.numel()
        padding = [0, 0, 0]
        padding[axis] = radius
        blurred = F.conv3d(blurred, kernel.view(shape), padding=tuple(padding))
    return blurred.view_as(grid)


def bilateral_grid_filter(
    image: torch.Tensor,
    guide: torch.Tensor,
    sigma_spatial: float,
    sigma_range: float,
    blur_sigma: float = 1.0,
) -> torch.Tensor:
    """Edge-aware smoothing with a bilateral grid: splat (value, 1), blur, slice, divide.

    Following Chen et al. (2007) a cell spans σ_s pixels and a bin spans σ_r guide units, and the
    grid is blurred by ``blur_sigma`` cells. Homogeneous coordinates: splat [value · 1, 1], and after
    slicing divide the values by the sliced weight, so the result is a weighted average.

    Args:
        image: (B, C, H, W) values to filter.
        guide: (B, 1, H, W) in [0, 1] (e.g. the image's luminance) deciding what counts as an edge.
        sigma_spatial: cell size in pixels (≥ 1).
        sigma_range: bin size in guide units, in (0, 1].
        blur_sigma: blur of the grid in cells.
    Returns:
        (B, C, H, W) filtered image.
    """
    sizes = check_shape(image, "B C H W", "image")
    if not sigma_spatial >= 1:
        raise ValueError(f"sigma_spatial must be ≥ 1 pixel; got {sigma_spatial}")
    if not 0 < sigma_range <= 1:
        raise ValueError(f"sigma_range must be in (0, 1] (guide units); got {sigma_range}")
    grid_size = (
        math.ceil(1.0 / sigma_range),  # D intensity bins
        math.ceil(sizes["H"] / sigma_spatial),  # Gh
        math.ceil(sizes["W"] / sigma_spatial),  # Gw
    )
    homogeneous = torch.cat([image, torch.ones_like(image[:, :1])], dim=1)  # [value, 1]  (B, C + 1, H, W)
    grid = blur_grid(bilateral_splat(homogeneous, guide, grid_size), blur_sigma)  # (B, C + 1, D, Gh, Gw)
    sliced = bilateral_slice(grid, guide)  # (B, C + 1, H, W)
    # every pixel splats weight into the cells it reads back from, so the weight is > 0
    return sliced[:, :-1] / sliced[:, -1:].clamp(min=torch.finfo(sliced.dtype).tiny)  # (B, C, H, W)


def bilateral_filter_bruteforce(
    image: torch.Tensor, guide: torch.Tensor, sigma_spatial: float, sigma_range: float, radius: int | None = None
) -> torch.Tensor:
    """The bilateral filter evaluated directly (Tomasi and Manduchi 1998), for comparison.

    out(p) = Σ_q G_σs(‖p − q‖) G_σr(guide(p) − guide(q)) image(q) / Σ_q G_σs G_σr,
    summed over the pixels q of the image within ``radius`` of p (one shifted copy per offset).

    Args:
        image: (B, C, H, W).
        guide: (B, 1, H, W) in [0, 1].
        sigma_spatial: spatial standard deviation in pixels (> 0).
        sigma_range: range standard deviation in guide units (> 0).
        radius: window half-size; default ceil(3 σ_s).
    Returns:
        (B, C, H, W). Costs O(radius² · H · W).
    """
    sizes = check_shape(image, "B C H W", "image")
    _check_guide(guide)
    if guide.shape[0] != sizes["B"] or guide.shape[2:] != image.shape[2:]:
        raise ValueError(f"guide must be (B, 1, H, W) matching image {tuple(image.shape)}; got {tuple(guide.shape)}")
    if not (sigma_spatial > 0 and sigma_range > 0):
        raise ValueError(f"sigma_spatial and sigma_range must be > 0; got {sigma_spatial}, {sigma_range}")
    radius = math.ceil(3.0 * sigma_spatial) if radius is None else int(radius)
    height, width = sizes["H"], sizes["W"]
    pad = (radius, radius, radius, radius)
    padded_image = F.pad(image, pad)  # zeros outside; their weight is zeroed by `inside`
    padded_guide = F.pad(guide, pad)
    inside = F.pad(torch.ones_like(guide), pad)  # 1 on image pixels, 0 on padding
    total = torch.zeros_like(image)
    norm = torch.zeros_like(guide)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            spatial = math.exp(-(dx * dx + dy * dy) / (2.0 * sigma_spatial**2))
            window = (slice(None), slice(None), slice(radius + dy, radius + dy + height), slice(radius + dx, radius + dx + width))
            range_weight = torch.exp(-((padded_guide[window] - guide) ** 2) / (2.0 * sigma_range**2))
            weight = spatial * range_weight * inside[window]  # (B, 1, H, W)
            total = total + weight * padded_image[window]
            norm = norm + weight
    return total / norm  # the centre pixel has weight 1, so norm ≥ 1
