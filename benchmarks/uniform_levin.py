"""Table 1 of the paper on our data: Set12 x the 8 Levin et al. (2009) kernels, noise 0.01.

IRC-Net (5 stages x 2 IRC iterations, the PSF's own inverse filters) against ADMM-TV with exact
x-updates: by FFT with careful (symmetric-padded) boundaries, by FFT without padding, and by
conjugate gradients on the operator with symmetric boundaries (CG), all on the same objective;
30 ADMM iterations for the baselines, whose lambda is tuned on two images first. Blurred images
are made with the project's one operator, then cropped by 20 px so that, as with a real photo,
no method knows what lies beyond the border.

    python benchmarks/uniform_levin.py [--data ../shared/data] [--images 12] [--threads 2]
"""

from __future__ import annotations

import numpy as np
import torch
from _common import CROP, arguments, load_set12, machine, observe, psnr, save, timed

from napari_motion_deblur import deconvolve
from napari_motion_deblur.deconvolution import get_model
from napari_motion_deblur.physics.kernels import odd_square
from napari_motion_deblur.physics.operators import Convolution
from napari_motion_deblur.solvers.baselines import admm_tv_cg, admm_tv_fft

SIGMA = 0.01


def run_baselines(y, psf, lam):
    t = torch.from_numpy(y)[None]
    out = {}
    out["FFT"] = timed(lambda: admm_tv_fft(t, psf, lam, pad=True)[0].numpy())
    out["FFT nopad"] = timed(lambda: admm_tv_fft(t, psf, lam, pad=False)[0].numpy())
    op = Convolution(odd_square(torch.from_numpy(psf)))
    out["CG"] = timed(lambda: admm_tv_cg(t, op, lam)[0].numpy())
    return out


def main():
    args = arguments(__doc__, images=12)
    images = load_set12(args.data / "set12", args.images)
    kernels = np.load(args.data / "levin09" / "levin09_kernels.npz")
    psfs = [kernels[f"k{i}"].astype(np.float32) for i in range(1, 9)]
    get_model("cpu")

    def problem(i, k, name, x):
        return observe(x, psfs[k], SIGMA, seed=100 * i + k)[:2]

    # Tune the baselines' lambda for CG's best PSNR on two images x kernels 1, 4, 7.
    tuning = {}
    for lam in (0.0006, 0.001, 0.0016, 0.0024):
        scores = []
        for i, (name, x) in enumerate(images[:2]):
            for k in (0, 3, 6):
                y, x = problem(i, k, name, images[i][1])
                op = Convolution(odd_square(torch.from_numpy(psfs[k])))
                scores.append(psnr(admm_tv_cg(torch.from_numpy(y)[None], op, lam)[0].numpy(), x))
        tuning[lam] = float(np.mean(scores))
    lam = max(tuning, key=tuning.get)
    print("lambda tuning (CG, 2 images x 3 kernels):", tuning, "->", lam)

    methods = ["blurry", "IRC-Net", "FFT", "FFT nopad", "CG"]
    table = {m: np.zeros((len(images), 8)) for m in methods}
    runtime = {m: [] for m in methods[1:]}
    for i, (name, x) in enumerate(images):
        for k in range(8):
            y, x = problem(i, k, name, images[i][1])
            table["blurry"][i, k] = psnr(y, x)
            est, sec = timed(deconvolve, y, psfs[k], device="cpu")
            table["IRC-Net"][i, k] = psnr(est, x)
            runtime["IRC-Net"].append(sec)
            for method, (est, sec) in run_baselines(y, psfs[k], lam).items():
                table[method][i, k] = psnr(est, x)
                runtime[method].append(sec)
            print(name, k + 1, {m: round(table[m][i, k], 2) for m in methods}, flush=True)

    head = "| method | " + " | ".join(f"ker {k}" for k in range(1, 9)) + " | average | s/image |"
    lines = [f"Uniform deblurring, Set12 ({len(images)} images) x 8 Levin kernels, sigma 0.01, "
             f"blurred then cropped by {CROP} px (unknown boundaries), PSNR dB. Machine: "
             f"{machine(args.threads)}. Baseline lambda {lam} (tuned), "
             "IRC-Net default lambda.", "", head, "|" + "---|" * 11]
    for m in methods:
        per_kernel = table[m].mean(0)
        sec = f"{np.median(runtime[m]):.2f}" if m in runtime else "-"
        lines.append(f"| {m} | " + " | ".join(f"{v:.2f}" for v in per_kernel)
                     + f" | **{table[m].mean():.2f}** | {sec} |")
    irc, cg, fft = (table[m].mean() for m in ("IRC-Net", "CG", "FFT"))
    lines += ["", f"IRC-Net - CG = {irc - cg:+.2f} dB (target >= -0.1); "
              f"IRC-Net - FFT = {irc - fft:+.2f} dB (target >= +0.3)."]
    save("uniform_levin", {
        "machine": machine(args.threads), "sigma": SIGMA, "baseline_lambda": lam,
        "lambda_tuning": tuning, "images": [n for n, _ in images],
        "psnr": {m: table[m].tolist() for m in methods},
        "average": {m: float(table[m].mean()) for m in methods},
        "median_seconds": {m: float(np.median(v)) for m, v in runtime.items()},
    }, "\n".join(lines))


if __name__ == "__main__":
    main()
