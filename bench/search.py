"""Benchmark: Action100M caption search (`reelset.action100m.query`): full-text alone, dense alone and hybrid on a
labelled query set, query latency, the index's build rate against sentence-transformers' plain `encode`, and the
search path at the scale of the whole preview.

Data: the demo's sample (`make_sample_rows(--videos, seed=0)`, the real schema, captions from the generator's small
word lists) written to `<work>/data/data/part-00000.parquet`.

Queries (deterministic, --seed): --targets distinct gpt nodes, spread over the videos, of four fields (action
detailed 1/3, summary detailed 1/3, action brief 1/6, summary brief 1/6; no "N/A" text), each asked two ways:
- exact: the target's most distinctive 3-5 word substring (held by the fewest videos, then nodes);
- paraphrase: the target's template rewritten with this file's synonym table over every word of the generator's
  vocabulary (verbs, objects, actors, places, tasks; no synonym uses a word of that vocabulary), reordered and with
  other function words; half of them keep one phrase of the target (its object or task) as it is. Their word
  overlap with the target (Jaccard of content-word stems) is reported.
A hit is correct when it is the target node, or a node of the target's video with the target's exact text (the
sample repeats texts). Texts and phrases recur across videos, so even a perfect ranker cannot always put the
target's video first: the "ceiling" row is the best any ranking can do (the target's video at a random place among
the m videos that match the query as well: holding the exact phrase, or the target's text; recall@k = min(1, k/m)).

Measured: recall@1/5/10 and MRR@10 per mode (fulltext, dense, hybrid) and query kind; query latency per mode
(median, p95; warm: after a first query) through the public `search()`, and `embed_query` alone with the torch
threads the search module sets and with one; `build_search_index` from scratch (captions/s, wall: once including
the model's load, once more with the model loaded) and, as the anchor, `SentenceTransformer(path).encode(texts)`
(default batch size; its load timed apart) on the same caption texts (read back from the index).

Scale (--scale N): N synthetic brief captions (the generator's vocabulary and templates: a pessimistic case for
full text, every query word is in a large share of them) with N MiniLM-like vectors (float16; each a random blend
of two of the sample's real caption embeddings plus noise: clustered like real captions, never two alike), written
straight into an index of the search module's format (its schema, meta, field codes, facets and vector files);
its HNSW graphs are then built by the module's own `_add_graphs` (timed), and the index searched in a fresh
process (the quality run's torch and index do not count in its memory) through `search(update=False)`: every mode
with the graphs, dense again with the graphs set aside (the exact product over all N vectors; the graphs' recall@10
against it), the full-text half of the hybrid (the AND match) alone, and `embed_query` alone.

The machine is shared (2 cores): figures move with its load, printed at the start. The last line printed is one
JSON object.

Usage: python bench/search.py [--quick] [--videos 20] [--targets 60] [--scale 1000000] [--scale-queries 40]
                              [--seed 0] [--work DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, like the other benches

MODES = ("fulltext", "dense", "hybrid")
KINDS = ("exact", "paraphrase")
TOP_K = 10
CUTOFFS = (1, 5, 10)
# Shares of the targets by field: the detailed texts are nearly all unique, the brief ones recur across videos.
TARGET_FIELDS = {"gpt_action_detailed": 2, "gpt_summary_detailed": 2, "gpt_action_brief": 1, "gpt_summary_brief": 1}

# ------------------------------------------------------------------------------------------------ synonym table
# Every phrase of the generator's vocabulary has replacements that share no content word with any phrase of it
# (`check_table`: a replacement never points to other captions by accident), except the words English has no other
# name for (NO_SYNONYM). Verbs as (base, third person, gerund, past participle); tasks as (base, gerund).
NO_SYNONYM = frozenset({"tomato"})
VERBS = {
    "whisk": [("beat", "beats", "beating", "beaten"), ("whip", "whips", "whipping", "whipped")],
    "chop": [("dice", "dices", "dicing", "diced"), ("mince", "minces", "mincing", "minced")],
    "pour": [("tip out", "tips out", "tipping out", "tipped out"), ("decant", "decants", "decanting", "decanted")],
    "stir": [("mix", "mixes", "mixing", "mixed"), ("agitate", "agitates", "agitating", "agitated")],
    "cut": [("slice", "slices", "slicing", "sliced"), ("trim", "trims", "trimming", "trimmed")],
    "measure": [("weigh", "weighs", "weighing", "weighed"), ("gauge", "gauges", "gauging", "gauged")],
    "tighten": [("secure", "secures", "securing", "secured"), ("snug up", "snugs up", "snugging up", "snugged up")],
    "sand": [("smooth", "smooths", "smoothing", "smoothed"), ("file down", "files down", "filing down", "filed down")],
    "fold": [("crease", "creases", "creasing", "creased"), ("tuck", "tucks", "tucking", "tucked")],
    "rinse": [("wash", "washes", "washing", "washed"), ("flush", "flushes", "flushing", "flushed")],
    "attach": [("fasten", "fastens", "fastening", "fastened"), ("connect", "connects", "connecting", "connected")],
    "press": [("push down on", "pushes down on", "pushing down on", "pushed down on"),
              ("squeeze", "squeezes", "squeezing", "squeezed")],
}
OBJECTS = {
    "the eggs": ["some yolks", "a few yolks"],
    "the onion": ["a shallot", "that bulb of allium"],
    "the flour": ["some wheat powder", "a cup of meal"],
    "the board": ["a plank", "that wooden panel"],
    "the screw": ["a bolt", "that fastener"],
    "the dough": ["some pastry", "a lump of batter"],
    "the chain": ["its links", "a loop of metal links"],
    "the yarn": ["some wool", "a length of thread"],
}
ACTORS = {
    "a person": ["someone", "an individual"],
    "a woman": ["a lady", "a female"],
    "a man": ["a guy", "a gentleman"],
    "the presenter": ["the host", "an instructor"],
    "a pair of hands": ["somebody's fingers", "a set of palms"],
    "the cook": ["a chef", "the kitchen's chef"],
}
PLACES = {
    "on the counter": ["on a worktop", "atop a kitchen surface"],
    "in a bowl": ["inside a dish", "within a basin"],
    "at the workbench": ["in a workshop", "beside a tool rack"],
    "on the table": ["on a desk", "upon a dining surface"],
    "in the garden": ["in a yard", "outdoors among the flowerbeds"],
    "over the sink": ["above a washbasin", "by a faucet basin"],
}
TASKS = {
    "make a french omelette": [("fry an omelet", "frying an omelet"),
                               ("prepare a Parisian-style omelet", "preparing a Parisian-style omelet")],
    "replace a bike chain": [("swap a bicycle's drive links", "swapping a bicycle's drive links"),
                             ("change a cycle's drivetrain", "changing a cycle's drivetrain")],
    "build a birdhouse": [("construct a nesting box", "constructing a nesting box"),
                          ("put together a bird box", "putting together a bird box")],
    "knit a simple scarf": [("create an easy muffler with needles", "creating an easy muffler with needles"),
                            ("produce a plain neck wrap", "producing a plain neck wrap")],
    "paint a garden fence": [("coat a yard railing", "coating a yard railing"),
                             ("colour the backyard paling", "colouring the backyard paling")],
    "bake banana bread": [("prepare a loaf with ripe plantains", "preparing a loaf with ripe plantains"),
                          ("turn out a sweet fruit loaf", "turning out a sweet fruit loaf")],
    "fix a leaking tap": [("repair a dripping faucet", "repairing a dripping faucet"),
                          ("mend a faucet that drips", "mending a faucet that drips")],
    "plant tomato seedlings": [("put young tomato sprouts in soil", "putting young tomato sprouts in soil"),
                               ("sow small tomato starts", "sowing small tomato starts")],
}
SHOWS = ["demonstrates", "explains", "teaches"]
KEEP_ONE = 0.5  # share of the paraphrases that keep one phrase of the target as it is (its object or its task)

# Paraphrase templates per field: reordered, other function words, every vocabulary word replaced.
TEMPLATES = {
    "gpt_action_brief": ["{v_ing} {o}", "someone {v3} {o}", "{o}, {v_pp}"],
    "gpt_action_detailed": ["To {t}, {a} {v3} {o}.", "{a} {v3} {o} in order to {t}.",
                            "Aiming at {t_ing}, {a} {v3} {o}."],
    "gpt_summary_brief": ["{a} {shows} {t_ing}", "a tutorial in which {a} {shows} how to {t}",
                          "{t_ing}, as {a} {shows} it"],
    "gpt_summary_detailed": ["{a} {v3} {o} {p}, wanting to {t}.", "Aiming at {t_ing}: {p}, {a} {v3} {o}.",
                             "With the aim of {t_ing}, {a} {v3} {o} {p}."],
}
STOPWORDS = frozenset(
    "a an the to of in on at over by for with and is are be as how so that this some it its their they which "
    "into up out down from while s".split())


def stem(word: str) -> str:
    """Crude, but the same on both sides: "eggs"/"egg", "whisks"/"whisk", "rinses"/"rinse" count as one word."""
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            return word[:-len(suffix)]
    if word.endswith(("shes", "ches", "sses", "xes")):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


def stems(text: str) -> set[str]:
    """The content words of ``text`` (no function words), stemmed."""
    return {stem(word) for word in re.findall(r"[a-z]+", text.casefold()) if word not in STOPWORDS}


def jaccard(first: str, second: str) -> float:
    a, b = stems(first), stems(second)
    return len(a & b) / len(a | b) if a | b else 0.0


def check_table() -> None:
    """Every phrase of the generator's vocabulary has synonyms, and none shares a stem with the vocabulary."""
    from reelset.sandbox import action100m_sample as sample

    tables = ((VERBS, sample._VERBS), (OBJECTS, sample._OBJECTS), (ACTORS, sample._ACTORS), (PLACES, sample._PLACES),
              (TASKS, sample._TASKS))
    vocabulary = stems("shows how the goal is to " + " ".join(sample._third_person(verb) for verb in sample._VERBS))
    for _, words in tables:
        vocabulary |= stems(" ".join(words))
    for table, words in tables:
        missing = set(words) - set(table)
        if missing:
            raise SystemExit(f"error: bench/search.py: no synonyms for {sorted(missing)} (the generator changed)")
        for word, replacements in table.items():
            for replacement in replacements:
                text = " ".join(replacement) if isinstance(replacement, tuple) else replacement
                shared = (stems(text) & vocabulary) - NO_SYNONYM
                if shared:
                    raise SystemExit(f"error: bench/search.py: synonym {text!r} of {word!r} shares "
                                     f"{sorted(shared)} with the generator's words")


