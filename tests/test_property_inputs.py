"""Property test (issue 9): random shapes, dtypes and values into ``deconvolve`` and
``MotionField`` give either a valid result or a ``ValueError``, never another exception."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from napari_motion_deblur import MotionField, deconvolve

DTYPES = [np.uint8, np.uint16, np.int8, np.int32, np.int64, np.float16, np.float32, np.float64,
          np.bool_, np.complex64]
# Two of three shapes are valid, so both outcomes are exercised.
SIDE = st.integers(4, 9)
SHAPES = st.one_of(st.tuples(SIDE, SIDE), st.tuples(SIDE, SIDE, st.integers(1, 4)),
                   hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=9))
FAST = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _values(dtype):
    if np.issubdtype(dtype, np.floating):
        width = np.dtype(dtype).itemsize * 8
        return st.one_of(st.floats(0, 1, width=width), st.floats(-2, 2, width=width),
                         st.sampled_from([np.nan, np.inf]))
    return None  # hypothesis' default: the dtype's whole range


arrays = st.sampled_from(DTYPES).flatmap(
    lambda dt: hnp.arrays(dt, SHAPES, elements=_values(dt)))


@FAST
@given(image=arrays, length=st.floats(-5, 60) | st.just(np.nan), angle=st.floats(-400, 400),
       linear_light=st.booleans())
def test_deconvolve_answers_or_raises_value_error(image, length, angle, linear_light):
    from napari_motion_deblur.settings import DeconvolutionSettings

    before = image.copy()
    config = DeconvolutionSettings(stages=1, iterations=1, device="cpu",
                                   linear_light=linear_light)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lengths beyond the bank are clipped with a warning
            out = deconvolve(image, (length, angle), settings=config)
    except ValueError:
        pass
    else:
        assert out.dtype == np.float32 and out.shape == image.shape
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(image, before)  # never modified


@FAST
@given(length=arrays, angle=arrays)
def test_motion_field_accepts_or_raises_value_error(length, angle):
    try:
        field = MotionField(length, angle)
    except ValueError:
        return
    assert field.length.dtype == np.float32 and field.angle.dtype == np.float32
    assert field.shape == length.shape == angle.shape
    assert (field.length >= 0).all() and (0 <= field.angle).all() and (field.angle < 180).all()
