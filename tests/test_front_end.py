"""Motion-Net's fixed front end, its long distances at half resolution, extended weights."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from napari_motion_deblur import MotionField, blur
from napari_motion_deblur.estimation.front_end import difference_filters, oriented_energy
from napari_motion_deblur.estimation.motionnet import (
    MotionNet,
    extended,
    load_weights,
    save_weights,
)

ORIENTATIONS = 12


@pytest.fixture(scope="module")
def camera():
    return skimage.data.camera().astype(np.float32) / 255.0


@pytest.mark.parametrize("angle_index", [0, 3, 7])
def test_long_distances_at_half_resolution_see_streaks_longer_than_the_fine_ones(camera,
                                                                                 angle_index):
    angle = 180.0 * angle_index / ORIENTATIONS
    img = camera[100:356, 100:356]
    half = [12.0, 16.0]  # 24 and 32 px at full resolution
    along = []
    for length in (12.0, 31.0):
        blurred = blur(img, MotionField.uniform(img.shape, length, angle), noise_sigma=0.0)
        x = torch.from_numpy(blurred)[None, None] - 0.5
        energy = oriented_energy(torch.nn.functional.avg_pool2d(x, 2),
                                 difference_filters(ORIENTATIONS, half), half, 2)
        assert energy.shape == (1, (ORIENTATIONS + 1) * 2, 64, 64)
        along.append(float(energy[0, angle_index, 8:-8, 8:-8].mean()))  # 24 px, along
    # A 12-px streak leaves differences 24 px apart alone; a 31-px one flattens them along it.
    assert along[1] < along[0] - 0.04


def test_extending_by_long_distances_keeps_the_answers_until_trained():
    torch.manual_seed(0)
    model = MotionNet(width=16).eval()
    wider = extended(model, coarse_shifts=[24, 32]).eval()
    assert wider.config["coarse_shifts"] == [24, 32]
    assert wider.merge[0].weight.shape[1] == model.merge[0].weight.shape[1] + 2 * 13
    x = torch.rand(2, 1, 52, 61)  # not a multiple of the network's stride
    with torch.no_grad():
        assert torch.allclose(model(x), wider(x), atol=1e-5)


def test_extending_by_something_else_is_refused():
    with pytest.raises(ValueError, match="cannot extend"):
        extended(MotionNet(width=8), width=32)
    with pytest.raises(ValueError, match="only adds"):
        extended(MotionNet(width=8, length_bins=6), length_bins=3)


def test_long_distance_weights_round_trip(tmp_path):
    model = MotionNet(width=8, coarse_shifts=(24, 32))
    save_weights(model, tmp_path / "w.pt")
    loaded = load_weights(str(tmp_path / "w.pt"))
    assert loaded.config["coarse_shifts"] == [24, 32]
    x = torch.rand(1, 1, 40, 40)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), loaded(x), atol=1e-2)  # float16 storage


def test_fine_tuning_adds_long_distances_and_trains_them(fine_tune):
    meta, out = fine_tune("--coarse-shifts", "24", "32", minutes="0.03")
    assert meta["config"]["coarse_shifts"] == [24, 32]
    # The last state (saved whether or not it beat the initial weights on validation).
    state = torch.load(out / "motionnet_state.pt", weights_only=False)["model"]
    new_inputs = state["merge.0.weight"][:, -26:]
    assert float(new_inputs.abs().max()) > 0  # the zero-initialized inputs were trained
    assert np.isfinite(meta["validation"]["best"])
