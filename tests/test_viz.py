"""viz helpers return Figures, never show raw linear radiance, and draw what they are given."""

import base64
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hdredu import viz  # noqa: E402


def test_display_hdr_maps_radiance_into_display_range():
    hdr = torch.rand(3, 8, 8) * 1000.0
    for method in ("reinhard", "mu", "exposure"):
        shown = viz.display_hdr(hdr, method)
        assert shown.shape == hdr.shape and 0.0 <= shown.min() and shown.max() <= 1.0


def test_display_hdr_rejects_unknown_method():
    with pytest.raises(ValueError, match="method must be"):
        viz.display_hdr(torch.rand(3, 4, 4), "drago")


def test_show_hdr_draws_the_tonemapped_image():
    hdr = torch.rand(3, 8, 8) * 50.0
    fig = viz.show_hdr(hdr, method="reinhard")
    shown = fig.axes[0].images[0].get_array()
    torch.testing.assert_close(torch.as_tensor(shown), viz.display_hdr(hdr).permute(1, 2, 0))
    plt.close(fig)


def test_show_stack_labels_frames_with_ev():
    fig = viz.show_stack(torch.rand(3, 3, 8, 8), torch.tensor([1.0, 4.0, 16.0]), ref_idx=1)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["EV +0.0", "EV +2.0 (reference)", "EV +4.0"]
    plt.close(fig)


def test_plot_metric_panels_one_panel_per_metric_with_baselines():
    curves = {"PSNR-μ": {"net": ([0, 10], [30.0, 35.0])}, "HDR-VDP-2.2 Q": {"net": ([0, 10], [50.0, 60.0])}}
    fig = viz.plot_metric_panels(curves, baselines={"PSNR-μ": {"Debevec": 32.0}})
    assert [ax.get_ylabel() for ax in fig.axes] == ["PSNR-μ", "HDR-VDP-2.2 Q"]
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 1  # curve + baseline, curve only
    assert list(fig.axes[0].lines[0].get_ydata()) == [30.0, 35.0]
    plt.close(fig)


def test_show_attention_uses_fixed_unit_range():
    fig = viz.show_attention(torch.full((4, 6, 6), 0.25))
    image = fig.axes[0].images[0]
    assert image.get_clim() == (0.0, 1.0)
    assert float(image.get_array().mean()) == pytest.approx(0.25)
    plt.close(fig)


def test_plot_training_draws_loss_and_one_panel_per_metric_with_baselines():
    from hdredu.train import History

    history = History(steps=[1, 2, 3], losses=[0.5, 0.3, 0.2], lrs=[1e-3] * 3, eval_steps=[0, 3],
                      metrics={"psnr_mu": [20.0, 30.0], "hdrvdp2_q": [50.0, 60.0]})
    fig = viz.plot_training(history, {"PSNR-μ": "psnr_mu", "Q": "hdrvdp2_q"},
                            {"reference": {"psnr_mu": 25.0, "hdrvdp2_q": 55.0}}, label="net")
    loss_ax, psnr_ax, q_ax = fig.axes
    assert list(loss_ax.lines[0].get_ydata()) == [0.5, 0.3, 0.2]
    assert list(psnr_ax.lines[0].get_ydata()) == [20.0, 30.0] and psnr_ax.lines[1].get_ydata()[0] == 25.0
    assert q_ax.get_ylabel() == "Q" and q_ax.lines[1].get_ydata()[0] == 55.0
    plt.close(fig)


def _png_of(slider_figure) -> bytes:
    """The PNG the widget's Output currently shows (it must hold exactly one image)."""
    (shown,) = slider_figure.output.outputs
    return base64.b64decode(shown["data"]["image/png"])


def test_slider_figure_redraws_its_own_output_when_a_slider_moves():
    calls = []

    def draw(fig, level, gain):
        calls.append((level, gain))
        fig.subplots().imshow(np.full((4, 4), level * gain), vmin=0, vmax=20)

    shown = viz.slider_figure(draw, level=(0, 10, 1, 5), gain=(1.0, 2.0, 0.5))
    assert calls[0] == (5, 1.5) and isinstance(shown.sliders["gain"].value, float)
    before = _png_of(shown)
    assert before.startswith(b"\x89PNG")
    shown.sliders["level"].value = 9
    after = _png_of(shown)
    assert calls[-1] == (9, 1.5) and after != before
    shown.sliders["gain"].value = 1.0
    assert calls[-1] == (9, 1.0) and _png_of(shown) != after


