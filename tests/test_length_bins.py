"""Motion-Net's length classifier: the quantile read-out, the new head and its training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from napari_motion_deblur.estimation import length_bins as bins
from napari_motion_deblur.estimation.motionnet import (
    OUTPUT_SCALE,
    MotionNet,
    load_weights,
    predict,
    save_weights,
    with_length_bins,
)
from napari_motion_deblur.motion import MAX_LENGTH
from napari_motion_deblur.training import motionnet as training


def one_bin(index: int, count: int = 18) -> torch.Tensor:
    logits = torch.full((1, count, 1, 1), -50.0)
    logits[0, index] = 0.0
    return logits


def test_the_bins_cover_every_supported_length():
    assert bins.bin_count() * bins.BIN_WIDTH >= MAX_LENGTH > (bins.bin_count() - 1) * bins.BIN_WIDTH


@pytest.mark.parametrize("index", [0, 5, 17])
def test_all_mass_in_one_bin_reads_inside_that_bin(index):
    median = bins.decode(one_bin(index), 0.5).item()
    low = bins.decode(one_bin(index), 0.2).item()
    assert low < median
    assert index * bins.BIN_WIDTH <= low
    assert median <= min((index + 1) * bins.BIN_WIDTH, MAX_LENGTH)
    if index < 17:
        assert median == pytest.approx((index + 0.5) * bins.BIN_WIDTH, abs=1e-4)


def test_an_unsure_network_answers_the_cautious_mode_below_the_median():
    logits = torch.full((1, 18, 1, 1), -50.0)
    logits[0, 4] = logits[0, 14] = 0.0  # 8-10 px or 28-30 px, even odds
    mean_like = (9.0 + 29.0) / 2
    assert bins.decode(logits, 0.4).item() < 10.0 < mean_like
    assert bins.decode(logits, 0.6).item() > 28.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-8, 8), min_size=18, max_size=18), st.floats(0.05, 0.95),
       st.floats(0.01, 0.04))
def test_decode_is_monotone_in_the_quantile_and_in_range(logits, quantile, delta):
    logits = torch.tensor(logits)[None, :, None, None]
    lower = bins.decode(logits, quantile).item()
    higher = bins.decode(logits, min(quantile + delta, 0.99)).item()
    assert 0.0 <= lower <= higher <= MAX_LENGTH


@pytest.mark.parametrize("quantile", [0.0, 1.0, -0.2, 1.5])
def test_bad_quantiles_are_refused(quantile):
    with pytest.raises(ValueError, match="quantile"):
        bins.decode(one_bin(3), quantile)
    with pytest.raises(ValueError, match="quantile"):
        MotionNet(width=8, length_bins=4, length_quantile=quantile)
    with pytest.raises(ValueError, match="quantile"):
        MotionNet(width=8, length_bins=4).set_length_quantile(quantile)


def test_the_quantile_can_be_changed_on_weights_with_bins_only():
    model = with_length_bins(MotionNet(width=8), 6)
    logits = torch.zeros(1, 6, 1, 1)
    model.set_length_quantile(0.25)
    assert model.config["length_quantile"] == 0.25
    assert bins.decode(logits, model.config["length_quantile"]).item() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="regress"):
        MotionNet(width=8).set_length_quantile(0.4)


def test_target_bins_put_each_length_in_its_bin():
    lengths = torch.tensor([[0.0, 1.9, 2.0, 34.9, 40.0]])
    assert bins.target_bins(lengths, 18).tolist() == [[0, 0, 1, 17, 17]]


def test_a_new_head_keeps_the_trained_regression_and_starts_uniform():
    torch.manual_seed(0)
    model = MotionNet(width=16).eval()
    new = with_length_bins(model).eval()
    x = torch.rand(2, 1, 40, 48)
    with torch.no_grad():
        old, raw = model.raw(x), new.raw(x)
        out = new(x)
    assert raw.shape == (2, 3 + bins.bin_count(), 40, 48)
    assert torch.allclose(old, raw[:, :3], atol=1e-5)
    assert torch.allclose(raw[:, 3:], torch.zeros(()), atol=1e-6)  # uniform distribution
    assert torch.allclose(out[:, :2], old[:, :2], atol=1e-5)
    uniform_median = bins.bin_count() * bins.BIN_WIDTH / 2
    assert torch.allclose(out[:, 2] * OUTPUT_SCALE, torch.tensor(uniform_median), atol=1e-3)


def test_weights_with_bins_round_trip_and_run_in_predict(tmp_path):
    model = with_length_bins(MotionNet(width=8), 6, quantile=0.3)
    path = tmp_path / "bins.pt"
    save_weights(model, path)
    loaded = load_weights(str(path))
    assert loaded.config["length_bins"] == 6 and loaded.config["length_quantile"] == 0.3
    field = predict(loaded, np.random.default_rng(0).random((70, 90), dtype=np.float32))
    assert field.shape == (70, 90) and np.all(field.length <= 6 * bins.BIN_WIDTH + 1e-4)


def test_regression_weights_load_without_bins(tmp_path):
    path = tmp_path / "plain.pt"
    save_weights(MotionNet(width=8), path)
    assert "length_bins" not in load_weights(str(path)).config


def test_a_training_step_with_bins_lowers_the_loss_including_the_cross_entropy():
    torch.manual_seed(0)
    sources = training.Sources(None, crop=48, synthetic_pool=4, seed=0, photos=False)
    x, y, _ = training.make_batch(sources, np.random.default_rng(0), 4, mode="node")
    model = with_length_bins(MotionNet(width=16))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)

    def cross_entropy():
        with torch.no_grad():
            return bins.classification_loss(model.raw(x)[:, 3:], y[:, 2] * OUTPUT_SCALE).item()

    before, losses = cross_entropy(), []
    for _ in range(15):
        loss = training.loss_fn(model.raw(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert cross_entropy() < before


def test_fine_tuning_adds_the_classifier_to_given_weights(fine_tune):
    meta, out = fine_tune("--length-bins", "18", "--length-quantile", "0.4")
    assert meta["config"]["length_bins"] == 18 and meta["config"]["length_quantile"] == 0.4
    assert np.isfinite(meta["validation"]["initial_weights"])
    assert load_weights(str(out / "motionnet.pt")).config["length_bins"] == 18
