"""The report site (harness/report/site.py, charts.py, formats.py, software.py, sitecheck.py): pages from
a real small sweep, their links, the hover labels of the figures' points, formatted numbers, the
packages the runs used, and the check in headless Chromium (good site green, broken ones caught)."""

import json
import re
import shutil
from html.parser import HTMLParser
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from harness import cli, results
from harness.report import charts, formats, page, plots, site, sitecheck, software
from harness.report.metrics import pareto_frontier, run_metric

ROOT = Path(__file__).resolve().parent.parent


# --- numbers ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds, text", [
    (0.0002295, "0.23 ms"), (1.53e-5, "15.3 µs"), (2e-9, "2.00 ns"), (0.0123, "12.3 ms"), (0.9996, "1.00 s"),
    (3.2, "3.20 s"), (750, "12.5 min"), (18000, "5.00 h"), (0, "0 s"), (float("nan"), ""), (None, ""), (-1, ""),
])
def test_durations_carry_a_unit(seconds, text):
    assert formats.duration(seconds) == text


@pytest.mark.parametrize("value, text", [
    (12345.6, "12,300"), (987.65, "988"), (999.7, "1,000"), (12.345, "12.3"), (1234567, "1,230,000"),
    (0.5, "0.500"), (float("nan"), ""),
])
def test_qps_three_significant_digits_with_separators(value, text):
    assert formats.qps(value) == text


@pytest.mark.parametrize("num_bytes, text", [
    (100, "100 B"), (2048, "2.00 KiB"), (5 * 2**20, "5.00 MiB"), (1.5 * 2**30, "1.50 GiB"),
    (2**20 * 123.456, "123 MiB"), (-1, ""), (float("nan"), ""),  # -1: the adapter did not report it
])
def test_sizes_in_binary_units(num_bytes, text):
    assert formats.size(num_bytes) == text


def test_a_change_of_size_can_be_negative():
    # RSS growth of a build that freed memory: printed with a minus sign, not taken for "not recorded".
    assert formats.size_change(-1.2 * 2**20) == "−1.20 MiB" and formats.size_change(5 * 2**20) == "5.00 MiB"
    assert formats.size_change(float("nan")) == "" and formats.mib_change(-0.5) == "−512 KiB"
    assert site.environment().from_string("{{ v|size_change }}").render(v=-2048) == "−2.00 KiB"


def test_other_filters_and_the_jinja_environment():
    assert formats.mib(2.5) == "2.50 MiB" and formats.micros(229.5) == "0.23 ms"
    assert formats.recall(0.912345) == "0.9123" and formats.recall(None) == ""
    assert formats.params('{"M": 8, "ef_construction": 40}') == "M=8 ef_construction=40"
    assert formats.params("{}") == "" and formats.params({"ef": 10}) == "ef=10"
    assert formats.number(42.0) == "42" and formats.number(1.234567) == "1.235"
    assert formats.text(float("nan")) == "" and formats.text(3) == "3"
    env = site.environment()
    out = env.from_string("{{ t|duration }} {{ q|qps }} {{ s|size }} {{ x }}").render(
        t=0.0002295, q=12345.6, s=5 * 2**20, x="<b>")
    assert out == "0.23 ms 12,300 5.00 MiB &lt;b&gt;"  # filters registered, autoescape on


# --- a real small sweep --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def swept(small_sweep):
    return small_sweep  # conftest: one real sweep shared by the plot and the report-site tests


@pytest.fixture(scope="module")
def built(swept, tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    index = page.write_report(results.load(swept), out)
    return index.parent


def pages_of(site_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(site_dir)): p.read_text(encoding="utf-8") for p in sitecheck.site_pages(site_dir)}


def test_the_site_has_an_index_and_a_page_per_dataset_and_algorithm(built):
    pages = pages_of(built)
    assert sorted(pages) == ["algorithms/exact.html", "algorithms/hnswlib.html", "datasets/small-dense.html",
                             "index.html"]
    index = pages["index.html"]
    assert 'class="toc"' in index and 'href="#leaderboards"' in index and 'href="#environment"' in index
    assert 'href="datasets/small-dense.html"' in index and 'href="algorithms/hnswlib.html"' in index
    assert 'href="../algorithms/hnswlib.html"' in pages["datasets/small-dense.html"]
    assert 'href="../datasets/small-dense.html"' in pages["algorithms/hnswlib.html"]
    for name, html in pages.items():
        assert "http://" not in html and "https://" not in html and "<script src" not in html, name  # offline


