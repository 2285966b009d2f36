"""Plots, leaderboard and HTML report: the Pareto frontier, the metric registry, a real small sweep."""

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from harness import cli, results
from harness.report import leaderboard, plots, site
from harness.report import page as report
from harness.report.metrics import RUN_METRICS, pareto_frontier, run_metric

# --- the Pareto frontier on hand-made points -----------------------------------------------------

def brute_frontier(x, y, x_high, y_high):
    """Points no other point weakly beats on both axes and strictly on one (plus duplicates' first)."""
    gx, gy = (x if x_high else -x), (y if y_high else -y)
    keep = []
    for i in range(len(x)):
        if np.isnan(x[i]) or np.isnan(y[i]):
            continue
        dominated = any(
            (gx[j] >= gx[i] and gy[j] >= gy[i] and (gx[j] > gx[i] or gy[j] > gy[i]))
            or (gx[j] == gx[i] and gy[j] == gy[i] and j < i)
            for j in range(len(x)) if j != i and not (np.isnan(x[j]) or np.isnan(y[j])))
        if not dominated:
            keep.append(i)
    return sorted(keep, key=lambda i: x[i])


def test_frontier_of_hand_made_points():
    recall = np.array([0.50, 0.90, 0.80, 0.95, 0.90, 0.99, np.nan])
    qps = np.array([100.0, 50.0, 40.0, 10.0, 60.0, 10.0, 1e9])
    # (0.8, 40) is beaten by (0.9, 60); (0.9, 50) by (0.9, 60); (0.95, 10) by (0.99, 10); NaN never counts
    assert pareto_frontier(recall, qps).tolist() == [0, 4, 5]
    build_time = np.array([5.0, 1.0, 2.0, 1.0, 3.0, 9.0, 0.1])  # lower is better
    assert pareto_frontier(recall, build_time, True, False).tolist() == [3, 5]
    assert pareto_frontier(np.array([]), np.array([])).tolist() == []


@pytest.mark.parametrize("x_high,y_high", [(True, True), (True, False), (False, True), (False, False)])
def test_frontier_matches_brute_force_on_random_points(x_high, y_high):
    rng = np.random.default_rng(3)
    for _ in range(50):
        n = int(rng.integers(1, 30))
        x = rng.integers(0, 8, n).astype(float)  # small integers: many ties
        y = rng.integers(0, 8, n).astype(float)
        got = pareto_frontier(x, y, x_high, y_high)
        want = brute_frontier(x, y, x_high, y_high)
        assert sorted(zip(x[got], y[got], strict=True)) == sorted(zip(x[want], y[want], strict=True))


def test_metric_registry_reads_the_results_table():
    frame = pd.DataFrame({"recall": [0.5, 0.9], "qps": [10.0, 20.0], "index_size_bytes": [2**20, -1],
                          "build_time_s": [1.0, 2.0]})
    assert run_metric("index_size").values(frame).tolist()[0] == 1.0
    assert np.isnan(run_metric("index_size").values(frame).iloc[1])  # -1: not reported
    assert run_metric("nDCG@10").values(frame).isna().all()  # no qrels metric in these runs
    assert RUN_METRICS["qps"].higher_is_better and not RUN_METRICS["build_time"].higher_is_better
    with pytest.raises(ValueError, match="unknown metric 'speed'"):
        run_metric("speed")


def test_peak_rss_is_a_metric_and_a_leaderboard_column():
    peak = run_metric("peak_rss")
    assert not peak.higher_is_better and peak.log_scale
    frame = hand_made_runs()
    assert peak.values(frame).isna().all()  # results written before peak_rss_bytes: no value
    frame["peak_rss_bytes"] = 300 * 2**20
    frame.loc[frame["algorithm"] == "b", "peak_rss_bytes"] = -1  # not recorded
    board = leaderboard.leaderboard(frame, threshold=0.9).set_index("algorithm")
    assert board.loc["a", "peak_rss_mib"] == 300.0 and np.isnan(board.loc["b", "peak_rss_mib"])
    table = site.board_table(board.reset_index(), "")
    assert "peak RSS" in [c.title for c in table.columns]
    assert [r["peak_rss_mib"] for r in table.rows][:1] == [300.0]


