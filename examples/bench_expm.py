"""Small dense exponentials: `pk.krylov.expm` (Taylor, products only) against
`jax.scipy.linalg.expm` (Padé, a LAPACK solve), batched, and inside the Krylov solvers.

Part 0 is the accuracy table: the worst relative error against a 40-digit mpmath
exponential (needs `mpmath`, in the test extra) around the squaring thresholds.

Part 1 times `exp` of a batch of B matrices of size K x K (K = 10 ... 80, B = 1 ... 64),
jitted, forward and value-and-gradient. The matrices are what the solvers exponentiate:
`tau H` for the Arnoldi Hessenberg matrix H of a 2D wave operator, at times spread so
that `||tau H||_1` runs from ~0.5 to ~40 across the batch (0 to 6 squarings). JAX's
expm takes one matrix, so it is vmapped (as `expm_action` called it before).

Part 2 times what a user sees: `pk.solve` value-and-gradient with Arnoldi (one
decomposition, several save times) and with second-order Lanczos (the 4K x 4K block
exponential), vmapped over a batch of initial states as training does, once with
`pk.krylov.expm` and once with the small exponentials swapped for JAX's.

Run: `python examples/bench_expm.py [--repeats 5] [--quick]`. Prints markdown tables
with the ratio ours / JAX (below 1: ours is faster) and the largest relative difference.
"""

import argparse
import functools

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from pdekrylov.study import best_times, machine_info, max_relative_difference  # noqa: E402

import pdekrylov as pk  # noqa: E402
from pdekrylov.krylov import _funm  # noqa: E402


def jax_expm(matrices):
    """`jax.scipy.linalg.expm` over a leading batch axis (it takes one matrix)."""
    return jax.vmap(jax.scipy.linalg.expm)(matrices)


def wave_operator(n=24):
    grid = pk.Grid((n, n))
    x = grid.coordinates(jnp.float64)
    return pk.WaveOperator(grid, 0.5 + 0.2 * jnp.sin(3 * x[0]) * jnp.cos(2 * x[1]), "neumann")


def hessenberg_batch(size, batch, op):
    """B matrices tau_b H (K = size) with ||tau_b H||_1 spread over [0.5, 40]."""
    rng = np.random.default_rng(0)
    y0 = jnp.asarray(rng.standard_normal(op.state_shape))
    H = pk.arnoldi(lambda y, op: op(y), y0, size, op).hessenberg
    norm = float(jnp.max(jnp.sum(jnp.abs(H), axis=0)))
    taus = np.geomspace(0.5, 40.0, batch) / norm if batch > 1 else np.array([8.0 / norm])
    return jnp.asarray(taus)[:, None, None] * H


def accuracy_table(seeds=4, size=8):
    """Worst relative 1-norm error against a 40-digit mpmath exponential, per norm and
    matrix kind, for ours, JAX's expm and scipy's expm."""
    import mpmath
    import scipy.linalg

    def exact(M):
        with mpmath.workdps(40):
            return np.array(mpmath.expm(mpmath.matrix(M.tolist()), method="taylor").tolist(), float)

    def error(E, reference):
        return np.abs(E - reference).sum(0).max() / np.abs(reference).sum(0).max()

    implementations = {
        "ours": jax.jit(pk.krylov.expm),
        "jax.scipy": jax.jit(jax.scipy.linalg.expm),
        "scipy": scipy.linalg.expm,
    }
    print(f"| norm ‖A‖₁ | matrices ({seeds} seeds, {size}x{size}) | ours | jax.scipy.linalg.expm | scipy.linalg.expm |")
    print("|---:|---|---:|---:|---:|")
    for norm in (1.09, 5.38, 10.75, 21.5, 43.0):
        for kind in ("gaussian", "symmetric", "skew", "hessenberg"):
            worst = dict.fromkeys(implementations, 0.0)
            for seed in range(seeds):
                M = np.random.default_rng(seed).standard_normal((size, size))
                M = {"symmetric": M + M.T, "skew": M - M.T, "hessenberg": np.triu(M, -1)}.get(kind, M)
                M = M / np.abs(M).sum(0).max() * norm
                reference = exact(M)
                for name, f in implementations.items():
                    worst[name] = max(worst[name], error(np.asarray(f(jnp.asarray(M))), reference))
            print(f"| {norm} | {kind} | " + " | ".join(f"{worst[n]:.1e}" for n in implementations) + " |")
    lambdas = np.linspace(-43.0, 10.7, 397)
    scalars = jnp.asarray(lambdas)[:, None, None]
    row = []
    for name, f in implementations.items():
        values = np.array([np.asarray(f(np.asarray(m)))[0, 0] for m in scalars])
        row.append(f"{np.max(np.abs(values / np.exp(lambdas) - 1)):.1e}")
    print("| λ ∈ [-43, 10.7] | exp(λ) (1x1), 397 values | " + " | ".join(row) + " |\n")