def test_every_link_resolves_and_every_figure_is_labelled(built):
    for path in sitecheck.site_pages(built):
        facts = sitecheck.page_facts(path.read_text(encoding="utf-8"))
        assert facts.links, path
        assert sitecheck.link_problems(path, facts, built) == [], path
        assert sitecheck.figure_problems(facts) == [], path
    facts = sitecheck.page_facts((built / "datasets/small-dense.html").read_text(encoding="utf-8"))
    assert len(facts.figures) >= 6  # qps, build time and index size in both modes, p99 in single


def test_the_static_checks_catch_a_broken_link_and_a_missing_label(built, tmp_path):
    html = (built / "datasets/small-dense.html").read_text(encoding="utf-8")
    path = tmp_path / "datasets" / "small-dense.html"
    path.parent.mkdir()
    html = re.sub(r'(<path class="pt"[^>]*>)<title>[^<]*</title>', r"\1<title> </title>", html, count=1)
    path.write_text(html.replace('href="../index.html"', 'href="../nowhere.html"', 1))
    (tmp_path / "index.html").write_text("<p id=x>")
    facts = sitecheck.page_facts(path.read_text())
    assert any("nowhere.html" in p for p in sitecheck.link_problems(path, facts, tmp_path))
    assert any("have no hover label" in p for p in sitecheck.figure_problems(facts))
    facts.links = ["https://example.org/x.js", "/etc/passwd", "../../outside.html", "../index.html#nope"]
    problems = sitecheck.link_problems(path, facts, tmp_path)
    assert len(problems) == 4 and "not relative" in problems[0] and "absolute" in problems[1]
    assert "leaves the site" in problems[2] and "no element with id 'nope'" in problems[3]


def test_the_static_checks_catch_a_page_without_its_figures(built):
    html = (built / "datasets/small-dense.html").read_text(encoding="utf-8")
    facts = sitecheck.page_facts(html)
    assert facts.declared_figures == facts.charts == len(facts.figures) >= 6
    gone = re.sub(r'<figure class="chart".*?</figure>', "", html, flags=re.S)  # every figure deleted
    assert "<figure" not in gone
    problems = sitecheck.figure_problems(sitecheck.page_facts(gone))
    assert problems == [f"0 figure(s) on the page, {facts.declared_figures} drawn by the site writer"]
    one_less = re.sub(r'<figure class="chart".*?</figure>', "", html, count=1, flags=re.S)
    assert any("drawn by the site writer" in p for p in sitecheck.figure_problems(sitecheck.page_facts(one_less)))
    undeclared = html.replace(f'<main data-figures="{facts.declared_figures}">', "<main>")
    problems = sitecheck.figure_problems(sitecheck.page_facts(undeclared))
    assert any("does not say how many figures" in p for p in problems)


def test_the_static_checks_compare_hover_labels_with_the_runs_table(built):
    for name in ("datasets/small-dense.html", "algorithms/hnswlib.html"):
        html = (built / name).read_text(encoding="utf-8")
        facts = sitecheck.page_facts(html)
        hover = [h for fig in facts.figures.values() for h in fig.hover]
        assert hover and all(run in facts.runs for run, _ in hover), name  # every point names its row
        assert sitecheck.figure_problems(facts) == [], name
        run, text = hover[0]
        qps = re.search(r"\nQPS: (\S+)", text).group(1)
        assert facts.runs[run]["QPS"] == qps
        wrong = html.replace(f"\nQPS: {qps}</title>", "\nQPS: 99,900</title>", 1)  # one label's QPS altered
        assert wrong != html
        problems = sitecheck.figure_problems(sitecheck.page_facts(wrong))
        assert any("says QPS '99,900', its row in the runs table" in p and qps in p for p in problems), problems
        recall = re.search(r"\n(recall@\d+ \(tie-aware[^:]*): (\S+)", text)
        wrong = html.replace(f"{recall.group(1)}: {recall.group(2)}\n", f"{recall.group(1)}: 0.0001\n", 1)
        assert any("says recall '0.0001'" in p for p in sitecheck.figure_problems(sitecheck.page_facts(wrong)))
        unnamed = re.sub(r'data-run="[^"]*"', 'data-run="run-999999"', html, count=1)
        problems = sitecheck.figure_problems(sitecheck.page_facts(unnamed))
        assert any("not in the page's runs table" in p for p in problems)


