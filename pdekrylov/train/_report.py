"""A run's report files: `metrics.json`, `loss.png`, `coefficient.png` (all atomic)."""

import json

import numpy as np

from .. import _io


def write_metrics(path, metrics: dict):
    """Write `metrics` as indented JSON, atomically (replacing the previous file)."""
    with _io.atomic_path(path, force=True) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2))


def write_run_report(out, metrics, problem, grid, true_field, learned_field, start_field=None):
    """Write `metrics.json`, `loss.png` and `coefficient.png` into the run folder `out`."""
    write_metrics(out / "metrics.json", metrics)
    for name, figure in run_figures(metrics, problem, grid, true_field, learned_field, start_field).items():
        _io.save_figure(figure, out / name, force=True)


def run_figures(metrics, problem, grid, true_field, learned_field, start_field=None) -> dict:
    """A run's figures: `{"loss.png": ..., "coefficient.png": ...}`.

    The coefficient figure shows the true, the starting (when `start_field` is given) and
    the learned field on one colour scale and the learned one's error on a diverging
    scale centred on zero, under the coefficient's name (`|c|` for the wave, whose
    operator sees c² only; `k` for diffusion, signed).
    """
    from .. import plot  # matplotlib only when figures are made

    title = f"{problem.name}, {metrics['solver']}"
    label = problem.pde.coefficient_label()
    loss = plot.loss_figure(metrics["history"], title=title, loss=metrics.get("config", {}).get("loss", "loss"), coefficient=label)
    shown = {"true": true_field, "start": start_field, "learned": learned_field}
    shown = {name: np.asarray(field) for name, field in shown.items() if field is not None}
    if problem.pde.sign_free:
        shown = {name: np.abs(field) for name, field in shown.items()}
    true, learned = shown["true"], shown["learned"]
    if grid.ndim == 2:
        coefficient = plot.field_panels(
            [*shown.values(), learned - true],
            [*(f"{name} {label}" for name in shown), f"learned − true {label}"],
            grid,
            suptitle=f"{title}: coefficient field",
            same_scale=tuple(range(len(shown))),
            diverging=(len(shown),),
        )
    else:
        coefficient = plot.line_figure(learned - true, f"learned − true {label} (flattened)")
    return {"loss.png": loss, "coefficient.png": coefficient}
