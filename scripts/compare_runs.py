"""Compare a sweep run in the container with the same sweep run on the host (make docker-test).

    python scripts/compare_runs.py CONTAINER_RESULTS HOST_RESULTS --uid UID --image-id ID --core N

Checks, exiting 1 on the first failure: the same runs on both sides; identical recall and
identical returned neighbours for every run (same code, same data, same seeds); container runs
pinned to CORE, the one CPU of --cpuset-cpus, by the runner's own choice; result files in
the container's folder owned by UID, never root; every container result records that it ran in
a Docker container of image ID.  Prints the QPS of every run on both sides and the ratio
container / host (a performance comparison, not a check).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from harness import results

KEY = ["algorithm", "build", "mode", "query_params"]


def fail(message: str) -> None:
    print(f"docker-test: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def neighbours(path: str, mode: str, query_params: str) -> np.ndarray:
    with h5py.File(path, "r") as f:
        for group in f["runs"].values():
            if group.attrs["mode"] == mode and json.dumps(json.loads(group.attrs["query_params"]),
                                                         sort_keys=True) == query_params:
                return group["neighbors"][()]
    raise KeyError(f"{path}: no {mode} run with {query_params}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("container")
    parser.add_argument("host")
    parser.add_argument("--uid", type=int, required=True)
    parser.add_argument("--image-id", required=True)
    parser.add_argument("--core", type=int, required=True, help="the one CPU the container was given (--cpuset-cpus)")
    args = parser.parse_args()

    inside, outside = results.load(Path(args.container)), results.load(Path(args.host))
    for frame in (inside, outside):
        frame["query_params"] = frame["query_params"].map(lambda p: json.dumps(json.loads(p), sort_keys=True))
    if inside.empty or (inside["status"] != "ok").any() or (outside["status"] != "ok").any():
        fail("a run failed or none ran (see the logs above)")
    both = inside.merge(outside, on=KEY, suffixes=("_container", "_host"), how="outer", indicator=True)
    if (both["_merge"] != "both").any():
        fail(f"runs differ between container and host:\n{both.loc[both['_merge'] != 'both', KEY]}")
    for row in both.itertuples():
        if row.recall_container != row.recall_host:
            fail(f"{row.algorithm} {row.build} {row.mode} {row.query_params}: recall {row.recall_container} "
                 f"in the container, {row.recall_host} on the host")
        a = neighbours(row.file_container, row.mode, row.query_params)
        b = neighbours(row.file_host, row.mode, row.query_params)
        if not np.array_equal(a, b):
            fail(f"{row.algorithm} {row.build} {row.mode} {row.query_params}: different neighbours")
    for path in Path(args.container).rglob("*"):
        if path.stat().st_uid != args.uid:
            fail(f"{path} is owned by uid {path.stat().st_uid}, not {args.uid}")
    for env, affinity in zip(inside["environment"], inside["affinity"], strict=True):
        if json.loads(env).get("core") != args.core or json.loads(affinity) != [args.core]:
            fail(f"a container run was not pinned to core {args.core} (--cpuset-cpus): core "
                 f"{json.loads(env).get('core')}, thread affinity {affinity}")
        container = json.loads(env).get("container") or {}
        if container.get("engine") != "docker" or container.get("image_id") != args.image_id:
            fail(f"a container result does not record its container: {container}")
    for env in outside["environment"]:  # (the host may itself be a container, but not this image)
        if (json.loads(env).get("container") or {}).get("image_id") == args.image_id:
            fail("a host result claims to have run in the image")

    both["qps_ratio"] = both["qps_container"] / both["qps_host"]
    table = both[KEY + ["recall_container", "qps_container", "qps_host", "qps_ratio"]]
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"{len(both)} runs: recall and neighbours identical in the container and on the host; "
          f"QPS container / host: median {both['qps_ratio'].median():.3f} "
          f"(min {both['qps_ratio'].min():.3f}, max {both['qps_ratio'].max():.3f}); "
          f"result files owned by uid {args.uid}; image {args.image_id} recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