def test_slider_figure_never_touches_pyplot_figures():
    overview = plt.figure()  # an overview drawn above the slider, still open when the slider is made
    overview.add_subplot().plot([0, 1], [1, 0])
    open_before = plt.get_fignums()
    shown = viz.slider_figure(lambda fig, z: fig.subplots().plot([0, z]), z=(1, 3, 1))
    shown.sliders["z"].value = 3
    assert plt.get_fignums() == open_before, "the slider neither closes nor adds pyplot figures"
    assert len(shown.output.outputs) == 1, "only the slider's own figure is in its Output"
    plt.close(overview)


def test_slider_figure_static_strip_holds_the_requested_positions():
    drawn = []
    shown = viz.slider_figure(lambda fig, z: drawn.append(z) or fig.subplots().plot([0, z]), figsize=(2, 1),
                              static={"z": [0, 2, 4]}, z=(0, 4, 1, 1))
    assert drawn == [1, 0, 2, 4], "one live drawing, then the three static positions"
    from PIL import Image

    strip = Image.open(io.BytesIO(shown.strip))
    assert strip.size == (3 * 2 * 60, 1 * 60)  # three 2×1-inch drawings at 60 dpi, side by side
    assert viz.slider_figure(lambda fig, z: None, static={}, z=(0, 1, 1)).strip is None


def test_slider_figure_rejects_an_unusable_slider_spec():
    with pytest.raises(ValueError, match="slider 'z'"):
        viz.slider_figure(lambda fig, z: None, z="not a range")


def test_exposure_slider_redraws_at_each_ev_and_keeps_a_strip():
    hdr = torch.rand(3, 16, 16) * 10.0
    shown = viz.exposure_slider(hdr)
    titles = []
    for ev in (-4.0, 4.0):
        shown.sliders["ev"].value = ev
        titles.append(shown.output.outputs[0]["data"]["text/plain"])
    assert titles == ["<figure at ev = -4.0>", "<figure at ev = 4.0>"]
    assert shown.strip is not None


def test_grid_slider_uses_one_colour_range_for_every_bin():
    grid = torch.zeros(12, 4, 3, 3)
    grid[0, 0] = 0.1  # bin 0 barely off zero, bin 3 large: per-bin autoscaling would paint both saturated
    grid[0, 3] = -2.0
    shown = viz.grid_slider(grid, channel=0, image=torch.rand(3, 8, 8), guide=torch.rand(1, 8, 8))
    captured = []
    original = viz.Figure.colorbar

    def spy(fig, mappable, **kwargs):
        captured.append(mappable.get_clim())
        return original(fig, mappable, **kwargs)

    viz.Figure.colorbar = spy
    try:
        for z in (0, 3):
            shown.sliders["z"].value = z
    finally:
        viz.Figure.colorbar = original
    assert captured == [(-2.0, 2.0), (-2.0, 2.0)], "both bins on the grid's symmetric range, with a colorbar"


def test_grid_slider_checks_the_homogeneous_grid():
    with pytest.raises(ValueError, match="channel=None shows a homogeneous RGB grid"):
        viz.grid_slider(torch.rand(12, 4, 3, 3))


def test_slider_figure_shows_a_drawing_error_in_its_output():
    def draw(fig, z):
        if z > 1:
            raise RuntimeError("z too large for this drawing")
        fig.subplots().plot([0, z])

    shown = viz.slider_figure(draw, static={}, z=(0, 3, 1, 0))
    shown.sliders["z"].value = 2
    (error,) = shown.output.outputs
    assert error["name"] == "stderr" and "z too large" in error["text"]
    with pytest.raises(RuntimeError, match="z too large"):
        viz.slider_figure(draw, static={}, z=(0, 3, 1, 3))  # the first drawing raises where the cell runs


def test_show_flow_draws_arrows_in_pixels_pointing_down_for_positive_dy():
    flow = torch.zeros(2, 16, 24)
    flow[0] = 3.0  # dy: 3 px down
    fig = viz.show_flow(flow, image=torch.rand(3, 16, 24), step=8, title="flow")
    ax = fig.axes[0]
    quiver = ax.collections[0]
    assert len(quiver.U) == 2 * 3  # rows 4, 12 × cols 4, 12, 20
    assert np.allclose(quiver.V, 3.0) and np.allclose(quiver.U, 0.0)
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # image orientation: y grows downwards
    assert ax.get_title() == "flow"
    plt.close(fig)
