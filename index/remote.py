"""A knowledge base shared through a Chroma server (`chroma run`, client/server mode).

Where each part lives:
- On the server, per knowledge base NAME, two collections. `NAME` holds every
  passage: its vector, its text (Chroma's document) and where it sits in its
  file (hash, ordinal, offsets, page); ids are `<content-hash>#<n>` as locally,
  so a file indexed by two people is stored once. `NAME.files` holds one
  record per indexed file per client (origin, path, hash, title, format) and
  one `~generation` record that every writer changes after a change.
- On each desktop, a replica folder (an ordinary knowledge-base folder whose
  settings name the server): its catalog.sqlite is this client's own manifest
  (files it indexed, with sizes and times for incremental sync) plus a copy
  of every other client's files pulled from the server, with the same FTS5
  lexical index a local knowledge base has. Lexical search therefore runs
  locally at full speed and dense search asks the server.

How clients stay consistent: after indexing, a client publishes its own file
records (`publish`), then removes vectors whose hash no file record of *any*
client uses any more, then changes the generation. Before a search a client
reads the generation (one small request, at most every PULL_INTERVAL_S) and,
if it changed, pulls: new files of other clients are copied into its catalog
from the passage records (no re-embedding, no re-reading), files their owner
removed are dropped. Texts of other clients' files are rebuilt from their
passages (exact inside every passage; whitespace between passages may differ).
"""
from __future__ import annotations

import hashlib
import logging
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from index.catalog import NewPassage
from index.errors import KnowledgeBaseError

log = logging.getLogger("docent.remote")

SCHEMES = {"chroma": "http", "chromas": "https"}
DEFAULT_PORT = 8000
MAX_BATCH = 1000  # per request: keeps each HTTP body a few MB
PULL_BATCH = 2000  # passages per request when a client copies other clients' files
PULL_INTERVAL_S = 2.0
GENERATION_ID = "~generation"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,58}[A-Za-z0-9]$")
_NO_VECTOR = [1.0]  # file records carry no meaning in vector space; Chroma wants one


class RemoteError(KnowledgeBaseError):
    """A one-line, user-facing reason a remote knowledge base cannot be used right now."""

    storage = False


