"""Sample data: blurred images with their true motion fields (no downloads, fixed seeds)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..motion import MotionField
from ..physics.synthesis import blur, camera_shake_field, object_motion_field
from .field_editing import GROUND_TRUTH, field_layer_data

#: Side of the sample images (small enough to deblur in about a second on a CPU).
SAMPLE_SIZE = 256


@dataclass(frozen=True)
class Sample:
    """A synthetic blur: the sharp image, its blurred version and the true field."""

    name: str
    sharp: np.ndarray
    blurred: np.ndarray
    field: MotionField


def _photograph(size: int) -> np.ndarray:
    from skimage import data, transform

    image = data.camera().astype(np.float32) / 255.0
    return transform.resize(image, (size, size), anti_aliasing=True).astype(np.float32)


def _fluorescence(size: int, seed: int) -> np.ndarray:
    """Synthetic fluorescence: nuclei-like blobs, small bright puncta and a faint background."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size].astype(np.float32)
    image = np.zeros((size, size), np.float32)
    for _ in range(max(6, size // 16)):
        cr, cc = rng.uniform(0.05, 0.95, 2) * size
        ar, ac = rng.uniform(0.03, 0.07, 2) * size
        inside = ((rows - cr) / ar) ** 2 + ((cols - cc) / ac) ** 2 <= 1
        image[inside] = rng.uniform(0.35, 0.7)
    image = ndimage.gaussian_filter(image, 1.5)
    puncta = np.zeros_like(image)
    idx = rng.integers(0, size, (max(20, size // 3), 2))
    puncta[idx[:, 0], idx[:, 1]] = rng.uniform(3.0, 6.0, len(idx))
    image += ndimage.gaussian_filter(puncta, 1.0)
    image += 0.05 * ndimage.gaussian_filter(rng.random((size, size)).astype(np.float32), 8)
    return np.clip(image / max(float(image.max()), 1e-6), 0, 1).astype(np.float32)


#: Default seeds, chosen so that the motion is clearly visible at the default size.
DEFAULT_SEEDS = {"photograph": 0, "microscopy": 4}


def make_sample(kind: str = "photograph", size: int = SAMPLE_SIZE, seed: int | None = None,
                noise_sigma: float = 0.005) -> Sample:
    """Build a sample blur.

    Parameters
    ----------
    kind : {"photograph", "microscopy"}
        ``"photograph"``: skimage's camera image, camera-shake blur, uint8.
        ``"microscopy"``: synthetic fluorescence with moving objects, uint16.
    size : int
        Side of the square image.
    seed : int, optional
        Seed of the image (microscopy), the motion field and the noise; default
        ``DEFAULT_SEEDS[kind]``.
    noise_sigma : float
        Gaussian noise added after blurring (in [0, 1] units).

    Returns
    -------
    Sample
        ``sharp`` and ``blurred`` in the sample's dtype, and the true ``field``.
    """
    if seed is None:
        seed = DEFAULT_SEEDS.get(kind, 0)
    if kind == "photograph":
        sharp = _photograph(size)
        field = camera_shake_field((size, size), seed, max_length=17, min_length=11)
        dtype = np.uint8
    elif kind == "microscopy":
        sharp = _fluorescence(size, seed)
        field = object_motion_field((size, size), seed, max_length=21, objects=2)
        dtype = np.uint16
    else:
        raise ValueError(f"kind must be 'photograph' or 'microscopy', got {kind!r}")
    blurred = np.clip(blur(sharp, field, noise_sigma=noise_sigma, seed=seed), 0, 1)
    top = np.iinfo(dtype).max
    return Sample(
        name=kind,
        sharp=np.round(sharp * top).astype(dtype),
        blurred=np.round(blurred * top).astype(dtype),
        field=field,
    )


def truth_name(title: str) -> str:
    """Name of a sample's true-motion layer: unmistakably the ground truth, not an estimate."""
    return f"{title} TRUE motion (ground truth)"


def _layers(sample: Sample, title: str, colormap: str) -> list[tuple]:
    """The sample's layers: the hidden true field and sharp image under the blurred image.

    The blurred image comes last, so it is the selected layer after opening, not the truth.
    """
    image_kwargs = {"name": f"{title} (blurred)", "colormap": colormap}
    truth_kwargs = {"name": f"{title} (sharp)", "colormap": colormap, "visible": False}
    return [
        field_layer_data(sample.field, truth_name(title), source=GROUND_TRUTH, visible=False),
        (sample.sharp, truth_kwargs, "image"),
        (sample.blurred, image_kwargs, "image"),
    ]


def photograph_sample() -> list[tuple]:
    """napari sample: a camera-shake-blurred photograph, its sharp original and true motion."""
    return _layers(make_sample("photograph"), "Photograph", "gray")


def microscopy_sample() -> list[tuple]:
    """napari sample: synthetic fluorescence with moving objects, its sharp original and motion."""
    return _layers(make_sample("microscopy"), "Fluorescence", "green")
