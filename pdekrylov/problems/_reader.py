"""Reading problems: a TOML file (or stored metadata) into a validated `Problem`.

This is the edge where strings become objects. The rules are the specs': the keys a
section takes are its spec's fields (the grid's: `Grid`'s arguments), the defaults and
checks are the spec's, and `kind` is looked up in the spec registries. The reader knows
which sections there are and which may be left out, and adds file and key to every error.
"""

import dataclasses
import difflib
import importlib.util
import inspect
import tomllib
from pathlib import Path

from .._grid import Grid
from ._problem import Problem
from ._specs import (
    FIELDS,
    PDES,
    DatasetSpec,
    ObservationSpec,
    ReceiversSpec,
    ReferenceSpec,
    SourcesSpec,
    TimeSpec,
)


class ProblemError(ValueError):
    """A problem file that is missing, malformed, or has a bad value (names file and key)."""


def _shipped_problems_dir() -> Path:
    """The folder of the shipped problems: the repository's `problems/`, installed as the
    package `pdekrylov.shipped_problems`."""
    try:
        spec = importlib.util.find_spec("pdekrylov.shipped_problems")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "problems"  # a source checkout


PROBLEMS_DIR = _shipped_problems_dir()

#: the sections of a problem file: the spec, or registry of specs by `kind`. A section
#: whose keys all have defaults may be left out (`_is_optional`).
_SECTIONS = {
    "grid": Grid,
    "pde": PDES,
    "coefficient": FIELDS,
    "initial": FIELDS,
    "time": TimeSpec,
    "reference": ReferenceSpec,
    "observation": ObservationSpec,
    "dataset": DatasetSpec,
    "training": None,  # pk.train.TrainConfig: the layer above, looked up when read
    "sources": SourcesSpec,
    "receivers": ReceiversSpec,
}
#: sections that may be absent (then None): a problem has either initial states or
#: sources and receivers (`Problem` checks which)
_MAY_BE_ABSENT = ("initial", "sources", "receivers")
#: the default `kind` of sections that have several
_DEFAULT_KIND = {"coefficient": "grf", "initial": "grf"}


def resolve_path(name_or_path) -> Path:
    """A problem path as given, or the shipped problem of that name."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return path
    return PROBLEMS_DIR / f"{name_or_path}.toml"


def load_problem(name_or_path) -> Problem:
    """Read and validate a problem file.

    **Arguments:**

    - `name_or_path`: a path to a `.toml` file, or the name of a shipped problem
      (e.g. `"wave-small"` for `problems/wave-small.toml`).

    **Returns:** a `Problem`.

    **Raises:** `ProblemError` (a `ValueError`) naming the file and the key.
    """
    path = resolve_path(name_or_path)
    if not path.is_file():
        shipped = sorted(p.stem for p in PROBLEMS_DIR.glob("*.toml"))
        close = difflib.get_close_matches(str(name_or_path), shipped, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ProblemError(f"{path}: no such problem file ({hint}shipped problems: {', '.join(shipped)})")
    try:
        table = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProblemError(f"{path}: not valid TOML: {error}") from None
    return problem_from_dict(table, where=str(path), default_name=path.stem, path=str(path), stored=False)


def problem_from_dict(
    table: dict, *, where: str, default_name: str = "problem", path=None, stored: bool = True
) -> Problem:
    """A `Problem` from the tables of a problem file, or from `Problem.as_dict()`.

    **Arguments:**

    - `table`: the sections as dicts (None values count as not given: stored metadata
      writes the fields a spec leaves unset as null).
    - `where`: the file named in errors.
    - `default_name`: the name when `table` has none.
    - `path`: the path recorded in the problem (default: the stored one, if any).
    - `stored`: `table` is stored metadata, which may record the problem's `path`
      (a problem file may not).

    **Raises:** `ProblemError` naming `where` and the key.
    """
    if not isinstance(table, dict):
        raise ProblemError(f"{where}: expected a table of sections, got {type(table).__name__}")
    table = _without_nulls(table)
    _reject_unknown(table, {"name", "description", *_SECTIONS, *(("path",) if stored else ())}, where, "")
    sections = {}
    for name, spec in _SECTIONS.items():
        if name not in table and name in _MAY_BE_ABSENT:
            sections[name] = None
            continue
        if name not in table and not _is_optional(name, spec):
            raise ProblemError(f"{where}: {name}: missing section")
        section = table.get(name, {})
        if not isinstance(section, dict):
            raise ProblemError(f"{where}: {name}: expected a table [{name}], got {type(section).__name__}")
        sections[name] = _build_section(name, spec, section, where)
    values = {"name": table.get("name", default_name), "description": table.get("description", "")}
    try:
        return Problem(**values, **sections, path=path if path is not None else table.get("path"))
    except (TypeError, ValueError) as error:
        raise ProblemError(f"{where}: {error}") from None


def _section_spec(spec):
    """The spec of a section (the training section's is looked up in the layer above)."""
    if spec is None:
        from ..train import TrainConfig

        return TrainConfig
    return spec


def _is_optional(name, spec) -> bool:
    """Whether the section may be left out: every key, `kind` included, has a default."""
    spec = _section_spec(spec)
    if isinstance(spec, dict):
        if name not in _DEFAULT_KIND:
            return False
        spec = spec[_DEFAULT_KIND[name]]
    return not _keys(spec)[1]


def _keys(spec):
    """`(names, required names)` of the keys a spec takes."""
    if spec is Grid:  # the grid validates itself; its keys are its __init__'s arguments
        parameters = list(inspect.signature(Grid.__init__).parameters.values())[1:]
        return ({p.name for p in parameters}, {p.name for p in parameters if p.default is inspect.Parameter.empty})
    fields = [f for f in dataclasses.fields(spec) if f.init]
    required = {
        f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    return {f.name for f in fields}, required


def _build_section(name, spec, section, where):
    """One section: its spec (chosen by `kind` where there are several) from its keys."""
    prefix = f"{name}."
    spec = _section_spec(spec)
    if isinstance(spec, dict):  # a registry: the section's kind chooses the spec
        section = dict(section)
        kind = section.pop("kind", _DEFAULT_KIND.get(name))
        if kind is None:
            raise ProblemError(f"{where}: {prefix}kind: missing (one of {list(spec)})")
        if not isinstance(kind, str) or kind not in spec:
            raise ProblemError(f"{where}: {prefix}kind: expected one of {list(spec)}, got {kind!r}")
        spec = spec[kind]
    return _build(spec, section, where, prefix)


def _build(spec, section, where, prefix):
    """`spec(**section)`, with unknown and missing keys and the spec's own errors
    reported as `where: prefix + key: message`."""
    names, required = _keys(spec)
    _reject_unknown(section, names, where, prefix)
    for name in sorted(required - set(section)):
        raise ProblemError(f"{where}: {prefix}{name}: missing")
    for name, registry in getattr(spec, "nested", {}).items():  # subtables: [sources.layout]
        if isinstance(section.get(name), dict):
            section = {**section, name: _build_section(f"{prefix}{name}", registry, section[name], where)}
    try:
        return spec(**section)
    except (TypeError, ValueError) as error:
        raise ProblemError(f"{where}: {prefix}{error}") from None


def _reject_unknown(table, names, where, prefix):
    for key in sorted(set(table) - set(names)):
        close = difflib.get_close_matches(key, sorted(names), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of {sorted(names)})"
        raise ProblemError(f"{where}: {prefix}{key}: unknown key{hint}")


def _without_nulls(value):
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value