# ------------------------------------------------------------------------------------------------ the query set

@dataclass(frozen=True)
class Target:
    video_uid: str
    node_id: str
    field: str
    text: str
    videos_with_text: int  # videos holding this exact text (in any node)


@dataclass(frozen=True)
class Query:
    kind: str
    text: str
    target: Target
    # Videos that match the query as well as the target's does (their text holds the exact phrase, or is the
    # target's text): no ranker can tell them apart, so one of them is first by chance.
    matching_videos: int


def _alternation(words) -> str:
    return "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))


def _parsers() -> dict[str, re.Pattern]:
    """The generator's templates as patterns, capturing each vocabulary word."""
    from reelset.sandbox.action100m_sample import _third_person

    actor, verb = _alternation(ACTORS), _alternation(VERBS)
    verb3 = _alternation(_third_person(word) for word in VERBS)
    thing, place, task = _alternation(OBJECTS), _alternation(PLACES), _alternation(TASKS)
    return {
        "gpt_action_brief": re.compile(rf"(?P<v>{verb}) (?P<o>{thing})", re.I),
        "gpt_action_detailed": re.compile(rf"(?P<a>{actor}) (?P<v3>{verb3}) (?P<o>{thing}) to (?P<t>{task})\.", re.I),
        "gpt_summary_brief": re.compile(rf"(?P<a>{actor}) shows how to (?P<t>{task})", re.I),
        "gpt_summary_detailed": re.compile(
            rf"(?P<a>{actor}) (?P<v3>{verb3}) (?P<o>{thing}) (?P<p>{place})\. The goal is to (?P<t>{task})\.", re.I),
    }


