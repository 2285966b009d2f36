"""Reporting stored results: the run-metric registry and Pareto frontier (:mod:`.metrics`), figures
(:mod:`.plots`), the leaderboard (:mod:`.leaderboard`) and the HTML page (:mod:`.page`).  Reads
results only; never writes into them.
"""
