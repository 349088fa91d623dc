"""What the Action100M annotations hold, as a JSON summary and charts: behind ``reelset action100m stats``.

:func:`annotation_stats` streams the parquet shards (the ``video_uid`` and ``nodes`` columns only, a few hundred rows
at a time), builds each row's Tree-of-Captions with :func:`~reelset.action100m.tree.build_tree` (which gives every
node its tier from the tree, not from its level) and counts:

- per level: nodes, nodes by tier, and segment durations (mean, median, 10th and 90th percentile);
- caption availability: nodes that carry ``gpt``, ``plm_caption``, ``plm_action``, ``llama3_caption``, by tier;
- "N/A" in each ``gpt`` field, and nodes whose action brief, detailed and actor are all "N/A";
- the most frequent action briefs after normalisation, and how many distinct briefs are near-duplicates;
- survival under a cut at ``clip_seconds``: nodes inside the cut, crossing it, starting after it (all nodes and
  ``gpt`` nodes, per level); with a clips folder, the same for the downloaded clips at each clip's real length.

Memory stays flat in the number of rows, with one exception said up front: durations go into a fixed histogram per
level (:data:`BINS_PER_DECADE` log-spaced bins, so a quantile is exact to within half a bin, 0.6%; means, minima and
maxima are exact), every other count is a number, and only the briefs need a table that grows: one entry per
distinct normalised brief (a ``Counter`` of strings, roughly 150 bytes per distinct brief).

Definitions, as ``docs/stats.md`` gives them with examples:

- normalised brief: casefolded, apostrophes removed, every other run of punctuation or symbols made a space,
  whitespace collapsed; "N/A" (any spelling) and briefs left empty are not counted;
- near-duplicate: a distinct normalised brief whose *key* (:func:`brief_key`: its words without a short list of
  function words, each cut to a naive stem) is the key of another distinct normalised brief;
- survival: a node ``[start, end)`` is *inside* a cut at ``C`` when ``end <= C``, *crossing* it when
  ``start < C < end``, *after* it when ``start >= C``.
"""

from __future__ import annotations

import heapq
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from reelset.action100m.schema import NODES, VIDEO_UID
from reelset.action100m.shards import iter_batches, open_shard, require_shards
from reelset.action100m.tree import GPT_FIELDS, LEAF, MID, ROOT, Node, Tree, build_tree, is_na
from reelset.core.atomic import atomic_outputs, check_output
from reelset.core.errors import ReelsetError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STATS_FILE = "stats.json"
CHART_FILES = ("levels.png", "captions.png", "briefs.png", "survival.png")
DEFAULT_OUT_DIR = Path("action100m-stats")
DPI = 150

TIERS = (ROOT, MID, LEAF)
CAPTION_SOURCES = ("gpt", "plm_caption", "plm_action", "llama3_caption")
PLACES = ("inside", "crossing", "after")
GPT_MIN_SECONDS = 4.0  # Stage 3 captions only segments this long (the dataset's rule): "eligible" nodes
ROWS_PER_BATCH = 256  # rows turned into Python objects at a time: trees reach 5,570 nodes
PROBLEM_EXAMPLES = 5

# Durations histogram: log-spaced bins from 10 ms to 100,000 s, with one underflow and one overflow bin.
BINS_PER_DECADE = 200  # a bin is 1.16% wide: its centre is within 0.58% of any duration in it
LOWEST_DECADE, HIGHEST_DECADE = -2, 5
INNER_BINS = BINS_PER_DECADE * (HIGHEST_DECADE - LOWEST_DECADE)
BINS = INNER_BINS + 2

# Function words left out of a brief's key; particles ("up", "out", "off") stay: "pick up" is not "pick".
STOP_WORDS = frozenset(
    "a an the some any this that these those it its his her their them they he she him my your our one "
    "of to in on at into onto with from for by and or".split()
)
_APOSTROPHES = re.compile(r"['\u2019`]")
_NOT_WORD = re.compile(r"[\W_]+")
_VOWELS = frozenset("aeiouy")

PLACE_COLOURS = {"inside": "#2E7D32", "crossing": "#F2A541", "after": "#B0B7C3"}
TIER_COLOURS = {ROOT: "#37474F", MID: "#2F6DB5", LEAF: "#F2A541"}  # as the `show` timeline draws them
NA_COLOUR = "#C62828"


@dataclass
class StatsSummary:
    """What :func:`annotation_stats` found (``report``: the content of ``stats.json``) and the files it wrote."""

    report: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    @property
    def trees(self) -> int:
        return self.report["trees"]

    @property
    def nodes(self) -> int:
        return self.report["nodes"]


