"""The conjugate-gradient x-update on the exact data term (``solver="pcg"``): its adjoints, its
settings, and that it reaches the exact solution where the IRC step stalls."""

import numpy as np
import pytest
import torch

from napari_motion_deblur import MotionField, deconvolve
from napari_motion_deblur.physics.reference import MatrixBlur, PerPixelBlur, ReferenceBlur
from napari_motion_deblur.settings import DeconvolutionSettings
from napari_motion_deblur.solvers.baselines import admm_tv_cg
from napari_motion_deblur.solvers.irc import gradients, gradients_adjoint

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


def _varying_field(shape):
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    length = 3.0 + 9.0 * rows / shape[0]
    angle = (15.0 + 150.0 * cols / shape[1]) % 180.0
    return MotionField(length, angle)


def test_per_pixel_blur_adjoint(device):
    rng = np.random.default_rng(0)
    op = PerPixelBlur(_varying_field((33, 29)), device=device)
    x = torch.from_numpy(rng.normal(size=(3, 33, 29))).float().to(device)
    y = torch.from_numpy(rng.normal(size=(3, 33, 29))).float().to(device)
    lhs = float((op(x) * y).sum())
    rhs = float((x * op.adjoint(y)).sum())
    assert abs(lhs - rhs) < 1e-4 * float(x.abs().sum())
    assert op.adjoint(y).shape == y.shape


def test_gradient_adjoint(device):
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(2, 17, 12))).to(device)
    g = torch.from_numpy(rng.normal(size=(2, 2, 17, 12))).to(device)
    assert abs(float((gradients(x) * g).sum() - (x * gradients_adjoint(g)).sum())) < 1e-9


def test_pcg_settings_are_checked_before_work():
    with pytest.raises(ValueError, match="solver must be one of"):
        DeconvolutionSettings(solver="cg")
    with pytest.raises(ValueError, match="needs operator='exact'"):
        DeconvolutionSettings(solver="pcg", operator="nodes")
    psf = np.full((1, 5), 0.2, np.float32)
    with pytest.raises(ValueError, match="needs a motion field"):
        deconvolve(np.zeros((32, 32), np.float32), psf,
                   settings=DeconvolutionSettings(device="cpu", solver="pcg"))


@pytest.fixture(scope="module")
def per_pixel_case():
    """Object motion blurred pixel by pixel (a streak that changes within the node spacing)."""
    from skimage import data

    sharp = data.camera()[120:240, 180:300].astype(np.float64) / 255.0
    rows, cols = np.mgrid[0:120, 0:120]
    inside = (rows - 60) ** 2 + (cols - 55) ** 2 < 30**2
    field = MotionField(np.where(inside, 15.0, 5.0), np.where(inside, 60.0, 150.0))
    reference = ReferenceBlur(field)
    blurred = reference.forward(sharp)
    blurred += np.random.default_rng(2).normal(0, 0.005, blurred.shape)
    return sharp, blurred.astype(np.float32), field, MatrixBlur(reference)


def _objective(x, blurred, operator, lam):
    """The TV objective both solvers minimize (anisotropic TV, as IRC's)."""
    t = torch.from_numpy(np.asarray(x, np.float32))[None]
    fit = 0.5 * float(((operator(t)[:, 0] - torch.from_numpy(blurred)) ** 2).sum())
    return fit + lam * float(gradients(t)[..., :-1, :-1].abs().sum())


def test_pcg_reaches_the_exact_solution_where_the_irc_step_stalls(per_pixel_case):
    sharp, blurred, field, operator = per_pixel_case
    lam = 0.0008
    settings = DeconvolutionSettings(device="cpu", stages=15, iterations=6, regularization=lam)
    pcg = deconvolve(blurred, field, settings=settings.replace(solver="pcg"))
    irc = deconvolve(blurred, field, settings=settings)
    converged = admm_tv_cg(torch.from_numpy(blurred)[None], operator, lam, stages=40)[0].numpy()

    def error(x):
        return float(np.mean((np.clip(x, 0, 1) - sharp)[10:-10, 10:-10] ** 2))

    assert pcg.dtype == np.float32 and pcg.shape == blurred.shape
    # PCG lands where converged NU-CG does; the IRC step stops well short of it.
    assert error(pcg) < 1.15 * error(converged)
    assert error(pcg) < 0.8 * error(irc)
    assert _objective(pcg, blurred, operator, lam) < _objective(irc, blurred, operator, lam)
