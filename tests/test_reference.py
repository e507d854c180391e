"""The exact per-pixel reference operator against brute force, its adjoint, and uniform blur."""

import numpy as np
import pytest
import torch

from napari_motion_deblur import MotionField
from napari_motion_deblur.physics.kernels import motion_kernels
from napari_motion_deblur.physics.operators import Convolution
from napari_motion_deblur.physics.reference import (
    MatrixBlur,
    PerPixelBlur,
    ReferenceBlur,
    linear_path,
)


def _brute_force(image, path, samples=4000):
    """Pixel by pixel: average of bilinear reads along each pixel's own polyline."""
    h, w = image.shape
    out = np.zeros((h, w))
    t = np.linspace(0.0, path.shape[0] - 1.0, samples)
    for r in range(h):
        for c in range(w):
            k = np.minimum(np.floor(t).astype(int), path.shape[0] - 2)
            f = t - k
            dr = (1 - f) * path[k, 0, r, c] + f * path[k + 1, 0, r, c]
            dc = (1 - f) * path[k, 1, r, c] + f * path[k + 1, 1, r, c]
            rr, cc = np.clip(r + dr, 0, h - 1), np.clip(c + dc, 0, w - 1)
            r0 = np.minimum(np.floor(rr).astype(int), h - 2)
            c0 = np.minimum(np.floor(cc).astype(int), w - 2)
            fr, fc = rr - r0, cc - c0
            vals = ((1 - fr) * (1 - fc) * image[r0, c0] + (1 - fr) * fc * image[r0, c0 + 1]
                    + fr * (1 - fc) * image[r0 + 1, c0] + fr * fc * image[r0 + 1, c0 + 1])
            out[r, c] = np.trapezoid(vals, t) / t[-1]
    return out


def _varying_field(shape, rng):
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    length = 2.0 + 6.0 * rows / shape[0] + rng.uniform(0, 1, shape)
    angle = (20.0 + 140.0 * cols / shape[1]) % 180.0
    return MotionField(length, angle)


def test_reference_matches_brute_force_on_a_tiny_image():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (9, 11))
    field = _varying_field(image.shape, rng)
    op = ReferenceBlur(field, samples_per_pixel=16)
    expected = _brute_force(image, linear_path(field))
    assert np.abs(op.forward(image) - expected).max() < 2e-3
    assert np.abs(op(image.astype(np.float32)) - expected).max() < 2e-3


def test_reference_curved_path_matches_brute_force():
    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (8, 10))
    path = rng.normal(0, 2.0, (3, 2, 8, 10))
    op = ReferenceBlur(path, samples_per_pixel=16)
    assert np.abs(op.forward(image) - _brute_force(image, path)).max() < 2e-3


def test_matrix_free_equals_matrix_and_rows_sum_to_one():
    rng = np.random.default_rng(2)
    image = rng.uniform(0, 1, (24, 20, 3)).astype(np.float32)
    op = ReferenceBlur(_varying_field(image.shape[:2], rng))
    fast = op(image)
    for c in range(3):
        assert np.abs(fast[..., c] - op.forward(image[..., c])).max() < 1e-5
    assert np.allclose(np.asarray(op.matrix.sum(axis=1)).ravel(), 1.0, atol=1e-9)


def test_adjoint():
    rng = np.random.default_rng(3)
    op = ReferenceBlur(_varying_field((17, 23), rng))
    x, y = rng.normal(size=(2, 17, 23))
    assert abs(np.sum(op.forward(x) * y) - np.sum(x * op.adjoint(y))) < 1e-9 * np.abs(x).sum()


@pytest.mark.parametrize(("length", "angle"), [(9.0, 0.0), (13.0, 90.0), (11.0, 37.0)])
def test_uniform_field_equals_plain_convolution_inside(length, angle):
    rng = np.random.default_rng(4)
    image = rng.uniform(0, 1, (48, 48)).astype(np.float32)
    op = ReferenceBlur(MotionField.uniform(image.shape, length, angle), samples_per_pixel=8)
    kernel = motion_kernels([length], [angle])[0]
    conv = Convolution(kernel)(torch.from_numpy(image)[None])[0].numpy()
    inner = (slice(12, -12), slice(12, -12))
    assert np.abs(op(image)[inner] - conv[inner]).max() < 2e-3


