"""Forcing of `y' = A y + b(t)`: time signals injected by linear source terms.

`b(t) = Σ_s g_s f_s(t)`: a `Forcing` pairs sources (a linear map from one amplitude per
source to a source density: `sources.inject(a) = Σ_s a_s g_s`) with a signal (`f(t)`,
one value per source). The operator embeds a density in its state
(`operator.source_term`: the wave equation's source enters the `u_t` equation). Nothing
here knows grids: point sources on a grid are `pk.PointSources` (`_sources.py`);
`DenseSources` takes the vectors `g_s` as they are.

What the solvers need of a signal besides its values: `derivative_bound(order)`, a bound
on `max_t |f^(order)(t)|`, from which tolerance mode chooses steps that resolve the
signal (a polynomial of `Forcing.order` coefficients per Krylov step; its Chebyshev
interpolation error is `2 (tau/4)^p max|f^(p)| / p!`), and `scale()`, `max_t |f(t)|`,
the size the tolerance is relative to.
"""

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

#: the largest polynomial order a forcing may use per Krylov step
MAX_ORDER = 16


def _hermite_maxima(count: int) -> np.ndarray:
    """`max_x |H_n(x) exp(-x^2)|` for n < count (physicists' Hermite polynomials), on a
    fine grid (the maxima lie within |x| < sqrt(2n + 1) + 1)."""
    x = np.linspace(-12.0, 12.0, 240001)
    maxima = []
    for n in range(count):
        coefficients = np.zeros(n + 1)
        coefficients[n] = 1.0
        maxima.append(np.max(np.abs(np.polynomial.hermite.hermval(x, coefficients) * np.exp(-x * x))))
    return np.array(maxima)


#: `max |d^n/dx^n exp(-x^2)|`, for the Ricker wavelet's derivative bounds
_HERMITE_MAXIMA = _hermite_maxima(MAX_ORDER + 3)


class AbstractSignal(eqx.Module):
    """Time signals, one per source: `signal(t)` has shape `(num_signals,)`.

    Subclasses define `num_signals`, `__call__`, `derivative_bound` and `scale`; their
    array fields are what `jax.grad` differentiates (the source signal).
    """

    @property
    @abc.abstractmethod
    def num_signals(self) -> int:
        """The number of signals (one per source)."""

    @abc.abstractmethod
    def __call__(self, t) -> Float[Array, " signals"]:
        """The signals' values at time `t` (a scalar)."""

    @abc.abstractmethod
    def derivative_bound(self, order: int):
        """A bound on `max_t |d^order f_s / dt^order (t)|` over all signals (a scalar;
        it may be traced)."""

    @abc.abstractmethod
    def scale(self):
        """`max_t |f_s(t)|` over all signals (a scalar, or a bound on it)."""


def _as_signal_array(name, value):
    array = jnp.atleast_1d(jnp.asarray(value))
    if array.ndim != 1 or not jnp.issubdtype(array.dtype, jnp.number) or jnp.iscomplexobj(array):
        raise ValueError(f"{name}: expected a number or a 1D array (one per source), got shape {array.shape}")
    return array


