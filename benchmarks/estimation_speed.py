"""Speed of motion estimation on a 512x512 image: Motion-Net (passes, cepstral check), spectral.

skimage.data.camera blurred with a camera-shake field up to 35 px; median of 5 runs after a
warm-up, on the CPU with the given number of torch threads (run it on an idle machine). The
issue's target: the network on 512x512 in <= 0.5 s on 2 cores (one pass).

    python benchmarks/estimation_speed.py [--threads 2]
"""

from __future__ import annotations

import time

import numpy as np
from _common import arguments, machine, save
from skimage import data

from napari_motion_deblur import blur, estimate_motion
from napari_motion_deblur.physics.synthesis import camera_shake_field

RUNS = 5
SETTINGS = {"Motion-Net, 1 pass, no check (the network)": {"passes": 1, "check": False},
            "Motion-Net, 1 pass + cepstral check": {"passes": 1},
            "Motion-Net, 4 passes + cepstral check (default)": {"passes": 4},
            "Motion-Net, 8 passes + cepstral check": {"passes": 8},
            "spectral": {"method": "spectral"}}
NETWORK = "Motion-Net, 1 pass, no check (the network)"


def main():
    args = arguments(__doc__.splitlines()[0], images=0)
    sharp = data.camera().astype(np.float32) / 255.0
    blurred = blur(sharp, camera_shake_field(sharp.shape, 0, max_length=35.0), 0.01, seed=0)
    timings = {}
    for name, kwargs in SETTINGS.items():
        estimate_motion(blurred, device="cpu", **kwargs)  # warm-up (loads the weights)
        runs = []
        for _ in range(RUNS):
            start = time.perf_counter()
            estimate_motion(blurred, device="cpu", **kwargs)
            runs.append(time.perf_counter() - start)
        timings[name] = float(np.median(runs))
        print(f"{name}: {timings[name]:.3f} s", flush=True)
    lines = [f"# Motion estimation speed, 512x512 gray (median of {RUNS})\n",
             f"Machine: {machine(args.threads)}.\n", "| estimator | time |", "|---|---|"]
    lines += [f"| {name} | {seconds:.2f} s |" for name, seconds in timings.items()]
    one_pass = timings[NETWORK]
    lines.append(f"\nTarget (one network pass <= 0.5 s on 2 cores): "
                 f"{'met' if one_pass <= 0.5 else 'missed'} ({one_pass:.2f} s).")
    save("estimation_speed", {"machine": machine(args.threads), "runs": RUNS,
                              "seconds": timings}, "\n".join(lines))


if __name__ == "__main__":
    main()
