"""Hybrid search: BM25 over language-aware terms fused with dense vectors.

With the multilingual default model the fusion adds scores: BM25 divided by
the score a passage holding every word of the question once would get (the
sum of their IDFs, so a question whose words the knowledge base lacks scores
low, not 1), plus the cosine times a weight set per question language on the
dev sets; when most of the question's words are not in the knowledge base
(a question in another language) the cosine weighs more. On the dev sets this
beats weighted reciprocal-rank fusion by 1-2 points of recall@1 in every
language and 5-40 points across languages (bench/bench_retrieval.py).
The question's names that a passage written in the other script spells too
(Latin/Cyrillic, index/name_keys.py) add up to NAME_WEIGHT: across languages
dense search alone often finds the right article but the wrong paragraph of it
(en>ru recall@1 0.714 -> 0.764, ru>en 0.801 -> 0.834). It applies to every
question, since a folder may mix languages; monolingual sets do not move.
In a mixed folder a question's own language looks covered, so it is not taken
for a cross-language one, and BM25 buried the passages in the other language:
there such a passage weighs its cosine's height above the candidates' lowest
OTHER_LANGUAGE_WEIGHT (3) times as much as the question's language does (ru+en
folder, recall@1: ru questions 0.709 -> 0.862, en 0.688 -> 0.813; dense alone
0.820 / 0.771; zh+en: en 0.761 -> 0.877, zh 0.864 -> 0.847, dense 0.854), when
at least a fifth of the dense candidates are in another language (a few English
headings in a Thai folder are no second language: lifted, they cost th 5 points).
Other models (MiniLM knowledge bases) keep weighted reciprocal rank with the
settings' weights. The dense weight is 0 for a question in a language the
model does not know, so a weak dense ranking cannot drag down a strong
lexical one.

Where the store has sentence vectors (index/sentence_vectors.py) a passage's
cosine is 0.3 its own and 0.7 its best sentence's: dense recall@1 +5-30 points,
hybrid +0.5-3 monolingual (ja 0.89 -> 0.90, ru 0.92 -> 0.935) and +6-10 across
languages. Tuned on either half of the dev articles alone, the sentence share,
the cross-language weight and ja's weight come out the same.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy loads with the first search, not with the app's window
    import numpy as np

from index import analysis, name_keys, sentence_vectors
from index.embedding import BUNDLED_USE
from index.types import Passage, Retrieved, SearchHit, SourceDocument

log = logging.getLogger("docent.search")

RRF_K = 60
CANDIDATES = 50
COMMON_TERM_SHARE = 0.3
# FTS5 scores every row that matches any OR-ed term, so cost grows with the
# postings read. Terms are taken rarest first until this many postings; the
# common terms left out carry little IDF, and small collections are untouched.
POSTINGS_BUDGET = 20_000

# Score fusion (models with tuned weights): cosine weight per question language, set on the dev sets.
DENSE_WEIGHTS = {BUNDLED_USE: {"th": 0.25}}  # where the lexical side is the stronger one
DEFAULT_DENSE_WEIGHT = 1.0
CROSS_DENSE_WEIGHT = 6.0  # fewer than CROSS_COVERAGE of the question's words occur in the knowledge base
CROSS_COVERAGE = 0.5
SENTENCE_SHARE = 0.7  # a passage's dense score: its cosine mixed with its best sentence's (index/sentence_vectors.py)

OTHER_LANGUAGE_WEIGHT = 3.0  # cosine weight (times the language's) of a passage in another language than the question
MIXED_SHARE = 0.2  # ... when at least this share of the dense candidates is in another language
NAME_WEIGHT = 0.75  # names shared across scripts (index/name_keys.py); 0.5-1 alike on either half of the dev articles


@dataclass
class Ranking:
    ids: list[int]
    scores: dict[int, float]
    ideal: float = 1.0  # lexical: the score of a passage with every question word once
    coverage: float = 1.0  # lexical: share of the question's words the knowledge base has


def lexical_query(catalog, query: str) -> str | None:
    """FTS5 MATCH expression: the query's distinct terms OR-ed, very common ones dropped."""
    terms = analysis.query_terms(query, catalog.languages())
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


def lexical_evidence(catalog, query: str) -> tuple[float, float]:
    """(ideal, coverage) of the question's content words in its own language: the sum of their IDFs
    as FTS5 computes them (a word no passage has counts fully), and the share the index has."""
    own = list(dict.fromkeys(analysis.content_terms(query)))
    if not own:
        return 1.0, 0.0
    total = catalog.counts()["passages"]
    df = catalog.document_frequency(own)
    ideal = sum(max(1e-6, math.log((total - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5))) for t in own)
    return max(ideal, 1e-6), sum(1 for t in own if t in df) / len(own)


