"""JPEG detection: the block DCT's quantization grid found in a decoded image, wherever the
crop put the block grid, and not in an image that was never compressed."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from napari_motion_deblur.physics.compression import (
    JPEG_THRESHOLD,
    jpeg_evidence,
    jpeg_round_trip,
    looks_jpeg_compressed,
)


@pytest.fixture(scope="module")
def photo():
    return skimage.data.astronaut()[:300, 100:400].astype(np.float32) / 255.0


@pytest.mark.parametrize("quality", [75, 90])
@pytest.mark.parametrize("offset", [0, 3, 5])
def test_a_decoded_jpeg_is_recognised_wherever_its_block_grid_sits(photo, quality, offset):
    gray = photo.mean(axis=-1)
    decoded = jpeg_round_trip(gray, quality)[offset:, offset:]  # a crop moves the 8-px grid
    assert jpeg_evidence(decoded) > JPEG_THRESHOLD
    assert looks_jpeg_compressed(decoded)


def test_a_colour_jpeg_is_recognised_through_its_luminance(photo):
    assert looks_jpeg_compressed(jpeg_round_trip(photo, 90)[2:, 5:])


def test_images_never_compressed_are_not(photo):
    rng = np.random.default_rng(0)
    gray = photo.mean(axis=-1)
    for image in (photo, gray, np.round(gray * 255) / 255,  # 8-bit, but never compressed
                  np.clip(gray + rng.normal(0, 0.01, gray.shape), 0, 1)):
        assert jpeg_evidence(image) < JPEG_THRESHOLD
        assert not looks_jpeg_compressed(image)


def test_tiny_or_flat_images_give_no_evidence_and_inputs_are_left_alone(photo):
    assert jpeg_evidence(np.zeros((40, 40), np.float32)) == 0.0  # too few blocks
    assert jpeg_evidence(np.full((128, 128), 0.5, np.float32)) == 0.0  # no coefficients
    before = photo.copy()
    jpeg_evidence(photo)
    np.testing.assert_array_equal(photo, before)
