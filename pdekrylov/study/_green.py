"""Analytic traces of a point source in a homogeneous medium, and the checks built on them.

The solution of `u_tt = c² Δu + f(t) δ(x - x_s)` from rest in all of space is the
Green's function convolved with the signal:

- 2D: `u(r, t) = ∫_{r/c}^{t} f(t - s) / (2 π c sqrt(c² s² - r²)) ds` (an integrable
  inverse square root at the wavefront `s = r / c`);
- 3D: `u(r, t) = f(t - r / c) / (4 π c² r)`.

The 2D integral is computed twice, by two substitutions that remove the singularity in
different ways, each with Gauss–Legendre quadrature on the part of the interval where
the signal lives (`support`): `s = (r/c) cosh θ` (integrand `f(t - s) / (2 π c²)` in θ) and
`s = r/c + σ²` (integrand `f(t - s) / (π c sqrt(c (c s + r)))` in σ). Their agreement is
the check of the analytic traces (`analytic_traces_2d(..., check=True)`).

Numbers only (numpy, float64): these are the oracle the solvers are measured against.
"""

import numpy as np


def ricker(t, frequency: float, delay: float, amplitude: float = 1.0):
    """The Ricker wavelet `amplitude (1 - 2 x²) exp(-x²)`, `x = π f0 (t - delay)` (numpy),
    the same function as `pk.Ricker`."""
    x2 = (np.pi * frequency * (np.asarray(t, float) - delay)) ** 2
    return amplitude * (1 - 2 * x2) * np.exp(-x2)


def _gauss_legendre(low, high, nodes):
    x, w = np.polynomial.legendre.leggauss(nodes)
    half = (high - low) / 2
    return low[..., None] + half[..., None] * (x + 1), half[..., None] * w


def analytic_traces_2d(
    distances, times, signal, support, speed: float = 1.0, *, nodes: int = 400, check: bool = False
):
    """The 2D point-source traces `u(r, t)` at each distance and time.

    **Arguments:**

    - `distances`: `(R,)` source-receiver distances (> 0).
    - `times`: `(T,)` times.
    - `signal`: a vectorised function of time (numpy), zero for `t <= 0`, e.g. `ricker`.
    - `support`: `(start, end)`, an interval outside of which the signal is negligible.
    - `speed`: the wave speed c.
    - `nodes`: Gauss–Legendre nodes per integral.
    - `check`: also compute the second quadrature and return the largest difference
      between the two, relative to the largest trace value.

    **Returns:** `(R, T)` traces, or `(traces, difference)` with `check=True`.
    """
    r = np.asarray(distances, float)[:, None]
    t = np.asarray(times, float)[None, :]
    arrival = r / speed
    # the part of [r/c, t] where f(t - s) lives: s in [t - end, t - start]
    low = np.maximum(arrival, t - support[1])
    high = np.maximum(low, t - support[0])
    # theta = acosh(c s / r): from the wavefront on
    theta_low = np.arccosh(np.maximum(speed * low / r, 1.0))
    theta_high = np.arccosh(np.maximum(speed * high / r, 1.0))
    theta, weights = _gauss_legendre(theta_low, theta_high, nodes)
    s = arrival[..., None] * np.cosh(theta)
    traces = np.sum(weights * signal(t[..., None] - s), axis=-1) / (2 * np.pi * speed**2)
    if not check:
        return traces
    sigma_low, sigma_high = np.sqrt(low - arrival), np.sqrt(high - arrival)
    sigma, weights = _gauss_legendre(sigma_low, sigma_high, nodes)
    s = arrival[..., None] + sigma**2
    kernel = 1 / (np.pi * speed * np.sqrt(speed * (speed * s + r[..., None])))
    second = np.sum(weights * kernel * signal(t[..., None] - s), axis=-1)
    difference = np.max(np.abs(traces - second)) / np.max(np.abs(traces))
    return traces, difference


def analytic_traces_3d(distances, times, signal, speed: float = 1.0):
    """The 3D point-source traces `f(t - r/c) / (4 π c² r)`, `(R, T)`."""
    r = np.asarray(distances, float)[:, None]
    return signal(np.asarray(times, float)[None, :] - r / speed) / (4 * np.pi * speed**2 * r)
