"""Tests for hdredu.ops.deform: DCNv2 against a literal loop, plain and shifted convolutions, gradients,
the two memory paths, shape errors, and torchvision where it imports."""

import pytest
import torch
import torch.nn.functional as F

from hdredu.ops.deform import DeformConv2d, deform_conv2d, deform_conv2d_reference

try:  # torchvision does not import in hdredu's CPU environment (it raises RuntimeError there, not ImportError)
    from torchvision.ops import deform_conv2d as tv_deform_conv2d
except Exception:  # noqa: BLE001
    tv_deform_conv2d = None


def _case(batch=1, channels=4, out_channels=6, size=(6, 7), kernel=(3, 3), deform_groups=2, groups=1,
          stride=1, padding=1, dilation=1, offset_std=2.0, dtype=torch.float64, seed=0):
    """Random input, offset, mask, weight, bias for one configuration (offsets large enough to leave the image)."""
    gen = torch.Generator().manual_seed(seed)
    height, width = size
    kh, kw = kernel
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    taps = kh * kw
    x = torch.randn(batch, channels, height, width, generator=gen, dtype=dtype)
    offset = offset_std * torch.randn(batch, 2 * deform_groups * taps, out_h, out_w, generator=gen, dtype=dtype)
    mask = torch.rand(batch, deform_groups * taps, out_h, out_w, generator=gen, dtype=dtype)
    weight = torch.randn(out_channels, channels // groups, kh, kw, generator=gen, dtype=dtype)
    bias = torch.randn(out_channels, generator=gen, dtype=dtype)
    return x, offset, weight, bias, mask, {"stride": stride, "padding": padding, "dilation": dilation}


CASES = {
    "G2": {},
    "G1 no padding": {"deform_groups": 1, "padding": 0},
    "G4 groups2": {"deform_groups": 4, "groups": 2, "channels": 4, "out_channels": 4},
    "stride2": {"stride": 2, "size": (7, 8)},
    "dilation2": {"dilation": 2, "padding": 2},
    "rect kernel, mixed stride": {"kernel": (1, 3), "stride": (2, 1), "padding": (0, 1), "dilation": (1, 2)},
    "batch2 large offsets": {"batch": 2, "offset_std": 6.0},
}


@pytest.mark.parametrize("method", ["columns", "taps"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_loop_reference(name, method):
    x, offset, weight, bias, mask, kw = _case(**CASES[name])
    expected = deform_conv2d_reference(x, offset, weight, bias, mask=mask, **kw)
    got = deform_conv2d(x, offset, weight, bias, mask=mask, method=method, **kw)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_reference_sees_out_of_bounds_samples():
    # the "large offsets" case really samples outside the image: with offsets of std 6 on a 6×7 image, many
    # positions fall off it, and the zero padding (not clamping) makes those taps 0
    x, offset, weight, bias, mask, kw = _case(**CASES["batch2 large offsets"])
    pos_y = offset[:, 0::2]
    assert (pos_y.abs() > 7).float().mean() > 0.1
    far = torch.full_like(offset, 100.0)
    zero = deform_conv2d(x, far, weight, bias, mask=mask, **kw)
    torch.testing.assert_close(zero, bias.view(1, -1, 1, 1).expand_as(zero))


def test_float32_close_to_reference_and_mask_none_is_one():
    x, offset, weight, bias, mask, kw = _case(dtype=torch.float32)
    expected = deform_conv2d_reference(x, offset, weight, bias, mask=mask, **kw)
    got = deform_conv2d(x, offset, weight, bias, mask=mask, **kw)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-4)
    ones = torch.ones_like(mask)
    torch.testing.assert_close(deform_conv2d(x, offset, weight, bias, **kw),
                               deform_conv2d(x, offset, weight, bias, mask=ones, **kw))


@pytest.mark.parametrize("name", ["G2", "G4 groups2", "stride2", "dilation2", "rect kernel, mixed stride"])
def test_zero_offset_unit_mask_is_plain_conv(name):
    x, offset, weight, bias, mask, kw = _case(**CASES[name])
    groups = x.shape[1] // weight.shape[1]
    got = deform_conv2d(x, torch.zeros_like(offset), weight, bias, mask=torch.ones_like(mask), **kw)
    torch.testing.assert_close(got, F.conv2d(x, weight, bias, groups=groups, **kw), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dy,dx", [(1, 0), (0, 1), (-1, 2)])
def test_integer_offset_is_shifted_conv_away_from_borders(dy, dx):
    # every tap moved by (dy, dx) pixels reads x(i + dy, j + dx): the plain conv of the shifted image
    x, offset, weight, bias, mask, kw = _case(size=(10, 11), deform_groups=1)
    shift = torch.zeros_like(offset)
    shift[:, 0::2], shift[:, 1::2] = dy, dx
    got = deform_conv2d(x, shift, weight, bias, mask=torch.ones_like(mask), **kw)
    plain = F.conv2d(x, weight, bias, **kw)  # out[i, j] here is out_shifted[i − dy, j − dx]
    margin = 1 + max(abs(dy), abs(dx))  # keep clear of both the padding and the shifted-in zeros
    inner = (..., slice(margin, -margin), slice(margin, -margin))
    shifted = torch.roll(plain, shifts=(-dy, -dx), dims=(2, 3))
    torch.testing.assert_close(got[inner], shifted[inner], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["columns", "taps"])
def test_gradcheck_float64(method):
    x, offset, weight, bias, mask, kw = _case(batch=1, channels=2, out_channels=2, size=(4, 5), deform_groups=2,
                                              offset_std=0.7)
    # fractional positions only: at integer positions bilinear sampling has a kink (one-sided gradient)
    offset = offset + 0.25
    args = [t.requires_grad_() for t in (x, offset, weight, bias, mask)]

    def fn(x, offset, weight, bias, mask):
        return deform_conv2d(x, offset, weight, bias, mask=mask, method=method, **kw)

    assert torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-6)


def test_gradcheck_strided_grouped():
    x, offset, weight, _bias, mask, kw = _case(channels=4, out_channels=2, size=(5, 5), deform_groups=2, groups=2,
                                              stride=2, dilation=(1, 2), padding=(1, 2), offset_std=0.6)
    offset = offset + 0.3
    args = [t.requires_grad_() for t in (x, offset, weight, mask)]
    assert torch.autograd.gradcheck(lambda x, o, w, m: deform_conv2d(x, o, w, mask=m, **kw), args, eps=1e-6, atol=1e-6)


def test_auto_method_picks_by_column_size(monkeypatch):
    from hdredu.ops import deform

    x, offset, weight, bias, mask, kw = _case()
    columns = deform_conv2d(x, offset, weight, bias, mask=mask, method="columns", **kw)
    # shrink the limit so "auto" takes the per-tap loop; it must agree
    monkeypatch.setattr(deform, "COLUMN_BYTES_LIMIT", 0)
    calls = []
    real_sample = deform._sample
    monkeypatch.setattr(deform, "_sample", lambda *a: calls.append(a[1].shape[2]) or real_sample(*a))
    taps = deform_conv2d(x, offset, weight, bias, mask=mask, **kw)
    assert calls == [1] * 9  # one grid_sample per tap
    torch.testing.assert_close(taps, columns, rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # the in-place inference branch
        torch.testing.assert_close(deform_conv2d(x, offset, weight, bias, mask=mask, **kw), columns,
                                   rtol=1e-12, atol=1e-12)


def test_module_equals_function():
    layer = DeformConv2d(4, 6, 3, padding=1, groups=2)
    x, offset, _, _, mask, _ = _case(dtype=torch.float32, deform_groups=2)
    torch.testing.assert_close(layer(x, offset, mask),
                               deform_conv2d(x, offset, layer.weight, layer.bias, padding=1, mask=mask),
                               rtol=0, atol=0)
    assert layer.weight.shape == (6, 2, 3, 3)
    assert torch.all(layer.bias == 0) and layer.weight.abs().max() <= 1 / (2 * 9) ** 0.5
    assert DeformConv2d(4, 6, 3, bias=False).bias is None


def test_shape_errors_name_the_argument():
    x, offset, weight, bias, mask, kw = _case()  # G = 2, K = 9, Ho×Wo = 6×7
    with pytest.raises(ValueError, match=r"offset must be \(B, 2·G·K, Ho, Wo\) = \(1, 2·G·9, 6, 7\)"):
        deform_conv2d(x, offset[:, :-1], weight, bias, mask=mask, **kw)
    with pytest.raises(ValueError, match=r"offset must be .*\(1, 2·G·9, 6, 7\)"):
        deform_conv2d(x, offset[..., :-1], weight, bias, mask=mask, **kw)
    with pytest.raises(ValueError, match=r"offset must be .*G deformable groups dividing C = 4"):
        deform_conv2d(x, torch.zeros(1, 2 * 3 * 9, 6, 7, dtype=x.dtype), weight, bias, **kw)  # G = 3
    with pytest.raises(ValueError, match=r"mask must be \(B, G·K, Ho, Wo\) = \(1, 18, 6, 7\)"):
        deform_conv2d(x, offset, weight, bias, mask=mask[:, :9], **kw)
    with pytest.raises(ValueError, match=r"input must have shape"):
        deform_conv2d(x[0], offset, weight, bias, mask=mask, **kw)
    with pytest.raises(ValueError, match=r"weight must be \(Cout, C/groups"):
        deform_conv2d(x, offset, weight[:, :3], bias, mask=mask, **kw)
    with pytest.raises(ValueError, match=r"bias must be \(Cout,\)"):
        deform_conv2d(x, offset, weight, bias[:2], mask=mask, **kw)
    with pytest.raises(ValueError, match="method must be one of"):
        deform_conv2d(x, offset, weight, bias, mask=mask, method="fast", **kw)


def test_single_pixel_rows_do_not_divide_by_zero():
    # align_corners=True would normalise by (W − 1) = 0; the (2p + 1)/W form does not
    x, offset, weight, bias, mask, kw = _case(size=(1, 5), kernel=(1, 3), padding=(0, 1), offset_std=0.4)
    got = deform_conv2d(x, offset, weight, bias, mask=mask, **kw)
    torch.testing.assert_close(got, deform_conv2d_reference(x, offset, weight, bias, mask=mask, **kw))


@pytest.mark.skipif(tv_deform_conv2d is None, reason="torchvision cannot be imported here")
@pytest.mark.parametrize("name", list(CASES))
def test_equals_torchvision(name):
    x, offset, weight, bias, mask, kw = _case(**CASES[name])
    expected = tv_deform_conv2d(x, offset, weight, bias, mask=mask, **kw)
    torch.testing.assert_close(deform_conv2d(x, offset, weight, bias, mask=mask, **kw), expected,
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", ["columns", "taps"])
@pytest.mark.parametrize("name", ["G2", "stride2", "dilation2"])
def test_row_bands_reassemble_the_full_output(name, method):
    x, offset, weight, bias, mask, kw = _case(**CASES[name])
    full = deform_conv2d(x, offset, weight, bias, mask=mask, **kw)
    bands = [(0, 2), (2, 3), (3, full.shape[2])]
    pieces = [deform_conv2d(x, offset[:, :, top:bottom], weight, bias, mask=mask[:, :, top:bottom],
                            method=method, rows=(top, bottom), **kw) for top, bottom in bands]
    torch.testing.assert_close(torch.cat(pieces, dim=2), full, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"rows must be \(top, bottom\) with 0 ≤ top < bottom ≤ Ho"):
        deform_conv2d(x, offset, weight, bias, mask=mask, rows=(2, 2), **kw)
    with pytest.raises(ValueError, match=r"offset must be .*2·G·9, 2, "):  # offsets must cover the band only
        deform_conv2d(x, offset, weight, bias, mask=mask, rows=(0, 2), **kw)
