"""A priori error bounds of Krylov approximations of `exp(tau A) v`, and step lengths.

For an operator whose numerical range lies in a known region (`pk.SpectrumBound`), the
error of the depth-m Krylov approximation `||v|| Q exp(tau H) e_1` relative to `||v||` is
bounded by a function of `x = tau * radius` and m alone, for **every** start vector v
(Hochbruck & Lubich 1997, Theorems 2 and 4; Saad 1992, Theorem 4.3 for a disk). That is
what makes them a control for gradients: the backward pass propagates the cotangent, an
arbitrary (typically rough) vector, through the same steps, and the a posteriori estimate
of the forward state says nothing about it.

The gradient needs more than the state: it is the derivative of the approximant, and a
polynomial's error can be small while its derivative's is not (Markov's inequality allows
up to `m^2` times the error for a degree-m polynomial on an interval; for the smooth
error of a converging expansion about `m` times is typical). `gradient_error_bound` is
the state bound times `m`: not a theorem but a model, checked by measurement (README,
*Tolerance mode*: the measured gradient error stayed below it in every configuration of
the study, and exceeded the state bound by up to 3x).

All functions work on JAX scalars inside `jit`; the kind and depth are static.
"""

import math

import jax
import jax.numpy as jnp

from .._spectrum import SPECTRUM_KINDS

#: bisection steps on log(x): x to a relative 2^-40 of its bracket's log-width
_BISECTION_STEPS = 40


def log_error_bound(kind: str, x, depth: int, shift=0.0):
    """`log` of the a priori relative error bound of a depth-`depth` Krylov approximation
    of `exp(tau A) v` with `x = tau * radius` (`inf` where the bound does not apply).

    - `"imaginary"` (Hochbruck–Lubich Thm 4, spectrum in `[-i x, i x]`), for `m >= x`:
      `12 exp(-x^2 / (4m)) (e x / (2m))^m`.
    - `"negative"` (Thm 2, spectrum in `[-x, 0]`, `beta = x / 4`): for `m >= 2 beta`,
      `(10 / beta) exp(-beta) (e beta / m)^m`; for `sqrt(4 beta) <= m < 2 beta`,
      `10 exp(-m^2 / (5 beta))`.
    - `"disk"` (Saad, `||tau (A - mu I)|| <= x`, `shift = tau mu`): `2 x^m exp(x + shift) / m!`
      (the Krylov space of `A - mu I` is that of A; `exp(tau A) = e^{tau mu} exp(tau (A - mu I))`).
    """
    if kind not in SPECTRUM_KINDS:
        raise ValueError(f"kind: expected one of {list(SPECTRUM_KINDS)}, got {kind!r}")
    m = float(depth)
    x = jnp.maximum(jnp.asarray(x), jnp.finfo(jnp.result_type(x, float)).tiny)
    log_x = jnp.log(x)
    if kind == "imaginary":
        value = math.log(12.0) - x**2 / (4 * m) + m * (1 + log_x - math.log(2 * m))
        return jnp.where(m >= x, value, jnp.inf)
    if kind == "negative":
        beta = x / 4
        large_m = math.log(10.0) - jnp.log(beta) - beta + m * (1 + jnp.log(beta) - math.log(m))
        middle = math.log(10.0) - m**2 / (5 * beta)
        value = jnp.where(m >= 2 * beta, large_m, middle)
        return jnp.where(m * m >= x, value, jnp.inf)
    return math.log(2.0) + m * log_x + x + shift - math.lgamma(m + 1)


def error_bound(kind: str, x, depth: int, shift=0.0):
    """The a priori relative error bound of the state (see `log_error_bound`), at most 1e300."""
    return jnp.exp(jnp.minimum(log_error_bound(kind, x, depth, shift), 690.0))


def gradient_error_bound(kind: str, x, depth: int, shift=0.0):
    """The model bound for the gradient: `depth` times `error_bound` (see above)."""
    return jnp.exp(jnp.minimum(log_error_bound(kind, x, depth, shift) + math.log(depth), 690.0))


def step_length(kind: str, radius, depth: int, rtol: float, length, center=0.0):
    """The longest step `tau` whose gradient error bound is at most `rtol * tau / length`.

    The error is controlled per unit time: steps that share `length` in any number
    commit at most `rtol` in all, to first order.

    **Arguments:**

    - `kind`, `radius`, `center`: the operator's `SpectrumBound` (they may be traced).
    - `depth`: the Krylov depth m (static).
    - `rtol`: the relative tolerance over the whole interval.
    - `length`: the interval's length `t1 - t0`.

    **Returns:** `tau`, a scalar (the whole `length` when that already meets the bound).
    """
    radius = jnp.asarray(radius)
    dtype = jnp.result_type(radius, float)
    budget = jnp.log(jnp.asarray(rtol, dtype)) - jnp.log(jnp.maximum(radius * length, jnp.finfo(dtype).tiny))

    ratio = jnp.asarray(center, dtype) / jnp.maximum(radius, jnp.finfo(dtype).tiny)

    def excess(log_x):  # > 0: the step x = exp(log_x) is too long
        x = jnp.exp(log_x)
        return log_error_bound(kind, x, depth, ratio * x) + math.log(depth) - log_x - budget

    m = float(depth)
    # the longest step worth trying: where the bound exceeds 1 for any centre
    high = math.log(4 * m * m if kind == "negative" else (m if kind == "imaginary" else 8 * m))
    low = jnp.asarray(math.log(1e-12), dtype)

    def bisect(_, bracket):
        lo, hi = bracket
        middle = (lo + hi) / 2
        too_long = excess(middle) > 0
        return jnp.where(too_long, lo, middle), jnp.where(too_long, middle, hi)

    lo, _ = jax.lax.fori_loop(0, _BISECTION_STEPS, bisect, (low, jnp.asarray(high, dtype)))
    tau = jnp.exp(lo) / jnp.maximum(radius, jnp.finfo(dtype).tiny)
    return jnp.minimum(tau, length)
