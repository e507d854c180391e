"""IRC-Net's streamed x-update (large grids): the same estimates as the stored-spectra one."""

import numpy as np
import pytest
import torch
from scipy import ndimage

import napari_motion_deblur.solvers.node_filters as node_filters
from napari_motion_deblur import MotionField, blur, deconvolve, random_field
from napari_motion_deblur.physics.reference import PerPixelBlur
from napari_motion_deblur.solvers.irc import IRCNet, gradients
from napari_motion_deblur.solvers.irc_streamed import _gradient_band, _inner, _row_bands

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(3)
    sharp = ndimage.gaussian_filter(rng.uniform(0, 1, (150, 170, 2)), (2, 2, 0))
    field = random_field((150, 170), rng, kind="mixed")
    return blur(sharp.astype(np.float32), field, 0.01), field


def _all_stages(net, y, field, exact, observed, streamed, monkeypatch):
    # A grid of this size normally keeps its spectra; no node kept forces the streamed path.
    monkeypatch.setattr(node_filters, "KEEP_NODES", 0 if streamed else 10**9)
    ops = net.motion_operators(field, exact=exact)
    with torch.no_grad():
        return [x for _, x in net.stages(y, ops, 3, 2, 1e-3, observed)]


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("clipped", [False, True])
def test_streamed_stages_equal_the_stored_spectra_stages(problem, device, exact, clipped,
                                                         monkeypatch):
    blurred, field = problem
    net = IRCNet().to(device)
    y = torch.from_numpy(np.moveaxis(blurred, -1, 0).copy()).to(device)  # a batch of 2
    observed = (y < 0.6).float() if clipped else None
    stored = _all_stages(net, y, field, exact, observed, False, monkeypatch)
    streamed = _all_stages(net, y, field, exact, observed, True, monkeypatch)
    assert len(stored) == len(streamed) == 3
    change = float((stored[-1] - y).abs().mean())
    assert change > 2e-3  # the estimates move: the comparison below means something
    for a, b in zip(stored, streamed):
        assert a.shape == b.shape == y.shape
        assert float((a - b).abs().max()) < 2e-5


def test_streamed_estimates_are_snapshots(problem, monkeypatch):
    blurred, field = problem
    net = IRCNet()
    y = torch.from_numpy(blurred[..., 0].copy())[None]
    monkeypatch.setattr(node_filters, "KEEP_NODES", 0)
    ops = net.motion_operators(field, exact=True)
    assert node_filters.NodeSpectra(ops.grid, ops, net.gradient_filters).streamed
    with torch.no_grad():
        stages = net.stages(y, ops, 3, 2)
        first = next(stages)[1]
        kept = first.clone()
        rest = [x for _, x in stages]
    assert torch.equal(first, kept)  # later stages did not write into the first estimate
    assert not torch.equal(rest[-1], kept)


def test_autograd_uses_the_stored_spectra_path(problem, monkeypatch):
    blurred, field = problem
    net = IRCNet()
    monkeypatch.setattr(node_filters, "KEEP_NODES", 0)
    y = torch.from_numpy(blurred[..., 0].copy())[None]
    estimate = net(y, net.motion_operators(field), 2, 1)
    estimate.mean().backward()  # the streamed path updates in place: it must not run here
    assert net.log_threshold.grad is not None and net.log_threshold.grad.abs().sum() > 0


@pytest.mark.parametrize("blur_kind", ["field", "psf"])
def test_deconvolve_of_a_large_grid_equals_the_stored_path(problem, blur_kind, monkeypatch):
    blurred, field = problem
    before = (blurred.copy(), field.length.copy(), field.angle.copy())
    target = field if blur_kind == "field" else np.outer(np.hanning(9), np.hanning(7))
    monkeypatch.setattr(node_filters, "KEEP_NODES", 10**9)
    stored = deconvolve(blurred, target, stages=2, tile=None)
    monkeypatch.setattr(node_filters, "KEEP_NODES", 0)
    streamed = deconvolve(blurred, target, stages=2, tile=None)
    assert np.abs(streamed - blurred).mean() > 1e-3  # it deblurred
    assert streamed.dtype == np.float32 and streamed.shape == blurred.shape
    assert np.abs(streamed - stored).max() < 2e-5
    for kept, now in zip(before, (blurred, field.length, field.angle)):
        np.testing.assert_array_equal(kept, now)  # nothing of the caller's was written


def test_gradient_bands_and_inner_products_match_whole_image_ones(monkeypatch):
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(2, 37, 23)).astype(np.float32))
    w = torch.from_numpy(rng.uniform(0, 1, (2, 37, 23)).astype(np.float32))
    monkeypatch.setattr("napari_motion_deblur.solvers.irc_streamed._BAND_PIXELS", 100)
    bands = _row_bands(37, 23)
    assert len(bands) == 10 and bands[0] == (0, 4) and bands[-1] == (36, 37)
    whole = gradients(x)
    banded = torch.cat([_gradient_band(x, a, b) for a, b in bands], dim=-2)
    torch.testing.assert_close(banded, whole)  # the last band wraps to row 0
    torch.testing.assert_close(_inner(x, w, w), (x * w * w).sum((-2, -1)))
    torch.testing.assert_close(_inner(x, w, minus=x), (x * (w - x)).sum((-2, -1)))


def test_per_pixel_blur_bands_read_every_row_a_streak_reaches(monkeypatch):
    rng = np.random.default_rng(1)
    field = random_field((61, 47), rng, kind="camera")
    x = torch.from_numpy(rng.uniform(0, 1, (1, 61, 47)).astype(np.float32))
    whole = PerPixelBlur(field)(x)
    monkeypatch.setattr("napari_motion_deblur.physics.reference._CHUNK_VALUES", 1)
    banded = PerPixelBlur(field)
    assert banded.band == 1  # one output row per band
    torch.testing.assert_close(banded(x), whole, rtol=0, atol=2e-6)


def test_per_pixel_blur_on_the_padded_domain_reads_the_field_without_a_copy():
    rng = np.random.default_rng(2)
    field = random_field((40, 33), rng, kind="mixed")
    padded = MotionField(np.pad(field.length, 6, mode="edge"), np.pad(field.angle, 6, "edge"))
    x = torch.from_numpy(rng.uniform(0, 1, (2, 52, 45)).astype(np.float32))
    op = PerPixelBlur(field, pad=6)
    assert op.shape == (52, 45) and op.length.data_ptr() == field.length.ctypes.data
    torch.testing.assert_close(op(x), PerPixelBlur(padded)(x), rtol=0, atol=1e-6)
    assert op.reach == PerPixelBlur(padded).reach