@dataclass(frozen=True)
class RemoteSpec:
    scheme: str  # http | https
    host: str
    port: int
    name: str

    @classmethod
    def parse(cls, text: str) -> "RemoteSpec":
        """`chroma://host[:port]/name` (http) or `chromas://...` (https)."""
        parts = urlsplit(text.strip())
        if parts.scheme not in SCHEMES:
            raise RemoteError(f"not a remote knowledge base URL (chroma://host:port/name): {text}")
        if parts.username or parts.password:
            raise RemoteError("put the token in the keyring or DOCENT_CHROMA_TOKEN, not in the URL")
        name = parts.path.strip("/")
        if not parts.hostname:
            raise RemoteError(f"no server host in {text}")
        if not _NAME.match(name):
            raise RemoteError(
                f"bad knowledge-base name {name!r} in {text}: 3-60 letters, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit"
            )
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise RemoteError(f"bad port in {text}") from None
        return cls(SCHEMES[parts.scheme], parts.hostname, port, name)

    @property
    def url(self) -> str:
        scheme = "chromas" if self.scheme == "https" else "chroma"
        return f"{scheme}://{self.host}:{self.port}/{self.name}"

    @property
    def server(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def replica_dir(self, parent: Path) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", f"{self.host}_{self.port}_{self.name}")
        return parent / safe


def is_remote(text: str | None) -> bool:
    return bool(text) and urlsplit(str(text)).scheme in SCHEMES


def _reason(exc: BaseException) -> str:
    """The useful part of a transport error ("connection refused", "timed out")."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, ConnectionRefusedError):
            return "connection refused"
        if isinstance(exc, socket.gaierror):
            return "unknown host"
        if isinstance(exc, TimeoutError) or "timeout" in type(exc).__name__.lower():
            return "timed out"
        text = str(exc).lower()
        for marker in ("connection refused", "name or service not known", "timed out", "connection reset",
                       "server disconnected", "remote end closed", "connecterror"):
            if marker in text:
                return marker
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return "not reachable"


class RemoteVectorStore:
    """index.vectors.VectorStore's interface over a Chroma server, plus the shared file records."""

    in_process = False

    def __init__(self, spec: RemoteSpec, token: str | None = None, timeout_s: float = 30.0):
        self.spec = spec
        self._token = token
        self._timeout = timeout_s
        self.client = None
        self._collections: dict[str, object] = {}
        self._connect()

    # -- plumbing ----------------------------------------------------------------------------
    def _connect(self) -> None:
        def make():
            import chromadb
            import httpx
            from chromadb.config import Settings

            headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
            # chromadb's client talks to the server while it is being made, with no timeout at all:
            # a hung server (or a dead VPN) must cost seconds, not hang the caller for ever.
            with httpx.Client(timeout=httpx.Timeout(min(5.0, self._timeout)), trust_env=False) as probe:
                probe.get(f"{self.spec.server}/api/v2/heartbeat", headers=headers or {})
            client = chromadb.HttpClient(
                host=self.spec.host, port=self.spec.port, ssl=self.spec.scheme == "https", headers=headers,
                settings=Settings(anonymized_telemetry=False),
            )
            # chromadb 1.5 makes its httpx client with no timeout at all (and ignores
            # chroma_server_http_timeout): a hung server would block a search for ever.
            session = getattr(getattr(client, "_server", None), "_session", None)
            if session is not None:
                session.timeout = httpx.Timeout(self._timeout, connect=min(5.0, self._timeout))
            self.client = client
            self._collections = {
                "passages": client.get_or_create_collection(
                    self.spec.name, embedding_function=None, metadata={"hnsw:space": "cosine"}),
                "files": client.get_or_create_collection(self.spec.name + ".files", embedding_function=None),
            }

        self._guard(make)

    def _guard(self, fn, *args, **kwargs):
        """Call Chroma; translate its failures into one clear RemoteError."""
        try:
            return fn(*args, **kwargs)
        except RemoteError:
            raise
        except Exception as exc:  # noqa: BLE001 - every transport/server failure becomes one message
            raise self._error(exc) from exc

    def _call(self, which: str, method: str, **kwargs):
        """A collection method; a collection the server no longer has (reset, wiped) is made again once."""
        try:
            return getattr(self._collections[which], method)(**kwargs)
        except Exception as exc:  # noqa: BLE001
            if "does not exist" not in str(exc):
                raise self._error(exc) from exc
            log.warning("the shared collection %s is gone from the server; making it again", self.spec.url)
            self._connect()
            return self._guard(getattr(self._collections[which], method), **kwargs)

    def _error(self, exc: BaseException) -> RemoteError:
        where = f"the Chroma server at {self.spec.server}"
        name = type(exc).__name__
        text = str(exc)
        if self._token:
            text = text.replace(self._token, "***")
        if name == "ChromaAuthError" or re.search(r"\b(unauthori[sz]ed|forbidden)\b", text, re.I) \
                or re.search(r"\b(status|HTTP|code)\D{0,3}(401|403)\b", text):
            what = ("rejected the token" if self._token else
                    "requires a token (set DOCENT_CHROMA_TOKEN, or connect again in the app with the token)")
            return RemoteError(f"{where} {what}")
        if name.startswith("Chroma") or type(exc).__module__.startswith("chromadb"):
            return RemoteError(f"{where} refused the request: {text.splitlines()[0][:200] if text else name}")
        return RemoteError(f"cannot reach {where}: {_reason(exc)}")

    def close(self) -> None:
        self.client = None
        self._collections = {}

    @property
    def collection_id(self) -> str:
        """Changes when the server lost the collection and it was made again (see Replica)."""
        return str(self._collections["passages"].id)

    def embedding_setup(self) -> dict | None:
        """The embedding set-up (model, prompts, passage size) the shared vectors were made with."""
        meta = self._guard(lambda: self._collections["passages"].metadata) or {}
        if "docent_embedding" not in meta:
            return None
        return {"embedding_model": meta["docent_embedding"], "query_prompt": meta.get("docent_query_prompt", ""),
                "passage_prompt": meta.get("docent_passage_prompt", ""),
                "passage_chars": int(meta.get("docent_passage_chars", 1000))}

    def set_embedding_setup(self, setup: dict) -> None:
        meta = dict(self._guard(lambda: self._collections["passages"].metadata) or {})
        meta.pop("hnsw:space", None)  # fixed at creation; Chroma refuses to "change" it
        meta.update(docent_embedding=setup["embedding_model"], docent_query_prompt=setup["query_prompt"],
                    docent_passage_prompt=setup["passage_prompt"], docent_passage_chars=setup["passage_chars"])
        self._call("passages", "modify", metadata=meta)

    def telemetry_enabled(self) -> bool:
        return False

    # -- the VectorStore interface -------------------------------------------------------------
    def count(self) -> int:
        return self._call("passages", "count")

    def has(self, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), MAX_BATCH):
            found.update(self._call("passages", "get", ids=ids[i : i + MAX_BATCH], include=[])["ids"])
        return found

    def upsert(self, content_hash: str, vectors) -> None:
        self.upsert_many([(content_hash, len(vectors))], vectors)

    def upsert_many(self, files: list[tuple[str, int]], vectors, passages: list[NewPassage] | None = None,
                    units=None) -> None:
        """Vectors with their passages' texts and places (other clients build their lexical index from them).
        Sentence vectors (`units`) stay local: the server's clients may run other versions."""
        import numpy as np

        from index.chroma_store import passage_records

        ids, metadatas, documents, rows = passage_records(files, passages)
        if documents is None:  # vectors alone (a benchmark's synthetic store): texts stay empty
            documents = [""] * len(ids)
        vectors = np.asarray(vectors, dtype=np.float32)[rows]
        for i in range(0, len(ids), MAX_BATCH):
            part = slice(i, i + MAX_BATCH)
            self._call("passages", "upsert", ids=ids[part], embeddings=vectors[part], metadatas=metadatas[part],
                       documents=documents[part])

    def delete_hash(self, content_hash: str) -> None:
        self._call("passages", "delete", where={"hash": content_hash})

    def query(self, vector, k: int) -> list[tuple[str, float]]:
        return self.query_many([vector], k)[0]

    def query_many(self, vectors, k: int) -> list[list[tuple[str, float]]]:
        import numpy as np

        if len(vectors) == 0:
            return []
        result = self._call("passages", "query", query_embeddings=[np.asarray(v, dtype=np.float32) for v in vectors],
                            n_results=k, include=["distances"])
        return [[(vid, 1.0 - float(d)) for vid, d in zip(ids, dists)]
                for ids, dists in zip(result["ids"], result["distances"])]

    def all_ids(self) -> list[str]:
        return list(self._call("passages", "get", include=[])["ids"])

    def embedding(self, vid: str):
        import numpy as np

        got = self._call("passages", "get", ids=[vid], include=["embeddings"])
        return np.asarray(got["embeddings"][0], dtype=np.float32) if len(got["ids"]) else None

    # -- shared file records ---------------------------------------------------------------------
    def generation(self) -> str | None:
        got = self._call("files", "get", ids=[GENERATION_ID], include=["metadatas"])
        return got["metadatas"][0].get("value") if got["ids"] else None

    def bump_generation(self) -> str:
        value = uuid.uuid4().hex
        self._call("files", "upsert", ids=[GENERATION_ID], embeddings=[_NO_VECTOR],
                   metadatas=[{"kind": "generation", "value": value}])
        return value

    def file_records(self, origin: str | None = None) -> dict[str, dict]:
        where = {"kind": "file"} if origin is None else {"$and": [{"kind": "file"}, {"origin": origin}]}
        got = self._call("files", "get", where=where, include=["metadatas"])
        return dict(zip(got["ids"], got["metadatas"]))

    def put_file_records(self, records: dict[str, dict]) -> None:
        ids = list(records)
        for i in range(0, len(ids), MAX_BATCH):
            part = ids[i : i + MAX_BATCH]
            self._call("files", "upsert", ids=part, embeddings=[_NO_VECTOR] * len(part),
                       metadatas=[records[r] for r in part])

    def delete_file_records(self, ids: list[str]) -> None:
        for i in range(0, len(ids), MAX_BATCH):
            self._call("files", "delete", ids=ids[i : i + MAX_BATCH])

    def hash_referenced(self, content_hash: str) -> bool:
        got = self._call("files", "get", where={"hash": content_hash}, include=[], limit=1)
        return bool(got["ids"])

    def passages_of(self, hashes: dict[str, int] | list[str]) -> dict[str, list[NewPassage]]:
        """Passages (texts and places) of several files, in requests of about PULL_BATCH passages."""
        out: dict[str, list[NewPassage]] = {h: [] for h in hashes}
        group: list[str] = []
        expected = 0

        def fetch() -> None:
            where = {"hash": group[0]} if len(group) == 1 else {"hash": {"$in": list(group)}}
            got = self._call("passages", "get", where=where, include=["metadatas", "documents"])
            for meta, text in zip(got["metadatas"], got["documents"]):
                out[meta["hash"]].append(NewPassage(int(meta["n"]), meta.get("page"), int(meta.get("start", 0)),
                                                    int(meta.get("end", 0)), text or ""))

        for h, n in hashes.items() if isinstance(hashes, dict) else ((h, 1) for h in hashes):
            group.append(h)
            expected += max(1, n)
            if expected >= PULL_BATCH:
                fetch()
                group, expected = [], 0
        if group:
            fetch()
        for passages in out.values():
            passages.sort(key=lambda p: p.ordinal)
        return out


