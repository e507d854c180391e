"""Speed of the widgets' preview: estimate and deblur one 256 x 256 region of a photograph.

The Preview buttons run the core on the region plus context: the Estimate widget's preview
estimates the region with ``ESTIMATE_MARGIN`` px around it, the Deblur widget's preview
deconvolves it with ``PREVIEW_MARGIN`` px around it (the widgets' own constants). This script
times exactly those calls (median of 5 after a warm-up), gray and RGB, on a 720p real
photograph (or ``skimage.data.astronaut`` when the data folder is missing): the Estimate
preview runs Motion-Net with ``PREVIEW_PASSES`` (1) pass + the cepstral check, the Deblur
preview the blind deblurring settings the Deblur widget uses for an estimate, a colour image
through its luminance (``colour="luminance"``). Side by side, the full-run settings on the
same region (the widget's default 4 passes; every colour channel), which the
preview ran with before.
Issue target: a 256^2 preview <= 1 s on this 2-core CPU.

    python benchmarks/preview_speed.py [--data ../shared/data] [--threads 2]
"""

from __future__ import annotations

import numpy as np
from _common import arguments, machine, median_time, save

from napari_motion_deblur import deconvolve
from napari_motion_deblur.estimation.api import estimate_with_confidence
from napari_motion_deblur.settings import DeblurSettings

RUNS = 5
REGION = 256
#: The widgets' margins and preview passes (gui/widgets/estimate.py ESTIMATE_MARGIN,
#: PREVIEW_PASSES; _region.py PREVIEW_MARGIN); copied, not imported, so that the benchmark runs
#: without napari (tests/test_gui_preview.py checks they agree).
ESTIMATE_MARGIN = 64
PREVIEW_MARGIN = 48
PREVIEW_PASSES = 1


def photograph(data) -> np.ndarray:
    path = data / "real" / "blurred_street.png"
    if path.exists():
        from PIL import Image

        return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255.0
    from skimage import data as samples

    return samples.astronaut().astype(np.float32) / 255.0




def main():
    args = arguments(__doc__.splitlines()[0], images=0)
    image = photograph(args.data)
    h, w = image.shape[:2]
    r, c = (h - REGION) // 2, (w - REGION) // 2
    blind = DeblurSettings().deconvolution.replace(device="cpu")
    fast = blind.replace(colour="luminance")
    rows = {}
    for kind, plane in (("gray", image.mean(-1)), ("RGB", image)):
        def crop(margin, plane=plane):
            return np.ascontiguousarray(plane[r - margin : r + REGION + margin,
                                              c - margin : c + REGION + margin])
        estimate_input, deblur_input = crop(ESTIMATE_MARGIN), crop(PREVIEW_MARGIN)
        field = estimate_with_confidence(deblur_input, device="cpu").for_deblurring()
        rows[kind] = {
            "estimate": median_time(lambda x=estimate_input: estimate_with_confidence(
                x, device="cpu", passes=PREVIEW_PASSES), RUNS),
            "deblur": median_time(lambda x=deblur_input, f=field: deconvolve(
                x, f, settings=fast), RUNS),
            "estimate_full_settings": median_time(lambda x=estimate_input: (
                estimate_with_confidence(x, device="cpu", passes=4)), RUNS),
            "deblur_full_settings": median_time(lambda x=deblur_input, f=field: deconvolve(
                x, f, settings=blind), RUNS),
        }
        print(kind, rows[kind], flush=True)
    lines = [f"# Preview speed: one {REGION}x{REGION} region (median of {RUNS})\n",
             f"Machine: {machine(args.threads)}. Estimate preview: the region + {ESTIMATE_MARGIN}"
             f" px of context ({REGION + 2 * ESTIMATE_MARGIN}^2), Motion-Net {PREVIEW_PASSES} "
             "pass + check. Deblur preview: the region + "
             f"{PREVIEW_MARGIN} px ({REGION + 2 * PREVIEW_MARGIN}^2), IRC-Net 5x2 with the blind "
             "settings, colour through its luminance. Baseline: the full run's settings on the "
             "same region (4 passes; every colour channel), as the preview ran before.\n",
             "| image | Estimate preview | Deblur preview | target <= 1 s each "
             "| baseline: Estimate (4 passes) | baseline: Deblur (all channels) |",
             "|---|---|---|---|---|---|"]
    for kind, t in rows.items():
        met = "met" if max(t["estimate"], t["deblur"]) <= 1.0 else "missed"
        lines.append(f"| {kind} | {t['estimate']:.2f} s | {t['deblur']:.2f} s | {met} "
                     f"| {t['estimate_full_settings']:.2f} s | {t['deblur_full_settings']:.2f} s |")
    save("preview_speed", {"machine": machine(args.threads), "runs": RUNS, "region": REGION,
                           "seconds": rows}, "\n".join(lines))


if __name__ == "__main__":
    main()
