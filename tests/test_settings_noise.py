"""Settings objects, the noise estimate, clipped-highlight masking and the realistic degradation."""

import numpy as np
import pytest
import skimage.data

from napari_motion_deblur import MotionField, deconvolve
from napari_motion_deblur.deconvolution import observed_mask, regularization_weight
from napari_motion_deblur.physics.compression import looks_jpeg_compressed
from napari_motion_deblur.physics.degradation import (
    curved_path,
    degrade,
    linear_to_srgb,
    srgb_to_linear,
    strong_shake_field,
)
from napari_motion_deblur.physics.noise import noise_sigma, regularization_for_noise
from napari_motion_deblur.physics.reference import ReferenceBlur, linear_path
from napari_motion_deblur.settings import (
    DEFAULT_LAMBDA,
    DeblurSettings,
    DeconvolutionSettings,
    EstimationSettings,
)


@pytest.mark.parametrize("changes", [
    {"stages": 0}, {"stages": True}, {"iterations": 11}, {"regularization": -1.0},
    {"regularization": "high"}, {"regularization": float("nan")}, {"saturation": 1.5},
    {"saturation": 0.0}, {"device": "gpu"}, {"device": 3}])
def test_deconvolution_settings_refuse_bad_values(changes):
    with pytest.raises(ValueError):
        DeconvolutionSettings(**changes)


@pytest.mark.parametrize("changes", [{"method": "magic"}, {"passes": 0}, {"passes": 9},
                                     {"check": "yes"}, {"device": None}])
def test_estimation_settings_refuse_bad_values(changes):
    with pytest.raises(ValueError):
        EstimationSettings(**changes)


def test_settings_are_frozen_and_replace_validates():
    s = DeconvolutionSettings(device="CUDA:1")
    assert s.device == "cuda:1"
    with pytest.raises(AttributeError):
        s.stages = 3  # frozen
    assert s.replace(stages=7).stages == 7
    with pytest.raises(ValueError):
        s.replace(stages=99)
    with pytest.raises(ValueError, match="length_scale"):
        DeblurSettings(length_scale=0.0)
    with pytest.raises(ValueError, match="DeconvolutionSettings"):
        DeblurSettings(deconvolution={"stages": 3})


def test_deconvolve_uses_settings_object_and_rejects_other_types():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (40, 40)).astype(np.float32)
    settings = DeconvolutionSettings(stages=2, iterations=1, device="cpu")
    a = deconvolve(image, (5.0, 30.0), settings=settings)
    b = deconvolve(image, (5.0, 30.0), stages=2, iterations=1, device="cpu")
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="DeconvolutionSettings"):
        deconvolve(image, (5.0, 30.0), settings={"stages": 2})


@pytest.mark.parametrize("sigma", [0.005, 0.01, 0.03])
def test_noise_sigma_measures_white_noise_on_a_smooth_image(sigma):
    rng = np.random.default_rng(1)
    rows, cols = np.mgrid[0:200, 0:200] / 200.0
    smooth = 0.5 + 0.3 * np.sin(3 * rows) * np.cos(2 * cols)
    noisy = smooth + rng.normal(0, sigma, smooth.shape)
    assert noise_sigma(noisy) == pytest.approx(sigma, rel=0.1)
    assert noise_sigma(np.stack([noisy] * 3, -1)) == pytest.approx(sigma, rel=0.1)


def _whole_plane_sigma(image):
    """Immerkaer's estimate on the whole planes at once (what noise_sigma does in row blocks)."""
    from scipy import ndimage

    mask = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
    img = np.asarray(image, np.float64)
    planes = [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[-1])]
    responses = [np.abs(ndimage.convolve(p, mask, mode="reflect")[1:-1, 1:-1]).ravel()
                 for p in planes]
    return float(np.median(np.concatenate(responses)) / (0.6745 * 6.0))


@pytest.mark.parametrize("shape", [(3, 3), (5, 7), (257, 300), (600, 513, 3), (700, 90, 4)])
def test_noise_sigma_in_row_blocks_equals_the_whole_plane(shape):
    image = np.random.default_rng(4).uniform(0, 1, shape).astype(np.float32)
    assert noise_sigma(image) == _whole_plane_sigma(image)


def test_noise_sigma_of_a_large_image_pools_every_kth_row():
    image = np.random.default_rng(5).normal(0.5, 0.02, (2600, 2100)).astype(np.float32)
    assert noise_sigma(image) == pytest.approx(_whole_plane_sigma(image), rel=0.01)
    assert noise_sigma(image) != _whole_plane_sigma(image)  # a sample, not every response