def lexical_ranking(catalog, query: str, limit: int = CANDIDATES) -> Ranking:
    match = lexical_query(catalog, query)
    if match is None:
        return Ranking([], {}, 1.0, 0.0)
    rows = sorted(catalog.bm25(match, limit), key=lambda r: (-r[1], r[0]))  # ties by id: a repeatable order
    ideal, coverage = lexical_evidence(catalog, query)
    return Ranking([r for r, _ in rows], dict(rows), ideal, coverage)


def embed_and_search(vectors, embedder, query: str, limit: int) -> tuple[np.ndarray, list[tuple[str, float]]]:
    """(query vector, nearest passage vectors): the vector is wanted again for sentence scoring."""
    vectors_found, hits = embed_and_search_many(vectors, embedder, [query], limit)
    return vectors_found[0], hits[0]


def embed_and_search_many(vectors, embedder, queries: list[str],
                          limit: int) -> tuple[np.ndarray, list[list[tuple[str, float]]]]:
    """Every query embedded in one pass and looked up in one vector-store call; the query vectors
    come back too, for sentence scoring."""
    embedded = embedder.embed_queries(queries)
    return embedded, vectors.query_many(embedded, limit)


def rescore_dense(vectors, embedder, query: str, hits: list[tuple[str, float]],
                  vector: np.ndarray | None = None) -> list[tuple[str, float]]:
    """The nearest passages scored (1 - SENTENCE_SHARE) * passage cosine + SENTENCE_SHARE * best sentence
    cosine, best first (index/sentence_vectors.py); `hits` as they are when any of them lacks sentence
    vectors (an older knowledge base, another model, a shared store), so one question never mixes scales."""
    scorer = getattr(vectors, "unit_scores", None)
    if scorer is None or not hits or not sentence_vectors.wanted(getattr(embedder, "name", "")):
        return hits
    try:
        found = scorer(embedder.embed_query(query) if vector is None else vector, [vid for vid, _ in hits])
    except Exception as exc:  # noqa: BLE001 - the passage vectors still rank
        log.warning("sentence vectors unavailable (%s); passage vectors only", exc)
        return hits
    if len(found) < len(hits):
        return hits
    mixed = [(vid, (1 - SENTENCE_SHARE) * found[vid][0] + SENTENCE_SHARE * found[vid][1]) for vid, _ in hits]
    return sorted(mixed, key=lambda h: (-h[1], h[0]))


def dense_ranking(catalog, vectors, embedder, query: str, limit: int = CANDIDATES, hits=None,
                  vector: np.ndarray | None = None) -> Ranking:
    """Passages by meaning; `vector`: the query's, when the caller embedded it already (`hits` came from it)."""
    if hits is None:
        vector, hits = embed_and_search(vectors, embedder, query, limit)
    hits = rescore_dense(vectors, embedder, query, hits, vector)
    mapping = catalog.passage_ids_for_vectors([vid for vid, _ in hits])
    ids: list[int] = []
    scores: dict[int, float] = {}
    for vid, score in hits:
        for pid in sorted(mapping.get(vid, [])):
            if pid not in scores:
                ids.append(pid)
                scores[pid] = score
    return Ranking(ids, scores)


def _sources(lexical: Ranking, dense: Ranking, pid: int) -> dict[str, int]:
    out = {}
    for name, ranking in (("lexical", lexical), ("dense", dense)):
        if pid in ranking.scores:
            out[name] = ranking.ids.index(pid) + 1
    return out


def fuse_scores(lexical: Ranking, dense: Ranking, dense_weight: float, k: int,
                names: dict[int, float] | None = None, other: set[int] = frozenset(),
                lift: float = 0.0) -> list[tuple[int, float, dict[str, int]]]:
    """BM25 / ideal + dense_weight * cosine (+ NAME_WEIGHT * the share of names held across scripts);
    a passage in another language (`other`) adds `lift` times its cosine's height above the floor,
    since BM25 cannot speak for it. A passage only one ranker found gets the other's floor
    (0 lexically, the lowest cosine returned densely)."""
    floor = min(dense.scores.values()) if dense.scores else 0.0
    names = names or {}
    fused: dict[int, float] = {}
    for pid in dict.fromkeys([*lexical.ids, *dense.ids]):
        cosine = dense.scores.get(pid, floor)
        fused[pid] = (lexical.scores.get(pid, 0.0) / lexical.ideal + dense_weight * cosine
                      + NAME_WEIGHT * names.get(pid, 0.0) + (lift * (cosine - floor) if pid in other else 0.0))
    order = sorted(fused, key=lambda pid: (-fused[pid], pid))[:k]  # ties by id: the same answer every time
    return [(pid, fused[pid], _sources(lexical, dense, pid)) for pid in order]


