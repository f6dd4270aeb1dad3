"""Hybrid search: BM25 over language-aware terms fused with dense vectors.

Fusion is weighted reciprocal rank. The dense weight drops when the query's
language is one the embedding model does not know (the bundled MiniLM is
English-only), so a weak dense ranking cannot drag down a strong lexical one.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from index import analysis
from index.types import Passage, Retrieved, SearchHit, SourceDocument

log = logging.getLogger("docent.search")

RRF_K = 60
CANDIDATES = 50
COMMON_TERM_SHARE = 0.3
# FTS5 scores every row that matches any OR-ed term, so cost grows with the
# postings read. Terms are taken rarest first until this many postings; the
# common terms left out carry little IDF, and small collections are untouched.
POSTINGS_BUDGET = 20_000


@dataclass
class Ranking:
    ids: list[int]
    scores: dict[int, float]


def lexical_query(catalog, query: str) -> str | None:
    """FTS5 MATCH expression: the query's distinct terms OR-ed, very common ones dropped."""
    terms = list(dict.fromkeys(analysis.terms(query)))
    if not terms:
        return None
    total = catalog.counts()["passages"] if len(terms) > 1 else 0
    if total:
        df = catalog.document_frequency(terms)
        terms = [t for t in terms if t in df] or terms[:1]  # terms no passage has cost nothing and score nothing
        rare = [t for t in terms if df.get(t, 0) <= COMMON_TERM_SHARE * total]
        terms = sorted(rare or terms, key=lambda t: df.get(t, 0))
        kept, postings = [], 0
        for term in terms:
            if kept and postings + df.get(term, 0) > POSTINGS_BUDGET:
                break
            kept.append(term)
            postings += df.get(term, 0)
        terms = kept
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def lexical_ranking(catalog, query: str, limit: int = CANDIDATES) -> Ranking:
    match = lexical_query(catalog, query)
    if match is None:
        return Ranking([], {})
    rows = catalog.bm25(match, limit)
    return Ranking([r for r, _ in rows], dict(rows))


def nearest_vectors(vectors, embedder, query: str, limit: int) -> list[tuple[str, float]]:
    return vectors.query(embedder.embed_query(query), limit)


def dense_ranking(catalog, vectors, embedder, query: str, limit: int = CANDIDATES, hits=None) -> Ranking:
    if hits is None:
        hits = nearest_vectors(vectors, embedder, query, limit)
    mapping = catalog.passage_ids_for_vectors([vid for vid, _ in hits])
    ids: list[int] = []
    scores: dict[int, float] = {}
    for vid, score in hits:
        for pid in mapping.get(vid, []):
            if pid not in scores:
                ids.append(pid)
                scores[pid] = score
    return Ranking(ids, scores)


def fuse(rankings: list[tuple[Ranking, float]], k: int) -> list[tuple[int, float, dict[str, int]]]:
    fused: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for n, (ranking, weight) in enumerate(rankings):
        if weight <= 0:
            continue
        for rank, pid in enumerate(ranking.ids, start=1):
            fused[pid] = fused.get(pid, 0.0) + weight / (RRF_K + rank)
            ranks.setdefault(pid, {})[("lexical", "dense")[n] if n < 2 else str(n)] = rank
    order = sorted(fused, key=lambda pid: (-fused[pid], min(ranks[pid].values())))
    return [(pid, fused[pid], ranks[pid]) for pid in order[:k]]


def dense_weight_for(settings, embedder, query: str) -> float:
    if embedder is None:
        return 0.0
    language = analysis.detect_language(query)
    if embedder.supports(language):
        return settings.dense_weight
    return 0.0


