import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.data.writer import write_dataset

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def small_dense(tmp_path_factory) -> Path:
    """2,000 × 16 clustered float32 points, 50 queries, euclidean, with exact ground truth."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(20, 16))
    train = (centres[rng.integers(0, 20, 2000)] + 0.3 * rng.normal(size=(2000, 16))).astype(np.float32)
    test = (centres[rng.integers(0, 20, 50)] + 0.3 * rng.normal(size=(50, 16))).astype(np.float32)
    path = tmp_path_factory.mktemp("data") / "small-dense.hdf5"
    return write_dataset(path, train, test, "euclidean", progress=False)


@pytest.fixture(scope="session")
def small_sweep(tmp_path_factory, small_dense) -> Path:
    """Results of exact and hnswlib (three ef values) on small_dense, single and batch mode, 2 runs,
    through the runner: read (never written) by the plot and report-site tests."""
    from harness.run import runner

    tmp = tmp_path_factory.mktemp("sweep")
    algorithms = tmp / "algorithms"
    for name, config in [("exact", None), ("hnswlib", "adapter: Hnswlib\ngroups:\n  small:\n"
                                                      "    build: {M: 8, ef_construction: 40}\n"
                                                      "    query: {ef: [10, 20, 80]}\n")]:
        (algorithms / name).mkdir(parents=True)
        shutil.copy(ROOT / "algorithms" / name / "adapter.py", algorithms / name / "adapter.py")
        source = ROOT / "algorithms" / name / "config.yml"
        (algorithms / name / "config.yml").write_text(config or source.read_text())
    opts = runner.RunOptions(runs=2, timeout_s=120, results_root=tmp / "results", algorithms_root=algorithms)
    outcomes = runner.run_sweep(["exact", "hnswlib"], str(small_dense), opts)
    assert all(o.status == "ok" for o in outcomes), outcomes
    return tmp / "results"


@pytest.fixture(autouse=True)
def one_faiss_thread():
    """faiss/OpenMP limited to one thread in the test process, as in the runner's worker.

    With several OpenMP threads faiss HNSW insertion order varies, and an
    inner-product graph can then (rarely) leave a point unreachable even at
    efSearch = n, which would make exactness tests flaky.
    """
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="session")
def environments_dir(tmp_path_factory):
    """The adapters' own virtualenvs (harness.kit.environments), built once per test session in a
    temporary folder: set in os.environ, so workers and Ray tasks started later build and find them there."""
    import os

    folder = tmp_path_factory.mktemp("adapter-environments")
    before = os.environ.get("ANNSWEEP_ENVIRONMENTS_DIR")
    os.environ["ANNSWEEP_ENVIRONMENTS_DIR"] = str(folder)
    yield folder
    if before is None:
        del os.environ["ANNSWEEP_ENVIRONMENTS_DIR"]
    else:
        os.environ["ANNSWEEP_ENVIRONMENTS_DIR"] = before
