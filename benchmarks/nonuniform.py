"""Non-uniform, non-blind deblurring: IRC-Net vs NU-CG vs Wiener (mean kernel) vs the input.

Set12 (gray) and colour photographs from skimage.data (resized to 256 px wide), each blurred
with two synthetic fields from the project's generators (camera shake: translation + rotation +
zoom; and piecewise object motion), lengths up to 35 px, noise sigma 0.01, with the project's
one blur operator, then cropped by 20 px (unknown boundaries, as in a real photo). NU-CG is
ADMM-TV with a conjugate-gradient x-update on the exact operator, run to convergence (30 ADMM
iterations, CG to 1e-5), its lambda tuned for its best PSNR.

    python benchmarks/nonuniform.py [--data ../shared/data] [--images 12] [--threads 2]
"""

from __future__ import annotations

import numpy as np
import torch
from _common import CROP, arguments, load_set12, machine, observe, psnr, save, ssim, timed
from skimage import data, transform

from napari_motion_deblur import deconvolve
from napari_motion_deblur.deconvolution import get_model
from napari_motion_deblur.physics.kernels import bank_kernels
from napari_motion_deblur.physics.operators import NonUniformBlur
from napari_motion_deblur.physics.synthesis import camera_shake_field, object_motion_field
from napari_motion_deblur.solvers.baselines import admm_tv_cg, wiener

SIGMA = 0.01


def colour_images():
    out = []
    for name in ("astronaut", "coffee", "chelsea"):
        img = getattr(data, name)().astype(np.float32) / 255.0
        h = int(round(img.shape[0] * 256 / img.shape[1]))
        out.append((name, transform.resize(img, (h, 256), anti_aliasing=True).astype(np.float32)))
    return out


def channels_first(img):
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(np.atleast_3d(img), -1, 0)))


def back(t, like):
    arr = np.moveaxis(t.numpy(), 0, -1)
    return arr[..., 0] if like.ndim == 2 else arr


def nu_cg(y, field, lam):
    return back(admm_tv_cg(channels_first(y), NonUniformBlur(field), lam), y)


def wiener_mean(y, field, nsr):
    mean_kernel = (NonUniformBlur(field).mixture.mean((0, 1)) @ bank_kernels().flatten(1))
    psf = mean_kernel.reshape(bank_kernels().shape[1:]).numpy()
    return back(wiener(channels_first(y), psf, nsr), y)


def main():
    args = arguments(__doc__, images=12)
    images = load_set12(args.data / "set12", args.images) + colour_images()
    get_model("cpu")
    cases = []
    for i, (name, x) in enumerate(images):
        for kind, make in (("camera", camera_shake_field), ("objects", object_motion_field)):
            field = make(x.shape[:2], 1000 + i, max_length=35.0)
            y, sharp, inner_field = observe(x, field, SIGMA, seed=i)
            cases.append((f"{name}/{kind}", sharp, inner_field, y))

    tune = cases[:4]
    lam_scores = {lam: float(np.mean([psnr(nu_cg(y, f, lam), x) for _, x, f, y in tune]))
                  for lam in (0.0006, 0.001, 0.0016, 0.0024)}
    lam = max(lam_scores, key=lam_scores.get)
    nsr_scores = {n: float(np.mean([psnr(wiener_mean(y, f, n), x) for _, x, f, y in tune]))
                  for n in (3e-3, 1e-2, 3e-2, 1e-1)}
    nsr = max(nsr_scores, key=nsr_scores.get)
    print("NU-CG lambda:", lam_scores, "-> ", lam, "| Wiener nsr:", nsr_scores, "->", nsr)

    methods = ("blurry", "IRC-Net", "NU-CG", "Wiener (mean kernel)")
    rows = []
    for label, x, field, y in cases:
        results = {"blurry": (y, 0.0)}
        # The node operator: this table is the one whose data the node operator made.
        results["IRC-Net"] = timed(deconvolve, y, field, device="cpu", operator="nodes")
        results["NU-CG"] = timed(nu_cg, y, field, lam)
        results["Wiener (mean kernel)"] = timed(wiener_mean, y, field, nsr)
        row = {"case": label, "max_length": float(field.length.max())}
        for m in methods:
            est, sec = results[m]
            row[m] = {"psnr": psnr(est, x), "ssim": ssim(est, x), "seconds": sec}
        rows.append(row)
        print(label, {m: round(row[m]["psnr"], 2) for m in methods}, flush=True)

    def mean(m, key, subset=rows):
        return float(np.mean([r[m][key] for r in subset]))

    gray = [r for r in rows if "/" in r["case"] and r["case"].split("/")[0].isdigit()]
    colour = [r for r in rows if r not in gray]
    lines = [f"Non-uniform non-blind deblurring, {len(rows)} cases ({len(gray)} gray Set12, "
             f"{len(colour)} colour), lengths up to 35 px, sigma {SIGMA}, blurred then cropped by "
             f"{CROP} px. Machine: "
             f"{machine(args.threads)}. NU-CG lambda {lam} (tuned), Wiener NSR {nsr} (tuned).",
             "", "| method | PSNR all | SSIM all | PSNR gray | PSNR colour | median s |",
             "|---|---|---|---|---|---|"]
    for m in methods:
        sec = np.median([r[m]["seconds"] for r in rows])
        lines.append(f"| {m} | **{mean(m, 'psnr'):.2f}** | {mean(m, 'ssim'):.3f} | "
                     f"{mean(m, 'psnr', gray):.2f} | {mean(m, 'psnr', colour):.2f} | {sec:.2f} |")
    irc, cg, wn = mean("IRC-Net", "psnr"), mean("NU-CG", "psnr"), mean("Wiener (mean kernel)",
                                                                       "psnr")
    speed = np.median([r["NU-CG"]["seconds"] / r["IRC-Net"]["seconds"] for r in rows])
    lines += ["", f"IRC-Net - NU-CG = {irc - cg:+.2f} dB (target >= -0.25); IRC-Net - Wiener = "
              f"{irc - wn:+.2f} dB (target >= +1); IRC-Net is {speed:.0f}x faster than NU-CG "
              "(median per image, same images, same run)."]
    save("nonuniform", {"machine": machine(args.threads), "sigma": SIGMA, "nu_cg_lambda": lam,
                        "lambda_tuning": lam_scores, "wiener_nsr": nsr, "nsr_tuning": nsr_scores,
                        "cases": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