class _Titles(HTMLParser):
    """The hover labels of every figure on a page: figure id → list of label texts."""

    def __init__(self):
        super().__init__()
        self.figure, self.inside, self.labels = None, False, {}

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure":
            self.figure = a.get("id")
            self.labels[self.figure] = []
        elif tag == "title" and self.figure:
            self.inside = True
            self.labels[self.figure].append("")

    def handle_endtag(self, tag):
        self.inside = self.inside and tag != "title"

    def handle_data(self, data):
        if self.inside:
            self.labels[self.figure][-1] += data


def labels_of(html: str) -> dict[str, list[str]]:
    parser = _Titles()
    parser.feed(html)
    return parser.labels


def test_hover_labels_carry_parameters_recall_and_qps_of_the_run(swept, built):
    frame = results.load(swept)
    good = frame[results.trusted(frame)]  # runs flagged by the single-thread proof (a busy machine) are not drawn
    counts = good[good["algorithm"] == "hnswlib"]["mode"].value_counts()
    if counts.empty:
        pytest.skip("every hnswlib run was flagged (the machine was too busy for the single-thread proof)")
    mode = counts.index[0]
    batch = good[good["mode"] == mode]
    labels = labels_of((built / "datasets/small-dense.html").read_text(encoding="utf-8"))
    qps_figure = next(v for k, v in labels.items() if f"-{mode}-" in k and "qps-recall" in k)
    # Which points are drawn: each algorithm's Pareto frontier of (recall, QPS), computed here again.
    expected = 0
    for _, runs in batch.groupby("algorithm"):
        expected += len(pareto_frontier(runs["recall"].to_numpy(float), runs["qps"].to_numpy(float)))
    assert len(qps_figure) == expected >= 1
    fastest = batch[batch["algorithm"] == "hnswlib"].sort_values("qps").iloc[-1]  # always on the frontier
    ef = json.loads(fastest["query_params"])["ef"]
    label = next(t for t in qps_figure if t.startswith("hnswlib") and f"query: ef={ef}\n" in t)
    assert "build: M=8 ef_construction=40" in label
    assert f"{run_metric('recall').label.format(k=10)}: {fastest['recall']:.4f}\n" in label
    assert f"QPS: {formats.qps(fastest['qps'])}" in label and "," in formats.qps(1e4)
    if not formats.missing(fastest.get("recall_ab")):  # ann-benchmarks' recall, when the run stored it
        assert f"{run_metric('recall_ab').label.format(k=10)}: {fastest['recall_ab']:.4f}\n" in label
    exact = [t for t in qps_figure if t.startswith("exact")]
    if (batch["algorithm"] == "exact").any():  # unless its run was flagged (a busy machine): then not drawn
        assert len(exact) == 1 and f"{run_metric('recall').label.format(k=10)}: 1.0000" in exact[0]
    else:
        assert exact == []


def test_algorithm_page_draws_only_its_own_points_and_lists_its_builds(swept, built):
    html = (built / "algorithms/hnswlib.html").read_text(encoding="utf-8")
    labels = labels_of(html)
    assert labels and all(t.startswith("hnswlib") for v in labels.values() for t in v)
    assert 'data-series="exact"' in html  # the other algorithm: a grey line behind, without hover points
    # exact's frontier is one run per figure: a line of one point, so it is drawn as an unlabelled dot
    exact = html.split('data-series="exact"', 1)[1].split("</g>", 1)[0]
    assert exact.count('class="ctx"') >= 1 and 'class="pt"' not in exact
    frame = results.load(swept)
    build = frame[frame["algorithm"] == "hnswlib"].iloc[0]
    assert formats.duration(build["build_time_s"]) in html
    assert formats.size(build["index_size_bytes"]) in html and formats.size(build["peak_rss_bytes"]) in html
    assert "M=8 ef_construction=40" in html


