"""GPU check, one short run: CUDA timings, CPU/GPU agreement and peak GPU memory.

Meant for a GPU that is lent for a few minutes (``benchmarks/gpu_check.sh`` runs the CUDA tests
first, then this). Timings are medians of ``--runs`` after a warm-up, with
``torch.cuda.synchronize()`` before each clock reading; peak memory is
``torch.cuda.max_memory_allocated`` per measurement. Agreement: the same inputs on the CPU and
on the GPU, largest absolute difference of the results.

    python benchmarks/gpu_check.py [--runs 5]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import save
from skimage import data, transform

from napari_motion_deblur import blur, deblur, deconvolve, estimate_motion
from napari_motion_deblur.physics.synthesis import camera_shake_field
from napari_motion_deblur.settings import DeconvolutionSettings
from napari_motion_deblur.solvers import node_filters
from napari_motion_deblur.solvers.irc import IRCNet
from napari_motion_deblur.solvers.refiner import refine

#: Host-device synchronisations as the profiler names them: a scalar read back (``.item()``),
#: a copy to the host, an explicit wait.
SYNC_EVENTS = ("aten::item", "aten::_local_scalar_dense", "cudaStreamSynchronize",
               "cudaDeviceSynchronize", "cudaMemcpy")


def image(shape, colour: bool) -> np.ndarray:
    img = data.astronaut().astype(np.float32) / 255.0
    if not colour:
        img = img @ np.array([0.299, 0.587, 0.114], np.float32)
    return transform.resize(img, shape, anti_aliasing=True).astype(np.float32)


def timed(fn, runs: int) -> tuple[float, float]:
    """Median seconds of ``fn()`` and its peak GPU memory (MB)."""
    fn()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(runs):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), torch.cuda.max_memory_allocated() / 2**20


def profile(fn, title: str) -> str:
    """The profiler's top CUDA kernels of one ``fn()`` and its host-device synchronisations."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    fn()
    torch.cuda.synchronize()
    with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    events = prof.key_averages()
    syncs = {e.key: e.count for e in events if e.key.startswith(SYNC_EVENTS)}
    table = events.table(sort_by="cuda_time_total", row_limit=25)
    return f"## {title}\n\nsynchronisations (name: count): {syncs}\n\n{table}\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: nothing measured")
    rows, profiles = {}, []
    problems = {"512^2 gray": ((512, 512), False), "1080p RGB": ((1080, 1920), True)}
    for name, (shape, colour) in problems.items():
        field = camera_shake_field(shape, 5, max_length=35.0)
        blurred = blur(image(shape, colour), field, 0.01, seed=0)
        for operator in ("exact", "nodes"):
            rows[f"IRC-Net 5x2, {operator}, {name}"] = timed(
                lambda b=blurred, f=field, o=operator: deconvolve(b, f, device="cuda",
                                                                  operator=o), args.runs)
        if IRCNet().streams(shape):
            keep = node_filters.KEEP_NODES
            node_filters.KEEP_NODES = 10**9  # the stored-spectra loop, for comparison
            try:
                rows[f"IRC-Net 5x2, nodes, stored spectra, {name}"] = timed(
                    lambda b=blurred, f=field: deconvolve(b, f, device="cuda", operator="nodes"),
                    args.runs)
            finally:
                node_filters.KEEP_NODES = keep
        profiles.append(profile(lambda b=blurred, f=field: deconvolve(
            b, f, device="cuda", operator="nodes"), f"IRC-Net 5x2, nodes, {name}"))
        rows[f"IRC-Net 5x2, exact, solver pcg, {name}"] = timed(
            lambda b=blurred, f=field: deconvolve(
                b, f, settings=DeconvolutionSettings(device="cuda", solver="pcg")), args.runs)
        rows[f"Motion-Net 1 pass, {name}"] = timed(
            lambda b=blurred: estimate_motion(b, device="cuda", passes=1, check=False),
            args.runs)
        if not colour:
            rows[f"refiner, {name}"] = timed(
                lambda b=blurred, f=field: refine(b, b, f, "cuda"), args.runs)
        rows[f"deblur() defaults, {name}"] = timed(
            lambda b=blurred: deblur(b, device="cuda"), args.runs)
    small = image((256, 256), False)
    field = camera_shake_field(small.shape, 3, max_length=30.0)
    blurred = blur(small, field, 0.01, seed=1)
    agreement = {
        "deconvolve (exact)": float(np.abs(deconvolve(blurred, field, device="cpu")
                                           - deconvolve(blurred, field, device="cuda")).max()),
        "estimate_motion length (px)": float(np.abs(
            estimate_motion(blurred, device="cpu").length
            - estimate_motion(blurred, device="cuda").length).max()),
        "refiner": float(np.abs(refine(blurred, blurred, field, "cpu")
                                - refine(blurred, blurred, field, "cuda")).max()),
    }
    device = torch.cuda.get_device_name()
    lines = [f"# GPU check: {device} (median of {args.runs})\n",
             "| what | time | peak GPU memory |", "|---|---|---|"]
    lines += [f"| {k} | {1000 * s:.1f} ms | {mb:.0f} MB |" for k, (s, mb) in rows.items()]
    lines += ["", "| CPU vs GPU, 256^2 | largest difference |", "|---|---|"]
    lines += [f"| {k} | {v:.2e} |" for k, v in agreement.items()]
    lines += ["", "Targets (issue 8): 512^2 gray 5x2 <= 20 ms, RGB 1080p <= 150 ms."]
    Path(__file__).with_name("results").joinpath("gpu_profile.md").write_text(
        f"# GPU profile: {device}\n\n" + "\n".join(profiles))
    save("gpu", {"device": device, "runs": args.runs,
                 "timings": {k: {"seconds": s, "peak_mb": mb} for k, (s, mb) in rows.items()},
                 "agreement": agreement}, "\n".join(lines))


if __name__ == "__main__":
    main()