class Ricker(AbstractSignal):
    """The Ricker wavelet (the second derivative of a Gaussian, negated):
    `f(t) = amplitude (1 - 2 x^2) exp(-x^2)`, `x = pi frequency (t - delay)`.

    **Arguments:**

    - `frequency`: the peak frequency f0 (Hz, i.e. cycles per unit time), a number or one
      per source.
    - `delay`: the time of the peak (default `1.5 / frequency`, where the wavelet is below
      1e-9 of its peak at t = 0).
    - `amplitude`: the peak value (default 1).

    The arguments broadcast to one array of length `num_signals`; all three may be
    learned (`jax.grad` w.r.t. the signal). `derivative_bound(p)` is exact:
    `amplitude (pi f0)^p max|H_{p+2}(x) exp(-x^2)| / 2`.
    """

    frequency: Float[Array, " signals"]
    delay: Float[Array, " signals"]
    amplitude: Float[Array, " signals"]

    def __init__(self, frequency, delay=None, amplitude=1.0):
        frequency = _as_signal_array("frequency", frequency)
        if not isinstance(frequency, jax.core.Tracer) and not bool(jnp.all(frequency > 0)):
            raise ValueError(f"frequency: expected positive peak frequencies, got {frequency}")
        delay = 1.5 / frequency if delay is None else _as_signal_array("delay", delay)
        amplitude = _as_signal_array("amplitude", amplitude)
        try:
            shape = jnp.broadcast_shapes(frequency.shape, delay.shape, amplitude.shape)
        except ValueError:
            raise ValueError(
                f"frequency: frequency, delay and amplitude must broadcast to one length, got "
                f"{frequency.shape}, {delay.shape}, {amplitude.shape}"
            ) from None
        dtype = jnp.result_type(frequency, delay, amplitude, float)
        self.frequency, self.delay, self.amplitude = (
            jnp.broadcast_to(a, shape).astype(dtype) for a in (frequency, delay, amplitude)
        )

    @property
    def num_signals(self):
        return self.frequency.shape[0]

    def __call__(self, t):
        x2 = (jnp.pi * self.frequency * (t - self.delay)) ** 2
        return self.amplitude * (1 - 2 * x2) * jnp.exp(-x2)

    def derivative_bound(self, order):
        # f = -(amplitude / 2) d^2/dx^2 exp(-x^2): its order-th t-derivative is
        # (pi f0)^order times the (order + 2)-th x-derivative of exp(-x^2), over two
        peak = jnp.abs(self.amplitude) * (jnp.pi * self.frequency) ** order
        return jnp.max(peak) * (_HERMITE_MAXIMA[order + 2] / 2)

    def scale(self):
        return jnp.max(jnp.abs(self.amplitude))


