from pathlib import Path

import pytest

from harness.kit import Algorithm, Catalogue, ConfigError, load_adapter_class
from harness.kit import config as configs

ADAPTER = "from harness.kit import Algorithm\nclass A(Algorithm):\n    accepts = frozenset({'dense'})\n"


def make_algorithm(root: Path, name: str, config: str, adapter: str = ADAPTER) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "adapter.py").write_text(adapter)
    (folder / "config.yml").write_text(config)
    return folder


def test_grid_expansion_and_merged_builds(tmp_path):
    make_algorithm(tmp_path, "algo", """
adapter: A
groups:
  small:
    build: {M: [8, 16], ef_construction: 100}
    query: {ef: [10, 20], beam: [1, 2]}
  again:
    build: {M: 16, ef_construction: 100}
    query: {ef: [20, 40], beam: 1}
""")
    builds = Catalogue(tmp_path).get("algo").builds()
    assert [b.build for b in builds] == [{"M": 8, "ef_construction": 100}, {"M": 16, "ef_construction": 100}]
    assert len(builds[0].queries) == 4
    # M=16 is built once; its query settings are the union of both groups, without repeats.
    assert builds[1].groups == ("small", "again")
    assert builds[1].queries == [{"ef": 10, "beam": 1}, {"ef": 10, "beam": 2}, {"ef": 20, "beam": 1},
                                 {"ef": 20, "beam": 2}, {"ef": 40, "beam": 1}]
    assert builds[1].slug == "M=16_ef_construction=100"
    assert len(Catalogue(tmp_path).get("algo").builds("again")) == 1


def test_a_group_for_some_distances_is_left_out_on_the_others(tmp_path):
    make_algorithm(tmp_path, "algo", """
adapter: A
groups:
  f32: {build: {dtype: f32}, query: {ef: [10, 20]}}
  i8: {build: {dtype: i8}, query: {ef: 10}, distances: [angular, ip]}
""")
    definition = Catalogue(tmp_path).get("algo")
    assert [b.build["dtype"] for b in definition.builds(distance="angular")] == ["f32", "i8"]
    assert [b.build["dtype"] for b in definition.builds(distance="euclidean")] == ["f32"]
    assert [b.build["dtype"] for b in definition.builds()] == ["f32", "i8"]  # listing: every group
    assert definition.builds("i8", distance="euclidean") == []


@pytest.mark.parametrize("config, message", [
    ("adapter: A\ngroups: {g: {build: {}}}\nextra: 1\n", "unknown key(s) ['extra']"),
    ("adapter: A\ngroups: {g: {biuld: {M: 1}}}\n", "run group 'g' has unknown key(s) ['biuld']"),
    ("groups: {g: {}}\n", "'adapter' must name"),
    ("adapter: A\ngroups: {}\n", "'groups' must be a non-empty"),
    ("adapter: A\ngroups: {g: {query: [1, 2]}}\n", "'query' must be a mapping"),
    ("adapter: A\ngroups: {g: [}\n", "invalid YAML"),
    ("adapter: A\ngroups: {g: {distances: [cosine]}}\n", "'distances' must be a list of angular, euclidean, ip"),
    ("adapter: A\ngroups: {g: {distances: angular}}\n", "'distances' must be a list"),
])
def test_bad_configs_name_the_file(tmp_path, config, message):
    folder = make_algorithm(tmp_path, "bad", config)
    with pytest.raises(ConfigError) as info:
        Catalogue(tmp_path).get("bad")
    assert str(folder / "config.yml") in str(info.value)
    assert message in str(info.value)


def test_adapter_class_must_exist(tmp_path):
    make_algorithm(tmp_path, "wrong", "adapter: Missing\ngroups: {g: {}}\n")
    with pytest.raises(ConfigError, match="no subclass .* named 'Missing'"):
        load_adapter_class("wrong", tmp_path)
    good = make_algorithm(tmp_path, "ok", "adapter: A\ngroups: {g: {}}\n")
    assert issubclass(load_adapter_class("ok", good.parent), Algorithm)


def test_unknown_algorithm_lists_known(tmp_path):
    make_algorithm(tmp_path, "one", "adapter: A\ngroups: {g: {}}\n")
    with pytest.raises(ConfigError, match=r"unknown algorithm 'two'.*known: one"):
        Catalogue(tmp_path).get("two")


def test_project_configs_all_load():
    catalogue = Catalogue()
    found = catalogue.discover()
    assert {"exact", "hnswlib", "faiss-ivf", "faiss-hnsw"} <= set(found)
    for definition in found.values():
        assert definition.builds(), definition.name
        assert issubclass(catalogue.adapter_class(definition), Algorithm)


def test_nested_parameters_expand_and_flatten_into_the_slug():
    # The pipeline adapter's stages are mappings; lists inside them expand like top-level ones.
    grid = configs.expand_grid({"candidates": [10, 100], "stage1": {"algorithm": "hnswlib", "ef": [20, 40]}})
    assert grid == [{"candidates": c, "stage1": {"algorithm": "hnswlib", "ef": e}} for c in (10, 100) for e in (20, 40)]
    build = {"stage1": {"algorithm": "hnswlib", "representation": "dense", "build": {"M": 16}},
             "rerank": {"representation": "sparse"}}
    assert configs.params_slug(build) == ("rerank.representation=sparse_stage1.M=16_stage1.algorithm=hnswlib_"
                                          "stage1.representation=dense")
    long = {"stage1": {"algorithm": "x" * 150, "build": {"a": 1}}, "stage2": {"algorithm": "y" * 150}}
    other = {"stage1": {"algorithm": "x" * 150, "build": {"a": 2}}, "stage2": {"algorithm": "y" * 150}}
    slug = configs.params_slug(long)
    assert len(slug) == configs.SLUG_MAX and slug != configs.params_slug(other)  # cut, told apart by a hash
    assert configs.params_slug({"M": 16, "ef_construction": 200}) == "M=16_ef_construction=200"  # flat: unchanged
