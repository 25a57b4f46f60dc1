"""Figures a scientist can trust: shared colour scales, diverging error maps centred on
zero, the domain's aspect ratio, the coefficient's own name, the sensor mask, work-precision
axes not stretched by diverged rows, labelled axes."""

import dataclasses

import jax
import numpy as np
import pytest
from test_outputs import TINY

from pdekrylov import Grid, data, plot, study, train
from pdekrylov.problems import load_problem
from pdekrylov.train import _report


def images(figure):
    return [image for ax in figure.axes for image in ax.get_images()]


def test_field_panels_share_scales_and_centre_errors():
    grid = Grid((12, 10), upper=(1.2, 1.0))
    true, learned = np.linspace(0.2, 1.0, 120).reshape(12, 10), np.full((12, 10), 1.5)
    figure = plot.field_panels([true, learned, learned - true], ["t", "l", "e"], grid, same_scale=(0, 1), diverging=(2,))
    first, second, error = images(figure)
    assert first.get_clim() == second.get_clim() == (0.2, 1.5)
    low, high = error.get_clim()
    assert low == -high == -np.max(np.abs(learned - true)) and error.get_cmap().name == plot.DIVERGING_CMAP
    for ax in figure.axes[:3]:  # the field axes (the others are colour bars)
        assert ax.get_aspect() == 1.0 and ax.get_data_ratio() == pytest.approx(1.2)


def test_workprecision_axes_ignore_diverged_rows_but_mark_them():
    row = study.WorkPrecisionRow(solver="euler", level=1, matvecs=10, seconds=0.1, value_error=1e-3,
                                 gradient_error=1e-3, resolved=True, value=1.0)
    rows = [row, dataclasses.replace(row, level=2, matvecs=20, value_error=1e-5, gradient_error=1e-5),
            dataclasses.replace(row, level=4, matvecs=15, value_error=1e150, gradient_error=1e150, diverged=True)]
    figure = plot.workprecision_figure(rows)
    for ax in figure.axes:
        assert ax.get_ylim()[1] < 1.0  # not stretched to 1e150
        assert "diverged (off scale)" in ax.get_legend_handles_labels()[1]


@pytest.fixture(scope="module")
def diffusion_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("figures")
    path = folder / "tiny-diffusion.toml"
    text = TINY.replace('kind = "wave"', 'kind = "diffusion"').replace('noise_std = 0.0', 'mask = "random"\nfraction = 0.5')
    path.write_text(text.replace("transform = \"abs\"\n", "").replace("t1 = 0.5", "t1 = 0.05").replace(
        "observation_times = [0.5]", "observation_times = [0.05]"))
    problem = load_problem(path)
    dataset = data.generate(problem, 3, jax.random.PRNGKey(0))
    result = train.fit(problem, dataset, epochs=2)
    return problem, dataset, result


def test_coefficient_figure_names_k_and_keeps_its_sign(diffusion_run):
    problem, dataset, result = diffusion_run
    assert problem.pde.coefficient_label() == "k" and load_problem("wave-small").pde.coefficient_label() == "|c|"
    calls = _report.run_figures(result.metrics, problem, dataset.grid, dataset.coefficient, result.model(dataset.grid))
    titles = [ax.get_title() for ax in calls["coefficient.png"].axes]
    assert "true k" in titles and "learned k" in titles and not any("|" in title for title in titles)
    true, learned, _ = images(calls["coefficient.png"])
    assert true.get_clim() == learned.get_clim()
    loss_ax = calls["loss.png"].axes[0]
    assert loss_ax.get_ylabel() == "loss (relative-mse)" and loss_ax.get_xlabel() == "epoch"


def test_samples_show_the_sensor_mask(diffusion_run):
    _, dataset, _ = diffusion_run
    figure = data._samples_figure(dataset)
    titles = [ax.get_title() for ax in figure.axes]
    observed = int(dataset.mask.sum())
    assert f"sensor mask ({observed} of {dataset.mask.size} nodes)" in titles and 0 < observed < dataset.mask.size
    assert titles[0] == "true coefficient k"
