"""Public non-blind deconvolution: a stage generator for live display, and a synchronous wrapper."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from ._generators import run_to_end
from ._validation import (
    FloatSource,
    check_motion_or_psf,
    float_source,
    is_dask,
    luminance,
    restore_layout,
    torch_device,
)
from .motion import MotionField
from .physics.compression import looks_jpeg_compressed
from .physics.noise import noise_sigma, regularization_for_noise
from .physics.srgb import linear_to_srgb, srgb_to_linear
from .settings import (
    DEFAULT_LAMBDA,
    MAX_ITERATIONS,
    MAX_STAGES,
    MODELS,
    DeconvolutionSettings,
)
from .solvers.irc import IRCNet
from .solvers.irc_weights import apply_learned, load_learned
from .solvers.refiner import get_refiner, refine
from .tiling import DECONVOLUTION_HALO, MIN_TILE, budget_tile, deconvolution_tile, tile_boxes

__all__ = ["MAX_ITERATIONS", "MAX_STAGES", "DeconvolutionProgress", "deconvolve",
           "iter_deconvolve", "resolve_device", "get_model", "regularization_weight"]
_models: dict[str, IRCNet] = {}
_models_lock = threading.Lock()


@dataclass(frozen=True)
class DeconvolutionProgress:
    """One update from :func:`iter_deconvolve`: the estimate after stage ``stage`` of ``stages``.

    ``estimate`` is float32 in the input image's shape, clipped to [0, 1].
    """

    stage: int
    stages: int
    estimate: np.ndarray
    #: Large images run in overlapping tiles (``settings.tile``): ``stage`` is then of pass
    #: ``tile`` of ``tiles`` (one pass per tile; a colour image: per tile and channel), and
    #: ``estimate`` the whole image so far (what is not done yet still shows the input).
    tile: int = 1
    tiles: int = 1

    @property
    def fraction(self) -> float:
        """Share of the work done, in (0, 1]."""
        return ((self.tile - 1) * self.stages + self.stage) / (self.tiles * self.stages)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present; CUDA asked for but absent falls back to CPU, warning."""
    return torch.device(torch_device(device))


