"""Shared helpers of the benchmark scripts: data, metrics, machine description, result files."""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from skimage import io
from skimage.metrics import structural_similarity

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results"


def arguments(description: str, images: int) -> argparse.Namespace:
    """The benchmarks' common options (--data, --images, --threads), torch threads set."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=DATA, help="folder with set12/, levin09/")
    parser.add_argument("--images", type=int, default=images, help="how many Set12 images")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    return args


def psnr(estimate: np.ndarray, truth: np.ndarray) -> float:
    mse = float(np.mean((np.clip(estimate, 0, 1) - truth) ** 2))
    return 10 * np.log10(1.0 / max(mse, 1e-12))


def ssim(estimate: np.ndarray, truth: np.ndarray) -> float:
    channel_axis = -1 if truth.ndim == 3 else None
    return float(structural_similarity(np.clip(estimate, 0, 1), truth, data_range=1.0,
                                       channel_axis=channel_axis))


def load_set12(folder: Path, count: int = 12) -> list[tuple[str, np.ndarray]]:
    files = sorted(Path(folder).glob("*.png"))[:count]
    if not files:
        raise SystemExit(f"no PNG images in {folder}; pass --data")
    return [(f.stem, io.imread(f).astype(np.float32) / 255.0) for f in files]


def cpu_model() -> str:
    """The processor's model name (Linux: /proc/cpuinfo), or the architecture elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_REFERENCE = """
import time, torch
torch.set_num_threads({threads})
x = torch.randn(4, 64, 256, 256, generator=torch.Generator().manual_seed(0))
conv = torch.nn.Conv2d(64, 64, 3, padding=1)
times = []
with torch.no_grad():
    for _ in range(6):
        start = time.perf_counter()
        conv(x)
        times.append(time.perf_counter() - start)
print(min(times[1:]))
"""


@functools.cache
def reference_seconds(threads: int) -> float:
    """Seconds for a fixed workload (a 64-channel 3x3 convolution of a 4 x 256^2 batch, min of
    5 after a warm-up, ``threads`` torch threads), in a fresh process: the host's speed, printed
    with every timing. (In the benchmark's own process it varied 2x with what ran before.)

    Hosts that report the same model name ("AMD EPYC") have run this project's timings up to
    ~3x apart, so a time is only comparable with one whose reference is about the same."""
    out = subprocess.run([sys.executable, "-c", _REFERENCE.format(threads=threads)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def machine(threads: int) -> str:
    return (f"{cpu_model()} ({platform.machine()}), {os.cpu_count()} cores, "
            f"torch {torch.__version__} with {threads} thread(s), CPU only; reference "
            f"workload {reference_seconds(threads):.3f} s (`_common.reference_seconds`)")


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def median_time(fn, runs: int) -> float:
    """Median wall time of ``runs`` calls of ``fn``, after one warm-up call."""
    fn()  # warm-up: weights, filter cache, allocator
    times = [timed(fn)[1] for _ in range(runs)]
    return float(np.median(times))


def save(name: str, payload: dict, markdown: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"date": time.strftime("%Y-%m-%d"), **payload}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n")
    print(markdown)


#: Border removed after blurring: no method then knows what lies beyond the image edge, as
#: with a real photograph (the blurred border pixels mix in scene content that is not shown).
CROP = 20


def observe(sharp: np.ndarray, motion_or_psf, sigma: float, seed: int, crop: int = CROP):
    """Blur with the project's operator, add noise, crop ``crop`` px: (blurred, sharp, motion)."""
    from napari_motion_deblur import MotionField, blur

    blurred = blur(sharp, motion_or_psf, sigma, seed=seed)
    inner = (slice(crop, -crop), slice(crop, -crop))
    if isinstance(motion_or_psf, MotionField):
        motion_or_psf = MotionField(motion_or_psf.length[inner], motion_or_psf.angle[inner])
    return blurred[inner], np.ascontiguousarray(sharp[inner]), motion_or_psf


def peak_rss_mb() -> float:
    """This process's peak resident memory (MiB). On Linux the high-water mark of its own
    memory map (``VmHWM``): ``ru_maxrss`` is kept across ``execve``, so a child would report
    the parent's resident memory at the fork whenever that was larger than its own peak."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
