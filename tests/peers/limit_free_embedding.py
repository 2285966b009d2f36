"""The LIMIT paper's free-embedding settings and critical-n search, transcribed from its own code so that
tests compare annsweep's ``paper`` protocol with the peer's code, not with annsweep's reading of it.

Source: github.com/google-deepmind/limit, code/free_embedding_experiment.py at commit
90c5dd3a7c3c0d68bc6cc7a0c5b0f4ca124dfdcb (Apache-2.0, Copyright 2025 Google LLC):
``DEFAULT_EXPERIMENT_PARAMS`` unchanged, and the three phases of ``_run_critical_n_search_for_config``
unchanged except that ``_evaluate_n`` runs a given ``accuracy(n)`` (the original runs the JAX optimisation
and reuses an earlier result of the same n from its JSON results list, kept here as a dict) and that the
function returns (critical_n, the n evaluated in order) instead of only logging them.
"""
# The peer's code as written (names, two-space indents): not linted.
# ruff: noqa

from typing import Any, Dict

DEFAULT_EXPERIMENT_PARAMS: Dict[str, Any] = {
    "q": None,
    "learning_rate": 0.01,
    "num_iterations": 100000,
    "temperature": 0.1,
    "seed": 42,
    "show_progress": True,
    "device": "gpu",
    "log_interval": 50,
    "early_stopping_patience": 1000,
    "early_stopping_min_delta": 0.00001,
    "early_stopping_monitor_metric": "loss",
    "early_stopping_restore_best_weights": False,
}

# ``for offset in range(-4, 6):  # Explore N-4 to N+5`` in phase 3.
SWEEP_OFFSETS = range(-4, 6)


def run_critical_n_search(initial_n, accuracy):
  """``_run_critical_n_search_for_config``'s phases; ``accuracy(n)`` stands for one optimisation run."""
  min_n_boundary, accuracy_threshold = 1, 1.0
  evaluated = {}

  def _evaluate_n(n_to_eval: int) -> float:
    if n_to_eval not in evaluated:  # the original reuses a stored result of the same parameters
      evaluated[n_to_eval] = accuracy(n_to_eval)
    return evaluated[n_to_eval]

  # --- Phase 1: Galloping Search ---
  n_low = None
  if _evaluate_n(initial_n) >= accuracy_threshold:
    n_low, step = initial_n, 1
    while True:  # Gallop up
      n_test = n_low + step
      if _evaluate_n(n_test) >= accuracy_threshold:
        n_low = n_test
        step *= 2
      else:
        n_high = n_test
        break
  else:
    n_high, step = initial_n, 1
    while n_high > min_n_boundary:  # Gallop down
      n_test = max(n_high - step, min_n_boundary)
      if _evaluate_n(n_test) < accuracy_threshold:
        n_high = n_test
        step *= 2
        if n_test == min_n_boundary:
          break
      else:
        n_low = n_test
        break

  # --- Phase 2: Binary Search ---
  critical_n = n_low
  if n_low is not None and n_high is not None:
    low, high = n_low, n_high
    while low <= high:
      mid = (low + high) // 2
      if mid < min_n_boundary:
        break
      if _evaluate_n(mid) >= accuracy_threshold:
        critical_n, low = mid, mid + 1  # This N is good, try higher
      else:
        high = mid - 1  # This N is bad, try lower

  # --- Phase 3: Fine-grained Sweep ---
  if critical_n is not None:
    for offset in range(-4, 6):  # Explore N-4 to N+5
      _evaluate_n(max(critical_n + offset, min_n_boundary))
  return critical_n, list(evaluated)


def optimize_embeddings_loop(
    update,
    accuracy,
    num_iterations,
    log_interval,
    early_stopping_patience,
    early_stopping_min_delta,
):
  """The loss-monitor path of ``optimize_embeddings``'s loop, unchanged except: ``update()`` stands for
  ``jax_update`` (one Adam step and renormalisation, returning the loss before it) and ``accuracy()`` for
  ``evaluate_top_k_accuracy`` of the current vectors; the accuracy-monitor branch, tqdm, best-weight
  restoring and the logged loss/accuracy lists are left out. Returns the accuracies
  ``_pick_best_accuracy`` chooses from (max observed, last logged, final)."""
  best_val = float("inf")
  patience_counter = 0
  max_accuracy_observed: float = 0.0
  last_eval_acc = None

  for i in range(num_iterations):
    loss = update()

    current_metric_iter = float(loss)
    is_better_iter = current_metric_iter < (best_val - early_stopping_min_delta)
    if is_better_iter:
      best_val = current_metric_iter
      patience_counter = 0
    else:
      patience_counter += 1
    if patience_counter >= early_stopping_patience:
      break

    if i % log_interval == 0 or i == num_iterations - 1:
      acc = accuracy()
      if acc > max_accuracy_observed:
        max_accuracy_observed = float(acc)
      last_eval_acc = float(acc)
      if acc >= 1.0:
        break

  final_acc = accuracy()
  return max_accuracy_observed, last_eval_acc, final_acc
