"""How large must the inverse filters be? PSNR and Eq. 10 residual against the support side.

For each support, the 511 bank filters are computed (timed), their identity residual
``||sum_i d_i * k_i - delta||`` is summarized, and IRC-Net deblurs Set12 images blurred by
camera-shake fields up to 35 px (sigma 0.01, cropped borders as in benchmarks/nonuniform.py).

    python benchmarks/inverse_support.py [--images 6] [--threads 2]
"""

from __future__ import annotations

import time

import numpy as np
from _common import arguments, load_set12, machine, observe, psnr, save, timed

from napari_motion_deblur import deconvolve
from napari_motion_deblur.physics.inverse_filters import DEFAULT_RHO, _solve_bank, identity_error
from napari_motion_deblur.physics.kernels import bank_kernels
from napari_motion_deblur.physics.synthesis import camera_shake_field
from napari_motion_deblur.solvers.irc import IRCNet


def main():
    args = arguments(__doc__, images=6)
    cases = []
    for i, (_, x) in enumerate(load_set12(args.data / "set12", args.images)):
        field = camera_shake_field(x.shape, 2000 + i, max_length=35.0, min_length=20.0)
        y, sharp, inner = observe(x, field, 0.01, seed=i)
        cases.append((y, sharp, inner))
    rows = []
    for support in (37, 41, 51, 61):
        start = time.perf_counter()
        bank = _solve_bank(DEFAULT_RHO, support)
        build = time.perf_counter() - start
        err = identity_error(bank, bank_kernels())
        net = IRCNet(support=support)
        scores, times = [], []
        for y, sharp, field in cases:
            est, sec = timed(deconvolve, y, field, model=net, operator="nodes")
            scores.append(psnr(est, sharp))
            times.append(sec)
        rows.append({"support": support, "bank_seconds": build, "eq10_max": float(err.max()),
                     "eq10_mean": float(err.mean()), "psnr": float(np.mean(scores)),
                     "seconds": float(np.median(times))})
        print(rows[-1], flush=True)
    lines = [f"Inverse-filter support vs quality, {len(cases)} Set12 images, camera shake up to "
             f"35 px, sigma 0.01. Machine: {machine(args.threads)}.", "",
             "| support | bank build (s) | Eq.10 residual max / mean | IRC-Net PSNR | s/image |",
             "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['support']} | {r['bank_seconds']:.1f} | {r['eq10_max']:.3f} / "
                     f"{r['eq10_mean']:.3f} | {r['psnr']:.2f} | {r['seconds']:.2f} |")
    save("inverse_support", {"machine": machine(args.threads), "rows": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