def hand_made_runs() -> pd.DataFrame:
    rows = [  # algorithm, recall, qps, single_thread_ok
        ("a", 0.899, 900.0, True), ("a", 0.900, 500.0, True), ("a", 0.95, 100.0, True),
        ("b", 0.97, 300.0, False), ("b", 0.91, 250.0, True),
        ("c", 0.80, 5000.0, True),  # never reaches the threshold
    ]
    frame = pd.DataFrame(rows, columns=["algorithm", "recall", "qps", "single_thread_ok"])
    frame["dataset"], frame["k"], frame["mode"], frame["status"] = "toy", 10, "batch", "ok"
    frame["build"], frame["query_params"] = "default", [f'{{"ef": {i}}}' for i in range(len(frame))]
    frame["build_time_s"], frame["index_size_bytes"], frame["repeat_spread"] = 1.0, 2**20, 1.1
    frame["cpu_ratio"], frame["contention_s"], frame["environment"] = 1.0, 0.0, "{}"
    failed = frame.iloc[[0]].assign(status="failed", qps=1e9, recall=1.0)  # failed runs never count
    return pd.concat([frame, failed], ignore_index=True)


def test_leaderboard_picks_the_fastest_point_at_the_threshold():
    board = leaderboard.leaderboard(hand_made_runs(), threshold=0.9).set_index("algorithm")
    # b's fastest run above 0.9 (300 QPS) failed the single-thread proof: counted, never ranked.
    assert board.loc["b", "qps"] == 250.0 and board.loc["b", "rank"] == 2 and board.loc["b", "flagged"] == 1
    assert board.loc["a", "qps"] == 500.0 and board.loc["a", "recall"] == 0.900  # 0.899 is below
    assert board.loc["a", "rank"] == 1
    assert board.loc["a", "query_params"] == "ef=1"
    assert np.isnan(board.loc["c", "qps"]) and board.loc["c", "max_recall"] == 0.80
    assert pd.isna(board.loc["c", "rank"])
    assert board.index.tolist() == ["a", "b", "c"]  # ranked, the one without an entry last
    # Above 0.96 only b's flagged run: no entry at all.
    assert leaderboard.leaderboard(hand_made_runs(), threshold=0.96).set_index("algorithm")["qps"].notna().sum() == 0


def test_qrels_metric_is_plottable_like_recall():
    frame = hand_made_runs()
    frame["nDCG@10"] = frame["recall"] * 0.7
    fig = plots.draw(plots.ok_runs(frame), run_metric("nDCG@10"), run_metric("qps"), title="t", k=10,
                     colors=plots.algorithm_colors(["a", "b", "c"]))
    assert fig is not None
    assert fig.axes[0].get_xlabel() == "nDCG@10 (qrels)" and fig.axes[0].get_yscale() == "log"
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["a"].get_xdata(), [0.899 * 0.7, 0.9 * 0.7, 0.95 * 0.7])  # all on a's frontier
    assert plots.draw(plots.ok_runs(frame), run_metric("p99"), run_metric("qps"), title="t", k=10, colors={}) is None


def test_series_sharing_a_hue_differ_by_marker():
    names = [f"algo{i:02d}" for i in range(19)]  # tab20: algo00/algo01 are two shades of one hue
    colors = plots.algorithm_colors(names)
    markers = [plots.algorithm_marker(n, colors) for n in names]
    assert all(markers[i] != markers[i + 1] for i in range(len(names) - 1))
    assert len({(colors[n], m) for n, m in zip(names, markers, strict=True)}) == len(names)
    frame = hand_made_runs()
    fig = plots.draw(plots.ok_runs(frame), run_metric("recall"), run_metric("qps"), title="t", k=10,
                     colors=plots.algorithm_colors(["a", "b", "c"]))
    drawn = {line.get_label(): line.get_marker() for line in fig.axes[0].get_lines()
             if line.get_label() in ("a", "b", "c")}
    assert len(set(drawn.values())) == len(drawn) >= 2


# --- a real small sweep ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def swept(small_sweep):
    return small_sweep  # conftest: one real sweep shared by the plot and the report-site tests