class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self.skip = [], False

    def handle_starttag(self, tag, attrs):
        self.skip = tag in ("script", "style")

    def handle_endtag(self, tag):
        self.skip = False

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def test_numbers_are_formatted_not_raw(swept, built):
    for path in sitecheck.site_pages(built):
        parser = _Text()
        parser.feed(path.read_text(encoding="utf-8"))
        text = " ".join(parser.parts)
        raw = re.findall(r"\b\d+\.\d{5,}\b|\d\.\d+e-\d+", text)  # e.g. 0.0002295 or 2.3e-05
        assert raw == [], (path, raw[:5])
    frame = results.load(swept)
    index = (built / "index.html").read_text(encoding="utf-8")
    best = frame[(frame["algorithm"] == "hnswlib") & (frame["mode"] == "batch") & (frame["recall"] >= 0.9)]
    assert formats.qps(best["qps"].max()) in index  # the leaderboard's QPS, as printed


def test_environment_lists_every_package_the_runs_used(built):
    index = (built / "index.html").read_text(encoding="utf-8")
    environment = index[index.index('id="environment"'):]
    for name in ("hnswlib", "numpy", "h5py"):
        assert f"<td class=\"text\">{name}</td>" in environment
        assert metadata.version(name) in environment
    # Seismic imports its library inside fit(): still found, from the adapter's source.
    assert "pyseismic-lsr" in software.adapter_distributions("seismic")
    assert "hnswlib" in software.adapter_distributions("hnswlib")
    assert "faiss-cpu" in software.adapter_distributions("faiss-ivf")  # through algorithms/faiss_base.py


def test_hover_labels_print_each_value_in_the_unit_it_names(built):
    labels = labels_of((built / "datasets/small-dense.html").read_text(encoding="utf-8"))
    for figure, texts in labels.items():
        for name, line in (("build_time", "Build time: "), ("p99", "p99 latency: ")):  # "4.55 ms", not "(s): 4.55 ms"
            assert name not in figure or all(f"\n{line}" in t for t in texts), figure
    lines = [line for texts in labels.values() for t in texts for line in t.split("\n")]
    assert lines and not [line for line in lines if re.search(r"\((s|µs|MiB|1/s)\): ", line)]


def test_builds_table_best_values_come_from_trusted_runs_per_mode(swept):
    frame = results.load(swept)
    frame["single_thread_ok"] = frame["single_thread_ok"].astype(object)
    hnsw = (frame["algorithm"] == "hnswlib") & (frame["mode"] == "batch")
    frame.loc[hnsw, "single_thread_ok"] = False  # every batch run of hnswlib flagged
    fastest = frame[(frame["algorithm"] == "hnswlib") & (frame["mode"] == "single")].sort_values("qps").iloc[-1]
    frame.loc[fastest.name, "single_thread_ok"] = False  # and its fastest single run
    table = site.builds_table(frame, "../")
    rows = {(r["algorithm"], r["mode"]): r for r in table.rows}
    assert len(table.rows) == frame.groupby(["file", "mode"]).ngroups  # one row per build and mode
    flagged = rows[("hnswlib", "batch")]
    assert flagged["_flagged"] and formats.missing(flagged["best_qps"]) and formats.missing(flagged["best_recall"])
    assert flagged["trusted_runs"] == 0 and flagged["status"].startswith("no trusted run")
    single = rows[("hnswlib", "single")]
    trusted = frame[(frame["algorithm"] == "hnswlib") & (frame["mode"] == "single") & results.trusted(frame)]
    if trusted.empty:  # the machine was busy: every single run flagged already
        assert single["_flagged"]
    else:
        assert not single["_flagged"] and single["best_qps"] == trusted["qps"].max() <= fastest["qps"]
        assert single["status"].endswith("flagged") and single["trusted_runs"] == len(trusted)
    html = site.environment().from_string('{% from "macros.html.j2" import table %}{{ table(t) }}').render(t=table)
    assert html.count('class="flagged"') == sum(r["_flagged"] for r in table.rows) >= 1


def test_a_leaderboard_row_is_red_exactly_when_it_has_no_qps():
    import pandas as pd

    board = pd.DataFrame({"dataset": ["d"] * 3, "k": [10] * 3, "mode": ["batch"] * 3, "algorithm": ["a", "b", "c"],
                          "qps": [1e4, np.nan, np.nan], "flagged": [2, 0, 3]})
    rows = site.board_table(board, "").rows
    assert [r["_flagged"] for r in rows] == [False, True, True]  # b: below the threshold; c: its runs flagged
    index = (ROOT / "harness/report/templates/index.html.j2").read_text()
    assert "A row in red has no QPS" in index


