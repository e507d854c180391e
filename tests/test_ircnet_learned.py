"""IRC-Net's learned shrinkage: a training step lowers the loss, the script runs and resumes,
the parameter file is checked, and ``model=`` picks the parameters."""

import numpy as np
import pytest
import torch

from napari_motion_deblur import MotionField, deconvolve
from napari_motion_deblur import deconvolution as deconvolution_module
from napari_motion_deblur.settings import DeconvolutionSettings
from napari_motion_deblur.solvers import irc_weights
from napari_motion_deblur.solvers.irc import IRCNet
from napari_motion_deblur.training import ircnet as training
from napari_motion_deblur.training.motionnet import Sources


@pytest.fixture(scope="module")
def pair():
    return training.make_pair(Sources(None, crop=training.PAIR), np.random.default_rng(3))


def test_pairs_are_deterministic_by_seed(pair):
    again = training.make_pair(Sources(None, crop=training.PAIR), np.random.default_rng(3))
    assert pair[0].shape == pair[1].shape == (training.PAIR, training.PAIR)
    np.testing.assert_array_equal(pair[0], again[0])
    np.testing.assert_array_equal(pair[2].length, again[2].length)


def test_a_training_step_lowers_the_loss(pair):
    torch.manual_seed(0)
    net = IRCNet()
    net.inverse_bank.requires_grad_(False)
    optimizer = torch.optim.Adam([net.log_threshold, net.update_rate], lr=0.05)
    before = float(training.pair_loss(net, pair, "cpu"))
    for _ in range(4):
        optimizer.zero_grad()
        loss = training.pair_loss(net, pair, "cpu")
        loss.backward()
        optimizer.step()
    assert net.log_threshold.grad is not None and net.log_threshold.grad[:5].abs().sum() > 0
    assert float(training.pair_loss(net, pair, "cpu")) < before


def test_training_script_runs_logs_and_resumes(tmp_path):
    argv = ["--samples", "2", "--validation", "1", "--minutes", "0.02", "--batch", "1",
            "--validate-every", "0", "--out", str(tmp_path)]
    meta = training.main(argv)
    log = (tmp_path / "ircnet_train_log.csv").read_text().splitlines()
    assert log[0].split(",") == ["step", "minutes", "lr", "train_loss", "val_psnr_gain"]
    assert meta["steps"] >= 1 and (tmp_path / "ircnet_state.pt").exists()
    # the resumed budget counts the first run's time: leave room for a step on a busy machine
    budget = f"{meta['minutes'] + 0.05:.2f}"
    resumed = training.main(argv[:5] + [budget] + argv[6:] + ["--resume"])
    assert resumed["steps"] > meta["steps"]


def test_learned_file_round_trip_and_bad_files(tmp_path):
    net = IRCNet()
    with torch.no_grad():
        net.log_threshold[2] = torch.tensor([0.3, -0.2])
    path = tmp_path / "learned.pt"
    irc_weights.save_learned(net, path, {"note": "test"})
    other = irc_weights.apply_learned(IRCNet(), irc_weights.load_learned(path))
    assert torch.equal(other.log_threshold, net.log_threshold)
    assert (tmp_path / "learned.json").exists()
    with pytest.raises(ValueError, match="not found"):
        irc_weights.load_learned(tmp_path / "missing.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="cannot read"):
        irc_weights.load_learned(tmp_path / "empty.pt")
    torch.save({"log_threshold": torch.zeros(3, 2), "update_rate": torch.ones(20)},
               tmp_path / "shape.pt")
    with pytest.raises(ValueError, match="shape"):
        irc_weights.load_learned(tmp_path / "shape.pt")
    torch.save({"log_threshold": torch.full((20, 2), float("nan")),
                "update_rate": torch.ones(20)}, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match="finite"):
        irc_weights.load_learned(tmp_path / "nan.pt")


def test_model_picks_the_parameters(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    image = rng.uniform(0.2, 0.8, (64, 64)).astype(np.float32)
    field = MotionField.uniform(image.shape, 9.0, 20.0)
    analytic = deconvolve(image, field, device="cpu")
    np.testing.assert_array_equal(deconvolve(image, field, device="cpu", model="analytic"),
                                  analytic)
    net = IRCNet()
    with torch.no_grad():
        net.log_threshold[:] = 1.0  # e-fold thresholds: clearly different results
    irc_weights.save_learned(net, tmp_path / "learned.pt")
    monkeypatch.setattr(irc_weights, "default_path", lambda: tmp_path / "learned.pt")
    monkeypatch.setattr(deconvolution_module, "_models", {})
    learned = deconvolve(image, field, settings=DeconvolutionSettings(device="cpu",
                                                                      model="learned"))
    assert learned.dtype == np.float32 and np.abs(learned - analytic).max() > 1e-3
    np.testing.assert_array_equal(deconvolve(image, field, device="cpu", model="learned"),
                                  learned)
    with pytest.raises(ValueError, match="model must be one of"):
        DeconvolutionSettings(model="trained")