def digests(root: Path) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_plots_of_a_real_sweep(swept, tmp_path):
    before = digests(swept)
    frame = results.load(swept)
    figures = plots.plot_dataset(frame, tmp_path, raw=True)
    kinds = {(f.mode, f.y) for f in figures}
    assert {("batch", "qps"), ("single", "qps"), ("single", "p99"), ("batch", "build_time")} <= kinds
    assert ("batch", "p99") not in kinds  # batch mode has no per-query latencies
    for fig in figures:
        png, svg = fig.paths
        assert matplotlib.image.imread(png).shape[1] > 500
        assert ET.parse(svg).getroot().tag.endswith("svg")
    assert digests(swept) == before  # plotting never writes into result files
    logit = plots.plot_dataset(frame[frame["mode"] == "batch"], tmp_path / "logit", pairs=[("recall", "qps")],
                               x_scale="logit")
    assert len(logit) == 1 and logit[0].paths[0].exists()


def test_cli_leaderboard_and_report(swept, tmp_path, capsys):
    out = tmp_path / "plots"
    assert cli.main(["--results-dir", str(swept), "leaderboard", "-o", str(out), "--threshold", "0.9"]) == 0
    board = pd.read_csv(out / "leaderboard.csv")
    frame = results.load(swept)
    for (mode, algorithm), row in board.set_index(["mode", "algorithm"]).iterrows():
        runs = frame[(frame["mode"] == mode) & (frame["algorithm"] == algorithm) & (frame["recall"] >= 0.9)
                     & results.trusted(frame)]  # a run flagged by the single-thread proof is never ranked
        assert row["qps"] == pytest.approx(runs["qps"].max(), nan_ok=True)
    assert "| algorithm" in (out / "leaderboard.md").read_text()
    assert (out / "leaderboard_small-dense_k10_batch.png").exists()
    assert cli.main(["--results-dir", str(swept), "report", "-o", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert "<script src" not in page and "http://" not in page and "https://" not in page  # nothing remote
    dataset_page = (out / "datasets" / "small-dense.html").read_text()
    figures = [line.split('"')[0] for line in dataset_page.split('<a href="../')[1:] if ".png" in line[:120]]
    assert len(figures) >= 6 and all((out / name).exists() for name in figures)  # the PNG figures, linked
    assert "hnswlib" in page and "Environment" in page


def test_plotting_without_results_is_a_clear_error(tmp_path, capsys):
    assert cli.main(["--results-dir", str(tmp_path / "none"), "plot", "-o", str(tmp_path / "p")]) == 2
    assert "no successful runs under" in capsys.readouterr().err


def test_report_in_headless_chromium(swept, tmp_path):
    """The report as a browser shows it: every figure decoded, the tables there; a broken image is noticed."""
    if report.find_chromium() is None:
        pytest.skip("no Chromium (Debian package `chromium`; .ci/run installs it)")
    page = report.write_report(results.load(swept), tmp_path)
    view = report.check_in_browser(page, screenshot=tmp_path / "shot.png")
    assert view.ok and view.figures >= 6 and view.points >= view.figures
    assert view.tables >= 3 and view.table_rows >= 6  # two leaderboards (single, batch) and the environment
    assert matplotlib.image.imread(view.screenshot).shape[0] > 1000
    (tmp_path / "small-dense_k10_batch_qps-vs-recall.png").unlink()
    broken = report.check_in_browser(page)
    assert [p for p in broken.problems if "qps-vs-recall.png" in p and "missing file" in p]


def test_the_figure_title_names_the_cpu_and_the_cores_of_its_runs():
    def env(model, core):
        return json.dumps({"cpu_model": model, "core": core})

    one = pd.DataFrame({"environment": [env("Xeon", 1), env("Xeon", 1)]})
    assert plots.machine_of(one) == "Xeon, core 1"
    two_cores = pd.DataFrame({"environment": [env("Xeon", 1), env("Xeon", 0)]})
    assert plots.machine_of(two_cores) == "Xeon, cores 0, 1"  # one machine, runs on both cores
    two_models = pd.DataFrame({"environment": [env("Xeon", 1), env("EPYC", 1)]})
    assert plots.machine_of(two_models) == "various machines"
    assert plots.machine_of(pd.DataFrame({"environment": [None]})) == "unknown machine"
