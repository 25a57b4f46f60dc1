"""The demo's default solver against Diffrax on the demo's own problem, in one run.

`pdekrylov demo` learns the wave speed of the shipped `wave-small` problem with Arnoldi in
tolerance mode (rtol 1e-6, the default). Against the Diffrax baselines the comparison that
counts is at equal gradient accuracy: a few fixed Runge-Kutta steps are cheap but give a
gradient (and a forward model) that is wrong in the third digit. This script measures, on
the demo's dataset and training configuration:

1. the relative error of the training objective's gradient (float64, at the field halfway
   between the demo's start and the truth), against Dopri8 with 200 steps, for the
   default and for Dopri5 + BacksolveAdjoint and Tsit5 + RecursiveCheckpointAdjoint at
   several step counts;
2. the time of one training epoch in float32 (the demo's dtype), all solvers timed
   interleaved, best of `--repeats`;
3. the goal: the default's epoch time over that of the cheapest Diffrax configuration
   whose gradient error is at most `TARGET` (float32's resolution: a training step does
   not see a more accurate gradient) — at most 1;
4. with `--epochs E` (default: the demo's), the field error after training each of the
   default and the configuration the issue tried (Dopri5 + backsolve, 3 steps).

Run it with `python examples/bench_demo.py` (a few minutes on a 2-core CPU).
"""

import argparse

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import pdekrylov as pk  # noqa: E402
from pdekrylov._demo import DEMO_PROBLEM  # noqa: E402
from pdekrylov.study import best_times, machine_info, relative_error  # noqa: E402

TARGET = 1e-6
REFERENCE = dict(solver="dopri8+direct", steps=200)
DIFFRAX_STEPS = (3, 6, 12, 24)
DIFFRAX_METHODS = ("dopri5+backsolve", "tsit5+recursive-checkpoint")


def configurations():
    """Label -> TrainConfig overrides: the default first, then the Diffrax baselines."""
    found = {"arnoldi (default: tolerance mode, rtol 1e-6)": {}}
    for method in DIFFRAX_METHODS:
        for steps in DIFFRAX_STEPS:
            found[f"{method} {steps} steps"] = dict(solver=method, steps=steps)
    return found


def pairs_of(dataset, dtype):
    """The training pairs (the held-out test pairs come first in a dataset)."""
    n = dataset.num_test
    return pk.train.Pairs(
        jnp.asarray(dataset.inputs[n:], dtype), jnp.asarray(dataset.targets[n:], dtype), dataset.mask
    )


def gradient_errors(problem, dataset, configs):
    """Relative gradient error of the training objective per configuration (float64)."""
    pairs = pairs_of(dataset, jnp.float64)
    truth = jnp.asarray(dataset.coefficient, jnp.float64)

    def gradient(overrides):
        training = pk.train.make_training(problem, problem.training.replace(**overrides), jnp.float64)
        start = training.field(training.initial_params)
        params = eqx.tree_at(lambda m: m.values, training.initial_params, 0.5 * (start + truth))
        return eqx.filter_jit(jax.grad(training.objective))(params, pairs).values

    reference = gradient(REFERENCE)
    return {label: relative_error(gradient(overrides), reference) for label, overrides in configs.items()}


def epoch_times(problem, dataset, configs, repeats):
    """Best-of seconds of one float32 training step per configuration, interleaved."""
    pairs = pairs_of(dataset, jnp.float32)
    calls = {}
    for label, overrides in configs.items():
        training = pk.train.make_training(problem, problem.training.replace(**overrides), jnp.float32)
        step, state = eqx.filter_jit(training.step), training.init(training.initial_params)
        calls[label] = lambda step=step, state=state: step(state, pairs)[1]
    return best_times(calls, repeats)


def trained_error(problem, dataset, overrides, epochs):
    """The learned field's relative L2 error after `epochs` float32 epochs."""
    pairs = pairs_of(dataset, jnp.float32)
    training = pk.train.make_training(problem, problem.training.replace(epochs=epochs, **overrides), jnp.float32)
    step, state = eqx.filter_jit(training.step), training.init(training.initial_params)
    for _ in range(epochs):
        state, _, _ = step(state, pairs)
    return relative_error(training.field(state.params), dataset.coefficient)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="training epochs for step 4 (0 skips it)")
    args = parser.parse_args()

    problem = pk.problems.load_problem(DEMO_PROBLEM)
    dataset = pk.data.generate(problem, problem.dataset.size, jax.random.PRNGKey(0))
    configs = configurations()
    print(machine_info())
    print(f"{problem.name}: {problem.grid.shape} grid, {dataset.inputs.shape[0] - dataset.num_test} training pairs")

    errors = gradient_errors(problem, dataset, configs)
    times = epoch_times(problem, dataset, configs, args.repeats)
    print("\n| solver | gradient error (float64) | seconds per epoch (float32) |\n|---|---:|---:|")
    for label in configs:
        print(f"| {label} | {errors[label]:.1e} | {times[label]:.3f} |")

    default = next(iter(configs))
    accurate = [label for label in configs if label != default and errors[label] <= TARGET]
    print(f"\ndefault gradient error {errors[default]:.1e} (target {TARGET:.0e}: float32's resolution)")
    if accurate:
        best = min(accurate, key=times.get)
        ratio = times[default] / times[best]
        verdict = "met" if ratio <= 1 else "not met"
        print(
            f"goal: default <= the cheapest Diffrax with gradient error <= {TARGET:.0e} ({best}: "
            f"{times[best]:.3f} s): {ratio:.2f} ({verdict})"
        )
    else:
        print(f"no Diffrax configuration reached a gradient error <= {TARGET:.0e}")

    epochs = problem.training.epochs if args.epochs is None else args.epochs
    if epochs:
        issue = "dopri5+backsolve 3 steps"
        for label in (default, issue):
            error = trained_error(problem, dataset, configs[label], epochs)
            print(f"after {epochs} epochs, {label}: field error {100 * error:.2f} % (relative L2)")


if __name__ == "__main__":
    main()