def normalise_brief(text: str) -> str:
    """``text`` casefolded, apostrophes removed, other punctuation and symbols made spaces, whitespace collapsed:
    ``"Cut the onion."`` and ``"cut  the ONION"`` are both ``"cut the onion"``; ``"Don't stir!"`` is ``"dont stir"``."""
    return " ".join(_NOT_WORD.sub(" ", _APOSTROPHES.sub("", text.casefold())).split())


def stem(word: str) -> str:
    """A naive stem, enough to meet singular and plural, bare verb and -ing form: ``onions``, ``onion`` -> ``onion``;
    ``cutting``, ``cut`` -> ``cut``; ``slicing``, ``slices``, ``slice`` -> ``slic``. It never claims to be English
    morphology: ``knives`` (``kniv``) and ``knife`` (``knif``) stay apart."""
    if len(word) > 5 and word.endswith("ing") and _VOWELS & set(word[:-3]):
        word = word[:-3]
        if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "aeiouylsfz":
            word = word[:-1]  # cutting -> cutt -> cut; "add" (adding) is too short to lose a letter
    elif len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif word.endswith(("sses", "shes", "ches", "xes", "zes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def brief_key(normalised: str) -> str:
    """The key under which near-duplicate briefs meet: the words of ``normalised`` (a :func:`normalise_brief`
    result) without :data:`STOP_WORDS`, each cut by :func:`stem`, in their order; a brief of function words alone
    is its own key. ``"cut the onions"``, ``"cutting an onion"`` and ``"cut onion"`` share ``"cut onion"``."""
    words = [stem(word) for word in normalised.split() if word not in STOP_WORDS]
    return " ".join(words) if words else normalised


def near_duplicates(briefs: Counter[str]) -> tuple[int, int]:
    """``(briefs, groups)``: how many distinct briefs share their :func:`brief_key` with another, in how many
    groups (keys shared by two or more briefs)."""
    sizes = Counter(brief_key(brief) for brief in briefs)
    shared = [size for size in sizes.values() if size > 1]
    return sum(shared), len(shared)


def duration_bin(seconds: np.ndarray) -> np.ndarray:
    """The histogram bin of each duration: 0 below 10 ms, ``BINS - 1`` from 100,000 s (and for infinities)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        position = np.floor((np.log10(seconds) - LOWEST_DECADE) * BINS_PER_DECADE) + 1
    return np.clip(np.nan_to_num(position, nan=0, posinf=BINS - 1, neginf=0), 0, BINS - 1).astype(np.int64)


def quantile_from_histogram(counts: np.ndarray, p: float, lowest: float, highest: float) -> float:
    """The lower ``p``-quantile (the smallest duration with at least ``p`` of them at or below it), as the
    geometric centre of its bin, kept within the exact ``[lowest, highest]``: within 0.6% of the true value."""
    total = int(counts.sum())
    rank = max(1, math.ceil(round(p * total, 9)))
    index = int(np.searchsorted(np.cumsum(counts), rank))
    if index == 0:
        return lowest
    if index >= BINS - 1:
        return highest
    centre = 10 ** (LOWEST_DECADE + (index - 0.5) / BINS_PER_DECADE)
    return min(max(centre, lowest), highest)


def clip_length(path: Path) -> float | None:
    """A clip's length in seconds: from its MP4 index when it can be read directly, else from ffprobe; None when
    neither can tell (the clip is then left out, and counted)."""
    from reelset.core.ffmpeg import MediaError, probe
    from reelset.core.mp4 import read_mp4_video

    video = read_mp4_video(path)
    if video is not None and video.duration > 0:
        return video.duration
    try:
        info = probe(path, label=path.name, timeout=60)
    except MediaError:
        return None
    return info.duration if info.duration and info.duration > 0 else None


class _Survival:
    """Nodes inside, crossing and after a cut, per level, for all nodes and for ``gpt`` nodes (index 0 and 1)."""

    def __init__(self) -> None:
        self.counts = np.zeros((0, 2, len(PLACES)), np.int64)

    def add(self, level: np.ndarray, start: np.ndarray, end: np.ndarray, cut: np.ndarray, gpt: np.ndarray) -> None:
        levels = int(level.max()) + 1 if level.size else 0
        if levels > self.counts.shape[0]:
            self.counts = np.pad(self.counts, ((0, levels - self.counts.shape[0]), (0, 0), (0, 0)))
        place = np.where(end <= cut, 0, np.where(start < cut, 1, 2))
        index = np.concatenate([level * 6 + place, (level * 6 + 3 + place)[gpt]])
        self.counts += np.bincount(index, minlength=self.counts.size).reshape(self.counts.shape)

    def report(self) -> dict[str, Any]:
        return {
            "nodes": _places(self.counts[:, 0].sum(axis=0)),
            "gpt_nodes": _places(self.counts[:, 1].sum(axis=0)),
            "levels": [{"level": level, "nodes": _places(self.counts[level, 0]),
                        "gpt_nodes": _places(self.counts[level, 1])}
                       for level in range(self.counts.shape[0]) if self.counts[level, 0].sum()],
        }


def _places(counts: np.ndarray) -> dict[str, Any]:
    total = int(counts.sum())
    return {**{place: int(count) for place, count in zip(PLACES, counts)},
            "fractions": {place: _ratio(int(count), total) for place, count in zip(PLACES, counts)}}


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def _seconds(value: float) -> float | None:
    return round(float(value), 4) if math.isfinite(value) else None


class _Tally:
    """The running counts of one pass over the shards; :meth:`add_tree` per row, :meth:`flush` per batch."""

    def __init__(self, clip_seconds: float, clips: dict[str, Path] | None):
        self.clip_seconds = clip_seconds
        self.clips = clips
        self.clip_lengths: dict[str, float] = {}
        self.unreadable_clips: list[str] = []
        self.trees = 0
        self.trees_whole = 0  # trees that end at or before the cut: nothing of them is lost
        self.problem_trees = 0
        self.problem_examples: list[str] = []
        self.levels = np.zeros((0, len(TIERS)), np.int64)
        self.histogram = np.zeros((0, BINS), np.int64)
        self.seconds_sum = np.zeros(0)
        self.seconds_min = np.zeros(0)
        self.seconds_max = np.zeros(0)
        self.captions = {source: [0, 0, 0] for source in CAPTION_SOURCES}
        self.eligible = 0
        self.eligible_with_gpt = 0
        self.gpt_nodes = 0
        self.na = dict.fromkeys(GPT_FIELDS, 0)
        self.missing = dict.fromkeys(GPT_FIELDS, 0)
        self.all_na = 0
        self.actor_only_na = 0
        self.briefs: Counter[str] = Counter()
        self.brief_count = 0
        self.cut = _Survival()
        self.clip_cut = _Survival()
        self._batch: dict[str, list] = self._empty_batch()

    @staticmethod
    def _empty_batch() -> dict[str, list]:
        return {"level": [], "tier": [], "start": [], "end": [], "gpt": [], "clip_end": []}

    def add_tree(self, tree: Tree) -> None:
        self.trees += 1
        if tree.problems or not tree.nodes:
            self.problem_trees += 1
            if len(self.problem_examples) < PROBLEM_EXAMPLES:
                self.problem_examples.append(f"{tree.video_uid}: {'; '.join(tree.problems) or 'no nodes'}")
        tree_end = tree.end
        if tree_end is not None and tree_end <= self.clip_seconds:
            self.trees_whole += 1
        clip_end = self._clip_end(tree.video_uid)
        batch = self._batch
        for node in tree.nodes:
            tier = TIERS.index(node.tier)
            batch["level"].append(node.level)
            batch["tier"].append(tier)
            batch["start"].append(node.start)
            batch["end"].append(node.end)
            batch["gpt"].append(node.gpt is not None)
            batch["clip_end"].append(clip_end)
            for source in CAPTION_SOURCES:
                value = node.gpt if source == "gpt" else getattr(node, source)
                if value is not None and (not isinstance(value, str) or value.strip()):
                    self.captions[source][tier] += 1
            if node.tier != LEAF and node.end - node.start >= GPT_MIN_SECONDS:
                self.eligible += 1
                self.eligible_with_gpt += node.gpt is not None
            if node.gpt is not None:
                self._add_gpt(node)

    def _add_gpt(self, node: Node) -> None:
        self.gpt_nodes += 1
        texts = {name: node.gpt_text(name) for name in GPT_FIELDS}
        na = {name: is_na(text) for name, text in texts.items()}
        for name, text in texts.items():
            self.na[name] += na[name]
            self.missing[name] += text is None
        action_na = [na["gpt_action_brief"], na["gpt_action_detailed"], na["gpt_action_actor"]]
        if all(action_na):
            self.all_na += 1
        elif action_na == [False, False, True]:
            self.actor_only_na += 1
        brief = texts["gpt_action_brief"]
        if brief is not None and not na["gpt_action_brief"]:
            normalised = normalise_brief(brief)
            if normalised:
                self.briefs[normalised] += 1
                self.brief_count += 1

    def _clip_end(self, video_uid: str) -> float:
        """The length of the video's downloaded clip, NaN when there is none (or it cannot be read)."""
        if not self.clips or video_uid not in self.clips:
            return math.nan
        if video_uid not in self.clip_lengths:
            length = clip_length(self.clips[video_uid])
            if length is None:
                self.unreadable_clips.append(self.clips[video_uid].name)
                length = math.nan
            self.clip_lengths[video_uid] = length
        return self.clip_lengths[video_uid]

    def flush(self) -> None:
        """Fold the nodes gathered since the last flush into the arrays, all at once."""
        batch, self._batch = self._batch, self._empty_batch()
        if not batch["level"]:
            return
        level = np.asarray(batch["level"], np.int64)
        if level.min() < 0:  # not in the data; a row of another tool's making must not break the counts
            level = np.maximum(level, 0)
        tier = np.asarray(batch["tier"], np.int64)
        start = np.asarray(batch["start"], np.float64)
        end = np.asarray(batch["end"], np.float64)
        gpt = np.asarray(batch["gpt"], bool)
        clip_end = np.asarray(batch["clip_end"], np.float64)
        self._grow(int(level.max()) + 1)
        levels = self.levels.shape[0]
        duration = end - start
        self.levels += np.bincount(level * len(TIERS) + tier, minlength=self.levels.size).reshape(self.levels.shape)
        self.histogram += np.bincount(level * BINS + duration_bin(duration),
                                      minlength=self.histogram.size).reshape(self.histogram.shape)
        self.seconds_sum += np.bincount(level, weights=duration, minlength=levels)
        np.minimum.at(self.seconds_min, level, duration)
        np.maximum.at(self.seconds_max, level, duration)
        self.cut.add(level, start, end, np.full_like(end, self.clip_seconds), gpt)
        with_clip = ~np.isnan(clip_end)
        if with_clip.any():
            self.clip_cut.add(level[with_clip], start[with_clip], end[with_clip], clip_end[with_clip],
                              gpt[with_clip])

    def _grow(self, levels: int) -> None:
        extra = levels - self.levels.shape[0]
        if extra <= 0:
            return
        self.levels = np.pad(self.levels, ((0, extra), (0, 0)))
        self.histogram = np.pad(self.histogram, ((0, extra), (0, 0)))
        self.seconds_sum = np.pad(self.seconds_sum, (0, extra))
        self.seconds_min = np.pad(self.seconds_min, (0, extra), constant_values=math.inf)
        self.seconds_max = np.pad(self.seconds_max, (0, extra), constant_values=-math.inf)


def _durations(histogram: np.ndarray, count: int, total: float, lowest: float, highest: float) -> dict[str, Any]:
    def quantile(p: float) -> float | None:
        return _seconds(quantile_from_histogram(histogram, p, lowest, highest))

    return {"mean": _seconds(total / count), "median": quantile(0.5), "p10": quantile(0.1), "p90": quantile(0.9),
            "min": _seconds(lowest), "max": _seconds(highest)}


def _report(tally: _Tally, *, data_dir: Path, shards: int, videos_dir: Path | None, top: int) -> dict[str, Any]:
    """The content of ``stats.json``, from the finished tally."""
    nodes_by_level = tally.levels.sum(axis=1)
    nodes = int(nodes_by_level.sum())
    levels = []
    for level in np.flatnonzero(nodes_by_level):
        count = int(nodes_by_level[level])
        levels.append({
            "level": int(level), "nodes": count,
            "tiers": {tier: int(value) for tier, value in zip(TIERS, tally.levels[level])},
            "seconds": _durations(tally.histogram[level], count, tally.seconds_sum[level],
                                  tally.seconds_min[level], tally.seconds_max[level]),
        })
    tiers = {tier: int(value) for tier, value in zip(TIERS, tally.levels.sum(axis=0))}
    captions: dict[str, Any] = {}
    for source, by_tier in tally.captions.items():
        captions[source] = {"nodes": sum(by_tier), "fraction": _ratio(sum(by_tier), nodes),
                            "by_tier": {tier: {"nodes": count, "fraction": _ratio(count, tiers[tier])}
                                        for tier, count in zip(TIERS, by_tier)}}
    captions["gpt_eligible"] = {"nodes": tally.eligible, "with_gpt": tally.eligible_with_gpt,
                                "fraction": _ratio(tally.eligible_with_gpt, tally.eligible),
                                "rule": f"internal nodes of {GPT_MIN_SECONDS:g} s or more"}
    gpt = tally.gpt_nodes
    top_briefs = heapq.nsmallest(top, tally.briefs.items(), key=lambda item: (-item[1], item[0]))
    near, groups = near_duplicates(tally.briefs)
    report: dict[str, Any] = {
        "data_dir": str(data_dir),
        "shards": shards,
        "trees": tally.trees,
        "trees_with_problems": tally.problem_trees,
        "problem_examples": tally.problem_examples,
        "nodes": nodes,
        "depth": len(tally.levels),
        "tiers": tiers,
        "seconds": (_durations(tally.histogram.sum(axis=0), nodes, float(tally.seconds_sum.sum()),
                               float(tally.seconds_min.min()), float(tally.seconds_max.max())) if nodes else None),
        "levels": levels,
        "captions": captions,
        "na": {
            "gpt_nodes": gpt,
            "fields": {name: {"na": tally.na[name], "missing": tally.missing[name],
                              "rate": _ratio(tally.na[name], gpt)} for name in GPT_FIELDS},
            "action_all_na": tally.all_na, "action_all_na_rate": _ratio(tally.all_na, gpt),
            "actor_only_na": tally.actor_only_na, "actor_only_na_rate": _ratio(tally.actor_only_na, gpt),
        },
        "briefs": {
            "briefs": tally.brief_count, "distinct": len(tally.briefs),
            "near_duplicates": near, "near_duplicate_groups": groups,
            "top": [{"brief": brief, "count": count} for brief, count in top_briefs],
        },
        "survival": {"clip_seconds": tally.clip_seconds, "trees": tally.trees, "trees_whole": tally.trees_whole,
                     **tally.cut.report()},
        "clips": None,
    }
    if videos_dir is not None:
        lengths = [length for length in tally.clip_lengths.values() if not math.isnan(length)]
        report["clips"] = {
            "videos_dir": str(videos_dir), "clips": len(tally.clips or {}), "trees": len(lengths),
            "without_row": len(set(tally.clips or {}) - set(tally.clip_lengths)),
            "unreadable": tally.unreadable_clips,
            "seconds": ({"mean": _seconds(sum(lengths) / len(lengths)), "min": _seconds(min(lengths)),
                         "max": _seconds(max(lengths))} if lengths else None),
            **tally.clip_cut.report(),
        }
    return report


def annotation_stats(
    data_dir: Path,
    *,
    videos_dir: Path | None = None,
    out_dir: Path = DEFAULT_OUT_DIR,
    clip_seconds: float = 90.0,
    top: int = 30,
    on_rows: Callable[[int], None] = lambda rows: None,
    on_total: Callable[[int], None] = lambda rows: None,
) -> StatsSummary:
    """Count what the Tree-of-Captions of ``data_dir``'s shards hold; write ``stats.json`` and four PNG charts.

    Args:
        data_dir: the folder of ``data/*.parquet`` (as the ids step fetched it).
        videos_dir: a folder of downloaded clips (``<id>.mp4``); with it, survival is also counted for the trees
            of those clips, each cut at its clip's real length. None: skip that part.
        out_dir: where ``stats.json``, ``levels.png``, ``captions.png``, ``briefs.png`` and ``survival.png`` go;
            they take their names together, once all are complete.
        clip_seconds: the cut of the survival counts over all trees (the downloader's default clip length).
        top: how many of the most frequent briefs to list and draw.
        on_rows: called with the number of rows after each batch (progress).
        on_total: called once, before the pass, with the number of rows of all shards (from their footers).

    Returns:
        The report (what ``stats.json`` holds) and the paths written.

    Raises:
        ReelsetError: an output cannot be written (checked before any shard is read), no shard, a shard unreadable
            or of another schema, a corrupt row group, ``videos_dir`` not a folder, no usable node in any row.
    """
    out_dir = Path(out_dir)
    if not (math.isfinite(clip_seconds) and clip_seconds > 0):
        raise ReelsetError(f"clip_seconds must be a positive number of seconds, got {clip_seconds!r}")
    if top < 1:
        raise ReelsetError(f"top must be at least 1, got {top!r}")
    check_output(out_dir, folder=True)
    targets = [out_dir / name for name in (STATS_FILE, *CHART_FILES)]
    for target in targets:
        check_output(target)
    shards = require_shards(data_dir)
    clips = None
    if videos_dir is not None:
        from reelset.action100m.dataset import clip_ids

        if not Path(videos_dir).is_dir():
            raise ReelsetError(f"{videos_dir}: not a folder of clips (leave the clips folder out to skip them)")
        clips = clip_ids(videos_dir)
    on_total(sum(open_shard(path).metadata.num_rows for path in shards))

    tally = _Tally(clip_seconds, clips)
    for _, batch in iter_batches(shards, (VIDEO_UID, NODES), batch_size=ROWS_PER_BATCH):
        for video_uid, raw_nodes in zip(batch.column(VIDEO_UID).to_pylist(), batch.column(NODES).to_pylist()):
            tally.add_tree(build_tree(str(video_uid), raw_nodes))
        tally.flush()
        on_rows(batch.num_rows)
    if not tally.levels.any():
        example = f" (e.g. {tally.problem_examples[0]})" if tally.problem_examples else ""
        raise ReelsetError(f"{data_dir}: no usable Tree-of-Captions node in {tally.trees} row(s){example}")

    report = _report(tally, data_dir=Path(data_dir), shards=len(shards), videos_dir=videos_dir, top=top)
    figures = [levels_figure(report), captions_figure(report), briefs_figure(report), survival_figure(report)]
    with atomic_outputs(targets[0]) as staged:
        staged.new().write_text(json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                                encoding="utf-8")
        for figure in figures:
            # The temporary names do not end in .png, so the format is given.
            figure.savefig(staged.new(), format="png", dpi=DPI)
        staged.commit(targets)
    return StatsSummary(report, targets)


def summary_lines(summary: StatsSummary) -> list[str]:
    """The end-of-run report, one plain line each."""
    report = summary.report
    lines = [f"trees: {report['trees']:,} in {report['shards']} shard(s), {report['trees_with_problems']:,} with "
             f"problems; nodes: {report['nodes']:,} in {report['depth']} levels "
             f"({', '.join(f'{count:,} {tier}' for tier, count in report['tiers'].items())})"]
    levels = report["levels"]
    lines.append("nodes per level: " + ", ".join(f"{level['level']}: {level['nodes']:,}" for level in levels))
    lines.append("median seconds per level: " + ", ".join(f"{level['level']}: {level['seconds']['median']:.3g}"
                                                          for level in levels))
    captions = report["captions"]
    eligible = captions["gpt_eligible"]
    coverage = ", ".join(f"{source} {_percent(captions[source]['fraction'])}" for source in CAPTION_SOURCES[1:])
    lines.append(f"captions: gpt on {captions['gpt']['nodes']:,} nodes ({_percent(captions['gpt']['fraction'])}; "
                 f"{_percent(eligible['fraction'])} of internal nodes >= {GPT_MIN_SECONDS:g} s), {coverage} "
                 f"(llama3_caption on {_percent(captions['llama3_caption']['by_tier'][LEAF]['fraction'])} of leaves)")
    na = report["na"]
    lines.append("N/A in gpt: " + ", ".join(f"{name.removeprefix('gpt_')} {_percent(value['rate'])}"
                                            for name, value in na["fields"].items())
                 + f"; action brief, detailed and actor all N/A {_percent(na['action_all_na_rate'])}")
    briefs = report["briefs"]
    most = briefs["top"][0] if briefs["top"] else None
    lines.append(f"briefs: {briefs['briefs']:,}, {briefs['distinct']:,} distinct, {briefs['near_duplicates']:,} "
                 f"near-duplicates in {briefs['near_duplicate_groups']:,} groups"
                 + (f"; most frequent: {most['brief']!r} ({most['count']:,})" if most else ""))
    lines.append(_survival_line(f"{report['survival']['clip_seconds']:g} s cut", report["survival"]))
    clips = report["clips"]
    if clips is not None:
        if clips["trees"]:
            lines.append(_survival_line(f"clips ({clips['trees']:,} with a row in {clips['videos_dir']})", clips))
        else:
            lines.append(f"clips: none of the {clips['clips']:,} clips in {clips['videos_dir']} has a row here")
        if clips["unreadable"]:
            lines.append(f"clips: {len(clips['unreadable'])} unreadable, left out (e.g. {clips['unreadable'][0]})")
    folder = summary.files[0].parent
    lines.append(f"wrote {folder}/: {', '.join(path.name for path in summary.files)}")
    return lines


def _survival_line(what: str, counts: dict[str, Any]) -> str:
    nodes, gpt = counts["nodes"]["fractions"], counts["gpt_nodes"]["fractions"]
    return (f"{what}: nodes {_percent(nodes['inside'])} inside, {_percent(nodes['crossing'])} crossing, "
            f"{_percent(nodes['after'])} after; gpt nodes {_percent(gpt['inside'])} inside, "
            f"{_percent(gpt['crossing'])} crossing, {_percent(gpt['after'])} after")


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


# --- charts -----------------------------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    """A figure on an Agg canvas of its own: no pyplot, so the caller's backend and figure list are left alone."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _style(axes, title: str, xlabel: str, ylabel: str = "") -> None:
    axes.set_title(title, fontsize=11, loc="left")
    axes.set_xlabel(xlabel, fontsize=9)
    if ylabel:
        axes.set_ylabel(ylabel, fontsize=9)
    axes.tick_params(labelsize=8)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.grid(axis="x", color="#DDDDDD", linewidth=0.6)
    axes.set_axisbelow(True)


def _thousands(axes) -> None:
    from matplotlib.ticker import FuncFormatter

    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def levels_figure(report: dict[str, Any]) -> Figure:
    """Nodes per level, tiers stacked; and each level's durations (median, 10th-90th percentile, mean)."""
    from matplotlib.ticker import FuncFormatter

    levels = report["levels"]
    rows = [level["level"] for level in levels]
    figure = _figure(12, 1.6 + 0.3 * max(len(rows), 9))
    counts, durations = figure.subplots(1, 2, sharey=True)
    left = np.zeros(len(rows))
    for tier in TIERS:
        values = np.array([level["tiers"][tier] for level in levels], float)
        counts.barh(rows, values, left=left, color=TIER_COLOURS[tier], height=0.75,
                    label=f"{tier} ({report['tiers'][tier]:,})")
        left += values
    _style(counts, "Nodes per level, by tier", "nodes", "level")
    _thousands(counts)
    counts.set_ylim(max(rows) + 0.6, min(rows) - 0.6)
    counts.set_yticks(rows)
    counts.legend(frameon=False, fontsize=8, loc="best")

    p10 = [level["seconds"]["p10"] for level in levels]
    p90 = [level["seconds"]["p90"] for level in levels]
    durations.hlines(rows, p10, p90, color=TIER_COLOURS[MID], linewidth=5, alpha=0.35, label="10th-90th percentile")
    durations.plot([level["seconds"]["median"] for level in levels], rows, "o", color=TIER_COLOURS[MID],
                   markersize=5, label="median")
    durations.plot([level["seconds"]["mean"] for level in levels], rows, "|", color=TIER_COLOURS[ROOT],
                   markersize=10, markeredgewidth=1.5, label="mean")
    durations.set_xscale("log")
    durations.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    _style(durations, "Segment duration per level", "seconds (log scale)")
    durations.grid(axis="x", which="minor", color="#EEEEEE", linewidth=0.4)
    durations.legend(frameon=False, fontsize=8, loc="best")
    figure.suptitle(f"Action100M Tree-of-Captions: {report['trees']:,} videos, {report['nodes']:,} segments",
                    fontsize=12, fontweight="bold")
    return figure


def captions_figure(report: dict[str, Any]) -> Figure:
    """Share of nodes with each caption source, per tier; and the "N/A" rate of each gpt field."""
    captions, na = report["captions"], report["na"]
    figure = _figure(12, 4.6)
    available, missing = figure.subplots(1, 2, width_ratios=(1.1, 1))
    width = 0.26
    x = np.arange(len(CAPTION_SOURCES))
    for offset, tier in enumerate(TIERS):
        shares = [100 * (captions[source]["by_tier"][tier]["fraction"] or 0) for source in CAPTION_SOURCES]
        bars = available.bar(x + (offset - 1) * width, shares, width, color=TIER_COLOURS[tier],
                             label=f"{tier} nodes ({report['tiers'][tier]:,})")
        available.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    available.set_xticks(x, CAPTION_SOURCES)
    available.set_ylim(0, 112)
    _style(available, "Caption availability by tier", "caption source", "% of the tier's nodes")
    available.grid(axis="x", visible=False)
    available.grid(axis="y", color="#DDDDDD", linewidth=0.6)
    available.legend(frameon=False, fontsize=8, loc="upper right", ncols=3, bbox_to_anchor=(1, 1.0))

    names = [name.removeprefix("gpt_").replace("_", " ") for name in GPT_FIELDS]
    rates = [100 * (value["rate"] or 0) for value in na["fields"].values()]
    names.append("action brief, detailed\nand actor all N/A")
    rates.append(100 * (na["action_all_na_rate"] or 0))
    rows = np.arange(len(names))
    bars = missing.barh(rows, rates, color=[NA_COLOUR] * (len(names) - 1) + ["#7B1F1F"], height=0.65)
    missing.bar_label(bars, fmt="%.2f%%", fontsize=8, padding=2)
    missing.set_yticks(rows, names)
    missing.invert_yaxis()
    missing.set_xlim(0, max(max(rates) * 1.25, 1))
    _style(missing, f'"N/A" in the gpt fields ({na["gpt_nodes"]:,} gpt nodes)', "% of gpt nodes")
    figure.suptitle("Action100M captions", fontsize=12, fontweight="bold")
    return figure


def briefs_figure(report: dict[str, Any]) -> Figure:
    """The most frequent normalised action briefs as horizontal bars, the most frequent on top."""
    briefs = report["briefs"]
    top = briefs["top"]
    figure = _figure(10, 1.5 + 0.27 * max(len(top), 10))
    axes = figure.subplots()
    if top:
        labels = [item["brief"] if len(item["brief"]) <= 60 else item["brief"][:59] + "\u2026" for item in top]
        bars = axes.barh(np.arange(len(top)), [item["count"] for item in top], color=TIER_COLOURS[MID], height=0.7)
        axes.bar_label(bars, labels=[f"{item['count']:,}" for item in top], fontsize=7, padding=2)
        axes.set_yticks(np.arange(len(top)), labels)
        axes.invert_yaxis()
        axes.set_xlim(0, top[0]["count"] * 1.12)
        _thousands(axes)
    else:
        axes.text(0.5, 0.5, "no action brief", ha="center", va="center", transform=axes.transAxes)
        axes.set_yticks([])
    _style(axes, f"{briefs['distinct']:,} distinct briefs of {briefs['briefs']:,}; {briefs['near_duplicates']:,} "
                 f"near-duplicates in {briefs['near_duplicate_groups']:,} groups", "nodes with this brief")
    figure.suptitle(f"Most frequent action briefs (gpt action brief, normalised; top {len(top)})",
                    fontsize=12, fontweight="bold")
    return figure


def survival_figure(report: dict[str, Any]) -> Figure:
    """Per level, the share of nodes inside, crossing and after the cut; and the totals (with the clips' own)."""
    survival, clips = report["survival"], report["clips"]
    levels = survival["levels"]
    figure = _figure(12, 1.6 + 0.3 * max(len(levels), 9))
    per_level, totals = figure.subplots(1, 2, width_ratios=(1.2, 1))
    cut = f"{survival['clip_seconds']:g} s"
    rows = [level["level"] for level in levels]
    _stacked_shares(per_level, rows, [level["nodes"]["fractions"] for level in levels])
    per_level.set_yticks(rows)
    per_level.set_ylim(max(rows) + 0.6, min(rows) - 0.6)
    _style(per_level, f"All trees cut at {cut}, per level", "% of the level's nodes", "level")
    per_level.legend(frameon=False, fontsize=8, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.06))

    names = [f"all nodes ({cut})", f"gpt nodes ({cut})"]
    shares = [survival["nodes"]["fractions"], survival["gpt_nodes"]["fractions"]]
    if clips is not None and clips["trees"]:
        names += [f"all nodes (clips, {clips['trees']:,})", f"gpt nodes (clips, {clips['trees']:,})"]
        shares += [clips["nodes"]["fractions"], clips["gpt_nodes"]["fractions"]]
    _stacked_shares(totals, list(range(len(names))), shares, height=0.5)
    totals.set_yticks(range(len(names)), names)
    totals.invert_yaxis()
    clip_note = "; clips at their own length" if len(names) > 2 else ""
    _style(totals, f"Totals{clip_note}", "% of nodes")
    figure.suptitle(f"Segments surviving a {cut} cut: inside [0, {cut}), crossing it, or starting after it "
                    f"({survival['trees_whole']:,} of {survival['trees']:,} videos end before it)",
                    fontsize=11, fontweight="bold")
    return figure


def _stacked_shares(axes, rows: Sequence[int], fractions: Sequence[dict[str, float | None]], *,
                    height: float = 0.75) -> None:
    """100% horizontal bars of inside / crossing / after, labelled where a bar is wide enough to hold its text."""
    left = np.zeros(len(rows))
    for place in PLACES:
        values = np.array([100 * (share[place] or 0) for share in fractions])
        bars = axes.barh(rows, values, left=left, color=PLACE_COLOURS[place], height=height, label=place)
        axes.bar_label(bars, labels=[f"{value:.0f}%" if value >= 8 else "" for value in values],
                       label_type="center", fontsize=7, color="white" if place == "inside" else "#1A1A1A")
        left += values
    axes.set_xlim(0, 100)
