"""Every folder annsweep reads or writes, and the ``ANNSWEEP_*`` variable that moves it.

Functions here read the environment when called, so a test or a shell can move a folder with
the variable; command-line options (``--data-dir`` and the like) are passed down as arguments
instead, never written into ``os.environ``.  The runner hands its workers the folders they
need in the worker's own environment (:func:`worker_environment`).

=============================  =============================  ==============================================
variable                       default                        what lives there
=============================  =============================  ==============================================
``ANNSWEEP_DATA_DIR``          ``datasets/``                  prepared dataset files (``<name>.hdf5``)
``ANNSWEEP_SOURCE_DIR``        ``datasets/sources/``          raw third-party inputs (read only)
``ANNSWEEP_MODEL_DIR``         ``datasets/models/``           offline encoder models (read only)
``ANNSWEEP_WORDNET_DIR``       ``/usr/share/wordnet``         the WordNet 3.0 database (Debian)
``ANNSWEEP_FOLDOC_DIR``        ``/usr/share/dictd``           FOLDOC, dictd format (Debian dict-foldoc)
``ANNSWEEP_MAN_DIR``           ``/usr/share/man``             man pages (Debian manpages-dev)
``ANNSWEEP_CACHE_DIR``         ``<data dir>/cache``           indexes that adapters keep (Lucene)
``ANNSWEEP_RESULTS_DIR``       ``results/``                   one result file per build
``ANNSWEEP_PLOTS_DIR``         ``plots/``                     figures, leaderboard, report
``ANNSWEEP_ALGORITHMS_DIR``    the project's ``algorithms/``  adapter folders
``ANNSWEEP_ENVIRONMENTS_DIR``  ``.venv-adapters/`` (project)  virtualenvs of adapters with pins of their own
=============================  =============================  ==============================================
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT_ALGORITHMS = PROJECT_ROOT / "algorithms"


def _dir(variable: str, default: Path | str) -> Path:
    return Path(os.environ.get(variable) or default)


def data_dir() -> Path:
    """Prepared dataset files."""
    return _dir("ANNSWEEP_DATA_DIR", "datasets")


def source_dir() -> Path:
    """Raw third-party inputs of registry datasets."""
    return _dir("ANNSWEEP_SOURCE_DIR", Path("datasets") / "sources")


def model_dir() -> Path:
    """Offline encoder models (``splade-tiny/``)."""
    return _dir("ANNSWEEP_MODEL_DIR", Path("datasets") / "models")


def wordnet_dir() -> Path:
    """The WordNet 3.0 database (Debian ``wordnet-base``)."""
    return _dir("ANNSWEEP_WORDNET_DIR", "/usr/share/wordnet")


def foldoc_dir() -> Path:
    """FOLDOC in dictd format (Debian ``dict-foldoc``)."""
    return _dir("ANNSWEEP_FOLDOC_DIR", "/usr/share/dictd")


def man_dir() -> Path:
    """Man pages (Debian ``manpages-dev``: sections 2 and 3 are the FOLDOC collection's queries)."""
    return _dir("ANNSWEEP_MAN_DIR", "/usr/share/man")


def cache_dir() -> Path:
    """Indexes an adapter keeps between builds (the Lucene adapters')."""
    return _dir("ANNSWEEP_CACHE_DIR", data_dir() / "cache")


def results_dir() -> Path:
    """Result files."""
    return _dir("ANNSWEEP_RESULTS_DIR", "results")


def plots_dir() -> Path:
    """Figures, the leaderboard and the HTML report."""
    return _dir("ANNSWEEP_PLOTS_DIR", "plots")


def environments_dir() -> Path:
    """Virtualenvs of adapters whose pins conflict with the project's (harness.kit.environments)."""
    return _dir("ANNSWEEP_ENVIRONMENTS_DIR", PROJECT_ROOT / ".venv-adapters")


def algorithms_dir() -> Path:
    """Adapter folders (``<name>/adapter.py`` + ``config.yml``)."""
    return _dir("ANNSWEEP_ALGORITHMS_DIR", PROJECT_ALGORITHMS)


def worker_environment(data: Path | None = None) -> dict[str, str]:
    """The folder variables a worker process is started with: the data folder the sweep uses (its
    adapters keep their caches there) and the project on ``PYTHONPATH``, so the worker imports this
    harness wherever the runner was started from."""
    env = {"ANNSWEEP_DATA_DIR": str(Path(data if data is not None else data_dir()).resolve())}
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env