def get_model(device: str | torch.device = "auto", model: str = "analytic") -> IRCNet:
    """The shared IRC-Net for a device (built once; its inverse filters are cached on disk),
    with the analytic or the learned shrinkage (``model``, see :class:`DeconvolutionSettings`)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    device = resolve_device(device)
    with _models_lock:
        key = f"{device}/{model}"
        if key not in _models:
            net = IRCNet()
            if model == "learned":
                apply_learned(net, load_learned())
            _models[key] = net.to(device).eval()
        return _models[key]


def deconvolution_settings(settings=None, **parameters) -> DeconvolutionSettings:
    """``settings`` if given (it must be a :class:`DeconvolutionSettings`), else one made from
    the keyword parameters; either way validated."""
    if settings is None:
        return DeconvolutionSettings(**parameters)
    if not isinstance(settings, DeconvolutionSettings):
        raise ValueError(f"settings must be a DeconvolutionSettings, got {type(settings).__name__}")
    return settings


def regularization_weight(settings: DeconvolutionSettings, image,
                          channels: int | None = None) -> float:
    """The TV weight to use for ``image``: the fixed one, or ``"auto"`` from its noise level.

    ``image`` is a float array in [0, 1] units or a :class:`FloatSource` (read in row blocks:
    no whole float copy), of which the first ``channels`` are measured (default: all).
    """
    if settings.regularization != "auto":
        return float(settings.regularization)
    if isinstance(image, FloatSource):  # block by block, through the source's scale/transform
        sigma = noise_sigma(image.raw[..., :channels], transform=image.values)
    else:
        sigma = noise_sigma(image[..., :channels])
    return regularization_for_noise(settings.base, sigma)


def observed_mask(plane: np.ndarray, saturation: float | None) -> np.ndarray | None:
    """1 where a pixel is a valid observation, 0 at clipped values and their 8 neighbours."""
    if saturation is None:
        return None
    clipped = ndimage.binary_dilation(plane >= saturation, np.ones((3, 3), bool))
    return (~clipped).astype(np.float32) if clipped.any() else None


@torch.no_grad()
def iter_deconvolve(
    image,
    motion_or_psf,
    stages: int = 5,
    iterations: int = 2,
    regularization: float | str = DEFAULT_LAMBDA,
    device: str | torch.device = "auto",
    model: IRCNet | None = None,
    *,
    saturation: float | None = None,
    operator: str = "exact",
    tile: int | str | None = "auto",
    settings: DeconvolutionSettings | None = None,
) -> Generator[DeconvolutionProgress, None, np.ndarray]:
    """Deconvolve stage by stage, yielding a :class:`DeconvolutionProgress` after each stage.

    Arguments as :func:`deconvolve`. The generator's return value (``StopIteration.value``) is
    the final estimate, equal to the last yielded one. Closing the generator between yields stops
    the work (a GUI's Cancel). A tiled run reads the image tile by tile as it goes (no float
    copy of the whole image): leave the array unchanged until the generator is done.
    """
    config = _with_model(deconvolution_settings(
        settings, stages=stages, iterations=iterations, regularization=regularization,
        device=device, saturation=saturation, operator=operator, tile=tile), model)
    return (yield from _steps(image, motion_or_psf, config, model, snapshots=True))


def _steps(image, motion_or_psf, config: DeconvolutionSettings, model, snapshots: bool):
    """:func:`iter_deconvolve` with its settings resolved. Without ``snapshots`` a tiled run
    yields its working canvas itself, not a copy per stage (for :func:`deconvolve`, which
    keeps only the last: a whole-image copy less to hold)."""
    source, layout = float_source(image)
    # What IRC-Net reads: the intensities, or (``linear_light``) their linear light. The
    # refiner and an alpha channel read ``source`` itself.
    reader = source.transformed(srgb_to_linear) if config.linear_light else source
    target = check_motion_or_psf(motion_or_psf, source.shape[:2])
    if config.refine and not isinstance(target, MotionField):
        raise ValueError("refine=True needs a motion field (the refiner reads its lengths), "
                         "not a PSF")
    if config.solver == "pcg" and not isinstance(target, MotionField):
        raise ValueError("solver='pcg' needs a motion field (it solves with the exact per-pixel "
                         "data term), not a PSF")
    net = model if isinstance(model, IRCNet) else get_model(config.device, config.model)
    shape = (*source.shape[:2], min(source.shape[2], 3))
    tile = deconvolution_tile(config, shape, net)
    encoded = None  # the input as the refiner reads it, when a whole float copy is at hand
    if tile is None:
        colour = reader[..., :3]
        encoded = None if config.linear_light else colour
        lam = regularization_weight(config, colour)
        stages = _whole_or_tiled_stages(colour, target, net, config, lam)
    else:  # tiles are read from the caller's image as they are needed: no whole float copy
        lam = regularization_weight(config, reader, channels=3)  # of the whole image
        stages = _tiled_stages(reader, target, net, config, lam, tile, snapshots)
    estimate = None
    for stage, out, k, n in stages:
        if config.refine and stage == config.stages and k == n:
            encoded = source[..., :3] if encoded is None else encoded
            compressed = not config.linear_light and (
                looks_jpeg_compressed(source) if config.jpeg_input is None
                else config.jpeg_input)
            out = _refined(out, encoded, target, config, net.inverse_bank.device, compressed)
        if source.shape[-1] == 4:
            out = np.concatenate([out, source[..., 3:]], axis=-1)
        estimate = restore_layout(np.ascontiguousarray(out, dtype=np.float32), layout)
        yield DeconvolutionProgress(stage, config.stages, estimate, k, n)
        out = None
        if not snapshots and (stage, k) != (config.stages, n):
            estimate = None  # deconvolve() keeps the last only: no image held meanwhile
    return estimate


def _with_model(config: DeconvolutionSettings, model) -> DeconvolutionSettings:
    """``config`` with the parameters ``model`` names ("analytic"/"learned"), if it names any."""
    if model is None or isinstance(model, IRCNet):
        return config
    if not isinstance(model, str):
        raise ValueError(f"model must be 'analytic', 'learned' or an IRCNet, got {model!r}")
    return config.replace(model=model)


def _refined(out: np.ndarray, colour: np.ndarray, field: MotionField,
             config: DeconvolutionSettings, device, compressed: bool) -> np.ndarray:
    """The learned refiner on the result (the one for JPEG-compressed images if ``compressed``);
    through the luminance when that is how colour was deconvolved (its correction added to
    every channel, as the deconvolution's detail was)."""
    model = get_refiner(device, photo=config.linear_light, compressed=compressed)
    how = {"views": config.refiner_views, "strength": config.refiner_strength}
    if config.colour != "luminance" or colour.shape[-1] != 3:
        return refine(out, colour, field, device, model, **how)
    deconvolved = luminance(out)
    correction = refine(deconvolved, luminance(colour), field, device, model, **how) \
        - deconvolved
    return np.clip(out + correction[..., None], 0.0, 1.0)


def _plane_stages(colour: np.ndarray, target, net: IRCNet, config: DeconvolutionSettings,
                  lam: float):
    """IRC-Net on one (H, W, C <= 3) image: yields (stage, estimate (H, W, C)) per stage."""
    dev = net.inverse_bank.device
    if isinstance(target, MotionField):
        ops = net.motion_operators(target, exact=config.operator == "exact")
    else:
        ops = net.psf_operators(torch.from_numpy(target), colour.shape[:2])
    planes = colour
    if config.colour == "luminance" and colour.shape[-1] == 3:
        planes = luminance(colour)[..., None]
    # Channels run one after the other, in lockstep: per-channel patch stacks stay small enough
    # to be recycled by the allocator, which makes RGB ~1.5x faster than one batch of 3.
    level = config.saturation  # a level of the observed values: in linear light, its image
    if level is not None and config.linear_light:
        level = float(srgb_to_linear(level))
    masks = [observed_mask(planes[..., c], level) for c in range(planes.shape[-1])]
    channels = [net.stages(torch.from_numpy(np.ascontiguousarray(planes[..., c]))[None].to(dev),
                           ops, config.stages, config.iterations, lam,
                           None if m is None else torch.from_numpy(m)[None].to(dev),
                           config.solver, snapshots=False)  # each estimate is copied below
                for c, m in enumerate(masks)]
    for per_channel in zip(*channels):
        stage = per_channel[0][0] + 1
        # IRC-Net's estimates may be its working tensors (read before the next stage, never
        # written): one copy.
        estimates = [x[0].cpu().numpy() for _, x in per_channel]
        per_channel = None  # not held while the next stage runs
        if planes is not colour:  # the luminance's restored detail, added to every channel
            out = np.clip(colour + (estimates[0][..., None] - planes), 0.0, 1.0)
        elif len(estimates) == 1:
            out = np.clip(estimates[0], 0.0, 1.0)[..., None]
        else:
            out = np.stack(estimates, axis=-1)
            np.clip(out, 0.0, 1.0, out=out)
        del estimates
        yield stage, linear_to_srgb(out) if config.linear_light else out
        out = None  # not held while the next stage runs


def _whole_or_tiled_stages(colour: np.ndarray, target, net: IRCNet,
                           config: DeconvolutionSettings, lam: float):
    """:func:`_plane_stages` on the whole image as (stage, estimate, 1, 1); when the device
    runs out of memory (CUDA: the budget's estimate ignores what else holds the GPU), the
    image starts again in tiles sized for half the free memory, with a warning."""
    try:
        for stage, out in _plane_stages(colour, target, net, config, lam):
            yield stage, out, 1, 1
            out = None  # not held while the next stage runs
        return
    except torch.OutOfMemoryError:
        pass
    # Out of the except block: the traceback would keep the failed attempt's tensors alive.
    device = net.inverse_bank.device
    free = config.memory_budget
    if device.type == "cuda":
        torch.cuda.empty_cache()
        free = torch.cuda.mem_get_info(device)[0]
    tile = budget_tile(config, colour.shape, net, free / 2)
    if tile is None:  # the estimate said it fits, yet it did not: halve the image's side
        align = net.node_spacing()
        tile = -(-max(max(colour.shape[:2]) // 2, MIN_TILE) // align) * align
    warnings.warn(f"{device.type} ran out of memory deblurring a {colour.shape[0]}x"
                  f"{colour.shape[1]} image; starting again in {tile}-px tiles "
                  "(set `tile` or `memory_budget` to choose)", RuntimeWarning, stacklevel=3)
    yield from _tiled_stages(colour, target, net, config, lam, tile)


def _tiled_stages(colour: np.ndarray, target, net: IRCNet, config: DeconvolutionSettings,
                  lam: float, tile: int, snapshots: bool = True):
    """:func:`_plane_stages` tile by tile (:func:`~napari_motion_deblur.tiling.tile_boxes`):
    yields (stage, the whole estimate so far, pass, passes) after each stage of each pass.

    The colour channels of a tile run one after the other (one channel's work in memory at a
    time; the result is the same as in lockstep), so a colour image makes a pass per tile and
    channel. A luminance run (``colour="luminance"``) makes one pass per tile.
    """
    # The canvas holds results (encoded again with ``linear_light``) and, until a tile is done,
    # the input as the caller sees it.
    if isinstance(colour, FloatSource):
        canvas = colour.transformed(None)[..., :3]
        reader = colour
    else:
        canvas = linear_to_srgb(colour) if config.linear_light else colour.copy()
        reader = colour
    boxes = tile_boxes(canvas.shape[:2], tile, DECONVOLUTION_HALO, net.node_spacing())
    groups = ([slice(0, canvas.shape[-1])] if config.colour == "luminance"
              else [slice(c, c + 1) for c in range(canvas.shape[-1])])
    passes = len(boxes) * len(groups)
    for k, box in enumerate(boxes):
        part = target
        if isinstance(target, MotionField):
            part = MotionField(target.length[box.outer], target.angle[box.outer])
        for g, channels in enumerate(groups):
            plane = np.ascontiguousarray(reader[(*box.outer, channels)])
            for stage, out in _plane_stages(plane, part, net, config, lam):
                canvas[(*box.target, channels)] = out[box.inner]
                # a snapshot: later passes change the canvas
                yield (stage, canvas.copy() if snapshots else canvas, k * len(groups) + g + 1,
                       passes)


def deconvolve(
    image,
    motion_or_psf,
    stages: int = 5,
    iterations: int = 2,
    regularization: float | str = DEFAULT_LAMBDA,
    device: str | torch.device = "auto",
    model: IRCNet | None = None,
    *,
    saturation: float | None = None,
    operator: str = "exact",
    tile: int | str | None = "auto",
    settings: DeconvolutionSettings | None = None,
) -> np.ndarray:
    """Remove known blur with IRC-Net (non-blind; per-pixel motion or a uniform PSF).

    Parameters
    ----------
    image : array_like, (H, W) or (H, W, C)
        Blurred image; float in [0, 1] or an integer dtype (scaled by its range). Colour images
        are deblurred per channel with the same blur; an alpha channel is passed through.
    motion_or_psf : MotionField, (length, angle) or array_like (kh, kw)
        Per-pixel linear motion (lengths above 35 px are clipped, with a warning), a uniform
        linear motion, or any PSF (normalized to sum 1), e.g. a microscope PSF. A
        :class:`~napari_motion_deblur.motion.LazyMotionField` (the estimate of a dask image)
        stays lazy with a dask image and is computed first with an in-memory one.
    stages : int
        ADMM stages N (1-20).
    iterations : int
        IRC iterations T per stage (1-10).
    regularization : float or "auto"
        Weight of the sparse-gradient prior; raise it for noisier images. ``"auto"`` sets it
        from the image's measured noise level (the default weight at sigma 0.01, growing with
        the noise variance).
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    model : {"analytic", "learned"} or IRCNet, optional
        IRC-Net's shrinkage, analytic (default) or learned on Train400
        (``DeconvolutionSettings.model``), or a specific network; default: the shared one
        for ``device``.
    saturation : float, optional
        Treat observed values at or above this level as clipped highlights: they and their 8
        neighbours are left out of the data term (the prior fills them in). Default: keep all.
    operator : {"exact", "nodes"}
        Blur of a motion field in the data term: every pixel along its own streak (default),
        or the paper's node-based blend of bank kernels (faster, less faithful).
    tile : int, "auto" or None
        Deblur in overlapping tiles of this side (px, >= 128), each with a 204-px halo, so
        memory stays bounded (close to the whole-image result, not equal:
        :mod:`~napari_motion_deblur.tiling`); ``"auto"`` (default) tiles only images that would need
        more than 1.5 GB (``DeconvolutionSettings.memory_budget``); None never tiles.
    settings : DeconvolutionSettings, optional
        All of the above in one validated object (plus ``colour``, ``memory_budget``,
        ``refine``: the learned refiner of blind deblurring, and ``linear_light``: for
        sRGB-encoded photographs, deconvolve in linear light);
        when given, it is used instead of ``stages``, ``iterations``, ``regularization``,
        ``device``, ``saturation``, ``operator`` and ``tile``.

    Returns
    -------
    numpy.ndarray or dask.array.Array
        float32, the image's shape, in [0, 1]. A dask array in gives a lazy dask array out
        (see :func:`~napari_motion_deblur.lazy_deconvolution.deconvolve_lazy`), to compute
        where the caller likes (a ``dask.distributed`` cluster, say).

    Raises
    ------
    ValueError
        For an unusable image, field, PSF or parameter (the message says what is accepted).
    """
    config = _with_model(deconvolution_settings(
        settings, stages=stages, iterations=iterations, regularization=regularization,
        device=device, saturation=saturation, operator=operator, tile=tile), model)
    if is_dask(image):
        from .lazy_deconvolution import deconvolve_lazy

        return deconvolve_lazy(image, motion_or_psf, config)
    with torch.no_grad():
        return run_to_end(_steps(image, motion_or_psf, config, model, snapshots=False))
