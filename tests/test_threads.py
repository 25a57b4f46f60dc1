"""pdekrylov keeps SciPy's OpenBLAS (jaxlib's CPU LAPACK) single-threaded."""

import json
import os
import subprocess
import sys

SCRIPT = """
import json, threadpoolctl
import pdekrylov
print(json.dumps([(i["filepath"], i["num_threads"]) for i in threadpoolctl.threadpool_info()
                  if i["user_api"] == "blas"]))
"""


def blas_threads(env_update):
    env = {**os.environ, **env_update}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_scipy_blas_limited_to_one_thread():
    pools = blas_threads({"OPENBLAS_NUM_THREADS": "2", "PDEKRYLOV_KEEP_BLAS_THREADS": "0"})
    scipy_pools = [threads for path, threads in pools if "scipy.libs" in path or "/scipy/" in path]
    assert scipy_pools and all(threads == 1 for threads in scipy_pools)
    others = [threads for path, threads in pools if "numpy.libs" in path]
    assert all(threads == 2 for threads in others)  # NumPy's BLAS is left alone


def test_opt_out_keeps_threads():
    pools = blas_threads({"OPENBLAS_NUM_THREADS": "2", "PDEKRYLOV_KEEP_BLAS_THREADS": "1"})
    assert all(threads == 2 for _, threads in pools)
