"""benchmarks/dense_suite.py's tables: every adapter stays visible (never reaching 0.90, all runs
flagged, no finished build), winners come from trusted runs only, and the ratio is to the runner-up."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "dense_suite.py"


@pytest.fixture(scope="module")
def dense_suite():
    spec = importlib.util.spec_from_file_location("dense_suite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(algorithm: str, recall: float, qps: float, trusted: bool = True, status: str = "ok",
        error: str = "") -> dict:
    return {"dataset": "d", "k": 10, "algorithm": algorithm, "build": f"{algorithm}-b", "mode": "batch",
            "status": status, "recall": recall, "qps": qps, "query_params": "{}", "build_time_s": 1.0,
            "index_size_bytes": 2**20, "rss_delta_bytes": 2**21, "best_time_s": 1.0, "cpu_ratio": 1.0,
            "contention_s": 0.0 if trusted else 0.5, "outside_wait_s": 0.0, "caching_suspected": False,
            "single_thread_ok": trusted, "error": error}


def test_tables_keep_every_adapter_and_rank_trusted_runs_only(dense_suite) -> None:
    frame = pd.DataFrame([
        run("fast", 0.95, 1000.0), run("fast", 0.995, 100.0),
        run("slow", 0.92, 400.0), run("slow", 0.999, 50.0),
        run("cheater", 0.999, 10**6, trusted=False),       # flagged: never a winner
        run("weak", 0.70, 5000.0),                          # never reaches 0.90
        {**run("broken", np.nan, np.nan, status="failed", error="timeout: no result after 1200s"), "mode": np.nan},
    ])
    out = dense_suite.tables(frame)
    board = out["leaderboard at recall@10 >= 0.90"].set_index("algorithm")
    assert set(board.index) == {"fast", "slow", "cheater", "weak", "broken"}
    assert board.loc["fast", "qps@0.90"] == 1000.0
    assert np.isnan(board.loc["weak", "qps@0.90"]) and board.loc["weak", "max recall"] == 0.70
    assert board.loc["cheater", "params"] == "all 1 runs flagged"
    assert "untrusted" in board.loc["cheater", "grid covers"]
    assert "no build finished" in board.loc["broken", "params"]

    wins = out["who wins"].set_index("recall >=")
    assert wins.loc[0.90, "winner"] == "fast" and wins.loc[0.90, "runner-up"] == "slow"
    assert wins.loc[0.90, "ratio"] == pytest.approx(1000.0 / 400.0)
    assert wins.loc[0.99, "winner"] == "fast" and wins.loc[0.99, "ratio"] == pytest.approx(100.0 / 50.0)
    assert wins.loc[0.95, "reaching"] == 2

    flags = out["flagged runs"].set_index("algorithm")
    assert flags.loc["cheater", "why"] == "threads competing (1)"
    failed = out["failed builds"]
    assert failed["algorithm"].tolist() == ["broken"] and failed["error"].iloc[0].startswith("timeout")
