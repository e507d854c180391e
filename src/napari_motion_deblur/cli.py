"""Command line: ``napari-motion-deblur {deblur,estimate,blur,demo}``.

``deblur``, ``estimate`` and ``blur`` take image files, folders and globs (PNG, JPEG, TIFF;
multi-page TIFF stacks are processed plane by plane) and write results in the input's dtype and
range, atomically, never over an input and never over an existing file without ``--overwrite``.
Errors end the run with exit status 2 and a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from .demo import demo
from .imagefiles import (
    IMAGE_SUFFIXES,
    check_writable,
    find_images,
    load_fields,
    read_image,
    read_psf,
    save_fields,
    write_image,
)


# ------------------------------------------------------------------------------ planning
def _targets(inputs: list[Path], out: Path | None, name, suffixes, overwrite: bool,
             extra=None) -> list[Path]:
    """Output path per input (``name(input)`` in ``out`` or next to it), checked before work.

    ``out`` is a file when it ends with one of ``suffixes`` (one input only), else a folder.
    ``extra(target)`` gives a second file written with each target (``blur``'s field).
    """
    as_file = out is not None and out.suffix.lower() in suffixes and not out.is_dir()
    if as_file:
        if len(inputs) > 1:
            raise ValueError(f"--out {out} is a file but {len(inputs)} inputs were given; "
                             "pass a folder.")
        targets = [out]
    else:
        targets = [(out if out is not None else src.parent) / name(src) for src in inputs]
    written = targets + ([extra(t) for t in targets] if extra else [])
    sources = {src.resolve() for src in inputs}
    seen = set()
    for path in written:
        resolved = path.resolve()
        if resolved in sources:
            raise ValueError(f"{path} is an input; refusing to overwrite it (choose another "
                             "--out).")
        if resolved in seen:
            raise ValueError(f"two inputs would be written to the same file {path}.")
        seen.add(resolved)
        if path.exists() and not overwrite:
            raise ValueError(f"{path} exists; pass --overwrite to replace it.")
    if out is not None:
        (out.parent if as_file else out).mkdir(parents=True, exist_ok=True)
    return targets


def _field_sources(args, check_uniform) -> list | None:
    """The known motion from ``--motion``/``--length``+``--angle``/``--psf``, or None."""
    given = [n for n, v in (("--motion", args.motion), ("--length/--angle",
             args.length is not None or args.angle is not None),
             ("--psf", getattr(args, "psf", None))) if v]
    if len(given) > 1:
        raise ValueError(f"give only one of {' and '.join(given)}.")
    if args.motion is not None:
        return load_fields(args.motion)
    if args.length is not None or args.angle is not None:
        if args.length is None or args.angle is None:
            raise ValueError("--length and --angle go together.")
        check_uniform(args.length, args.angle)
        return [(args.length, args.angle)]
    if getattr(args, "psf", None) is not None:
        return [read_psf(args.psf)]
    return None


def _per_plane(known: list, count: int, src: Path) -> list:
    if len(known) not in (1, count):
        raise ValueError(f"{src}: the motion file holds {len(known)} fields for {count} planes "
                         "(give one field, or one per plane).")
    return known * count if len(known) == 1 else known


def _planes(image, src: Path, say, verb: str, work) -> list:
    results = []
    for i, plane in enumerate(image.units()):
        start = time.perf_counter()
        where = f" plane {i + 1}/{image.count}" if image.count > 1 else ""
        try:
            results.append(work(i, plane))
        except ValueError as err:  # name the file: in a batch, the reason alone is not enough
            raise ValueError(f"{src}{where}: {err}") from err
        say(f"{src}{where}: {verb} in {time.perf_counter() - start:.2f} s")
    return results


def _tile(text: str):
    """``--tile``: an integer side, 'auto' or 'none' (checked again by the settings)."""
    if text.lower() in ("auto", "none"):
        return None if text.lower() == "none" else "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a tile side in px, 'auto' or 'none', "
                                         f"got {text!r}") from None


def _tiling(args) -> dict:
    """The settings' tiling fields from ``--tile`` and ``--memory-budget``."""
    chosen = {"tile": args.tile}
    if args.memory_budget is not None:
        chosen["memory_budget"] = args.memory_budget
    return chosen


# ------------------------------------------------------------------------------ commands
def _run_deblur(args, say) -> None:
    from .deconvolution import deconvolve, get_model, resolve_device
    from .estimation.api import deblur
    from .motion import MotionField
    from .settings import DeblurSettings, DeconvolutionSettings

    known = _field_sources(args, lambda lg, an: MotionField.uniform((4, 4), lg, an))
    # Blind runs use deblur()'s settings (noise-adaptive TV weight, node operator), runs with a
    # known blur the non-blind defaults; the options override either.
    defaults = DeblurSettings()
    chosen = {"stages": args.stages, "iterations": args.iterations, "device": args.device,
              **_tiling(args)}
    if args.regularization is not None:
        chosen["regularization"] = args.regularization
    if args.refine is not None:
        if args.refine and args.psf is not None:
            raise ValueError("--refine needs a motion field (blind, --motion or "
                             "--length/--angle), not --psf")
        chosen["refine"] = args.refine
    if args.solver == "pcg":
        if known is None or args.psf is not None:
            raise ValueError("--solver pcg needs a known motion field (--motion or "
                             "--length/--angle): it solves with the exact per-pixel blur")
        chosen["solver"] = "pcg"
    chosen["model"] = args.model
    chosen["linear_light"] = args.linear_light
    base = defaults.deconvolution if known is None else DeconvolutionSettings()
    config = base.replace(**chosen)
    estimation = defaults.estimation.replace(method=args.method, passes=args.passes,
                                             device=args.device, **_tiling(args))
    inputs = find_images(args.inputs)
    targets = _targets(inputs, args.out, lambda s: f"{s.stem}_deblurred{s.suffix}",
                       IMAGE_SUFFIXES, args.overwrite)
    device = str(resolve_device(args.device))
    config = config.replace(device=device)
    blind = DeblurSettings(estimation.replace(device=device), config, defaults.length_scale)
    net = get_model(device, config.model)  # the inverse filters, once for the run
    for src, dst in zip(inputs, targets):
        image = read_image(src)
        check_writable(dst, image)
        motion = _per_plane(known, image.count, src) if known is not None else None

        def work(i, plane, motion=motion):
            if motion is None:
                return deblur(plane, settings=blind)[0]
            return deconvolve(plane, motion[i], model=net, settings=config)

        results = _planes(image, src, say, "deblurred", work)
        say(f"wrote {write_image(dst, image.like_input(results), image, args.overwrite)}")


def _run_estimate(args, say) -> None:
    from .deconvolution import resolve_device
    from .estimation.api import estimate_motion
    from .settings import EstimationSettings

    settings = EstimationSettings(method=args.method, passes=args.passes, device=args.device,
                                  **_tiling(args))
    inputs = find_images(args.inputs)
    targets = _targets(inputs, args.out, lambda s: f"{s.stem}_motion.npz", (".npz",),
                       args.overwrite)
    device = str(resolve_device(args.device))
    for src, dst in zip(inputs, targets):
        image = read_image(src)
        fields = _planes(image, src, say, "estimated", lambda i, plane: estimate_motion(
            plane, settings=settings.replace(device=device)))
        say(f"wrote {save_fields(dst, fields, args.overwrite)}")


def _run_blur(args, say) -> None:
    from ._validation import is_finite_number
    from .deconvolution import resolve_device
    from .motion import MAX_LENGTH, MotionField
    from .physics.synthesis import blur, random_field

    known = _field_sources(args, lambda lg, an: MotionField.uniform((4, 4), lg, an))
    if not (is_finite_number(args.noise) and args.noise >= 0):
        raise ValueError(f"--noise must be a finite number >= 0, got {args.noise}.")
    if not 1 <= args.max_length <= MAX_LENGTH:
        raise ValueError(f"--max-length must be in 1..{MAX_LENGTH:g} px, got {args.max_length}.")
    inputs = find_images(args.inputs)
    field_of = lambda t: t.with_name(f"{t.stem}_motion.npz")  # noqa: E731
    targets = _targets(inputs, args.out, lambda s: f"{s.stem}_blurred{s.suffix}",
                       IMAGE_SUFFIXES, args.overwrite, extra=field_of)
    device = str(resolve_device(args.device))
    rng = np.random.default_rng(args.seed)
    for src, dst in zip(inputs, targets):
        image = read_image(src)
        check_writable(dst, image)
        h, w = image.planes.shape[1:3]
        motion = (_per_plane(known, image.count, src) if known is not None else
                  [random_field((h, w), rng, args.kind, args.max_length)
                   for _ in range(image.count)])
        fields = [m if isinstance(m, MotionField) else MotionField.uniform((h, w), *m)
                  for m in motion]
        results = _planes(image, src, say, "blurred", lambda i, plane, f=fields: blur(
            plane, f[i], args.noise, seed=rng, device=device))
        say(f"wrote {write_image(dst, image.like_input(results), image, args.overwrite)}")
        say(f"wrote {save_fields(field_of(dst), fields, args.overwrite)}")


# ------------------------------------------------------------------------------ parser
class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        raise _UsageError(f"{message} (see {self.prog} --help)")


def _weight(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    from .settings import (
        DEFAULT_LAMBDA,
        DEFAULT_PASSES,
        MAX_ITERATIONS,
        MAX_STAGES,
        METHODS,
        MODELS,
        SOLVERS,
    )

    parser = _Parser(prog="napari-motion-deblur", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    files = _Parser(add_help=False)
    files.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="image files (PNG, JPEG, TIFF), folders or globs ('frames/*.tif')")
    files.add_argument("--out", type=Path, help="output file (one input) or folder "
                       "(default: next to each input)")
    files.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    files.add_argument("--quiet", action="store_true", help="no progress lines")
    files.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    tiling = _Parser(add_help=False)
    tiling.add_argument("--tile", type=_tile, default="auto",
                        help="work in overlapping tiles of this side (px, >= 128) to bound "
                             "memory; 'auto' (default): only images above --memory-budget; "
                             "'none': never")
    tiling.add_argument("--memory-budget", type=float, default=None, metavar="BYTES",
                        help="bytes one image may use before it is tiled (default 1.5e9)")
    motion = _Parser(add_help=False)
    motion.add_argument("--motion", type=Path, metavar="FIELD.npz",
                        help="a motion field .npz (length, angle): (H, W) or one per plane")
    motion.add_argument("--length", type=float, help="uniform motion length, px")
    motion.add_argument("--angle", type=float, help="uniform motion angle, degrees")
    estimation = _Parser(add_help=False)
    estimation.add_argument("--method", choices=METHODS, default="motionnet",
                            help="motion estimator (default: motionnet)")
    estimation.add_argument("--passes", type=int, default=DEFAULT_PASSES,
                            help=f"Motion-Net test-time passes (default {DEFAULT_PASSES})")

    p = sub.add_parser("deblur", parents=[files, motion, estimation, tiling],
                       help="deblur images: blind unless --motion, --length/--angle or --psf")
    p.add_argument("--psf", type=Path, help="a PSF image or .npy (any 2-D blur)")
    p.add_argument("--stages", type=int, default=5, help=f"ADMM stages 1-{MAX_STAGES} (5)")
    p.add_argument("--iterations", type=int, default=2,
                   help=f"IRC iterations per stage 1-{MAX_ITERATIONS} (2)")
    p.add_argument("--regularization", type=_weight, help="TV weight, or 'auto' from the "
                   f"noise level (default {DEFAULT_LAMBDA:g} with a known blur; blind: 'auto', "
                   "from twice that)")
    p.add_argument("--model", choices=MODELS, default="analytic",
                   help="IRC-Net's shrinkage: analytic (default) or learned on Train400")
    p.add_argument("--solver", choices=SOLVERS, default="irc",
                   help="x-update: irc (the paper's, default) or pcg (conjugate gradients on "
                        "the exact per-pixel blur; a known field only; use ~10 stages x 5 "
                        "iterations)")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, default=None,
                   help="the learned clean-up of the result (default: on when blind, off with "
                        "a known field; not for --psf)")
    p.add_argument("--linear-light", action="store_true",
                   help="the images are sRGB-encoded photographs (JPEGs): deconvolve in linear "
                        "light, where their blur happened (not for linear data: microscopy)")
    sub.add_parser("estimate", parents=[files, estimation, tiling],
                   help="estimate motion fields, written as <name>_motion.npz")
    p = sub.add_parser("blur", parents=[files, motion],
                       help="make test data: blurred images and their fields (.npz)")
    p.add_argument("--kind", choices=("camera", "uniform", "objects", "mixed"), default="camera",
                   help="random field kind when no motion is given (default: camera)")
    p.add_argument("--max-length", type=float, default=25.0, help="longest random streak (25)")
    p.add_argument("--noise", type=float, default=0.01, help="Gaussian noise sigma (0.01)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")

    p_demo = sub.add_parser("demo", help="deblur a built-in image with a known motion field")
    p_demo.add_argument("--out", type=Path, default=Path("demo-output"),
                        help="folder for the before/after PNG (default: ./demo-output)")
    p_demo.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p_demo.add_argument("--gui", action="store_true",
                        help="open napari with the sample data and the three widgets docked")
    p_demo.add_argument("--sample", choices=("photograph", "microscopy"), default="photograph",
                        help="sample shown by --gui (default: photograph)")
    return parser


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _warn(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {_first_line(Warning(str(message)))}", file=sys.stderr)


def _run_demo(args, say) -> None:
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out} is a file; demo writes into a folder.")
    result = demo(args.out, args.device)
    print(f"{result['image']}, non-uniform camera shake up to {result['max_length_px']:.0f} px, "
          "noise sigma 0.01")
    print(f"PSNR blurry    {result['psnr_blurry']:.2f} dB")
    print(f"PSNR deblurred {result['psnr_deblurred']:.2f} dB  (IRC-Net, 5 stages x 2 iterations)")
    print(f"time           {result['seconds']:.2f} s")
    print(f"PSNR blind     {result['psnr_blind']:.2f} dB  (Motion-Net estimate, then IRC-Net; "
          f"{result['blind_seconds']:.2f} s)")
    print(f"wrote {result['png']} (blurry | deblurred | blind | sharp)")


COMMANDS = {"deblur": _run_deblur, "estimate": _run_estimate, "blur": _run_blur,
            "demo": _run_demo}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (0, or 2 with a one-line reason)."""
    try:
        args = _parser().parse_args(argv)
    except _UsageError as err:
        print(f"napari-motion-deblur: error: {err}", file=sys.stderr)
        return 2
    if args.command == "demo" and args.gui:
        from .gui.widgets.launch import GuiUnavailableError, launch_demo_viewer

        try:
            launch_demo_viewer(args.sample)
        except GuiUnavailableError as err:  # napari or its Qt binding is not installed
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
    quiet = getattr(args, "quiet", False)

    def say(line: str) -> None:
        if not quiet:
            print(line, flush=True)

    with warnings.catch_warnings():
        warnings.showwarning = _warn
        try:
            COMMANDS[args.command](args, say)
        except (ValueError, OSError) as err:
            print(f"error: {_first_line(err)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("error: interrupted; files not yet complete were not written", file=sys.stderr)
            return 130
        # Anything else is a bug, still reported in one line (the command line shows no
        # tracebacks); the type names it for a bug report.
        except Exception as err:
            print(f"error: {type(err).__name__}: {_first_line(err)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