def test_regularization_grows_with_noise_variance_and_never_drops_below_base():
    assert regularization_for_noise(1.0, 0.001) == 1.0
    assert regularization_for_noise(1.0, 0.02) == pytest.approx(4.0)
    assert regularization_for_noise(1.0, 10.0) == 25.0
    image = np.random.default_rng(2).normal(0.5, 0.03, (64, 64))
    auto = regularization_weight(DeconvolutionSettings(regularization="auto"), image)
    assert 6 * DEFAULT_LAMBDA < auto < 12 * DEFAULT_LAMBDA
    fixed = regularization_weight(DeconvolutionSettings(regularization=0.002), image)
    assert fixed == 0.002


def test_observed_mask_leaves_out_clipped_pixels_and_their_neighbours():
    plane = np.zeros((9, 9), np.float32)
    plane[4, 4] = 1.0
    mask = observed_mask(plane, 0.98)
    assert mask[3:6, 3:6].sum() == 0 and mask.sum() == 81 - 9
    assert observed_mask(plane, None) is None
    assert observed_mask(plane * 0.5, 0.98) is None


def test_saturation_mask_helps_with_clipped_highlights():
    rng = np.random.default_rng(3)
    sharp = np.full((64, 64), 0.3, np.float32)
    sharp[20:44:6, 20:44:6] = 20.0  # highlights far above the sensor's range
    blurred = ReferenceBlur(MotionField.uniform(sharp.shape, 11.0, 0.0))(sharp)
    blurred = np.clip(blurred + rng.normal(0, 0.005, blurred.shape), 0, 1).astype(np.float32)
    truth = np.clip(sharp, 0, 1)
    plain = deconvolve(blurred, (11.0, 0.0), device="cpu")
    masked = deconvolve(blurred, (11.0, 0.0), device="cpu", saturation=0.98)
    away = np.abs(truth - 0.3) < 1e-6
    # Fitting the clipped streaks as if they were linear rings into the flat background.
    assert np.abs(masked - truth)[away].mean() < 0.9 * np.abs(plain - truth)[away].mean()


def test_srgb_round_trip_and_curved_path_keeps_its_linear_fit():
    v = np.linspace(0, 1, 101)
    assert np.abs(linear_to_srgb(srgb_to_linear(v)) - v).max() < 1e-9
    field = strong_shake_field((30, 40), np.random.default_rng(4), max_length=21.0)
    path = curved_path(field, 0.5)
    t = np.linspace(-0.5, 0.5, path.shape[0])[:, None, None, None]
    slope = (t * path).sum(0) / (t * t).sum()
    linear = linear_path(field)
    assert np.allclose(slope, linear[1] - linear[0], atol=1e-9)
    assert np.abs(path.mean(0)).max() < 0.05 * (field.length.max())  # centred (discrete mean)


@pytest.mark.parametrize("realistic", [False, True])
def test_degradation_is_deterministic_by_seed(realistic):
    rng = np.random.default_rng(5)
    sharp = rng.uniform(0, 1, (60, 70, 3)).astype(np.float32)
    field = MotionField.uniform((60, 70), 9.0, 20.0)
    a = degrade(sharp, field, seed=7, realistic=realistic)
    b = degrade(sharp, field, seed=7, realistic=realistic)
    c = degrade(sharp, field, seed=8, realistic=realistic)
    assert np.array_equal(a.blurred, b.blurred) and a.settings == b.settings
    assert not np.array_equal(a.blurred, c.blurred)
    assert a.blurred.shape == a.sharp.shape == (20, 30, 3)
    assert a.field.shape == (20, 30) and a.blurred.dtype == np.float32
    if realistic:
        assert 0.0 <= a.blurred.min() and a.blurred.max() <= 1.0
        assert a.settings["jpeg_quality"] == 90


