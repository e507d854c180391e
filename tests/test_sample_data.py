"""Sample data: deterministic, bundled-only, and deblurring it with its true field helps."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from napari_motion_deblur import deconvolve
from napari_motion_deblur.gui.sample_data import make_sample


def test_samples_are_deterministic_and_typed():
    a, b = make_sample("photograph", size=64), make_sample("photograph", size=64)
    np.testing.assert_array_equal(a.blurred, b.blurred)
    assert a.field == b.field and a.blurred.dtype == np.uint8
    micro = make_sample("microscopy", size=64)
    assert micro.blurred.dtype == np.uint16 and micro.field.shape == (64, 64)
    with pytest.raises(ValueError, match="kind"):
        make_sample("nebula")


def _gain(kind: str, size: int = 128) -> tuple[float, float]:
    sample = make_sample(kind, size=size)
    top = float(np.iinfo(sample.sharp.dtype).max)
    result = deconvolve(sample.blurred, sample.field, stages=5)
    truth = sample.sharp / top
    return (peak_signal_noise_ratio(truth, sample.blurred / top, data_range=1.0),
            peak_signal_noise_ratio(truth, result, data_range=1.0))


def test_deblurring_the_photograph_sample_with_its_true_field_helps():
    blurry, deblurred = _gain("photograph")
    assert deblurred > blurry + 1.0, (blurry, deblurred)


def test_deblurring_the_microscopy_sample_with_its_true_field_helps():
    blurry, deblurred = _gain("microscopy")
    assert deblurred > blurry + 1.0, (blurry, deblurred)
