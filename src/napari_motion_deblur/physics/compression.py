"""JPEG compression: whether an image went through it (a camera's or an editor's), from its
pixels alone, and a round trip through it (:func:`jpeg_round_trip`, for test data).

JPEG stores each 8 x 8 block's DCT coefficients as multiples of a quantization step; decoding
adds only the rounding of the pixels to 8 bits (a coefficient error of ~0.3 in 0-255 units). So
on the block grid the decoded image's low-frequency DCT coefficients still sit near multiples
of their step, while an image that was never compressed has them anywhere. :func:`jpeg_evidence`
searches the 64 grid offsets (a crop moves the grid) and the steps 2-12 (qualities from about
50 to 95) for that regularity, measured as the mean of ``cos(2 pi c / step)`` over the
coefficients ``c`` above 3/4 of the step (1 for exact multiples, about 0 for no regularity),
averaged over the five lowest AC frequencies. On the held-out inputs of ``benchmarks/blind.py``
(140-px crops) those never compressed score 0.11-0.26 and those through JPEG 90 0.47-0.71
(``python benchmarks/jpeg_detection.py --tuning``, ``results/jpeg_detection_tuning.md``).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from scipy.fft import dctn

#: Evidence above which an image counts as JPEG-compressed: the middle of the gap between the
#: held-out inputs never compressed (at most 0.26) and those through JPEG 90 (at least 0.47).
JPEG_THRESHOLD = 0.35
#: The central window the evidence is measured on (enough blocks, a bounded cost).
WINDOW = 256
_STEPS = np.arange(2, 13, dtype=np.float64)[:, None]
_MIN_COEFFICIENTS = 100
_COEFFICIENTS = ((0, 1), (1, 0), (1, 1), (0, 2), (2, 0))  # the lowest AC frequencies
_LUMA = np.array([0.299, 0.587, 0.114])  # JPEG's Y of an RGB image

__all__ = ["JPEG_THRESHOLD", "eight_bit", "jpeg_evidence", "jpeg_round_trip",
           "looks_jpeg_compressed"]


def jpeg_evidence(image) -> float:
    """How regularly the image's 8 x 8 block DCT coefficients sit on a quantization grid.

    Parameters
    ----------
    image : array_like, (H, W) or (H, W, C)
        Intensities in [0, 1] (anything sliceable with a ``shape``: only the central
        :data:`WINDOW` is read); colour images are measured on JPEG's luminance.

    Returns
    -------
    float
        In [0, 1]: over the grid offsets, the best mean over the five lowest AC frequencies of
        each one's best mean ``cos(2 pi c / step)`` over the steps; above
        :data:`JPEG_THRESHOLD` for a JPEG-compressed image. 0 for an image too small to hold
        enough blocks.
    """
    img = image if hasattr(image, "shape") else np.asarray(image)  # reads the window only
    h, w = img.shape[:2]
    r0, c0 = max(0, (h - WINDOW) // 2), max(0, (w - WINDOW) // 2)
    window = np.asarray(img[r0 : r0 + WINDOW, c0 : c0 + WINDOW], dtype=np.float64)
    if window.ndim == 3:
        window = window[..., :3] @ _LUMA if window.shape[-1] >= 3 else window[..., 0]
    y = 255.0 * window
    best = 0.0
    for dr in range(8):
        for dc in range(8):
            rows, cols = (y.shape[0] - dr) // 8, (y.shape[1] - dc) // 8
            if rows * cols < _MIN_COEFFICIENTS:
                continue
            blocks = y[dr : dr + 8 * rows, dc : dc + 8 * cols].reshape(rows, 8, cols, 8)
            spectra = dctn(blocks, axes=(1, 3), norm="ortho")  # JPEG's DCT, block by block
            best = max(best, float(np.mean([_regularity(spectra[:, u, :, v].ravel())
                                            for u, v in _COEFFICIENTS])))
    return best


def _regularity(coefficients: np.ndarray) -> float:
    """The best mean ``cos(2 pi c / step)`` over the steps, on the coefficients above each."""
    counted = np.abs(coefficients)[None, :] > 0.75 * _STEPS  # near zero, any step fits
    counts = counted.sum(axis=1)
    cosines = np.where(counted, np.cos(2.0 * np.pi * coefficients[None, :] / _STEPS), 0.0)
    means = cosines.sum(axis=1) / np.maximum(counts, 1)
    means[counts < _MIN_COEFFICIENTS] = 0.0
    return float(means.max())


def looks_jpeg_compressed(image) -> bool:
    """Whether :func:`jpeg_evidence` exceeds :data:`JPEG_THRESHOLD`."""
    return jpeg_evidence(image) > JPEG_THRESHOLD


def eight_bit(image: np.ndarray) -> np.ndarray:
    """``image`` (floats in [0, 1]) rounded to 8 bits, as uint8: what a PNG or JPEG stores."""
    return np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (floats in [0, 1], (H, W) or (H, W, 3)) saved as an 8-bit JPEG of ``quality``
    and read back: float32 in [0, 1]."""
    data = eight_bit(image)
    buffer = io.BytesIO()
    Image.fromarray(data).save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return np.asarray(Image.open(buffer), dtype=np.float32) / 255.0
