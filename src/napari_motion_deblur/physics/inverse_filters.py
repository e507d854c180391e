"""Finite-support inverse filters for IRC (paper Eqs. 10-14), computed fast and cached.

For a blur kernel ``k`` and the prior's gradient filters ``g1, g2``, IRC needs filters ``d0, d1,
d2`` of a fixed support with ``d0 * k + d1 * g1 + d2 * g2 ~= delta`` (Eq. 10), written with the rho
weighting of Eq. 5 (data weighted 1, gradients rho). We keep the structure of the least-norm
solution, Eq. 14: ``d_i = w_i K_i^T h`` with one filter ``h ~= (Q Q^T)^-1 delta``, i.e.

    d0 = flip(k) * h,   d1 = rho flip(g1) * h,   d2 = rho flip(g2) * h,
    sum_i d_i * k_i = a * h,   a = flip(k) * k + rho (flip(g1) * g1 + flip(g2) * g2),

and choose ``h`` on a finite support by least squares, ``min ||a * h - delta||^2 + eps ||h||^2``,
solved for many kernels at once by conjugate gradients with FFTs. The structure matters: with
it, IRC is a preconditioned Richardson iteration on the x-update's normal equations, so its fixed
point is the exact least-squares solution whatever the approximation error of ``h`` (when the
data term blurs with the same node kernels; with IRC-Net's exact per-pixel data term it is not:
see ``solver="pcg"`` in :mod:`~napari_motion_deblur.solvers.irc`), and its
iterations contract for every frequency (``0 < a^ h^ <= ~1``). Filters fitted freely to Eq. 10
(without the structure) satisfy it slightly better but bias the fixed point by up to several dB.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .patches import next_fast_size

#: Forward differences along columns and rows (the prior's filters, paper Section 4.2).
GRADIENT_FILTERS = torch.tensor(
    [[[0.0, 0.0, 0.0], [1.0, -1.0, 0.0], [0.0, 0.0, 0.0]],
     [[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 0.0]]]
)
#: Default support (side) of the inverse filters; see benchmarks/inverse_support.py.
DEFAULT_SUPPORT = 41
#: Default ADMM penalty rho (data term weighted 1, gradient coupling weighted rho).
DEFAULT_RHO = 0.008
_EPS = 1e-7
_CACHE_VERSION = 3


def _embed(filters: torch.Tensor, size: int) -> torch.Tensor:
    """Centre odd filters (..., k, k) in a (..., size, size) array (or crop them to it)."""
    k = filters.shape[-1]
    if k > size:
        c = (k - size) // 2
        return filters[..., c : c + size, c : c + size]
    p = (size - k) // 2
    return F.pad(filters, (p, size - k - p, p, size - k - p))


def _centred_at_origin(filters: torch.Tensor, n: int) -> torch.Tensor:
    k = filters.shape[-1]
    return torch.roll(F.pad(filters, (0, n - k, 0, n - k)), (-(k // 2), -(k // 2)), (-2, -1))


def effective_size(kernel: torch.Tensor, tol: float = 1e-7) -> int:
    """Side of the smallest centred odd square holding the kernel's non-zeros (at least 3)."""
    k = kernel.shape[-1]
    rows, cols = torch.nonzero(kernel.abs() > tol, as_tuple=True)
    if len(rows) == 0:
        return 3
    r = int(torch.max(torch.abs(rows - k // 2).max(), torch.abs(cols - k // 2).max()))
    return max(3, 2 * r + 1)


def _solve_same_size(kernels, rho, support, iterations, eps, dtype):
    """Inverse filters for kernels (K, kk, kk) of one effective size; see module docstring."""
    kk = kernels.shape[-1]
    s_h = support - kk + 1
    n = next_fast_size(support + kk - 1)
    g = _embed(GRADIENT_FILTERS.to(dtype), kk)
    k_hat = torch.fft.rfft2(_centred_at_origin(kernels.to(dtype), n))
    g_hat = torch.fft.rfft2(_centred_at_origin(g, n))
    a_hat = k_hat.abs() ** 2 + rho * (g_hat.abs() ** 2).sum(0)  # real, >= 0: a is symmetric
    mask = _centred_at_origin(torch.ones(s_h, s_h, dtype=dtype), n)

    def normal(h):
        return mask * torch.fft.irfft2(torch.fft.rfft2(h) * a_hat**2, s=(n, n)) + eps * h

    rhs = mask * torch.fft.irfft2(a_hat, s=(n, n))  # a * delta, restricted to h's support
    h = torch.zeros_like(rhs)
    r, tiny = rhs.clone(), torch.finfo(dtype).tiny
    p = r.clone()
    rs = (r * r).sum((1, 2))
    for _ in range(iterations):
        ap = normal(p)
        alpha = rs / (p * ap).sum((1, 2)).clamp_min(tiny)
        h = h + alpha[:, None, None] * p
        r = r - alpha[:, None, None] * ap
        rs_new = (r * r).sum((1, 2))
        p = r + (rs_new / rs.clamp_min(tiny))[:, None, None] * p
        rs = rs_new
    h_hat = torch.fft.rfft2(h)
    d_hat = torch.stack([k_hat.conj(), rho * g_hat[0].conj().expand_as(k_hat),
                         rho * g_hat[1].conj().expand_as(k_hat)], 1) * h_hat[:, None]
    d = torch.roll(torch.fft.irfft2(d_hat, s=(n, n)), (support // 2,) * 2, (-2, -1))
    return d[..., :support, :support]


def compute_inverse_filters(
    kernels: torch.Tensor,
    rho: float = DEFAULT_RHO,
    support: int = DEFAULT_SUPPORT,
    iterations: int = 150,
    eps: float = _EPS,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Inverse filters ``(d0, d1, d2)`` for each blur kernel.

    Parameters
    ----------
    kernels : torch.Tensor, shape (K, k, k)
        Odd-sized blur kernels (each summing to 1), centred.
    rho : float
        ADMM penalty: the gradient terms are weighted ``rho`` against the data term.
    support : int
        Odd side of the inverse filters; must exceed every kernel's effective size.
    iterations : int
        Conjugate-gradient iterations.
    eps : float
        Tikhonov weight on ``h``.
    dtype : torch.dtype
        Working precision (float32 is enough; float64 for reference checks).

    Returns
    -------
    torch.Tensor, shape (K, 3, support, support), float32
        ``d0`` acts on the data residual ``y - k * x``; ``d1, d2`` on the gradient residuals.
    """
    if support % 2 == 0:
        raise ValueError(f"support must be odd, got {support}")
    sizes = torch.tensor([effective_size(k) for k in kernels])
    if int(sizes.max()) >= support:
        raise ValueError(f"inverse-filter support {support} must exceed the kernel size "
                         f"{int(sizes.max())}")
    out = torch.empty(len(kernels), 3, support, support)
    for size in sizes.unique().tolist():
        idx = torch.nonzero(sizes == size).squeeze(1)
        group = _embed(kernels[idx], size)
        out[idx] = _solve_same_size(group, rho, support, iterations, eps, dtype).float()
    return out


def identity_error(filters: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Per kernel: ``||sum_i d_i * k_i - delta||_2`` (Eq. 10's residual; 0 for exact inverses)."""
    size = filters.shape[-1] + max(kernels.shape[-1], 3) + 8
    size_k = max(kernels.shape[-1], 3)
    ks = torch.cat([_embed(kernels.float(), size_k)[:, None],
                    _embed(GRADIENT_FILTERS, size_k).expand(len(kernels), 2, size_k, size_k)], 1)
    total = (torch.fft.rfft2(_centred_at_origin(filters.float(), size))
             * torch.fft.rfft2(_centred_at_origin(ks, size))).sum(1)
    residual = torch.fft.irfft2(total, s=(size, size))
    residual[:, 0, 0] -= 1.0
    return residual.flatten(1).norm(dim=1)


# ----------------------------------------------------------------------------- caching
_memory: dict[tuple, torch.Tensor] = {}
_lock = threading.Lock()


def cache_dir() -> Path:
    """Directory of the on-disk filter cache (``$NAPARI_MOTION_DEBLUR_CACHE`` or the XDG cache)."""
    env = os.environ.get("NAPARI_MOTION_DEBLUR_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "napari-motion-deblur"


def _transpose_partners() -> tuple[list[int], list[int]]:
    """Bank indices computed directly, and for each the index of its transposed twin.

    Transposing the image swaps the two gradient filters exactly and maps a streak at angle a to
    one at 90 - a, so the filters of 90 - a are the transposed filters of a with d1 and d2
    swapped: only half of the bank needs solving.
    """
    from .kernels import BANK_ANGLES, BANK_LENGTHS

    n_angles = len(BANK_ANGLES)
    reps, twins = [0], [0]
    for li in range(1, len(BANK_LENGTHS)):
        for ai, a in enumerate(BANK_ANGLES):
            partner = BANK_ANGLES.index(int((90 - a) % 180))
            if ai <= partner:
                reps.append(1 + (li - 1) * n_angles + ai)
                twins.append(1 + (li - 1) * n_angles + partner)
    return reps, twins


def _solve_bank(rho: float, support: int) -> torch.Tensor:
    from .kernels import bank_kernels, bank_size

    reps, twins = _transpose_partners()
    solved = compute_inverse_filters(bank_kernels()[reps], rho, support)
    filters = torch.empty(bank_size(), 3, support, support)
    filters[reps] = solved
    filters[twins] = solved[:, [0, 2, 1]].transpose(-2, -1)
    return filters


def _read_cache(path: Path, shape: tuple[int, ...]) -> torch.Tensor | None:
    """Filters from a cache file, or None when it is missing; raises ValueError when invalid."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            arr, digest = data["filters"], str(data["sha256"][()])
    # The file is outside our control (truncated, another format, flipped bits): whatever
    # numpy or zipfile raise for it (EOFError, BadZipFile, zlib.error, KeyError, ...) means
    # "rebuild", never a failure of the deconvolution that asked for the filters.
    except Exception as err:
        raise ValueError(f"unreadable ({type(err).__name__}: {err})") from err
    if arr.dtype != np.float32 or arr.shape != shape:
        raise ValueError(f"holds {arr.dtype} {arr.shape}, expected float32 {shape}")
    if hashlib.sha256(arr.tobytes()).hexdigest() != digest:
        raise ValueError("checksum mismatch")
    if not np.isfinite(arr).all() or not arr.any():
        raise ValueError("non-finite or all-zero filters")
    return torch.from_numpy(arr)


def _write_cache(path: Path, filters: torch.Tensor) -> None:
    """Write the cache atomically (temporary file + rename); warn, never fail, when it cannot."""
    from .._atomic import atomic_path

    arr = np.ascontiguousarray(filters.numpy(), dtype=np.float32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, filters=arr, sha256=np.array(hashlib.sha256(arr.tobytes()).hexdigest()))
    except OSError as err:
        warnings.warn(f"cannot write the inverse-filter cache {path} ({err}); the filters will be "
                      "rebuilt in every new process. Set NAPARI_MOTION_DEBLUR_CACHE to a "
                      "writable folder.", UserWarning, stacklevel=4)


def bank_inverse_filters(rho: float = DEFAULT_RHO, support: int = DEFAULT_SUPPORT) -> torch.Tensor:
    """Inverse filters of the 511 bank kernels, (511, 3, support, support), cached.

    Computed once (a few seconds on 2 CPU cores), then kept in memory and in :func:`cache_dir`
    as an ``.npz`` of the float32 filters and their SHA-256. A cache file is used only if its
    dtype, shape, checksum and values (finite, not all zero) are right; otherwise it is rebuilt
    with a warning. Writes are atomic (a temporary file renamed into place); a cache that
    cannot be written gives a warning and the filters are used from memory.
    """
    from .kernels import bank_kernels, bank_size

    key = (round(float(rho), 12), int(support))
    with _lock:
        if key in _memory:
            return _memory[key]
        bank = bank_kernels()
        digest = hashlib.sha1(bank.numpy().tobytes()).hexdigest()[:12]
        name = f"inverse-v{_CACHE_VERSION}-rho{key[0]:g}-s{support}-{digest}.npz"
        path = cache_dir() / name
        try:
            filters = _read_cache(path, (bank_size(), 3, support, support))
        except ValueError as err:
            warnings.warn(f"ignoring the invalid inverse-filter cache {path} ({err}); "
                          "rebuilding it.", UserWarning, stacklevel=2)
            filters = None
        if filters is None:
            filters = _solve_bank(rho, support)
            _write_cache(path, filters)
        _memory[key] = filters
        return filters