def record_id(origin: str, path: str) -> str:
    return hashlib.sha1(f"{origin}\0{path}".encode("utf-8", "surrogatepass")).hexdigest()


def rebuild_text(passages: list[NewPassage]) -> str:
    """A file's text from its passages: each passage at its offsets, blank space between them."""
    if not passages:
        return ""
    end = max(p.char_end for p in passages)
    buf = [" "] * end
    for p in passages:
        if p.char_end - p.char_start == len(p.text):
            buf[p.char_start : p.char_end] = list(p.text)
    text = "".join(buf)
    return re.sub(r"(?<=\S)  (?=\S)", "\n\n", text)  # paragraph gaps read as paragraphs


class Replica:
    """Publishes this client's files to the shared collection and pulls everyone else's.

    Invariants that keep clients consistent with the server:
    - a file's record is put on the server *before* its vectors (`reserve`): another
      client's garbage collection never removes vectors a record does not yet name;
    - `remote_dirty` (local meta, set in the same transaction as the catalog change
      would be lost otherwise) makes a run that was cut after publishing bump the
      generation next time, so other clients always hear of a change;
    - our own bump is never taken for "pulled": others may have changed things too;
    - the server collection's id is remembered: if the server lost its data, our
      files are marked for re-embedding and other clients' copies are dropped.
    """

    def __init__(self, kb, store: RemoteVectorStore):
        self.kb = kb
        self.catalog = kb.catalog
        self.store = store
        origin = self.catalog.get_meta("remote_origin")
        if not origin:
            origin = uuid.uuid4().hex[:12]
            with self.catalog.transaction():
                self.catalog.set_meta("remote_origin", origin)
                self.catalog.set_meta("remote_origin_name", socket.gethostname()[:40] or "client")
        self.origin = origin
        self.origin_name = self.catalog.get_meta("remote_origin_name") or "client"
        self._pulled_at = 0.0
        self._pulling = threading.Lock()
        self.check_identity()

    def _record(self, path: str, content_hash: str, title: str | None, fmt: str | None, size: int | None,
                n_passages: int) -> tuple[str, dict]:
        return record_id(self.origin, path), {
            "kind": "file", "origin": self.origin, "origin_name": self.origin_name, "path": path,
            "hash": content_hash, "title": title or "", "format": fmt or "", "size": size or 0,
            "n_passages": n_passages,
        }

    # -- the server's collection -------------------------------------------------------------------
    def check_identity(self) -> bool:
        """False (and the replica reset) when the server's collection is not the one we synced with."""
        current = self.store.collection_id
        known = self.catalog.get_meta("remote_collection_id")
        if known == current:
            return True
        with self.catalog.transaction():
            if known:  # the server lost the collection (wiped, restored from nothing): start over with it
                for rid, (file_id, _h) in self.catalog.foreign_records().items():
                    self.catalog.remove_foreign(rid, file_id)
                # Our files: forgotten (their folders stay), so the next index run embeds them into the new
                # collection; keeping them would let the indexer take them for unchanged twins.
                foreign = set(self.catalog.foreign_file_ids())
                for record in self.catalog.files():
                    if record.id not in foreign:
                        self.catalog.remove(record)
                self.catalog.db.execute("DELETE FROM chroma_gc")
                self.catalog.set_meta("remote_generation", "")
                log.warning("the shared collection %s was reset on the server: this client's folders will be "
                             "indexed into it again at the next re-index", self.store.spec.url)
            self.catalog.set_meta("remote_collection_id", current)
        return not known

    # -- this client's files ---------------------------------------------------------------------
    def reserve(self, files: list[tuple[str, str, str | None, str | None, int | None, int]]) -> None:
        """Name files (path, hash, title, format, size, passages) on the server before their vectors go up."""
        records = dict(self._record(*f) for f in files)
        if records:
            self._mark_dirty()
            self.store.put_file_records(records)

    def publish(self) -> int:
        """Make the server's records of our files match our catalog; returns records changed."""
        foreign = set(self.catalog.foreign_file_ids())
        mine = dict(
            self._record(r.path, r.hash, r.title, r.format, r.size, r.n_passages)
            for r in self.catalog.files() if r.status == "indexed" and r.id not in foreign
        )
        published = self.store.file_records(self.origin)
        changed = {rid: meta for rid, meta in mine.items() if published.get(rid) != meta}
        gone = [rid for rid in published if rid not in mine]
        if changed or gone:
            self._mark_dirty()
        if changed:
            self.store.put_file_records(changed)
        if gone:
            self.store.delete_file_records(gone)
        return len(changed) + len(gone)

    def _mark_dirty(self) -> None:
        if self.catalog.get_meta("remote_dirty") != "1":
            with self.catalog.transaction():
                self.catalog.set_meta("remote_dirty", "1")

    def collect_garbage(self) -> None:
        """Publish, drop the vectors of hashes no client's file uses any more, tell the others."""
        self.check_identity()
        self.publish()
        hashes = self.catalog.gc_hashes()
        removed = False
        for h in hashes:
            if not self.store.hash_referenced(h):
                self._mark_dirty()
                self.store.delete_hash(h)
                removed = True
        with self.catalog.transaction():
            self.catalog.clear_gc(hashes)
        if removed or self.catalog.get_meta("remote_dirty") == "1":
            self.store.bump_generation()  # outside any transaction: it may fail, the flag stays
            with self.catalog.transaction():
                self.catalog.set_meta("remote_dirty", "0")

    def withdraw(self) -> int:
        """Take this client's files off the shared knowledge base (before disconnecting from it):
        their records go, and the vectors no other client's file uses. Returns files withdrawn."""
        records = self.store.file_records(self.origin)
        if not records:
            return 0
        self._mark_dirty()
        self.store.delete_file_records(list(records))
        for h in {m.get("hash") for m in records.values()}:
            if h and not self.store.hash_referenced(h):
                self.store.delete_hash(h)
        self.store.bump_generation()
        with self.catalog.transaction():
            self.catalog.set_meta("remote_dirty", "0")
        return len(records)

    # -- everyone else's ---------------------------------------------------------------------------
    def pull(self, force: bool = False) -> int:
        """Bring other clients' files into the local catalog; returns files added or removed."""
        if not self._pulling.acquire(blocking=force):
            return 0  # another thread is pulling right now: searching what we have is fine
        try:
            return self._pull(force)
        finally:
            self._pulling.release()

    def _pull(self, force: bool) -> int:
        now = time.monotonic()
        if not force and now - self._pulled_at < PULL_INTERVAL_S:
            return 0
        self._pulled_at = now  # also after a failure: a server that is down is asked again in a while
        generation = self.store.generation()
        self.check_identity()
        if not force and generation is not None and generation == self.catalog.get_meta("remote_generation"):
            return 0
        records = {rid: m for rid, m in self.store.file_records().items() if m.get("origin") != self.origin}
        local = self.catalog.foreign_records()  # record id -> (file id, hash)
        changes = 0
        complete = True
        for rid, (file_id, h) in local.items():
            if rid not in records or records[rid].get("hash") != h:
                with self.catalog.transaction():
                    self.catalog.remove_foreign(rid, file_id)
                changes += 1
        wanted = {rid: meta for rid, meta in records.items()
                  if not (rid in local and local[rid][1] == meta.get("hash"))}
        fetched = self.store.passages_of({m["hash"]: int(m.get("n_passages", 1)) for m in wanted.values()})
        for rid, meta in wanted.items():
            passages = fetched.get(meta["hash"], [])
            if not passages or len(passages) != int(meta.get("n_passages", -1)):
                complete = False  # its owner is still writing it, or removing it: a later pull settles it
                continue
            # The origin's short id keeps two clients on machines of one name (or two replicas) apart.
            path = f"{meta.get('origin_name', 'client')}-{str(meta.get('origin', ''))[:4]}:{meta['path']}"
            with self.catalog.transaction():
                self.catalog.store_foreign(
                    rid, path, content_hash=meta["hash"], title=meta.get("title", ""), fmt=meta.get("format", ""),
                    size=int(meta.get("size", 0)), text=rebuild_text(passages), passages=passages,
                )
            changes += 1
        if complete:
            with self.catalog.transaction():
                self.catalog.set_meta("remote_generation", generation or "")
        if changes:
            log.info("pulled %d changes from %s", changes, self.store.spec.url)
        return changes
