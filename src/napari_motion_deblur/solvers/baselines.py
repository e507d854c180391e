"""Baselines IRC-Net is measured against (benchmarks/): ADMM-TV with exact x-updates, and Wiener.

All solve (or approximate) the same objective as IRC-Net,
``min_x 1/2 ||K x - y||^2 + lam (||g1 * x||_1 + ||g2 * x||_1)``, by ADMM with the same splitting:

* :func:`admm_tv_cg` - the x-update solved by conjugate gradients on the exact operator and its
  adjoint (``NonUniformBlur`` or ``Convolution``, symmetric boundaries: the forward model used to
  synthesize the test data). With a non-uniform operator this is NU-CG, the seed's strongest
  non-blind competitor.
* :func:`admm_tv_fft` - uniform blur only, the x-update solved exactly by FFT; ``pad=True``
  extends the image symmetrically first (careful boundaries), ``pad=False`` treats it as periodic.
* :func:`wiener` - one-shot Wiener filtering with symmetric padding.
"""

from __future__ import annotations

import numpy as np
import torch

from ..physics.patches import centred_spectrum, next_fast_size, symmetric_indices
from .irc import soft_threshold

#: Symmetric extension, in PSF sizes, before an FFT method treats the image as periodic.
_PAD_FACTOR = 6


def _grad(x: torch.Tensor) -> torch.Tensor:
    """Forward differences with symmetric (Neumann) boundaries: zero at the far edge."""
    gx = torch.zeros_like(x)
    gy = torch.zeros_like(x)
    gx[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
    gy[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
    return torch.stack([gx, gy], dim=1)


def _grad_adjoint(g: torch.Tensor) -> torch.Tensor:
    gx, gy = g[:, 0], g[:, 1]
    out = torch.zeros_like(gx)
    out[..., :, 1:] += gx[..., :, :-1]
    out[..., :, :-1] -= gx[..., :, :-1]
    out[..., 1:, :] += gy[..., :-1, :]
    out[..., :-1, :] -= gy[..., :-1, :]
    return out


@torch.no_grad()
def admm_tv_cg(y: torch.Tensor, operator, lam: float, rho: float = 0.008, stages: int = 30,
               cg_iterations: int = 50, cg_tol: float = 1e-5) -> torch.Tensor:
    """ADMM-TV whose x-update is solved by conjugate gradients (NU-CG for a non-uniform K).

    Parameters
    ----------
    y : torch.Tensor, shape (B, H, W)
        Blurred images.
    operator : nn.Module
        ``operator(x)`` = K x and ``operator.adjoint(y)`` = K^T y (channel axis 1 of size 1).
    lam, rho : float
        Regularization weight and ADMM penalty.
    stages : int
        ADMM iterations.
    cg_iterations, cg_tol : int, float
        CG budget per x-update (relative residual tolerance), warm-started from the last x.
    """

    def normal(v):
        return operator.adjoint(operator(v))[:, 0] + rho * _grad_adjoint(_grad(v))

    x = y.clone()
    beta = torch.zeros(y.shape[0], 2, *y.shape[-2:], dtype=y.dtype, device=y.device)
    kty = operator.adjoint(y)[:, 0]
    for _ in range(stages):
        z = soft_threshold(_grad(x) + beta, lam / rho)
        rhs = kty + rho * _grad_adjoint(z - beta)
        r = rhs - normal(x)
        p = r.clone()
        rs = (r * r).sum((-2, -1))
        stop = cg_tol**2 * (rhs * rhs).sum((-2, -1))
        for _ in range(cg_iterations):
            if bool((rs <= stop).all()):
                break
            ap = normal(p)
            alpha = rs / (p * ap).sum((-2, -1)).clamp_min(1e-30)
            x = x + alpha[:, None, None] * p
            r = r - alpha[:, None, None] * ap
            rs_new = (r * r).sum((-2, -1))
            p = r + (rs_new / rs.clamp_min(1e-30))[:, None, None] * p
            rs = rs_new
        beta = beta + _grad(x) - z
    return x


def _extend(y: torch.Tensor, pad: int):
    h, w = y.shape[-2:]
    size = (next_fast_size(h + 2 * pad), next_fast_size(w + 2 * pad))
    rows = symmetric_indices(h, pad, size[0] - h - pad, y.device)
    cols = symmetric_indices(w, pad, size[1] - w - pad, y.device)
    return y.index_select(-2, rows).index_select(-1, cols), size


@torch.no_grad()
def admm_tv_fft(y: torch.Tensor, psf: np.ndarray, lam: float, rho: float = 0.008,
                stages: int = 30, pad: bool = True) -> torch.Tensor:
    """ADMM-TV for a uniform PSF with an exact FFT x-update (periodic on its domain).

    ``pad=True`` first extends ``y`` symmetrically by the PSF size (careful boundaries) and
    crops the result; ``pad=False`` assumes ``y`` itself is periodic ("FFT nopad").
    """
    h, w = y.shape[-2:]
    k = torch.as_tensor(psf, dtype=y.dtype, device=y.device)
    margin = _PAD_FACTOR * max(k.shape) if pad else 0
    yy, size = _extend(y, margin) if pad else (y, (h, w))
    k_hat = centred_spectrum(k, size)
    g = torch.zeros(2, 3, 3, dtype=y.dtype, device=y.device)
    g[0, 1, 0], g[0, 1, 1], g[1, 0, 1], g[1, 1, 1] = 1.0, -1.0, 1.0, -1.0
    g_hat = centred_spectrum(g, size)
    denominator = k_hat.abs() ** 2 + rho * (g_hat.abs() ** 2).sum(0)
    y_hat = torch.fft.rfft2(yy) * k_hat.conj()

    def grad(v):
        return torch.stack([torch.roll(v, -1, -1) - v, torch.roll(v, -1, -2) - v], dim=1)

    x = yy.clone()
    beta = torch.zeros(yy.shape[0], 2, *size, dtype=y.dtype, device=y.device)
    for _ in range(stages):
        z = soft_threshold(grad(x) + beta, lam / rho)
        t_hat = torch.fft.rfft2(z - beta)
        numerator = y_hat + rho * (g_hat.conj() * t_hat).sum(1)
        x = torch.fft.irfft2(numerator / denominator, s=size)
        beta = beta + grad(x) - z
    return x[..., margin : margin + h, margin : margin + w]


@torch.no_grad()
def wiener(y: torch.Tensor, psf: np.ndarray, noise_to_signal: float = 1e-3) -> torch.Tensor:
    """Wiener deconvolution ``conj(K) / (|K|^2 + nsr)`` on a symmetrically extended image."""
    h, w = y.shape[-2:]
    k = torch.as_tensor(psf, dtype=y.dtype, device=y.device)
    margin = _PAD_FACTOR * max(k.shape)
    yy, size = _extend(y, margin)
    k_hat = centred_spectrum(k, size)
    x = torch.fft.irfft2(torch.fft.rfft2(yy) * k_hat.conj() / (k_hat.abs() ** 2 + noise_to_signal),
                         s=size)
    return x[..., margin : margin + h, margin : margin + w]
