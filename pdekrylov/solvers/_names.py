"""Solver names, as written on the command line and in problem files.

Strings live at the edges: this module turns a name such as `"arnoldi"` or
`"dopri5+backsolve"` into a solver object, and is used only by the CLI, the problem-file
reader and the scripts. The library itself takes solver objects.
"""

import diffrax

from ._diffrax import Diffrax
from ._krylov import Arnoldi, Lanczos

#: Krylov solvers by name; they take `depth` (and `substeps`).
KRYLOV_SOLVERS = {"arnoldi": Arnoldi, "lanczos": Lanczos}
#: Diffrax's explicit Runge-Kutta methods by name; they take `steps`.
DIFFRAX_METHODS = {
    "euler": diffrax.Euler,
    "heun": diffrax.Heun,
    "midpoint": diffrax.Midpoint,
    "ralston": diffrax.Ralston,
    "bosh3": diffrax.Bosh3,
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
}
#: Diffrax adjoints by name (the part after `+`; the default is `recursive-checkpoint`).
DIFFRAX_ADJOINTS = {
    "recursive-checkpoint": diffrax.RecursiveCheckpointAdjoint,
    "backsolve": diffrax.BacksolveAdjoint,
    "direct": diffrax.DirectAdjoint,
}


def solver_names() -> list[str]:
    """Every accepted solver name (Diffrax methods also accept any `+adjoint` suffix)."""
    diffrax_names = [f"{m}+{a}" for m in DIFFRAX_METHODS for a in DIFFRAX_ADJOINTS]
    return [*KRYLOV_SOLVERS, *DIFFRAX_METHODS, *diffrax_names]


def check_solver_name(name) -> str:
    """Return `name` normalised (lower case), or raise `ValueError` listing valid names."""
    if not isinstance(name, str):
        raise TypeError(f"solver: expected a solver name (str), got {name!r}")
    normalised = name.strip().lower()
    method, _, adjoint = normalised.partition("+")
    if normalised in KRYLOV_SOLVERS:
        return normalised
    if method in DIFFRAX_METHODS and (not adjoint or adjoint in DIFFRAX_ADJOINTS):
        return normalised
    raise ValueError(
        f"solver: unknown solver {name!r}; expected one of "
        f"{', '.join(KRYLOV_SOLVERS)}, or METHOD+ADJOINT with METHOD in "
        f"{', '.join(DIFFRAX_METHODS)} and ADJOINT in {', '.join(DIFFRAX_ADJOINTS)} "
        f"(e.g. dopri5+backsolve, tsit5+recursive-checkpoint)"
    )


def solver_from_name(
    name: str, *, depth: int | None = None, steps: int | None = 3, substeps: int | None = None,
    rtol: float | None = None,
):
    """The solver object for a name.

    **Arguments:**

    - `name`: `"arnoldi"`, `"lanczos"`, or a Diffrax method with an optional adjoint,
      `"METHOD[+ADJOINT]"` (e.g. `"dopri5+backsolve"`, `"tsit5+recursive-checkpoint"`).
    - `depth`, `substeps`, `rtol`: Krylov depth, number of sub-intervals, tolerance
      (Krylov solvers: tolerance mode unless a depth is given without `rtol`; see
      `pk.Arnoldi`).
    - `steps`, `rtol`: fixed steps, or (given `rtol`) Diffrax's PID controller with
      `rtol` and `atol = rtol` (Diffrax solvers).

    **Returns:** a `pk.Arnoldi`, `pk.Lanczos` or `pk.Diffrax`.

    **Raises:** `ValueError` listing the valid names for an unknown one.
    """
    name = check_solver_name(name)
    if name in KRYLOV_SOLVERS:
        if rtol is not None:
            substeps = None  # a tolerance chooses the steps
        return KRYLOV_SOLVERS[name](depth, substeps, rtol=rtol)
    method, _, adjoint = name.partition("+")
    adjoint = DIFFRAX_ADJOINTS[adjoint or "recursive-checkpoint"]()
    if rtol is not None:
        return Diffrax(DIFFRAX_METHODS[method](), rtol=rtol, atol=rtol, adjoint=adjoint)
    return Diffrax(DIFFRAX_METHODS[method](), steps=steps, adjoint=adjoint)


def work_parameter(name: str) -> str:
    """`"depth"` for Krylov solvers, `"steps"` for Diffrax ones (what sets their work)."""
    return "depth" if check_solver_name(name) in KRYLOV_SOLVERS else "steps"
