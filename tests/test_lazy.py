"""dask arrays in, lazy dask arrays out: the same tiles, computed locally or on a cluster.

`deconvolve` gives a lazy image, `estimate_motion` a LazyMotionField (dask length and angle).
"""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data, transform

from napari_motion_deblur import (
    LazyMotionField,
    MotionField,
    blur,
    deblur,
    deconvolve,
    estimate_motion,
    estimate_with_confidence,
)
from napari_motion_deblur.physics.synthesis import camera_shake_field
from napari_motion_deblur.settings import EstimationSettings

da = pytest.importorskip("dask.array")  # an optional extra ("dask"), not the package itself
dask = pytest.importorskip("dask")


@pytest.fixture(scope="module")
def problem():
    sharp = transform.resize(data.astronaut()[..., 1], (560, 510),
                             anti_aliasing=True).astype(np.float32)
    field = camera_shake_field(sharp.shape, 5, max_length=21)
    return field, np.clip(blur(sharp, field, noise_sigma=0.01, seed=1), 0, 1)


def test_dask_in_gives_lazy_out_equal_to_the_tiled_in_memory_result(problem):
    field, blurred = problem
    rgb16 = np.round(np.stack([blurred, blurred ** 1.2, blurred * 0.8], -1) * 65535)
    rgb16 = rgb16.astype(np.uint16)
    lazy = deconvolve(da.from_array(rgb16, chunks=(100, 300, 3)), field, stages=2, tile=204)
    assert isinstance(lazy, da.Array) and lazy.dtype == np.float32 and lazy.shape == rgb16.shape
    expected = deconvolve(rgb16, field, stages=2, tile=204)
    np.testing.assert_allclose(lazy.compute(scheduler="threads"), expected, atol=1e-5)


def test_lazy_linear_light_equals_the_in_memory_result(problem):
    from napari_motion_deblur.settings import DeconvolutionSettings

    field, blurred = problem
    config = DeconvolutionSettings(stages=2, tile=204, device="cpu", linear_light=True)
    lazy = deconvolve(da.from_array(blurred, chunks=(300, 300)), field, settings=config)
    expected = deconvolve(blurred, field, settings=config)
    np.testing.assert_allclose(lazy.compute(scheduler="threads"), expected, atol=1e-5)
    plain = deconvolve(blurred, field, settings=config.replace(linear_light=False))
    assert np.abs(expected - plain).max() > 1e-2


def test_lazy_refined_jpeg_input_equals_the_in_memory_result(problem):
    from napari_motion_deblur.physics.compression import jpeg_round_trip, looks_jpeg_compressed
    from napari_motion_deblur.settings import DeconvolutionSettings

    field, blurred = problem
    jpeg = jpeg_round_trip(blurred, 90)
    assert looks_jpeg_compressed(jpeg)
    config = DeconvolutionSettings(stages=1, iterations=1, tile=204, device="cpu", refine=True)
    lazy = deconvolve(da.from_array(jpeg, chunks=(300, 300)), field, settings=config)
    expected = deconvolve(jpeg, field, settings=config)
    # the refiner's own blocks and the chunks meet at different seams: float noise there
    np.testing.assert_allclose(lazy.compute(scheduler="threads"), expected, atol=1e-3)
    plain = deconvolve(jpeg, field, settings=config.replace(jpeg_input=False))
    assert np.abs(expected - plain).max() > 1e-2  # the JPEG refiner was the one used


def test_bad_lazy_input_is_refused_before_computing(problem):
    field, blurred = problem
    with pytest.raises(ValueError, match="image must be"):
        deconvolve(da.zeros((4, 64, 64, 3), chunks=32), field)
    with pytest.raises(ValueError):
        deconvolve(da.from_array(blurred), field.rot90(1))  # the field's shape differs
    signed = (np.round(blurred * 60000) - 5).astype(np.int32)
    with pytest.raises(ValueError, match="negative"):  # the in-memory intensity rule
        deconvolve(da.from_array(signed, chunks=256), field)


def test_a_local_cluster_computes_the_same(problem):
    distributed = pytest.importorskip("distributed")
    field, blurred = problem
    lazy = deconvolve(da.from_array(blurred, chunks=256), field, stages=2, tile=204)
    expected = deconvolve(blurred, field, stages=2, tile=204)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = client.compute(lazy).result()
    np.testing.assert_allclose(result, expected, atol=1e-5)


# --------------------------------------------------------------- lazy motion estimates
@pytest.fixture(scope="module")
def shaken():
    """A 420 x 400 camera-shake image: 2 x 2 estimation tiles of 128 (192) px."""
    sharp = transform.resize(data.astronaut()[..., 1], (420, 400),
                             anti_aliasing=True).astype(np.float32)
    field = camera_shake_field(sharp.shape, 5, max_length=21)
    return np.clip(blur(sharp, field, noise_sigma=0.01, seed=1), 0, 1)


class _Reads:
    """A dask image that counts the chunks computed from it."""

    def __init__(self, image, chunks):
        self.count = 0
        self.array = da.from_array(image, chunks=chunks).map_blocks(self._read,
                                                                    dtype=image.dtype)

    def _read(self, block):
        self.count += block.size > 0  # not dask's probe of an empty block
        return block


