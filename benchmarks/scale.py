"""Large images and batches: tiled against whole-image deconvolution, scaling, CLI against API.

Each measurement runs in a fresh process, which reports its wall time and peak resident memory
(``VmHWM`` on Linux, the loaded model included); the parent only makes the inputs. IRC-Net runs with
the non-blind defaults (5 stages x 2 IRC iterations, exact data term) and a camera-shake field up
to 35 px. The image content does not change the cost, so the inputs are a smooth random texture
(not blurred: making an 8192^2 blur would take longer than deblurring it).

* ``--big`` (4096)^2 uint16 gray: whole image (``tile=None``) against ``memory_budget=
  --tiled-budget`` (1.5e9, tiled); the same size in RGB with ``--rgb-budget`` (2e9).
* Throughput (megapixels per second) at ``--sizes`` (1024^2 ... 8192^2) gray, default settings
  (``tile="auto"``, 1.5 GB budget). ``--big-only`` and ``--rgb-only`` run the --big rows alone,
  ``--scaling-only`` these.
* A batch: ``--frames`` 512^2 PNG frames through ``napari-motion-deblur deblur --length 15
  --angle 30`` against ``deconvolve()`` in a Python loop over the same files (read and write
  included in both), frames per second.

    python benchmarks/scale.py [--threads 2] [--frames 100] [--sizes 1024,2048,4096,8192]
        [--big 4096 --tiled-budget 1.5e9 --rgb-budget 2e9]

The issue's full run (4096^2, 8192^2, 100 frames) takes about ten minutes on a 2-core CPU; a
smaller run keeps the comparisons, at smaller sizes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine, peak_rss_mb, save
from scipy import ndimage

from napari_motion_deblur import MotionField, deconvolve
from napari_motion_deblur.deconvolution import get_model
from napari_motion_deblur.physics.synthesis import camera_shake_field
from napari_motion_deblur.settings import DeconvolutionSettings

CLI = [sys.executable, "-m", "napari_motion_deblur.cli"]


def texture(size: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (size, size) if channels == 1 else (size, size, channels)
    noise = rng.standard_normal(shape).astype(np.float32)
    sigma = (2.0, 2.0) if channels == 1 else (2.0, 2.0, 0.0)
    smooth = ndimage.gaussian_filter(noise, sigma)
    return np.clip(0.5 + smooth / (4 * smooth.std()), 0, 1).astype(np.float32)


def child(args) -> None:
    torch.set_num_threads(args.threads)
    with np.load(args.inputs) as saved:
        image = saved["image"]
        field = MotionField(saved["length"], saved["angle"])
    settings = DeconvolutionSettings(device="cpu", **json.loads(args.settings))
    get_model("cpu")
    before_mb = peak_rss_mb()
    start = time.perf_counter()
    out = deconvolve(image, field, settings=settings)
    seconds = time.perf_counter() - start
    assert out.shape == image.shape and np.isfinite(out).all()
    peak_mb = peak_rss_mb()
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb,
                      "peak_rss_before_call_mb": before_mb}))


def measure(args, size: int, channels: int, dtype: str, settings: dict) -> dict:
    image = texture(size, channels)
    if dtype == "uint16":
        image = np.round(image * 65535).astype(np.uint16)
    field = camera_shake_field((size, size), 5, max_length=35.0)
    folder = Path(tempfile.mkdtemp())
    try:
        inputs = folder / "inputs.npz"
        np.savez(inputs, image=image, length=field.length, angle=field.angle)
        del image, field
        out = subprocess.run([sys.executable, __file__, "--child", "--inputs", str(inputs),
                              "--threads", str(args.threads), "--settings", json.dumps(settings)],
                             capture_output=True, text=True, check=True)
    finally:
        shutil.rmtree(folder)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    row.update(size=size, channels=channels, dtype=dtype, settings=settings,
               megapixels_per_second=size * size / 1e6 / row["seconds"])
    print(row, flush=True)
    return row


def batch(args) -> dict:
    from skimage import io

    folder = Path(tempfile.mkdtemp())
    try:
        frames = folder / "frames"
        frames.mkdir()
        for i in range(args.frames):
            frame = np.round(texture(512, 1, seed=i) * 255).astype(np.uint8)
            io.imsave(frames / f"f{i:03d}.png", frame, check_contrast=False)
        start = time.perf_counter()
        subprocess.run([*CLI, "deblur", str(frames), "--length", "15", "--angle", "30",
                        "--out", str(folder / "cli"), "--quiet", "--device", "cpu"], check=True)
        cli = time.perf_counter() - start
        api_code = (
            "import sys, time, torch; from pathlib import Path; from skimage import io\n"
            "from napari_motion_deblur import deconvolve\n"
            f"torch.set_num_threads({args.threads})\n"
            "src, dst = Path(sys.argv[1]), Path(sys.argv[2]); dst.mkdir()\n"
            "for f in sorted(src.glob('*.png')):\n"
            "    out = deconvolve(io.imread(f), (15.0, 30.0), device='cpu')\n"
            "    io.imsave(dst / f.name, (out * 255 + 0.5).astype('uint8'),\n"
            "              check_contrast=False)\n")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", api_code, str(frames), str(folder / "api")],
                       check=True)
        api = time.perf_counter() - start
        written = len(list((folder / "cli").glob("*.png")))
    finally:
        shutil.rmtree(folder)
    row = {"frames": args.frames, "written_by_cli": written, "cli_seconds": cli,
           "api_seconds": api, "cli_fps": args.frames / cli, "api_fps": args.frames / api}
    print(row, flush=True)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--sizes", default="1024,2048,4096,8192")
    parser.add_argument("--big", type=int, default=4096, help="side of the tiled/whole rows")
    parser.add_argument("--tiled-budget", type=float, default=1.5e9)
    parser.add_argument("--rgb-budget", type=float, default=2e9)
    parser.add_argument("--frames-only", action="store_true",
                        help="only the frame-folder rows (CLI vs API), into scale_frames.md")
    parser.add_argument("--big-only", action="store_true",
                        help="only the --big gray rows (whole image vs tiled), into "
                             "scale_big.md")
    parser.add_argument("--scaling-only", action="store_true",
                        help="only the throughput rows at --sizes, into scale_scaling.md")
    parser.add_argument("--rgb-only", action="store_true",
                        help="only the --big RGB row (tiled at --rgb-budget), into scale_rgb.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--settings", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    torch.set_num_threads(args.threads)
    get_model("cpu")  # the inverse-filter cache exists before any child starts
    if args.frames_only:
        return frames_only(args)
    if args.big_only:
        return big_only(args)
    if args.rgb_only:
        return rgb_only(args)
    if args.scaling_only:
        return scaling_only(args)
    big = {"whole": measure(args, args.big, 1, "uint16", {"tile": None}),
           "tiled": measure(args, args.big, 1, "uint16", {"memory_budget": args.tiled_budget}),
           "rgb_tiled": measure(args, args.big, 3, "float32",
                                {"memory_budget": args.rgb_budget})}
    scaling = [measure(args, size, 1, "float32", {}) for size in map(int, args.sizes.split(","))]
    frames = batch(args)
    where = machine(args.threads)
    whole, tiled, rgb = big["whole"], big["tiled"], big["rgb_tiled"]
    lines = [
        "# Large images and batches (IRC-Net 5 x 2, exact data term, camera shake <= 35 px)\n",
        f"Machine: {where}. Each row in a fresh process; peak RSS includes the loaded model.\n",
        f"| {args.big}^2 | settings | time | peak RSS |", "|---|---|---|---|",
        f"| uint16 gray, whole image | `tile=None` | {whole['seconds']:.1f} s | "
        f"{whole['peak_rss_mb']:.0f} MB |",
        f"| uint16 gray, tiled | `memory_budget={args.tiled_budget:g}` | {tiled['seconds']:.1f} s "
        f"({tiled['seconds'] / whole['seconds']:.2f}x the whole image) | "
        f"{tiled['peak_rss_mb']:.0f} MB |",
        f"| RGB, tiled | `memory_budget={args.rgb_budget:g}` | {rgb['seconds']:.1f} s | "
        f"{rgb['peak_rss_mb']:.0f} MB |",
        "", "| gray, default settings | time | megapixels/s | peak RSS |", "|---|---|---|---|"]
    for row in scaling:
        lines.append(f"| {row['size']}^2 | {row['seconds']:.1f} s | "
                     f"{row['megapixels_per_second']:.2f} | {row['peak_rss_mb']:.0f} MB |")
    lines += ["", *frames_table(frames),
              "", "Targets (issue 9): 4096^2 tiled peak RSS <= 1.5 GB and time within 10 % of the "
              "whole image; RGB 4096^2 <= 2 GB; linear scaling; CLI within 10 % of the API."]
    save("scale", {"machine": where, "large": big, "scaling": scaling, "batch": frames},
         "\n".join(lines))


def frames_table(frames) -> list[str]:
    return [f"| {frames['frames']} frames of 512^2 | time | frames/s |", "|---|---|---|",
            f"| `napari-motion-deblur deblur` (one process) | {frames['cli_seconds']:.1f} s | "
            f"{frames['cli_fps']:.2f} |",
            f"| `deconvolve()` in a Python loop | {frames['api_seconds']:.1f} s | "
            f"{frames['api_fps']:.2f} |"]


def big_only(args) -> None:
    """The --big gray rows alone: the whole image against the tiled run under a budget."""
    whole = measure(args, args.big, 1, "uint16", {"tile": None})
    tiled = measure(args, args.big, 1, "uint16", {"memory_budget": args.tiled_budget})
    where = machine(args.threads)
    ratio = tiled["seconds"] / whole["seconds"]
    lines = ["# One large gray image: whole vs tiled (IRC-Net 5 x 2, exact data term, camera "
             "shake <= 35 px)\n", f"Machine: {where}. Each row in a fresh process; peak RSS "
             "includes the loaded model.\n",
             f"| {args.big}^2 uint16 gray | settings | time | megapixels/s | peak RSS |",
             "|---|---|---|---|---|"]
    for name, row, setting in (("whole image", whole, "`tile=None`"),
                               ("tiled", tiled, f"`memory_budget={args.tiled_budget:g}`")):
        lines.append(f"| {name} | {setting} | {row['seconds']:.1f} s | "
                     f"{row['megapixels_per_second']:.3f} | {row['peak_rss_mb']:.0f} MB |")
    lines += ["", f"Tiled / whole time: {ratio:.2f} (target, issue 9: within 10 %); tiled peak "
              f"RSS {tiled['peak_rss_mb']:.0f} MB (target <= 1500 MB)."]
    save("scale_big", {"machine": where, "whole": whole, "tiled": tiled}, "\n".join(lines))


def rgb_only(args) -> None:
    """The --big RGB row alone: float32 RGB, tiled under --rgb-budget (the whole image, its
    channels in lockstep, would need ~3x the gray one's memory, so it is not run)."""
    rgb = measure(args, args.big, 3, "float32", {"memory_budget": args.rgb_budget})
    where = machine(args.threads)
    lines = ["# One large RGB image, tiled (IRC-Net 5 x 2, exact data term, camera shake <= 35 px)"
             "\n", f"Machine: {where}. In a fresh process; peak RSS includes the loaded model.\n",
             f"| {args.big}^2 float32 RGB | settings | time | megapixels/s | peak RSS |",
             "|---|---|---|---|---|",
             f"| tiled, channels one after the other | `memory_budget={args.rgb_budget:g}` | "
             f"{rgb['seconds']:.1f} s | {rgb['megapixels_per_second']:.3f} | "
             f"{rgb['peak_rss_mb']:.0f} MB |", "",
             f"Peak RSS {rgb['peak_rss_mb']:.0f} MB (target, issue 9: <= 2000 MB)."]
    save("scale_rgb", {"machine": where, "rgb_tiled": rgb}, "\n".join(lines))


def scaling_only(args) -> None:
    """The throughput rows alone: gray at --sizes, default settings (tiles where the 1.5 GB
    default budget asks for them)."""
    scaling = []
    for size in map(int, args.sizes.split(",")):  # saved after each row: 8192^2 takes long
        scaling.append(measure(args, size, 1, "float32", {}))
        _save_scaling(args, scaling)


def _save_scaling(args, scaling: list) -> None:
    where = machine(args.threads)
    lines = ["# Throughput by image size (IRC-Net 5 x 2, exact data term, camera shake <= 35 px, "
             "default settings)\n", f"Machine: {where}. Each row in a fresh process; peak RSS "
             "includes the loaded model.\n",
             "| gray | time | megapixels/s | peak RSS | peak RSS before the call (inputs loaded) |",
             "|---|---|---|---|---|"]
    for row in scaling:
        lines.append(f"| {row['size']}^2 | {row['seconds']:.1f} s | "
                     f"{row['megapixels_per_second']:.3f} | {row['peak_rss_mb']:.0f} MB | "
                     f"{row['peak_rss_before_call_mb']:.0f} MB |")
    rates = [row["megapixels_per_second"] for row in scaling]
    lines += ["", f"Slowest / fastest rate: {min(rates) / max(rates):.2f} (1 = linear scaling)."]
    save("scale_scaling", {"machine": where, "scaling": scaling}, "\n".join(lines))


def frames_only(args) -> None:
    """The frame-folder rows alone (the large-image rows take over an hour at 4096^2 here)."""
    frames = batch(args)
    where = machine(args.threads)
    ratio = frames["cli_fps"] / frames["api_fps"]
    lines = ["# A folder of frames: the CLI vs the API (IRC-Net 5 x 2, exact data term)\n",
             f"Machine: {where}.\n", *frames_table(frames), "",
             f"CLI / API throughput: {ratio:.2f} (target, issue 9: within 10 %)."]
    save("scale_frames", {"machine": where, "batch": frames}, "\n".join(lines))


if __name__ == "__main__":
    main()
