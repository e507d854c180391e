"""Deconvolution in linear light (``DeconvolutionSettings(linear_light=True)``)."""

import numpy as np
import pytest
from skimage import data

import napari_motion_deblur.deconvolution as deconvolution
from napari_motion_deblur import MotionField, deconvolve
from napari_motion_deblur.physics.noise import noise_sigma
from napari_motion_deblur.physics.reference import ReferenceBlur
from napari_motion_deblur.physics.srgb import linear_to_srgb, srgb_to_linear
from napari_motion_deblur.settings import DeconvolutionSettings

SETTINGS = DeconvolutionSettings(device="cpu")


def _psnr(x, sharp, border=20):
    inner = (slice(border, -border), slice(border, -border))
    return 10 * np.log10(1.0 / np.mean((x[inner] - sharp[inner]) ** 2))


@pytest.fixture(scope="module")
def photo():
    """A photograph's blur: in linear light, then sRGB-encoded (and its sharp original)."""
    sharp = data.camera()[100:260, 100:260].astype(np.float32) / 255.0
    field = MotionField.uniform(sharp.shape, 15.0, 30.0)
    noise = np.random.default_rng(0).normal(0.0, 0.003, sharp.shape)
    blurred = ReferenceBlur(field)(srgb_to_linear(sharp)) + noise
    return linear_to_srgb(blurred).astype(np.float32), sharp, field


def test_linear_light_restores_a_photographs_blur_better(photo):
    blurred, sharp, field = photo
    plain = deconvolve(blurred, field, settings=SETTINGS)
    light = deconvolve(blurred, field, settings=SETTINGS.replace(linear_light=True))
    assert light.dtype == np.float32 and light.shape == blurred.shape
    assert 0.0 <= light.min() and light.max() <= 1.0
    assert _psnr(light, sharp) > _psnr(plain, sharp) + 2.0  # measured: 26.6 vs 21.7 dB
    assert _psnr(light, sharp) > _psnr(blurred, sharp) + 4.0


@pytest.mark.parametrize("tile", [None, 128])
def test_linear_light_is_the_deconvolution_of_the_decoded_image(tile):
    """Whole or tiled, integer or float: the same as decoding by hand, deconvolving (the noise
    level of "auto" measured on the decoded image) and encoding again."""
    rng = np.random.default_rng(1)
    sharp = data.camera()[:300, :260].astype(np.float32) / 255.0
    field = MotionField.uniform(sharp.shape, 9.0, 120.0)
    blurred = linear_to_srgb(ReferenceBlur(field)(srgb_to_linear(sharp))
                             + rng.normal(0.0, 0.02, sharp.shape))
    raw = np.round(blurred * 65535).astype(np.uint16)
    config = SETTINGS.replace(regularization="auto", tile=tile)
    decoded = srgb_to_linear(raw / np.float32(65535)).astype(np.float32)
    expected = linear_to_srgb(deconvolve(decoded, field, settings=config))
    got = deconvolve(raw, field, settings=config.replace(linear_light=True))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_a_tiled_runs_updates_show_the_input_where_no_tile_is_done_yet():
    from napari_motion_deblur import iter_deconvolve

    sharp = data.camera().astype(np.float32) / 255.0
    field = MotionField.uniform(sharp.shape, 9.0, 120.0)
    blurred = linear_to_srgb(ReferenceBlur(field)(srgb_to_linear(sharp))).astype(np.float32)
    config = SETTINGS.replace(stages=1, iterations=1, tile=128, linear_light=True)
    updates = [u.estimate.copy() for u in iter_deconvolve(blurred, field, settings=config)]
    assert len(updates) > 2  # one per tile
    first, last = updates[0], updates[-1]
    untouched = np.isclose(first, blurred, atol=1e-6)
    assert 0.3 < untouched.mean() < 1.0  # the other tiles: the input as it is, not decoded
    np.testing.assert_allclose(last, deconvolve(blurred, field, settings=config), atol=1e-6)


def test_the_refiner_and_the_saturation_level_read_the_encoded_image(photo, monkeypatch):
    blurred, _, field = photo
    seen = {}
    original_refine, original_mask = deconvolution.refine, deconvolution.observed_mask

    def refine(deconvolved, blurry, *args, **kwargs):
        seen["blurry"] = np.array(blurry)
        return original_refine(deconvolved, blurry, *args, **kwargs)

    def observed_mask(plane, level):
        seen["mask"] = original_mask(plane, level)
        return seen["mask"]

    monkeypatch.setattr(deconvolution, "refine", refine)
    monkeypatch.setattr(deconvolution, "observed_mask", observed_mask)
    deconvolve(blurred, field, settings=SETTINGS.replace(linear_light=True, refine=True,
                                                         saturation=0.6))
    np.testing.assert_array_equal(seen["blurry"][..., 0], blurred)  # (H, W, 1) internally
    # the same pixels as the level on the encoded values would leave out
    np.testing.assert_array_equal(seen["mask"], original_mask(blurred, 0.6))
    assert 0 < seen["mask"].sum() < seen["mask"].size


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_linear_light_must_be_a_bool(bad):
    with pytest.raises(ValueError, match="linear_light"):
        DeconvolutionSettings(linear_light=bad)


def test_noise_sigma_measures_the_transformed_image():
    image = np.random.default_rng(2).uniform(0.0, 1.0, (600, 90))
    assert noise_sigma(image, transform=srgb_to_linear) == pytest.approx(
        noise_sigma(srgb_to_linear(image)), rel=1e-12)
    assert noise_sigma(image, transform=srgb_to_linear) != pytest.approx(noise_sigma(image))


def test_srgb_curve_round_trip():
    v = np.linspace(0.0, 1.0, 1001)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(v)), v, atol=1e-9)
    assert srgb_to_linear(np.float32(0.5)) == pytest.approx(0.2140, abs=1e-4)


def test_linear_light_is_refined_by_the_photo_refiner(photo, monkeypatch):
    from napari_motion_deblur.solvers import refiner as refiner_module

    monkeypatch.setattr(refiner_module, "_CACHE", {})  # the package's cache is left as it was
    loaded = []
    original = refiner_module.load_refiner

    def load(path=None, device="cpu", photo=False, compressed=False):
        loaded.append(photo)
        return original(path, device, photo, compressed)

    monkeypatch.setattr(refiner_module, "load_refiner", load)
    blurred, _, field = photo
    light = deconvolve(blurred, field, settings=SETTINGS.replace(linear_light=True, refine=True))
    plain = deconvolve(blurred, field, settings=SETTINGS.replace(refine=True))
    assert loaded == [True, False]  # each loaded once, the photo weights for linear light
    unrefined = deconvolve(blurred, field, settings=SETTINGS.replace(linear_light=True))
    expected = refiner_module.refine(unrefined, blurred, field,
                                     model=original(photo=True))
    np.testing.assert_allclose(light, expected, atol=1e-6)
    assert not np.allclose(plain, light, atol=1e-3)
