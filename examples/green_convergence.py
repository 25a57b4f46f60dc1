"""Point-source traces against the analytic 2D Green's function convolved with a Ricker wavelet.

A Ricker source (f0 = 5, c = 1: wavelength 0.2) in a homogeneous medium on
`[-0.7, 0.7]²`, 12 receivers at offsets 0.5, 0.75 and 1 wavelength in four directions,
traces over `[0, 0.9]` (181 samples), before any boundary reflection arrives. On grids of
12, 24 and 48 points per (peak) wavelength it prints the relative trace error of Arnoldi
in tolerance mode (rtol 1e-5: the time error is far below the stencil's) and of a
leapfrog scheme at the same grid (Courant number 0.5), the observed order, and draws
`examples/figures/traces-green.png`.

Run it with `python examples/green_convergence.py` (about 3 minutes on a 2-core CPU;
`--ppw 12,24` for a quicker look). `--orders 2,4,8`: the same for each spatial order of
the stencil, and `--rule sinc` windowed-sinc sources and receivers (the stencil-order
table of the README:
`python examples/green_convergence.py --orders 2,4,8 --rule sinc --ppw 4,6,8,12 --figure ''`). `--3d`: the same in 3D (`[-0.4, 0.4]³`, receivers at
0.5 and 0.75 wavelengths, traces over `[0, 0.6]`) on grids of 8 and 16 points per
wavelength (33³ and 65³ nodes), against `f(t - r/c) / (4 π c² r)`.
"""

import argparse
import dataclasses

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import pdekrylov as pk  # noqa: E402
from pdekrylov.study import machine_info  # noqa: E402


SETUP_3D = pk.study.GreenSetup(
    source=(0.0123, -0.0071, 0.0049), half_width=0.4, offsets=(0.1, 0.15), angles=(0.0, 45.0), t1=0.6, samples=121,
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ppw", default=None, help="points per wavelength of the grids (default 12,24,48; 3D 8,16)")
    parser.add_argument("--3d", dest="three", action="store_true", help="a 3D medium instead of 2D")
    parser.add_argument("--rtol", type=float, default=1e-5, help="Arnoldi's tolerance")
    parser.add_argument("--orders", default="2", help="spatial orders of the stencil (comma-separated)")
    parser.add_argument("--rule", default="bilinear", help="sources' and receivers' rule: bilinear or sinc")
    parser.add_argument("--figure", default="examples/figures/traces-green.png", help="figure path ('' for none)")
    args = parser.parse_args()
    ppws = [float(p) for p in (args.ppw or ("8,16" if args.three else "12,24,48")).split(",")]
    setup = dataclasses.replace(SETUP_3D if args.three else pk.study.GreenSetup(), rule=args.rule)
    solver = pk.Arnoldi(rtol=args.rtol, max_steps=512)
    print(f"machine: {machine_info()}")
    orders = [int(o) for o in args.orders.split(",")]
    rows = [
        row for order in orders for row in pk.study.green_convergence(ppws, solver, setup=setup, order=order)
    ]
    offsets = " | ".join(f"error at {r / setup.wavelength:g} λ" for r in setup.offsets)
    print(
        "| method | stencil order | points per wavelength | grid | h | time steps | relative trace error | "
        f"observed order | {offsets} | seconds |"
    )
    print("|---|---:|---:|---|---:|---:|---:|---:|" + "---:|" * len(setup.offsets) + "---:|")
    previous = {}
    for row in rows:
        last = previous.get((row.method, row.order))
        observed = "" if last is None else f"{np.log(last.error / row.error) / np.log(row.points_per_wavelength / last.points_per_wavelength):.2f}"
        previous[(row.method, row.order)] = row
        by_offset = " | ".join(f"{e:.2e}" for e in row.error_by_offset)
        label = f"Arnoldi rtol {args.rtol:g}" if row.method == "krylov" else "leapfrog, Courant ≤ 0.5"
        print(
            f"| {label} | {row.order} | {row.points_per_wavelength:g} | {'×'.join(map(str, row.shape))} | "
            f"{row.spacing:.5f} | {row.steps} | {row.error:.2e} | {observed} | {by_offset} | {row.seconds:.1f} |"
        )
    if args.figure and not args.three:
        draw([row for row in rows if row.order == orders[0]], setup, args.figure)
        print(f"wrote {args.figure}")


def draw(rows, setup, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pdekrylov import _io

    analytic, times = setup.analytic(), setup.times()
    columns = [0, len(setup.angles) * (len(setup.offsets) - 1) + 2]  # nearest (0°), farthest (45°)
    coarse = [r for r in rows if r.method == "krylov"][0]
    fine_krylov = [r for r in rows if r.method == "krylov"][-1]
    fine_leapfrog = [r for r in rows if r.method == "leapfrog"][-1]
    fig, axes = plt.subplots(len(columns), 2, figsize=(11, 3.2 * len(columns)), squeeze=False)
    positions = setup.receiver_positions()
    for i, column in enumerate(columns):
        distance = np.linalg.norm(positions[column] - np.asarray(setup.source))
        ax = axes[i, 0]
        ax.plot(times, analytic[:, column], "k", lw=2.5, label="analytic (Green's function * Ricker)")
        ax.plot(times, coarse.traces[:, column], "C1--", label=f"Arnoldi, {coarse.points_per_wavelength:g} ppw")
        ax.plot(times, fine_krylov.traces[:, column], "C0", label=f"Arnoldi, {fine_krylov.points_per_wavelength:g} ppw")
        ax.set_title(f"receiver at {distance / setup.wavelength:.2g} wavelengths")
        ax.set_xlabel("t")
        ax.legend(fontsize=8)
        ax = axes[i, 1]
        for row, style in ((coarse, "C1--"), (fine_krylov, "C0"), (fine_leapfrog, "C2:")):
            label = f"{'Arnoldi' if row.method == 'krylov' else 'leapfrog'}, {row.points_per_wavelength:g} ppw"
            ax.plot(times, row.traces[:, column] - analytic[:, column], style, label=label)
        ax.set_title("difference to the analytic trace")
        ax.set_xlabel("t")
        ax.legend(fontsize=8)
    fig.tight_layout()
    _io.save_figure(fig, path, force=True)


if __name__ == "__main__":
    main()
