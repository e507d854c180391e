"""The camera model: one similarity motion fitted to an estimate and refined on the cepstrum."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from napari_motion_deblur.estimation.api import estimate_with_confidence
from napari_motion_deblur.estimation.camera_model import (
    MULTISCALE_FROM,
    SINGLE_PATCH,
    TRANSLATION_SPREAD,
    WIDE_SCALES,
    PooledCepstra,
    SimilarityMotion,
    block_mean,
    camera_check,
    fit_similarity,
    median_streak,
    pooled_score,
    streak_spread,
)
from napari_motion_deblur.estimation.spectral import cepstral_check, patch_cepstra
from napari_motion_deblur.motion import MAX_LENGTH, MotionField
from napari_motion_deblur.physics.degradation import degrade, strong_shake_field
from napari_motion_deblur.physics.synthesis import object_motion_field
from napari_motion_deblur.settings import EstimationSettings


@pytest.fixture(scope="module")
def camera():
    return skimage.data.camera().astype(np.float32) / 255.0


def _angle_gap(a, b):
    return np.abs((np.asarray(a) - b + 90.0) % 180.0 - 90.0)


def test_a_camera_shake_field_is_one_similarity_motion():
    field = strong_shake_field((150, 170), np.random.default_rng(3), max_length=30.0)
    motion, residual = fit_similarity(field)
    assert residual < 1e-6
    again = motion.field(field.shape)
    np.testing.assert_allclose(again.length, np.minimum(field.length, MAX_LENGTH), atol=1e-3)
    assert _angle_gap(again.angle, field.angle)[field.length > 2].max() < 0.01
    # A field of two unrelated motions is not one camera motion.
    mixed = MotionField(np.where(np.arange(170) < 85, 20.0, 8.0) * np.ones((150, 1)),
                        np.where(np.arange(170) < 85, 10.0, 100.0) * np.ones((150, 1)))
    assert fit_similarity(mixed)[1] > 0.1


def test_scaling_a_motion_scales_its_streaks():
    motion = SimilarityMotion(10 + 5j, 3 - 8j, 100.0)
    base, longer = motion.field((40, 50)), motion.turned(1.2).field((40, 50))
    np.testing.assert_allclose(longer.length - 1.0, 1.2 * (base.length - 1.0), rtol=1e-5)
    np.testing.assert_allclose(_angle_gap(longer.angle, base.angle), 0.0, atol=1e-3)


def test_the_camera_check_corrects_a_short_estimate_of_uniform_blur(camera):
    img = camera[100:356, 100:356]
    truth = MotionField.uniform(img.shape, 24.0, 35.0)
    blurred = degrade(img, truth, seed=2, crop=0).blurred
    short = MotionField.uniform(img.shape, 15.0, 40.0)  # beyond the cepstral check's +-30 %
    checked, confidence = cepstral_check(blurred, short)
    assert confidence.max() == 0.0
    field, confidence, fit = camera_check(blurred, checked, confidence)
    assert fit.accepted and fit.residual < 1e-6 and fit.margin < -3.0
    assert np.all(confidence == 1.0)
    assert np.abs(field.length - 24.0).max() <= 1.0
    assert _angle_gap(field.angle, 35.0).max() <= 3.0


def test_the_camera_check_leaves_a_sharp_image_and_moving_objects_alone(camera):
    img = camera[:256, :256]
    guess = MotionField.uniform(img.shape, 12.0, 80.0)
    confidence = np.zeros(img.shape, np.float32)
    field, out, fit = camera_check(img, guess, confidence)  # sharp: no dip anywhere
    assert not fit.accepted and field is guess and out is confidence
    objects = object_motion_field(img.shape, np.random.default_rng(5), max_length=30.0)
    blurred = degrade(img, objects, seed=5, crop=0).blurred
    field, out, fit = camera_check(blurred, objects, confidence)
    assert not fit.accepted and field is objects


@pytest.mark.parametrize("true", [33.0, 35.0])
def test_the_camera_check_stays_in_the_bank_with_confidence_in_0_1(camera, true):
    img = camera[:256, :256]
    blurred = degrade(img, MotionField.uniform(img.shape, true, 120.0), seed=1, crop=0).blurred
    guess = MotionField.uniform(img.shape, 30.0, 118.0)  # scaled by up to 1.6: past the bank
    start = np.zeros(img.shape, np.float32)
    start[:64] = 0.5
    field, confidence, _ = camera_check(blurred, guess, start)
    assert field.length.max() <= MAX_LENGTH
    assert confidence.min() >= 0.0 and confidence.max() <= 1.0


def test_shared_cepstra_give_the_same_results_and_refuse_another_grid(camera):
    img = camera[:200, :230]
    cepstra = patch_cepstra(img)
    motion = SimilarityMotion(8 + 3j, 0j, 230.0)
    assert PooledCepstra(img, cepstra).score(motion) == PooledCepstra(img).score(motion)
    with pytest.raises(ValueError, match="patch grid"):
        PooledCepstra(camera[:300, :300], cepstra)
    with pytest.raises(ValueError, match="patch grid"):
        cepstral_check(camera[:300, :300], MotionField.uniform((300, 300), 5.0, 0.0),
                       cepstra=cepstra)
    field = MotionField.uniform(img.shape, 9.0, 20.0)
    shared, alone = cepstral_check(img, field, cepstra=cepstra), cepstral_check(img, field)
    assert shared[0] == alone[0] and np.array_equal(shared[1], alone[1])
    with pytest.raises(ValueError, match="shape"):
        camera_check(img, MotionField.uniform((10, 10), 5.0, 0.0), np.zeros((10, 10)))


def test_camera_is_a_validated_estimation_setting():
    assert EstimationSettings().camera is True and EstimationSettings().camera_coarse is True
    with pytest.raises(ValueError, match="camera must be True or False"):
        EstimationSettings(camera=1)
    with pytest.raises(ValueError, match="camera_coarse must be True or False"):
        EstimationSettings(camera_coarse="no")
    assert EstimationSettings().camera_wide is True
    with pytest.raises(ValueError, match="camera_wide must be True or False"):
        EstimationSettings(camera_wide=1)


def test_the_estimate_carries_what_the_camera_model_found(camera):
    from napari_motion_deblur.estimation.api import estimate_with_confidence
    from napari_motion_deblur.estimation.camera_model import CameraFit

    img = camera[100:356, 100:356]
    blurred = degrade(img, MotionField.uniform(img.shape, 20.0, 60.0), seed=3, crop=0).blurred
    estimate = estimate_with_confidence(blurred, settings=EstimationSettings(
        device="cpu", passes=1))
    assert isinstance(estimate.camera, CameraFit)
    # Uniform blur is one camera motion: the model is used, everywhere, near the true length.
    assert estimate.camera.accepted and estimate.camera.residual <= 0.05
    assert np.all(estimate.confidence == 1.0)
    assert abs(float(np.median(estimate.field.length)) - 20.0) <= 1.0
    off = estimate_with_confidence(blurred, settings=EstimationSettings(
        device="cpu", passes=1, camera=False))
    assert off.camera is None and off.field != estimate.field


def test_the_median_streak_of_a_motion_matches_its_field():
    motion = SimilarityMotion(6 + 2j, 9 - 14j, 180.0)
    shape = (150, 180)  # small: every pixel, as the field's own lengths
    assert median_streak(motion, shape) == pytest.approx(
        float(np.median(motion.field(shape).length)), abs=1e-4)
    big = SimilarityMotion(6 + 2j, 9 - 14j, 1500.0)
    assert median_streak(big, (1200, 1500)) == pytest.approx(
        float(np.median(big.field((1200, 1500)).length)), rel=0.01)


def test_block_means_average_whole_blocks_only():
    image = np.arange(35, dtype=np.float64).reshape(5, 7)
    out = block_mean(image, 2)
    assert out.shape == (2, 3)
    assert out[0, 0] == np.mean([0, 1, 7, 8]) and out[1, 2] == np.mean([18, 19, 25, 26])
    assert np.array_equal(block_mean(image, 1), image)


def test_coarse_cepstra_read_the_motion_at_its_coarse_length(camera):
    img = camera[:256, :256].astype(np.float64)
    motion = SimilarityMotion(14 - 6j, 0j, 256.0)  # uniform: positions do not matter
    coarse = PooledCepstra(img, downscale=2)
    assert coarse.score(motion) == pytest.approx(
        PooledCepstra(block_mean(img, 2)).score(motion.turned(0.5)), abs=1e-12)
    centres = coarse.centres * coarse.size  # in the image's pixels
    assert centres.real.min() > 0 and centres.real.max() < 255
    assert centres.imag.min() > 0 and centres.imag.max() < 255


def test_the_coarse_cepstra_confirm_a_long_uniform_blur_that_full_resolution_cannot(camera):
    img = camera[100:356, 60:316]
    truth = MotionField.uniform(img.shape, 32.0, 20.0)
    blurred = degrade(img, truth, seed=4, crop=0).blurred
    guess = MotionField.uniform(img.shape, 24.0, 22.0)  # long enough for the coarse cepstra
    assert guess.length.min() >= MULTISCALE_FROM
    zeros = np.zeros(img.shape, np.float32)
    field, confidence, fit = camera_check(blurred, guess, zeros)
    assert fit.accepted and np.abs(field.length - 32.0).max() <= 2.0
    assert _angle_gap(field.angle, 20.0).max() <= 3.0 and np.all(confidence == 1.0)
    coarse_only = camera_check(blurred, guess, zeros, downscales=(1, 2), multiscale_from=0.0)
    assert coarse_only[2].refined == fit.refined
    for patches in ({}, SINGLE_PATCH):  # full resolution alone: too weak to accept
        assert not camera_check(blurred, guess, zeros, downscales=(1,), **patches)[2].accepted
    assert camera_check(blurred, guess, zeros, downscales=(1,), **SINGLE_PATCH)[2].margin > -3.0


def test_coarse_cepstra_of_a_tiny_image_see_nothing_and_do_not_fail(camera):
    img = camera[:20, :24]
    guess = MotionField.uniform(img.shape, 30.0, 10.0)
    zeros = np.zeros(img.shape, np.float32)
    field, confidence, fit = camera_check(img, guess, zeros, multiscale_from=0.0)
    assert PooledCepstra(img, downscale=2).score(fit.fitted) == 0.0
    assert field.shape == img.shape and confidence.min() >= 0.0 and confidence.max() <= 1.0


def test_short_motions_use_full_resolution_only(camera):
    img = camera[:256, :256]
    blurred = degrade(img, MotionField.uniform(img.shape, 12.0, 70.0), seed=3, crop=0).blurred
    guess = MotionField.uniform(img.shape, 10.0, 65.0)
    zeros = np.zeros(img.shape, np.float32)
    shipped = camera_check(blurred, guess, zeros)
    fine = camera_check(blurred, guess, zeros, downscales=(1,))
    assert shipped[2] == fine[2] and np.array_equal(shipped[0].length, fine[0].length)


def test_pooled_scores_of_several_patch_sizes_add_up(camera):
    img = camera[:200, :200]
    motion = SimilarityMotion(9 + 4j, 2 - 3j, 200.0)
    parts = [PooledCepstra(img, patch=p, stride=p // 4) for p in (128, 64)]
    assert pooled_score(parts, motion) == pytest.approx(sum(c.score(motion) for c in parts))
    assert pooled_score(parts[0], motion) == parts[0].score(motion)


@pytest.mark.parametrize("coarse, fine, wide", [(True, True, True), (False, False, False),
                                              (True, False, True), (True, True, False)])
def test_the_estimation_settings_choose_the_camera_models_cepstra(camera, coarse, fine, wide):
    img = camera[40:232, 60:252]
    blurred = degrade(img, MotionField.uniform(img.shape, 26.0, 60.0), seed=6, crop=0).blurred
    settings = EstimationSettings(device="cpu", passes=1, camera_coarse=coarse, camera_fine=fine,
                                  camera_wide=wide)
    estimate = estimate_with_confidence(blurred, settings=settings)
    lum = np.clip(blurred, 0.0, 1.0)
    checked = cepstral_check(lum, estimate_with_confidence(
        blurred, settings=settings.replace(check=False)).field, cepstra=patch_cepstra(lum))
    expected = camera_check(lum, *checked, downscales=(1, 2) if coarse else (1,),
                            wide_scales=WIDE_SCALES if wide else None,
                            **({} if fine else SINGLE_PATCH))[2]
    assert estimate.camera == expected


def test_a_translation_answered_at_half_its_length_is_found_by_the_wide_search(camera):
    img = camera[100:356, 60:316]
    truth = MotionField.uniform(img.shape, 30.0, 20.0)
    blurred = degrade(img, truth, seed=4, crop=0).blurred
    half = MotionField.uniform(img.shape, 15.0, 24.0)  # Motion-Net's failure on long streaks
    zeros = np.zeros(img.shape, np.float32)
    field, confidence, fit = camera_check(blurred, half, zeros)
    assert fit.wide and fit.accepted and np.all(confidence == 1.0)
    assert np.abs(field.length - 30.0).max() <= 2.0 and field.length.max() <= MAX_LENGTH
    assert _angle_gap(field.angle, 20.0).max() <= 3.0
    usual = camera_check(blurred, half, zeros, wide_scales=None)[2]
    assert not usual.wide and median_streak(usual.refined, img.shape) < 26.0
    # without the coarse cepstra there is no wide search; its motion must be clear
    assert not camera_check(blurred, half, zeros, downscales=(1,))[2].wide
    assert not camera_check(blurred, half, zeros, wide_margin=-fit.margin + 0.1)[2].wide


def test_the_wide_search_leaves_varying_motions_and_short_translations_alone(camera):
    img = camera[:256, :256]
    shake = strong_shake_field(img.shape, np.random.default_rng(3), max_length=30.0)
    assert streak_spread(fit_similarity(shake)[0], img.shape) > TRANSLATION_SPREAD
    blurred = degrade(img, shake, seed=5, crop=0).blurred
    zeros = np.zeros(img.shape, np.float32)
    shipped, usual = (camera_check(blurred, shake, zeros, wide_scales=w)
                      for w in (WIDE_SCALES, None))
    assert not shipped[2].wide and shipped[2] == usual[2]
    # a short translation: its double is a weaker dip than itself, never taken
    short = degrade(img, MotionField.uniform(img.shape, 13.0, 70.0), seed=3, crop=0).blurred
    guess = MotionField.uniform(img.shape, 13.0, 65.0)
    fit = camera_check(short, guess, zeros)[2]
    assert not fit.wide and fit.accepted
    assert abs(median_streak(fit.refined, img.shape) - 13.0) <= 1.5
    assert streak_spread(SimilarityMotion(10 + 3j, 0j, 256.0), img.shape) == 0.0
