"""Tests for hdredu.inference: full-resolution prediction and seamless overlapping tiles."""

import dataclasses

import pytest
import torch

from hdredu.inference import predict, tile_windows
from hdredu.models.ahdrnet import AHDRNet, AHDRNetConfig


def small_ahdrnet():
    torch.manual_seed(0)
    return AHDRNet(dataclasses.replace(AHDRNetConfig.tiny(), features=8, growth=4, dense_layers=2)).double()


def test_tile_windows_cover_the_axis_once():
    windows = tile_windows(10, 4, 2)
    assert windows == [(0, 4, 0, 6), (4, 8, 2, 10), (8, 10, 6, 10)]
    kept = [i for start, stop, _, _ in windows for i in range(start, stop)]
    assert kept == list(range(10))


def test_untiled_predict_equals_forward_and_keeps_mode():
    model = small_ahdrnet()
    model.train()
    inputs = torch.rand(2, 3, 6, 20, 20, dtype=torch.float64)
    out = predict(model, inputs)
    assert model.training
    with torch.no_grad():
        torch.testing.assert_close(out, model.eval()(inputs), rtol=0, atol=0)
    assert not out.requires_grad


@pytest.mark.parametrize("tile", [7, 16, 64])
def test_tiled_equals_untiled_with_receptive_overlap(tile):
    model = small_ahdrnet()
    inputs = torch.rand(1, 3, 6, 45, 38, dtype=torch.float64)
    whole = predict(model, inputs)
    tiled = predict(model, inputs, tile=tile)  # overlap defaults to model.receptive_radius
    torch.testing.assert_close(tiled, whole, rtol=1e-12, atol=1e-12)


def test_too_little_overlap_leaves_seams():
    # the check above can fail: with less context than the receptive radius the tiles disagree
    model = small_ahdrnet()
    inputs = torch.rand(1, 3, 6, 40, 40, dtype=torch.float64)
    error = (predict(model, inputs, tile=10, overlap=2) - predict(model, inputs)).abs().max()
    assert error > 1e-6


def test_unbatched_stack_and_device_of_result():
    model = small_ahdrnet()
    stack = torch.rand(3, 6, 12, 14, dtype=torch.float64)
    out = predict(model, stack, tile=5)
    assert out.shape == (3, 12, 14) and out.device == stack.device
    torch.testing.assert_close(out, predict(model, stack.unsqueeze(0))[0])


class DeclaredConv(torch.nn.Conv2d):
    receptive_radius = 2  # a 5×5 convolution


def test_generic_model_that_declares_its_receptive_radius():
    conv = DeclaredConv(2, 1, 5, padding=2).double()
    image = torch.rand(1, 2, 30, 30, dtype=torch.float64)
    torch.testing.assert_close(predict(conv, image, tile=8), predict(conv, image))


def test_models_that_do_not_declare_exact_tiling_are_refused():
    conv = torch.nn.Conv2d(2, 1, 5, padding=2)
    image = torch.rand(1, 2, 30, 30)
    with pytest.raises(ValueError, match="Conv2d does not declare a receptive_radius"):
        predict(conv, image, tile=8, overlap=2)
    from hdredu.models import build_model

    hdrnet = build_model("hdrnet", "tiny")
    picture = torch.rand(1, 3, 64, 96)
    with pytest.raises(ValueError, match="HDRNet cannot be tiled.*process\\(\\) keeps memory bounded"):
        predict(hdrnet, picture, tile=48)
    with pytest.raises(ValueError, match="overlap only applies to tiled prediction"):
        predict(hdrnet, picture, overlap=4)


def test_whole_image_prediction_uses_the_model_process_when_it_has_one():
    from hdredu.models import build_model

    hdrnet = build_model("hdrnet", "tiny").eval()
    picture = torch.rand(1, 3, 70, 90)
    with torch.no_grad():
        torch.testing.assert_close(predict(hdrnet, picture), hdrnet.process(picture), rtol=0, atol=0)
        torch.testing.assert_close(predict(hdrnet, picture), hdrnet(picture), rtol=1e-4, atol=1e-5)


def test_error_messages():
    model = small_ahdrnet()
    with pytest.raises(ValueError, match="tile must be a positive number of pixels"):
        predict(model, torch.rand(1, 3, 6, 8, 8), tile=0)
    with pytest.raises(ValueError, match="overlap must be ≥ 0"):
        predict(model, torch.rand(1, 3, 6, 8, 8), tile=4, overlap=-1)
    with pytest.raises(ValueError, match=r"inputs must be a tensor \(B, ..., H, W\)"):
        predict(model, [1, 2, 3])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tiled_matches_cpu():
    model = small_ahdrnet().float()
    inputs = torch.rand(1, 3, 6, 64, 64)
    cpu = predict(model, inputs)
    gpu = predict(model.cuda(), inputs, tile=24)
    assert gpu.device.type == "cpu"
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-4)
