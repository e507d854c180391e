"""The blur operators: adjointness (cpu, + cuda when present), uniform = non-uniform, boundaries."""

import numpy as np
import pytest
import torch

from napari_motion_deblur import MotionField, motion_kernel
from napari_motion_deblur.physics.operators import Convolution, NonUniformBlur
from napari_motion_deblur.physics.patches import centred_spectrum
from napari_motion_deblur.physics.synthesis import camera_shake_field, object_motion_field

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


def _fields(shape):
    return [
        MotionField.uniform(shape, 17.0, 30.0),
        camera_shake_field(shape, 1),
        object_motion_field(shape, 2),
    ]


def _adjointness(op, shape, channels, device):
    g = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(2, channels, *shape, generator=g).to(device)
    y = torch.randn(2, *shape, generator=g).to(device)
    lhs = (op(x) * y).sum().item()
    rhs = (x * op.adjoint(y)).sum().item()
    return abs(lhs - rhs) / max(abs(lhs), 1e-9)


@pytest.mark.parametrize("boundary", ["symmetric", "periodic"])
def test_nonuniform_blur_adjointness(device, boundary):
    shape = (97, 150)
    for field in _fields(shape):
        op = NonUniformBlur(field, device=device, boundary=boundary)
        assert _adjointness(op, shape, 1, device) < 1e-5


@pytest.mark.parametrize("boundary", ["symmetric", "periodic"])
def test_uniform_convolution_adjointness(device, boundary):
    filters = torch.rand(3, 7, 11, generator=torch.Generator().manual_seed(1)).to(device)
    op = Convolution(filters, boundary)
    assert _adjointness(op, (40, 53), 3, device) < 1e-5


def test_uniform_field_through_nonuniform_path_equals_uniform_convolution():
    shape = (120, 90)
    x = torch.rand(1, *shape, generator=torch.Generator().manual_seed(0))
    field = MotionField.uniform(shape, 21.0, 42.0)
    k = torch.from_numpy(motion_kernel(21.0, 42.0))
    assert torch.allclose(NonUniformBlur(field)(x), Convolution(k)(x), atol=1e-5)


def test_blur_preserves_constants_and_mean():
    shape = (80, 80)
    op = NonUniformBlur(camera_shake_field(shape, 3))
    assert torch.allclose(op(torch.full((1, *shape), 0.3)), torch.full((1, *shape), 0.3),
                          atol=1e-5)


def test_symmetric_boundary_has_no_wraparound():
    # A bright column at the right edge must not leak to the left edge (as an FFT would).
    shape = (64, 64)
    x = torch.zeros(1, *shape)
    x[..., -3:] = 1.0
    y = NonUniformBlur(MotionField.uniform(shape, 25.0, 0.0))(x)
    assert float(y[..., :20].abs().max()) < 1e-6
    assert float(y[..., -1].min()) > 0.2  # mirrored: 6 of the 25 taps are bright


def test_kernel_varies_across_the_field():
    # Left half still, right half horizontal motion: an impulse is spread only on the right.
    shape = (64, 128)
    length = np.ones(shape, np.float32)
    length[:, 64:] = 15.0
    op = NonUniformBlur(MotionField(length, np.zeros(shape, np.float32)), stride=16)
    x = torch.zeros(1, *shape)
    x[0, 32, 16] = 1.0
    x[0, 32, 112] = 1.0
    y = op(x)[0]
    assert float(y[32, 16]) > 0.9
    assert float(y[32, 112]) < 0.2 and float(y[32, 105:120].sum()) > 0.9


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_and_cuda_agree():
    from napari_motion_deblur import deconvolve
    from napari_motion_deblur.physics.synthesis import blur

    rng = np.random.default_rng(0)
    image = rng.random((96, 96)).astype(np.float32)
    field = camera_shake_field(image.shape, 0)
    blurred = blur(image, field, 0.01, 0)
    a = deconvolve(blurred, field, device="cpu")
    b = deconvolve(blurred, field, device="cuda")
    assert np.abs(a - b).max() < 1e-3


@pytest.mark.parametrize("shape, size", [((3, 2, 51, 51), (144, 144)), ((5, 3), (8, 10)),
                                         ((1, 1), (4, 4)), ((2, 35, 35), (35, 36)),
                                         ((4, 2), (6, 6))])
def test_centred_spectrum_places_the_filter_centre_at_the_origin(shape, size):
    filters = torch.randn(*shape, dtype=torch.float64)
    kh, kw = shape[-2:]
    embedded = torch.zeros(*shape[:-2], *size, dtype=torch.float64)
    for i in range(kh):  # brute force: tap (i, j) at ((i - kh // 2) mod N, (j - kw // 2) mod N)
        for j in range(kw):
            embedded[..., (i - kh // 2) % size[0], (j - kw // 2) % size[1]] = filters[..., i, j]
    torch.testing.assert_close(centred_spectrum(filters, size), torch.fft.rfft2(embedded),
                               rtol=0, atol=1e-12)


def test_centred_spectrum_refuses_filters_larger_than_the_patch():
    with pytest.raises(ValueError, match="do not fit"):
        centred_spectrum(torch.ones(9, 9), (8, 16))

