"""Atomic file output: write to a temporary file beside the target, then rename."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, *, force: bool = False):
    """Yield a temporary path to write; on success rename it to `path`.

    An interrupted or failing write leaves any previous file at `path` untouched and no
    partial file behind.

    **Arguments:**

    - `path`: the final destination.
    - `force`: allow replacing an existing file. Without it an existing `path` raises
      `FileExistsError` before anything is written.

    **Yields:** a `pathlib.Path` in the same folder (so the rename is atomic).
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists (pass force=True / --force to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def check_writable_folder(folder, name: str = "out"):
    """Refuse, before any work, an output folder that cannot be created or written.

    Nothing is created: the nearest existing ancestor of `folder` must be a folder in
    which a file can be made (tested with a temporary file that is removed at once).

    **Arguments:**

    - `folder`: the output folder (it may not exist yet).
    - `name`: the argument's name for the message (e.g. `--out`).

    **Raises:** `ValueError` naming `name` and the reason.
    """
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{name}: {folder} cannot be a folder: {existing} is a file")
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise ValueError(f"{name}: cannot write in {existing} ({error.strerror or error})") from None


def save_figure(fig, path, *, force: bool = False, dpi: int = 120):
    """Save a matplotlib figure atomically as PNG."""
    with atomic_path(path, force=force) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
