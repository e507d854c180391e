"""Sharp training crops: a folder of photographs (every 10th held out), scikit-image's bundled
photos and synthetic microscopy-like scenes, with random contrast and gamma. Shared by the
Motion-Net, refiner and IRC-Net training scripts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._validation import luminance

SKIMAGE_PHOTOS = ("astronaut", "coins", "moon", "text", "clock", "coffee", "chelsea",
                  "hubble_deep_field", "immunohistochemistry", "page", "rocket", "grass",
                  "gravel", "brick", "cell", "retina")
CROP = 112


def synthetic_scene(size: int, rng: np.random.Generator) -> np.ndarray:
    """A microscopy-like sharp scene: dead leaves, fluorescent blobs or filaments, in [0, 1]."""
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    kind = rng.integers(3)
    if kind == 0:  # dead leaves: occluding discs of random grey levels
        img = np.full((size, size), rng.uniform(), np.float32)
        for _ in range(int(rng.integers(30, 120))):
            r = size * 0.3 * rng.uniform(0.02, 1.0) ** 2 + 1.5
            cr, cc = rng.uniform(-r, size + r, 2)
            img[(rows - cr) ** 2 + (cols - cc) ** 2 <= r * r] = rng.uniform()
        return img
    img = np.zeros((size, size), np.float32)
    if kind == 1:  # blobs: Gaussian spots (nuclei, vesicles)
        for _ in range(int(rng.integers(10, 80))):
            s = rng.uniform(0.8, 6.0)
            cr, cc = rng.uniform(0, size, 2)
            img += rng.uniform(0.2, 1.0) * np.exp(-((rows - cr) ** 2 + (cols - cc) ** 2)
                                                   / (2 * s * s))
    else:  # filaments: smooth random curves (cytoskeleton)
        for _ in range(int(rng.integers(5, 30))):
            p = rng.uniform(0, size, 2)
            heading = rng.uniform(0, 2 * np.pi)
            width, value = rng.uniform(0.6, 2.0), rng.uniform(0.3, 1.0)
            for _ in range(int(rng.integers(20, 80))):
                heading += rng.normal(0, 0.2)
                p = p + 2.0 * np.array([np.sin(heading), np.cos(heading)])
                lo = np.maximum((p - 3 * width).astype(int), 0)
                hi = np.minimum((p + 3 * width).astype(int) + 2, size)
                if (hi <= lo).any():
                    continue
                sub = (slice(lo[0], hi[0]), slice(lo[1], hi[1]))
                d2 = (rows[sub] - p[0]) ** 2 + (cols[sub] - p[1]) ** 2
                img[sub] = np.maximum(img[sub], value * np.exp(-d2 / (2 * width * width)))
    img = img / max(float(img.max()), 1e-6)
    return np.clip(rng.uniform(0.0, 0.2) + rng.uniform(0.5, 0.8) * img, 0.0, 1.0)


def folder_split(folder, crop: int = CROP) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(training, held-out) luminance images of a folder: every 10th usable image is held out.

    Usable: at least ``crop`` pixels on each side. The benchmarks tune on the held-out part.
    """
    images = [im for im in _read_folder(Path(folder)) if min(im.shape) >= crop]
    return ([im for i, im in enumerate(images) if i % 10 != 9],
            [im for i, im in enumerate(images) if i % 10 == 9])


def _read_folder(folder: Path) -> list[np.ndarray]:
    from skimage import io

    images = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}:
            continue
        img = np.asarray(io.imread(path))
        img = img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else max(img.max(), 1))
        images.append(luminance(img if img.ndim == 3 else img[..., None]))
    return images


def _skimage_photos() -> list[np.ndarray]:
    import skimage.data

    images = []
    for name in SKIMAGE_PHOTOS:
        try:
            img = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
        except Exception:  # a photo that needs a download is simply skipped offline
            continue
        images.append(luminance(img if img.ndim == 3 else img[..., None]))
    return images


class Sources:
    """Sharp training images; every 10th folder image is held out for validation."""

    def __init__(self, data: str | None, crop: int = CROP, synthetic_pool: int = 64, seed=0,
                 photos: bool = True):
        train, held_out = folder_split(data, crop) if data else ([], [])
        photos = [im for im in _skimage_photos() if min(im.shape) >= crop] if photos else []
        self.crop = crop
        self.train = train + photos
        rng = np.random.default_rng(seed)
        self.synthetic = [synthetic_scene(2 * crop, rng) for _ in range(synthetic_pool)]
        if not self.train and not self.synthetic:
            raise ValueError(f"no usable training images (data folder {data!r}).")
        self.train = self.train or self.synthetic
        self.synthetic = self.synthetic or self.train
        self.held_out = held_out or photos[:4] or self.train[:1]

    def sharp_crop(self, rng: np.random.Generator, held_out: bool = False,
                   margin: int = 0) -> np.ndarray:
        if held_out:
            pool = self.held_out
        elif rng.uniform() < 0.25:
            pool = self.synthetic
        else:
            pool = self.train
        img = pool[int(rng.integers(len(pool)))]
        side = min(self.crop + 2 * margin, *img.shape)
        r = int(rng.integers(img.shape[0] - side + 1))
        c = int(rng.integers(img.shape[1] - side + 1))
        crop = img[r : r + side, c : c + side]
        # Random contrast and gamma so the network does not key on absolute intensity.
        crop = np.clip(crop, 0, 1) ** rng.uniform(0.7, 1.4)
        return (rng.uniform(0.0, 0.2) + rng.uniform(0.6, 1.0) * crop).astype(np.float32)
