"""Field generators, the blur forward model and the benchmark baselines."""

import numpy as np
import pytest
import torch
from skimage import data, transform

from napari_motion_deblur import MotionField, blur, random_field
from napari_motion_deblur.physics.operators import Convolution
from napari_motion_deblur.physics.synthesis import camera_shake_field, field_from_displacement
from napari_motion_deblur.solvers.baselines import admm_tv_cg, admm_tv_fft, wiener


@pytest.mark.parametrize("kind", ["camera", "uniform", "objects", "mixed"])
def test_random_fields_respect_the_bank(kind):
    for seed in range(5):
        field = random_field((70, 90), seed, kind=kind, max_length=35.0)
        assert field.shape == (70, 90)
        assert field.length.max() <= 35.0 + 1e-4
        assert ((0 <= field.angle) & (field.angle < 180)).all()


def test_random_fields_are_reproducible():
    assert random_field((40, 40), 3) == random_field((40, 40), 3)
    with pytest.raises(ValueError, match="kind"):
        random_field((40, 40), 3, kind="spiral")


def test_camera_shake_is_smooth_and_non_uniform():
    field = camera_shake_field((128, 128), 0, max_length=30, min_length=30)
    drow, dcol = field.to_vectors()
    assert np.abs(np.diff(drow, axis=0)).max() < 1.0  # smooth
    assert field.length.max() == pytest.approx(30, abs=1e-3)
    assert field.length.std() > 0.5  # varies across the image


def test_displacement_convention():
    # A point moving 10 px to the right paints an 11 px horizontal streak at angle 0.
    field = field_from_displacement(np.zeros((4, 4)), np.full((4, 4), 10.0))
    assert field.length[0, 0] == pytest.approx(11.0)
    assert field.angle[0, 0] == pytest.approx(0.0)
    up = field_from_displacement(np.full((4, 4), -5.0), np.zeros((4, 4)))
    assert up.angle[0, 0] == pytest.approx(90.0)


def test_blur_adds_noise_reproducibly():
    img = np.full((32, 32), 0.5, np.float32)
    a = blur(img, MotionField.uniform(img.shape, 9, 0), noise_sigma=0.02, seed=1)
    b = blur(img, MotionField.uniform(img.shape, 9, 0), noise_sigma=0.02, seed=1)
    np.testing.assert_array_equal(a, b)
    assert abs(float(a.std()) - 0.02) < 0.005


@pytest.fixture(scope="module")
def uniform_problem():
    x = transform.resize(data.camera(), (96, 96), anti_aliasing=True).astype(np.float32)
    psf = np.zeros((9, 9), np.float32)
    psf[4, :] = 1 / 9
    y = blur(x, psf, noise_sigma=0.01, seed=0)
    return x, psf, torch.from_numpy(y)[None]


def _psnr(a, b):
    return 10 * np.log10(1 / np.mean((np.clip(a, 0, 1) - b) ** 2))


def test_baselines_deblur(uniform_problem):
    x, psf, y = uniform_problem
    blurry = _psnr(y[0].numpy(), x)
    cg = admm_tv_cg(y, Convolution(torch.from_numpy(psf)), lam=0.001, stages=10)[0].numpy()
    fft = admm_tv_fft(y, psf, lam=0.001, stages=10)[0].numpy()
    wn = wiener(y, psf, 1e-2)[0].numpy()
    for est in (cg, fft, wn):
        assert est.shape == x.shape
        assert _psnr(est, x) > blurry + 2.0
