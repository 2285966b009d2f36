"""The command line itself: version, help with defaults on every option, bad values refused (exit 2)
before any work, errors that name what there is, and aligned tables."""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from harness import cli
from harness import results as stored
from harness.cli import entry as cli_main
from harness.cli import options as opt

FIXTURES = Path(__file__).parent / "fixtures" / "algorithms"


def _subparsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (command path, parser) under ``parser``, itself included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _subparsers(child, (*path, name))


def test_version_is_the_installed_distributions(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"annsweep {metadata.version('annsweep')}"


def test_every_option_has_help_and_shows_its_default() -> None:
    parser = cli_main.build_parser()
    checked = 0
    for path, sub in _subparsers(parser):
        text = sub.format_help()
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            where = f"annsweep {' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{where} has no help text"
            checked += 1
            if action.option_strings and action.default not in (None, False):
                shown = str(action.default if not isinstance(action.default, list) else action.default)
                assert f"default: {shown}" in " ".join(text.split()) or "default" in action.help, where
    assert checked > 60  # every command group was walked


def test_defaults_written_by_hand_are_the_real_ones() -> None:
    from harness.run.runner import RunOptions

    run = cli_main.build_parser()._subparsers._group_actions[0].choices["run"]
    timeout = next(a for a in run._actions if "--timeout" in a.option_strings)
    assert f"default {RunOptions().timeout_s:g}" in timeout.help


def test_k_has_a_short_form_everywhere_it_filters() -> None:
    parser = cli_main.build_parser()
    for command in (["run"], ["results", "runs"], ["plot"], ["leaderboard"], ["report"]):
        args = parser.parse_args([*command, "-k", "7"])
        assert args.k == 7, command


@pytest.mark.parametrize("argv, option", [
    (["run", "--k", "0"], "--k"),
    (["run", "--runs", "0"], "--runs"),
    (["run", "--jobs", "0"], "--jobs"),
    (["run", "--timeout", "-3"], "--timeout"),
    (["run", "--memory-limit", "lots"], "--memory-limit"),
    (["results", "show", "--threshold", "1.5"], "--threshold"),
    (["leaderboard", "--threshold", "nan"], "--threshold"),
    (["results", "runs", "--mode", "turbo"], "--mode"),
    (["limit", "critical-n", "--dims", "8..x"], "--dims"),
    (["limit", "generate", "--docs", "0"], "--docs"),
])
def test_bad_values_are_refused_with_exit_2_naming_the_option(argv, option, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--results-dir", str(tmp_path / "results"), "--data-dir", str(tmp_path / "data"), *argv])
    assert exit_.value.code == 2
    assert option in capsys.readouterr().err
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()


@pytest.mark.parametrize("argv, words", [
    (["run", "-a", "exact,nope", "-d", "random-xs-dense"], ["nope", "known:", "exact"]),
    (["run", "--core", "4096", "-a", "exact"], ["core 4096", "not available"]),
    (["run", "--threads", "2", "--modes", "single"], ["--threads 2", "--modes"]),
    (["datasets", "prepare", "random-xs-dense", "no-such-set"], ["no-such-set", "datasets list"]),
    (["run", "-a", "exact", "--group", "nope"], ["--group 'nope'", "exact"]),
    (["run", "--group", "nope"], ["--group 'nope'", "hnswlib"]),
    (["results", "export", "--format", "trec"], ["-o DIR"]),
])
def test_impossible_requests_fail_before_any_dataset_is_prepared(argv, words, tmp_path, capsys) -> None:
    status = cli.main(["--results-dir", str(tmp_path / "results"), "--data-dir", str(tmp_path / "data"),
                       "--algorithms-dir", str(FIXTURES.parent.parent.parent / "algorithms"), *argv])
    err = capsys.readouterr().err
    assert status == 2, err
    assert all(w in err for w in words), err
    assert not list((tmp_path / "data").glob("*.hdf5")) and not (tmp_path / "results").exists()


def test_results_of_an_unknown_dataset_or_k_is_an_error_naming_what_there_is(tmp_path, capsys) -> None:
    results = tmp_path / "results"
    assert cli.main(["--results-dir", str(results), "--algorithms-dir", str(FIXTURES), "run", "-a", "brute",
                     "-d", "random-xs-dense", "--runs", "1", "--modes", "batch"]) == 0
    capsys.readouterr()
    assert cli.main(["--results-dir", str(results), "results", "show", "--dataset", "nope"]) == 2
    assert "'nope'" in (err := capsys.readouterr().err) and "random-xs-dense" in err
    assert cli.main(["--results-dir", str(results), "results", "runs", "-k", "3"]) == 2
    assert "k=3" in (err := capsys.readouterr().err) and "10" in err
    assert cli.main(["--results-dir", str(results), "results", "runs", "-k", "10"]) == 0
    assert "brute" in capsys.readouterr().out
    assert cli.main(["--results-dir", str(results), "results", "show", "-k", "3"]) == 2

    # summaries keep each k apart: the same runs, as if also measured for k=100 ten times faster
    at_10 = stored.load(results)
    summary = stored.summarize(pd.concat([at_10, at_10.assign(k=100, qps=at_10["qps"] * 10)]), 0.5)
    assert sorted(summary["k"]) == [10, 100] and (summary["runs"] == len(at_10)).all()
    by_k = summary.set_index("k")["qps@0.5"]
    assert by_k[100] == pytest.approx(10 * by_k[10])


def test_tables_are_aligned_and_format_numbers() -> None:
    frame = pd.DataFrame({"algorithm": ["a", "much-longer-name"], "recall": [0.912345678, 1.0],
                          "qps": [18234.7, float("nan")], "note": ["x", None]})
    lines = opt.table(frame).splitlines()
    header, rule, *rows = lines
    starts = [header.index("recall"), header.index("qps")]
    for row in rows:  # every column starts where its header does
        assert row[starts[0]:].split()[0] in ("0.9123", "1.0000")  # recall to 4 decimals, never "1"
    assert "18,235" in rows[0] and "nan" not in " ".join(rows)
    assert set(rule.replace(" ", "")) == {"-"}
    markdown = opt.table(frame, markdown=True).splitlines()
    assert markdown[0].startswith("|") and set(markdown[1].replace("|", "").replace(" ", "")) <= {"-", ":"}
