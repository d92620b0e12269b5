"""Scene graphs: which ordered image pairs the network sees, in the official order.

Graph strings: `complete`, `swin-K` (each image with the next K), `logwin-K` (offsets 1, 2,
4 ... 2^(K-1) both ways), `oneref-R` (image R with every other), `sequence-K` (footage, see
`sequence_pairs`; never wraps); `swin`/`logwin` take a `-noncyclic` suffix that stops the
window wrapping from the last image to the first. The
windowed graphs come out in Python set iteration order, as the official code builds them in
a set; symmetrisation appends the mirrored list after the whole list.
"""
from __future__ import annotations

import re
from typing import Optional, Sequence

from .options import SCENE_GRAPHS, ids

_GRAPH = re.compile(rf"({'|'.join(ids(SCENE_GRAPHS))})(?:-(\d+))?(-noncyclic)?")
_PREFILTER = re.compile(r"(seq|cyc)(\d+)")
_DEFAULT_PARAM = {"swin": 3, "logwin": 3, "oneref": 0, "sequence": 3}
SEQUENCE_WINDOW = 3  # the automatic sequence graph's K (`sequence_graph`)
COMPLETE_UP_TO = 8  # ... and up to this many frames it pairs every frame with every other


def parse_graph(scene_graph: str) -> tuple[str, int, bool]:
    """(kind, window or reference, cyclic) of a graph string; ValueError when malformed."""
    match = _GRAPH.fullmatch(scene_graph)
    if match is None:
        raise ValueError(
            f"Unknown scene graph {scene_graph!r}: use 'complete', 'swin-K', 'logwin-K' or "
            "'oneref-R' (K, R whole numbers), optionally followed by '-noncyclic'")
    kind, param, noncyclic = match.groups()
    if param is not None and kind == "complete":
        raise ValueError(f"Scene graph {scene_graph!r}: 'complete' takes no number")
    param = int(param) if param is not None else _DEFAULT_PARAM.get(kind, 0)
    if kind in ("swin", "logwin", "sequence") and param < 1:
        raise ValueError(f"Scene graph {scene_graph!r}: the window must be at least 1")
    return kind, param, noncyclic is None


def _windowed(n: int, offsets: Sequence[int], cyclic: bool, keep_self: bool) -> list[tuple[int, int]]:
    # Same tuples inserted in the same order into a set as the official code: same iteration order.
    pairs = set()
    for i in range(n):
        for j in (i + offset for offset in offsets):
            if cyclic:
                j %= n
            elif not 0 <= j < n:
                continue
            if keep_self or j != i:
                pairs.add((min(i, j), max(i, j)))
    return list(pairs)


def sequence_pairs(n: int, window: int) -> list[tuple[int, int]]:
    """The `sequence-K` graph of n frames in order, as (i, j) with i < j, sorted.

    A sliding window (each frame with its next K) keeps neighbouring frames consistent; on
    top, for each offset o = 2K, 4K, 8K ... below n, the frames o apart starting at every
    (o / 2)-th frame are linked, and the last frame with the one o before it: about 2n/K
    long links in all (O(n) pairs, not O(n log n)), so that every frame reaches every other
    through O(log n) links and drift along a long shot, or round a path that comes back, is
    held by direct pairs. Never wraps around.
    """
    pairs = {(i, i + d) for d in range(1, window + 1) for i in range(n - d)}
    offset = 2 * window
    while offset < n:
        pairs.update((i, i + offset) for i in range(0, n - offset, offset // 2))
        pairs.add((n - 1 - offset, n - 1))
        offset *= 2
    return sorted(pairs)


def sequence_graph(n: int) -> str:
    """The graph an image sequence of n frames gets when the user names none: `complete` up
    to COMPLETE_UP_TO frames (few pairs anyway, and the most constraints), else
    `sequence-{SEQUENCE_WINDOW}`."""
    return "complete" if n <= COMPLETE_UP_TO else f"sequence-{SEQUENCE_WINDOW}"


def _gap(i: int, j: int, n: int, cyclic: bool) -> int:
    gap = abs(i - j)
    return min(gap, n - gap) if cyclic else gap


def pair_indices(n: int, scene_graph: str = "complete", prefilter: Optional[str] = None,
                 symmetrize: bool = True) -> list[tuple[int, int]]:
    """The (i, j) image-index pairs `make_pairs` gives for n images, in the same order.

    One image gives exactly [(0, 0)] whatever the graph (single-image reconstruction).
    Invalid graph or prefilter strings, and a `oneref` reference outside the images, raise
    ValueError.
    """
    kind, param, cyclic = parse_graph(scene_graph)
    prefilter_match = None if prefilter is None else _PREFILTER.fullmatch(prefilter)
    if prefilter is not None and prefilter_match is None:
        raise ValueError(f"Unknown pair prefilter {prefilter!r}: use 'seqN' or 'cycN' "
                         "(N a whole number) or None")
    if n < 1:
        raise ValueError("No images to pair")
    if n == 1:
        return [(0, 0)]

    if kind == "complete":
        pairs = [(i, j) for i in range(n) for j in range(i)]
    elif kind == "swin":
        # Self-pairs are kept here (they appear when K >= n in the cyclic case), as officially.
        pairs = _windowed(n, range(1, param + 1), cyclic, keep_self=True)
    elif kind == "logwin":
        offsets = [2 ** k for k in range(param)]
        pairs = _windowed(n, offsets + [-o for o in offsets], cyclic, keep_self=False)
    elif kind == "sequence":
        pairs = sequence_pairs(n, param)
    else:
        if param >= n:
            raise ValueError(f"Scene graph {scene_graph!r}: reference image {param} does not "
                             f"exist among {n} images (indices 0 to {n - 1})")
        pairs = [(param, j) for j in range(n) if j != param]

    if symmetrize:
        pairs = pairs + [(j, i) for i, j in pairs]
    if prefilter_match is not None:
        mode, limit = prefilter_match.group(1), int(prefilter_match.group(2))
        pairs = [(i, j) for i, j in pairs if _gap(i, j, n, mode == "cyc") <= limit]
    return pairs


def make_pairs(images: Sequence[dict], scene_graph: str = "complete", prefilter: Optional[str] = None,
               symmetrize: bool = True) -> list[tuple[dict, dict]]:
    """The (view_a, view_b) pairs of the official `make_pairs`, by position in `images`.

    A single image is paired once with itself (the same dict twice).
    """
    return [(images[i], images[j])
            for i, j in pair_indices(len(images), scene_graph, prefilter, symmetrize)]


def fit_graph(scene_graph: str, n: int) -> str:
    """The graph string to use for n images: a cyclic sliding window of K >= n wraps around
    onto the image itself (official self-pairs, which carry no information), so its window
    becomes n - 1, which already pairs every image with every other. Other graphs as given."""
    kind, param, cyclic = parse_graph(scene_graph)
    if kind == "swin" and cyclic and n > 1 and param >= n:
        return f"swin-{n - 1}"
    return scene_graph


def graph_string(kind: str, window: int = 3, reference: int = 0, noncyclic: bool = False) -> str:
    """The graph string of its parts (the panel's pair settings)."""
    if kind in ("swin", "logwin"):
        return f"{kind}-{window}" + ("-noncyclic" if noncyclic else "")
    if kind == "sequence":
        return f"{kind}-{window}"
    if kind == "oneref":
        return f"oneref-{reference}"
    return kind
