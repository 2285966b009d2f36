"""Experiments that are not sweeps of adapters: LIMIT's free-embedding optimisation (:mod:`.critical_n`)."""
