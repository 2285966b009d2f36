"""annsweep: benchmark approximate nearest-neighbour and retrieval methods on embedding workloads.

Wings, bottom up (import-linter contracts in pyproject.toml keep them so): ``paths`` (every
folder) · ``data`` (datasets) · ``kit`` (what adapters are written against) and ``results``
(result files) · ``run`` (sweeps), ``report`` (figures, leaderboard, page) and ``experiments`` ·
``cli`` on top.
"""
