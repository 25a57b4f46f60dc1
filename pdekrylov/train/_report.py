"""A run's report files: `metrics.json`, `loss.png`, `coefficient.png` (all atomic)."""

import json

import numpy as np

from .. import _io


def write_metrics(path, metrics: dict):
    """Write `metrics` as indented JSON, atomically (replacing the previous file)."""
    with _io.atomic_path(path, force=True) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))


def write_run_report(out, metrics, problem, grid, true_field, learned_field):
    """Write `metrics.json`, `loss.png` and `coefficient.png` into the run folder `out`."""
    from .. import plot  # matplotlib only when figures are made

    write_metrics(out / "metrics.json", metrics)
    title = f"{problem.name}, {metrics['solver']}"
    _io.save_figure(plot.loss_figure(metrics["history"], title=title), out / "loss.png", force=True)
    true_abs, learned_abs = np.abs(np.asarray(true_field)), np.abs(np.asarray(learned_field))
    if grid.ndim == 2:
        figure = plot.field_panels(
            [true_abs, learned_abs, learned_abs - true_abs],
            ["true |c|", "learned |c|", "learned − true"],
            grid,
            suptitle=f"{title}: coefficient field",
        )
    else:
        figure = plot.line_figure(learned_abs - true_abs, "learned − true |c| (flattened)")
    _io.save_figure(figure, out / "coefficient.png", force=True)
