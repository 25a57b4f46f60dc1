"""Loss of accuracy of Arnoldi gradients on Hilbert matrices (Krämer et al., NeurIPS 2024).

What is computed: for n = 1 ... 12 (`--max-size`), A is the n x n Hilbert matrix,
A_ij = 1 / (i + j + 1) (0-based), and v is a fixed seeded random start vector
(standard normal, `jax.random.PRNGKey(0)`). Full-depth Arnoldi (depth K = n) of (A, v)
gives Q (n x n) and H with A Q = Q H + r e_n^T, Q^T Q = I. The map

    f(A) = Q H Q^T,    (Q, H) = Arnoldi(A, v, depth=n),

is differentiated with `jax.jacrev`, giving an n^2 x n^2 Jacobian J.

Why J is the identity: at full depth Q is square and orthogonal and the final residual
r is zero in exact arithmetic (here it is rounding noise), so Q H Q^T = Q Q^T A Q Q^T = A
for every A near the Hilbert matrix: f is the identity map and J = I. The "loss of
accuracy" is RMS(I - J) = sqrt(mean((I - J)^2)) over the n^4 entries; it measures how
much rounding error each way of differentiating the Arnoldi iteration amplifies. The
Hilbert matrix is severely ill-conditioned, so the subdiagonal of H decays quickly and
the loss of accuracy grows with n.

The three gradients compared:

- (a) `pdekrylov.arnoldi(..., reproject=True)`: the adjoint system with re-projection;
- (b) `pdekrylov.arnoldi(..., reproject=False)`: the adjoint system without it;
- (c) reverse-mode autodiff through the plain forward loop
  (`pdekrylov.krylov._arnoldi.forward`, a `jax.lax.fori_loop`).

For n = 1 (and whenever the last orthogonalised vector is exactly zero in floating point,
e.g. v = ones(3)), (c) gives nan: its final step takes the square root of an exactly
zero norm, and the VJP of sqrt at 0 multiplies a zero cotangent by infinity. The adjoint
variants do not differentiate that norm and stay finite. Sizes where (c) is nan are
left out of the comparison with (c).

The check line reports whether (a) <= 10 * (c) at every size where (c) is finite (a
factor of 10 allows for the O(1) spread of rounding errors between two methods of the
same accuracy), and whether (a) < (b) at every "large" size, n > max-size / 2.

Run it with `python examples/hilbert_accuracy.py` (option: `--max-size 12`).
"""

import argparse
import math

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import pdekrylov as pk  # noqa: E402
from pdekrylov.krylov._arnoldi import forward  # noqa: E402

TOLERANCE_FACTOR = 10.0
SEED = 0


def hilbert(n: int) -> jax.Array:
    """The n x n Hilbert matrix, A_ij = 1 / (i + j + 1) with 0-based indices."""
    index = jnp.arange(n, dtype=jnp.float64)
    return 1.0 / (index[:, None] + index[None, :] + 1.0)


def start_vector(n: int) -> jax.Array:
    """The fixed start vector: standard normal, seeded."""
    return jax.random.normal(jax.random.PRNGKey(SEED), (n,), dtype=jnp.float64)


def matvec(x, A):
    return A @ x


def decompose_adjoint(reproject: bool):
    """(Q, H) from `pdekrylov.arnoldi` (custom VJP), full depth."""

    def decompose(A, v):
        result = pk.arnoldi(matvec, v, v.size, A, reproject=reproject)
        return result.basis, result.hessenberg

    return decompose


def decompose_backprop(A, v):
    """(Q, H) from the plain forward loop; reverse mode differentiates the loop itself."""
    Qr, H, _, _ = forward(matvec, v.size, v, A)
    return Qr.T, H


VARIANTS = {
    "(a) adjoint + re-projection": decompose_adjoint(reproject=True),
    "(b) adjoint, no re-projection": decompose_adjoint(reproject=False),
    "(c) backprop through loop": decompose_backprop,
}


def reconstruction(decompose, v):
    """The map A -> Q H Q^T, which is the identity near A at full depth."""

    def f(A):
        Q, H = decompose(A, v)
        return Q @ H @ Q.T

    return f


def loss_of_accuracy(decompose, A, v) -> float:
    """RMS(I - J), J the n^2 x n^2 Jacobian of A -> Q H Q^T by `jax.jacrev`."""
    n2 = A.size
    J = jax.jacrev(reconstruction(decompose, v))(A).reshape(n2, n2)
    return float(jnp.sqrt(jnp.mean((jnp.eye(n2) - J) ** 2)))


def study(max_size: int) -> dict[int, dict[str, float]]:
    """The loss of accuracy of every variant, for n = 1 ... max_size."""
    results = {}
    for n in range(1, max_size + 1):
        A, v = hilbert(n), start_vector(n)
        results[n] = {name: loss_of_accuracy(d, A, v) for name, d in VARIANTS.items()}
    return results


def print_table(results):
    names = list(VARIANTS)
    print("| n | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    for n, row in results.items():
        print(f"| {n} | " + " | ".join("%.1e" % row[name] for name in names) + " |")


def print_checks(results, max_size: int):
    a, b, c = VARIANTS
    finite_c = [n for n, row in results.items() if math.isfinite(row[c])]
    nan_c = [n for n in results if n not in finite_c]
    a_vs_c = [n for n in finite_c if results[n][a] > TOLERANCE_FACTOR * results[n][c]]
    large = [n for n in results if n > max_size / 2]
    a_vs_b = [n for n in large if not results[n][a] < results[n][b]]
    print()
    print(
        f"check (a) <= {TOLERANCE_FACTOR:g} * (c) at every n where (c) is finite: "
        + ("holds" if not a_vs_c else f"FAILS at n = {a_vs_c}")
        + f" (strictly (a) <= (c) at {sum(results[n][a] <= results[n][c] for n in finite_c)}"
        + f" of {len(finite_c)} sizes; (c) is nan at n = {nan_c})"
    )
    print(
        f"check (a) < (b) for large n (n = {large[0]} ... {large[-1]}): "
        + ("holds" if not a_vs_b else f"FAILS at n = {a_vs_b}")
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-size", type=int, default=12)
    args = parser.parse_args()
    results = study(args.max_size)
    print(f"Loss of accuracy RMS(I - J), Hilbert matrices, start vector N(0, I) seed {SEED}")
    print()
    print_table(results)
    print_checks(results, args.max_size)


if __name__ == "__main__":
    main()
