"""viz helpers return Figures, never show raw linear radiance, and draw what they are given."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
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
