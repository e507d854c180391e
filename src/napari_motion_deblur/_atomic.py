"""Atomic file writes: a temporary file in the target's folder, renamed into place at the end."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes ``target``, on failure it is removed.

    Parameters
    ----------
    target : path
        The final file. Its folder must exist.
    overwrite : bool
        Replace an existing ``target``. Without it an existing ``target`` raises
        ``FileExistsError`` (checked again at the rename, so a file created meanwhile is kept).

    Yields
    ------
    pathlib.Path
        A fresh, empty file next to ``target`` with the same suffix (writers that pick the
        format from the suffix keep working). Readers of ``target`` never see a partial file.
    """
    target = Path(target)
    if not overwrite and target.exists():
        raise FileExistsError(f"{target} exists (pass overwrite to replace it)")
    tmp = _create_temporary(target)
    try:
        yield tmp
        _commit(tmp, target, overwrite)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _create_temporary(target: Path) -> Path:
    # Not tempfile.mkstemp: its files are private (0600), and the renamed result would be too;
    # a plain O_EXCL create gets the permissions any new file gets (0666 minus the umask).
    for _ in range(100):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial{target.suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
    raise FileExistsError(f"cannot create a temporary file next to {target}")


def _commit(tmp: Path, target: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        # A hard link fails if the target appeared since the check: no race can clobber it.
        os.link(tmp, target)
    except FileExistsError:
        raise FileExistsError(f"{target} exists (pass overwrite to replace it)") from None
    except OSError:  # file systems without hard links
        if target.exists():
            raise FileExistsError(f"{target} exists (pass overwrite to replace it)") from None
        os.replace(tmp, target)
        return
    tmp.unlink()
