"""Quoted answers: the best sentences of the retrieved documents, in their own words, each cited.

No language model: this is the answer a user gets when no chat model is usable
(the bundled base model, no model at all), and it cannot invent anything.

Every sentence of the documents is scored by
- the question's terms (the analyser's stems and CJK bigrams; a stem the stemmer
  left apart from the question's, "блокировок" / "блокировк", counts too), each
  weighted by its rarity among the candidate sentences, as the share of the
  question's weight the sentence holds, blended with the same share over the
  sentence and its predecessor (the answer often sits one sentence after the
  words that name the subject);
- meaning: cosine to the question with the knowledge base's embedding model,
  when it covers the question's language (the bundled MiniLM is English-only)
  and the terms leave a near tie; only the few lexically best sentences are
  embedded, in one batch, and vectors are cached per sentence text (the
  question's vector is the one the search made: Embedder keeps it);
- the kind of answer asked for: how many / when / who / where questions (and
  their Russian and Japanese forms) prefer sentences holding a number, a date,
  a name or a place the question does not already hold;
- the document's rank: retrieval's order is evidence too.

Not found: the best sentence must be close enough to the question. Its
confidence is the mean of its term share and its cosine to the question: a
sentence that shares common words with a question about something else has a
low cosine, one that answers in other words a high one. The bar is higher for
CJK questions (bigrams of unrelated sentences overlap, and their vectors sit
closer, far more than stems do) and is the term share alone where the model
does not cover the language. bench/bench_quote.py measures the trade-off with
knowledge bases of half the dev articles asked the other half's questions.

The answer is the best sentence plus up to two more that score close to it (at
most 3 sentences); a sentence that opens with a pronoun or connector ("It",
"This", "Он", "Это", "それ" ...) brings its predecessor. Nothing sure enough:
"not found" in the question's language. Citations point at the
file's extracted text exactly as the generated answers' do. The conversation's
history is not used: a quote answers the question as asked.
"""
from __future__ import annotations

import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence, Union

from assistant.answer import Answer
from assistant.citations import Citation
from assistant.language import NOT_FOUND, message_language
from assistant.protocol import OnStep1, OnToken, Retriever, open_question
from index.analysis import content_tokens, detect_language, is_cjk, normalize
from index.sentences import split_sentences
from index.types import SourceDocument

MAX_SENTENCES = 3
# Questions matched by character bigrams: unrelated sentences share bigrams, and sit closer in the
# embedding space, far more often than with stems (see `confidence`).
CJK_LANGUAGES = frozenset({"ja", "zh", "ko"})


# --------------------------------------------------------------------------
# the kind of answer a question asks for (small on purpose: index/facts.py may take these over)

_KIND_CUES: dict[str, tuple[re.Pattern, ...]] = {
    "number": (
        re.compile(r"\bhow (many|much|long|old|far|large|big|tall|high|deep|wide|heavy|fast|often)\b|\bwhat (percentage|percent|number|amount)\b"),
        re.compile(r"\bсколько\b|\bкаков[аоы]? (числ|количеств|размер|площад|длин|высот|процент)|\bкакой процент"),
        re.compile(r"いくつ|いくら|何[人個回本枚台件匹頭羽歳才%％割倍点位号階キメトグ]|何パーセント|どれ(くらい|ぐらい|ほど)|幾"),
    ),
    "date": (
        re.compile(r"\bwhen\b|\bwhat (year|decade|century|date|month|day|time|period|era)\b|\bwhich (year|decade|century|month)\b"),
        re.compile(r"\bкогда\b|\bв как(ом|ой|ие) (году|веке|месяце|период|время|годы|десятилетии)|\bкакого год"),
        re.compile(r"いつ|何年|何月|何日|何世紀|何時代|何曜|何時"),
    ),
    "person": (
        re.compile(r"\bwho\b|\bwhom\b|\bwhose\b"),
        re.compile(r"\bкто\b|\bкого\b|\bкому\b|\bкем\b|\bчей\b|\bчья\b|\bчьё\b|\bчье\b|\bчьи\b"),
        re.compile(r"誰|だれ|何者|どなた"),
    ),
    "place": (
        re.compile(r"\bwhere\b|\bwhat (country|city|state|region|town|island|continent|river|place)\b|\bwhich (country|city|state|region|town|island|continent|river)\b"),
        re.compile(r"\bгде\b|\bкуда\b|\bоткуда\b|\bв как(ой|ом) (стран|город|регион|облас|мест|штат)"),
        re.compile(r"どこ|何処|どの(国|地域|都市|町|県|州|島)|何県|何市|何国"),
    ),
}

