"""Adapters with a virtualenv of their own (harness.kit.environments): config, build, and the worker
run under the environment's interpreter; a build pip cannot make is a failed run, not a crash."""

import json
from pathlib import Path

import pytest

from harness import results
from harness.kit import AdapterEnvironment, Catalogue, ConfigError, full_requirements
from harness.kit.config import load_definition
from harness.run import runner

FIXTURE_ALGORITHMS = Path(__file__).parent / "fixtures" / "algorithms"


def options(tmp_path: Path, **overrides) -> runner.RunOptions:
    base = dict(runs=1, timeout_s=120, results_root=tmp_path / "results", algorithms_root=FIXTURE_ALGORITHMS)
    return runner.RunOptions(**{**base, **overrides})


@pytest.mark.parametrize("value,match", [
    ("numpy==1.25.2", "must be a non-empty list"),
    ([], "must be a non-empty list"),
    (["numpy>=1.25"], r"exact pins name==version, got \['numpy>=1.25'\]"),
    (["numpy==1.25.2", 3], r"exact pins name==version, got \[3\]"),
])
def test_environment_must_be_exact_pins(tmp_path, value, match):
    folder = tmp_path / "algo"
    folder.mkdir()
    (folder / "config.yml").write_text(json.dumps({"adapter": "A", "environment": value, "groups": {"g": {}}}))
    with pytest.raises(ConfigError, match=rf"{folder / 'config.yml'}: 'environment' .*{match}"):
        load_definition(folder)


def test_worker_packages_are_added_at_the_project_pins_unless_the_adapter_pins_them():
    from importlib.metadata import version

    reqs = full_requirements(("diskannpy==0.7.0", "NumPy==1.25.2", "py_yaml_other==1.0"))
    names = [r.split("==")[0].lower() for r in reqs]
    assert names.count("numpy") == 1 and "NumPy==1.25.2" in reqs  # the adapter's pin wins, names normalised
    assert f"scipy=={version('scipy')}" in reqs and f"PyYAML=={version('PyYAML')}" in reqs
    # Another pin list is another folder: a changed pin never reuses a half-matching environment.
    a, b = AdapterEnvironment("x", reqs), AdapterEnvironment("x", full_requirements(("diskannpy==0.7.1",)))
    assert a.folder != b.folder
    assert AdapterEnvironment("y", reqs).folder == a.folder  # the same pins: one environment for both


def test_an_adapter_runs_in_its_own_environment(tmp_path, small_dense, environments_dir):
    """own-env refuses to fit under any numpy but its pinned 2.2.6 (the project has 2.3.5)."""
    definition = Catalogue(FIXTURE_ALGORITHMS).get("own-env")
    environment = AdapterEnvironment("own-env", full_requirements(definition.environment))
    assert environment.folder.parent == environments_dir
    outcomes = runner.run_sweep(["own-env"], str(small_dense), options(tmp_path))
    assert [o.status for o in outcomes] == ["ok"], outcomes
    assert environment.ready and (environment.folder / ".ready").read_text().split() == list(environment.requirements)
    frame = results.load(tmp_path / "results")
    assert (frame["recall"] == 1.0).all() and frame["single_thread_ok"].all()
    for env in frame["environment"].map(json.loads):
        assert env["packages"]["numpy"] == "2.2.6" and env["interpreter"] == str(environment.python)
    # Ready environments are reused: a second sweep does not build again (the marker is untouched).
    stamp = (environment.folder / ".ready").stat().st_mtime_ns
    runner.run_sweep(["own-env"], str(small_dense), options(tmp_path, force=True))
    assert (environment.folder / ".ready").stat().st_mtime_ns == stamp


def test_an_environment_pip_cannot_build_is_a_failed_run_and_the_sweep_goes_on(tmp_path, small_dense,
                                                                                environments_dir):
    outcomes = runner.run_sweep(["own-env-broken", "brute"], str(small_dense), options(tmp_path))
    by_name = {o.algorithm: o for o in outcomes}
    assert by_name["brute"].status == "ok"
    failed = by_name["own-env-broken"]
    assert failed.status == "failed" and "own-env-broken: could not build its environment" in failed.error
    assert "annsweep-no-such-package" in failed.error
    assert results.read_status(failed.path)[0] == "failed"
    pins = Catalogue(FIXTURE_ALGORITHMS).get("own-env-broken").environment
    broken = AdapterEnvironment("own-env-broken", full_requirements(pins))
    assert not broken.folder.exists()
