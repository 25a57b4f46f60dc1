"""Keep the LAPACK that XLA calls on CPU single-threaded.

On CPU, jaxlib runs dense linear algebra (`jnp.linalg.solve`, hence the Padé step of
`jax.scipy.linalg.expm`) through the LAPACK that SciPy ships (OpenBLAS). Those calls
already run inside XLA's own thread pool; OpenBLAS starting threads of its own
oversubscribes the cores, and a 60 x 60 solve then takes ~12 ms instead of ~0.1 ms
(measured here, jaxlib 0.10.2, 2 cores) — which would dominate every Krylov solve.

So pdekrylov limits *SciPy's* OpenBLAS to one thread when it is imported (NumPy's own
BLAS is left alone). Set the environment variable `PDEKRYLOV_KEEP_BLAS_THREADS=1` to
opt out.
"""

import os
from pathlib import Path


def limit_scipy_blas_threads() -> list[str]:
    """Limit the BLAS libraries shipped inside SciPy to one thread.

    **Returns:** the file paths of the libraries that were limited (empty if SciPy or
    threadpoolctl is missing, or if the user opted out).
    """
    if os.environ.get("PDEKRYLOV_KEEP_BLAS_THREADS", "0") not in ("", "0"):
        return []
    try:
        import scipy.linalg  # noqa: F401  (loads SciPy's BLAS so it can be found)
        import threadpoolctl
    except ImportError:
        return []
    import scipy

    package = Path(scipy.__file__).resolve().parent
    scipy_folders = (package, package.parent / "scipy.libs")  # wheels vendor it beside
    controller = threadpoolctl.ThreadpoolController()
    limited = []
    for pool in controller.select(user_api="blas").lib_controllers:
        path = Path(pool.filepath).resolve()
        if any(path.is_relative_to(folder) for folder in scipy_folders):
            pool.set_num_threads(1)
            limited.append(str(path))
    return limited
