"""One validated settings object per operation, shared by the API, the widgets, the CLI and the
benchmarks.

Each object checks all of its fields when it is made, so a bad value is a ``ValueError`` before
any work starts, and the defaults live in one place:

* :class:`DeconvolutionSettings`: IRC-Net's stages, iterations, TV weight (a number or
  ``"auto"``: from the image's noise level), clipped-highlight handling and device;
* :class:`EstimationSettings`: the motion estimator, Motion-Net's test-time passes, the
  cepstral check and device;
* :class:`DeblurSettings`: both, plus the blind length policy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ._validation import (
    check_refiner_strength,
    check_refiner_views,
    device_name,
    is_count,
    is_dask,
    is_finite_number,
)
from .tiling import DEFAULT_MEMORY_BUDGET, MIN_TILE

#: Default TV weight (anisotropic TV) of a known field, tuned for noise sigma ~ 0.01.
DEFAULT_LAMBDA = 0.0008
#: Blind deblurring's TV weight relative to the non-blind one (against ringing from kernel
#: errors).
BLIND_REGULARIZATION_FACTOR = 2.0
#: Most ADMM stages (IRC-Net carries learnable parameters for this many) and IRC iterations.
MAX_STAGES = 20
MAX_ITERATIONS = 10
#: Blur operators of IRC-Net's data term for a motion field.
OPERATORS = ("exact", "nodes")
#: x-update solvers: the paper's residual compensation, or conjugate gradients on the exact data
#: term (see :class:`DeconvolutionSettings`).
SOLVERS = ("irc", "pcg")
#: IRC-Net's parameters: the analytic ones, or the learned shrinkage (``resources/``).
MODELS = ("analytic", "learned")
#: How colour images are deconvolved: every channel, or the luminance only (its restored
#: detail added to every channel: ~3x faster for RGB, for previews).
COLOURS = ("channels", "luminance")
#: Motion estimators.
METHODS = ("motionnet", "spectral")
#: Motion-Net test-time passes: the default and the most (the 8 flips/quarter turns).
DEFAULT_PASSES = 4
MAX_PASSES = 8
#: Blind deblurring shortens unconfirmed streaks by this factor: a too-long kernel costs far
#: more than a too-short one. 0.8 with the v0.1 Motion-Net (benchmarks/blind_tuning.py); 0.7
#: with v0.2, whose streaks are longer (benchmarks/blind_ablations.py, held-out images).
BLIND_LENGTH_SCALE = 0.7


#: Device names are checked by one rule (see :func:`~napari_motion_deblur._validation.device_name`).
check_device = device_name


def check_passes(passes) -> None:
    """Raise ``ValueError`` unless ``passes`` is an integer in 1..:data:`MAX_PASSES`."""
    if not is_count(passes, 1, MAX_PASSES):
        raise ValueError(f"passes must be an integer in 1..{MAX_PASSES}, got {passes!r}")


def check_tiling(tile, memory_budget) -> None:
    """Raise ``ValueError`` unless ``tile`` is None, "auto" or an integer >= :data:`MIN_TILE`
    and ``memory_budget`` a number > 0 (bytes)."""
    if not (tile is None or tile == "auto" or is_count(tile, MIN_TILE, 2**31)):
        raise ValueError(f"tile must be None, 'auto' or an integer >= {MIN_TILE} (px), "
                         f"got {tile!r}")
    if not (is_finite_number(memory_budget) and memory_budget > 0):
        raise ValueError(f"memory_budget must be a number of bytes > 0, got {memory_budget!r}")


def check_length_scale(length_scale) -> None:
    """Raise ``ValueError`` unless ``length_scale`` is a number in (0, 1.5]."""
    if not (is_finite_number(length_scale) and 0.0 < length_scale <= 1.5):
        raise ValueError(f"length_scale must be a number in (0, 1.5], got {length_scale!r}")


@dataclass(frozen=True)
class DeconvolutionSettings:
    """How IRC-Net deconvolves.

    Parameters
    ----------
    stages : int
        ADMM stages N, 1-20.
    iterations : int
        IRC iterations T per stage, 1-10.
    regularization : float or "auto"
        TV weight (>= 0), or ``"auto"``: ``base`` scaled by the squared ratio of the image's
        measured noise level to 0.01 (never below ``base``; see
        :func:`~napari_motion_deblur.physics.noise.regularization_for_noise`).
    saturation : float or None
        Observed values at or above this level (in [0, 1] after the intensity rule) are
        treated as clipped and left out of the data term, with their 8 neighbours; None keeps
        every pixel.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    base : float
        The TV weight ``"auto"`` starts from (blind deblurring doubles it).
    operator : {"exact", "nodes"}
        The blur of a motion field in IRC-Net's data term: ``"exact"`` blurs every pixel along
        its own streak; ``"nodes"`` blends bank kernels between nodes every 48 px (the paper's
        operator: ~25 % faster, but off wherever the blur changes within ~50 px). Either way
        the node inverse filters precondition the iterations.
    colour : {"channels", "luminance"}
        Colour images: ``"channels"`` deconvolves R, G and B; ``"luminance"`` deconvolves
        their luminance (Rec. 601) and adds the restored detail to each channel, about 3x
        faster, for previews (colour edges stay a little soft). Gray images ignore it.
    tile : int, "auto" or None
        Process the image in overlapping tiles of this side (px, >= 128) with a halo, keeping
        the memory bounded (:mod:`~napari_motion_deblur.tiling`); ``"auto"`` tiles only images
        that would need more than ``memory_budget``; None never tiles.
    memory_budget : float
        Bytes one call may use, for ``tile="auto"`` (default 1.5e9): the whole image's
        result plus IRC-Net's working memory for one tile (a tiled call reads its input tile
        by tile, with no float copy of the whole image), or for the whole image (~60 bytes per
        pixel and channel on a large one). The process adds torch, the model and the caller's
        own arrays (``benchmarks/results/scale_big.md``).
    refine : bool
        Motion fields only: pass the result through the learned refiner
        (:mod:`~napari_motion_deblur.solvers.refiner`), trained to remove what a blind
        deconvolution leaves (ringing from length errors, amplified noise and JPEG blocks).
        Off by default for a known field; blind deblurring turns it on.
    solver : {"irc", "pcg"}
        The x-update. ``"irc"``: the paper's iterative residual compensation, stepping along the
        node inverse filters' correction; with ``operator="exact"`` it stalls short of the exact
        solution (that direction uses the node blur's adjoint, not the exact one: 2-4 dB below
        NU-CG on per-pixel object motion, and more stages do not close it). ``"pcg"``
        (``operator="exact"`` only, motion fields only): conjugate gradients on the exact data
        term with its exact adjoint, preconditioned node by node with the filter IRC's inverse
        filters are built from; it converges to the exact TV solution (at 10 x 5 it matches
        NU-CG on the exact operator). It costs about 1.8x IRC at the same stages.
        ``benchmarks/results/exact_nonuniform.md`` compares them.
    model : {"analytic", "learned"}
        IRC-Net's shrinkage: the analytic thresholds and dual steps, or those learned on
        Train400 (``python -m napari_motion_deblur.training.ircnet``; the package's
        ``resources/ircnet_learned.pt``). The inverse filters are analytic either way.
    linear_light : bool
        The image is sRGB-encoded (a photograph, a JPEG): deconvolve in linear light, where
        the blur happened, and encode the result back (:mod:`~napari_motion_deblur.physics.srgb`;
        the noise level of ``regularization="auto"`` is measured in linear light too, the
        refiner reads the encoded images). Off for data that is linear already (microscopy,
        raw frames): there it would add a model error.
    jpeg_input : bool or None
        With ``refine``: whether the input went through JPEG compression, which selects the
        refiner trained for such inputs (not with ``linear_light``). None (default) detects it
        from the pixels (:func:`~napari_motion_deblur.physics.compression.looks_jpeg_compressed`,
        on the whole image's central window, once per call, also for tiles and dask chunks).
    refiner_views : int or None
        With ``refine``: how many turned and mirrored views of the image the refiner's
        correction is averaged over (1, 2, 4 or 8; each costs one more pass of the network).
        None (default): the chosen refiner's own, picked on held-out images within
        ``deblur()``'s cost target (:data:`~napari_motion_deblur.solvers.refiner.APPLICATION`:
        4 for the default refiner, 2 for the JPEG one, 1 for the photo one).
    refiner_strength : float or None
        With ``refine``: the share of the refiner's correction applied, in [0, 1] (less keeps
        more of the deconvolution's own detail: on clean data with a good estimate). None
        (default): the chosen refiner's own (1 for each of the package's).
    """

    stages: int = 5
    iterations: int = 2
    regularization: float | str = DEFAULT_LAMBDA
    saturation: float | None = None
    device: str = "auto"
    base: float = DEFAULT_LAMBDA
    operator: str = "exact"
    colour: str = "channels"
    tile: int | str | None = "auto"
    memory_budget: float = DEFAULT_MEMORY_BUDGET
    refine: bool = False
    solver: str = "irc"
    model: str = "analytic"
    linear_light: bool = False
    jpeg_input: bool | None = None
    refiner_views: int | None = None
    refiner_strength: float | None = None

    def __post_init__(self):
        if not is_count(self.stages, 1, MAX_STAGES):
            raise ValueError(f"stages must be an integer in 1..{MAX_STAGES}, "
                             f"got {self.stages!r}")
        if not is_count(self.iterations, 1, MAX_ITERATIONS):
            raise ValueError(f"iterations must be an integer in 1..{MAX_ITERATIONS}, "
                             f"got {self.iterations!r}")
        if not (self.regularization == "auto" or (is_finite_number(self.regularization)
                                                  and self.regularization >= 0)):
            raise ValueError("regularization must be a finite number >= 0 or 'auto', "
                             f"got {self.regularization!r}")
        if self.saturation is not None and not (is_finite_number(self.saturation)
                                                and 0.0 < self.saturation <= 1.0):
            raise ValueError(f"saturation must be None or a number in (0, 1], "
                             f"got {self.saturation!r}")
        if self.operator not in OPERATORS:
            raise ValueError(f"operator must be one of {OPERATORS}, got {self.operator!r}")
        if self.colour not in COLOURS:
            raise ValueError(f"colour must be one of {COLOURS}, got {self.colour!r}")
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.solver == "pcg" and self.operator != "exact":
            raise ValueError("solver='pcg' needs operator='exact' (it solves with the exact "
                             f"data term), got operator={self.operator!r}")
        if not (is_finite_number(self.base) and self.base >= 0):
            raise ValueError(f"base must be a finite number >= 0, got {self.base!r}")
        for name in ("refine", "linear_light"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.jpeg_input is not None and not isinstance(self.jpeg_input, bool):
            raise ValueError(f"jpeg_input must be None, True or False, got {self.jpeg_input!r}")
        if self.refiner_views is not None:
            check_refiner_views(self.refiner_views)
        if self.refiner_strength is not None:
            object.__setattr__(self, "refiner_strength",
                               check_refiner_strength(self.refiner_strength))
        check_tiling(self.tile, self.memory_budget)
        object.__setattr__(self, "device", check_device(self.device))

    def replace(self, **changes) -> DeconvolutionSettings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class EstimationSettings:
    """How the motion field is estimated.

    Parameters
    ----------
    method : {"motionnet", "spectral"}
        The trained CNN or the weight-free cepstral baseline.
    passes : int
        Motion-Net test-time passes, 1-8.
    check : bool
        Motion-Net only: refine the estimate where the cepstrum confirms it.
    device : str
        As in :class:`DeconvolutionSettings` (Motion-Net only).
    tile, memory_budget
        As in :class:`DeconvolutionSettings`: overlapping tiles for large images.
    camera : bool
        Motion-Net with ``check`` only: fit one camera motion (translation, rotation, zoom) to
        the estimate, scale and turn it to the image's pooled cepstral evidence, and use it
        where that evidence is clear and the estimate agrees
        (:mod:`~napari_motion_deblur.estimation.camera_model`). Fitted per estimation tile.
    camera_coarse : bool
        Where the fitted camera motion is long (median streak >= 22 px), the camera model also
        reads the cepstra of the image at half resolution, which resolve long streaks that
        128-px patches cannot (default on; False: full resolution only, as before this option).
    camera_fine : bool
        The camera model also pools the cepstra of 64- and 96-px patches, whose dips a varying
        motion (strong camera shake) smears less, and then asks for a clearer margin (default
        on; False: 128-px patches alone, as before this option).
    camera_wide : bool
        Where the fitted camera motion is nearly a translation, the camera model also searches
        it at up to 2.4 times its length with the half-resolution cepstra, which finds long
        streaks that Motion-Net answered at half their length (default on; False: as before
        this option). Needs ``camera_coarse``.
    """

    method: str = "motionnet"
    passes: int = DEFAULT_PASSES
    check: bool = True
    device: str = "auto"
    tile: int | str | None = "auto"
    memory_budget: float = DEFAULT_MEMORY_BUDGET
    camera: bool = True
    camera_coarse: bool = True
    camera_fine: bool = True
    camera_wide: bool = True

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        check_passes(self.passes)
        for name in ("check", "camera", "camera_coarse", "camera_fine", "camera_wide"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_tiling(self.tile, self.memory_budget)
        object.__setattr__(self, "device", check_device(self.device))

    def replace(self, **changes) -> EstimationSettings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


#: Blind deblurring keeps clipped highlights in the data term: leaving them out (saturation
#: 0.98) measured 0.2 dB worse on the realistic held-out set (benchmarks/results/
#: blind_tuning_v2.md), whose sharp references are clipped like the photographs.
BLIND_SATURATION = None


#: Blind deblurring's TV weight base where the cepstrum confirms the whole estimate: the
#: non-blind one. Where it is confirmed, the estimate is about as good as a known field, and
#: twice the weight only blurs: moving the base with the mean confidence measured +0.10 dB on
#: the linear held-out set, +0.00 dB on the realistic one, with no more cases below the blurry
#: input (benchmarks/results/blind_tuning_confirmed.md).
CONFIRMED_BASE = DEFAULT_LAMBDA


def _blind_deconvolution() -> DeconvolutionSettings:
    # An estimated field is noisy pixel by pixel: the node operator's blend over ~48 px
    # averages it, which measured better for blind deblurring than the exact per-pixel data
    # term (benchmarks/results/blind_tuning_v2.md), while the exact one wins with a known field.
    # The learned refiner cleans up what the estimate's errors and a camera leave: +0.52 dB on
    # the realistic set, -0.37 dB on the linear one (benchmarks/results/blind.md, `deblur` vs
    # `check4`), chosen on held-out images (blind_tuning_refiner.md).
    return DeconvolutionSettings(
        regularization="auto", base=BLIND_REGULARIZATION_FACTOR * DEFAULT_LAMBDA,
        saturation=BLIND_SATURATION, operator="nodes", refine=True)


@dataclass(frozen=True)
class DeblurSettings:
    """Blind deblurring: how to estimate, how to shorten uncertain streaks, how to deconvolve.

    Parameters
    ----------
    estimation : EstimationSettings
    deconvolution : DeconvolutionSettings
        Default: TV weight from the measured noise level, starting from twice the non-blind
        default (see ``confirmed_base``); the node operator; the learned refiner.
    length_scale : float
        Factor in (0, 1.5] on the estimated lengths the cepstrum did not confirm.
    confirmed_base : float or None
        The TV weight's ``base`` where the cepstrum confirms the whole estimate (default: the
        non-blind one). The weight guards against kernel errors, so it moves linearly from the
        deconvolution's ``base`` (nothing confirmed) to this one with the estimate's mean
        confidence (:meth:`deconvolution_for`). None: the deconvolution's ``base`` always.
    """

    estimation: EstimationSettings = field(default_factory=EstimationSettings)
    deconvolution: DeconvolutionSettings = field(default_factory=_blind_deconvolution)
    length_scale: float = BLIND_LENGTH_SCALE
    confirmed_base: float | None = CONFIRMED_BASE

    def __post_init__(self):
        if not isinstance(self.estimation, EstimationSettings):
            raise ValueError("estimation must be an EstimationSettings")
        if not isinstance(self.deconvolution, DeconvolutionSettings):
            raise ValueError("deconvolution must be a DeconvolutionSettings")
        check_length_scale(self.length_scale)
        if self.confirmed_base is not None and not (is_finite_number(self.confirmed_base)
                                                    and self.confirmed_base >= 0):
            raise ValueError("confirmed_base must be a finite number >= 0 or None, got "
                             f"{self.confirmed_base!r}")

    def deconvolution_for(self, confidence) -> DeconvolutionSettings:
        """The deconvolution settings for an estimate with this confidence.

        Parameters
        ----------
        confidence : array_like, float or None
            The estimate's confidence map (values in [0, 1]; its mean is used) or that mean.
            None or a dask array (a lazy estimate, not computed yet) counts as nothing
            confirmed.

        Returns
        -------
        DeconvolutionSettings
            ``deconvolution`` with its ``base`` moved toward ``confirmed_base``.
        """
        if self.confirmed_base is None or confidence is None or is_dask(confidence):
            return self.deconvolution
        try:  # float64 accumulation, no float64 copy of a large map
            mean = float(np.mean(confidence, dtype=np.float64))
        except (TypeError, ValueError) as err:
            raise ValueError(f"confidence must be a map or number in [0, 1], got "
                             f"{confidence!r}") from err
        if isinstance(confidence, bool) or not 0.0 <= mean <= 1.0:  # NaN fails too
            raise ValueError(f"confidence must be a map or number in [0, 1], got "
                             f"{confidence!r}")
        base = self.deconvolution.base
        return self.deconvolution.replace(base=base + (self.confirmed_base - base) * mean)

    def replace(self, **changes) -> DeblurSettings:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)