def score_fusion(settings, mode: str) -> bool:
    """Whether a search fuses scores (a model with tuned weights, hybrid mode), not ranks."""
    return mode == "hybrid" and settings.embedding_model in DENSE_WEIGHTS


def cross_language(settings, lexical: Ranking, weight: float, mode: str = "hybrid") -> bool:
    """Score fusion for a question in another language than the knowledge base: most of its words
    are not in it, and the dense ranker knows its language."""
    return score_fusion(settings, mode) and weight > 0 and lexical.coverage < CROSS_COVERAGE


def shared_names(query: str, passages: dict[int, Passage]) -> dict[int, float]:
    """{passage id: rarity-weighted share of the question's names it holds in another script}
    (index/name_keys.py); rarity is counted among the candidates, so no scan of the whole index."""
    names = name_keys.question_names(query)
    if not names or not passages:
        return {}
    held = {pid: name_keys.held(names, p.text) for pid, p in passages.items()}
    n = len(held)
    df = [sum(1 for found in held.values() if i in found) for i in range(len(names))]
    idf = [max(0.0, math.log((n - d + 0.5) / (d + 0.5))) for d in df]
    ideal = sum(idf)
    if ideal <= 0:
        return {}
    return {pid: sum(idf[i] for i in found) / ideal for pid, found in held.items() if found}


def other_language(query: str, passages: dict[int, Passage], ids: list[int]) -> set[int]:
    """The passages of `ids` written in another language than the question, when they are at least
    MIXED_SHARE of them (the dense candidates: only they can gain from it). Another script tells it
    at regex speed; only two texts in one script (German and English) need the language itself."""
    language = analysis.detect_language(query)
    script = analysis.main_script(query)
    if language == "und" or not script:
        return set()
    other = set()
    for pid in ids:
        if pid not in passages:
            continue
        text = passages[pid].text
        found = analysis.passage_script(text)
        if found and found != script:
            other.add(pid)
        elif found == "latin" and analysis.detect_language(text[:analysis.PASSAGE_SAMPLE]) not in (language, "und"):
            other.add(pid)  # German beside English; one script elsewhere is one language (ar/fa: detection noise)
    # a few English headings in a Thai folder are no second language: lifted, they would win on height alone
    return other if len(other) >= MIXED_SHARE * len(ids) else set()


def combine(settings, lexical: Ranking, dense: Ranking, weight: float, k: int, mode: str = "hybrid",
            names: dict[int, float] | None = None, other: set[int] = frozenset()) -> list[tuple[int, float, dict[str, int]]]:
    """The fusion rule of a knowledge base: scores for a tuned model (with the cross-language boost,
    `names` from shared_names and `other` from other_language), weighted ranks otherwise (neither
    applies there). One place, so every caller ranks exactly like `search`."""
    if score_fusion(settings, mode):
        if cross_language(settings, lexical, weight, mode):  # every passage is in another language
            return fuse_scores(lexical, dense, max(weight, CROSS_DENSE_WEIGHT), k, names)
        # as much more as the question's language trusts its cosine: Thai, whose BM25 is the strong
        # side, lifts an English passage by a quarter of what Russian would
        lift = weight * (OTHER_LANGUAGE_WEIGHT - 1)
        return fuse_scores(lexical, dense, weight, k, names, other, lift)
    lex_weight = settings.lexical_weight if mode != "dense" else 0.0
    return fuse([(lexical, lex_weight), (dense, weight)], k)


def fuse(rankings: list[tuple[Ranking, float]], k: int) -> list[tuple[int, float, dict[str, int]]]:
    """Weighted reciprocal rank (models without tuned score-fusion weights)."""
    fused: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for n, (ranking, weight) in enumerate(rankings):
        if weight <= 0:
            continue
        for rank, pid in enumerate(ranking.ids, start=1):
            fused[pid] = fused.get(pid, 0.0) + weight / (RRF_K + rank)
            ranks.setdefault(pid, {})[("lexical", "dense")[n] if n < 2 else str(n)] = rank
    order = sorted(fused, key=lambda pid: (-fused[pid], min(ranks[pid].values()), pid))
    return [(pid, fused[pid], ranks[pid]) for pid in order[:k]]


