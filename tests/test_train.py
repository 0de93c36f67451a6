"""Tests for hdredu.train: fit, History, evaluate, checkpoints and exact resume."""

import csv
import dataclasses

import matplotlib
import pytest
import torch

from hdredu.losses import mu_law_l1
from hdredu.models.ahdrnet import AHDRNet, AHDRNetConfig
from hdredu.train import History, StepBatchSampler, TrainConfig, evaluate, fit, live_plot, load_checkpoint

matplotlib.use("Agg")


def toy_data(n=12, size=16, seed=0):
    """(inputs (3, 6, s, s), target (3, s, s)) pairs whose target is a smooth function of the reference frame."""
    gen = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        ldr = torch.rand(3, 3, size, size, generator=gen)
        times = torch.tensor([1.0, 4.0, 16.0]).view(3, 1, 1, 1)
        inputs = torch.cat([ldr, ldr**2.2 / times], dim=1)
        items.append((inputs, (ldr[1] ** 2.2 / 4.0).clamp(0, 1)))
    return items


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return AHDRNet(dataclasses.replace(AHDRNetConfig.tiny(), features=8, growth=4, dense_layers=2, blocks=1))


class FrameMean(torch.nn.Module):
    """A deliberately non-AHDRNet model: fit must work with any (inputs, target) model."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(18, 3, 3, padding=1)

    def forward(self, inputs):
        return torch.sigmoid(self.conv(inputs.flatten(1, 2)))


def weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=f"{key} differs")


FAST_CONFIG = TrainConfig(steps=10, lr=2e-3, batch_size=4, eval_every=5, progress=False)


def test_fit_lowers_the_loss_and_records_history():
    model = tiny_model()
    data = toy_data()
    history = fit(model, data, mu_law_l1, dataclasses.replace(FAST_CONFIG, steps=30), val_data=data[:3])
    assert history.steps == list(range(1, 31))
    assert sum(history.losses[-5:]) < 0.7 * sum(history.losses[:5])
    assert history.eval_steps == [0, 5, 10, 15, 20, 25, 30]
    assert set(history.metrics) == {"psnr_mu", "psnr_l"}
    assert history.metrics["psnr_mu"][-1] > history.metrics["psnr_mu"][0]
    assert not model.training


def test_fit_is_generic():
    model = FrameMean()
    history = fit(model, toy_data(), torch.nn.functional.l1_loss, dataclasses.replace(FAST_CONFIG, lr=1e-2),
                  val_data=toy_data(2, seed=1), metrics={"mae": lambda p, t: float((p - t).abs().mean())})
    assert list(history.metrics) == ["mae"]
    assert history.metrics["mae"][-1] < history.metrics["mae"][0]


def test_seeded_runs_repeat_exactly_and_seeds_matter():
    a, b, c = tiny_model(), tiny_model(), tiny_model()
    ha = fit(a, toy_data(), mu_law_l1, FAST_CONFIG)
    hb = fit(b, toy_data(), mu_law_l1, FAST_CONFIG)
    fit(c, toy_data(), mu_law_l1, dataclasses.replace(FAST_CONFIG, seed=1))
    assert ha.losses == hb.losses
    assert_same_weights(weights(a), weights(b))
    assert not torch.equal(a.encoder.weight, c.encoder.weight)


class Interrupt(Exception):
    pass


def interrupt_at(step):
    def callback(history):
        if history.steps[-1] == step:
            raise Interrupt

    return callback


def test_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    config = dataclasses.replace(FAST_CONFIG, steps=12, checkpoint_every=3, lr_decay_at=0.5)
    data, val = toy_data(10), toy_data(2, seed=3)  # 10 items, batch 4: batches cross epoch boundaries
    straight = tiny_model()
    full = fit(straight, data, mu_law_l1, config, val_data=val)

    path = tmp_path / "run" / "ckpt.pt"
    interrupted = tiny_model()
    with pytest.raises(Interrupt):
        fit(interrupted, data, mu_law_l1, config, val_data=val, checkpoint_path=path, on_step=interrupt_at(8))
    assert load_checkpoint(path)["step"] == 6  # the last save before the interruption
    resumed = tiny_model(seed=123)  # different starting weights: everything must come from the checkpoint
    # change the global RNG too: the checkpoint restores it
    torch.manual_seed(999)
    history = fit(resumed, data, mu_law_l1, config, val_data=val, checkpoint_path=path, resume=True)
    assert_same_weights(weights(resumed), weights(straight))
    assert history.losses == full.losses
    assert history.lrs == full.lrs
    assert history.metrics == full.metrics and history.eval_steps == full.eval_steps


def test_resume_from_a_finished_checkpoint_trains_nothing(tmp_path):
    path = tmp_path / "ckpt.pt"
    model = tiny_model()
    first = fit(model, toy_data(), mu_law_l1, FAST_CONFIG, checkpoint_path=path)
    again = tiny_model(seed=5)
    calls = []
    second = fit(again, toy_data(), mu_law_l1, FAST_CONFIG, checkpoint_path=path, resume=True, on_step=calls.append)
    assert calls == [] and second.losses == first.losses
    assert_same_weights(weights(again), weights(model))


def test_resume_refuses_a_different_config(tmp_path):
    path = tmp_path / "ckpt.pt"
    fit(tiny_model(), toy_data(), mu_law_l1, FAST_CONFIG, checkpoint_path=path)
    with pytest.raises(ValueError, match=r"config.lr is 0.001 but the checkpoint was made with 0.002"):
        fit(tiny_model(), toy_data(), mu_law_l1, dataclasses.replace(FAST_CONFIG, lr=1e-3), checkpoint_path=path, resume=True)
    # device, workers and the progress bar may change
    fit(tiny_model(), toy_data(), mu_law_l1, dataclasses.replace(FAST_CONFIG, progress=True), checkpoint_path=path, resume=True)


def test_learning_rate_drops_after_80_percent():
    history = fit(tiny_model(), toy_data(), mu_law_l1, dataclasses.replace(FAST_CONFIG, lr=1e-3, lr_decay_at=0.8))
    assert history.lrs[:8] == [1e-3] * 8
    assert history.lrs[8:] == pytest.approx([1e-4] * 2)
    never = fit(tiny_model(), toy_data(), mu_law_l1, dataclasses.replace(FAST_CONFIG, lr_decay_at=None))
    assert set(never.lrs) == {FAST_CONFIG.lr}


def test_step_batch_sampler_covers_every_epoch_and_is_position_independent():
    sampler = StepBatchSampler(n=10, batch_size=4, seed=0, start=0, stop=5)
    stream = [i for batch in sampler for i in batch]
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:20]) == list(range(10))
    assert stream[:10] != stream[10:20]  # each epoch is shuffled anew
    later = StepBatchSampler(n=10, batch_size=4, seed=0, start=3, stop=5)
    assert list(later) == [sampler.batch(3), sampler.batch(4)]
    assert len(later) == 2
    assert StepBatchSampler(10, 4, 1, 0, 1).batch(0) != sampler.batch(0)


def test_evaluate_known_answer():
    class Constant(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(()))

        def forward(self, inputs):
            return torch.full((inputs.shape[0], 3, *inputs.shape[-2:]), 0.5) + self.dummy

    data = [(torch.zeros(3, 6, 4, 4), torch.full((3, 4, 4), 0.25))] * 3
    scores = evaluate(Constant(), data, batch_size=2)
    # PSNR-L = 10 log10(1 / 0.25²) = 12.041 dB
    assert scores["psnr_l"] == pytest.approx(12.0412, abs=1e-3)


def test_history_to_csv(tmp_path):
    history = History(steps=[1, 2], losses=[0.5, 0.25], lrs=[1e-3, 1e-3], eval_steps=[0, 2],
                      metrics={"psnr_mu": [10.0, 20.0]})
    rows = list(csv.DictReader(history.to_csv(tmp_path / "m.csv").open()))
    assert [r["step"] for r in rows] == ["0", "1", "2"]
    assert rows[0]["loss"] == "" and rows[0]["psnr_mu"] == "10.0"
    assert rows[1]["psnr_mu"] == "" and rows[2]["psnr_mu"] == "20.0" and rows[2]["loss"] == "0.25"
    assert history.curve("psnr_mu") == ([0, 2], [10.0, 20.0])
    assert history.last("loss") == 0.25
    with pytest.raises(KeyError, match="no metric 'ssim'"):
        history.curve("ssim")


def test_live_plot_redraws_on_new_evaluations():
    callback = live_plot(baselines={"reference alone": 12.0})
    history = History(steps=[1], losses=[0.5], lrs=[1e-3], eval_steps=[0, 1], metrics={"psnr_mu": [10.0, 11.0]})
    callback(history)
    callback(history)  # nothing new: no redraw, no error


def test_error_messages(tmp_path):
    with pytest.raises(ValueError, match="steps must be a positive integer; got 0"):
        fit(tiny_model(), toy_data(), mu_law_l1, dataclasses.replace(FAST_CONFIG, steps=0))
    with pytest.raises(ValueError, match="lr_decay_at must be in"):
        fit(tiny_model(), toy_data(), mu_law_l1, dataclasses.replace(FAST_CONFIG, lr_decay_at=1.5))
    with pytest.raises(ValueError, match="resume=True needs a checkpoint_path"):
        fit(tiny_model(), toy_data(), mu_law_l1, FAST_CONFIG, resume=True)
    with pytest.raises(ValueError, match="training data is empty"):
        fit(tiny_model(), [], mu_law_l1, FAST_CONFIG)
    with pytest.raises(ValueError, match="data is empty"):
        evaluate(tiny_model(), [])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_non_finite_learning_rate_and_unknown_device_are_refused():
    for lr in (float("inf"), float("nan"), 0.0):
        with pytest.raises(ValueError, match="lr must be a positive finite number"):
            dataclasses.replace(FAST_CONFIG, lr=lr).validate()
    with pytest.raises(ValueError, match="device 'tpu' is not a device name|device 'tpu': hdredu runs on"):
        dataclasses.replace(FAST_CONFIG, device="tpu").validate()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda'.*use 'cpu'"):
            dataclasses.replace(FAST_CONFIG, device="cuda").validate()


def test_a_diverging_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    path = tmp_path / "ckpt.pt"
    fit(tiny_model(), toy_data(), mu_law_l1, dataclasses.replace(FAST_CONFIG, steps=4, eval_every=0), checkpoint_path=path)
    good = path.read_bytes()

    calls = [0]

    def loss_that_diverges(pred, target):  # finite for two steps, then NaN
        calls[0] += 1
        return mu_law_l1(pred, target) * (float("nan") if calls[0] > 2 else 1.0)

    config = dataclasses.replace(FAST_CONFIG, steps=8, eval_every=0, checkpoint_every=1)
    with pytest.raises(FloatingPointError, match="the training loss is nan at step 3.*last good checkpoint"):
        fit(tiny_model(), toy_data(), loss_that_diverges, config, checkpoint_path=tmp_path / "other.pt")
    assert torch.load(tmp_path / "other.pt", weights_only=False)["step"] == 2  # steps 1 and 2 were good
    assert path.read_bytes() == good


def test_weights_that_blow_up_are_never_saved(tmp_path):
    path = tmp_path / "ckpt.pt"
    config = dataclasses.replace(FAST_CONFIG, steps=1, eval_every=0)

    def finite_loss_nan_gradient(pred, target):  # sqrt(0 · p) is 0, its gradient 0 · ∞ = NaN
        return mu_law_l1(pred, target) + (pred.flatten()[0] * 0).sqrt()

    with pytest.raises(FloatingPointError, match="weights became NaN or Inf at step 1"):
        fit(tiny_model(), toy_data(), finite_loss_nan_gradient, config, checkpoint_path=path)
    assert not path.exists()


def test_truncated_or_foreign_checkpoints_name_the_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    fit(tiny_model(), toy_data(), mu_law_l1, dataclasses.replace(FAST_CONFIG, steps=1, eval_every=0), checkpoint_path=path)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match=f"checkpoint {truncated} cannot be read.*truncated"):
        load_checkpoint(truncated)
    foreign = tmp_path / "weights.pt"
    torch.save(tiny_model().state_dict(), foreign)
    with pytest.raises(ValueError, match=f"checkpoint {foreign} is not an hdredu training checkpoint"):
        load_checkpoint(foreign)


def test_a_failed_save_keeps_the_previous_checkpoint_and_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    config = dataclasses.replace(FAST_CONFIG, steps=2, eval_every=0)
    fit(tiny_model(), toy_data(), mu_law_l1, config, checkpoint_path=path)
    good = path.read_bytes()
    real_save = torch.save

    def disk_full(obj, target, *args, **kwargs):  # writes half a file, then fails like a full disk
        real_save(obj, target, *args, **kwargs)
        with open(target, "r+b") as handle:
            handle.truncate(100)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match=f"could not write checkpoint {path} \\(No space left on device\\)"):
        fit(tiny_model(), toy_data(), mu_law_l1, dataclasses.replace(config, steps=3), checkpoint_path=path)
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]
