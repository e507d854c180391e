"""dask arrays in, lazy dask arrays out: the same tiles, computed locally or on a cluster."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data, transform

from napari_motion_deblur import blur, deconvolve
from napari_motion_deblur.physics.synthesis import camera_shake_field

da = pytest.importorskip("dask.array")  # an optional extra ("dask"), not the package itself


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
