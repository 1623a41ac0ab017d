"""The facts a result is recorded with: environment variables, versions, machine, BLAS.

Speed on a shared machine depends on thread settings as much as on the code, so `scratchcnn
train` (train.json, the model card) and `scratchcnn bench` record the same facts, gathered here.
"""

import os
import platform

import numpy as np

# The variables that change how fast (never what) the code computes: thread pools, OpenBLAS's
# core type and cache size (which it can misdetect on a VM), and the malloc opt-out.
ENV_VARS = ("OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
            "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "SCRATCHCNN_KEEP_FREED_MEMORY")
BLAS_KEYS = ("internal_api", "version", "architecture", "num_threads", "threading_layer", "prefix")


def env_vars(include_unset: bool = False) -> dict:
    """{name: value} of the ENV_VARS that are set (all of them, None when unset, if asked)."""
    if include_unset:
        return {k: os.environ.get(k) for k in ENV_VARS}
    return {k: os.environ[k] for k in ENV_VARS if k in os.environ}


def versions() -> dict:
    """scratchcnn, numpy, numba and Python versions."""
    from importlib.metadata import version

    from . import __version__

    return {"scratchcnn": __version__, "numpy": np.__version__, "numba": version("numba"),
            "python": platform.python_version()}


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else what the platform module knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """CPU count, CPU model, platform string and processor."""
    return {"cpus": os.cpu_count(), "cpu": cpu_name(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine()}


def blas() -> list[dict]:
    """The BLAS libraries loaded in this process (threadpoolctl's view), with their threads."""
    from threadpoolctl import threadpool_info

    return [{k: lib.get(k) for k in BLAS_KEYS} for lib in threadpool_info()
            if lib.get("user_api") == "blas"]
