"""The bracket simulator: an HDR radiance crop → N LDR exposures of a scene that moves, with ground truth.

    scene radiance ─┬─ reference geometry ──────────────────────────▶ ground truth HDR (aligned to ref)
                    └─ per frame i: camera jitter + moving object ─▶ capture(t_i) ─▶ LDR_i

Everything is deterministic by seed. The per-frame saturation and motion masks come back too: later
notebooks use them to measure what attention learned.
Introduced in notebooks/00_hdr_basics.ipynb, section *Brackets of a moving scene*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hdredu.imaging import camera
from hdredu.imaging.tonemap import rgb_luminance
from hdredu.utils import check_shape, random_window


@dataclass
class Brackets:
    """One simulated exposure stack and its ground truth.

    Attributes:
        ldr: (N, 3, H, W) LDR frames in [0, 1], ordered short → long.
        exposure_times: (N,) seconds, t = 2^EV with the shortest t = 1 (Kalantari convention).
        hdr: (3, H, W) ground-truth linear radiance in [0, 1], aligned to the reference frame.
        ref_idx: index of the reference frame (the middle one for three exposures).
        saturation_mask: (N, 1, H, W) 1 where a frame has a channel at or above 0.98 (near-clipped too, so it
            covers more than ``saturated_fraction``, which counts pixels that actually clip).
        motion_mask: (N, 1, H, W) 1 where frame i differs from the reference because of the moving object
            (its footprint in frame i or in the reference); all zeros for the reference itself.
        crf: name of the camera response that made the frames (see ``hdredu.imaging.camera.CRFS``).
    """

    ldr: torch.Tensor
    exposure_times: torch.Tensor
    hdr: torch.Tensor
    ref_idx: int
    saturation_mask: torch.Tensor
    motion_mask: torch.Tensor
    crf: str = "gamma"

    def model_input(self, gamma: float = 2.2) -> torch.Tensor:
        """AHDRNet's per-frame input  X_i = [L_i, L_i^γ / t_i]:  (N, 6, H, W)."""
        return torch.cat([self.ldr, camera.ldr_to_linear(self.ldr, self.exposure_times, gamma)], dim=1)

    def linearised(self, gamma: float = 2.2) -> torch.Tensor:
        """Every frame brought to the radiance domain, L_i^γ / t_i:  (N, 3, H, W)."""
        return camera.ldr_to_linear(self.ldr, self.exposure_times, gamma)


# ---------------------------------------------------------------------------------------------------------
# Geometry: sub-pixel translation and a soft-edged moving object.
# ---------------------------------------------------------------------------------------------------------


def translate(image: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
    """Shift a (C, H, W) image by (dx, dy) pixels with bilinear interpolation; borders are replicated."""
    _, height, width = image.shape
    theta = torch.tensor([[1.0, 0.0, -2.0 * dx / width], [0.0, 1.0, -2.0 * dy / height]], dtype=image.dtype)
    grid = F.affine_grid(theta.unsqueeze(0), [1, 1, height, width], align_corners=False)
    return F.grid_sample(image.unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def ellipse_mask(height: int, width: int, centre: tuple[float, float], radii: tuple[float, float],
                 feather: float = 1.5) -> torch.Tensor:
    """A (1, H, W) soft ellipse: 1 inside, 0 outside, a linear ramp of ``feather`` pixels at the edge."""
    ys = torch.arange(height, dtype=torch.float32).view(-1, 1)
    xs = torch.arange(width, dtype=torch.float32).view(1, -1)
    # r = 1 on the ellipse; the edge ramp is measured in pixels along the smaller radius.
    radius = torch.sqrt(((ys - centre[0]) / radii[0]) ** 2 + ((xs - centre[1]) / radii[1]) ** 2)
    distance_px = (radius - 1.0) * min(radii)
    return (0.5 - distance_px / feather).clamp(0.0, 1.0).unsqueeze(0)


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator))


# ---------------------------------------------------------------------------------------------------------
# The simulator.
# ---------------------------------------------------------------------------------------------------------


def normalise_radiance(hdr: torch.Tensor, reference_time: float, saturated_fraction: float) -> torch.Tensor:
    """Scale radiance so that ``saturated_fraction`` of the pixels clip in the reference exposure, then clip
    to [0, 1] (the shortest exposure, t = 1, sees everything up to 1 — the Kalantari convention)."""
    brightest_channel = hdr.amax(dim=0).flatten()
    level = torch.quantile(brightest_channel, 1.0 - saturated_fraction).clamp_min(1e-8)
    return (hdr * (1.0 / reference_time) / level).clamp(0.0, 1.0)