def search(kb, query: str, k: int = 10, mode: str = "hybrid") -> Retrieved:
    """Best passages for `query` (SearchHit), with why the search was degraded (`.warnings`);
    mode is 'hybrid', 'lexical' or 'dense'."""
    query = query.strip()
    if not query:
        return Retrieved()
    catalog = kb.catalog
    warnings: list[str] = []
    limit = max(CANDIDATES, k * 3)
    weight = 0.0
    if mode == "dense":
        weight = 1.0
    elif mode == "hybrid":
        weight = dense_weight_for(kb.settings, kb.embedder, query)
    pending = None
    vectors = None
    if weight > 0 and kb.vectors_available():
        try:
            vectors = kb.vectors
        except Exception as exc:  # noqa: BLE001 - e.g. Chroma cannot start on a full disk
            if mode == "dense":
                raise
            log.warning("vector search unavailable (%s); lexical ranking only", exc)
            warnings.append(f"{exc}; showing keyword matches only")
        else:
            # ONNX and Chroma release the GIL: the dense side runs beside BM25.
            # The catalog is only touched from this thread.
            pending = kb.background.submit(nearest_vectors, vectors, kb.embedder, query, limit)
    lexical = lexical_ranking(catalog, query, limit) if mode in ("hybrid", "lexical") else Ranking([], {})
    dense = Ranking([], {})
    if pending is not None:
        try:
            hits = pending.result()
        except Exception as exc:  # noqa: BLE001 - a broken vector store must not take search down with it
            if mode == "dense":
                raise
            log.warning("vector search failed (%s); lexical ranking only", exc)
            warnings.append(f"{exc}; showing keyword matches only")
        else:
            dense = dense_ranking(catalog, vectors, kb.embedder, query, limit, hits=hits)
    lex_weight = kb.settings.lexical_weight if mode != "dense" else 0.0
    fused = fuse([(lexical, lex_weight), (dense, weight)], k)
    passages = catalog.passages_by_ids([pid for pid, _, _ in fused])
    hits = Retrieved(warnings=warnings)
    for rank, (pid, score, sources) in enumerate(fused, start=1):
        if pid in passages:
            hits.append(SearchHit(passages[pid], score, rank, sources))
    return hits


def expand(kb, hit: SearchHit, max_chars: int) -> SourceDocument:
    """Grow a hit with neighbouring passages, alternately before and after, up to max_chars."""
    passage: Passage = hit.passage
    file_id, rows = kb.catalog.neighbours(int(passage.id))
    text = kb.catalog.text_of(file_id)
    index = next(i for i, row in enumerate(rows) if row[0] == passage.ordinal)
    lo = hi = index
    start, end = rows[index][1], rows[index][2]
    grew = True
    while grew:
        grew = False
        if hi + 1 < len(rows) and rows[hi + 1][2] - start <= max_chars:
            hi += 1
            end = rows[hi][2]
            grew = True
        if lo - 1 >= 0 and end - rows[lo - 1][1] <= max_chars:
            lo -= 1
            start = rows[lo][1]
            grew = True
    end = min(end, start + max_chars)
    return SourceDocument(passage.title, text[start:end], passage.path, rows[lo][3], start, end)


def documents_for(kb, question: str, k: int = 6, max_chars: int = 4000) -> Retrieved:
    """The model's documents (SourceDocument): top hits expanded, trimmed so no two documents
    overlap, with the search's warnings."""
    hits = search(kb, question, k * 3)
    docs = Retrieved(warnings=hits.warnings)
    for hit in hits:
        p = hit.passage
        if any(d.path == p.path and d.char_start <= p.char_start and p.char_end <= d.char_end for d in docs):
            continue
        doc = expand(kb, hit, max_chars)
        start, end = doc.char_start, doc.char_end
        for d in docs:
            if d.path == doc.path and d.char_start < end and start < d.char_end:
                if d.char_start <= p.char_start:
                    start = max(start, d.char_end)
                else:
                    end = min(end, d.char_start)
        if not (start <= p.char_start and p.char_end <= end):
            continue
        content = doc.content[start - doc.char_start : end - doc.char_start]
        docs.append(SourceDocument(doc.title, content, doc.path, doc.page, start, end))
        if len(docs) >= k:
            break
    return docs
