"""Figures of fields and states on 2D grids."""

import numpy as np
from matplotlib.figure import Figure  # no pyplot: works with any backend, no display
from matplotlib.ticker import NullFormatter

#: the colour map of signed quantities (errors, states): white at zero
DIVERGING_CMAP = "RdBu_r"


def field_panels(fields, titles, grid, *, suptitle=None, cmap="viridis", same_scale=(), diverging=()):
    """Plot several 2D grid fields side by side, each with a colour bar, drawn to the
    domain's aspect ratio.

    **Arguments:**

    - `fields`: sequence of arrays of the (2D) grid's shape.
    - `titles`: one title per field.
    - `grid`: the `pdekrylov.Grid` they live on (for the axis extent).
    - `suptitle`: an optional figure title.
    - `cmap`: the colour map of the panels not in `diverging`.
    - `same_scale`: indices of panels drawn on one colour scale (e.g. a true and a learned
      field, so that equal colours mean equal values).
    - `diverging`: indices of panels of signed quantities (errors, states), drawn on a
      diverging map centred on zero, each symmetric about it.

    **Returns:** the matplotlib figure.
    """
    if grid.ndim != 2:
        raise ValueError(f"grid: field_panels plots 2D grids, got {grid.ndim}D")
    fields = [np.asarray(field) for field in fields]
    shared = [fields[i] for i in same_scale]
    shared_limits = (min(map(np.min, shared)), max(map(np.max, shared))) if shared else None
    extent = (grid.lower[1], grid.upper[1], grid.lower[0], grid.upper[0])
    fig = Figure(figsize=(3.6 * len(fields), 3.2))
    axes = fig.subplots(1, len(fields), squeeze=False)
    for i, (ax, field, title) in enumerate(zip(axes[0], fields, titles)):
        if i in diverging:
            bound = float(np.max(np.abs(field))) or 1.0
            options = {"cmap": DIVERGING_CMAP, "vmin": -bound, "vmax": bound}
        elif i in same_scale:
            options = {"cmap": cmap, "vmin": shared_limits[0], "vmax": shared_limits[1]}
        else:
            options = {"cmap": cmap}
        # aspect "equal": one unit of x₀ is as long as one of x₁ (a 1.2 x 1 box is not square)
        image = ax.imshow(field, origin="lower", extent=extent, aspect="equal", **options)
        ax.set_title(title)
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₀")
        fig.colorbar(image, ax=ax, shrink=0.8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def line_figure(values, title):
    """A single line plot of `values` (used for fields on 1D or 3D grids, flattened)."""
    fig = Figure(figsize=(5, 3))
    ax = fig.subplots()
    ax.plot(np.asarray(values).ravel())
    ax.set_title(title)
    return fig


def loss_figure(history, *, title="training", loss="loss", coefficient="c"):
    """Train loss per epoch and, where evaluated, test loss and parameter error (log scale).

    **Arguments:**

    - `history`: the `history` list of a run's `metrics.json` (dicts with `epoch`,
      `train_loss`, and optionally `test_loss`, `parameter_rmse`).
    - `title`: the figure's title.
    - `loss`: the loss's name, for the axis label (e.g. `"relative-mse"`).
    - `coefficient`: the coefficient's label (e.g. `"|c|"`, `"k"`).

    **Returns:** the matplotlib figure.
    """
    fig = Figure(figsize=(9, 3.4))
    loss_ax, parameter_ax = fig.subplots(1, 2)
    loss_ax.semilogy([h["epoch"] for h in history], [h["train_loss"] for h in history], label="train")
    metric = f"relative MSE of {coefficient}"
    for ax, key, label in ((loss_ax, "test_loss", "test"), (parameter_ax, "parameter_rmse", f"paper's metric: {metric}")):
        points = [(h["epoch"], h[key]) for h in history if key in h]
        if points:
            ax.semilogy(*zip(*points), marker=".", label=label)
    loss_ax.set_title(f"{title}: loss")
    loss_ax.set_ylabel(f"loss ({loss})")
    parameter_ax.set_title(f"parameter error ({metric})")
    parameter_ax.set_ylabel(metric)
    for ax in (loss_ax, parameter_ax):
        ax.set_xlabel("epoch")
        if ax.get_legend_handles_labels()[0]:  # a run without evaluations has no error curve
            ax.legend()
    fig.tight_layout()
    return fig


def workprecision_figure(rows):
    """The paper's four work-precision panels: value / gradient error against time and matvecs.

    **Arguments:**

    - `rows`: the `pk.study.WorkPrecisionRow`s of `pk.study.workprecision`.

    **Returns:** the matplotlib figure.
    """
    fig = Figure(figsize=(10, 7.5))
    axes = fig.subplots(2, 2)
    solvers = list(dict.fromkeys(row.solver for row in rows))
    panels = (("seconds", "value_error"), ("matvecs", "value_error"),
              ("seconds", "gradient_error"), ("matvecs", "gradient_error"))
    # an exact zero error is drawn at this floor (below float64 rounding), not dropped, and
    # not at the smallest float, which would stretch the axis over 300 empty decades
    floor = 1e-17
    if not rows:
        raise ValueError("rows: nothing to plot")
    for ax, (work, error) in zip(axes.ravel(), panels):
        for solver in solvers:
            # diverged rows would stretch the axes over meaningless errors
            points = [
                (getattr(row, work), max(getattr(row, error), floor))
                for row in rows if row.solver == solver and not row.diverged
            ]
            if not points:
                continue
            ax.loglog(*zip(*points), marker="o", markersize=3, label=solver)
        _mark_diverged(ax, [getattr(row, work) for row in rows if row.diverged])
        ax.set_xlabel("wall time of value and gradient (s)" if work == "seconds" else "forward matvecs")
        ax.set_ylabel(f"relative {error.replace('_', ' ')}")
        ax.grid(True, which="major", alpha=0.3)
        ax.xaxis.set_minor_formatter(NullFormatter())  # labels at every minor tick overlap
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _mark_diverged(ax, work):
    """Mark diverged rows at their work on the top edge of `ax`, without moving its limits
    (their errors are meaningless and would stretch the axis over empty decades)."""
    if not work:
        return
    limits = ax.get_xlim(), ax.get_ylim()
    ax.plot(work, [limits[1][1]] * len(work), "kx", clip_on=False, label="diverged (off scale)")
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])


