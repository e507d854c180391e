"""Motion-Net, the spectral estimator, blind deblurring and the Motion-Net training script."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
import torch

from napari_motion_deblur.estimation.api import deblur, estimate_motion, estimate_with_confidence
from napari_motion_deblur.estimation.motionnet import (
    MotionNet,
    from_field,
    load_weights,
    save_weights,
    streak_error,
    to_field,
)
from napari_motion_deblur.motion import MotionField
from napari_motion_deblur.physics.synthesis import blur, camera_shake_field
from napari_motion_deblur.training import motionnet as training


@pytest.fixture(scope="module")
def camera():
    return skimage.data.camera()[64:448, 64:448].astype(np.float32) / 255.0


def _interior_median(field: MotionField, margin: int = 48):
    length = field.length[margin:-margin, margin:-margin]
    doubled = np.radians(2.0 * field.angle[margin:-margin, margin:-margin])
    angle = np.degrees(np.arctan2(np.median(np.sin(doubled)), np.median(np.cos(doubled)))) / 2
    return float(np.median(length)), float(angle % 180.0)


def _angle_gap(a, b):
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


# ------------------------------------------------------------------------------ the network
def test_packaged_weights_load_offline_and_run():
    model = load_weights()
    assert isinstance(model, MotionNet)
    with torch.no_grad():
        out = model(torch.rand(1, 1, 70, 53))
    assert out.shape == (1, 3, 70, 53)
    field = to_field(out[0])
    assert field.shape == (70, 53) and field.length.max() <= 35.0


@pytest.mark.parametrize("content", [None, b"not a checkpoint"])
def test_missing_or_corrupt_weights_say_how_to_retrain(tmp_path, content):
    path = tmp_path / "motionnet.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(RuntimeError, match="training.motionnet"):
        load_weights(str(path))


def test_save_load_round_trip(tmp_path):
    model = MotionNet(width=16).eval()
    save_weights(model, tmp_path / "m.pt", {"note": "test"})
    loaded = load_weights(str(tmp_path / "m.pt"))
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), loaded(x), atol=2e-2)
    assert (tmp_path / "m.json").exists()


def test_target_round_trip_is_sign_free():
    field = MotionField(np.array([[10.0, 20.0]]), np.array([[30.0, 170.0]]))
    back = to_field(torch.from_numpy(from_field(field)))
    assert np.allclose(back.length, field.length, atol=1e-3)
    assert np.allclose(back.angle, field.angle, atol=1e-3)
    flipped = MotionField(field.length, field.angle + 180.0)
    assert streak_error(flipped, field) < 1e-6


def test_streak_error_values():
    a = MotionField.uniform((4, 4), 10.0, 0.0)
    assert streak_error(a, MotionField.uniform((4, 4), 10.0, 90.0)) == pytest.approx(200.0)
    assert streak_error(a, MotionField.uniform((4, 4), 0.0, 0.0)) == pytest.approx(100.0)


# ---------------------------------------------------------------------------- estimation
@pytest.mark.parametrize("method", ["spectral", "motionnet"])
@pytest.mark.parametrize("angle", [0.0, 90.0])
def test_uniform_blur_is_recovered(camera, method, angle):
    length = 17.0
    blurred = blur(camera, MotionField.uniform(camera.shape, length, angle), noise_sigma=0.005,
                   seed=1)
    est_length, est_angle = _interior_median(estimate_motion(blurred, method=method,
                                                             device="cpu"))
    assert _angle_gap(est_angle, angle) <= 15.0
    assert abs(est_length - length) <= 0.3 * length


def test_estimates_accept_colour_and_integers(camera):
    rgba = np.dstack([camera] * 3 + [np.ones_like(camera)])[:128, :160]
    field = estimate_motion((rgba * 255).astype(np.uint8), method="spectral")
    assert field.shape == (128, 160)
    field = estimate_motion(rgba, method="motionnet", device="cpu")
    assert field.shape == (128, 160)
    tiled = np.dstack([camera] * 3)[:200, :170]  # larger than one tile: the tiled path
    assert estimate_motion(tiled, method="motionnet", device="cpu").shape == (200, 170)


@pytest.mark.parametrize("passes", [4, 8])
def test_test_time_passes_turn_with_the_image(camera, passes):
    # Averaging over quarter turns (and mirrors) makes the estimate exactly equivariant.
    img = camera[:150, :176]
    field = estimate_motion(img, device="cpu", passes=passes, check=False)
    turned = estimate_motion(np.rot90(img), device="cpu", passes=passes, check=False)
    expected = field.rot90(1)
    assert np.allclose(turned.length, expected.length, atol=1e-3)
    moving = expected.length > 2.0
    gap = np.abs((turned.angle - expected.angle + 90.0) % 180.0 - 90.0)
    assert moving.any() and gap[moving].max() < 0.01


def test_more_passes_do_not_lengthen_streaks(camera):
    # Averaging streak vectors can only shorten them where the passes disagree.
    blurred = blur(camera[:160, :160], MotionField.uniform((160, 160), 15.0, 60.0), seed=2)
    single = estimate_motion(blurred, device="cpu", passes=1, check=False)
    mean_of_passes = np.mean([estimate_motion(np.rot90(blurred, k), device="cpu", passes=1,
                                              check=False).rot90(-k).length
                              for k in range(4)], 0)
    four = estimate_motion(blurred, device="cpu", passes=4, check=False)
    assert single.shape == four.shape
    assert np.all(four.length <= mean_of_passes + 1e-3)


def test_iter_estimate_reports_each_pass_and_the_check_and_stops_when_closed(camera):
    from napari_motion_deblur import EstimationProgress, iter_estimate
    from napari_motion_deblur.settings import EstimationSettings

    img = camera[:128, :128]
    settings = EstimationSettings(passes=3, device="cpu")
    updates = list(iter_estimate(img, settings=settings))
    assert all(isinstance(u, EstimationProgress) for u in updates)
    assert [(u.step, u.steps) for u in updates] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [u.estimate is None for u in updates] == [True, True, True, False]
    assert "check" in updates[-1].what
    whole = estimate_with_confidence(img, settings=settings)
    np.testing.assert_array_equal(updates[-1].estimate.field.length, whole.field.length)
    running = iter_estimate(img, settings=settings)
    assert next(running).step == 1
    running.close()  # a Cancel: no further pass runs
    with pytest.raises(StopIteration):
        next(running)
    with pytest.raises(ValueError, match="estimate_motion"):  # before any pass runs
        next(iter_estimate(np.full((32, 32), np.nan, np.float32)))


@pytest.mark.parametrize("passes", [0, 9, 2.5, "4"])
def test_bad_passes_raise(camera, passes):
    with pytest.raises(ValueError, match="passes"):
        estimate_motion(camera[:64, :64], passes=passes)


def test_deblur_returns_image_and_field(camera):
    blurred = blur(camera[:96, :96], MotionField.uniform((96, 96), 9.0, 45.0))
    before = blurred.copy()
    result, field = deblur(blurred, method="spectral", stages=1, iterations=1, device="cpu")
    assert result.shape == blurred.shape and result.dtype == np.float32
    assert field.shape == (96, 96)
    assert np.array_equal(blurred, before)


def test_deblur_uses_the_scaled_estimate(camera):
    blurred = blur(camera[:96, :96], MotionField.uniform((96, 96), 11.0, 120.0), seed=3)
    estimate = estimate_motion(blurred, method="spectral")
    _, used = deblur(blurred, method="spectral", stages=1, iterations=1, device="cpu",
                     length_scale=0.5)
    assert np.allclose(used.length, 0.5 * estimate.length, atol=1e-5)
    assert np.array_equal(used.angle, estimate.angle)


@pytest.mark.parametrize("scale", [0.0, -1.0, 2.0, np.nan, "x"])
def test_deblur_rejects_bad_length_scale(camera, scale):
    with pytest.raises(ValueError, match="length_scale"):
        deblur(camera[:64, :64], method="spectral", length_scale=scale)


@pytest.mark.parametrize("bad", [
    np.zeros((5, 64, 64)),  # a stack
    np.zeros((2, 64, 64, 3)),
    np.full((32, 32), np.nan),
    np.zeros((2, 2)),
    "image",
    None,
])
def test_bad_images_raise_value_error(bad):
    with pytest.raises(ValueError):
        estimate_motion(bad, method="spectral")


@pytest.mark.parametrize("side", [4, 5, 9, 33])
def test_small_images_are_estimated_or_refused_clearly(side):
    image = np.random.default_rng(side).random((side, side + 3)).astype(np.float32)
    assert estimate_motion(image, device="cpu").shape == image.shape
    if side < 8:
        with pytest.raises(ValueError, match="at least 8 px|>= 8 px"):
            estimate_motion(image, method="spectral")
    else:
        assert estimate_motion(image, method="spectral").shape == image.shape


def test_unknown_method_raises():
    with pytest.raises(ValueError, match="method"):
        estimate_motion(np.zeros((32, 32)), method="oracle")


def test_stack_error_says_what_to_do():
    with pytest.raises(ValueError, match="slice"):
        estimate_motion(np.zeros((5, 64, 64)), method="spectral")


# ------------------------------------------------------------------------------ training
@pytest.mark.parametrize("rotations, flip", [(1, False), (2, False), (3, True), (0, True)])
def test_augmentation_commutes_with_blur(camera, rotations, flip):
    img = camera[:128, :160]
    uniform = MotionField.uniform(img.shape, 15.0, 24.0)
    got = blur(*training.augment(img, uniform, rotations, flip))
    expected, _ = training.augment(blur(img, uniform), uniform, rotations, flip)
    assert np.allclose(got, expected, atol=1e-4)
    # Non-uniform: equal up to where the operator's node grid falls (its stride is 64 px).
    smooth = camera_shake_field(img.shape, rng=3, max_length=21)
    got = blur(*training.augment(img, smooth, rotations, flip))
    expected, _ = training.augment(blur(img, smooth), smooth, rotations, flip)
    assert np.abs(got - expected).mean() < 0.01


def test_augmented_field_angles():
    field = MotionField.uniform((4, 6), 9.0, 30.0)
    _, rotated = training.augment(np.zeros((4, 6)), field, 1, False)
    assert rotated.shape == (6, 4) and np.allclose(rotated.angle, 120.0)
    _, flipped = training.augment(np.zeros((4, 6)), field, 0, True)
    assert np.allclose(flipped.angle, 150.0)


@pytest.mark.parametrize("mode", training.DATA_MODES)
def test_training_step_lowers_loss(mode):
    torch.manual_seed(0)
    sources = training.Sources(None, crop=48, synthetic_pool=4, seed=0, photos=False)
    x, y, fields = training.make_batch(sources, np.random.default_rng(0), 4, mode=mode)
    assert x.shape == (4, 1, 48, 48) and fields[0].shape == (48, 48)
    model = MotionNet(width=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = training.loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_mixed_training_data_draws_from_both_operators(monkeypatch):
    exact = []
    real_exact = training._exact_sample
    monkeypatch.setattr(training, "_exact_sample",
                        lambda *a: exact.append(1) or real_exact(*a))
    sources = training.Sources(None, crop=32, synthetic_pool=2, seed=0, photos=False)
    rng = np.random.default_rng(3)
    samples = [training.make_sample(sources, rng, mode="mixed") for _ in range(24)]
    assert all(image.shape == (32, 32) for image, _ in samples)
    assert 4 <= len(exact) <= 20  # even odds: 12 expected


def test_training_script_runs_and_resumes(tmp_path, camera):
    from skimage import io

    data = tmp_path / "data"
    data.mkdir()
    for i in range(10):
        crop = camera[i * 20 : i * 20 + 120, :120]
        io.imsave(data / f"{i}.png", (crop * 255).astype(np.uint8), check_contrast=False)
    out = tmp_path / "out"
    args = ["--data", str(data), "--out", str(out), "--minutes", "0.04", "--width", "16",
            "--batch", "2", "--synthetic", "2", "--no-photos", "--validate-every", "0.5"]
    meta = training.main(args)
    assert (out / "motionnet.pt").exists() and (out / "motionnet_train_log.csv").exists()
    assert np.isfinite(meta["validation"]["best"])
    steps = meta["steps"]
    budget = f"{meta['minutes'] + 0.05:.2f}"  # counts the first run: room for a step
    meta = training.main([*args[:5], budget, *args[6:], "--resume"])
    assert meta["steps"] > steps
    model = load_weights(str(out / "motionnet.pt"))
    assert model.config["width"] == 16
    # Fine-tuning on the exact operator's data starts from those weights and records it.
    tuned = tmp_path / "tuned"
    meta = training.main(["--data", str(data), "--out", str(tuned), "--minutes", "0.03",
                          "--batch", "2", "--synthetic", "2", "--no-photos", "--mode", "exact",
                          "--init", str(out / "motionnet.pt"), "--validate-every", "0.5"])
    assert meta["training_data"]["mode"] == "exact"
    assert np.isfinite(meta["validation"]["initial_weights"])
    assert meta["validation"]["best"] <= meta["validation"]["initial_weights"]


def test_batches_drawn_by_worker_processes_train_too(tmp_path):
    out = tmp_path / "out"
    meta = training.main(["--out", str(out), "--minutes", "0.03", "--width", "16", "--batch", "2",
                          "--synthetic", "2", "--no-photos", "--crop", "48", "--workers", "1",
                          "--validate-every", "0.5"])
    assert meta["workers"] == 1 and meta["training_data"]["crop"] == 48
    assert meta["steps"] > 0 and np.isfinite(meta["validation"]["best"])
    stream = iter(training.BatchStream(training.Sources(None, crop=40, synthetic_pool=2,
                                                        photos=False), 3, "node", 0, 0))
    x, y = next(stream)
    assert x.shape == (3, 1, 40, 40) and y.shape == (3, 3, 40, 40)


# ------------------------------------------------------------------------- cepstral check
def test_cepstral_check_moves_a_close_estimate_onto_the_blur(camera):
    from napari_motion_deblur.estimation.spectral import cepstral_check

    img = camera[:256, :256]
    blurred = blur(img, MotionField.uniform(img.shape, 17.0, 30.0), noise_sigma=0.005, seed=4)
    rough = MotionField.uniform(img.shape, 14.0, 36.0)
    refined, confidence = cepstral_check(blurred, rough)
    assert confidence.shape == img.shape and confidence.mean() > 0.5
    length, angle = _interior_median(refined)
    assert abs(length - 17.0) <= 1.0 and _angle_gap(angle, 30.0) <= 3.0


def test_cepstral_check_leaves_unconfirmed_estimates_alone(camera):
    from napari_motion_deblur.estimation.spectral import cepstral_check

    img = camera[:200, :200]  # sharp: no cepstral peak anywhere
    guess = MotionField.uniform(img.shape, 12.0, 80.0)
    refined, confidence = cepstral_check(img, guess)
    assert np.all(confidence == 0) and refined == guess
    with pytest.raises(ValueError, match="shape"):
        cepstral_check(img[:100], guess)
    with pytest.raises(ValueError, match="degrees"):
        cepstral_check(img, guess, degrees=45.0)


@pytest.mark.parametrize(("true", "guess"), [(34.0, 33.0), (35.0, 30.0), (6.0, 5.0)])
def test_the_check_stays_in_the_bank_and_its_confidence_in_0_1(camera, true, guess):
    from napari_motion_deblur.estimation.api import MotionEstimate, estimate_with_confidence
    from napari_motion_deblur.estimation.spectral import cepstral_check
    from napari_motion_deblur.motion import MAX_LENGTH

    img = camera[:256, :256]
    blurred = blur(img, MotionField.uniform(img.shape, true, 120.0), noise_sigma=0.005, seed=1)
    # The search window (+-30 %) around a 33-px guess reaches past the bank's 35 px.
    refined, confidence = cepstral_check(blurred, MotionField.uniform(img.shape, guess, 120.0))
    assert confidence.min() >= 0.0 and confidence.max() <= 1.0
    assert refined.length.max() <= MAX_LENGTH
    assert MotionEstimate(refined, confidence).for_deblurring(0.8).length.max() <= MAX_LENGTH
    estimate = estimate_with_confidence(blurred, device="cpu")
    assert estimate.confidence.min() >= 0.0 and estimate.confidence.max() <= 1.0
    assert estimate.field.length.max() <= MAX_LENGTH


def test_confirmed_streaks_are_not_shortened_for_deblurring():
    from napari_motion_deblur.estimation.api import MotionEstimate

    field = MotionField.uniform((4, 4), 10.0, 45.0)
    confidence = np.zeros((4, 4), np.float32)
    confidence[:2] = 1.0
    used = MotionEstimate(field, confidence).for_deblurring(0.8)
    assert np.allclose(used.length[:2], 10.0) and np.allclose(used.length[2:], 8.0)
    assert np.array_equal(used.angle, field.angle)
    with pytest.raises(ValueError, match="length_scale"):
        MotionEstimate(field, confidence).for_deblurring(0.0)


def test_use_weights_replaces_the_shared_network(tmp_path, camera):
    from napari_motion_deblur.estimation import motionnet

    path = tmp_path / "mine.pt"
    save_weights(MotionNet(width=8), path)
    shipped = motionnet.get_motionnet(torch.device("cpu"))
    try:
        mine = motionnet.use_weights(path)
        assert motionnet.get_motionnet(torch.device("cpu")) is mine
        assert mine.config["width"] == 8
        field = estimate_motion(camera[:128, :128], device="cpu", passes=1, check=False)
        expected = motionnet.predict(mine, camera[:128, :128], "cpu")
        np.testing.assert_array_equal(field.length, expected.length)
        packaged = motionnet.use_weights(None)  # back to the weights that ship
        assert motionnet.get_motionnet(torch.device("cpu")) is packaged
        assert packaged.config == shipped.config
        assert all(torch.equal(a, b) for a, b in zip(packaged.state_dict().values(),
                                                     shipped.state_dict().values()))
    finally:
        with motionnet._cache_lock:
            motionnet._cache["cpu"] = shipped