def paraphrase(target: Target, rng: random.Random, parsers: dict[str, re.Pattern]) -> str:
    from reelset.sandbox.action100m_sample import _third_person

    match = parsers[target.field].fullmatch(target.text.strip())
    if match is None:
        raise SystemExit(f"error: bench/search.py: {target.text!r} does not follow the generator's {target.field} "
                         "template (the generator changed)")
    words = {key: value.lower() for key, value in match.groupdict().items()}
    if "v3" in words:
        words["v"] = next(verb for verb in VERBS if _third_person(verb) == words["v3"])
    slots = {"shows": rng.choice(SHOWS)}
    if "v" in words:
        slots["v"], slots["v3"], slots["v_ing"], slots["v_pp"] = rng.choice(VERBS[words["v"]])
    if "o" in words:
        slots["o"] = rng.choice(OBJECTS[words["o"]])
    if "a" in words:
        slots["a"] = rng.choice(ACTORS[words["a"]])
    if "p" in words:
        slots["p"] = rng.choice(PLACES[words["p"]])
    if "t" in words:
        slots["t"], slots["t_ing"] = rng.choice(TASKS[words["t"]])
    kept = [key for key in ("o", "t") if key in words]
    if rng.random() < KEEP_ONE:  # a user often remembers one phrase of what was said
        key = rng.choice(kept)
        slots[key] = words[key]
        if key == "t":
            verb, rest = words["t"].split(" ", 1)
            slots["t_ing"] = f"{gerund(verb)} {rest}"
    text = rng.choice(TEMPLATES[target.field]).format(**slots)
    return text[0].upper() + text[1:] if target.field.endswith("detailed") else text


def gerund(verb: str) -> str:
    if verb.endswith("e"):
        return f"{verb[:-1]}ing"
    if re.fullmatch(r"[a-z]*[^aeiou][aeiou][^aeiouwxy]", verb) and len(verb) <= 4:  # knit -> knitting
        return f"{verb}{verb[-1]}ing"
    return f"{verb}ing"