def simulate_brackets(
    hdr: torch.Tensor,
    exposure_stops: tuple[float, ...] = (0.0, 2.0, 4.0),
    ref_idx: int | None = None,
    motion: bool = True,
    jitter_px: float = 1.5,
    object_source: torch.Tensor | None = None,
    object_radius: float = 0.18,
    object_shift: float = 0.35,
    saturated_fraction: float = 0.05,
    crf: str = "gamma",
    shot: float = 1e-4,
    read: float = 3e-4,
    bits: int = 8,
    seed: int = 0,
) -> Brackets:
    """Simulate an exposure bracket of a (possibly moving) scene.

    Args:
        hdr: (3, H, W) linear radiance of the scene (any scale; it is normalised, see ``saturated_fraction``).
        exposure_stops: EV of each frame relative to the shortest; t_i = 2^EV_i (Kalantari: (0, 2, 4) or (0, 3, 6)).
        ref_idx: reference frame; default the middle one.
        motion: if False, a static scene on a tripod (no jitter, no object): an exact merge is possible.
        jitter_px: largest global camera shift of a non-reference frame, in pixels.
        object_source: (3, h, w) radiance the moving object is cut from (default: ``hdr`` flipped upside
            down); it is rescaled to fill the crop.
        object_radius: object radius as a fraction of the image's smaller side.
        object_shift: object displacement between frames, as a fraction of the smaller side.
        saturated_fraction: fraction of pixels that clip in the reference frame.
        crf, shot, read, bits: the camera (see :func:`hdredu.imaging.camera.capture`).
        seed: everything random (jitter, object placement, noise) follows from it.
    Returns:
        :class:`Brackets`.
    """
    check_shape(hdr, "3 H W", "hdr")
    if not torch.isfinite(hdr).all() or (hdr < 0).any():
        raise ValueError(f"hdr must hold finite, non-negative radiance; got min {float(hdr.min()):.3g}, "
                         f"max {float(hdr.max()):.3g} (clip negatives, replace NaN/Inf first)")
    n_frames = len(exposure_stops)
    if n_frames < 2:
        raise ValueError(f"exposure_stops needs at least 2 values; got {exposure_stops}")
    if list(exposure_stops) != sorted(exposure_stops):
        raise ValueError(f"exposure_stops must be ordered short → long; got {exposure_stops}")
    ref_idx = n_frames // 2 if ref_idx is None else ref_idx
    if not 0 <= ref_idx < n_frames:
        raise ValueError(f"ref_idx must be in [0, {n_frames - 1}]; got {ref_idx}")
    generator = torch.Generator().manual_seed(seed)
    times = torch.tensor([2.0**ev for ev in exposure_stops], dtype=torch.float32)
    times = times / times[0]
    scene = normalise_radiance(hdr.float(), float(times[ref_idx]), saturated_fraction)
    _, height, width = scene.shape

    frames, object_masks = _moving_scene(scene, n_frames, ref_idx, motion, jitter_px, object_source,
                                         object_radius, object_shift, generator)
    ldr = torch.stack([camera.capture(frame, float(t), crf, shot, read, bits, generator)
                       for frame, t in zip(frames, times)])
    motion_mask = torch.stack([torch.maximum(m, object_masks[ref_idx]) for m in object_masks])
    motion_mask = (motion_mask > 0.01).float()
    motion_mask[ref_idx] = 0.0
    return Brackets(
        ldr=ldr,
        exposure_times=times,
        hdr=frames[ref_idx],
        ref_idx=ref_idx,
        saturation_mask=camera.saturation_mask(ldr),
        motion_mask=motion_mask,
        crf=crf,
    )


def _moving_scene(scene, n_frames, ref_idx, motion, jitter_px, object_source, object_radius, object_shift,
                  generator):
    """Radiance of every frame (N, 3, H, W) and the object's soft footprint in each (N, 1, H, W)."""
    _, height, width = scene.shape
    if not motion:
        return scene.expand(n_frames, -1, -1, -1).clone(), torch.zeros(n_frames, 1, height, width)
    side = min(height, width)
    radii = (object_radius * side * _uniform(generator, 0.7, 1.3), object_radius * side * _uniform(generator, 0.7, 1.3))
    texture = _object_texture(scene, object_source, height, width)
    # Reference position away from the border; each other frame moves by object_shift·side in a random direction.
    centre_ref = (_uniform(generator, radii[0], height - radii[0]), _uniform(generator, radii[1], width - radii[1]))
    frames, masks = [], []
    for i in range(n_frames):
        if i == ref_idx:
            shift, centre = (0.0, 0.0), centre_ref
        else:
            shift = (_uniform(generator, -jitter_px, jitter_px), _uniform(generator, -jitter_px, jitter_px))
            angle = _uniform(generator, 0.0, 2.0 * math.pi)
            step = object_shift * side * abs(i - ref_idx)
            centre = (centre_ref[0] + step * math.sin(angle), centre_ref[1] + step * math.cos(angle))
        mask = ellipse_mask(height, width, centre, radii)
        background = translate(scene, *shift) if shift != (0.0, 0.0) else scene
        object_radiance = translate(texture, centre[1] - centre_ref[1], centre[0] - centre_ref[0])
        frames.append(mask * object_radiance + (1.0 - mask) * background)
        masks.append(mask)
    return torch.stack(frames), torch.stack(masks)


