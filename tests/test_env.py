"""scratchcnn.env: the variables, versions and machine facts that train.json and the bench record."""

from scratchcnn import env


def test_env_vars_lists_the_set_variables_and_on_request_the_unset_ones(monkeypatch):
    for name in env.ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    monkeypatch.setenv("UNRELATED_VARIABLE", "x")
    assert env.env_vars() == {"OPENBLAS_NUM_THREADS": "1"}
    everything = env.env_vars(include_unset=True)
    assert list(everything) == list(env.ENV_VARS)
    assert everything["OPENBLAS_NUM_THREADS"] == "1" and everything["OPENBLAS_CORETYPE"] is None


def test_versions_machine_and_blas_facts():
    import numpy as np

    from scratchcnn import __version__

    v = env.versions()
    assert v["scratchcnn"] == __version__ and v["numpy"] == np.__version__
    assert set(v) == {"scratchcnn", "numpy", "numba", "python"}
    m = env.machine()
    assert m["cpus"] >= 1 and m["cpu"] and m["platform"]
    assert env.blas() and all("num_threads" in lib for lib in env.blas())  # NumPy's BLAS