def exact_phrase(target: Target, corpus: list[tuple[str, str]], rng: random.Random) -> str:
    """The target's 3-5 word window held by the fewest videos (then nodes), not starting or ending on a
    function word; ties broken at random."""
    words = target.text.strip().rstrip(".").split()
    best = []
    for size in range(3, 6):
        for begin in range(0, len(words) - size + 1):
            window = words[begin:begin + size]
            if len(words) > size and (window[0].lower() in STOPWORDS or window[-1].lower() in STOPWORDS):
                continue
            phrase = " ".join(window)
            needle = phrase.casefold()
            holders = [video for video, text in corpus if needle in text]
            best.append(((len(set(holders)), len(holders)), phrase))
    low = min(score for score, _ in best)
    return rng.choice(sorted(phrase for score, phrase in best if score == low))


def make_queries(rows: list[dict], targets: int, seed: int) -> tuple[list[Query], dict]:
    """``targets`` distinct gpt nodes spread over the videos (by TARGET_FIELDS' shares), each asked both ways."""
    from reelset.action100m.tree import build_tree, is_na

    rng = random.Random(seed)
    check_table()
    parsers = _parsers()
    corpus: list[tuple[str, str]] = []  # (video, casefolded text) of every searched gpt caption
    holders: dict[str, set[str]] = defaultdict(set)  # text -> videos holding it
    candidates: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        tree = build_tree(row["video_uid"], row["nodes"])
        for node in tree.nodes:
            for field_name in TARGET_FIELDS:  # the four gpt fields the search indexes (not the actor)
                text = node.gpt_text(field_name)
                if not text or is_na(text):
                    continue
                corpus.append((tree.video_uid, text.casefold()))
                holders[text.strip()].add(tree.video_uid)
                candidates[field_name][tree.video_uid].append((node.node_id, text.strip()))
    shares = sum(TARGET_FIELDS.values())
    wanted = {name: targets * share // shares for name, share in TARGET_FIELDS.items()}
    wanted["gpt_action_detailed"] += targets - sum(wanted.values())
    chosen: list[Target] = []
    used: set[str] = set()  # one target a node, whatever its field
    for field_name, count in wanted.items():
        videos = sorted(candidates[field_name])
        rng.shuffle(videos)
        pools = {video: rng.sample(candidates[field_name][video], len(candidates[field_name][video]))
                 for video in videos}
        picked = 0
        while picked < count and any(pools.values()):
            for video in videos:  # round robin: every video gives targets before any gives a second
                while pools[video] and pools[video][-1][0] in used:
                    pools[video].pop()
                if pools[video] and picked < count:
                    node_id, text = pools[video].pop()
                    chosen.append(Target(video, node_id, field_name, text, len(holders[text])))
                    used.add(node_id)
                    picked += 1
    queries = []
    for target in chosen:
        phrase = exact_phrase(target, corpus, rng)
        queries.append(Query("exact", phrase, target,
                             len({video for video, text in corpus if phrase.casefold() in text})))
        queries.append(Query("paraphrase", paraphrase(target, rng, parsers), target, target.videos_with_text))
    overlap = [jaccard(query.text, query.target.text) for query in queries if query.kind == "paraphrase"]
    facts = {"targets": len(chosen), "by_field": {name: sum(t.field == name for t in chosen) for name in wanted},
             "paraphrase_jaccard_mean": round(statistics.fmean(overlap), 3),
             "paraphrase_jaccard_max": round(max(overlap), 3),
             **{f"{kind}_matching_videos_mean": round(statistics.fmean(q.matching_videos for q in queries
                                                                        if q.kind == kind), 2) for kind in KINDS}}
    return queries, facts


# ------------------------------------------------------------------------------------------------ quality

def rank_of(hits, target: Target) -> int | None:
    """1-based rank of the first correct hit, None when none of the hits is."""
    for rank, hit in enumerate(hits, 1):
        if hit.video_uid == target.video_uid and (hit.node_id == target.node_id or hit.text.strip() == target.text):
            return rank
    return None


def scores(ranks: list[int | None]) -> dict:
    result = {f"recall@{k}": round(sum(r is not None and r <= k for r in ranks) / len(ranks), 3) for k in CUTOFFS}
    result["mrr"] = round(sum(1 / r for r in ranks if r is not None) / len(ranks), 3)
    return result


def ceiling(queries: list[Query]) -> dict:
    """What a perfect ranker scores: the target's video at a random place among the m videos matching as well."""
    result = {f"recall@{k}": round(statistics.fmean(min(1.0, k / q.matching_videos) for q in queries), 3)
              for k in CUTOFFS}
    result["mrr"] = round(statistics.fmean(sum(1 / rank for rank in range(1, min(q.matching_videos, TOP_K) + 1))
                                           / q.matching_videos for q in queries), 3)
    return result


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def latency(seconds: list[float]) -> dict:
    milliseconds = [value * 1000 for value in seconds]
    return {"median": round(statistics.median(milliseconds), 2), "p95": round(percentile(milliseconds, 0.95), 2),
            "queries": len(milliseconds)}


def run_queries(queries: list[Query], data: Path, index: Path) -> tuple[dict, dict, dict]:
    """Every query in every mode: quality per mode and kind, warm latency per mode, hybrid's recall@5 by field."""
    from reelset.action100m.query import search

    quality, latencies, by_field = {}, {}, {}
    for mode in MODES:
        search("a person cooks something", data_dir=data, index_path=index, top_k=TOP_K, mode=mode)  # warm-up
        ranks: dict[str, list] = defaultdict(list)
        field_ranks: dict[str, list] = defaultdict(list)
        seconds = []
        for query in queries:
            started = time.perf_counter()
            hits = search(query.text, data_dir=data, index_path=index, top_k=TOP_K, mode=mode)
            seconds.append(time.perf_counter() - started)
            rank = rank_of(hits, query.target)
            ranks[query.kind].append(rank)
            field_ranks[f"{query.kind}/{query.target.field}"].append(rank)
        quality[mode] = {kind: scores(ranks[kind]) for kind in KINDS}
        latencies[mode] = latency(seconds)
        by_field[mode] = {name: scores(values)["recall@5"] for name, values in sorted(field_ranks.items())}
    return quality, latencies, by_field


# ------------------------------------------------------------------------------------------------ build rate

def build_and_anchor(data: Path, index: Path) -> dict:
    """`build_search_index` from scratch, then sentence-transformers' plain `encode` of the same texts."""
    import sqlite3

    from reelset.action100m.query import build_search_index
    from reelset.action100m.search_index import INDEX_FILE, weights_path

    shutil.rmtree(index, ignore_errors=True)
    started = time.perf_counter()
    summary = build_search_index(data, index_path=index)
    build_wall = time.perf_counter() - started
    again = index.with_name(f"{index.name}-again")  # from scratch with the model already loaded: the steady rate
    shutil.rmtree(again, ignore_errors=True)
    started = time.perf_counter()
    build_search_index(data, index_path=again)
    warm_wall = time.perf_counter() - started
    shutil.rmtree(again, ignore_errors=True)
    connection = sqlite3.connect(index / INDEX_FILE)
    try:
        texts = [text for (text,) in connection.execute("SELECT text FROM captions ORDER BY id")]
    finally:
        connection.close()
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    model = SentenceTransformer(str(weights_path().parent), device="cpu", local_files_only=True)
    load = time.perf_counter() - started
    started = time.perf_counter()
    model.encode(texts)
    encode = time.perf_counter() - started
    return {"captions": summary.captions, "device": summary.device, "build_wall_s": round(build_wall, 2),
            "captions_per_s": round(summary.captions / build_wall, 1),
            "warm_build_wall_s": round(warm_wall, 2), "warm_captions_per_s": round(summary.captions / warm_wall, 1),
            "anchor_load_s": round(load, 2), "anchor_encode_s": round(encode, 2),
            "anchor_encode_per_s": round(len(texts) / encode, 1),
            "anchor_with_load_per_s": round(len(texts) / (load + encode), 1)}


# ------------------------------------------------------------------------------------------------ scale

SCALE_FIELDS = ("gpt_action_brief", "gpt_summary_brief")  # the preview's brief captions, as the target


def scale_texts(count: int, rng) -> list[str]:
    """Brief captions as the generator writes them (its vocabulary, its two templates), half of each."""
    from reelset.sandbox.action100m_sample import _ACTORS, _OBJECTS, _TASKS, _VERBS

    picks = [rng.integers(0, len(words), count) for words in (_VERBS, _OBJECTS, _ACTORS, _TASKS)]
    return [f"{_VERBS[v]} {_OBJECTS[o]}" if i % 2 == 0 else f"{_ACTORS[a]} shows how to {_TASKS[t]}"
            for i, (v, o, a, t) in enumerate(zip(*(pick.tolist() for pick in picks)))]


def write_scale_index(folder: Path, data: Path, count: int, seed: int, base: np.ndarray) -> dict:
    """An index of ``count`` synthetic brief captions in the search module's own format (its schema, meta, field
    codes, facets and vector files), registered against ``data``'s one real shard so that the search accepts it as
    the index of that data. The vectors are MiniLM-like: each a random blend of two real caption embeddings of the
    sample (``base``) plus Gaussian noise, normalised (:func:`minilm_like`)."""
    import sqlite3

    import numpy as np

    from reelset.action100m.search_index import (_SCHEMA, FIELD_CODE, FORMAT_VERSION, INDEX_FILE, VECTORS_DIR,
                                                 _save_npy, model_fingerprint)

    shutil.rmtree(folder, ignore_errors=True)
    (folder / VECTORS_DIR).mkdir(parents=True)
    rng = np.random.default_rng(seed)
    shard = next((data / "data").glob("*.parquet"))
    stem, dim, chunk = f"{shard.stem}-1", 384, 100_000
    started = time.perf_counter()
    connection = sqlite3.connect(folder / INDEX_FILE)
    try:
        connection.executescript(_SCHEMA)
        meta = {"format": FORMAT_VERSION, "fields": "gpt", "dim": str(dim), **model_fingerprint()}
        codes = np.array([FIELD_CODE[name] for name in SCALE_FIELDS], dtype=np.uint8)
        levels = rng.integers(1, 9, count).astype(np.int16)
        with connection:
            connection.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
            for low in range(0, count, chunk):
                texts = scale_texts(min(chunk, count - low), rng)
                starts = rng.uniform(0, 300, len(texts))
                connection.executemany(
                    "INSERT INTO captions (id, video_uid, node_id, start_s, end_s, level, field, text) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    ((low + i + 1, f"v{(low + i) // 12:010d}", f"node-{low + i}", starts[i], starts[i] + 5.0,
                      int(levels[low + i]), int(codes[(low + i) % 2]), text) for i, text in enumerate(texts)))
            rows_s = time.perf_counter() - started
            connection.execute("INSERT INTO captions_fts (rowid, text) SELECT id, text FROM captions")
            fts_s = time.perf_counter() - started - rows_s
            stat = shard.stat()
            connection.execute("INSERT INTO shards VALUES (?, ?, ?, ?, ?, ?)",
                               (shard.name, stat.st_size, stat.st_mtime_ns, 1, count, stem))
    finally:
        connection.close()
    started = time.perf_counter()
    facets = np.zeros(count, dtype=[("field", "u1"), ("level", "i2")])
    facets["field"], facets["level"] = codes[np.arange(count) % 2], levels
    _save_npy(folder / VECTORS_DIR / f"{stem}.facets.npy", facets)
    vectors = np.lib.format.open_memmap(folder / VECTORS_DIR / f"{stem}.f16.npy", mode="w+", dtype=np.float16,
                                        shape=(count, dim))
    for low in range(0, count, chunk):
        vectors[low:low + min(chunk, count - low)] = minilm_like(base, min(chunk, count - low), rng)
    vectors.flush()
    del vectors
    sizes = {path.name: path.stat().st_size for path in folder.rglob("*") if path.is_file()}
    return {"captions": count, "sqlite_rows_s": round(rows_s, 1), "fts_s": round(fts_s, 1),
            "vectors_s": round(time.perf_counter() - started, 1),
            "sqlite_mb": round(sizes[INDEX_FILE] / 2**20, 1),
            "vectors_mb": round(sum(size for name, size in sizes.items() if name.endswith(".f16.npy")) / 2**20, 1)}