def test_lazy_estimate_equals_the_tiled_in_memory_estimate(shaken):
    rgb16 = np.round(np.stack([shaken, shaken ** 1.2, shaken * 0.8], -1) * 65535)
    rgb16 = rgb16.astype(np.uint16)
    config = EstimationSettings(passes=1, tile=128)
    reads = _Reads(rgb16, (100, 150, 3))
    field = estimate_motion(reads.array, settings=config)
    assert reads.count == 0  # nothing computed yet
    assert isinstance(field, LazyMotionField) and isinstance(field, MotionField)
    assert isinstance(field.length, da.Array) and field.shape == shaken.shape
    assert field.length.numblocks == (2, 2)
    lazy = estimate_with_confidence(reads.array, settings=config)
    length, angle, confidence = dask.compute(lazy.field.length, lazy.field.angle,
                                             lazy.confidence, scheduler="threads")
    expected = estimate_with_confidence(rgb16, settings=config)
    np.testing.assert_allclose(length, expected.field.length, atol=1e-5)
    np.testing.assert_allclose(angle, expected.field.angle, atol=1e-4)
    np.testing.assert_allclose(confidence, expected.confidence, atol=1e-5)
    assert field.compute(scheduler="threads") == expected.field


def test_a_lazy_field_keeps_deconvolve_lazy(shaken):
    image = da.from_array(shaken, chunks=210)
    field = estimate_motion(image, settings=EstimationSettings(method="spectral", tile=128))
    result = deconvolve(image, field, stages=1, tile=204)
    assert isinstance(result, da.Array) and result.shape == shaken.shape
    in_memory = field.compute(scheduler="threads")
    expected = deconvolve(shaken, in_memory, stages=1, tile=204)
    np.testing.assert_allclose(result.compute(scheduler="threads"), expected, atol=1e-5)
    # an in-memory image computes the lazy field first
    np.testing.assert_array_equal(deconvolve(shaken, field, stages=1, tile=204), expected)
    restored, used = deblur(image, method="spectral", stages=1)  # blind: lazy throughout
    assert isinstance(restored, da.Array) and isinstance(used, LazyMotionField)


def test_lazy_motion_field_operations(shaken):
    length = np.abs(shaken * 30).astype(np.float32)
    angle = (shaken * 400 - 100).astype(np.float32)
    eager = MotionField(length, angle)
    lazy = LazyMotionField(da.from_array(length, chunks=128), da.from_array(angle, chunks=128))
    assert lazy == eager and lazy.compute() == eager and "LazyMotionField" in repr(lazy)
    assert lazy.rot90(3).compute() == eager.rot90(3)
    assert lazy.fliplr().compute() == eager.fliplr()
    assert lazy.clipped(20.0).compute() == eager.clipped(20.0, warn=False)
    for mine, theirs in zip(lazy.to_vectors(), eager.to_vectors(), strict=True):
        np.testing.assert_allclose(mine.compute(), theirs, atol=1e-4)
    assert lazy.persist() == eager
    with pytest.raises(ValueError, match="same"):
        LazyMotionField(da.zeros((4, 5)), da.zeros((5, 4)))
    with pytest.raises(ValueError, match="2-D"):
        LazyMotionField(da.zeros((4, 5, 2)), da.zeros((4, 5, 2)))
    with pytest.raises(ValueError, match=">= 0"):  # values: checked where computed
        LazyMotionField(-da.ones((8, 8)), da.zeros((8, 8))).compute()


def test_bad_lazy_estimate_input_is_refused_before_computing(shaken):
    reads = _Reads(np.zeros((6, 64, 64), np.float32), 32)
    with pytest.raises(ValueError, match="Stacks"):
        estimate_motion(reads.array)
    for image, match in [(da.zeros((64, 64), dtype=bool), "dtype"),
                         (da.zeros((3, 64)), "too small"),
                         (da.zeros((64, 64, 5)), "image must be")]:
        with pytest.raises(ValueError, match=match):
            estimate_motion(image)
    with pytest.raises(ValueError, match="passes"):
        estimate_motion(reads.array[0], passes=0)
    assert reads.count == 0
    signed = (np.round(shaken * 60000) - 5).astype(np.int32)
    with pytest.raises(ValueError, match="negative"):  # the in-memory intensity rule
        estimate_motion(da.from_array(signed, chunks=256))
    nan = shaken.copy()
    nan[300, 300] = np.nan
    field = estimate_motion(da.from_array(nan, chunks=256),
                            settings=EstimationSettings(method="spectral", tile=128))
    with pytest.raises(ValueError, match="NaN"):  # a value: refused when its tile is computed
        field.compute(scheduler="threads")


def test_a_local_cluster_estimates_the_same(shaken):
    distributed = pytest.importorskip("distributed")
    image = shaken[:, :260]  # 2 tiles (rows) x 1
    config = EstimationSettings(passes=1, tile=128)
    lazy = estimate_motion(da.from_array(image, chunks=200), settings=config)
    expected = estimate_motion(image, settings=config)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        field = lazy.compute()
    # equal up to float rounding (the workers run torch on one thread each)
    np.testing.assert_allclose(field.length, expected.length, atol=1e-4)
    turn = np.exp(2j * np.deg2rad(field.angle)) - np.exp(2j * np.deg2rad(expected.angle))
    assert np.abs(turn).max() < 1e-4  # angles, sign-free: 0 and 180 degrees are one
