"""Arnoldi and its adjoint against matfree 0.6.3, at several depths (a driver over
`pk.study.bench`).

For every depth K the `adjoint` measurement of `pdekrylov bench` runs: the objective
`<w, exp(A) y0>` from a depth-K Arnoldi decomposition of the 128 x 128 Neumann wave
operator (N = 32768, float64), value and gradient with respect to the speed field, by
pdekrylov (`pk.arnoldi` + `pk.expm_action`) and by matfree (`decomp.hessenberg` with its
custom VJP, then the same small exponential), timed interleaved in one run. Each depth
gives two rows: value+grad over forward (the adjoint's cost), and pdekrylov over matfree
(with the compiled memory of both and how far their gradients agree).

`--profile` adds `measure_adjoint_profile` at `--profile-depth`: one value+grad broken
into the K matvecs, the orthogonalisation and the backward pass, per library.

Run it with `python examples/bench_krylov.py` (needs `pip install ".[bench]"` for matfree;
options: `--depths 10 20 50 100`, `--repeats 5`, `--size 128`, `--profile`,
`--profile-depth 50`).
"""

import argparse
import dataclasses

import jax

jax.config.update("jax_enable_x64", True)

from pdekrylov.study import bench, machine_info  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[10, 20, 50, 100],
                        help="Krylov depths K (default 10 20 50 100)")
    parser.add_argument("--repeats", type=int, default=5, help="best-of-n timing (default 5)")
    parser.add_argument("--size", type=int, default=128, help="grid points per axis (default 128)")
    parser.add_argument("--profile", action="store_true", help="also profile one value+grad")
    parser.add_argument("--profile-depth", type=int, default=50, help="depth of the profile (default 50)")
    args = parser.parse_args(argv)

    problem = bench.wave_problem(args.size)
    print(f"machine: {machine_info(('jax', 'matfree', 'pdekrylov'))}\n")
    rows = []
    for depth in args.depths:
        rows += [
            dataclasses.replace(row, measurement=f"K = {depth}: {row.measurement}")
            for row in bench.measure_adjoint(problem, depth, args.repeats)
        ]
    if args.profile:
        rows += bench.measure_adjoint_profile(problem, args.profile_depth, args.repeats)
    print(bench.format_bench(rows))


if __name__ == "__main__":
    main()