def minilm_like(base: np.ndarray, count: int, rng) -> np.ndarray:
    """``count`` unit vectors, each ``w a + (1 - w) b + noise`` of two rows of ``base`` (real MiniLM embeddings),
    ``w`` uniform, noise N(0, 0.04) a dimension: clustered as real captions are (random unit vectors are the worst
    case for a graph: no structure, every point about as far as any other), yet never two alike."""
    import numpy as np

    first, second = rng.integers(0, len(base), count), rng.integers(0, len(base), count)
    weight = rng.random((count, 1), dtype=np.float32)
    blend = weight * base[first] + (1 - weight) * base[second]
    blend += rng.normal(0, 0.04, blend.shape).astype(np.float32)
    return (blend / np.linalg.norm(blend, axis=1, keepdims=True)).astype(np.float16)


def build_graphs(index: Path) -> dict:
    """The index's HNSW graphs, built as `build_search_index` builds them (`_add_graphs`: usearch, its settings,
    every core), timed."""
    import sqlite3

    from reelset.action100m import search_index

    connection = sqlite3.connect(index / search_index.INDEX_FILE)
    try:
        started = time.perf_counter()
        search_index._add_graphs(connection, index)
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    state = search_index.read_state(index)
    graphs = [graph.count for graph in state.graphs]
    size = sum(state.graph_path(graph).stat().st_size for graph in state.graphs)
    return {"graphs": graphs, "graph_build_s": round(seconds, 1),
            "graph_vectors_per_s": round(sum(graphs) / seconds, 1), "graph_mb": round(size / 2**20, 1),
            "graph_bytes_per_vector": round(size / max(1, sum(graphs)))}


