"""Checkpoint files: one file holding a JSON header and the serialised pytree.

`checkpoint.eqx` starts with one line of JSON (format tag, epoch, configuration, history,
and the sha256 of the payload) followed by the leaves written by
`equinox.tree_serialise_leaves`. Keeping header and leaves in one file means a single
atomic rename updates both: a run interrupted at any moment leaves either the previous
checkpoint or the new one, never a mixture.
"""

import hashlib
import io
import json

import equinox as eqx

from .. import _io

FORMAT = "pdekrylov-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, or from an incompatible run."""


def save_checkpoint(path, tree, header: dict):
    """Write `tree` (any pytree of arrays) and the JSON-ready `header` atomically to `path`."""
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, tree)
    payload = buffer.getvalue()
    header = {"format": FORMAT, **header, "sha256": hashlib.sha256(payload).hexdigest()}
    with _io.atomic_path(path, force=True) as tmp:
        with open(tmp, "wb") as file:
            file.write(json.dumps(header).encode() + b"\n")
            file.write(payload)


def read_header(path) -> dict:
    """The JSON header of a checkpoint file (validated: format tag and payload checksum)."""
    header, _ = _read(path)
    return header


def load_checkpoint(path, like):
    """Read a checkpoint into the structure of `like` (a pytree of the same shapes/dtypes).

    **Returns:** `(tree, header)`.

    **Raises:** `CheckpointError` if the file is missing, truncated, corrupt, or does not
    match `like`.
    """
    header, payload = _read(path)
    try:
        tree = eqx.tree_deserialise_leaves(io.BytesIO(payload), like)
    except Exception as error:  # equinox/numpy raise various errors on mismatched files
        raise CheckpointError(
            f"{path}: does not match this run's model and optimiser ({type(error).__name__}: {error})"
        ) from None
    return tree, header


def _read(path):
    try:
        content = open(path, "rb").read()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no checkpoint to resume from") from None
    line, newline, payload = content.partition(b"\n")
    try:
        header = json.loads(line) if newline else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a pdekrylov checkpoint (corrupt header)")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise CheckpointError(f"{path}: corrupt checkpoint (checksum mismatch)")
    return header, payload
