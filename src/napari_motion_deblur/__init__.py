"""napari-motion-deblur: per-pixel motion estimation and fast non-uniform deconvolution.

The compute core (this package minus ``_widgets``) needs numpy, scipy and torch, no napari or Qt.
"""

from .deconvolution import DeconvolutionProgress, deconvolve, iter_deconvolve, resolve_device
from .estimation import MotionEstimate, deblur, estimate_motion, estimate_with_confidence
from .irc import IRCNet
from .kernels import motion_kernel
from .motion import MotionField
from .synthesis import blur, random_field

__version__ = "0.1.0"

__all__ = [
    "DeconvolutionProgress",
    "IRCNet",
    "MotionEstimate",
    "MotionField",
    "blur",
    "deblur",
    "deconvolve",
    "estimate_motion",
    "estimate_with_confidence",
    "iter_deconvolve",
    "motion_kernel",
    "random_field",
    "resolve_device",
]
