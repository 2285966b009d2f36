"""Command line: ``annsweep run | datasets | algorithms | results | plot | leaderboard | report | limit``.

One module per command group registers its subcommands (``register(sub)``) and runs them; ``main``
assembles the parser; ``options`` holds the argument types and the table printer they share."""

from harness.cli.entry import main

__all__ = ["main"]
