"""Full-resolution prediction, optionally in overlapping tiles so that memory stays bounded.

A fully convolutional network's output pixel depends only on inputs within its receptive radius r
(43 pixels for the paper AHDRNet). Cut the image into tiles of ``tile × tile`` output pixels, run each on
its tile grown by ``overlap`` pixels on every side (less at the image border, where the untiled network
sees its zero padding too), and keep only the tile's own pixels:

    ┌──────────────┐    input window = tile ± overlap   (clipped to the image)
    │   ┌──────┐   │    output kept  = tile
    │   │ tile │   │
    │   └──────┘   │    overlap ≥ r  ⇒  every kept pixel saw exactly what it sees untiled:
    └──────────────┘                    the stitched image equals the untiled one (no seams, no blending)

Peak activation memory then scales with (tile + 2·overlap)² instead of H·W: a 1000×1500 Kalantari image fits
where a single pass would not (reference/ahdrnet.md §9.4).

Only a model that declares a finite ``receptive_radius`` is tiled. A model with a global path (HDRNet's global
features and low-res copy, global pooling, non-local attention) declares ``receptive_radius = None``: each tile
would see a different global context and the stitched picture would differ from the whole one, so ``predict``
refuses to tile it. Such a model may offer its own memory-frugal full-resolution pass as ``model.process``
(HDRNet computes the low-res stream once and the per-pixel stream in bands); ``predict`` uses it.
Introduced in notebooks/01_ahdrnet.ipynb, section 8 *Full-resolution inference*.
"""

from __future__ import annotations

import torch


def tile_windows(length: int, tile: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Split ``range(length)`` into tiles and their overlapping input windows along one axis.

    Args:
        length: image size along the axis.
        tile: output pixels per tile (the last tile may be shorter).
        overlap: extra context on each side of a tile (clipped at the image border).
    Returns:
        [(start, stop, window_start, window_stop)]: the tile keeps output pixels start:stop, computed from the
        input window window_start:window_stop.
    """
    windows = []
    for start in range(0, length, tile):
        stop = min(start + tile, length)
        windows.append((start, stop, max(start - overlap, 0), min(stop + overlap, length)))
    return windows


def _model_device(model: torch.nn.Module) -> torch.device:
    """Device of the model's first parameter (CPU for a model without parameters)."""
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def predict(model: torch.nn.Module, inputs: torch.Tensor, tile: int | None = None, overlap: int | None = None,
            device=None) -> torch.Tensor:
    """Run ``model`` on full-resolution inputs without gradients, whole or in overlapping tiles.

    Args:
        model: fully convolutional; maps (B, …, H, W) inputs to (B, C, H, W) outputs.
        inputs: (B, …, H, W), e.g. AHDRNet's (B, N, 6, H, W); a single unbatched stack (N, 6, H, W) works too
            when the model needs 5-D input (it is given a batch dimension and gets it removed again).
        tile: output tile side in pixels; None = the whole image in one pass (through ``model.process`` when
            the model has one). Only models with a finite ``receptive_radius`` can be tiled.
        overlap: context pixels around each tile; default ``model.receptive_radius`` (then tiled == untiled up
            to float rounding); a smaller overlap is allowed and leaves seams.
        device: where to run; default the model's device. The result comes back on ``inputs.device``.
    Returns:
        (B, C, H, W) (or (C, H, W) for an unbatched stack); the model is left in the mode it was in.
    """
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 3:
        raise ValueError(f"inputs must be a tensor (B, ..., H, W); got {getattr(inputs, 'shape', type(inputs).__name__)}")
    if tile is not None and tile < 1:
        raise ValueError(f"tile must be a positive number of pixels or None; got {tile}")
    if tile is not None:
        overlap = _tile_overlap(model, overlap)
    elif overlap is not None:
        raise ValueError("overlap only applies to tiled prediction: give tile= too, or leave overlap out")
    if overlap is not None and overlap < 0:
        raise ValueError(f"overlap must be ≥ 0 pixels; got {overlap}")
    unbatched = _needs_batch_dim(model, inputs)
    batch = inputs.unsqueeze(0) if unbatched else inputs
    device = _model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    try:
        if tile is None:
            whole = model.process if callable(getattr(model, "process", None)) else model
            out = whole(batch.to(device)).to(inputs.device)
        else:
            out = _predict_tiled(model, batch, tile, overlap, device).to(inputs.device)
    finally:
        model.train(was_training)
    return out[0] if unbatched else out


def _tile_overlap(model: torch.nn.Module, overlap: int | None) -> int:
    """The overlap to tile ``model`` with; refuses a model that does not declare tiling exact."""
    name = type(model).__name__
    if not hasattr(model, "receptive_radius"):
        raise ValueError(f"{name} does not declare a receptive_radius, so tiled prediction may not equal the whole "
                         "image; run it whole (tile=None), or give the model a receptive_radius property")
    radius = model.receptive_radius
    if radius is None:
        raise ValueError(f"{name} cannot be tiled: its output depends on the whole image (receptive_radius is None: "
                         f"a global path), so tiles would change the picture. Run it whole with tile=None"
                         + ("; its process() keeps memory bounded at full resolution" if hasattr(model, "process") else ""))
    return radius if overlap is None else overlap


def _needs_batch_dim(model: torch.nn.Module, inputs: torch.Tensor) -> bool:
    """True for an unbatched AHDRNet-style stack (N, C, H, W) given to a model that expects (B, N, C, H, W)."""
    config = getattr(model, "config", None)
    frames = getattr(config, "frames", None)
    return inputs.dim() == 4 and frames is not None and inputs.shape[0] == frames


def _predict_tiled(model, batch: torch.Tensor, tile: int, overlap: int, device) -> torch.Tensor:
    """Stitch the model's output from tiles; each tile runs on its window with ``overlap`` context."""
    height, width = batch.shape[-2:]
    out = None
    for top, bottom, win_top, win_bottom in tile_windows(height, tile, overlap):
        for left, right, win_left, win_right in tile_windows(width, tile, overlap):
            # input window: (B, ..., h_w, w_w), moved to the compute device one tile at a time
            window = batch[..., win_top:win_bottom, win_left:win_right].to(device)
            pred = model(window)
            # output pixels per input pixel: 2 for packed RAW → full-resolution sRGB (SID U-Net, ALEN), else 1
            s = pred.shape[-1] // window.shape[-1]
            if out is None:
                # output buffer on the input's device: (B, C_out, s·H, s·W)
                out = torch.empty(*pred.shape[:-2], s * height, s * width, dtype=pred.dtype, device=batch.device)
            # keep the tile's own pixels: offset of the tile inside its window
            out[..., s * top : s * bottom, s * left : s * right] = pred[
                ..., s * (top - win_top) : s * (bottom - win_top), s * (left - win_left) : s * (right - win_left)
            ].to(batch.device)
    return out