def traces_figure(dataset, count: int = 3):
    """A trace dataset: the true coefficient with the shots' sources and the receivers
    (2D grids), and the traces of a few shots as images (time down, receiver across).

    **Arguments:**

    - `dataset`: a `pk.data.Dataset` of traces (targets `(shots, times, receivers)`).
    - `count`: how many shots to show.

    **Returns:** the matplotlib figure.
    """
    shots = min(count, len(dataset.targets))
    fig = Figure(figsize=(3.6 * (shots + 1), 3.4))
    axes = fig.subplots(1, shots + 1, squeeze=False)[0]
    grid, times = dataset.grid, np.asarray(dataset.times)
    problem = dataset.metadata.get("problem", {})
    if grid.ndim == 2:
        extent = (grid.lower[1], grid.upper[1], grid.lower[0], grid.upper[0])
        image = axes[0].imshow(np.asarray(dataset.coefficient), origin="lower", extent=extent)
        sources = np.asarray(dataset.inputs)[:, 0, :]
        axes[0].plot(sources[:, 1], sources[:, 0], "r*", label="sources")
        receivers = _layout_points(problem.get("receivers", {}).get("layout"))
        if receivers is not None:
            axes[0].plot(receivers[:, 1], receivers[:, 0], "w.", markersize=3, label="receivers")
        axes[0].legend(fontsize=7, loc="upper right")
        fig.colorbar(image, ax=axes[0], shrink=0.8)
    else:
        axes[0].plot(np.asarray(dataset.coefficient).ravel())
    axes[0].set_title("true speed c")
    for i, ax in enumerate(axes[1:]):
        traces = np.asarray(dataset.targets[i])
        scale = np.max(np.abs(traces)) or 1.0
        ax.imshow(traces, aspect="auto", cmap="seismic", vmin=-scale, vmax=scale,
                  extent=(0, traces.shape[1], times[-1], times[0]))
        ax.set_title(f"shot {i}: traces")
        ax.set_xlabel("receiver")
        ax.set_ylabel("t")
    fig.tight_layout()
    return fig


def _layout_points(layout):
    """The points of a stored `[receivers.layout]` table, or None."""
    if not layout:
        return None
    from .problems import LAYOUTS

    spec = LAYOUTS[layout["kind"]](**{k: v for k, v in layout.items() if k != "kind" and v is not None})
    return spec.positions()
