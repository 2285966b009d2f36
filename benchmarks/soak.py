"""Soak run: a sweep of many builds, with the runner and its workers killed at random, then resumed.

    .venv/bin/python benchmarks/soak.py [--builds 220] [--kills 40] [--seed 1] [--keep DIR]

A small dense dataset and a fixture adapter (exact answers after a random 50-400 ms build) give a
sweep of ``--builds`` builds.  The sweep is started as `annsweep run` and, at random moments, either
the runner (SIGKILL) or one of its workers (SIGKILL) is killed; a killed runner is started again
and resumes.  After ``--kills`` kills the sweep runs to the end undisturbed, then once more with
`--retry-failed` (builds whose worker was killed have failed records).  Checked, and printed:

* after every kill and at the end, every visible result file is complete (it opens and has a final
  status), i.e. files are complete or absent;
* no result that was complete before a kill is lost or changed afterwards;
* at the end every build has an ok result.
Exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import results  # noqa: E402
from harness.data.writer import write_dataset  # noqa: E402

ADAPTER = '''"""Exact answers after a random build time: a build that can be killed at any moment."""
import time

import numpy as np

from harness.data.groundtruth import distances_of
from harness.kit import DENSE, Algorithm, Param


class Soak(Algorithm):
    accepts = frozenset({DENSE})
    build_parameters = (Param("variant", int, 0, low=0),)

    def fit(self, dataset):
        time.sleep(0.05 + 0.35 * np.random.default_rng(self.build_params["variant"]).random())
        self.train, self.distance = np.asarray(dataset.train), dataset.distance

    def query(self, vector, k):
        d = distances_of(self.train, vector[None, :], np.arange(len(self.train))[None, :], self.distance)[0]
        return np.argsort(d, kind="stable")[:k]
'''


def complete_files(root: Path) -> dict[Path, tuple[str, float]]:
    """Every visible result file: (status, modification time); a file that cannot be read fails the soak."""
    found = {}
    for path in root.rglob("*.h5"):
        status = results.read_status(path)
        if status is None or status[0] not in ("ok", "failed"):
            raise SystemExit(f"soak: FAILED: {path} is visible but not complete ({status})")
        found[path] = (status[0], path.stat().st_mtime_ns)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=220)
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="annsweep-soak-"))
    rng, data = random.Random(args.seed), np.random.default_rng(args.seed)
    dataset = write_dataset(work / "soak.hdf5", data.normal(size=(1000, 8)), data.normal(size=(20, 8)),
                            "euclidean", progress=False)
    folder = work / "algorithms" / "soak"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adapter.py").write_text(ADAPTER)
    variants = list(range(args.builds))
    (folder / "config.yml").write_text(f"adapter: Soak\ngroups:\n  all:\n    build: {{variant: {variants}}}\n")
    out = work / "results"
    cmd = [sys.executable, "-m", "harness.cli", "--algorithms-dir", str(folder.parent), "--results-dir", str(out),
           "run", "--algorithm", "soak", "--dataset", str(dataset), "--runs", "1", "--modes", "batch"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    kills = {"runner": 0, "worker": 0}
    seen: dict[Path, tuple[str, float]] = {}
    start = time.monotonic()
    while sum(kills.values()) < args.kills:
        sweep = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while sweep.poll() is None and sum(kills.values()) < args.kills:
            time.sleep(rng.uniform(0.2, 2.0))
            workers = [p for p in psutil.Process(sweep.pid).children() if p.is_running()] \
                if sweep.poll() is None else []
            if rng.random() < 0.5 or not workers:
                sweep.send_signal(signal.SIGKILL)
                kills["runner"] += 1
            else:
                rng.choice(workers).send_signal(signal.SIGKILL)
                kills["worker"] += 1
            time.sleep(0.3)
            now = complete_files(out)
            lost = [p for p, (status, _) in seen.items() if status == "ok" and now.get(p, ("", 0))[0] != "ok"]
            if lost:
                raise SystemExit(f"soak: FAILED: complete results lost after a kill: {lost[:3]}")
            seen = now
        if sweep.poll() is None:
            sweep.send_signal(signal.SIGKILL)
        sweep.wait()
    before_rest = complete_files(out)
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True)
    retried = subprocess.run([*cmd, "--retry-failed"], env=env, capture_output=True, text=True)
    final = complete_files(out)
    changed = [p for p, (status, mtime) in before_rest.items() if status == "ok" and final[p] != (status, mtime)]
    ok = sum(status == "ok" for status, _ in final.values())
    temps = list(out.rglob(".*.tmp-*"))
    print(f"builds {args.builds}; kills {sum(kills.values())} (runner {kills['runner']}, worker {kills['worker']}); "
          f"after the kills: {len(before_rest)} complete files ({sum(s == 'ok' for s, _ in before_rest.values())} ok, "
          f"{sum(s == 'failed' for s, _ in before_rest.values())} failed by a killed worker), 0 incomplete; "
          f"resumed run exit {resumed.returncode}, retry of failed builds exit {retried.returncode}; "
          f"final: {ok} of {args.builds} ok, ok results rewritten {len(changed)}, files lost 0, "
          f"temporary files left {len(temps)}; {time.monotonic() - start:.0f} s; folder {work}")
    return 0 if ok == args.builds and not changed and retried.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
