"""The built-in demo job (``napari-motion-deblur demo``): blur a photograph with a known field,
deblur it with and without that field, and save the before/after panel."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def _psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    mse = float(np.mean((np.clip(estimate, 0, 1) - truth) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def demo(out: Path, device: str = "auto", seed: int = 0) -> dict:
    """Blur a built-in photograph with a known non-uniform field, deblur it, save a PNG.

    Deblurs twice: with the known field (non-blind) and blind (Motion-Net's estimate, then
    IRC-Net). Returns the measured PSNRs (dB) and the times (s).
    """
    from skimage import data, io

    from .deconvolution import deconvolve, get_model
    from .estimation.api import deblur
    from .physics.synthesis import blur, camera_shake_field

    sharp = data.astronaut().astype(np.float32) / 255.0
    field = camera_shake_field(sharp.shape[:2], seed, max_length=25.0, min_length=25.0)
    blurred = np.clip(blur(sharp, field, noise_sigma=0.01, seed=seed), 0, 1)
    get_model(device)  # builds (or loads from the cache) the inverse filters once
    deconvolve(blurred[:64, :64], field.__class__(field.length[:64, :64], field.angle[:64, :64]),
               device=device)  # warm-up
    start = time.perf_counter()
    restored = deconvolve(blurred, field, device=device)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    blind, _ = deblur(blurred, device=device)
    blind_seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    panel = np.concatenate([blurred, restored, blind, sharp], axis=1)
    path = out / "demo_before_after.png"
    io.imsave(path, (np.clip(panel, 0, 1) * 255).round().astype(np.uint8), check_contrast=False)
    result = {
        "image": "skimage.data.astronaut (512x512 RGB)",
        "max_length_px": float(field.length.max()),
        "psnr_blurry": _psnr(blurred, sharp),
        "psnr_deblurred": _psnr(restored, sharp),
        "psnr_blind": _psnr(blind, sharp),
        "seconds": seconds,
        "blind_seconds": blind_seconds,
        "png": str(path),
    }
    return result
