"""Pictures in the house style: HDR is always tone-mapped before it is shown, every figure helper returns
the matplotlib ``Figure`` and accepts an optional ``ax`` (or ``axes``).

Introduced in notebooks/00_hdr_basics.ipynb; later notebooks add model-specific helpers at the end.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from hdredu.imaging.tonemap import exposure_tonemap, mu_law, reinhard


def _new_ax(ax, figsize=(4, 3)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _hwc(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) or (H, W) tensor → numpy for imshow."""
    image = torch.as_tensor(image).detach().cpu().float()
    return image.permute(1, 2, 0).numpy() if image.dim() == 3 else image.numpy()


def display_hdr(hdr: torch.Tensor, method: str = "reinhard", exposure: float | None = None) -> torch.Tensor:
    """Tone-map (3, H, W) radiance for display: "reinhard" (global, key 0.18), "mu" (μ-law, the metric
    domain; looks washed out), or "exposure" (×``exposure``, clip, gamma 2.2)."""
    hdr = torch.as_tensor(hdr).float().clamp_min(0.0)
    if method == "reinhard":
        return reinhard(hdr)
    if method == "mu":
        return mu_law(hdr / hdr.amax().clamp_min(1e-8))
    if method == "exposure":
        return exposure_tonemap(hdr, exposure)
    raise ValueError(f"method must be 'reinhard', 'mu' or 'exposure'; got {method!r}")


def show_hdr(hdr: torch.Tensor, ax=None, title: str | None = None, method: str = "reinhard",
             exposure: float | None = None):
    """Show (3, H, W) linear radiance, tone-mapped by :func:`display_hdr` (never raw linear values)."""
    fig, ax = _new_ax(ax)
    ax.imshow(_hwc(display_hdr(hdr, method, exposure)))
    ax.set_title(title or f"HDR ({method} tone map)")
    ax.axis("off")
    return fig


def show_images(images: dict[str, torch.Tensor], axes=None, ncols: int | None = None):
    """Show several (3, H, W) display images (values in [0, 1]) side by side, titled by their keys."""
    ncols = ncols or len(images)
    nrows = math.ceil(len(images) / ncols)
    if axes is None:
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False)
    axes = np.asarray(axes).ravel()
    for ax, (title, image) in zip(axes, images.items()):
        ax.imshow(_hwc(torch.as_tensor(image).clamp(0, 1)))
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    for ax in axes[len(images):]:
        ax.axis("off")
    return axes[0].figure


def show_stack(ldr: torch.Tensor, exposure_times: torch.Tensor, ref_idx: int | None = None, axes=None):
    """Show an exposure stack (N, 3, H, W), each frame labelled with its EV (log2 of t / t_shortest)."""
    stops = torch.log2(torch.as_tensor(exposure_times) / exposure_times[0])
    titles = {f"EV {float(ev):+.1f}" + (" (reference)" if i == ref_idx else ""): frame
              for i, (ev, frame) in enumerate(zip(stops, ldr))}
    return show_images(titles, axes=axes)


