"""Bad input: a clear ValueError (or a warning), never a silent wrong answer or mutated data."""

import numpy as np
import pytest

from napari_motion_deblur import MotionField, blur, deconvolve


@pytest.fixture
def image():
    return np.random.default_rng(0).random((32, 40)).astype(np.float32)


@pytest.fixture
def field(image):
    return MotionField.uniform(image.shape, 9.0, 20.0)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_image(image, field, value):
    image[3, 4] = value
    with pytest.raises(ValueError, match="NaN or infinite"):
        deconvolve(image, field)


@pytest.mark.parametrize("shape", [(0, 0), (1, 1), (3, 40), (40, 2)])
def test_empty_or_tiny_image(shape):
    img = np.zeros(shape, np.float32)
    with pytest.raises(ValueError, match="too small|at least"):
        deconvolve(img, (5.0, 0.0))


@pytest.mark.parametrize("shape", [(8,), (2, 8, 8, 8), (16, 16, 5)])
def test_unsupported_dimensionality(shape):
    with pytest.raises(ValueError, match="image must be"):
        deconvolve(np.zeros(shape, np.float32), (5.0, 0.0))


def test_field_shape_mismatch(image):
    with pytest.raises(ValueError, match="does not match"):
        deconvolve(image, MotionField.uniform((10, 10), 5.0, 0.0))


def test_negative_lengths():
    with pytest.raises(ValueError, match=">= 0"):
        MotionField(-np.ones((8, 8)), np.zeros((8, 8)))


