"""IRC-Net's stages for large images: the same iterations in a fraction of the memory.

:meth:`~napari_motion_deblur.solvers.irc.IRCNet.stages` keeps the patch spectra of the estimate
and of each step (two stacks as large as ~8 images) and every intermediate image. On a large
grid the x-update is run here instead, on the same node chunks, holding no spectra stack: a
chunk's patch spectra of the estimate are taken again where they are needed (the FFT that the
stored loop spends on the step's spectra, to update the estimate's), the data term's residual
is formed only band by band where the patches read it, the gradient terms band by band of
rows, and the estimate, its blur and the dual variables are updated in place. What stays is 10
images: the observation, the estimate, its blur, the dual variables and the x-update's target
(2 each), the prior term, and the iteration's step and blurred step. The result is the same up
to float rounding (the step sizes are the same sums, taken in another order). This is what
makes the whole image, not independent tiles, affordable, so that a large image is deblurred
exactly.
"""

from __future__ import annotations

import torch

from ..physics.patches import row_bands
from .node_filters import NodeSpectra, Operators

__all__ = ["streamed_irc_stages"]

#: Pixels per band of rows in the gradient terms (bounds their transient memory).
_BAND_PIXELS = 1 << 20


def _row_bands(height: int, width: int) -> list[tuple[int, int]]:
    return row_bands(height, _BAND_PIXELS // max(width, 1))


def _gradient_band(x: torch.Tensor, first: int, last: int) -> torch.Tensor:
    """Periodic forward differences of rows ``first:last`` of (B, H, W): (B, 2, rows, W), the
    values of :func:`~napari_motion_deblur.solvers.irc.gradients` on those rows."""
    height = x.shape[-2]
    rows = torch.arange(first, last + 1, device=x.device) % height
    band = x.index_select(-2, rows)
    here = band[..., :-1, :]
    return torch.stack([torch.roll(here, -1, -1) - here, band[..., 1:, :] - here], dim=1)


def _inner(a: torch.Tensor, b: torch.Tensor, weight: torch.Tensor | None = None,
           minus: torch.Tensor | None = None) -> torch.Tensor:
    """Per-batch sum of ``a * (b - minus) (* weight)`` over (H, W), band by band of rows (no
    whole-image temporary)."""
    total = a.new_zeros(a.shape[0])
    for first, last in _row_bands(*a.shape[-2:]):
        rows = slice(first, last)
        product = b[..., rows, :] if minus is None else b[..., rows, :] - minus[..., rows, :]
        product = product * a[..., rows, :]
        if weight is not None:
            product *= weight[..., rows, :]
        total += product.sum((-2, -1))
    return total


def streamed_irc_stages(net, y: torch.Tensor, box: tuple[int, int, int],
                        observed: torch.Tensor | None, spectra: NodeSpectra, ops: Operators,
                        n_stages: int, iterations: int, lam: float):
    """Yield ``(stage, estimate)`` on the extended domain, as IRC-Net's stages do.

    ``net`` is the :class:`~napari_motion_deblur.solvers.irc.IRCNet` (its thresholds, update
    rates and ``rho``); ``y`` (B, H, W) is on the extended domain, whose observed pixels are
    the ``box`` ``(pad, height, width)``, less those where ``observed`` (B, H, W), if given, is
    0. Updates run in place, so autograd must be off (training uses :meth:`IRCNet.stages` on
    small crops).
    """
    grid = spectra.grid
    rho = net.rho

    def blur(image):
        if ops.exact is not None:
            return ops.exact(image)
        return spectra.apply(lambda r: grid.spectra(image, r) * spectra.blur(r))

    pad, height, width = box
    inside = (..., slice(pad, pad + height), slice(pad, pad + width))

    def residual_band(rows, cols):  # M (y - K x) there: zero outside the observed pixels
        def pick(image):
            return image.index_select(-2, rows).index_select(-1, cols)

        seen = (((rows >= pad) & (rows < pad + height)).to(y.dtype)[:, None]
                * ((cols >= pad) & (cols < pad + width)).to(y.dtype)[None, :])
        band = (pick(y) - pick(blurred)).mul_(seen)
        return band if observed is None else band.mul_(pick(observed))

    def residual_spectra(r):
        return torch.fft.rfft2(grid.band_patches(residual_band, r))

    x = y.clone()
    blurred = blur(x)
    beta = x.new_zeros(x.shape[0], 2, *x.shape[-2:])
    target = torch.empty_like(beta)
    bands = _row_bands(*x.shape[-2:])
    for s in range(n_stages):
        tau = torch.exp(net.log_threshold[s])[None, :, None, None] * (lam / rho)
        for a, b in bands:  # target = shrink(G x + beta) - beta, the x-update's target z - b
            shifted = _gradient_band(x, a, b) + beta[..., a:b, :]
            z = torch.sign(shifted) * torch.clamp(shifted.abs() - tau, min=0.0)
            target[..., a:b, :] = z - beta[..., a:b, :]
        prior = spectra.apply(lambda r: (
            spectra.inverse(r, 1) * grid.spectra(target[:, 0], r)
            + spectra.inverse(r, 2) * grid.spectra(target[:, 1], r)))
        for _ in range(iterations):
            step = spectra.apply(lambda r: (
                spectra.inverse(r, 0) * residual_spectra(r)
                - spectra.coupling(r) * grid.spectra(x, r)))
            step = step.add_(prior)
            blurred_step = blur(step)
            seen_step = blurred_step[inside]
            weight = None if observed is None else observed[inside]
            gain = _inner(seen_step, y[inside], weight, minus=blurred[inside])
            cost = _inner(seen_step, seen_step, weight)
            for a, b in bands:
                grad_step = _gradient_band(step, a, b)
                residual = target[..., a:b, :] - _gradient_band(x, a, b)
                gain += rho * (grad_step * residual).sum((1, -2, -1))
                cost += rho * (grad_step * grad_step).sum((1, -2, -1))
            alpha = (gain / cost.clamp_min(1e-20))[:, None, None]
            x.addcmul_(alpha, step)
            blurred.addcmul_(alpha, blurred_step)
            del step, blurred_step
        rate = net.update_rate[s]
        for a, b in bands:  # beta += rate (G x - z), with z = target + beta
            part = beta[..., a:b, :]
            part.add_(rate * (_gradient_band(x, a, b) - target[..., a:b, :] - part))
        yield s, x
