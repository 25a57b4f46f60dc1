"""The rows of the performance table: one typed row per comparison, and its outputs.

Every row compares two things timed in the same run: ours and a peer (another solver,
another library, or our own forward pass), and reports their ratio against a goal.
"""

import dataclasses
from pathlib import Path

from ... import _io
from ..._versions import package_versions
from .._measure import machine_info

CSV_FILE = "bench.csv"


@dataclasses.dataclass(frozen=True, kw_only=True)
class BenchRow:
    """One row of `pdekrylov bench`.

    - `measurement`: what is compared; `setting`: the problem and how it was measured.
    - `ours`, `peer`: the two sides; `*_seconds`, `*_bytes`: their best time and compiled
      memory (None where not measured).
    - `ratio`: ours / peer (None where there is no peer).
    - `goal`: the goal of the ratio, as text ("" if none).
    - `status`: `"met"`, `"not met"`, or `"info"` (no goal).
    - `note`: what else the row found.
    """

    measurement: str
    setting: str = ""
    ours: str = ""
    ours_seconds: float | None = None
    ours_bytes: int | None = None
    peer: str = ""
    peer_seconds: float | None = None
    peer_bytes: int | None = None
    ratio: float | None = None
    goal: str = ""
    status: str = "info"
    note: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status: expected one of {list(STATUSES)}, got {self.status!r}")

    def as_csv(self) -> dict:
        """The row as a CSV record: every column, empty where a value is None."""
        return {name: "" if value is None else value for name, value in dataclasses.asdict(self).items()}


STATUSES = ("met", "not met", "info")
#: the columns of `bench.csv`, in order: the fields of a row
COLUMNS = tuple(field.name for field in dataclasses.fields(BenchRow))


def comparison(measurement, setting, ours, peer, ratio, goal, met, note="", **amounts) -> BenchRow:
    """A row comparing `ours` with `peer`: its `status` says whether the ratio `met` the
    goal (True / False), or is `"info"` where there is no goal (`met` None).

    `amounts`: the `ours_seconds`, `ours_bytes`, `peer_seconds`, `peer_bytes` measured.
    """
    status = "info" if met is None else ("met" if met else "not met")
    return BenchRow(
        measurement=measurement, setting=setting, ours=ours, peer=peer, ratio=ratio, goal=goal,
        status=status, note=note, **amounts,
    )


def format_bench(rows) -> str:
    """The rows as a Markdown table, then the settings and notes as lists.

    **Returns:** the text (times in ms, memory in MB = 1e6 bytes).
    """
    lines = [
        "| measurement | ours | time, memory | peer | time, memory | ratio | goal | status |",
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        ratio = "" if row.ratio is None else f"{row.ratio:.2f}"
        lines.append(
            f"| {row.measurement} | {row.ours} | {_amount(row.ours_seconds, row.ours_bytes)} | "
            f"{row.peer} | {_amount(row.peer_seconds, row.peer_bytes)} | {ratio} | {row.goal} | "
            f"{row.status} |"
        )
    settings = dict.fromkeys(row.setting for row in rows)
    lines += ["", "Settings:", *(f"- {setting}" for setting in settings)]
    notes = [f"- {row.measurement}: {row.note}" for row in rows if row.note]
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def _amount(seconds, size):
    parts = []
    if seconds is not None:
        parts.append(f"{seconds * 1e3:.1f} ms")
    if size is not None:
        parts.append(f"{size / 1e6:.1f} MB")
    return ", ".join(parts)


def save_bench(rows, out, *, force: bool = False, machine: str | None = None) -> Path:
    """Write the rows to `out/bench.csv` atomically (a plain table of the `COLUMNS`), and
    `out/bench.json` beside it with the machine information and package versions.

    **Arguments:**

    - `rows`: `BenchRow`s, from `run_bench`.
    - `out`: the folder (created if missing).
    - `force`: replace an existing file.
    - `machine`: the machine line (default `machine_info()` now).

    **Returns:** the path of the CSV.

    **Raises:** `FileExistsError` if a file exists and not `force`.
    """
    path = Path(out) / CSV_FILE
    machine = machine_info() if machine is None else machine
    metadata = {"machine": machine, "versions": package_versions()}
    _io.write_table(path, COLUMNS, [row.as_csv() for row in rows], metadata, force=force)
    return path
