"""hdredu.alignment: offsets as flow, endpoint error, feature misalignment, the motion sweep."""

import pytest
import torch

from hdredu import alignment
from hdredu.data.synthetic import translate
from hdredu.ops.deform import deform_conv2d_reference


def test_offsets_to_flow_means_groups_and_taps_in_dy_dx_order():
    groups, taps = 2, 9
    offset = torch.zeros(1, 2 * groups * taps, 4, 5)
    offset[:, 0::2] = 3.0  # every Δy
    offset[:, 1::2] = -1.0  # every Δx
    offset[0, 1, 0, 0] = -1.0 + 18  # one tap of group 0 moves 18 px further in x at pixel (0, 0)
    flow = alignment.offsets_to_flow(offset, groups)
    assert flow.shape == (1, 2, 4, 5)
    assert torch.allclose(flow[0, 0], torch.full((4, 5), 3.0))
    assert flow[0, 1, 0, 0] == pytest.approx(-1.0 + 18 / (groups * taps))
    assert flow[0, 1, 1, 1] == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="2·G·K"):
        alignment.offsets_to_flow(torch.zeros(1, 9, 2, 2), 2)


def test_tap_positions_zero_and_integer_offsets():
    offset = torch.zeros(1, 2 * 9, 6, 6)
    zero = alignment.tap_positions(offset, 2, 3)
    assert zero.shape == (1, 9, 2)
    assert zero[0, 0].tolist() == [1.0, 2.0] and zero[0, 4].tolist() == [2.0, 3.0] and zero[0, 8].tolist() == [3.0, 4.0]
    offset[:, 0::2], offset[:, 1::2] = 2.0, -1.0
    assert torch.equal(alignment.tap_positions(offset, 2, 3), zero + torch.tensor([2.0, -1.0], dtype=torch.float64))
    dilated = alignment.tap_positions(torch.zeros(1, 18, 6, 6), 2, 3, dilation=2, padding=2)
    assert dilated[0, 0].tolist() == [0.0, 1.0]


def test_tap_positions_are_where_the_dcn_samples():
    """A one-hot input at the position of tap k: only that tap's weight sees it."""
    torch.manual_seed(0)
    offset = torch.randn(1, 18, 5, 5).mul(1.5).round()  # integer offsets, positions on pixels
    positions = alignment.tap_positions(offset, 2, 2)[0]  # (9, 2)
    for k in (0, 4, 7):
        y, x = (int(v) for v in positions[k])
        if not (0 <= y < 5 and 0 <= x < 5):
            continue
        image = torch.zeros(1, 1, 5, 5)
        image[0, 0, y, x] = 1.0
        weight = torch.zeros(1, 1, 3, 3)
        weight[0, 0, k // 3, k % 3] = 1.0
        out = deform_conv2d_reference(image, offset, weight, padding=1)
        assert out[0, 0, 2, 2] == pytest.approx(1.0)


def test_endpoint_error_known_answer_and_mask():
    flow = torch.zeros(2, 3, 4)
    true = torch.zeros(2, 3, 4)
    true[0, :, :2] = 3.0
    true[1, :, :2] = 4.0  # ‖(3, 4)‖ = 5 on the left half
    assert alignment.endpoint_error(flow, true) == pytest.approx(2.5)
    left = torch.zeros(1, 3, 4, dtype=torch.bool)
    left[..., :2] = True
    assert alignment.endpoint_error(flow, true, left) == pytest.approx(5.0)
    assert alignment.endpoint_error(flow, true, ~left[0]) == pytest.approx(0.0)
    assert alignment.endpoint_error(flow[None], true[None], left[None]) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="no pixel"):
        alignment.endpoint_error(flow, true, torch.zeros(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="2, H, W"):
        alignment.endpoint_error(flow[:1], true[:1])


def test_feature_misalignment_vanishes_with_the_true_flow():
    torch.manual_seed(0)
    ref = torch.rand(4, 16, 16)
    moved = translate(ref, 2.0, -1.0)  # content moves 2 px right, 1 px up: ref pixel (y, x) is at (y − 1, x + 2)
    flow = torch.tensor([-1.0, 2.0]).view(2, 1, 1).expand(2, 16, 16)
    inner = torch.zeros(16, 16, dtype=torch.bool)
    inner[3:-3, 3:-3] = True
    before = alignment.feature_misalignment(moved, ref, mask=inner)
    after = alignment.feature_misalignment(moved, ref, flow, inner)
    assert before > 0.1
    assert after < 1e-5


def test_motion_sweep_reference_model_scores_like_the_reference():
    class ReferenceFrame(torch.nn.Module):
        """Returns the reference frame's L^γ/t: the reference-alone baseline, as a network."""

        def forward(self, inputs):
            return inputs[:, inputs.shape[1] // 2, 3:]

    rows = alignment.motion_sweep({"ref net": ReferenceFrame()}, shifts=(0, 6), brackets_per_shift=1, crop_size=48)
    assert [(r["shift_px"], r["method"]) for r in rows] == [
        (0.0, "ref net"), (0.0, "reference alone"), (0.0, "Debevec"),
        (6.0, "ref net"), (6.0, "reference alone"), (6.0, "Debevec")]
    for shift in (0.0, 6.0):
        net, ref = (next(r for r in rows if r["shift_px"] == shift and r["method"] == m) for m in ("ref net", "reference alone"))
        assert net["psnr_mu"] == pytest.approx(ref["psnr_mu"], abs=1e-3)
        assert net["psnr_mu_motion"] == pytest.approx(ref["psnr_mu_motion"], abs=1e-3)
    table = alignment.sweep_table(rows)
    assert table.splitlines()[0] == "| shift (px) | ref net | reference alone | Debevec |"
    assert len(table.splitlines()) == 4
