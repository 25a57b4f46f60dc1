"""File output: atomic writes (a temporary file or folder beside the target, then a rename)
that keep the user's umask, CSV tables with their metadata in a JSON file beside them, and
progress bars that stay quiet off a terminal."""

import contextlib
import csv
import json
import os
import shutil
import tempfile
from pathlib import Path


def _umask() -> int:
    """The process's umask (reading it means setting it: set it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _allow_umask(path, mode: int):
    """Give `path` the mode a plain `open`/`mkdir` would: `mkstemp` and `mkdtemp` make
    owner-only files, which renamed into place would hide results from collaborators."""
    os.chmod(path, mode & ~_umask())


@contextlib.contextmanager
def atomic_path(path, *, force: bool = False):
    """Yield a temporary path to write; on success rename it to `path`.

    An interrupted or failing write leaves any previous file at `path` untouched and no
    partial file behind. The file gets the permissions the umask allows (`0o666 & ~umask`,
    as for a plain `open`).

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
        _allow_umask(tmp, 0o666)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_folder(path, *, force: bool = False):
    """Yield a temporary folder to fill; on success it replaces the folder `path`.

    An interrupted or failing run leaves any previous folder untouched and no partial
    one behind; an existing folder is swapped out only once the new one is complete. The
    folder gets the permissions the umask allows (`0o777 & ~umask`, as for `mkdir`).

    **Arguments:**

    - `path`: the final folder.
    - `force`: allow replacing an existing folder (else `FileExistsError`, before anything
      is written).

    **Yields:** a `pathlib.Path` beside `path`.
    """
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists (use --force to replace it)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        _allow_umask(tmp, 0o777)
        if path.exists():  # force: swap in the complete new folder, then drop the old
            old = tmp.with_name(f"{tmp.name}.old")  # unique, as tmp's name is
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def metadata_path(path) -> Path:
    """The JSON file holding the metadata of the table `path` (`x.csv` -> `x.json`)."""
    return Path(path).with_suffix(".json")


def write_table(path, columns, rows, metadata: dict, *, force: bool = False):
    """Write a CSV table and, beside it, its metadata as JSON (both atomically).

    The CSV holds only the header and the rows, so `csv.DictReader` and a plain
    `pandas.read_csv` read it as it is; what describes the table (the machine, versions,
    a reference check) goes to `metadata_path(path)`.

    **Arguments:**

    - `path`: the CSV file.
    - `columns`: the column names, in order.
    - `rows`: dicts with those keys.
    - `metadata`: a JSON-ready dict.
    - `force`: replace existing files (else `FileExistsError` before anything is written).

    **Returns:** the two paths `(csv, json)`.
    """
    paths = (Path(path), metadata_path(path))
    if not force:
        for existing in paths:
            if existing.exists():
                raise FileExistsError(f"{existing} exists (use --force to replace it)")
    with atomic_path(paths[0], force=force) as tmp, open(tmp, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    with atomic_path(paths[1], force=force) as tmp:
        tmp.write_text(json.dumps(metadata, indent=2) + "\n")
    return paths


def progress_bar(iterable=None, *, enabled: bool = True, **options):
    """A tqdm progress bar that is shown only when asked for and stderr is a terminal.

    Off a terminal (a log file, a pipe, a batch job) a bar would write a `\\r` update per
    step into the log; tqdm's `disable=None` turns it off there.

    **Arguments:**

    - `iterable`: what to iterate over (or None for a bar updated by hand).
    - `enabled`: False turns the bar off everywhere (`--quiet`, or `progress=False`).
    - `options`: passed to `tqdm` (`total`, `desc`, `unit`, ...).

    **Returns:** a `tqdm` object (a disabled one still supports `update`, `close`, ...).
    """
    from tqdm import tqdm

    return tqdm(iterable, disable=None if enabled else True, **options)


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