# Interrogatives: what the question asks with, never what the answer must contain.
_QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how many much "
    "что чего чем чём какой какая какое какие каком какой какого каких каким какую какому "
    "кто кого кому кем когда где куда откуда почему зачем сколько как каков какова каково каковы чей чья чье чьи".split()
)
_QUESTION_CJK = re.compile(r"[何誰幾]|どこ|いつ|だれ|どれ|どの|どう|なぜ|なに|いく")

_DIGIT = re.compile(r"\d")
_YEAR = re.compile(r"(?<!\d)(1\d{3}|20\d{2})(?!\d)|\d+\s*(年|世紀|月|日)|\d{1,2}(st|nd|rd|th)?\s+century|\d+-?(х|е|й)?\s+(год|век)")
_MONTHS = re.compile(
    r"\b(january|february|march|april|may|june|july|august|september|october|november|december|"
    r"январ|феврал|март|апрел|ма[йяе]|июн|июл|август|сентябр|октябр|ноябр|декабр)", re.IGNORECASE)
_CAPITAL = re.compile(r"(?<=[\w,;:)»\"] )([A-ZА-ЯЁ][\w\-]+)")
_KATAKANA_NAME = re.compile(r"[\u30a1-\u30fa\u30fc]{2,}(・[\u30a1-\u30fa\u30fc]{2,})?")
_JA_PLACE = re.compile(r"[\u4e00-\u9fff]{1,6}(県|市|町|村|国|州|島|山|川|湖|都|府|道|区|郡|半島|地方|大陸)")
_JA_PERSON = re.compile(r"[\u4e00-\u9fff]{1,4}(氏|さん|天皇|将軍|王|公|帝)|[\u4e00-\u9fff]{2,4}・")


def answer_kind(question: str) -> str | None:
    """'number', 'date', 'person', 'place' or None: what kind of fact the question asks for."""
    text = normalize(question)
    for kind in ("date", "number", "person", "place"):  # "何年" is a date before it is a number
        if any(p.search(text) for p in _KIND_CUES[kind]):
            return kind
    return None


def has_kind(sentence: str, kind: str | None, question: str = "") -> bool:
    """Does `sentence` hold a fact of `kind` that `question` does not already hold?"""
    if kind is None:
        return False
    asked = normalize(question)

    def new(found: list[str]) -> bool:
        return any(normalize(f) not in asked for f in found if f)

    if kind == "number":
        return new(re.findall(r"\d[\d,.\s]*\d|\d", sentence))
    if kind == "date":
        return new([m.group(0) for m in _YEAR.finditer(sentence)]) or new(_MONTHS.findall(sentence))
    names = [m.group(1) for m in _CAPITAL.finditer(sentence)] + [m.group(0) for m in _KATAKANA_NAME.finditer(sentence)]
    if kind == "person":
        names += [m.group(0) for m in _JA_PERSON.finditer(sentence)]
    else:
        names += [m.group(0) for m in _JA_PLACE.finditer(sentence)]
    return new(names)


# --------------------------------------------------------------------------
# sentences that need their predecessor

_LEADS = re.compile(
    r"^(it|its|it's|this|that|these|those|they|their|them|he|his|she|her|such|however|also|but|then|there|thus|"
    r"therefore|hence|furthermore|moreover|meanwhile|besides|nevertheless|instead|in addition|as a result|"
    r"the latter|the former|the same|afterwards|later|in turn|"
    r"он|она|оно|они|его|её|ее|их|ему|ей|им|это|этот|эта|эти|этого|этой|этим|этом|тот|та|те|того|там|тогда|"
    r"однако|также|тоже|но|поэтому|кроме того|при этом|в результате|впоследствии|позже|затем|следовательно|"
    r"при том|причём|причем|вместе с тем|помимо этого|тем не менее)\b",
    re.IGNORECASE,
)
_JA_LEADS = ("それ", "これ", "この", "その", "そこ", "こう", "そう", "あの", "彼", "同", "しかし", "また", "さらに",
             "そして", "だが", "ただし", "なお", "一方", "ところが", "このため", "そのため", "つまり", "すなわち")