class SampledSignal(AbstractSignal):
    """Signals given by their samples `values[s, n]` at `t0 + n dt`.

    Between the samples the signal is the band-limited (trigonometric) interpolant of the
    record padded with zeros to twice its length: an entire function that passes through
    every sample and vanishes (to its band limit) outside the record, so the samples
    should start and end near zero, as a wavelet does. Its derivatives are bounded
    exactly by its Fourier coefficients (`derivative_bound`).

    **Arguments:**

    - `values`: `(num_signals, samples)`, or `(samples,)` for one signal (learnable).
    - `dt`: the sampling interval (> 0).
    - `t0`: the time of the first sample (default 0).
    """

    values: Float[Array, "signals samples"]
    dt: float = eqx.field(static=True)
    t0: float = eqx.field(static=True)

    def __init__(self, values, dt, t0=0.0):
        values = jnp.asarray(values)
        if values.ndim == 1:
            values = values[None]
        if values.ndim != 2 or values.shape[1] < 2:
            raise ValueError(f"values: expected (signals, samples) with >= 2 samples, got shape {values.shape}")
        if not jnp.issubdtype(values.dtype, jnp.floating):
            raise TypeError(f"values: expected a floating dtype, got {values.dtype}")
        if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
            raise ValueError(f"dt: expected a positive number, got {dt!r}")
        if isinstance(t0, bool) or not isinstance(t0, (int, float)) or not math.isfinite(t0):
            raise ValueError(f"t0: expected a finite number, got {t0!r}")
        self.values, self.dt, self.t0 = values, float(dt), float(t0)

    @property
    def num_signals(self):
        return self.values.shape[0]

    def _spectrum(self):
        """Fourier coefficients `c_k` (with the factor 2 of the folded negative
        frequencies) and angular frequencies of the zero-padded record."""
        length = 2 * self.values.shape[1]
        coefficients = jnp.fft.rfft(self.values, n=length, axis=1) / length
        weights = np.full(length // 2 + 1, 2.0)
        weights[0] = weights[-1] = 1.0  # the mean and the Nyquist term are not folded
        omega = 2 * np.pi * np.arange(length // 2 + 1) / (length * self.dt)
        return coefficients * weights, omega

    def __call__(self, t):
        coefficients, omega = self._spectrum()
        phase = jnp.exp(1j * omega * (t - self.t0))
        return jnp.real(coefficients @ phase).astype(self.values.dtype)

    def derivative_bound(self, order):
        coefficients, omega = self._spectrum()
        return jnp.max(jnp.abs(coefficients) @ omega**order)

    def scale(self):
        return jnp.max(jnp.abs(self.values))


class AbstractSources(eqx.Module):
    """Linear source terms: `inject(a) = Σ_s a_s g_s`, a density of `shape`."""

    @property
    @abc.abstractmethod
    def num_sources(self) -> int:
        """The number of sources S."""

    @property
    @abc.abstractmethod
    def shape(self) -> tuple[int, ...]:
        """The shape of the densities `inject` returns."""

    @abc.abstractmethod
    def inject(self, amplitudes: Float[Array, " sources"]) -> Array:
        """`Σ_s amplitudes[s] g_s`, an array of `shape`."""


class DenseSources(AbstractSources):
    """Sources given by their vectors: `inject(a) = Σ_s a_s vectors[s]`.

    **Arguments:**

    - `vectors`: `(num_sources, *shape)`, a floating array (learnable).
    """

    vectors: Array

    def __init__(self, vectors):
        vectors = jnp.asarray(vectors)
        if vectors.ndim < 2 or not jnp.issubdtype(vectors.dtype, jnp.floating):
            raise ValueError(
                f"vectors: expected a floating array (num_sources, *shape), got {vectors.dtype} "
                f"of shape {vectors.shape}"
            )
        self.vectors = vectors

    @property
    def num_sources(self):
        return self.vectors.shape[0]

    @property
    def shape(self):
        return tuple(self.vectors.shape[1:])

    def inject(self, amplitudes):
        return jnp.tensordot(amplitudes, self.vectors, axes=1)


class Forcing(eqx.Module):
    """The forcing `b(t) = sources.inject(signal(t))` of `y' = A y + b(t)`.

    Pass it to `pk.solve(..., forcing=...)`; the operator embeds the density in its state
    (`operator.source_term`). Differentiable w.r.t. the array leaves of both parts (the
    signal, the sources' positions or vectors); `jax.vmap` over a batch of forcings
    (shots) works as over initial states.

    **Arguments:**

    - `sources`: an `AbstractSources` (`pk.PointSources`, `pk.DenseSources`).
    - `signal`: an `AbstractSignal` (`pk.Ricker`, `pk.SampledSignal`) with one signal per
      source.
    - `order`: the number of polynomial coefficients that represent the signal on each
      Krylov step (degree `order - 1`; the Krylov space grows by `order`). Diffrax
      solvers evaluate the signal itself and ignore it.
    """

    sources: AbstractSources
    signal: AbstractSignal
    order: int = eqx.field(static=True)

    def __init__(self, sources, signal, *, order: int = 8):
        if not isinstance(sources, AbstractSources):
            raise TypeError(
                f"sources: expected pk.PointSources, pk.DenseSources or another AbstractSources, "
                f"got {type(sources).__name__}"
            )
        if not isinstance(signal, AbstractSignal):
            raise TypeError(f"signal: expected pk.Ricker, pk.SampledSignal or another AbstractSignal, got {signal!r}")
        if signal.num_signals != sources.num_sources:
            raise ValueError(
                f"signal: expected one signal per source ({sources.num_sources}), got {signal.num_signals}"
            )
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= MAX_ORDER:
            raise ValueError(f"order: expected an int in [1, {MAX_ORDER}], got {order!r}")
        self.sources, self.signal, self.order = sources, signal, int(order)

    def __call__(self, t):
        """The source density at time `t`."""
        return self.sources.inject(self.signal(t))

    def signal_error_bound(self, tau):
        """The a priori bound on the signal's polynomial representation over a step of
        length `tau`, relative to `signal.scale()`: Chebyshev interpolation at `order`
        points, `2 (tau/4)^p max|f^(p)| / p!`."""
        return 2 * (tau / 4) ** self.order * self._roughness() / math.factorial(self.order)

    def signal_step(self, rtol):
        """The longest step whose `signal_error_bound` is at most `rtol`."""
        roughness = self._roughness()
        tiny = jnp.finfo(roughness.dtype).tiny
        return 4 * (rtol * math.factorial(self.order) / (2 * jnp.maximum(roughness, tiny))) ** (1 / self.order)

    def _roughness(self):
        """`max|f^(p)| / max|f|`, p = `order`."""
        scale = jnp.asarray(self.signal.scale())
        tiny = jnp.finfo(jnp.result_type(scale, float)).tiny
        return self.signal.derivative_bound(self.order) / jnp.maximum(scale, tiny)
