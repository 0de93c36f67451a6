"""Pictures in the house style: HDR is always tone-mapped before it is shown, every figure helper returns
the matplotlib ``Figure`` and accepts an optional ``ax`` (or ``axes``).

Introduced in notebooks/00_hdr_basics.ipynb; later notebooks add model-specific helpers at the end.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from hdredu.imaging.tonemap import mu_law, reinhard


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
        scale = exposure if exposure is not None else 1.0 / float(torch.quantile(hdr.flatten(), 0.99).clamp_min(1e-8))
        return (hdr * scale).clamp(0, 1) ** (1 / 2.2)
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


def exposure_slider(hdr: torch.Tensor, crf: str = "gamma", ev_range: tuple[float, float] = (-6.0, 6.0)):
    """An ipywidgets slider over exposure (EV): each position shows what the camera would record.

    The frame is ``capture(hdr, t = 2^EV)`` through the camera model (noise off): watch highlights clip as
    EV rises and shadows crush to 0 as it falls. Returns the widget (display it in a notebook).
    """
    import ipywidgets as widgets

    from hdredu.imaging.camera import capture

    scale = 1.0 / float(torch.quantile(hdr.flatten(), 0.5).clamp_min(1e-8)) * 0.18
    out = widgets.Output()

    def draw(ev: float) -> None:
        frame = capture(hdr * scale, 2.0**ev, crf=crf, shot=0.0, read=0.0)
        clipped = float((frame >= 0.999).any(dim=0).float().mean())
        crushed = float((frame <= 0.001).all(dim=0).float().mean())
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(5, 3.4))
            ax.imshow(_hwc(frame))
            ax.set_title(f"EV {ev:+.1f}: {100 * clipped:.1f} % clipped, {100 * crushed:.1f} % black", fontsize=9)
            ax.axis("off")
            plt.show()

    slider = widgets.FloatSlider(value=0.0, min=ev_range[0], max=ev_range[1], step=0.5, description="EV")
    slider.observe(lambda change: draw(change["new"]), names="value")
    draw(0.0)
    return widgets.VBox([slider, out])
