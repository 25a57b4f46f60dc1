"""`SpectrumBound`: where an operator's spectrum lies, as the Krylov tolerance mode needs it."""

from typing import NamedTuple

import jax

#: the kinds of region, by what the a priori error bounds of `pk.krylov` distinguish
SPECTRUM_KINDS = ("negative", "imaginary", "disk")


class SpectrumBound(NamedTuple):
    """A region containing the numerical range of an operator `A` (hence its spectrum).

    - `kind`: `"negative"`: `A` symmetric negative semi-definite, spectrum in
      `[-radius, 0]` (diffusion); `"imaginary"`: spectrum on the imaginary axis with
      `|lambda| <= radius` (the wave equation, whose eigenvalues are `±i sqrt(mu)`);
      `"disk"`: any operator, numerical range in the disk of `radius` around the real
      `center` (`‖A - center I‖₂ <= radius`).
    - `radius`: a non-negative scalar (it may be traced, e.g. from a learned field).
    - `center`: the disk's centre (`"disk"` only; default 0). A dissipative operator's
      disk lies in the left half-plane, which makes its steps much longer.
    - `matvecs`: how many operator applications computing the bound took (static).

    Operators give one through `spectrum_bound()`; the Krylov solvers' tolerance mode
    chooses its steps from it (`pk.krylov.step_length`).
    """

    kind: str
    radius: jax.Array
    center: jax.Array | float = 0.0
    matvecs: int = 0
