"""Reporting stored results: the run-metric registry and Pareto frontier (:mod:`.metrics`), figures
(:mod:`.plots`), the leaderboard (:mod:`.leaderboard`) and the report site (:mod:`.page` writes it all:
:mod:`.site` renders the Jinja2 templates in ``templates/`` with the figures of :mod:`.charts`, the
number filters of :mod:`.formats` and the packages of :mod:`.software`; :mod:`.sitecheck` checks it
in headless Chromium).  Reads results only; never writes into them.
"""
