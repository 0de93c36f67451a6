"""The bracket simulator: an HDR radiance crop → N LDR exposures of a scene that moves, with ground truth.

    scene radiance ─┬─ reference geometry ──────────────────────────▶ ground truth HDR (aligned to ref)
                    └─ per frame i: camera jitter + moving object ─▶ capture(t_i) ─▶ LDR_i

The conditions of one capture (exposures, clipped share, camera response, noise, bit depth, motion) are one
frozen :class:`Capture`; :class:`CaptureDistribution` draws them at random for training. Its defaults are the
training recipe of the package — the mix that trains a network that transfers to spacings, light and cameras
it saw rarely (``hdredu.generalisation`` checks that) — and the notebooks and the CLI use the same one.

Everything is deterministic by seed. The per-frame saturation and motion masks and the true displacement
field come back too: later notebooks use them to measure what attention and alignment learned.
Introduced in notebooks/00_hdr_basics.ipynb, section *Brackets of a moving scene*.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hdredu import io
from hdredu.data import samples
from hdredu.imaging import camera
from hdredu.imaging.tonemap import rgb_luminance
from hdredu.utils import check_shape, item_seed, random_window

# Radiance of a light source added by ``Capture.hot_spot``, in units where the shortest frame clips at 1:
# only the shortest frame sees it unclipped (the reference clips it for any spacing of 1 stop or more).
HOT_SPOT_RADIANCE = 0.9
# Sensor noise at noise gain 1 (``CaptureDistribution.noise_gain_range`` scales both).
SHOT_NOISE, READ_NOISE = 1e-4, 3e-4


# ---------------------------------------------------------------------------------------------------------
# The conditions of one capture, and their distribution for training.
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    """The conditions of one simulated capture. The defaults are the classic Kalantari-like bracket.

    Attributes:
        exposure_stops: EV of each frame relative to the shortest, short → long; t_i = 2^(EV_i − EV_0)
            (Kalantari: (0, 2, 4) or (0, 3, 6); NTIRE 2021: (0, 2, 4) around the middle frame).
        ref_idx: reference frame; None = the middle one.
        saturated_fraction: share of pixels that clip in the reference frame (the scene is scaled to it).
        hot_spot: radius of a light source added to the scene, as a fraction of the smaller side (0 = none);
            its radiance, ``HOT_SPOT_RADIANCE``, is seen unclipped by the shortest frame only.
        crf: camera response, a name in :data:`hdredu.imaging.camera.CRFS`.
        shot, read: sensor noise, in units of the full-well signal (see :func:`camera.add_sensor_noise`).
        bits: quantisation depth of the frames (8 or 16); None keeps floats.
        motion: False = a tripod shot of a static scene (no jitter, no object).
        jitter_px: largest global camera shift of a non-reference frame, in pixels, per axis (drawn uniformly).
        object_radius: radius of the moving object, as a fraction of the smaller side.
        object_shift: the object's displacement per frame away from the reference, as a fraction of the
            smaller side (its direction is random).
        object_shift_px: the same displacement in pixels; when set it replaces ``object_shift``.
    """

    exposure_stops: tuple[float, ...] = (0.0, 2.0, 4.0)
    ref_idx: int | None = None
    saturated_fraction: float = 0.05
    hot_spot: float = 0.0
    crf: str = "gamma"
    shot: float = SHOT_NOISE
    read: float = READ_NOISE
    bits: int | None = 8
    motion: bool = True
    jitter_px: float = 1.5
    object_radius: float = 0.18
    object_shift: float = 0.35
    object_shift_px: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "exposure_stops", tuple(self.exposure_stops))  # lists become hashable tuples
        self.validate()

    @property
    def reference(self) -> int:
        """The reference index, resolved (the middle frame when ``ref_idx`` is None)."""
        return len(self.exposure_stops) // 2 if self.ref_idx is None else self.ref_idx

    @property
    def spacing(self) -> float | None:
        """EV between neighbouring frames when the stops are evenly spaced, else None."""
        steps = {round(b - a, 6) for a, b in zip(self.exposure_stops, self.exposure_stops[1:])}
        return float(steps.pop()) if len(steps) == 1 else None

    def validate(self) -> None:
        """Raise ValueError naming the first field that cannot make a capture."""
        stops = self.exposure_stops
        if len(stops) < 2:
            raise ValueError(f"exposure_stops needs at least 2 values; got {stops}")
        if list(stops) != sorted(stops):
            raise ValueError(f"exposure_stops must be ordered short → long; got {stops}")
        if not 0 <= self.reference < len(stops):
            raise ValueError(f"ref_idx must be in [0, {len(stops) - 1}]; got {self.ref_idx}")
        if not 0.0 <= self.saturated_fraction < 1.0:
            raise ValueError(f"saturated_fraction must be in [0, 1); got {self.saturated_fraction}")
        if not 0.0 <= self.hot_spot < 0.5:
            raise ValueError(f"hot_spot must be a radius in [0, 0.5) of the smaller side; got {self.hot_spot}")
        camera.crf_pair(self.crf)  # "crf must be one of [...]"
        if self.shot < 0 or self.read < 0:
            raise ValueError(f"shot and read must be ≥ 0; got shot={self.shot}, read={self.read}")
        if self.bits is not None and not 1 <= self.bits <= 16:
            raise ValueError(f"bits must be in [1, 16] or None; got {self.bits}")
        for name in ("jitter_px", "object_radius", "object_shift"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0; got {getattr(self, name)}")
        if self.object_shift_px is not None and self.object_shift_px < 0:
            raise ValueError(f"object_shift_px must be ≥ 0 or None; got {self.object_shift_px}")

    def describe(self) -> str:
        """A short label, e.g. ``"EV 0/3/6, 10 % clipped, gamma, 8-bit"``."""
        stops = "/".join(f"{ev:g}" for ev in self.exposure_stops)
        light = f", hot spot {self.hot_spot:g}" if self.hot_spot else ""
        depth = "float" if self.bits is None else f"{self.bits}-bit"
        return f"EV {stops}, {100 * self.saturated_fraction:.0f} % clipped{light}, {self.crf}, {depth}"


def _weighted_choice(generator: torch.Generator, options: tuple[tuple[object, float], ...]):
    """One value of ((value, weight), ...), drawn with probability weight / Σ weights."""
    weights = torch.tensor([weight for _, weight in options], dtype=torch.float64)
    return options[int(torch.multinomial(weights, 1, generator=generator))][0]


def _log_uniform(generator: torch.Generator, low: float, high: float) -> float:
    return math.exp(_uniform(generator, math.log(low), math.log(high)))


@dataclass(frozen=True)
class CaptureDistribution:
    """Random capture conditions for training: ``sample(generator)`` draws one :class:`Capture`.

    The field defaults (= :meth:`default`) are the package's training recipe:

    | condition | drawn from |
    |---|---|
    | EV spacing between the 3 frames | 2 or 3 stops (0.3 each, as in Kalantari's data), 4 stops 0.25, 1 stop 0.15 |
    | share of the reference that clips | uniform in [0.05, 0.4] |
    | light source brighter than the reference can hold | 1 bracket in 10, radius 2–6 % of the crop side |
    | camera response (``camera.CRFS``) | gamma only (the curve the input L^γ / t inverts; see below) |
    | bit depth | 8-bit 0.8, 16-bit 0.2 |
    | noise gain g (shot = 1e-4·g, read = 3e-4·g) | log-uniform in [0.5, 2] |
    | motion | camera jitter up to 1.5 px, object moving 0.35 of the crop side per frame |

    Compared with the old fixed EV 0/2/4, 2–15 % clipped, gamma, 8-bit mix (:meth:`legacy`), the spread of
    spacings lets the network meet every exposure ratio it will be asked about (the input L^γ / t carries
    the bracket's own times), and the larger clipped share puts moving content over clipped regions, the
    hard case for a merge, often enough to learn it. The camera response stays the gamma curve: with 20 % of
    the brackets made by the filmic curve (``crfs=(("gamma", 0.8), ("filmic", 0.2))``) the tiny AHDRNet
    trained by the CLI for 6000 steps scored 2.3–3.7 dB lower on every gamma condition of
    ``hdredu.generalisation.condition_grid`` and still 9 dB below the reference frame alone on filmic
    brackets: it can no longer simply keep the reference's L^γ / t where that is right.

    Attributes:
        spacings: ((EV stops between neighbouring frames, weight), ...).
        frames: frames per bracket (odd; the middle one is the reference).
        saturated_range: (low, high) of the uniformly drawn ``Capture.saturated_fraction``.
        hot_spot_probability: chance that a bracket gets a light source; its radius is drawn uniformly
            from ``hot_spot_range`` (fractions of the smaller side).
        crfs: ((camera response name, weight), ...).
        bits: ((bit depth, weight), ...).
        noise_gain_range: (low, high) of a log-uniform gain g; shot = ``SHOT_NOISE``·g, read = ``READ_NOISE``·g.
        motion: moving scenes (jitter and an object) or tripod shots of static ones.
        jitter_px_range: (low, high) of ``Capture.jitter_px``, uniform.
        object_shift_range: (low, high) of ``Capture.object_shift`` (fraction of the side), uniform.
        object_shift_px_range: (low, high) of ``Capture.object_shift_px`` in pixels; when set it replaces
            ``object_shift_range``.
    """

    spacings: tuple[tuple[float, float], ...] = ((1.0, 0.15), (2.0, 0.3), (3.0, 0.3), (4.0, 0.25))
    frames: int = 3
    saturated_range: tuple[float, float] = (0.05, 0.4)
    hot_spot_probability: float = 0.1
    hot_spot_range: tuple[float, float] = (0.02, 0.06)
    crfs: tuple[tuple[str, float], ...] = (("gamma", 1.0),)
    bits: tuple[tuple[int | None, float], ...] = ((8, 0.8), (16, 0.2))
    noise_gain_range: tuple[float, float] = (0.5, 2.0)
    motion: bool = True
    jitter_px_range: tuple[float, float] = (1.5, 1.5)
    object_shift_range: tuple[float, float] = (0.35, 0.35)
    object_shift_px_range: tuple[float, float] | None = None

    def __post_init__(self):
        self.validate()

    @classmethod
    def default(cls) -> CaptureDistribution:
        """The training recipe of the package (the field defaults; see the class docstring)."""
        return cls()

    @classmethod
    def legacy(cls) -> CaptureDistribution:
        """The mix BracketDataset drew before: EV 0/2/4 only, 2–15 % clipped, gamma, 8-bit, fixed noise.

        Kept for comparison: a network trained on it collapses on 3-stop brackets (issue "Learning that
        transfers").
        """
        return cls(spacings=((2.0, 1.0),), saturated_range=(0.02, 0.15), hot_spot_probability=0.0,
                   crfs=(("gamma", 1.0),), bits=((8, 1.0),), noise_gain_range=(1.0, 1.0))

    def validate(self) -> None:
        """Raise ValueError naming the first field that cannot be sampled."""
        for name in ("spacings", "crfs", "bits"):
            options = getattr(self, name)
            if len(options) == 0 or any(len(o) != 2 or not o[1] >= 0 for o in options) or not sum(o[1] for o in options) > 0:
                raise ValueError(f"{name} must be ((value, weight), ...) with weights ≥ 0 and a positive sum; got {options}")
        if any(not stops > 0 for stops, _ in self.spacings):
            raise ValueError(f"spacings must hold positive EV steps; got {self.spacings}")
        for crf, _ in self.crfs:
            camera.crf_pair(crf)
        if self.frames < 2:
            raise ValueError(f"frames must be at least 2; got {self.frames}")
        ranges = {"saturated_range": (0.0, 1.0), "hot_spot_range": (0.0, 0.5), "noise_gain_range": (0.0, math.inf),
                  "jitter_px_range": (0.0, math.inf), "object_shift_range": (0.0, math.inf),
                  "object_shift_px_range": (0.0, math.inf)}
        for name, (floor, ceiling) in ranges.items():
            value = getattr(self, name)
            if value is None and name == "object_shift_px_range":
                continue
            low, high = value
            if not floor <= low <= high or high >= ceiling or (name == "noise_gain_range" and low == 0):
                raise ValueError(f"{name} must be (low, high) with {floor} <= low <= high < {ceiling}; got {value}")
        if not 0.0 <= self.hot_spot_probability <= 1.0:
            raise ValueError(f"hot_spot_probability must be in [0, 1]; got {self.hot_spot_probability}")

    def sample(self, generator: torch.Generator) -> Capture:
        """Draw one :class:`Capture`. Every field is drawn every time, in a fixed order, so changing one
        range leaves the draws of the others unchanged for the same generator state."""
        spacing = float(_weighted_choice(generator, self.spacings))
        saturated = _uniform(generator, *self.saturated_range)
        has_hot_spot = float(torch.rand((), generator=generator)) < self.hot_spot_probability
        hot_spot = _uniform(generator, *self.hot_spot_range)
        crf = _weighted_choice(generator, self.crfs)
        bits = _weighted_choice(generator, self.bits)
        gain = _log_uniform(generator, *self.noise_gain_range)
        jitter = _uniform(generator, *self.jitter_px_range)
        shift = _uniform(generator, *self.object_shift_range)
        shift_px = _uniform(generator, *self.object_shift_px_range) if self.object_shift_px_range else None
        return Capture(
            exposure_stops=tuple(spacing * i for i in range(self.frames)),
            saturated_fraction=saturated,
            hot_spot=hot_spot if has_hot_spot else 0.0,
            crf=crf,
            shot=SHOT_NOISE * gain,
            read=READ_NOISE * gain,
            bits=bits,
            motion=self.motion,
            jitter_px=jitter,
            object_shift=shift,
            object_shift_px=shift_px,
        )


# ---------------------------------------------------------------------------------------------------------
# The result.
# ---------------------------------------------------------------------------------------------------------


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
        flow: (N, 2, H, W) the true displacement in pixels, (dy, dx): the scene point at reference pixel
            (y, x) is at (y + dy, x + dx) in frame i. The object's displacement where the reference shows the
            object (its footprint ≥ 0.5), the camera's shift elsewhere; zero for the reference and for
            static scenes. (Where the object covers that point in frame i, the point is occluded there.)
        capture: the :class:`Capture` that made the frames.
    """

    ldr: torch.Tensor
    exposure_times: torch.Tensor
    hdr: torch.Tensor
    ref_idx: int
    saturation_mask: torch.Tensor
    motion_mask: torch.Tensor
    crf: str = "gamma"
    flow: torch.Tensor | None = None
    capture: Capture | None = None

    def model_input(self, gamma: float = 2.2) -> torch.Tensor:
        """AHDRNet's per-frame input  X_i = [L_i, L_i^γ / t_i]:  (N, 6, H, W) (:func:`camera.merge_input`)."""
        return camera.merge_input(self.ldr, self.exposure_times, gamma)

    def linearised(self, gamma: float = 2.2) -> torch.Tensor:
        """Every frame brought to the radiance domain, L_i^γ / t_i:  (N, 3, H, W)."""
        return camera.ldr_to_linear(self.ldr, self.exposure_times, gamma)


# ---------------------------------------------------------------------------------------------------------
# Geometry: sub-pixel translation and a soft-edged moving object.
# ---------------------------------------------------------------------------------------------------------


def translate(image: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
    """Shift a (C, H, W) image by (dx, dy) pixels with bilinear interpolation: out(y, x) = image(y − dy, x − dx),
    so content moves right by dx and down by dy. Borders are replicated."""
    _, height, width = image.shape
    theta = torch.tensor([[1.0, 0.0, -2.0 * dx / width], [0.0, 1.0, -2.0 * dy / height]], dtype=image.dtype)
    grid = F.affine_grid(theta.unsqueeze(0), [1, 1, height, width], align_corners=False)
    return F.grid_sample(image.unsqueeze(0), grid, mode="bilinear", padding_mode="border", align_corners=False)[0]


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: out(y, x) = image(y + dy, x + dx) with (dy, dx) = flow(y, x), bilinear, border replicated.

    With a frame and its ``Brackets.flow`` this brings the frame onto the reference's pixel grid.
    Args:
        image: (C, H, W).  flow: (2, H, W) in pixels, (dy, dx).
    Returns:
        (C, H, W).
    """
    height, width = check_shape(image, "C H W", "image")["H"], image.shape[-1]
    check_shape(flow, f"2 {height} {width}", "flow")
    ys = torch.arange(height, dtype=image.dtype).view(-1, 1) + flow[0]
    xs = torch.arange(width, dtype=image.dtype).view(1, -1) + flow[1]
    # Pixel centres → normalised coordinates in [−1, 1] (align_corners=False convention).
    grid = torch.stack([(2 * xs + 1) / width - 1, (2 * ys + 1) / height - 1], dim=-1)
    return F.grid_sample(image.unsqueeze(0), grid.unsqueeze(0), mode="bilinear", padding_mode="border",
                         align_corners=False)[0]


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


def add_hot_spot(scene: torch.Tensor, radius: float, generator: torch.Generator) -> torch.Tensor:
    """Paint a round light source of radiance ``HOT_SPOT_RADIANCE`` and ``radius`` (fraction of the smaller
    side) at a random place of a normalised (3, H, W) scene."""
    _, height, width = scene.shape
    r = max(radius * min(height, width), 1.0)
    centre = (_uniform(generator, 0.0, height - 1.0), _uniform(generator, 0.0, width - 1.0))
    mask = ellipse_mask(height, width, centre, (r, r))
    return torch.maximum(scene, HOT_SPOT_RADIANCE * mask)


def simulate_brackets(hdr: torch.Tensor, capture: Capture | None = None, *, object_source: torch.Tensor | None = None,
                      seed: int = 0, **capture_fields) -> Brackets:
    """Simulate an exposure bracket of a (possibly moving) scene.

    Args:
        hdr: (3, H, W) linear radiance of the scene (any scale; it is normalised, see
            ``Capture.saturated_fraction``).
        capture: the conditions (default ``Capture()``: EV 0/2/4, 5 % clipped, gamma, 8-bit, moving).
        object_source: (3, h, w) radiance the moving object is cut from (default: ``hdr`` flipped upside
            down); it is rescaled to fill the crop.
        seed: everything random (hot spot, jitter, object placement, noise) follows from it.
        **capture_fields: fields of :class:`Capture` to replace, e.g. ``simulate_brackets(hdr,
            exposure_stops=(0, 3, 6), saturated_fraction=0.1)``.
    Returns:
        :class:`Brackets`.
    """
    check_shape(hdr, "3 H W", "hdr")
    if not torch.isfinite(hdr).all() or (hdr < 0).any():
        raise ValueError(f"hdr must hold finite, non-negative radiance; got min {float(hdr.min()):.3g}, "
                         f"max {float(hdr.max()):.3g} (clip negatives, replace NaN/Inf first)")
    capture = _replace_fields(Capture() if capture is None else capture, capture_fields, "simulate_brackets")
    n_frames, ref_idx = len(capture.exposure_stops), capture.reference
    generator = torch.Generator().manual_seed(seed)
    times = torch.tensor([2.0**ev for ev in capture.exposure_stops], dtype=torch.float32)
    times = times / times[0]
    scene = normalise_radiance(hdr.float(), float(times[ref_idx]), capture.saturated_fraction)
    if capture.hot_spot > 0:
        scene = add_hot_spot(scene, capture.hot_spot, generator)

    frames, object_masks, flow = _moving_scene(scene, n_frames, ref_idx, capture, object_source, generator)
    ldr = torch.stack([camera.capture(frame, float(t), capture.crf, capture.shot, capture.read, capture.bits, generator)
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
        crf=capture.crf,
        flow=flow,
        capture=capture,
    )


def _replace_fields(capture: Capture, fields: dict, caller: str) -> Capture:
    """``capture`` with some fields replaced; unknown names raise a TypeError that lists the fields."""
    names = [f.name for f in dataclasses.fields(Capture)]
    unknown = sorted(set(fields) - set(names))
    if unknown:
        raise TypeError(f"{caller} got unknown keyword(s) {unknown}; capture fields are {names}")
    return dataclasses.replace(capture, **fields) if fields else capture


def _moving_scene(scene, n_frames, ref_idx, capture, object_source, generator):
    """Radiance of every frame (N, 3, H, W), the object's soft footprint in each (N, 1, H, W) and the true
    displacement of every reference pixel (N, 2, H, W), (dy, dx) in pixels."""
    _, height, width = scene.shape
    flow = torch.zeros(n_frames, 2, height, width)
    if not capture.motion:
        return scene.expand(n_frames, -1, -1, -1).clone(), torch.zeros(n_frames, 1, height, width), flow
    side = min(height, width)
    radius, jitter = capture.object_radius, capture.jitter_px
    radii = (radius * side * _uniform(generator, 0.7, 1.3), radius * side * _uniform(generator, 0.7, 1.3))
    texture = _object_texture(scene, object_source, height, width)
    # Reference position away from the border; each other frame moves the object by `per_frame` pixels per
    # frame of distance from the reference, in a random direction.
    per_frame = capture.object_shift * side if capture.object_shift_px is None else capture.object_shift_px
    centre_ref = (_uniform(generator, radii[0], height - radii[0]), _uniform(generator, radii[1], width - radii[1]))
    on_object = ellipse_mask(height, width, centre_ref, radii) >= 0.5  # (1, H, W) reference pixels on the object
    frames, masks = [], []
    for i in range(n_frames):
        if i == ref_idx:
            shift, centre = (0.0, 0.0), centre_ref  # camera shift (dx, dy); object centre (row, column)
        else:
            shift = (_uniform(generator, -jitter, jitter), _uniform(generator, -jitter, jitter))
            angle = _uniform(generator, 0.0, 2.0 * math.pi)
            step = per_frame * abs(i - ref_idx)
            centre = (centre_ref[0] + step * math.sin(angle), centre_ref[1] + step * math.cos(angle))
        mask = ellipse_mask(height, width, centre, radii)
        background = translate(scene, *shift) if shift != (0.0, 0.0) else scene
        object_radiance = translate(texture, centre[1] - centre_ref[1], centre[0] - centre_ref[0])
        frames.append(mask * object_radiance + (1.0 - mask) * background)
        masks.append(mask)
        # flow (dy, dx): the object's displacement on its reference footprint, the camera's shift elsewhere.
        object_step = torch.tensor([centre[0] - centre_ref[0], centre[1] - centre_ref[1]]).view(2, 1, 1)
        camera_step = torch.tensor([shift[1], shift[0]]).view(2, 1, 1)
        flow[i] = torch.where(on_object, object_step, camera_step)
    return torch.stack(frames), torch.stack(masks), flow


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
    scene and capture conditions drawn from ``conditions``, then :func:`simulate_brackets`.

    Args:
        scenes: list of (3, H, W) radiance tensors (default: the bundled training scenes).
        crop_size: side of the square crops.
        length: number of items (an epoch).
        seed: base seed; item k uses seed·1_000_003 + k.
        conditions: a :class:`CaptureDistribution` drawn once per item (default: the package's training
            recipe, :meth:`CaptureDistribution.default`), or one fixed :class:`Capture` for every item.
        **capture_fields: :class:`Capture` fields fixed for every item, replacing the drawn values, e.g.
            ``motion=False`` (tripod shots) or ``saturated_fraction=0.3``.
    Yields:
        (inputs (N, 6, s, s), target (3, s, s)) — the model input [LDR, L^γ/t] (t from each bracket's own
        exposure times) and the ground truth.
    """

    def __init__(self, scenes=None, crop_size: int = 64, length: int = 256, seed: int = 0,
                 conditions: CaptureDistribution | Capture | None = None, **capture_fields):
        if scenes is None:
            scenes = [samples.load_sample(name) for name in samples.TRAIN_SCENES]
        conditions = CaptureDistribution.default() if conditions is None else conditions
        if not isinstance(conditions, (CaptureDistribution, Capture)):
            raise TypeError(f"conditions must be a CaptureDistribution or a Capture; got {type(conditions).__name__}")
        if len(scenes) == 0:
            raise ValueError("scenes must hold at least one (3, H, W) radiance tensor")
        for k, scene in enumerate(scenes):
            sizes = check_shape(scene, "3 H W", f"scenes[{k}]")
            if min(sizes["H"], sizes["W"]) < crop_size:
                raise ValueError(f"scenes[{k}] is {sizes['H']}x{sizes['W']}, smaller than crop_size={crop_size}")
        self.scenes, self.crop_size, self.length, self.seed = scenes, crop_size, length, seed
        _replace_fields(Capture(), capture_fields, "BracketDataset")  # unknown names fail here, not per item
        self.conditions, self.capture_fields = conditions, capture_fields

    def __len__(self) -> int:
        return self.length

    def _draw_capture(self, generator: torch.Generator) -> Capture:
        """The fixed capture, or one drawn from the distribution; then the fixed ``capture_fields``."""
        fixed = isinstance(self.conditions, Capture)
        capture = self.conditions if fixed else self.conditions.sample(generator)
        return _replace_fields(capture, self.capture_fields, "BracketDataset")

    def brackets(self, index: int) -> Brackets:
        """The full :class:`Brackets` (masks, flow and capture included) behind item ``index``."""
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        seed = item_seed(self.seed, index)
        generator = torch.Generator().manual_seed(seed)
        pick = lambda n: int(torch.randint(n, (), generator=generator))  # noqa: E731
        scene_idx = pick(len(self.scenes))
        crop = self._random_crop(self.scenes[scene_idx], generator)
        source = self.scenes[(scene_idx + 1 + pick(len(self.scenes))) % len(self.scenes)] if len(self.scenes) > 1 else None
        capture = self._draw_capture(generator)
        return simulate_brackets(crop, capture, object_source=source, seed=seed)

    def __getitem__(self, index: int):
        brackets = self.brackets(index)
        return brackets.model_input(), brackets.hdr

    def _random_crop(self, scene: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        crop = scene[random_window(*scene.shape[-2:], self.crop_size, generator)]
        if bool(torch.rand((), generator=generator) < 0.5):
            crop = torch.flip(crop, dims=(2,))
        return crop


def write_bracket_sets() -> None:
    """(Re)write the bundled bracket sets (``samples.BRACKET_SETS``) in the Kalantari SIGGRAPH'17 layout (8-bit PNGs)."""
    for split, set_name, scene, motion, seed, stops in samples.BRACKET_SETS:
        folder = samples.SAMPLES_DIR / "brackets" / split / set_name
        folder.mkdir(parents=True, exist_ok=True)
        hdr = io.to_tensor(io.read_hdr(samples.SAMPLES_DIR / f"{scene}.exr"))
        other = io.to_tensor(io.read_hdr(samples.SAMPLES_DIR / ("forest.exr" if scene != "forest" else "city.exr")))
        brackets = simulate_brackets(hdr, exposure_stops=stops, motion=motion, object_source=other, seed=seed)
        for i, frame in enumerate(brackets.ldr):
            io.write_ldr(folder / f"ldr_{i}.png", io.to_numpy(frame), bits=8)
        stops = torch.log2(brackets.exposure_times)
        (folder / "exposure.txt").write_text("".join(f"{ev:.6f}\n" for ev in stops.tolist()))
        io.write_hdr(folder / "HDRImg.hdr", io.to_numpy(brackets.hdr))
