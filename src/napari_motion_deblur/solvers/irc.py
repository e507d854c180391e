"""IRC-Net: ADMM stages whose x-update is iterative residual compensation (paper Section 3.2).

The problem (paper Eq. 1 with l = 1, anisotropic TV):
``min_x 1/2 ||k(p) * x - y||^2 + lam (||g1 * x||_1 + ||g2 * x||_1)``, split with ``z_i = g_i * x``.
Each of the N stages does

* z-update: ``z_i = shrink(g_i * x + b_i)``, soft thresholding at ``exp(theta_s) * lam / rho``
  (the threshold factor ``theta_s`` is learnable per stage and filter);
* x-update: T IRC iterations ``x += D0 (y - K x) + D1 (z1 - b1 - g1 * x) + D2 (z2 - b2 - g2 * x)``
  where ``K`` is the non-uniform blur and ``D0..D2`` the non-uniform inverse filters: node-wise
  blends of the bank's precomputed filters (learnable ``nn.Parameter``);
* b-update: ``b_i += eta_s (g_i * x - z_i)`` (``eta_s`` learnable).

Boundaries: the observed image is the blur of a scene that extends beyond it. IRC therefore
works on a domain extended by ``pad`` pixels on every side, with periodic boundaries there (so
that the blur, the gradients and the inverse filters are mutually consistent and IRC provably
contracts), and the data term masked to the observed pixels (``y - K x`` is zeroed outside):
the regularizer fills the margin. The estimate is cropped back to the image.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..motion import MotionField
from ..physics.inverse_filters import (
    DEFAULT_RHO,
    DEFAULT_SUPPORT,
    GRADIENT_FILTERS,
    bank_inverse_filters,
    compute_inverse_filters,
)
from ..physics.kernels import BANK_RADIUS, bank_kernels, odd_square
from ..physics.operators import DEFAULT_STRIDE, node_filters
from ..physics.patches import PatchGrid, symmetric_indices
from ..physics.reference import PerPixelBlur
from ..settings import DEFAULT_LAMBDA, MAX_STAGES
from .irc_streamed import streamed_irc_stages
from .node_filters import NodeSpectra, Operators, streams

#: Streak samples per pixel of the exact data term (see :class:`PerPixelBlur`).
EXACT_SAMPLES_PER_PIXEL = 1.0

__all__ = ["DEFAULT_LAMBDA", "EXACT_SAMPLES_PER_PIXEL", "MAX_STAGES", "IRCNet", "Operators",
           "gradients", "gradients_adjoint", "soft_threshold"]


def gradients(x: torch.Tensor) -> torch.Tensor:
    """Periodic forward differences (B, H, W) -> (B, 2, H, W) (the filters g1, g2)."""
    return torch.stack([torch.roll(x, -1, -1) - x, torch.roll(x, -1, -2) - x], dim=1)


def gradients_adjoint(g: torch.Tensor) -> torch.Tensor:
    """The adjoint of :func:`gradients`: (B, 2, H, W) -> (B, H, W)."""
    return (torch.roll(g[:, 0], 1, -1) - g[:, 0]) + (torch.roll(g[:, 1], 1, -2) - g[:, 1])


def soft_threshold(v: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    return torch.sign(v) * torch.clamp(v.abs() - tau, min=0.0)


class IRCNet(nn.Module):
    """Non-blind, non-uniform deconvolution network (ADMM + IRC), runs on CPU or CUDA.

    Parameters
    ----------
    rho : float
        ADMM penalty; the bank's inverse filters are computed for it.
    support : int
        Side of the inverse filters.
    stride : int
        Node spacing of the non-uniform operators.
    """

    def __init__(self, rho: float = DEFAULT_RHO, support: int = DEFAULT_SUPPORT,
                 stride: int = DEFAULT_STRIDE):
        super().__init__()
        self.rho = float(rho)
        self.support = int(support)
        self.stride = int(stride)
        self.inverse_bank = nn.Parameter(bank_inverse_filters(rho, support).clone())
        self.log_threshold = nn.Parameter(torch.zeros(MAX_STAGES, 2))
        self.update_rate = nn.Parameter(torch.ones(MAX_STAGES))
        self.register_buffer("kernel_bank", bank_kernels())
        self.register_buffer("gradient_filters", GRADIENT_FILTERS.clone())

    # ---------------------------------------------------------------- operators
    def motion_operators(self, field: MotionField, exact: bool = False,
                         samples_per_pixel: float = EXACT_SAMPLES_PER_PIXEL) -> Operators:
        """Blur and inverse-filter operators for a per-pixel motion field (lengths <= 35).

        ``exact``: the data term blurs each pixel along its own streak
        (:class:`~napari_motion_deblur.physics.reference.PerPixelBlur`, ``samples_per_pixel``
        reads per pixel of streak) instead of blending node kernels; the node inverse filters
        stay the preconditioner and the line search keeps every step a descent on the exact
        objective.
        """
        device = self.inverse_bank.device
        pad = _working_pad(BANK_RADIUS)
        extended = MotionField(np.pad(field.length, pad, mode="edge"),
                               np.pad(field.angle, pad, mode="edge"))
        grid = self._grid(extended.shape, BANK_RADIUS, self.support)
        blur, inverse = node_filters(extended, grid, (self.kernel_bank, self.inverse_bank),
                                     device)
        per_pixel = PerPixelBlur(field, samples_per_pixel, device, pad) if exact else None
        return Operators(grid, blur, inverse, pad, per_pixel)

    def psf_operators(self, psf: torch.Tensor, shape: tuple[int, int]) -> Operators:
        """Blur and inverse-filter operators for one uniform PSF (summing to 1) on ``shape``."""
        psf = odd_square(psf.float().cpu())[None]
        size = psf.shape[-1]
        support = max(self.support, size + 14)
        filters = compute_inverse_filters(psf, self.rho, support)
        device = self.inverse_bank.device
        pad = _working_pad(max(size // 2, BANK_RADIUS))
        grid = self._grid((shape[0] + 2 * pad, shape[1] + 2 * pad), size // 2, support)
        return Operators(grid, psf.to(device)[None], filters.to(device)[None], pad)

    def streams(self, shape: tuple[int, int]) -> bool:
        """Whether an (H, W) image is large enough for the streamed x-update
        (:mod:`.irc_streamed`), which holds ~60 bytes per pixel instead of ~360."""
        pad = _working_pad(BANK_RADIUS)  # as motion_operators
        extended = (shape[0] + 2 * pad, shape[1] + 2 * pad)
        return streams(self._grid(extended, BANK_RADIUS, self.support).nodes)

    def node_spacing(self) -> int:
        """Pixels between the nodes of :meth:`motion_operators` (the grid's actual stride)."""
        return node_spacing(self.stride, self.support)

    def _grid(self, shape, kernel_radius: int, support: int) -> PatchGrid:
        # The inverse filters read one pixel less than the margin: gradients computed in the
        # patch (circularly) are then exact wherever they are used.
        margin = max(kernel_radius, support // 2) + 1
        return PatchGrid(shape, self.stride, margin, self.inverse_bank.device, "periodic")

    # ------------------------------------------------------------------- stages
    def stages(self, y: torch.Tensor, ops: Operators, n_stages: int = 5, iterations: int = 2,
               lam: float = DEFAULT_LAMBDA, observed: torch.Tensor | None = None,
               solver: str = "irc", snapshots: bool = True):
        """Run ADMM, yielding ``(stage_index, estimate)`` after each of ``n_stages`` stages.

        Parameters
        ----------
        y : torch.Tensor, shape (B, H, W)
            Blurred images (a batch, or the channels of one colour image).
        ops : Operators
            From :meth:`motion_operators` or :meth:`psf_operators`.
        n_stages, iterations : int
            ADMM stages N and IRC iterations T per stage.
        lam : float
            Regularization weight.
        observed : torch.Tensor, shape (B, H, W), optional
            1 where a pixel of ``y`` is a valid observation of the blur, 0 where it is not
            (e.g. clipped highlights, which only bound ``K x`` from below): those pixels are
            left out of the data term like the margin, and the prior fills them in.
        solver : {"irc", "pcg"}
            The x-update: residual compensation along the node inverse filters (the paper's), or
            preconditioned conjugate gradients on the exact data term (``ops.exact`` needed; see
            :meth:`_pcg_stages`).
        snapshots : bool
            Whether each estimate yielded is a tensor of its own. Without, the streamed x-update
            (below) yields its working estimate, valid until the generator resumes (a copy
            less of the image per stage, for a caller that reads it at once).

        Notes
        -----
        The x-update runs on the patch spectra: each iteration takes two forward and two inverse
        FFTs of the patch stack (the data residual in, the update ``p = D r`` out, ``p`` in,
        ``K p`` out), the gradient residuals entering as ``D1 T1 + D2 T2 - (D1 G1 + D2 G2) X``
        with the target's spectra ``T`` computed once per stage. ``x``, its spectra and ``K x``
        are updated incrementally. The step along ``p`` is the exact minimizer of the x-update's
        least-squares objective (1 for a perfect inverse): IRC alone can diverge where adjacent
        nodes blend very different kernels (object boundaries), the line search cannot.
        On a grid too large to keep its spectra (without autograd) the same iterations are
        streamed (:func:`~.irc_streamed.streamed_irc_stages`): no spectra stacks are kept.
        """
        if not 1 <= n_stages <= MAX_STAGES:
            raise ValueError(f"stages must be in 1..{MAX_STAGES}, got {n_stages}")
        h, w = y.shape[-2:]
        p = ops.pad
        grid = ops.grid
        rows = symmetric_indices(h, p, p, y.device)
        cols = symmetric_indices(w, p, p, y.device)
        y = y.index_select(-2, rows).index_select(-1, cols)
        if observed is not None:
            observed = observed.to(y).index_select(-2, rows).index_select(-1, cols)
        spectra = NodeSpectra(grid, ops, self.gradient_filters)
        if solver not in ("irc", "pcg"):
            raise ValueError(f"solver must be 'irc' or 'pcg', got {solver!r}")
        if solver == "pcg" and ops.exact is None:
            raise ValueError("solver='pcg' needs the exact data term (a motion field with "
                             "operator='exact')")
        if solver == "irc" and spectra.streamed and not torch.is_grad_enabled():
            for s, x in streamed_irc_stages(self, y, (p, h, w), observed, spectra, ops,
                                            n_stages, iterations, lam):
                estimate = x[..., p : p + h, p : p + w]  # x changes in place
                yield s, estimate.clone() if snapshots else estimate
            return
        mask = torch.zeros_like(y[:1])
        mask[..., p : p + h, p : p + w] = 1.0
        if observed is not None:
            mask = mask * observed
        if solver == "pcg":
            yield from self._pcg_stages(y, mask, spectra, ops, n_stages, iterations, lam, (h, w))
            return
        x = y
        x_hat = spectra.of_image(x)
        if ops.exact is not None:
            blurred = ops.exact(x)
        else:
            blurred = spectra.apply(
                lambda r: x_hat[..., r[0] : r[1], :, :, :] * spectra.blur(r))
        grad_x = gradients(x)
        beta = torch.zeros_like(grad_x)
        for s in range(n_stages):
            z, target = self._shrink(s, grad_x, beta, lam)
            prior = spectra.apply(lambda r, t=target: _weighted_sum(
                grid.spectra(t, r), spectra.inverse(r, 1), spectra.inverse(r, 2)))
            for _ in range(iterations):
                data = mask * (y - blurred)
                step = prior + spectra.apply(lambda r, d=data, xh=x_hat: (
                    spectra.inverse(r, 0) * grid.spectra(d, r)
                    - spectra.coupling(r) * xh[..., r[0] : r[1], :, :, :]))
                step_hat = spectra.of_image(step)
                if ops.exact is not None:
                    blurred_step = ops.exact(step)
                else:
                    blurred_step = spectra.apply(
                        lambda r, sh=step_hat: sh[..., r[0] : r[1], :, :, :] * spectra.blur(r))
                seen_step = mask * blurred_step
                grad_step = gradients(step)
                gain = ((seen_step * data).sum((-2, -1))
                        + self.rho * (grad_step * (target - grad_x)).sum((1, -2, -1)))
                cost = ((seen_step * blurred_step).sum((-2, -1))
                        + self.rho * (grad_step * grad_step).sum((1, -2, -1)))
                alpha = (gain / cost.clamp_min(1e-20))[:, None, None]
                x = x + alpha * step
                x_hat = spectra.add_scaled(x_hat, alpha, step_hat)
                blurred = blurred + alpha * blurred_step
                grad_x = grad_x + alpha[:, None] * grad_step
            beta = beta + self.update_rate[s] * (grad_x - z)
            yield s, x[..., p : p + h, p : p + w]

    def _shrink(self, stage: int, grad_x, beta, lam: float):
        """The z-update of ``stage``: ``z = shrink(G x + b)`` and the x-update's target
        ``z - b``."""
        tau = torch.exp(self.log_threshold[stage])[None, :, None, None] * (lam / self.rho)
        z = soft_threshold(grad_x + beta, tau)
        return z, z - beta

    def _pcg_stages(self, y, mask, spectra: NodeSpectra, ops: Operators, n_stages: int,
                    iterations: int, lam: float, shape: tuple[int, int]):
        """ADMM whose x-update is preconditioned conjugate gradients on the exact data term.

        The IRC step ``D r`` applies the node inverse filters, i.e. the *node* blur's adjoint, to
        the exact residual: where the per-pixel blur differs from the node blend, the line
        search then stalls at a point that is not the exact solution. Here the gradient of the
        x-update's objective ``1/2 ||M (y - K x)||^2 + rho/2 ||G x - (z - b)||^2`` uses the
        exact adjoint ``K^T``. Each node preconditions it with the finite-support filter ``h``
        its inverse filters are built from (``d0 = K^T h``, ``d1,2 = rho G^T h``, see
        :mod:`~napari_motion_deblur.physics.inverse_filters`), recovered on its patch spectrum
        as ``h = (K d0 + G1 d1 + G2 d2) / (|K|^2 + rho |G|^2)``: for a uniform blur the first
        step is IRC's. (The untruncated ``1 / (|K|^2 + rho |G|^2)`` was tried: its long tails
        wrap around the patches, and 5 x 2 stages ended below the blurry input.) Directions are
        made conjugate (A-orthogonal to the previous one, restarted each stage) and each step
        is the exact minimizer, so the x-update converges to the exact one. ``y`` and ``mask``
        are on the extended domain; ``shape`` is the observed image's (H, W).
        """
        h, w = shape
        p = ops.pad
        grid = spectra.grid
        gradient_power = (spectra.g_hat.abs() ** 2).sum(0)

        kept: dict = {}  # h's spectra per chunk, when the grid is small enough to keep them

        def h_spectrum(r):
            if r in kept:
                return kept[r]
            blur = spectra.blur(r)
            h_hat = ((blur * spectra.inverse(r, 0) + spectra.coupling(r))
                     / (blur.abs() ** 2 + self.rho * gradient_power))
            if spectra.keep:  # the grid is small enough to keep its filter spectra
                kept[r] = h_hat
            return h_hat

        def precondition(g):  # h * g, node by node
            return spectra.apply(lambda r: grid.spectra(g, r) * h_spectrum(r))

        def metric(ka, ga, kb, gb):  # <a, A b> for A = K^T M K + rho G^T G, from K a, G a, ...
            return (mask * ka * kb).sum((-2, -1)) + self.rho * (ga * gb).sum((1, -2, -1))

        x = y
        blurred = ops.exact(x)
        grad_x = gradients(x)
        beta = torch.zeros_like(grad_x)
        for s in range(n_stages):
            z, target = self._shrink(s, grad_x, beta, lam)
            previous = None
            for _ in range(iterations):
                residual = mask * (y - blurred)
                descent = (ops.exact.adjoint(residual)
                           + self.rho * gradients_adjoint(target - grad_x))
                step = precondition(descent)
                k_step, g_step = ops.exact(step), gradients(step)
                if previous is not None:
                    d, kd, gd = previous
                    c = -(metric(k_step, g_step, kd, gd)
                          / metric(kd, gd, kd, gd).clamp_min(1e-20))
                    step = step + c[:, None, None] * d
                    k_step = k_step + c[:, None, None] * kd
                    g_step = g_step + c[:, None, None, None] * gd
                gain = (step * descent).sum((-2, -1))
                alpha = gain / metric(k_step, g_step, k_step, g_step).clamp_min(1e-20)
                x = x + alpha[:, None, None] * step
                blurred = blurred + alpha[:, None, None] * k_step
                grad_x = grad_x + alpha[:, None, None, None] * g_step
                previous = (step, k_step, g_step)
            beta = beta + self.update_rate[s] * (grad_x - z)
            yield s, x[..., p : p + h, p : p + w]

    def forward(self, y: torch.Tensor, ops: Operators, n_stages: int = 5, iterations: int = 2,
                lam: float = DEFAULT_LAMBDA, observed: torch.Tensor | None = None,
                solver: str = "irc") -> torch.Tensor:
        """Return the estimate after ``n_stages`` stages (differentiable with ``solver="irc"``;
        the conjugate-gradient solver's adjoint is itself a gradient, not differentiated)."""
        *_, (_, estimate) = self.stages(y, ops, n_stages, iterations, lam, observed, solver,
                                        snapshots=False)  # the last: not changed any more
        return estimate


def _weighted_sum(pair: torch.Tensor, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """``first * pair[:, 0] + second * pair[:, 1]`` for a (B, 2, ...) stack."""
    return first * pair[:, 0] + second * pair[:, 1]


def node_spacing(stride: int = DEFAULT_STRIDE, support: int = DEFAULT_SUPPORT) -> int:
    """The actual node stride of :meth:`IRCNet.motion_operators` (the patch size is rounded to
    a fast FFT size, which moves the nodes), without building a network."""
    margin = max(BANK_RADIUS, support // 2) + 1  # as IRCNet._grid
    return PatchGrid((2 * stride, 2 * stride), stride, margin, None, "periodic").stride


def _working_pad(kernel_radius: int) -> int:
    """Margin of IRC's extended domain: the blur's reach plus room for the periodic seam."""
    return kernel_radius + 8
