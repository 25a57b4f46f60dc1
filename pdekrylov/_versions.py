"""JAX releases known to compute wrongly, refused by `pyproject.toml` and warned about here.

`pip install pdekrylov` cannot get them; this warning is for environments assembled
another way (`--no-deps`, a pinned lock file, a cluster module).
"""

import warnings

# jaxlib version -> the upstream report
KNOWN_BAD_JAXLIB = {
    "0.10.2": (
        "jax-ml/jax#39103: on CPU a jitted, vmapped small matrix-vector product followed by "
        "a reduction returns wrong numbers (the pattern of every batched solve and loss)"
    ),
}


def check_jaxlib(version: str | None = None) -> str | None:
    """Warn if the installed (or the given) jaxlib is known to compute wrongly.

    **Arguments:**

    - `version`: a jaxlib version string; default: the installed one.

    **Returns:** the warning message, or None for a version without known defects.
    """
    if version is None:
        import jaxlib

        version = jaxlib.__version__
    reason = KNOWN_BAD_JAXLIB.get(version)
    if reason is None:
        return None
    message = (
        f"jaxlib {version} is known to compute wrong results ({reason}); install a "
        f"supported version: pip install 'jax!=0.10.2' 'jaxlib!=0.10.2'"
    )
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    return message


def package_versions() -> dict:
    """The versions of pdekrylov and the libraries its numbers depend on, for the
    metadata written beside datasets and tables."""
    import importlib.metadata

    import jax

    from . import __version__

    return {
        "pdekrylov": __version__,
        "jax": jax.__version__,
        "diffrax": importlib.metadata.version("diffrax"),
        "equinox": importlib.metadata.version("equinox"),
    }
