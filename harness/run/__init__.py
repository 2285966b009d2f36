"""Running sweeps: the runner plans worker jobs (:mod:`.job`) and hands them to an executor
(:mod:`.executors`); each build runs in a worker process (:mod:`.worker`) pinned to one core, which
measures runs (:mod:`.measure`, :mod:`.scoring`) under the single-thread proof (:mod:`.proof`).

Nothing is imported here: the worker must pin itself before numpy is loaded.
"""