def embedding_latency(queries: list[str]) -> dict:
    """`embed_query` alone. With ONNX Runtime (the CPU engine) its one-thread session, as the search runs it; with
    torch, the threads the search module sets (one a core) and one thread: a query is too small a job to share, and
    on a busy machine a thread waiting for its peer costs a time slice."""
    import torch

    from reelset.action100m.search_index import OnnxEncoder, embed_query, load_model

    embed_query(queries[0])  # the model loaded, and the module's thread count set

    def timed() -> dict:
        seconds = []
        for query in queries:
            started = time.perf_counter()
            embed_query(query)
            seconds.append(time.perf_counter() - started)
        return latency(seconds)

    if isinstance(load_model(), OnnxEncoder):
        return {"onnxruntime_1_thread": timed()}
    default = torch.get_num_threads()
    result = {}
    try:
        for threads in sorted({default, 1}, reverse=True):
            torch.set_num_threads(threads)
            result[f"torch_{threads}_threads"] = timed()
    finally:
        torch.set_num_threads(default)
    return result


def rss_mb(key: str = "VmRSS") -> float:
    """This process's resident memory now (VmRSS) or at its peak (VmHWM: unlike ru_maxrss, not inherited)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def scale_child(data: Path, index: Path, queries_file: Path) -> None:
    """The search at scale, in this fresh process, through `search(update=False)`: latency per mode with the
    index's graphs, then dense with the graphs set aside (the exact product over every vector) and how many of
    its top 10 the graphs found; the time of the full-text half alone (the AND match the hybrid fuses); memory."""
    queries = json.loads(queries_file.read_text())
    figures = {"rss_start_mb": rss_mb()}
    import sqlite3

    from reelset.action100m import query as query_module
    from reelset.action100m import search_index
    from reelset.action100m.query import search

    def timed(mode: str) -> tuple[float, list[float], list[list[int]]]:
        options = dict(data_dir=data, index_path=index, top_k=TOP_K, mode=mode, fields=("gpt",), update=False)
        started = time.perf_counter()
        search(queries[0], **options)
        first, seconds, found = time.perf_counter() - started, [], []
        for text in queries[1:]:
            started = time.perf_counter()
            hits = search(text, **options, per_video=None)
            seconds.append(time.perf_counter() - started)
            found.append([hit.node_id for hit in hits])
        return first, seconds, found

    approximate = None
    for mode in MODES:
        first, seconds, found = timed(mode)
        approximate = found if mode == "dense" else approximate
        figures[f"{mode}_first_s"] = round(first, 2)
        figures[mode] = latency(seconds)
        figures[f"rss_after_{mode}_mb"] = rss_mb()
    threshold, search_index.ANN_THRESHOLD = search_index.ANN_THRESHOLD, 10**12
    try:
        _, seconds, exact = timed("dense")
    finally:
        search_index.ANN_THRESHOLD = threshold
    figures["dense_exact"] = latency(seconds)
    figures["graph_recall@10"] = round(statistics.mean(
        len(set(one) & set(other)) / max(1, len(other)) for one, other in zip(approximate, exact)), 3)
    connection = sqlite3.connect(index / search_index.INDEX_FILE)
    codes = search_index.field_codes(("gpt",))
    seconds = []
    for text in queries[1:]:
        started = time.perf_counter()
        query_module._fulltext(connection, text, codes, None, False, 100, any_word=False)
        seconds.append(time.perf_counter() - started)
    connection.close()
    figures["fulltext_every_word"] = latency(seconds)
    figures["peak_rss_mb"] = rss_mb("VmHWM")
    figures["embed_query_ms"] = embedding_latency(queries)
    print(json.dumps(figures))


def run_scale(work: Path, data: Path, count: int, queries: list[str], seed: int, base_index: Path) -> dict:
    import numpy as np

    base = np.concatenate([np.load(path).astype(np.float32) for path in sorted(
        (base_index / "vectors").glob("*.f16.npy"))])
    index = work / f"scale-index-{count}"
    written = write_scale_index(index, data, count, seed, base)
    print(f"scale: {count:,} captions written in {written['sqlite_rows_s'] + written['fts_s']:.0f} s "
          f"(+ vectors {written['vectors_s']:.0f} s); building the graphs ...", flush=True)
    graphs = build_graphs(index)
    print(f"scale: {len(graphs['graphs'])} graph(s) in {graphs['graph_build_s']:.0f} s; searching ...", flush=True)
    queries_file = work / "scale-queries.json"
    queries_file.write_text(json.dumps(queries))
    done = subprocess.run([sys.executable, __file__, "--scale-child", str(index), "--scale-data", str(data),
                           "--queries-file", str(queries_file)], check=True, capture_output=True, text=True)
    latencies = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(index, ignore_errors=True)  # GBs at the default size
    return {**written, **graphs, **latencies}


# ------------------------------------------------------------------------------------------------ the driver

def print_tables(facts: dict, quality: dict, ceilings: dict, latencies: dict, build: dict, scale: dict | None) -> None:
    print(f"\n{facts['targets']} targets ({', '.join(f'{n} {f}' for f, n in facts['by_field'].items())}), "
          f"{build['captions']:,} captions; paraphrase word overlap (Jaccard of content words) mean "
          f"{facts['paraphrase_jaccard_mean']:.3f}, max {facts['paraphrase_jaccard_max']:.3f}; videos matching a "
          f"query as well as the target's: exact {facts['exact_matching_videos_mean']}, paraphrase "
          f"{facts['paraphrase_matching_videos_mean']}")
    print(f"{'mode':10} {'kind':11} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR':>6}")
    for mode, by_kind in [*quality.items(), ("ceiling", ceilings)]:
        for kind, row in by_kind.items():
            print(f"{mode:10} {kind:11} {row['recall@1']:6.3f} {row['recall@5']:6.3f} {row['recall@10']:6.3f} "
                  f"{row['mrr']:6.3f}")
    print(f"\n{'mode':10} {'median ms':>10} {'p95 ms':>8}   (warm, {build['captions']:,} captions)")
    for mode in MODES:
        print(f"{mode:10} {latencies[mode]['median']:10.1f} {latencies[mode]['p95']:8.1f}")
    for threads, row in latencies["embed_query"].items():
        print(f"{'':10} {row['median']:10.1f} {row['p95']:8.1f}   embed_query alone, {threads.replace('_', ' ')}")
    print(f"\nbuild_search_index from scratch: {build['captions_per_s']:.0f} captions/s ({build['build_wall_s']} s "
          f"wall, model load included, {build['device']}), {build['warm_captions_per_s']:.0f} captions/s with the "
          f"model loaded; sentence-transformers encode: "
          f"{build['anchor_encode_per_s']:.0f} captions/s ({build['anchor_with_load_per_s']:.0f} with its "
          f"{build['anchor_load_s']} s load)")
    if scale:
        print(f"\nscale: {scale['captions']:,} brief captions (SQLite {scale['sqlite_mb']} MB, vectors "
              f"{scale['vectors_mb']} MB, graphs {scale['graph_mb']} MB: {scale['graph_bytes_per_vector']} B a "
              f"vector), built at {scale['graph_vectors_per_s']:.0f} vectors/s; search(update=False)")
        print(f"{'mode':10} {'median ms':>10} {'p95 ms':>8} {'first s':>8} {'RSS MB':>8}")
        for mode in MODES:
            print(f"{mode:10} {scale[mode]['median']:10.1f} {scale[mode]['p95']:8.1f} {scale[f'{mode}_first_s']:8.2f} "
                  f"{scale[f'rss_after_{mode}_mb']:8.0f}")
        for name, label in (("dense_exact", f"dense, exact (graphs set aside; the graphs found "
                                              f"{scale['graph_recall@10']:.3f} of its top 10)"),
                            ("fulltext_every_word", "full text, every word (the hybrid's half)")):
            print(f"{'':10} {scale[name]['median']:10.1f} {scale[name]['p95']:8.1f}   {label}")
        for threads, row in scale["embed_query_ms"].items():
            print(f"{'':10} {row['median']:10.1f} {row['p95']:8.1f}   embed_query alone, "
                  f"{threads.replace('_', ' ')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 targets, --scale 200000")
    parser.add_argument("--videos", type=int, default=20, help="videos of the demo's sample")
    parser.add_argument("--targets", type=int, default=60)
    parser.add_argument("--scale", type=int, help="captions of the scale index (default 1,000,000; 0: skip)")
    parser.add_argument("--scale-queries", type=int, default=40, help="queries timed per mode at scale")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--work", type=Path, help="work folder (kept)")
    parser.add_argument("--scale-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--scale-data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--queries-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_child:
        scale_child(args.scale_data, args.scale_child, args.queries_file)
        return
    targets = 30 if args.quick else args.targets
    scale = (200_000 if args.quick else 1_000_000) if args.scale is None else args.scale
    from reelset.sandbox.action100m_sample import make_sample_rows, write_parquet

    work = args.work or Path(tempfile.mkdtemp(prefix="reelset-bench-search-"))
    work.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    try:
        rows = make_sample_rows(args.videos, seed=0)
        data = work / "data"
        write_parquet(rows, data / "data" / "part-00000.parquet")
        queries, facts = make_queries(rows, targets, args.seed)
        print(f"{len(queries)} queries on {args.videos} videos; building the index in {work} ...", flush=True)
        index = work / "index"
        build = build_and_anchor(data, index)
        print(f"index: {build['captions']:,} captions in {build['build_wall_s']} s; searching ...", flush=True)
        quality, latencies, by_field = run_queries(queries, data, index)
        latencies["embed_query"] = embedding_latency([query.text for query in queries])
        ceilings = {kind: ceiling([query for query in queries if query.kind == kind]) for kind in KINDS}
        scale_figures = (run_scale(work, data, scale, [query.text for query in queries][:args.scale_queries + 1],
                                   args.seed, index) if scale else None)
    finally:
        if not (args.keep or args.work):
            shutil.rmtree(work, ignore_errors=True)
    print_tables(facts, quality, ceilings, latencies, build, scale_figures)
    print(json.dumps({"bench": "search", "captions": build["captions"], "videos": args.videos,
                      "cpus": os.cpu_count(), "load_at_start": round(load, 2), "queries": facts,
                      "quality": quality, "ceiling": ceilings, "recall@5_by_field": by_field,
                      "latency_ms": latencies, "build": build, "scale": scale_figures}))


if __name__ == "__main__":
    main()