def test_no_motion_is_identity_and_bad_paths_are_refused():
    image = np.random.default_rng(5).uniform(0, 1, (6, 7)).astype(np.float32)
    op = ReferenceBlur(MotionField.uniform(image.shape, 1.0, 30.0))
    assert np.abs(op(image) - image).max() < 1e-6
    with pytest.raises(ValueError, match="path"):
        ReferenceBlur(np.zeros((1, 2, 4, 4)))
    with pytest.raises(ValueError, match="finite"):
        ReferenceBlur(np.full((2, 2, 4, 4), np.nan))
    with pytest.raises(ValueError, match="differs"):
        op(np.zeros((5, 5), np.float32))


def test_fast_per_pixel_blur_matches_the_reference_and_batches_channels():
    rng = np.random.default_rng(6)
    field = _varying_field((40, 36), rng)
    image = ndimage_smooth(rng.uniform(0, 1, (3, 40, 36)))
    reference = np.stack([ReferenceBlur(field, samples_per_pixel=8)(im) for im in image])
    for spp, tolerance in ((1.0, 5e-3), (4.0, 1e-3)):
        fast = PerPixelBlur(field, spp)(torch.from_numpy(image).float()).numpy()
        assert np.abs(fast - reference).max() < tolerance
    one = PerPixelBlur(field)(torch.from_numpy(image[1:2]).float()).numpy()
    three = PerPixelBlur(field)(torch.from_numpy(image).float()).numpy()
    np.testing.assert_allclose(three[1:2], one, atol=1e-6)


def test_per_pixel_blur_keeps_its_sample_grids_without_changing_a_value(monkeypatch):
    rng = np.random.default_rng(7)
    field = _varying_field((40, 36), rng)
    x = torch.from_numpy(ndimage_smooth(rng.uniform(0, 1, (2, 40, 36))))
    y = torch.from_numpy(rng.normal(size=(2, 40, 36)).astype(np.float32))
    kept = PerPixelBlur(field, 2.0)
    first, again = kept(x), kept(x)  # the second call reads the kept grids
    assert len(kept._grids) == 1
    monkeypatch.setattr("napari_motion_deblur.physics.reference._GRID_CACHE_BYTES", 0)
    rebuilt = PerPixelBlur(field, 2.0)
    assert torch.equal(first, again) and torch.equal(rebuilt(x), first)
    assert not rebuilt._grids  # over the limit: built per call, never kept
    torch.testing.assert_close(kept.adjoint(y), rebuilt.adjoint(y), rtol=0, atol=0)
    assert abs(float((kept(x) * y).sum() - (x * kept.adjoint(y)).sum())) < 1e-3


def ndimage_smooth(x):
    from scipy import ndimage

    return ndimage.gaussian_filter(x, (0, 1.0, 1.0)).astype(np.float32)


def test_exact_data_term_beats_node_blend_on_per_pixel_object_motion():
    from skimage import data

    from napari_motion_deblur import deconvolve
    from napari_motion_deblur.physics.degradation import degrade
    from napari_motion_deblur.physics.synthesis import object_motion_field

    sharp = data.camera()[100:300, 150:350].astype(np.float32) / 255.0
    field = object_motion_field(sharp.shape, np.random.default_rng(3), max_length=21.0,
                                objects=2)
    obs = degrade(sharp, field, seed=3)

    def error(x):
        return float(np.mean((np.clip(x, 0, 1) - obs.sharp) ** 2))

    exact = deconvolve(obs.blurred, obs.field, device="cpu")
    nodes = deconvolve(obs.blurred, obs.field, device="cpu", operator="nodes")
    assert error(exact) < 0.9 * error(nodes)
    assert error(exact) < 0.85 * error(obs.blurred)


def test_torch_matrix_operator_equals_the_matrix_and_is_adjoint_over_a_batch():
    rng = np.random.default_rng(5)
    reference = ReferenceBlur(_varying_field((19, 16), rng))
    op = MatrixBlur(reference)
    x = torch.from_numpy(rng.normal(size=(3, 19, 16)))
    y = torch.from_numpy(rng.normal(size=(3, 1, 19, 16)))
    kx, kty = op(x), op.adjoint(y)
    assert kx.shape == kty.shape == (3, 1, 19, 16)
    for b in range(3):
        assert np.abs(kx[b, 0].numpy() - reference.forward(x[b].numpy())).max() < 1e-5
    lhs, rhs = float((kx * y).sum()), float((x[:, None] * kty).sum())
    assert abs(lhs - rhs) < 1e-4 * float(x.abs().sum())
    with pytest.raises(ValueError, match="differs"):
        op(torch.zeros(1, 18, 16))