def _object_texture(scene, object_source, height, width):
    """The moving object's radiance, (3, H, W): another scene resized to the crop, matched in brightness."""
    source = torch.flip(scene, dims=(1,)) if object_source is None else object_source.float()
    check_shape(source, "3 H W", "object_source")
    texture = F.interpolate(source.unsqueeze(0), size=(height, width), mode="bilinear", align_corners=False)[0]
    # Match the object's median luminance to the scene's so it neither vanishes nor glares.
    gain = rgb_luminance(scene).median() / rgb_luminance(texture).median().clamp_min(1e-8)
    return (texture * gain).clamp(0.0, 1.0)


# ---------------------------------------------------------------------------------------------------------
# Random crops for training.
# ---------------------------------------------------------------------------------------------------------


class BracketDataset(torch.utils.data.Dataset):
    """Random simulated brackets cut from HDR scenes, deterministic by (seed, index).

    Each item is a random crop of a random scene, randomly flipped, with a moving object cut from another
    scene, a random share of saturated pixels, then :func:`simulate_brackets`.

    Args:
        scenes: list of (3, H, W) radiance tensors (default: the bundled training scenes).
        crop_size: side of the square crops.
        length: number of items (an epoch).
        motion: moving object and camera jitter on or off.
        seed: base seed; item k uses seed·1_000_003 + k.
        exposure_stops: EV per frame.
        saturated_range: (low, high) of the uniformly drawn share of pixels that clip in the reference
            (a fixed ``saturated_fraction=`` keyword overrides it). Larger shares put more moving content
            over clipped regions, the hard case for a merge.
        **simulator_options: passed on to :func:`simulate_brackets`.
    Yields:
        (inputs (N, 6, s, s), target (3, s, s)) — the model input [LDR, L^γ/t] and the ground truth.
    """

    def __init__(self, scenes=None, crop_size: int = 64, length: int = 256, motion: bool = True, seed: int = 0,
                 exposure_stops: tuple[float, ...] = (0.0, 2.0, 4.0),
                 saturated_range: tuple[float, float] = (0.02, 0.15), **simulator_options):
        if scenes is None:
            from hdredu.data.samples import TRAIN_SCENES, load_sample

            scenes = [load_sample(name) for name in TRAIN_SCENES]
        low, high = saturated_range
        if not 0.0 <= low <= high < 1.0:
            raise ValueError(f"saturated_range must be (low, high) with 0 <= low <= high < 1; got {saturated_range}")
        if len(scenes) == 0:
            raise ValueError("scenes must hold at least one (3, H, W) radiance tensor")
        for k, scene in enumerate(scenes):
            sizes = check_shape(scene, "3 H W", f"scenes[{k}]")
            if min(sizes["H"], sizes["W"]) < crop_size:
                raise ValueError(f"scenes[{k}] is {sizes['H']}x{sizes['W']}, smaller than crop_size={crop_size}")
        self.scenes, self.crop_size, self.length, self.motion, self.seed = scenes, crop_size, length, motion, seed
        self.exposure_stops, self.saturated_range, self.simulator_options = exposure_stops, saturated_range, simulator_options

    def __len__(self) -> int:
        return self.length

    def brackets(self, index: int) -> Brackets:
        """The full :class:`Brackets` (masks included) behind item ``index``."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        item_seed = self.seed * 1_000_003 + index
        generator = torch.Generator().manual_seed(item_seed)
        pick = lambda n: int(torch.randint(n, (), generator=generator))  # noqa: E731
        scene_idx = pick(len(self.scenes))
        crop = self._random_crop(self.scenes[scene_idx], generator)
        source = self.scenes[(scene_idx + 1 + pick(len(self.scenes))) % len(self.scenes)] if len(self.scenes) > 1 else None
        options = {"saturated_fraction": _uniform(generator, *self.saturated_range), **self.simulator_options}
        return simulate_brackets(crop, self.exposure_stops, motion=self.motion, object_source=source,
                                 seed=item_seed, **options)

    def __getitem__(self, index: int):
        brackets = self.brackets(index)
        return brackets.model_input(), brackets.hdr

    def _random_crop(self, scene: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        crop = scene[random_window(*scene.shape[-2:], self.crop_size, generator)]
        if bool(torch.rand((), generator=generator) < 0.5):
            crop = torch.flip(crop, dims=(2,))
        return crop