def test_a_lossless_camera_variant_draws_the_same_and_skips_only_the_jpeg():
    sharp = skimage.data.camera()[100:300, 150:350].astype(np.float32) / 255.0
    field = MotionField.uniform(sharp.shape, 9.0, 20.0)
    jpeg = degrade(sharp, field, seed=3, realistic=True)
    png = degrade(sharp, field, seed=3, realistic=True, jpeg_quality=None)
    assert {k: v for k, v in png.settings.items() if k != "jpeg_quality"} == {
        k: v for k, v in jpeg.settings.items() if k != "jpeg_quality"}
    assert png.settings["jpeg_quality"] is None and np.array_equal(png.sharp, jpeg.sharp)
    assert np.allclose(png.blurred * 255, np.round(png.blurred * 255), atol=1e-3)  # 8-bit
    assert not looks_jpeg_compressed(png.blurred) and looks_jpeg_compressed(jpeg.blurred)
    assert 0 < np.abs(png.blurred - jpeg.blurred).mean() < 0.02  # JPEG's loss only
    for bad in (0, 101, 90.0, True, "90"):
        with pytest.raises(ValueError, match="jpeg_quality"):
            degrade(sharp, field, seed=3, realistic=True, jpeg_quality=bad)


def test_deblur_keywords_and_settings_object_give_the_blind_defaults(monkeypatch):
    from napari_motion_deblur.estimation import api

    seen = []

    def spy(image, field, settings):
        seen.append(settings)
        return np.zeros_like(image), field

    monkeypatch.setattr(api, "deconvolve", lambda image, field, settings: spy(
        image, field, settings)[0])
    image = np.random.default_rng(6).uniform(0, 1, (48, 48)).astype(np.float32)
    api.deblur(image, device="cpu", passes=1)
    api.deblur(image, settings=DeblurSettings(
        estimation=EstimationSettings(passes=1, device="cpu")))
    blind = DeblurSettings().deconvolution
    assert seen[0] == blind.replace(device="cpu")
    assert seen[1] == blind
    assert blind.operator == "nodes" and blind.regularization == "auto"
    with pytest.raises(ValueError, match="DeblurSettings"):
        api.deblur(image, settings=DeconvolutionSettings())


def test_blind_tv_weight_moves_to_the_non_blind_base_as_the_estimate_is_confirmed():
    settings = DeblurSettings()
    blind = settings.deconvolution
    assert blind.base == pytest.approx(2 * DEFAULT_LAMBDA)
    assert settings.deconvolution_for(0.0) == blind
    assert settings.deconvolution_for(None) == blind  # not known: nothing confirmed
    assert settings.deconvolution_for(1.0).base == pytest.approx(DEFAULT_LAMBDA)
    assert settings.deconvolution_for(0.25).base == pytest.approx(1.75 * DEFAULT_LAMBDA)
    assert settings.deconvolution_for(1.0).replace(base=blind.base) == blind  # only the base
    assert DeblurSettings(confirmed_base=None).deconvolution_for(1.0) == blind
    assert DeblurSettings(confirmed_base=0.004).deconvolution_for(0.5).base == pytest.approx(
        0.0028)
    for bad in (-0.001, float("nan"), float("inf"), "low", True):
        with pytest.raises(ValueError, match="confirmed_base"):
            DeblurSettings(confirmed_base=bad)
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="confidence"):
            settings.deconvolution_for(bad)
    # a confidence map counts by its mean; a lazy (dask) one is not known yet
    half = np.zeros((8, 8), np.float32)
    half[:, :4] = 1.0
    assert settings.deconvolution_for(half) == settings.deconvolution_for(0.5)
    for bad in (np.full((4, 4), 2.0), np.array(["a"]), True):
        with pytest.raises(ValueError, match="confidence"):
            settings.deconvolution_for(bad)
    da = pytest.importorskip("dask.array")
    assert settings.deconvolution_for(da.ones((8, 8), chunks=4)) == blind


@pytest.mark.parametrize("confirmed", [0.0, 0.5, 1.0])
def test_deblur_deconvolves_with_the_weight_of_its_estimates_confidence(monkeypatch,
                                                                        confirmed):
    from napari_motion_deblur.estimation import api

    seen = []
    image = np.random.default_rng(7).uniform(0, 1, (48, 48)).astype(np.float32)
    field = MotionField.uniform(image.shape, 9.0, 30.0)
    confidence = np.zeros(image.shape, np.float32)
    confidence[:, : int(round(48 * confirmed))] = 1.0  # mean = confirmed
    monkeypatch.setattr(api, "estimate_with_confidence", lambda image, settings: (
        api.MotionEstimate(field, confidence)))
    monkeypatch.setattr(api, "deconvolve", lambda image, field, settings: (
        seen.append(settings), np.zeros_like(image))[1])
    api.deblur(image, device="cpu")
    [used] = seen
    assert used.base == pytest.approx((2.0 - confirmed) * DEFAULT_LAMBDA)
    assert used.regularization == "auto" and used.operator == "nodes"
