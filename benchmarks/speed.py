"""Speed and memory of IRC-Net (5 stages x 2 IRC iterations) against NU-CG, same images, same run.

IRC-Net with the node operator (``operator="nodes"``), the one NU-CG also uses here; the exact
per-pixel data term (the default for a known field) is timed by ``benchmarks/blind_speed.py``.

* 512x512 gray and RGB (skimage.data.astronaut), a camera-shake field up to 35 px: median of 7
  runs after a warm-up, and NU-CG (ADMM-TV + CG, run to convergence) once on the same images.
* Scaling 256^2 -> 2048^2 (gray): time and peak resident memory of the deconvolution, each size
  in a fresh process (the blurred input is made by the parent).

    python benchmarks/speed.py [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine, peak_rss_mb, save
from skimage import data, transform

from napari_motion_deblur import MotionField, blur, deconvolve
from napari_motion_deblur.deconvolution import get_model
from napari_motion_deblur.physics.operators import NonUniformBlur
from napari_motion_deblur.physics.synthesis import camera_shake_field
from napari_motion_deblur.solvers.baselines import admm_tv_cg


def problem(size: int, colour: bool):
    img = data.astronaut().astype(np.float32) / 255.0
    if not colour:
        img = img @ np.array([0.299, 0.587, 0.114], np.float32)
    img = transform.resize(img, (size, size), anti_aliasing=True).astype(np.float32)
    field = camera_shake_field((size, size), 5, max_length=35.0, min_length=35.0)
    return blur(img, field, 0.01, seed=0), field


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def child(size: int, device: str, threads: int, inputs: str) -> None:
    torch.set_num_threads(threads)
    with np.load(inputs) as saved:  # made by the parent: only deconvolution counts here
        y, field = saved["blurred"], MotionField(saved["length"], saved["angle"])
    get_model(device)
    seconds = median_time(lambda: deconvolve(y, field, device=device, operator="nodes"),
                          3 if size < 2048 else 1)
    peak_mb = peak_rss_mb()
    print(json.dumps({"size": size, "seconds": seconds, "peak_rss_mb": peak_mb}))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.device, args.threads, args.inputs)
    torch.set_num_threads(args.threads)
    get_model(args.device)
    rows = {}
    for colour in (False, True):
        y, field = problem(512, colour)
        irc = median_time(lambda y=y, field=field: deconvolve(y, field, device=args.device,
                                                              operator="nodes"), 7)
        channels = torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.atleast_3d(y), -1, 0)))
        start = time.perf_counter()
        admm_tv_cg(channels, NonUniformBlur(field, device=args.device), lam=0.001)
        cg = time.perf_counter() - start
        rows["RGB" if colour else "gray"] = {"irc_seconds": irc, "nu_cg_seconds": cg,
                                             "speedup": cg / irc}
        print(rows, flush=True)
    scaling = []
    for size in (256, 512, 1024, 2048):
        y, field = problem(size, False)
        inputs = Path(tempfile.mkdtemp()) / "inputs.npz"
        np.savez(inputs, blurred=y, length=field.length, angle=field.angle)
        out = subprocess.run([sys.executable, __file__, "--child", str(size), "--threads",
                              str(args.threads), "--device", args.device, "--inputs",
                              str(inputs)], capture_output=True, text=True, check=True)
        inputs.unlink()
        scaling.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(scaling[-1], flush=True)
    where = machine(args.threads) if args.device == "cpu" else torch.cuda.get_device_name()
    lines = [f"IRC-Net speed, 5 stages x 2 IRC iterations, camera shake up to 35 px. Machine: "
             f"{where}.", "", "| 512x512 | IRC-Net (median of 7) | NU-CG (converged) | speed-up |",
             "|---|---|---|---|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['irc_seconds']:.3f} s | {row['nu_cg_seconds']:.1f} s | "
                     f"{row['speedup']:.0f}x |")
    lines += ["", "| size (gray) | time | peak RSS |", "|---|---|---|"]
    for row in scaling:
        lines.append(f"| {row['size']}x{row['size']} | {row['seconds']:.2f} s | "
                     f"{row['peak_rss_mb']:.0f} MB |")
    lines += ["", "Targets: 512^2 gray <= 0.5 s, RGB <= 1.5 s, >= 30x faster than NU-CG, "
              "2048^2 peak memory <= 2 GB."]
    suffix = "" if args.device == "cpu" else "_gpu"
    save(f"speed{suffix}", {"machine": where, "threads": args.threads, "512": rows,
                            "scaling": scaling}, "\n".join(lines))


if __name__ == "__main__":
    main()