def dense_weight_for(settings, embedder, query: str) -> float:
    """The dense ranker's weight: 0 for a question in a language the model does not know;
    with score fusion the per-language weight, else the settings' RRF weight."""
    if embedder is None:
        return 0.0
    language = analysis.detect_language(query)
    if not embedder.supports(language):
        return 0.0
    tuned = DENSE_WEIGHTS.get(settings.embedding_model)
    if tuned is None:
        return settings.dense_weight
    return tuned.get(language, DEFAULT_DENSE_WEIGHT)


def search(kb, query: str, k: int = 10, mode: str = "hybrid") -> Retrieved:
    """Best passages for `query` (SearchHit), with why the search was degraded (`.warnings`);
    mode is 'hybrid', 'lexical' or 'dense'."""
    return search_many(kb, [query], k, mode)[0]


def search_many(kb, queries: list[str], k: int = 10, mode: str = "hybrid") -> list[Retrieved]:
    """`search` for many queries at once (verify checks every sentence of a text): all queries
    embedded in one pass and looked up in one vector-store call, BM25 per query, then `combine`.
    A degraded dense side (`.warnings`) is reported on every result."""
    queries = [q.strip() for q in queries]
    live = [i for i, q in enumerate(queries) if q]
    if not live:
        return [Retrieved() for _ in queries]
    catalog = kb.catalog
    warnings: list[str] = []
    limit = max(CANDIDATES, k * 3)
    weights = [0.0] * len(queries)
    for i in live:
        if mode == "dense":
            weights[i] = 1.0
        elif mode == "hybrid":
            weights[i] = dense_weight_for(kb.settings, kb.embedder, queries[i])
    wanted = [i for i in live if weights[i] > 0]
    pending = None
    vectors = None
    if wanted and kb.vectors_available():
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
            pending = kb.background.submit(embed_and_search_many, vectors, kb.embedder,
                                           [queries[i] for i in wanted], limit)
    lexical = {i: lexical_ranking(catalog, queries[i], limit) if mode in ("hybrid", "lexical") else Ranking([], {})
               for i in live}
    dense_hits: dict[int, list] = {}
    if pending is not None:
        try:
            query_vectors, found = pending.result()
            dense_hits = {i: (query_vectors[n], found[n]) for n, i in enumerate(wanted)}
        except Exception as exc:  # noqa: BLE001 - a broken vector store must not take search down with it
            if mode == "dense":
                raise
            log.warning("vector search failed (%s); lexical ranking only", exc)
            warnings.append(f"{exc}; showing keyword matches only")
    fused = {}
    fetched: dict[int, Passage] = {}  # candidates read for names and languages that made a top k: not read again
    for i in live:
        dense = Ranking([], {})
        if i in dense_hits:
            vector, found = dense_hits[i]
            dense = dense_ranking(catalog, vectors, kb.embedder, queries[i], limit, hits=found, vector=vector)
        names, other = None, set()
        if score_fusion(kb.settings, mode) and weights[i] > 0:
            candidates = catalog.passages_by_ids(list(dict.fromkeys([*lexical[i].ids, *dense.ids])))
            names = shared_names(queries[i], candidates)
            if not cross_language(kb.settings, lexical[i], weights[i], mode):  # else every passage lifts alike
                other = other_language(queries[i], candidates, dense.ids)
        fused[i] = combine(kb.settings, lexical[i], dense, weights[i], k, mode, names, other)
        if names is not None:
            fetched.update((pid, candidates[pid]) for pid, _, _ in fused[i] if pid in candidates)
    wanted_ids = list(dict.fromkeys(pid for i in live for pid, _, _ in fused[i]))
    passages = {pid: fetched[pid] for pid in wanted_ids if pid in fetched}
    passages.update(catalog.passages_by_ids([pid for pid in wanted_ids if pid not in fetched]))
    out = []
    for i in range(len(queries)):
        hits = Retrieved(warnings=list(warnings)) if i in fused else Retrieved()
        for rank, (pid, score, sources) in enumerate(fused.get(i, ()), start=1):
            if pid in passages:
                hits.append(SearchHit(passages[pid], score, rank, sources))
        out.append(hits)
    return out


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
