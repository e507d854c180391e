"""napari-motion-deblur: per-pixel motion estimation and fast non-uniform deconvolution.

The compute core (this package minus ``gui``) needs numpy, scipy and torch, no napari or Qt.
"""

from .deconvolution import DeconvolutionProgress, deconvolve, iter_deconvolve, resolve_device
from .estimation.api import (
    EstimationProgress,
    MotionEstimate,
    deblur,
    estimate_motion,
    estimate_with_confidence,
    iter_estimate,
)
from .motion import LazyMotionField, MotionField
from .physics.kernels import motion_kernel
from .physics.synthesis import blur, random_field
from .solvers.irc import IRCNet

__version__ = "0.1.0"

__all__ = [
    "DeconvolutionProgress",
    "EstimationProgress",
    "IRCNet",
    "LazyMotionField",
    "MotionEstimate",
    "MotionField",
    "blur",
    "deblur",
    "deconvolve",
    "estimate_motion",
    "estimate_with_confidence",
    "iter_deconvolve",
    "iter_estimate",
    "motion_kernel",
    "random_field",
    "resolve_device",
]