def needs_predecessor(sentence: str) -> bool:
    """Does the sentence open with a pronoun or connector that points back?"""
    s = sentence.lstrip(" \t\"'«“(「『—–-")
    if s.startswith(_JA_LEADS):
        return True
    m = _LEADS.match(s)
    return bool(m) and (m.end() == len(s) or not s[m.end()].isalnum())


_SENTENCE_END = tuple(".!?…。！？」』\"'”’»)；;:：")


def is_heading(text: str, start: int, end: int) -> bool:
    """A title line (no closing punctuation, alone on its line): it names a subject, it says nothing
    about it, so it never keeps the best sentence company."""
    line_ends = end == len(text) or text[end] == "\n"
    line_starts = start == 0 or text[start - 1] == "\n"
    return line_starts and line_ends and not text[start:end].rstrip().endswith(_SENTENCE_END)


# --------------------------------------------------------------------------
# scoring


@dataclass
class _Sentence:
    doc: int                 # index into the documents
    index: int               # sentence number inside that document
    start: int               # [start, end) in the document's content
    end: int
    terms: frozenset
    lexical: float = 0.0
    dense: float = 0.0
    embedded: bool = False   # `dense` is this sentence's own cosine (not the shortlist's floor)
    kind: bool = False
    score: float = 0.0


@lru_cache(maxsize=16384)
def _sentence_terms(sentence: str, language: str) -> frozenset:
    return frozenset(t.term for t in content_tokens(sentence, language))


@lru_cache(maxsize=1024)
def _split(content: str) -> tuple[tuple[int, int, frozenset], ...]:
    """A document's sentences and their content terms. Cached twice: a document recurs across
    questions, and its sentences recur in the other windows of the same file; the language is
    told once per document (telling it per sentence was most of the time)."""
    language = detect_language(content)
    return tuple((a, b, _sentence_terms(content[a:b], language)) for a, b in split_sentences(content))


MIN_VARIANT = 5  # letters two stems must share before one counts as the other's variant


def _variants(asked: frozenset, vocabulary: frozenset) -> dict[str, frozenset]:
    """Question stems -> the documents' stems that are the same word in another form, where the
    stemmer left them apart (Russian "блокировок" / "блокировк"): one starts the other, or they
    differ only in their last letter, sharing at least MIN_VARIANT letters. Words only: CJK bigrams
    and numbers match exactly."""
    out: dict[str, frozenset] = {}
    for t in asked:
        if len(t) < MIN_VARIANT or not t.isalpha() or is_cjk(t[0]):
            continue
        head = t[:MIN_VARIANT]
        found = frozenset(v for v in vocabulary if v != t and v.startswith(head) and _same_word(t, v))
        if found:
            out[t] = found
    return out


def _same_word(a: str, b: str) -> bool:
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    return long.startswith(short) or long.startswith(short[:-1]) and len(short) - 1 >= MIN_VARIANT


def _held(asked: frozenset, variants: dict[str, frozenset], terms: frozenset) -> frozenset:
    """The question's terms a sentence holds, itself or in a variant."""
    hit = asked.intersection(terms)
    extra = [t for t, forms in variants.items() if t not in hit and not forms.isdisjoint(terms)]
    return hit.union(extra) if extra else hit


def _question_terms(question: str) -> dict[str, float]:
    """Content terms of the question with their emphasis: interrogatives out, kana grammar light."""
    out: dict[str, float] = {}
    for t in content_tokens(question):
        if t.kind == "word" and t.word in _QUESTION_WORDS:
            continue
        if t.kind == "cjk":
            if _QUESTION_CJK.search(t.term):
                continue
            weak = all(0x3040 <= ord(c) <= 0x309F or c == "ー" for c in t.term)
            out[t.term] = max(out.get(t.term, 0.0), 0.3 if weak else 1.0)
        else:
            out[t.term] = 1.0
    return out


