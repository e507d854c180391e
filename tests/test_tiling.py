"""Tiles with halos: the boxes cover the image once, and tiled results match whole-image ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data, transform

from napari_motion_deblur import (
    DeconvolutionProgress,
    blur,
    deconvolve,
    estimate_with_confidence,
    iter_deconvolve,
)
from napari_motion_deblur.estimation.api import ESTIMATION_ALIGN
from napari_motion_deblur.physics.synthesis import camera_shake_field
from napari_motion_deblur.settings import DeconvolutionSettings, EstimationSettings
from napari_motion_deblur.tiling import (
    DECONVOLUTION_BYTES_PER_PIXEL,
    DECONVOLUTION_HALO,
    DECONVOLUTION_KEPT_BYTES_PER_PIXEL,
    DECONVOLUTION_WHOLE_BYTES_PER_PIXEL,
    MIN_TILE,
    auto_tile,
    tile_boxes,
)


@pytest.mark.parametrize("shape, tile, halo, align", [
    ((300, 257), 128, 40, 1), ((512, 700), 153, 204, 51), ((97, 130), 128, 0, 1)])
def test_tile_boxes_cover_every_pixel_once_and_align(shape, tile, halo, align):
    count = np.zeros(shape, int)
    for box in tile_boxes(shape, tile, halo, align):
        count[box.target] += 1
        outer = np.zeros(shape, bool)
        outer[box.outer] = True
        assert outer[box.target].all()  # the tile lies inside its outer box
        rows, cols = box.outer
        assert rows.start % align == 0 and cols.start % align == 0
        assert (rows.start == 0 or box.target[0].start - rows.start >= halo)
        assert (box.inner[0].stop - box.inner[0].start) == box.target[0].stop - box.target[0].start
    assert (count == 1).all()


def test_auto_tile_only_above_the_budget():
    assert auto_tile((512, 512), 1, 300, 204, budget=1.5e9) is None
    side = auto_tile((4096, 4096), 1, 300, 204, budget=1.5e9, align=51)
    assert side is not None and side % 51 == 0 and (side + 2 * 204) ** 2 * 300 <= 1.5e9
    assert side == 1377  # 3 x 3 equal tiles (27 node spacings), not 1632 + 1632 + 832
    with pytest.raises(ValueError, match="memory_budget"):
        auto_tile((4096, 4096), 3, 300, 204, budget=1e6)


def test_auto_tile_pays_for_the_whole_image_first():
    plain = auto_tile((4096, 4096), 1, 300, 204, budget=1.2e9, align=51)
    side = auto_tile((4096, 4096), 1, 300, 204, budget=1.2e9, align=51,
                     whole_bytes_per_pixel=16)
    assert side < plain and side % 51 == 0
    assert (side + 2 * 204) ** 2 * 300 + 4096**2 * 16 <= 1.2e9
    with pytest.raises(ValueError, match="memory_budget"):  # the whole arrays alone exceed it
        auto_tile((4096, 4096), 1, 300, 204, budget=2.6e8, whole_bytes_per_pixel=16)
    # The whole image's work fits, but not with what the call holds besides: tiles.
    pixels = 4096**2
    assert auto_tile((4096, 4096), 1, 60, 204, budget=pixels * 70) is None
    assert auto_tile((4096, 4096), 1, 60, 204, budget=pixels * 70,
                     whole_bytes_per_pixel=24) < 4096


@pytest.mark.parametrize("bad", [0, 64, 127, 200.5, "big", True])
def test_bad_tile_sizes_are_refused_up_front(bad):
    with pytest.raises(ValueError, match="tile must be"):
        DeconvolutionSettings(tile=bad)
    with pytest.raises(ValueError, match="tile must be"):
        EstimationSettings(tile=bad)
    with pytest.raises(ValueError, match="memory_budget"):
        DeconvolutionSettings(memory_budget=-1)
    assert MIN_TILE == 128


@pytest.fixture(scope="module")
def problem():
    # Large enough that the tiles' outer boxes (tile + 2 halos) are smaller than the image.
    sharp = transform.resize(data.astronaut()[..., 1], (560, 510),
                             anti_aliasing=True).astype(np.float32)
    field = camera_shake_field(sharp.shape, 3, max_length=25)
    return sharp, field, blur(sharp, field, noise_sigma=0.01, seed=0)


def test_tiled_deconvolution_matches_the_whole_image(problem):
    _, field, blurred = problem
    whole = deconvolve(blurred, field, stages=3, tile=None)
    updates = list(iter_deconvolve(blurred, field, stages=3, tile=153))
    tiled = updates[-1].estimate
    assert all(isinstance(u, DeconvolutionProgress) for u in updates)
    # 3 x 3 tiles (153, 153, 254 px: the last 101 px join the tile before), 3 stages each
    assert updates[-1].tiles == 9 and len(updates) == 9 * 3
    assert [round(u.fraction, 3) for u in updates[:3]] == [round(k / 27, 3) for k in (1, 2, 3)]
    assert updates[-1].fraction == 1.0
    difference = np.abs(tiled - whole)
    assert tiled.shape == whole.shape and tiled.dtype == np.float32
    # Measured: mean 6.0e-4, worst 0.060 in an image corner, 0.029 beyond 30 px from the border
    # (the deblurring itself changes pixels by 0.0096 on average). Not equal: see tiling.py.
    assert difference.mean() < 1e-3 and difference[30:-30, 30:-30].max() < 0.04


def test_tiled_snapshots_are_independent_and_deconvolve_returns_the_last(problem):
    _, field, blurred = problem
    updates = list(iter_deconvolve(blurred, field, stages=2, iterations=1, tile=153))
    # the first snapshot still shows the blurry input where later tiles have not run yet
    np.testing.assert_array_equal(updates[0].estimate[-100:, -100:], blurred[-100:, -100:])
    assert not np.array_equal(updates[-1].estimate[-100:, -100:], blurred[-100:, -100:])
    # deconvolve() skips the per-stage copies, not the work
    np.testing.assert_array_equal(
        deconvolve(blurred, field, stages=2, iterations=1, tile=153), updates[-1].estimate)


def test_tiles_read_from_the_callers_integer_image_as_from_its_float_copy(problem):
    _, field, blurred = problem
    rgba = np.stack([blurred, blurred[::-1], blurred[:, ::-1], np.full_like(blurred, 0.5)], -1)
    raw = np.round(rgba * 65535).astype(np.uint16)
    kept = raw.copy()
    tiled = deconvolve(raw, field, stages=1, iterations=1, tile=153)
    expected = deconvolve(raw.astype(np.float32) / np.float32(65535), field, stages=1,
                          iterations=1, tile=153)
    np.testing.assert_array_equal(tiled, expected)
    np.testing.assert_array_equal(tiled[..., 3], np.float32(32768) / np.float32(65535))
    np.testing.assert_array_equal(raw, kept)  # the caller's image is only read


def test_tiles_run_colour_channels_one_after_the_other(problem):
    _, field, blurred = problem
    rgb = np.stack([blurred, blurred[::-1], blurred[:, ::-1]], -1)
    updates = list(iter_deconvolve(rgb, field, stages=2, iterations=1, tile=255))
    assert updates[-1].tiles == 4 * 3 and len(updates) == 4 * 3 * 2  # 2 x 2 tiles, 3 channels
    assert [u.fraction for u in updates] == sorted(u.fraction for u in updates)
    # each channel as its own gray image, with the same tiles: the same result
    for c in range(3):
        gray = deconvolve(rgb[..., c], field, stages=2, iterations=1, tile=255)
        np.testing.assert_array_equal(updates[-1].estimate[..., c], gray)


def test_a_colour_image_whose_channels_fit_runs_as_one_tile_channel_by_channel():
    from napari_motion_deblur.deconvolution import get_model
    from napari_motion_deblur.tiling import budget_tile

    net = get_model("cpu")
    settings = DeconvolutionSettings()
    assert net.streams((1100, 1100)) and not net.streams((900, 900))
    per_channel = 1100 * 1100 * DECONVOLUTION_BYTES_PER_PIXEL  # a streamed image
    assert budget_tile(settings, (1100, 1100, 3), net, 3.5 * per_channel) is None
    side = budget_tile(settings, (1100, 1100, 3), net, 2 * per_channel)
    assert side >= 1100 and side % net.node_spacing() == 0  # one tile: no halo to compute twice


def test_budget_tiles_are_sized_for_what_their_size_costs_per_pixel():
    from napari_motion_deblur.deconvolution import get_model
    from napari_motion_deblur.tiling import budget_tile

    net = get_model("cpu")
    settings = DeconvolutionSettings()
    whole = 2000 * 2000 * DECONVOLUTION_WHOLE_BYTES_PER_PIXEL
    side = budget_tile(settings, (2000, 2000, 1), net, 2e8)
    outer = side + 2 * DECONVOLUTION_HALO
    assert side < 2000 and net.streams((outer, outer))  # streamed tiles, ~60 bytes per pixel
    assert outer**2 * DECONVOLUTION_BYTES_PER_PIXEL + whole <= 2e8
    # At 1e8 the tile that fits at ~60 bytes per pixel is too small to stream (it would
    # keep its spectra, ~360), and at that cost no tile of at least MIN_TILE fits.
    smallest = MIN_TILE + 2 * DECONVOLUTION_HALO
    assert smallest**2 * DECONVOLUTION_KEPT_BYTES_PER_PIXEL + whole > 1e8
    with pytest.raises(ValueError, match="too small"):
        budget_tile(settings, (2000, 2000, 1), net, 1e8)


def test_memory_budget_tiles_automatically():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (900, 860)).astype(np.float32)  # ~2.3e8 bytes of IRC-Net work
    settings = DeconvolutionSettings(stages=1, iterations=1)
    assert list(iter_deconvolve(image, (9.0, 30.0), settings=settings))[-1].tiles == 1
    small = settings.replace(memory_budget=2e8)
    updates = list(iter_deconvolve(image, (9.0, 30.0), settings=small))
    assert updates[-1].tiles == 9  # 3 x 3 306-px tiles (6 node spacings) with 204-px halos
    assert updates[-1].estimate.shape == image.shape
    assert np.isfinite(updates[-1].estimate).all()
    with pytest.raises(ValueError, match="memory_budget"):
        deconvolve(image, (9.0, 30.0), settings=settings.replace(memory_budget=1e7))


def test_out_of_memory_starts_again_in_tiles(monkeypatch):
    from napari_motion_deblur import deconvolution

    rng = np.random.default_rng(1)
    image = rng.uniform(0, 1, (700, 400)).astype(np.float32)
    settings = DeconvolutionSettings(stages=2, iterations=1, device="cpu", tile=None)
    whole_calls = []
    original = deconvolution._plane_stages

    def plane_stages(colour, *args):
        if colour.shape[:2] == image.shape:  # the whole image: the device gives up mid-way
            whole_calls.append(1)
            yield from list(original(colour, *args))[:1]
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        yield from original(colour, *args)

    monkeypatch.setattr(deconvolution, "_plane_stages", plane_stages)
    with pytest.warns(RuntimeWarning, match="ran out of memory.*357-px tiles"):
        updates = list(iter_deconvolve(image, (9.0, 30.0), settings=settings))
    assert whole_calls == [1]
    # One stage of the whole image, then 2 tiles (half the side, on the node grid: 357 px).
    assert updates[0].tiles == 1 and updates[-1].tiles == 2
    monkeypatch.setattr(deconvolution, "_plane_stages", original)
    expected = deconvolve(image, (9.0, 30.0), settings=settings.replace(tile=357))
    assert np.array_equal(updates[-1].estimate, expected)


def test_tiled_estimate_matches_the_whole_image(problem):
    _, _, blurred = problem
    # The local steps (network, cepstral check); the camera model is one motion per tile by
    # design (tests/test_camera_model.py), so it is left out here.
    settings = EstimationSettings(passes=1, device="cpu", tile=None, camera=False)
    whole = estimate_with_confidence(blurred, settings=settings)
    tile = 3 * ESTIMATION_ALIGN  # 2 x 2 tiles whose outer boxes are smaller than the image
    tiled = estimate_with_confidence(blurred, settings=settings.replace(tile=tile))
    np.testing.assert_allclose(tiled.field.length, whole.field.length, atol=1e-3)
    np.testing.assert_array_equal(tiled.confidence, whole.confidence)
