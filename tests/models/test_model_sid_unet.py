"""Tests for hdredu.models.sid_unet: the layer table, shapes, receptive radius, tiled inference, one training step."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from hdredu.inference import predict
from hdredu.models.sid_unet import (
    SIDUNet,
    SIDUNetConfig,
    SIDUNetOutput,
    unet_receptive_radius,
)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_equals_layer_table():
    # reference/alen.md §3.3, every layer with a bias
    assert n_params(SIDUNet(SIDUNetConfig.paper())) == 7_760_748
    enc = (4 * 32 * 9 + 32) + (32 * 32 * 9 + 32) + (32 * 64 * 9 + 64) + (64 * 64 * 9 + 64) \
        + (64 * 128 * 9 + 128) + (128 * 128 * 9 + 128) + (128 * 256 * 9 + 256) + (256 * 256 * 9 + 256) \
        + (256 * 512 * 9 + 512) + (512 * 512 * 9 + 512)
    up = sum(c_in * c_out * 4 + c_out for c_in, c_out in [(512, 256), (256, 128), (128, 64), (64, 32)])
    dec = sum(2 * c * c * 9 + c + c * c * 9 + c for c in (256, 128, 64, 32))
    assert enc + up + dec + (32 * 12 + 12) == 7_760_748
    # the official TF code: transposed convolutions without bias
    no_bias = dataclasses.replace(SIDUNetConfig.paper(), upsample_bias=False)
    assert n_params(SIDUNet(no_bias)) == 7_760_748 - (256 + 128 + 64 + 32)
    assert n_params(SIDUNet(SIDUNetConfig.tiny())) == 485_988


def test_forward_shapes_and_intermediates():
    model = SIDUNet(SIDUNetConfig.tiny())
    inputs = torch.rand(2, 4, 32, 48)
    out = model(inputs)
    assert out.shape == (2, 3, 64, 96)
    inter = model(inputs, return_intermediates=True)
    assert isinstance(inter, SIDUNetOutput)
    torch.testing.assert_close(inter.output, out, rtol=0, atol=0)
    assert [tuple(e.shape) for e in inter.encoder] == [
        (2, 8, 32, 48), (2, 16, 16, 24), (2, 32, 8, 12), (2, 64, 4, 6), (2, 128, 2, 3)
    ]
    assert model.task == "lowlight" and model.config_class is SIDUNetConfig


def test_depth_to_space_layout():
    # output sub-pixel (i, j) of colour c comes from channel 4c + 2i + j of the last 1×1 conv
    model = SIDUNet(SIDUNetConfig.tiny())
    inputs = torch.rand(1, 4, 16, 16)
    captured = {}
    model.to_output.register_forward_hook(lambda m, a, out: captured.setdefault("y", out))
    out = model(inputs)
    y = captured["y"]
    torch.testing.assert_close(out[0, 1, 1::2, 0::2], y[0, 4 * 1 + 2 * 1 + 0], rtol=0, atol=0)


def test_matches_layer_by_layer_forward():
    # the official network written out with this model's layers (lrelu = max(0.2 x, x))
    model = SIDUNet(SIDUNetConfig.tiny())
    x = torch.rand(1, 4, 32, 32)

    def conv2(pair, t):
        t = torch.maximum(0.2 * pair[0](t), pair[0](t))
        return torch.maximum(0.2 * pair[2](t), pair[2](t))

    c1 = conv2(model.encoder[0], x)
    c2 = conv2(model.encoder[1], F.max_pool2d(c1, 2, 2))
    c3 = conv2(model.encoder[2], F.max_pool2d(c2, 2, 2))
    c4 = conv2(model.encoder[3], F.max_pool2d(c3, 2, 2))
    c5 = conv2(model.encoder[4], F.max_pool2d(c4, 2, 2))
    c6 = conv2(model.decoder[0], torch.cat([model.upsample[0](c5), c4], 1))
    c7 = conv2(model.decoder[1], torch.cat([model.upsample[1](c6), c3], 1))
    c8 = conv2(model.decoder[2], torch.cat([model.upsample[2](c7), c2], 1))
    c9 = conv2(model.decoder[3], torch.cat([model.upsample[3](c8), c1], 1))
    torch.testing.assert_close(model(x), F.pixel_shuffle(model.to_output(c9), 2))


def test_initialisation_follows_official_code():
    model = SIDUNet(SIDUNetConfig.paper())
    assert all(float(m.bias.detach().abs().max()) == 0 for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    up = model.upsample[0].weight.detach()
    assert up.abs().max() <= 0.04 and 0.015 < float(up.std()) < 0.02


def test_receptive_radius_is_exact():
    # perturb one packed row at 16 phases (mod 16): the furthest output row that changes is 107 rows away,
    # in sensor pixels 2·107 (+1 for the second row of a 2×2 output block)
    model = SIDUNet(SIDUNetConfig.tiny()).double()
    assert unet_receptive_radius(5) == 107
    height, width, rows = 256, 16, range(120, 136)
    base = torch.rand(1, 4, height, width, dtype=torch.float64)
    batch = base.repeat(len(rows) + 1, 1, 1, 1)
    for k, row in enumerate(rows):
        batch[k + 1, :, row, width // 2] += 10.0
    with torch.no_grad():
        out = model(batch)
    reach = 0
    for k, row in enumerate(rows):
        changed = ((out[k + 1] - out[0]).abs().amax(dim=(0, 2)) > 0).nonzero().flatten() // 2  # packed rows
        reach = max(reach, int(row - changed.min()), int(changed.max() - row))
    assert reach == 107
    assert model.receptive_radius == 112  # rounded up to the pooling period 16


def test_predict_tiled_equals_whole_with_receptive_radius():
    model = SIDUNet(SIDUNetConfig.tiny()).double().eval()
    radius = model.receptive_radius
    inputs = torch.rand(1, 4, 2 * radius + 64, 64, dtype=torch.float64)  # 288 × 64: 3 × 1 tiles of 96 × 96
    whole = predict(model, inputs)
    assert whole.shape == (1, 3, 2 * inputs.shape[2], 2 * inputs.shape[3])  # packed RAW → full-resolution sRGB
    torch.testing.assert_close(predict(model, inputs, tile=96), whole, rtol=1e-12, atol=1e-12)
    # too little overlap is visibly wrong: the test can fail
    short = predict(model, inputs, tile=96, overlap=radius - 32)
    assert (short - whole).abs().max() > 1e-10  # far pixels act through 4 small transposed convs: a small but real error


def test_one_training_step_lowers_the_loss():
    model = SIDUNet(SIDUNetConfig.tiny())
    inputs = torch.rand(2, 4, 32, 32)
    target = F.pixel_shuffle(inputs[:, [0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1]], 2).clamp(0, 1) * 0.8  # fixed batch
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    before = F.l1_loss(model(inputs), target)  # SID trains with L1
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = F.l1_loss(model(inputs), target)
    assert after < before


def test_error_messages():
    model = SIDUNet(SIDUNetConfig.tiny())
    with pytest.raises(ValueError, match=r"inputs \(packed RAW, amplified\) must have shape \(B 4 H W\)"):
        model(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"multiples of 16 \(one per pooling level; crop or pad the packed RAW\); got 40×32"):
        model(torch.rand(1, 4, 40, 32))
    with pytest.raises(ValueError, match="widths must list at least 2 positive"):
        SIDUNet(dataclasses.replace(SIDUNetConfig.tiny(), widths=(8,)))
    with pytest.raises(ValueError, match="scale must be a positive integer"):
        SIDUNet(dataclasses.replace(SIDUNetConfig.tiny(), scale=0))