def test_the_svg_figures_honour_a_logit_x_scale(swept):
    frame = results.load(swept)
    good = frame[results.trusted(frame) & (frame["mode"] == frame["mode"].iloc[0])]
    if good.empty:
        pytest.skip("every run flagged (the machine was too busy for the single-thread proof)")
    colors = {name: (0, 0, 0, 1) for name in results.series_of(good).unique()}
    args = {"chart_id": "c", "title": "t", "k": 10, "colors": colors, "raw": True}
    plain = charts.frontier_chart(good, run_metric("recall"), run_metric("qps"), **args)
    logit = charts.frontier_chart(good, run_metric("recall"), run_metric("qps"), x_scale="logit", **args)
    assert "logit" in logit.x_label and "logit" not in plain.x_label
    assert len(logit.points) == len(plain.points)
    ordered = sorted(logit.points, key=lambda p: p.x)
    assert all(a.px <= b.px for a, b in zip(ordered, ordered[1:], strict=False))  # monotone, recall 1.0 too
    assert all(charts.LEFT <= p.px <= charts.RIGHT for p in logit.points)
    assert logit.x_ticks and all(0 < float(t.label) < 1 for t in logit.x_ticks)
    axis = charts.Axis(np.array([0.5, 0.9, 0.99, 0.999]), False, 0, 100, logit_scale=True)
    assert [t.label for t in axis.ticks()] == ["0.5", "0.9", "0.99", "0.999"]
    assert axis(0.99) - axis(0.9) == pytest.approx(axis(0.999) - axis(0.99), rel=0.05)  # nines about evenly spaced


def test_installed_versions_of_an_adapter_virtualenv_are_labelled(tmp_path):
    import pandas as pd

    venv = tmp_path / "venv"
    dist = venv / "lib" / "python3.11" / "site-packages" / "hnswlib-0.0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hnswlib\nVersion: 0.0.1\n")
    (venv / "bin").mkdir()
    site_packages = [str(dist.parent)]
    assert software.installed_version("hnswlib", site_packages) == "0.0.1"
    assert software.installed_version("numpy", site_packages) == ""  # never this process's numpy instead
    algorithms = tmp_path / "algorithms"
    (algorithms / "mine").mkdir(parents=True)
    (algorithms / "mine" / "adapter.py").write_text("import numpy\n\ndef fit():\n    import hnswlib\n")
    assert software.adapter_distributions("mine", algorithms) == ["hnswlib", "numpy"]
    assert software.adapter_folder("mine", algorithms) == algorithms / "mine"
    assert software.adapter_folder("hnswlib", algorithms) == ROOT / "algorithms" / "hnswlib"  # the project's own
    env = json.dumps({"interpreter": str(venv / "bin" / "python")})
    frame = pd.DataFrame({"algorithm": ["mine"], "environment": [env]})
    found = {p.name: p for p in software.packages(frame, algorithms)}
    for name, there in (("hnswlib", "0.0.1"), ("numpy", "not installed")):  # requirements of the harness too:
        assert found[name].used_by == ["mine", "annsweep"]  # both places, each labelled
        assert found[name].installed == f"{metadata.version(name)} (report environment); {there} (virtualenv of mine)"


def test_a_pipeline_series_links_to_its_adapter_page():
    import pandas as pd

    frame = pd.DataFrame({"series": ["pipe:rerank", None], "algorithm": ["pipe", "hnswlib"]})
    assert site.owners(frame) == {"pipe:rerank": "pipe", "hnswlib": "hnswlib"}


def test_axis_ticks_and_scale():
    axis = charts.Axis(np.array([2.4, 5.1]), True, 0, 100)  # less than a decade: evenly spaced ticks
    assert len(axis.ticks()) >= 3
    wide = charts.Axis(np.array([10.0, 1e5]), True, 0, 100)
    assert [t.label for t in wide.ticks()] == ["10", "100", "1,000", "10,000", "100,000"]
    assert wide(10.0) < wide(1e5)
    flipped = charts.Axis(np.array([0.0, 1.0]), False, 300, 0)  # y: pixels grow downwards
    assert flipped(1.0) < flipped(0.0)