class _VectorCache:
    """Sentence vectors by text, bounded (least recently used out)."""

    def __init__(self, size: int = 8192):
        self.size = size
        self.items: OrderedDict[str, object] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, text: str):
        with self.lock:
            v = self.items.get(text)
            if v is not None:
                self.items.move_to_end(text)
            return v

    def put(self, text: str, vector) -> None:
        with self.lock:
            self.items[text] = vector
            self.items.move_to_end(text)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


def _separator(before: str, after: str) -> str:
    """What joins two quoted sentences so that the answer splits into exactly these sentences again:
    a space (nothing between CJK sentences), or a line break where the text would run on
    (a quote cut at a line break, an odd character after a full stop)."""
    sep = "" if is_cjk(before[-1]) and is_cjk(after[0]) or before[-1] in "。！？」』" else " "
    joined = before + sep + after
    if split_sentences(joined) == [(0, len(before)), (len(before) + len(sep), len(joined))]:
        return sep
    return "\n"


class QuotePipeline:
    """An AnswerPipeline (assistant.protocol) that answers with the documents' own sentences."""

    mode = "quote"

    def __init__(
        self,
        embedder=None,
        mode_reason: str = "",
        *,
        k: int = 6,
        threshold: float = 0.28,
        lexical_threshold: float = 0.3,
        cjk_threshold: float = 0.39,
        meaning_weight: float = 0.5,
        dense_weight: float = 0.3,
        context_weight: float = 0.3,
        kind_bonus: float = 0.3,
        rank_decay: float = 0.06,
        companion_ratio: float = 0.6,
        shortlist: int = 24,
        embed_limit: int = 3,
        follow: bool = True,
        ambiguity: float = 0.7,
    ):
        self.embedder = embedder
        self.mode_reason = mode_reason
        self.k = k
        self.threshold = threshold            # the best sentence's confidence must reach this (see `confidence`)
        self.lexical_threshold = lexical_threshold  # ... or, without meaning, this share of the question's weight
        self.cjk_threshold = cjk_threshold    # ... or, for a question in CJK script (with meaning), this
        self.meaning_weight = meaning_weight  # the cosine's part in the confidence (0 = terms only)
        self.dense_weight = dense_weight      # cosine's weight next to the term share (0..1 each)
        self.context_weight = context_weight  # share of the lexical score taken from sentence + predecessor
        self.kind_bonus = kind_bonus          # score * (1 + kind_bonus) for a sentence with the kind asked for
        self.rank_decay = rank_decay          # score / (1 + rank_decay * document rank)
        self.companion_ratio = companion_ratio  # a second/third sentence must score this close to the best
        self.shortlist = shortlist            # sentences weighed beyond their terms
        self.embed_limit = embed_limit        # of which embedded (the time cost; the rest get the lowest cosine)
        self.ambiguity = ambiguity            # meaning is consulted when the runner-up scores this close
        self.follow = follow                  # a chosen sentence brings a successor that points back to it
        self.warnings: list[str] = []
        self._vectors = _VectorCache()

    @property
    def model_info(self) -> dict:
        return {
            "path": None,
            "profile": "quote",
            "n_gpu_layers": 0,
            "embedding": getattr(self.embedder, "name", None),
        }

    def close(self) -> None:
        self._vectors = _VectorCache()

    # ------------------------------------------------------------------
    def answer(
        self,
        question: str,
        documents: Union[Sequence[SourceDocument], Retriever],
        history: Sequence = (),
        on_token: OnToken | None = None,
        cancel: threading.Event | None = None,
        on_step1: OnStep1 | None = None,
    ) -> Answer:
        started = time.perf_counter()
        question, documents, timings = open_question(question, documents, self.k)
        docs = list(documents)
        lang = message_language(question)
        t = time.perf_counter()
        cancelled = cancel is not None and cancel.is_set()
        chosen = [] if cancelled else self.select(question, docs)
        timings["quote_s"] = round(time.perf_counter() - t, 4)

        text, citations = "", []
        found = bool(chosen)
        if found:
            text, citations = self.compose(chosen, docs)
        elif not cancelled:
            text = NOT_FOUND[lang]
        ids = list(dict.fromkeys(c.doc_id for c in citations))
        if on_step1 is not None and not cancelled:
            on_step1(ids, len(docs))
        if on_token is not None and text:
            on_token(text)
        timings["total_s"] = round(time.perf_counter() - started, 4)
        return Answer(
            question=question,
            answer=text,
            relevant_doc_ids=ids,
            documents=docs,
            citations=citations,
            timings=timings,
            model=self.model_info,
            language=lang,
            found=found,
            cancelled=cancelled,
            warnings=list(self.warnings),
            mode=self.mode,
            mode_reason=self.mode_reason,
        )

    # ------------------------------------------------------------------
    def score(self, question: str, docs: Sequence[SourceDocument]) -> list[_Sentence]:
        """Every sentence of `docs`, scored for `question`, best first."""
        sentences: list[_Sentence] = []
        by_doc: list[list[_Sentence]] = []
        for d, doc in enumerate(docs):
            row = [_Sentence(d, i, a, b, terms) for i, (a, b, terms) in enumerate(_split(doc.content))]
            by_doc.append(row)
            sentences += row
        q_terms = _question_terms(question)
        if not sentences or not q_terms:
            return []
        n = len(sentences)
        asked = frozenset(q_terms)
        variants = _variants(asked, frozenset().union(*(s.terms for s in sentences)))
        held = [_held(asked, variants, s.terms) for s in sentences]  # small sets: everything below works on these
        df: dict[str, int] = {}
        for hit in held:
            for term in hit:
                df[term] = df.get(term, 0) + 1
        # a term no sentence holds weighs as the rarest one that some sentence holds
        weights = {term: emphasis * math.log(1 + n / df.get(term, 1)) for term, emphasis in q_terms.items()}
        total = sum(weights.values()) or 1.0
        j = 0
        for row in by_doc:
            previous: frozenset = frozenset()
            for s in row:
                hit = held[j]
                j += 1
                own = sum(weights[t] for t in hit) / total
                window = sum(weights[t] for t in hit | previous) / total if previous else own
                s.lexical = (1 - self.context_weight) * own + self.context_weight * window
                if s.terms <= asked:  # a heading or an echo of the question: nothing new to say
                    s.lexical = 0.0
                s.score = s.lexical / (1 + self.rank_decay * s.doc)
                previous = hit
        kind = answer_kind(question)
        shortlist = sorted(sentences, key=lambda s: -s.score)[: self.shortlist]
        if len(shortlist) > 1 and shortlist[1].score >= self.ambiguity * shortlist[0].score:
            self._add_meaning(question, docs, shortlist)  # the terms alone do not settle it
        for s in shortlist:
            doc = docs[s.doc].content
            s.kind = has_kind(doc[s.start:s.end], kind, question)
            s.score = (s.lexical + self.dense_weight * s.dense) * (1 + self.kind_bonus * s.kind) / (1 + self.rank_decay * s.doc)
        return sorted(shortlist, key=lambda s: -s.score)

    def _meaning_available(self, question: str) -> bool:
        supports = getattr(self.embedder, "supports", None)
        return self.embedder is not None and (supports is None or supports(detect_language(question)))

    def _cosines(self, question: str, texts: list[str]) -> list[float]:
        """Cosine of each text to the question. The question's vector comes from the embedder (which keeps
        the search's), sentence vectors from this pipeline's cache: only unseen sentences are encoded,
        in one batch."""
        import numpy as np

        embedder = self.embedder
        vectors = [self._vectors.get(t) for t in texts]
        missing = [i for i, v in enumerate(vectors) if v is None]
        if missing:
            for i, v in zip(missing, embedder.embed_passages([texts[i] for i in missing])):
                vectors[i] = v
                self._vectors.put(texts[i], v)
        q = np.asarray(embedder.embed_query(question), dtype=np.float32)
        matrix = np.vstack(vectors)
        sims = matrix @ q / (np.linalg.norm(matrix, axis=1) * (np.linalg.norm(q) or 1.0) + 1e-12)
        return [float(x) for x in sims]

    def _add_meaning(self, question: str, docs: Sequence[SourceDocument], shortlist: list[_Sentence]) -> None:
        if self.dense_weight <= 0 or not shortlist or not self._meaning_available(question):
            return
        embedded = shortlist[: self.embed_limit]
        sims = self._cosines(question, [docs[s.doc].content[s.start:s.end] for s in embedded])
        for s, sim in zip(embedded, sims):
            s.dense, s.embedded = sim, True
        for s in shortlist[len(embedded):]:
            s.dense = min(sims)

    def confidence(self, question: str, docs: Sequence[SourceDocument], best: _Sentence,
                   exact: bool = False) -> tuple[float, float]:
        """(how surely `best` answers the question, what it must reach). With meaning (the embedding model
        covers the question's language): the mean of the term share and the cosine, so a sentence that
        shares common words with a question about something else fails; without: the term share.
        A sentence whose terms alone reach the bar is not embedded (the value is then a lower bound)
        unless `exact`."""
        if self.meaning_weight <= 0 or not self._meaning_available(question):
            return best.lexical, self.lexical_threshold
        w = self.meaning_weight
        needed = self.cjk_threshold if detect_language(question) in CJK_LANGUAGES else self.threshold
        if not best.embedded and not exact and (1 - w) * best.lexical >= needed:
            return (1 - w) * best.lexical, needed  # the terms alone pass: only a negative cosine could fail it
        cosine = best.dense if best.embedded else self._cosines(question, [docs[best.doc].content[best.start:best.end]])[0]
        return (1 - w) * best.lexical + w * cosine, needed

    def select(self, question: str, docs: Sequence[SourceDocument]) -> list[_Sentence]:
        """The sentences of the answer, in reading order: [] when the best one is not sure enough."""
        ranked = self.score(question, docs)
        if not ranked:
            return []
        value, needed = self.confidence(question, docs, ranked[0])
        if value < needed:
            return []
        return self.pick(docs, ranked)

    def pick(self, docs: Sequence[SourceDocument], ranked: list[_Sentence]) -> list[_Sentence]:
        """The best sentence (of `score`'s ranking), with the companions and neighbours it brings, in reading order."""
        best = ranked[0]
        rows = {d: _split(doc.content) for d, doc in enumerate(docs)}
        picked: dict[tuple[int, int], _Sentence] = {}

        def points_back(d: int, i: int) -> bool:
            a, b, _ = rows[d][i]
            return needs_predecessor(docs[d].content[a:b])

        def add(d: int, i: int) -> None:
            if (d, i) not in picked and len(picked) < MAX_SENTENCES:
                a, b, terms = rows[d][i]
                picked[(d, i)] = _Sentence(d, i, a, b, terms)

        def take(s: _Sentence) -> None:
            picked[(s.doc, s.index)] = s
            if s.index > 0 and points_back(s.doc, s.index):
                add(s.doc, s.index - 1)
            if self.follow and s.index + 1 < len(rows[s.doc]) and points_back(s.doc, s.index + 1):
                add(s.doc, s.index + 1)

        take(best)
        for s in ranked[1:]:
            if len(picked) >= MAX_SENTENCES or s.score < self.companion_ratio * best.score:
                break
            if (s.doc, s.index) in picked or is_heading(docs[s.doc].content, s.start, s.end):
                continue
            if s.index > 0 and points_back(s.doc, s.index) and (s.doc, s.index - 1) not in picked \
                    and len(picked) + 2 > MAX_SENTENCES:
                continue  # it would need a predecessor there is no room for
            take(s)
        order = {best.doc: -1}
        return sorted(picked.values(), key=lambda s: (order.get(s.doc, s.doc), s.index))

    @staticmethod
    def compose(chosen: list[_Sentence], docs: Sequence[SourceDocument]) -> tuple[str, list[Citation]]:
        """The answer text (sentences joined) and one citation per sentence, offsets into the file's text."""
        parts: list[str] = []
        citations: list[Citation] = []
        pos = 0
        for s in chosen:
            doc = docs[s.doc]
            quote = doc.content[s.start:s.end]
            if parts:
                sep = _separator(parts[-1], quote)
                parts.append(sep)
                pos += len(sep)
            citations.append(Citation(pos, pos + len(quote), s.doc, quote, doc.char_start + s.start,
                                      doc.char_start + s.end, round(s.score, 4)))
            parts.append(quote)
            pos += len(quote)
        return "".join(parts), citations