def time_matrix_exponentials(sizes, batches, repeats):
    op = wave_operator()
    print("| K | batch | ours fwd (ms) | JAX fwd (ms) | ratio | ours value+grad (ms) | "
          "JAX value+grad (ms) | ratio | max rel. diff |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        for batch in batches:
            M = hessenberg_batch(size, batch, op)
            W = jnp.asarray(np.random.default_rng(1).standard_normal(M.shape))
            functions = {"ours": pk.krylov.expm, "jax": jax_expm}
            forward = {name: jax.jit(f) for name, f in functions.items()}
            gradient = {
                name: jax.jit(jax.value_and_grad(lambda M, f=f: jnp.sum(W * f(M))))
                for name, f in functions.items()
            }
            calls = {}
            for name in functions:
                calls[f"{name} fwd"] = functools.partial(forward[name], M)
                calls[f"{name} grad"] = functools.partial(gradient[name], M)
            best = best_times(calls, repeats)
            difference = max_relative_difference(forward["ours"](M), forward["jax"](M))
            print(
                f"| {size} | {batch} | {1e3 * best['ours fwd']:.3f} | {1e3 * best['jax fwd']:.3f} | "
                f"{best['ours fwd'] / best['jax fwd']:.2f} | {1e3 * best['ours grad']:.3f} | "
                f"{1e3 * best['jax grad']:.3f} | {best['ours grad'] / best['jax grad']:.2f} | "
                f"{difference:.1e} |",
                flush=True,
            )


def time_solvers(repeats, quick):
    """pk.solve value+grad, vmapped over initial states, with either small exponential."""
    n, pairs = (16, 4) if quick else (32, 16)
    op = wave_operator(n)
    rng = np.random.default_rng(2)
    y0s = jnp.asarray(rng.standard_normal((pairs, *op.state_shape)))
    saveat = np.linspace(0.1, 1.0, 10)
    cases = {
        "Arnoldi depth 30 x 4 substeps": pk.Arnoldi(30, 4),
        "Lanczos (second order) depth 15 x 4 substeps": pk.Lanczos(15, 4),
    }
    print(f"\n| solver ({n}x{n} wave, {pairs} initial states, 10 save times) | ours (ms) | "
          "JAX expm (ms) | ratio | max rel. diff |")
    print("|---|---:|---:|---:|---:|")
    for label, solver in cases.items():
        def loss(op, solver=solver):
            ys = jax.vmap(lambda y0: pk.solve(op, y0, 1.0, solver, saveat=saveat).ys)(y0s)
            return jnp.sum(ys**2)

        ours = jax.jit(jax.value_and_grad(loss))
        ours_result = ours(op)
        # the same program with the small exponentials swapped for JAX's (traced anew)
        original = _funm.expm
        _funm.expm = jax_expm
        try:
            theirs = jax.jit(jax.value_and_grad(loss))
            theirs_result = theirs(op)
        finally:
            _funm.expm = original
        best = best_times({"ours": lambda: ours(op), "jax": lambda: theirs(op)}, repeats)
        difference = max_relative_difference(ours_result[1].speed, theirs_result[1].speed)
        print(f"| {label} | {1e3 * best['ours']:.1f} | {1e3 * best['jax']:.1f} | "
              f"{best['ours'] / best['jax']:.2f} | {difference:.1e} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer sizes, a smaller solve")
    args = parser.parse_args()
    print(machine_info())
    accuracy_table()
    sizes, batches = ((10, 40), (1, 16)) if args.quick else ((10, 20, 40, 80), (1, 8, 64))
    time_matrix_exponentials(sizes, batches, args.repeats)
    time_solvers(args.repeats, args.quick)


if __name__ == "__main__":
    main()
