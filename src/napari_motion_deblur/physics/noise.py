"""Noise level of an observed image, and the regularization weight it calls for.

A blurred photograph has lost most of its fine detail, so what remains in its finest
second differences is mostly noise. :func:`noise_sigma` measures it with Immerkaer's mask
(1996), made robust by a median instead of a mean, so the edges that survive the blur do not
count. :func:`regularization_for_noise` turns it into IRC-Net's TV weight: the weight of a
TV-MAP estimate grows with the noise variance, ``lambda = lambda0 (sigma / sigma0)^2``, from the
weight ``lambda0`` tuned at ``sigma0 = 0.01``, never below it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

#: Immerkaer's noise mask: the difference of two Laplacians, blind to planes and ramps.
_MASK = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
#: The noise level the default TV weights were tuned for.
REFERENCE_SIGMA = 0.01
#: Largest factor :func:`regularization_for_noise` applies.
MAX_FACTOR = 25.0
#: Rows per block of :func:`noise_sigma`, and the most responses per plane it pools
#: (every response of a 2048^2 image; every k-th row of larger ones).
_BLOCK_ROWS = 256
_MAX_SAMPLES = 2048 * 2048


def noise_sigma(image: np.ndarray, transform=None) -> float:
    """Robust estimate of the standard deviation of white noise in an image.

    Parameters
    ----------
    image : numpy.ndarray, (H, W) or (H, W, C), float
        The observed image (channels are pooled; an alpha channel should be dropped first).
    transform : callable, optional
        Applied to each block of rows before measuring (e.g. to intensities in [0, 1], then
        to linear light): the noise of the transformed image, without a transformed copy.

    Returns
    -------
    float
        ``median |N * I| / (0.6745 * 6)``: for Gaussian noise the mask's response has standard
        deviation ``6 sigma``, and the median of its absolute value is ``0.6745`` of that.
        0 for images smaller than 3 x 3.
    """
    img = np.asarray(image)
    planes = [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[-1])]
    if min(img.shape[:2]) < 3:
        return 0.0
    # Interior rows only read their true neighbours, so blocks of rows give the same responses
    # as the whole plane at a fraction of the memory; images above _MAX_SAMPLES pixels per
    # plane pool every k-th row of responses.
    rows = img.shape[0] - 2
    step = max(1, -(-rows * (img.shape[1] - 2) // _MAX_SAMPLES))
    responses = []
    for plane in planes:
        for start in range(0, rows, _BLOCK_ROWS):
            block = np.asarray(plane[start : start + _BLOCK_ROWS + 2], dtype=np.float64)
            if transform is not None:
                block = np.asarray(transform(block), dtype=np.float64)
            response = ndimage.convolve(block, _MASK, mode="reflect")[1:-1, 1:-1]
            responses.append(np.abs(response[(-start) % step :: step]).ravel())
    return float(np.median(np.concatenate(responses)) / (0.6745 * 6.0))


def regularization_for_noise(base: float, sigma: float) -> float:
    """``base * clip((sigma / 0.01)^2, 1, 25)``: the TV weight for noise ``sigma``."""
    factor = float(np.clip((sigma / REFERENCE_SIGMA) ** 2, 1.0, MAX_FACTOR))
    return float(base) * factor