def test_field_validation_messages():
    with pytest.raises(ValueError, match="same"):
        MotionField(np.ones((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="NaN"):
        MotionField(np.full((4, 4), np.nan), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="2-D"):
        MotionField(np.ones(5), np.ones(5))


def test_lengths_beyond_the_bank_are_clipped_with_a_warning(image):
    length = np.full(image.shape, 50.0, np.float32)
    field = MotionField(length, np.zeros(image.shape, np.float32))
    with pytest.warns(UserWarning, match="clipped to 35"):
        out = deconvolve(image, field, stages=1)
    clipped = deconvolve(image, MotionField.uniform(image.shape, 35.0, 0.0), stages=1)
    np.testing.assert_array_equal(out, clipped)


@pytest.mark.parametrize("psf", [np.zeros((5, 5)), -np.ones((3, 3)), np.full((3, 3), np.nan),
                                 np.ones(5), np.ones((200, 3))])
def test_bad_psf(image, psf):
    with pytest.raises(ValueError, match="PSF|psf"):
        deconvolve(image, psf)


def test_float_images_out_of_range_and_bad_dtypes(image, field):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        deconvolve(image * 255, field)
    with pytest.raises(ValueError, match="dtype"):
        deconvolve(image > 0.5, field)
    with pytest.raises(ValueError, match="dtype"):
        deconvolve(image.astype(np.complex64), field)


@pytest.mark.parametrize("kwargs", [{"stages": 0}, {"stages": 21}, {"iterations": 0},
                                    {"iterations": 2.5}, {"regularization": -1.0},
                                    {"regularization": "x"}, {"device": "tpu"}])
def test_bad_parameters(image, field, kwargs):
    with pytest.raises(ValueError):
        deconvolve(image, field, **kwargs)


def test_cuda_requested_without_cuda_falls_back_with_a_warning(image, field, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA"):
        out = deconvolve(image, field, stages=1, device="cuda")
    assert out.shape == image.shape


def test_caller_arrays_are_never_modified(image):
    length = np.full(image.shape, 12.0, np.float32)
    angle = np.full(image.shape, 200.0, np.float32)  # wrapped to 20 inside the field
    before = (image.copy(), length.copy(), angle.copy())
    field = MotionField(length, angle)
    blur(image, field, noise_sigma=0.01, seed=0)
    deconvolve(image, field, stages=1)
    for a, b in zip(before, (image, length, angle)):
        np.testing.assert_array_equal(a, b)
    assert field.angle.max() < 180


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_motion_field_wraps_angles_in_its_own_copy(dtype):
    angle = np.array([[-30.0, 190.0], [180.0, -1e-9]], dtype=dtype)
    kept = angle.copy()
    field = MotionField(np.full((2, 2), 5.0, dtype), angle)
    np.testing.assert_array_equal(angle, kept)  # wrapped in place, but in the field's copy
    np.testing.assert_allclose(field.angle, [[150.0, 10.0], [0.0, 0.0]], atol=1e-4)
    assert field.angle.dtype == np.float32 and (field.angle < 180.0).all()
    assert not field.angle.flags.writeable


def test_motion_field_roundtrips(tmp_path):
    rng = np.random.default_rng(0)
    field = MotionField(rng.uniform(0, 35, (12, 9)), rng.uniform(0, 180, (12, 9)))
    path = field.save(tmp_path / "f.npz")
    assert MotionField.load(path) == field
    drow, dcol = field.to_vectors()
    again = MotionField.from_vectors(-drow, -dcol)  # a streak has no sign
    np.testing.assert_allclose(again.length, field.length, atol=1e-4)
    diff = np.abs(((again.angle - field.angle) + 90) % 180 - 90)
    assert diff.max() < 1e-2
    np.save(tmp_path / "not_a_field.npy", np.zeros(3))
    with pytest.raises(ValueError):
        MotionField.load(tmp_path / "not_a_field.npy")


# ---------------------------------------------------------------- integer images (issue 9, #5)
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint32])
def test_wide_integer_images_holding_16_bit_values_scale_like_uint16(dtype):
    from napari_motion_deblur._validation import as_float_image

    values = np.array([[0, 1000], [30000, 65535]] * 2).repeat(2, axis=1)
    scaled, _ = as_float_image(values.astype(dtype))
    expected, _ = as_float_image(values.astype(np.uint16))
    np.testing.assert_array_equal(scaled, expected)  # not black: 65535 maps to 1
    assert scaled.max() == 1.0


def test_integer_scaling_rule():
    from napari_motion_deblur._validation import integer_scale

    assert integer_scale(np.full((4, 4), 3, np.uint16)) == 65535  # dtype range for uint8/16
    assert integer_scale(np.full((4, 4), 200, np.int16)) == 255  # 8-bit values in a wider type
    assert integer_scale(np.full((4, 4), 300, np.int64)) == 65535
    assert integer_scale(np.full((4, 4), 100_000, np.int64)) == 100_000  # its own maximum


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_negative_integer_images_are_refused(dtype, field):
    img = np.zeros((32, 40), dtype)
    img[3, 4] = -1
    with pytest.raises(ValueError, match="negative"):
        deconvolve(img, field)


# ---------------------------------------------------------------- blur's checks (issue 9, #6)
@pytest.mark.parametrize("sigma", [np.nan, np.inf, -0.1, "0.1", True])
def test_blur_noise_sigma_must_be_a_finite_number(image, field, sigma):
    with pytest.raises(ValueError, match="noise_sigma"):
        blur(image, field, noise_sigma=sigma)


def test_blur_on_cuda_without_cuda_warns_and_runs_on_the_cpu(image, field, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(UserWarning, match="CUDA"):
        out = blur(image, field, device="cuda")
    np.testing.assert_array_equal(out, blur(image, field, device="cpu"))
    with pytest.raises(ValueError, match="device"):
        blur(image, field, device="tpu")


# ---------------------------------------------------------------- counts and PSFs (issue 9, #9)
@pytest.mark.parametrize("kwargs", [{"stages": True}, {"iterations": True},
                                    {"stages": np.bool_(True)}])
def test_booleans_are_not_counts(image, field, kwargs):
    with pytest.raises(ValueError, match="integer"):
        deconvolve(image, field, **kwargs)


def test_psf_with_negative_taps_is_refused(image):
    psf = np.full((5, 5), 0.05)
    psf[0, 0] = -0.01
    with pytest.raises(ValueError, match="negative"):
        deconvolve(image, psf)


def test_psf_rounding_noise_below_zero_is_accepted(image):
    psf = np.full((5, 5), 0.04)
    psf[0, 0] = -1e-12
    exact = psf.copy()
    exact[0, 0] = 0.0
    np.testing.assert_array_equal(deconvolve(image, psf, stages=1),
                                  deconvolve(image, exact, stages=1))


def test_complex_motion_fields_are_refused():
    with pytest.raises(ValueError, match="complex"):
        MotionField(np.ones((4, 4), np.complex64), np.zeros((4, 4)))
