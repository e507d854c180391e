"""Motion-Net's optional length classifier: a distribution over length bins, read at a quantile.

A regressor trained on a squared or Huber loss answers the *mean* of what it thinks possible, so
where it is unsure, long streaks come out short and short ones long (the bias toward the middle
measured on the blind benchmark). Classifying the length into bins (as Sun et al. 2015 and
Gong et al. 2017 do) gives the whole distribution instead; :func:`decode` reads it at a
quantile: the median where the network is sure, and, below 0.5, a cautious length exactly
where it is not (a too-long kernel rings, a too-short one leaves blur).

The bins are ``width`` px wide from 0 px; the probability of a bin is taken as spread evenly
over it, so the quantile is a continuous, piecewise-linear function of the logits. (Fine-tuned
onto the shipped weights it did not beat them: the rare long classes were not learned; see
the README, "The length bias".)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..motion import MAX_LENGTH

#: Bin width (px) of the length classifier.
BIN_WIDTH = 2.0


def bin_count(width: float = BIN_WIDTH) -> int:
    """Bins covering 0 to the longest supported streak."""
    return int(-(-MAX_LENGTH // width))


def decode(logits: torch.Tensor, quantile: float, width: float = BIN_WIDTH) -> torch.Tensor:
    """Lengths (px) at ``quantile`` of the per-pixel bin distributions.

    Parameters
    ----------
    logits : torch.Tensor, (B, K, H, W)
        Unnormalized log-probabilities of the K bins ``[k width, (k + 1) width)``.
    quantile : float
        In (0, 1); 0.5 is the median.

    Returns
    -------
    torch.Tensor, (B, H, W)
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"the length quantile must be in (0, 1), got {quantile}")
    probability = torch.softmax(logits, 1)
    cdf = torch.cumsum(probability, 1)
    below = cdf - probability  # mass below each bin's lower edge
    # The first bin whose upper edge reaches the quantile holds it (clamped: rounding may
    # leave the last cumulative sum a hair under 1).
    index = (cdf < quantile).sum(1, keepdim=True).clamp_max(logits.shape[1] - 1)
    mass = probability.gather(1, index).clamp_min(1e-12)
    inside = ((quantile - below.gather(1, index)) / mass).clamp(0.0, 1.0)
    return ((index + inside) * width)[:, 0].clamp(0.0, MAX_LENGTH)


def target_bins(length: torch.Tensor, count: int, width: float = BIN_WIDTH) -> torch.Tensor:
    """The bin index of each true length (px), (B, H, W) long."""
    return (length / width).floor().long().clamp(0, count - 1)


def classification_loss(logits: torch.Tensor, length: torch.Tensor,
                        width: float = BIN_WIDTH) -> torch.Tensor:
    """Mean cross-entropy of the bin logits (B, K, H, W) against true lengths (B, H, W) in px."""
    return F.cross_entropy(logits, target_bins(length, logits.shape[1], width))
