"""Scene graphs give the official pairs in the official order (fixtures/make_pairs_table.json)."""
import json
import re

import pytest

from core.pairs import make_pairs, pair_indices


@pytest.fixture(scope="module")
def table(official):
    return json.loads((official / "make_pairs_table.json").read_text())


def official_cases(table):
    for graph, by_n in table.items():
        if graph.startswith("_"):
            continue
        for n, lists in by_n.items():
            for key, symmetrize in (("nosym", False), ("sym", True)):
                yield graph, int(n), symmetrize, lists[key]


def test_every_official_entry(table):
    checked = 0
    for graph, n, symmetrize, expected in official_cases(table):
        if n == 1:
            continue  # our single-image rule, tested below
        if isinstance(expected, str):  # the official code crashed (oneref-2 with n < 3)
            with pytest.raises(ValueError, match="reference image 2 does not exist"):
                pair_indices(n, graph, symmetrize=symmetrize)
            continue
        assert pair_indices(n, graph, symmetrize=symmetrize) == [tuple(p) for p in expected], \
            (graph, n, symmetrize)
        checked += 1
    assert checked == 13 * 11 * 2 - 2  # graphs x n=2..12 x sym, less the 2 crashes


def test_official_prefilters(table):
    for name, expected in table["_prefilter"].items():
        graph, n, prefilter = re.fullmatch(r"(\S+) n=(\d+) (\S+)", name).groups()
        assert pair_indices(int(n), graph, prefilter) == [tuple(p) for p in expected], name


def test_symmetrized_list_is_the_plain_list_then_its_mirror():
    plain = pair_indices(6, "swin-2", symmetrize=False)
    assert pair_indices(6, "swin-2") == plain + [(j, i) for i, j in plain]


@pytest.mark.parametrize("graph", ["complete", "swin", "swin-3-noncyclic", "logwin-2",
                                   "oneref", "oneref-3"])
@pytest.mark.parametrize("symmetrize", [False, True])
def test_one_image_pairs_with_itself_once(graph, symmetrize):
    assert pair_indices(1, graph, symmetrize=symmetrize) == [(0, 0)]
    view = {"idx": 0}
    pairs = make_pairs([view], graph, symmetrize=symmetrize)
    assert len(pairs) == 1 and pairs[0][0] is view and pairs[0][1] is view


def test_make_pairs_uses_list_positions_not_idx():
    views = [{"idx": 10 + k, "name": k} for k in range(4)]
    pairs = make_pairs(views, "oneref-1")
    assert [(a["name"], b["name"]) for a, b in pairs] == pair_indices(4, "oneref-1")
    assert all(a is views[a["name"]] and b is views[b["name"]] for a, b in pairs)


@pytest.mark.parametrize("graph", ["", "full", "swin-", "swin-x", "swin-0", "logwin-0",
                                   "complete-2", "oneref-noncyclic-1", "swin-3-cyclic", " swin-3"])
def test_invalid_graphs_are_value_errors(graph):
    with pytest.raises(ValueError, match="(?i)scene graph"):
        pair_indices(4, graph)


@pytest.mark.parametrize("prefilter", ["seq", "cyc-1", "win2", "seq 2"])
def test_invalid_prefilters_are_value_errors(prefilter):
    with pytest.raises(ValueError, match="prefilter"):
        pair_indices(4, "complete", prefilter)


def test_reference_outside_the_images_and_no_images():
    with pytest.raises(ValueError, match=r"reference image 5 does not exist among 5 images \(indices 0 to 4\)"):
        pair_indices(5, "oneref-5")
    with pytest.raises(ValueError, match="No images"):
        pair_indices(0)