def show_map(values: torch.Tensor, ax=None, title: str = "", vmin: float = 0.0, vmax: float = 1.0,
             cmap: str = "viridis"):
    """Show a single-channel map (H, W) with a fixed colour range and a colorbar (e.g. attention in [0, 1])."""
    fig, ax = _new_ax(ax)
    handle = ax.imshow(_hwc(torch.as_tensor(values).squeeze()), vmin=vmin, vmax=vmax, cmap=cmap)
    fig.colorbar(handle, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return fig


def show_attention(attn: torch.Tensor, ax=None, title: str = "attention (mean over channels)"):
    """Show an attention map (C, H, W) or (H, W) with values in [0, 1]: channel mean, fixed 0–1 colormap."""
    attn = torch.as_tensor(attn)
    return show_map(attn.mean(dim=0) if attn.dim() == 3 else attn, ax=ax, title=title)


def show_error(pred: torch.Tensor, target: torch.Tensor, ax=None, title: str = "|T(pred) − T(GT)| (μ-law)",
               vmax: float = 0.2):
    """Per-pixel error in the μ-law domain (where PSNR-μ is measured), max over channels."""
    error = (mu_law(torch.as_tensor(pred).clamp(0, 1)) - mu_law(torch.as_tensor(target).clamp(0, 1))).abs()
    return show_map(error.amax(dim=0), ax=ax, title=title, vmax=vmax, cmap="magma")


def plot_curves(curves: dict[str, tuple], baselines: dict[str, float] | None = None, ax=None,
                xlabel: str = "training step", ylabel: str = "PSNR-μ (μ = 5000) [dB]", title: str | None = None):
    """Metric curves, each {label: (x values, y values)}, with baselines as dashed horizontal lines.

    Several metrics on one figure: call once per metric with its own ``ax``.
    """
    fig, ax = _new_ax(ax, figsize=(5, 3.2))
    for label, (xs, ys) in curves.items():
        ax.plot(list(xs), list(ys), marker="o", markersize=3, label=label)
    for k, (label, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, linestyle="--", color=f"C{k + len(curves)}", label=f"{label} ({value:.2f})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot_metric_panels(curves: dict[str, dict[str, tuple]], baselines: dict[str, dict[str, float]] | None = None,
                       xlabel: str = "training step", axes=None):
    """Several metrics against training step, one panel each, sharing the x axis.

    Args:
        curves: {metric label: {curve label: (steps, values)}}, e.g.
            {"PSNR-μ (μ = 5000) [dB]": {"AHDRNet": (steps, psnr_mu)}, "HDR-VDP-2.2 Q": {...}}.
        baselines: {metric label: {baseline label: value}} drawn as dashed lines in that panel.
    """
    if axes is None:
        fig, axes = plt.subplots(1, len(curves), figsize=(4.6 * len(curves), 3.2), sharex=True, squeeze=False)
        axes = axes[0]
    for ax, (metric_label, metric_curves) in zip(axes, curves.items()):
        plot_curves(metric_curves, (baselines or {}).get(metric_label), ax=ax, xlabel=xlabel, ylabel=metric_label)
    axes[0].figure.tight_layout()
    return axes[0].figure


def plot_training(history, panels: dict[str, str], baselines: dict[str, dict[str, float]] | None = None,
                  label: str = "model", loss_label: str = "training loss", axes=None):
    """The training loss and the validation curves of several metrics, side by side, baselines as lines.

    Args:
        history: a :class:`hdredu.train.History`.
        panels: {panel title / y label: metric name in ``history.metrics``}, e.g.
            {"PSNR-μ (μ = 5000)": "psnr_mu", "HDR-VDP-2.2 Q": "hdrvdp2_q"}.
        baselines: {method: {metric name: score}} (e.g. :func:`hdredu.metrics.score_table` of the baselines on
            the validation data), drawn as dashed lines in each metric's panel.
        label: legend label of the model's curves.
    Returns:
        the Figure (1 + len(panels) panels).
    """
    if axes is None:
        _, axes = plt.subplots(1, 1 + len(panels), figsize=(4.4 * (1 + len(panels)), 3.3), squeeze=False)
        axes = axes[0]
    loss_ax, *metric_axes = axes
    loss_ax.plot(history.steps, history.losses, linewidth=0.6)
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("training step")
    loss_ax.set_ylabel(loss_label)
    loss_ax.grid(alpha=0.3)
    for ax, (title, name) in zip(metric_axes, panels.items()):
        lines = {method: scores[name] for method, scores in (baselines or {}).items() if name in scores}
        plot_curves({label: history.curve(name)}, baselines=lines, ax=ax, ylabel=title)
    loss_ax.figure.tight_layout()
    return loss_ax.figure


# ---------------------------------------------------------------------------------------------------------
# Sliders: one pattern for every interactive figure.
# ---------------------------------------------------------------------------------------------------------


def _png(fig: Figure, dpi: int = 80) -> bytes:
    """Render a Figure to PNG bytes (Agg; no pyplot, no display backend)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _strip(pngs: list[bytes]) -> bytes:
    """Paste several PNG renderings side by side into one PNG (white background, tops aligned)."""
    from PIL import Image as PILImage

    images = [PILImage.open(io.BytesIO(png)).convert("RGB") for png in pngs]
    strip = PILImage.new("RGB", (sum(im.width for im in images), max(im.height for im in images)), "white")
    left = 0
    for image in images:
        strip.paste(image, (left, 0))
        left += image.width
    buffer = io.BytesIO()
    strip.save(buffer, format="png")
    return buffer.getvalue()


@dataclass
class SliderFigure:
    """What :func:`slider_figure` returns: display it (``display(...)`` or last line of a cell).

    Attributes:
        box: the live widget, sliders above the figure's own ``Output``.
        output: that ``Output``; its single output is the PNG of the figure at the sliders' current values.
        sliders: {keyword of ``draw_fn``: slider widget}.
        strip: PNG of the figure at a few fixed slider positions, side by side, shown under the widget: the
            static copy that survives where no kernel runs (``make tour``'s HTML, a printout, GitHub).
    """

    box: object
    output: object
    sliders: dict
    strip: bytes | None

    def _ipython_display_(self) -> None:
        from IPython.display import Image, display

        display(self.box)
        if self.strip is not None:
            display(Image(data=self.strip, format="png"))


def slider_figure(draw_fn, figsize: tuple[float, float] = (5, 3.4), static: dict | None = None,
                  **sliders) -> SliderFigure:
    """A figure redrawn by sliders, drawn into the widget's own ``Output`` and never through pyplot.

    Each slider move calls ``draw_fn(fig, **values)`` on a fresh ``matplotlib.figure.Figure`` (not known to
    pyplot: it cannot pick up, show or close the notebook's other open figures, and it is freed once drawn),
    renders it to PNG and replaces the ``Output``'s content with that PNG in one assignment (no flicker).

    Args:
        draw_fn: ``draw_fn(fig, **values)`` draws on ``fig`` (e.g. ``ax = fig.subplots()``).
        figsize: inches of each drawing.
        static: {slider name: [values]}: positions drawn once into the static strip (default: each slider at
            its minimum, middle and maximum, the others at their initial value; ``{}`` for no strip).
        **sliders: one per keyword of ``draw_fn``, written as for ``ipywidgets.interact``: a widget, or
            ``(min, max, step)`` (ints → IntSlider, floats → FloatSlider), or ``(min, max, step, initial)``.

    Example::

        viz.slider_figure(lambda fig, ev: fig.subplots().imshow(...), ev=(-6.0, 6.0, 0.5, 0.0))
    """
    import traceback

    import ipywidgets as widgets
    from ipywidgets.widgets.interaction import empty, interactive

    controls = {}
    for name, spec in sliders.items():
        if isinstance(spec, tuple) and len(spec) == 4:  # (min, max, step, initial)
            spec, initial = spec[:3], spec[3]
        else:
            initial = empty
        control = spec if isinstance(spec, widgets.Widget) else interactive.widget_from_abbrev(spec, initial)
        if not hasattr(control, "min"):  # None, or a Text / Checkbox / Dropdown: not a range to slide over
            raise ValueError(f"slider {name!r}: give a slider widget or (min, max, step[, initial]); got {spec!r}")
        control.description = control.description or name
        controls[name] = control
    output = widgets.Output()

    def render(values: dict, dpi: int = 80) -> bytes:
        fig = Figure(figsize=figsize, layout="constrained")
        draw_fn(fig, **values)
        return _png(fig, dpi)

    def redraw() -> None:
        png = render({name: control.value for name, control in controls.items()})
        output.outputs = ({"output_type": "display_data", "metadata": {},
                           "data": {"image/png": base64.b64encode(png).decode("ascii"),
                                    "text/plain": f"<figure at {_describe(controls)}>"}},)

    def on_move(_change) -> None:
        try:
            redraw()
        except Exception:  # a slider callback's error would only reach Lab's log console: show it in place
            output.outputs = ({"output_type": "stream", "name": "stderr", "text": traceback.format_exc()},)

    for control in controls.values():
        control.observe(on_move, names="value")
    redraw()  # the first drawing raises as usual

    if static is None:  # each slider at min, middle, max; the others where they start
        static = {name: _three_positions(control) for name, control in controls.items()}
    strip = None
    positions = [(name, value) for name, values in static.items() for value in values]
    if positions:
        initial = {name: control.value for name, control in controls.items()}
        strip = _strip([render({**initial, name: value}, dpi=60) for name, value in positions])
    return SliderFigure(widgets.VBox([*controls.values(), output]), output, controls, strip)


def _three_positions(control) -> list:
    middle = control.min + (control.max - control.min) / 2
    if isinstance(control.value, int):
        middle = int(round(middle))
    return [control.min, middle, control.max]


def _describe(controls: dict) -> str:
    return ", ".join(f"{name} = {control.value}" for name, control in controls.items())


def exposure_slider(hdr: torch.Tensor, crf: str = "gamma", ev_range: tuple[float, float] = (-6.0, 6.0)):
    """A slider over exposure (EV): each position shows what the camera would record.

    The frame is ``capture(hdr, t = 2^EV)`` through the camera model (noise off): watch highlights clip as
    EV rises and shadows crush to 0 as it falls. Returns a :class:`SliderFigure` (display it in a notebook);
    its static strip shows EV at half the range below 0, at 0, and at half the range above.
    """
    from hdredu.imaging.camera import capture

    scale = 1.0 / float(torch.quantile(hdr.flatten(), 0.5).clamp_min(1e-8)) * 0.18

    def draw(fig: Figure, ev: float) -> None:
        frame = capture(hdr * scale, 2.0**ev, crf=crf, shot=0.0, read=0.0)
        clipped = float((frame >= 0.999).any(dim=0).float().mean())
        crushed = float((frame <= 0.001).all(dim=0).float().mean())
        ax = fig.subplots()
        ax.imshow(_hwc(frame))
        ax.set_title(f"EV {ev:+.1f}: {100 * clipped:.1f} % clipped, {100 * crushed:.1f} % black", fontsize=9)
        ax.axis("off")

    import ipywidgets as widgets

    ev = widgets.FloatSlider(value=0.0, min=ev_range[0], max=ev_range[1], step=0.5, description="EV")
    return slider_figure(draw, figsize=(5, 3.4), static={"ev": [ev_range[0] / 2, 0.0, ev_range[1] / 2]}, ev=ev)


# ---------------------------------------------------------------------------------------------------------
# Bilateral grids and guides (HDRNet). Introduced in notebooks/02_hdrnet.ipynb.
# ---------------------------------------------------------------------------------------------------------


def _grid_slice_image(grid: torch.Tensor, z: int, channel: int | None) -> np.ndarray:
    """One depth slice of a (C, D, Gh, Gw) grid for imshow: homogeneous RGB (value / weight) or one channel."""
    if channel is None:  # (R·w, G·w, B·w, w): show the average colour of the pixels splatted there
        weight = grid[3, z]
        colour = grid[:3, z] / weight.clamp_min(1e-8)
        colour = torch.where(weight > 1e-3 * grid[3].max(), colour, torch.zeros_like(colour))
        return _hwc(colour.clamp(0, 1))
    return _hwc(grid[channel, z])


def _as_single_grid(grid: torch.Tensor, channel: int | None) -> torch.Tensor:
    grid = torch.as_tensor(grid).detach().cpu().float()
    grid = grid[0] if grid.dim() == 5 else grid
    if grid.dim() != 4:
        raise ValueError(f"grid must be (C, D, Gh, Gw) or (1, C, D, Gh, Gw); got {tuple(grid.shape)}")
    if channel is None and grid.shape[0] != 4:
        raise ValueError(f"channel=None shows a homogeneous RGB grid (C = 4: R·w, G·w, B·w, w); got C = {grid.shape[0]}")
    return grid


def show_grid_slices(grid: torch.Tensor, channel: int | None = None, axes=None, title: str | None = None):
    """Every depth (intensity) slice of a bilateral grid, one panel per bin, low guide values first.

    Args:
        grid: (C, D, Gh, Gw) or (1, C, D, Gh, Gw).
        channel: None for a homogeneous RGB grid (C = 4), shown as average colour; else the channel to show
            (e.g. one of HDRNet's 12 affine coefficients, k = 4·i + j), on one colour scale for all bins.
    """
    grid = _as_single_grid(grid, channel)
    depth = grid.shape[1]
    if axes is None:
        fig, axes = plt.subplots(1, depth, figsize=(1.6 * depth, 1.9), squeeze=False)
        axes = axes[0]
    fig = axes[0].figure
    limit = float(grid[channel].abs().max()) if channel is not None else None
    for z, ax in enumerate(axes[:depth]):
        kwargs = {} if channel is None else dict(cmap="RdBu_r", vmin=-limit, vmax=limit)
        image = ax.imshow(_grid_slice_image(grid, z, channel), **kwargs)
        ax.set_title(f"bin {z}: g ∈ [{z / depth:.2f}, {(z + 1) / depth:.2f})", fontsize=7)
        ax.axis("off")
    if channel is not None:
        fig.colorbar(image, ax=list(axes[:depth]), shrink=0.8)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig


def grid_slider(grid: torch.Tensor, channel: int | None = None, image: torch.Tensor | None = None,
                guide: torch.Tensor | None = None):
    """A slider over a grid's intensity bins: the slice, and the pixels whose guide falls in it.

    Args:
        grid: (C, D, Gh, Gw) or (1, C, D, Gh, Gw) (see :func:`show_grid_slices` for ``channel``).
        channel: None for a homogeneous RGB grid; else one channel, on one colour range for every bin (the
            range of :func:`show_grid_slices`, with its colorbar), so bins can be compared.
        image: optional (3, H, W) display image; with ``guide`` (1, H, W) in [0, 1], pixels outside the
            selected bin are dimmed so you see which part of the picture that slice serves.
    Returns:
        a :class:`SliderFigure` (display it in a notebook); its static strip shows the first, middle and last bin.
    """
    grid = _as_single_grid(grid, channel)
    depth = grid.shape[1]
    panels = 2 if image is not None and guide is not None else 1
    limit = float(grid[channel].abs().max()) if channel is not None else None
    if panels == 2:  # (H, W) bin index of every pixel, as the slice reads it
        bins = (torch.as_tensor(guide).float().reshape(guide.shape[-2:]) * depth).long().clamp(0, depth - 1)

    def draw(fig: Figure, z: int) -> None:
        axes = fig.subplots(1, panels, squeeze=False)[0]
        kwargs = {} if channel is None else dict(cmap="RdBu_r", vmin=-limit, vmax=limit)
        handle = axes[0].imshow(_grid_slice_image(grid, z, channel), interpolation="nearest", **kwargs)
        if channel is not None:
            fig.colorbar(handle, ax=axes[0], shrink=0.8)
        axes[0].set_title(f"grid slice, bin {z} of {depth}" + ("" if channel is None else f" (channel {channel})"),
                          fontsize=9)
        axes[0].axis("off")
        if panels == 2:
            dimmed = torch.as_tensor(image).float() * torch.where(bins == z, 1.0, 0.15)
            axes[1].imshow(_hwc(dimmed.clamp(0, 1)))
            axes[1].set_title(f"pixels with guide in bin {z} ({100 * float((bins == z).float().mean()):.0f} %)",
                              fontsize=9)
            axes[1].axis("off")

    import ipywidgets as widgets

    z = widgets.IntSlider(value=depth // 2, min=0, max=depth - 1, description="bin")
    return slider_figure(draw, figsize=(4.2 * panels, 3), z=z)


def show_guide_curve(guide_fn, ax=None, title: str = "guide: intensity → grid depth", samples: int = 256):
    """Plot a guide function along grey and pure-colour ramps: g(t·[1, 1, 1]), g(t·[1, 0, 0]), …

    Args:
        guide_fn: maps (B, 3, H, W) images to (B, 1, H, W) guides in [0, 1] (e.g. ``model.guide``, in eval mode).
    """
    fig, ax = _new_ax(ax, figsize=(4, 3))
    t = torch.linspace(0, 1, samples)
    directions = {"grey": (1, 1, 1), "red": (1, 0, 0), "green": (0, 1, 0), "blue": (0, 0, 1)}
    with torch.no_grad():
        for name, rgb in directions.items():
            ramp = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1) * t.view(1, 1, 1, samples)
            values = torch.as_tensor(guide_fn(ramp)).reshape(-1).cpu()
            ax.plot(t.numpy(), values.numpy(), color="k" if name == "grey" else name, label=name)
    ax.set_xlabel("input value along the ramp")
    ax.set_ylabel("guide g (depth in the grid)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=9)
    return fig


def show_flow(flow: torch.Tensor, image: torch.Tensor | None = None, ax=None, step: int = 8, title: str = "",
              color: str = "yellow"):
    """A displacement field as arrows, one every ``step`` pixels, drawn in pixels on an optional image.

    Args:
        flow: (2, H, W) (dy, dx) in pixels (``Brackets.flow``, or DCN offsets via
            :func:`hdredu.alignment.offsets_to_flow`); an arrow from (y, x) points to (y + dy, x + dx).
        image: (3, H, W) in [0, 1] (an LDR frame or a tone-mapped HDR) or None.
    Introduced in notebooks/03_adnet.ipynb, section *Looking inside PCD*.
    """
    fig, ax = _new_ax(ax, figsize=(4, 3))
    height, width = flow.shape[-2:]
    if image is not None:
        ax.imshow(_hwc(image.clamp(0, 1)))
    ys, xs = np.mgrid[step // 2:height:step, step // 2:width:step]
    dy, dx = (flow[c, step // 2::step, step // 2::step].detach().cpu().numpy() for c in (0, 1))
    # angles/scale in data units: the arrow ends where the displacement points, in image pixels (y down)
    ax.quiver(xs, ys, dx, dy, angles="xy", scale_units="xy", scale=1, color=color, width=0.006)
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    return fig