def test_a_stale_bar_chart_in_the_folder_is_not_linked(swept, tmp_path):
    # A group no trusted run brings to the threshold gets no bar chart; one left by an earlier report
    # in the same folder must not be linked as if this report had drawn it.
    stale = tmp_path / f"{plots.file_stem('leaderboard', 'small-dense', 'k10', 'batch')}.png"
    stale.write_bytes(b"old")
    page.write_report(results.load(swept), tmp_path, threshold=1.01)
    html = (tmp_path / "datasets/small-dense.html").read_text(encoding="utf-8")
    assert "leaderboard bars" not in html and stale.name not in html
    page.write_report(results.load(swept), tmp_path, threshold=0.5)
    html = (tmp_path / "datasets/small-dense.html").read_text(encoding="utf-8")
    assert f'href="../{stale.name}"' in html  # drawn by this report: linked


def test_the_report_command_writes_the_site(swept, tmp_path):
    out = tmp_path / "plots"
    assert cli.main(["--results-dir", str(swept), "report", "-o", str(out)]) == 0
    assert (out / "index.html").exists() and (out / "datasets/small-dense.html").exists()
    assert (out / "small-dense_k10_batch_qps-vs-recall.png").exists()  # `annsweep plot`'s figures still there


# --- in headless Chromium -------------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(sitecheck.find_chromium() is None,
                                    reason="no Chromium (Debian package `chromium`; .ci/run installs it)")


@needs_chromium
def test_chromium_check_passes_on_the_site_even_when_moved(built, tmp_path):
    moved = tmp_path / "elsewhere" / "report"
    shutil.copytree(built, moved)
    view = page.check_in_browser(moved / "index.html", screenshot=tmp_path / "index.png")
    assert view.problems == [] and view.ok
    assert view.pages == 4 and view.figures >= 8 and view.points > view.figures and view.tables >= 10
    assert (tmp_path / "index.png").stat().st_size > 10_000


@needs_chromium
def test_chromium_check_fails_on_a_broken_site(built, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(built, broken)
    (broken / "small-dense_k10_batch_qps-vs-recall.png").unlink()  # a linked static figure gone
    algo = broken / "algorithms" / "hnswlib.html"
    html = algo.read_text(encoding="utf-8")
    html = re.sub(r'(<path class="pt"[^>]*>)<title>[^<]*</title>', r"\1", html, count=1)
    algo.write_text(html, encoding="utf-8")  # one point without its hover label
    exact = broken / "algorithms" / "exact.html"
    exact.write_text(exact.read_text(encoding="utf-8").replace("</main>", "<script>notDefined();</script></main>"),
                     encoding="utf-8")
    dataset = broken / "datasets" / "small-dense.html"  # a hover label's QPS no longer its run's
    dataset.write_text(re.sub(r"\nQPS: [^<\n]+</title>", "\nQPS: 99,900</title>", dataset.read_text(encoding="utf-8"),
                              count=1), encoding="utf-8")
    view = page.check_in_browser(broken / "index.html")
    assert not view.ok
    text = "\n".join(view.problems)
    assert "datasets/small-dense.html: figure" in text and "says QPS '99,900', its row in the runs table" in text
    assert "datasets/small-dense.html: link '../small-dense_k10_batch_qps-vs-recall.png' points to a missing" in text
    assert "algorithms/hnswlib.html: figure" in text and "1 of" in text and "no hover label" in text
    assert "algorithms/exact.html: console: Uncaught ReferenceError: notDefined" in text
    assert sum("index.html" in p for p in view.problems) == 0


def test_without_chromium_the_check_is_a_clear_error(built, monkeypatch, swept, tmp_path, capsys):
    monkeypatch.setattr(sitecheck, "find_chromium", lambda: None)
    with pytest.raises(sitecheck.ChromiumMissing, match="no Chromium found"):
        page.check_in_browser(built / "index.html")
    assert cli.main(["--results-dir", str(swept), "report", "-o", str(tmp_path / "p"), "--check"]) == 2
    assert "ANNSWEEP_CHROMIUM" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()  # refused before anything was written
