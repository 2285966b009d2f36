"""Do two result folders hold the same answers?  (A change that should not alter results, checked.)

    python scripts/compare_answers.py BEFORE_RESULTS AFTER_RESULTS [--ignore-algorithm NAME ...]

For every run (dataset, k, algorithm, build, mode, query setting) in either folder: both folders
must have it, with the same status, the same recall, identical returned neighbour ids and
identical stored scores.  Timings are not compared.  Prints one line per difference and a count;
exits 1 if anything differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np

from harness import results

KEY = ["dataset", "k", "algorithm", "build", "mode", "query_params"]


def arrays(path: str, mode: str, query_params: str) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        for group in f["runs"].values():
            if group.attrs["mode"] == mode and _canonical(group.attrs["query_params"]) == query_params:
                return {key: group[key][()] for key in ("neighbors", "scores", "recalls")}
    raise KeyError(f"{path}: no {mode} run with {query_params}")


def _canonical(params: object) -> str:
    return json.dumps(json.loads(params), sort_keys=True) if isinstance(params, str) else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--ignore-algorithm", action="append", default=[], help="leave this algorithm out")
    args = parser.parse_args(argv)
    frames = []
    for root in (args.before, args.after):
        frame = results.load(root)
        frame = frame[~frame["algorithm"].isin(args.ignore_algorithm)]
        frames.append(frame.assign(query_params=frame["query_params"].map(_canonical)))
    both = frames[0].merge(frames[1], on=KEY, how="outer", suffixes=("_before", "_after"), indicator="side")
    differences = []
    for row in both.itertuples():
        what = f"{row.dataset} k={row.k} {row.algorithm} {row.build} {row.mode} {row.query_params}"
        if row.side != "both":
            differences.append(f"{what}: only in {'before' if row.side == 'left_only' else 'after'}")
        elif row.status_before != row.status_after:
            differences.append(f"{what}: status {row.status_before} → {row.status_after}")
        elif row.status_before == "ok":
            if row.recall_before != row.recall_after:
                differences.append(f"{what}: recall {row.recall_before} → {row.recall_after}")
            a = arrays(row.file_before, row.mode, row.query_params)
            b = arrays(row.file_after, row.mode, row.query_params)
            for key in a:
                if not np.array_equal(a[key], b[key], equal_nan=True):
                    differences.append(f"{what}: different {key}")
    for line in differences:
        print(line)
    runs = int((both["side"] == "both").sum())
    print(f"{runs} runs in both, {len(both) - runs} in one only, {len(differences)} difference(s)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
