"""Accuracy of tolerance mode and of fixed configurations, with their a priori bounds.

The 128 x 128 Neumann wave (speed `0.05 + 0.01 sin(2 pi x) cos(pi y)`, smooth initial
state: two Gaussian bumps), loss `<w, y(1)>` with `w ~ U[0, 1)`, its gradient with
respect to the speed; errors relative to Dopri8 with 400 steps (checked against 532
steps), float64. For every solver: steps, forward matvecs, the state's and the
loss value's and the gradient's relative error, the a posteriori state estimate and the a priori bounds
(`stats["error_bound"]`, `stats["gradient_error_bound"]`).

Run it with `python examples/tolerance_accuracy.py` (about 3 minutes on a 2-core CPU;
`--size 64` for a quicker look).
"""

import argparse

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import pdekrylov as pk  # noqa: E402
from pdekrylov.study import machine_info, relative_error  # noqa: E402

SOLVERS = {
    "pk.Arnoldi(rtol=1e-3)": pk.Arnoldi(rtol=1e-3),
    "pk.Arnoldi(rtol=1e-6)": pk.Arnoldi(rtol=1e-6),
    "pk.Arnoldi(rtol=1e-9)": pk.Arnoldi(rtol=1e-9),
    "pk.Lanczos(rtol=1e-3)": pk.Lanczos(rtol=1e-3),
    "pk.Lanczos(rtol=1e-6)": pk.Lanczos(rtol=1e-6),
    "pk.Lanczos(rtol=1e-9)": pk.Lanczos(rtol=1e-9),
    "pk.Arnoldi(30) (fixed)": pk.Arnoldi(30),
    "pk.Arnoldi(40) (fixed)": pk.Arnoldi(40),
    "pk.Arnoldi(20, substeps=3) (fixed)": pk.Arnoldi(20, substeps=3),
    "pk.Lanczos(8, substeps=4) (fixed)": pk.Lanczos(8, substeps=4),
    "pk.Lanczos(15) (fixed)": pk.Lanczos(15),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="grid points per axis (default 128)")
    args = parser.parse_args(argv)
    grid = pk.Grid((args.size, args.size))
    x = grid.coordinates(jnp.float64)
    speed = 0.05 + 0.01 * jnp.sin(2 * np.pi * x[0]) * jnp.cos(np.pi * x[1])
    u0 = jnp.exp(-((x[0] - 0.4) ** 2 + (x[1] - 0.5) ** 2) / (2 * 0.08**2))
    v0 = 0.5 * jnp.exp(-((x[0] - 0.6) ** 2 + (x[1] - 0.4) ** 2) / (2 * 0.1**2))
    y0 = jnp.stack([u0, v0])
    w = jax.random.uniform(jax.random.PRNGKey(0), y0.shape, jnp.float64)

    def value_and_grad(solver):
        def loss(c):
            solution = pk.solve(pk.WaveOperator(grid, c), y0, 1.0, solver)
            return jnp.vdot(w, solution.ys[-1]), solution.stats

        return jax.jit(jax.value_and_grad(loss, has_aux=True))(speed)

    (value, _), gradient = value_and_grad(pk.Diffrax(diffrax.Dopri8(), steps=400))
    (check, _), check_gradient = value_and_grad(pk.Diffrax(diffrax.Dopri8(), steps=532))
    print(f"machine: {machine_info()}")
    print(f"reference Dopri8 400 steps vs 532: value {relative_error(check, value):.0e}, "
          f"gradient {relative_error(check_gradient, gradient):.0e}\n")
    print("| solver | steps | matvecs | value error | gradient error | state estimate | error bound | gradient bound |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, solver in SOLVERS.items():
        (v, stats), g = value_and_grad(solver)
        print(
            f"| `{name}` | {int(stats['num_steps'])} | {int(stats['num_matvecs'])} | "
            f"{relative_error(v, value):.1e} | {relative_error(g, gradient):.1e} | "
            f"{float(stats['error_estimate'][-1]):.1e} | "
            f"{float(stats['error_bound']):.1e} | {float(stats['gradient_error_bound']):.1e} |"
        )


if __name__ == "__main__":
    main()
