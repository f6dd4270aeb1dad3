"""A verdict for one claim against one source span: supported, partial, contradicted, unsupported.

The aligner (assistant/citations.py) picks the spans worth judging; this
module says what a span does for the claim. The rules, model-free:

- what makes a claim checkable (index/facts.py: numbers, months, names) must
  be found in the span or its passage. When it is not, and the span states
  another fact of the same kind in the same place (shared neighbouring
  words), the claim is *contradicted*: {"claim": "1895", "source": "1891"};
- a negation in one and not the other, on the same term, is a contradiction;
- content words found in neither the span nor its passage are *missing*: a
  few general words may be (a paraphrase, the words of a question), specific
  ones may not (weighed by IDF over the candidate spans);
- a span holding too little of the claim is no support at all: *unsupported*.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from index import analysis, facts as factlib
from index.facts import Fact

SUPPORTED, PARTIAL, CONTRADICTED, UNSUPPORTED = "supported", "partial", "contradicted", "unsupported"
VERDICTS = (SUPPORTED, PARTIAL, CONTRADICTED, UNSUPPORTED)
RANK = {SUPPORTED: 0, CONTRADICTED: 1, PARTIAL: 2, UNSUPPORTED: 3}


@dataclass(frozen=True)
class Rules:
    """Thresholds of the verdict rules (shares of the claim's term weight)."""

    min_recall: float = 0.3          # below: the span does not speak about the claim at all
    min_matched: int = 2
    support_recall: float = 0.5      # the span itself must hold this much of the claim
    missing_share: float = 0.5       # claim weight found in neither span nor passage, at most
    specific_idf: float = 0.0        # a missing term rarer than this (idf / max idf) is never tolerated
    conflict_recall: float = 0.4     # a contradiction needs a span about the same thing


_INTERROGATIVES = frozenset(
    "what which who whom whose when where why how "
    "что чего чему чем какой какая какое какие каких какую каком какому каким какого какой "
    "кто кого кому кем где когда куда откуда почему зачем сколько как насколько каков какова каково".split()
)
_JA_INTERROGATIVE = re.compile(r"何|誰|だれ|どこ|いつ|どの|どれ|どう|なぜ|いくつ|いくら|どんな|どちら|なん")


def question_lead(text: str) -> int:
    """Where the answer starts in "question: answer" (0 when the sentence is no such pair).

    The question's own words ("In what year", "how many") assert nothing and
    are often worded apart from the source; the answer after it is the claim.
    """
    cut = max(text.rfind(":"), text.rfind("："))
    if cut > 0:
        lead = analysis.tokens(text[:cut])
        if any(t.kind == "word" and t.word in _INTERROGATIVES for t in lead):
            return cut + 1
    m = _JA_INTERROGATIVE.search(text)
    if m:
        cut = text.rfind("、")
        if cut > m.end():
            return cut + 1
    cut = text.rfind("は、")  # ja "X は、Y。" with a short Y: the topic asks, the comment answers
    if cut > 0 and len(text) - cut - 2 <= 20 and not any(c in "、，" for c in text[cut + 2:]):
        return cut + 2
    return 0


def comparable_terms(tokens: list[analysis.Token], text: str) -> frozenset:
    """Content terms with numbers by value: "9 288", "9,288" and "9288" all become "#9288"."""
    return frozenset(t.term for t in tokens if t.kind != "number") | factlib.number_keys(text)


@dataclass
class Claim:
    """A sentence prepared once: its content tokens, weights and facts."""

    text: str
    tokens: list[analysis.Token]
    terms: frozenset
    facts: factlib.Facts
    language: str
    lead_end: int = 0   # "question: answer": the question's words end here (see question_lead)

    @classmethod
    def of(cls, text: str, language: str | None = None) -> "Claim":
        language = language or analysis.detect_language(text)
        toks = list(factlib.content_tokens(text))
        return cls(text, toks, comparable_terms(toks, text), factlib.facts(text, language), language,
                   question_lead(text))


@dataclass
class Judgement:
    verdict: str
    recall: float
    missing: list[tuple[int, int]] = field(default_factory=list)   # offsets in the claim
    conflict: dict | None = None       # {"claim", "source", "claim_start", "claim_end", "source_start", "source_end"}
    absent: float = 0.0                # share of the claim's weight in neither span nor passage


def is_weak(term: str) -> bool:
    """Hiragana-only bigrams and single kana are mostly grammar, not content."""
    return all(0x3040 <= ord(c) <= 0x309F or c in "ー" for c in term)


def _runs(spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Merge token spans separated only by spaces/punctuation into runs."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and (a <= out[-1][1] or not text[out[-1][1]:a].strip(" ,-–—'\"")):
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _context(tokens: list[analysis.Token], start: int, end: int, width: int = 3) -> set[str]:
    before = [t.term for t in tokens if t.end <= start][-width:]
    after = [t.term for t in tokens if t.start >= end][:width]
    return set(before) | set(after)


def _surface_run(text: str, found: list[Fact], fact: Fact) -> tuple[int, int]:
    """A name or number with its neighbours of the same kind ("Denver Broncos", "31 May 1891")."""
    a, b = fact.start, fact.end
    for f in sorted(found, key=lambda f: f.start):
        if f.start >= b and not text[b:f.start].strip(" ,"):
            b = f.end
    for f in sorted(found, key=lambda f: -f.start):
        if f.end <= a and not text[f.end:a].strip(" "):
            a = f.start
    return a, b


def _fact_found(fact: Fact, span: list[Fact], passage: list[Fact], terms: frozenset, text: str) -> bool:
    """A name anywhere in span or passage; a number in the span, or in the passage with the same unit."""
    if fact.kind == "name":
        value = next(iter(fact.values))
        return value in terms or value in text
    if any(fact.agrees(g) for g in span):
        return True
    return any(fact.agrees(g) and g.unit == fact.unit for g in passage)


def _conflict(claim: Claim, fact: Fact, span_text: str, span_tokens, span_facts: list[Fact]) -> Fact | None:
    """The span's fact that stands where the claim's missing fact stands, if any."""
    claim_values = [f for f in claim.facts.all() if f.kind == fact.kind]
    rivals = [
        g for g in span_facts
        if g.kind == fact.kind and not any(g.agrees(f) or f.agrees(g) for f in claim_values)
        and not (fact.kind == "name" and next(iter(g.values)) in claim.terms)
    ]
    if fact.kind == "number":
        same = [g for g in rivals if g.year == fact.year and not (fact.unit and g.unit and fact.unit != g.unit)]
        rivals = same
    if not rivals:
        return None
    near = _context(claim.tokens, fact.start, fact.end)
    best, best_overlap = None, 0
    for g in rivals:
        overlap = len(near & _context(span_tokens, g.start, g.end))
        if overlap > best_overlap:
            best, best_overlap = g, overlap
    if fact.kind == "name" and best_overlap < 2:
        return None
    if best is None and fact.kind != "name" and len(rivals) == 1:
        best = rivals[0]  # the one number of its kind in the span
    return best


def _governed(negs: list[factlib.Negation], term: str) -> bool:
    return any(n.term == term for n in negs)


def _polarity_conflict(claim: Claim, span_text: str, span_terms: frozenset, span_tokens) -> dict | None:
    span_negs = factlib.negations(span_text, claim.language)
    claim_negs = claim.facts.negations
    for n in claim_negs:
        if n.term and n.term in span_terms and not _governed(span_negs, n.term):
            tok = next((t for t in span_tokens if t.term == n.term), None)
            end = next((t.end for t in claim.tokens if t.term == n.term and t.start >= n.start), n.end)
            if tok is not None:
                return {"claim": claim.text[n.start:end], "claim_start": n.start, "claim_end": end,
                        "source": span_text[tok.start:tok.end], "source_start": tok.start, "source_end": tok.end}
    for n in span_negs:
        if not n.term or n.term not in claim.terms or _governed(claim_negs, n.term):
            continue
        # the span also states the term plainly ("crosses eight zones ... does not cross Mongolia"): no flip
        plain = sum(1 for t in span_tokens if t.term == n.term) > sum(1 for m in span_negs if m.term == n.term)
        if not plain:
            tok = next(t for t in claim.tokens if t.term == n.term)
            src = next((t for t in span_tokens if t.term == n.term), None)
            a, b = (min(n.start, src.start), max(n.end, src.end)) if src is not None else (n.start, n.end)
            return {"claim": claim.text[tok.start:tok.end], "claim_start": tok.start, "claim_end": tok.end,
                    "source": span_text[a:b], "source_start": a, "source_end": b}
    return None


_SENTENCE_END = set(".!?…。！？\n")


def _lcs(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Index pairs of a longest common subsequence of two term lists."""
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        row, nxt = table[i], table[i + 1]
        ai = a[i]
        for j in range(m - 1, -1, -1):
            row[j] = nxt[j + 1] + 1 if ai == b[j] else max(nxt[j], row[j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i += 1
            j += 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def replacements(claim: Claim, span_text: str, span_tokens, absent_terms: set[str], max_gap: int = 8,
                 coverage: float = 0.8):
    """Slots where the claim says something the source does not, and the source says something else there.

    The claim's and the span's content tokens are aligned in order; a run of
    claim tokens holding an absent term, between aligned tokens (or at the
    claim's edge), facing a short run of other source tokens in the same
    sentence, is a replaced slot. Yields (claim_start, claim_end, source_tokens).
    """
    c_toks = [t for t in claim.tokens if not is_weak(t.term)]
    s_toks = [t for t in span_tokens if not is_weak(t.term)]
    pairs = _lcs([t.term for t in c_toks], [t.term for t in s_toks])
    if not pairs:
        return
    anchors = [(-1, None)] + pairs + [(len(c_toks), None)]
    for (i0, j0), (i1, j1) in zip(anchors, anchors[1:]):
        gap = c_toks[i0 + 1:i1]
        if not gap or len(gap) > max_gap or not any(t.term in absent_terms for t in gap):
            continue
        # the rest of the claim must follow the source in order: a sentence with one slot changed
        if len(pairs) < coverage * (len(c_toks) - len(gap)):
            continue
        if j0 is None and j1 is None:
            continue
        if j0 is not None and j1 is not None:
            src = s_toks[j0 + 1:j1]
        elif j0 is None:  # the claim opens with the gap: the source's words before the anchor, same sentence
            src = []
            for t in reversed(s_toks[:j1]):
                if _SENTENCE_END & set(span_text[t.end:(src[0].start if src else s_toks[j1].start)]):
                    break
                src.insert(0, t)
        else:  # the claim ends with the gap: the source's words after the anchor, same sentence
            src = []
            prev = s_toks[j0]
            for t in s_toks[j0 + 1:]:
                if _SENTENCE_END & set(span_text[prev.end:t.start]):
                    break
                src.append(t)
                prev = t
        src = [t for t in src if t.term not in claim.terms]
        claim_chars = gap[-1].end - gap[0].start
        if src and src[-1].end - src[0].start <= min(3 * claim_chars + 12, 80):
            yield gap[0].start, gap[-1].end, src


def judge(
    claim: Claim,
    weights: dict[str, float],
    span_text: str,
    span_terms: frozenset,
    passage_text: str,
    passage_terms: frozenset,
    rules: Rules = Rules(),
    max_idf: float = 1.0,
) -> Judgement:
    """The verdict of one span (inside its passage) on one claim; conflict offsets are in span_text."""
    total = sum(weights[t] for t in claim.terms) or 1.0
    found = claim.terms & span_terms
    recall = sum(weights[t] for t in found) / total
    if recall < rules.min_recall or len(found) < min(rules.min_matched, len(claim.terms)):
        return Judgement(UNSUPPORTED, recall)
    span_tokens = factlib.content_tokens(span_text)
    span_facts = factlib.facts(span_text, claim.language)
    passage_facts = factlib.facts(passage_text, claim.language) if passage_text != span_text else span_facts
    both_terms = span_terms | passage_terms
    norm_span, norm_passage = analysis.normalize(span_text), analysis.normalize(passage_text)

    # 1. polarity
    flip = _polarity_conflict(claim, span_text, span_terms, span_tokens)
    # 2. checkable facts
    missing: list[tuple[int, int]] = []
    conflict = None
    found_facts: list[Fact] = []
    for fact in claim.facts.all():
        names_text = norm_span + "\n" + norm_passage
        if _fact_found(fact, span_facts.all(), passage_facts.all(), both_terms, names_text):
            found_facts.append(fact)
            continue
        rival = _conflict(claim, fact, span_text, span_tokens, span_facts.all())
        if fact.spelled and rival is None:
            continue  # "one", "первая": often no number at all; checked only against a rival number
        if rival is not None and conflict is None:
            ca, cb = _surface_run(claim.text, [f for f in claim.facts.all() if f.kind == fact.kind], fact)
            sa, sb = _surface_run(span_text, [f for f in span_facts.all() if f.kind == rival.kind], rival)
            conflict = {"claim": claim.text[ca:cb], "claim_start": ca, "claim_end": cb,
                        "source": span_text[sa:sb], "source_start": sa, "source_end": sb}
        missing.append((fact.start, fact.end))
    conflict = conflict or flip
    if conflict is not None and recall >= rules.conflict_recall:
        return Judgement(CONTRADICTED, recall, _runs(missing, claim.text), conflict)
    # 3. content words in neither the span nor its passage
    def stated(t) -> bool:  # "9288" is in "9,288"; the words of a question lead are not claims
        return any(f.start <= t.start < f.stop for f in found_facts) or \
            (t.end <= claim.lead_end and not _is_fact_span(claim, t.start, t.end))

    absent = [t for t in claim.tokens if t.term not in both_terms and not stated(t)]
    replaced = False
    # a slot is replaced when its words are not in the span (they may be elsewhere in the passage)
    unspanned = {t.term for t in claim.tokens if t.term not in span_terms and t.end > claim.lead_end}
    unspanned -= {t.term for t in claim.tokens if any(f.start <= t.start < f.stop for f in found_facts)}
    for a, b, src in replacements(claim, span_text, span_tokens, unspanned) if unspanned else ():
        sa, sb = src[0].start, src[-1].end
        rival = next((f for f in span_facts.all() if sa <= f.start < sb and f.kind != "name"
                      and not any(f.agrees(c) for c in found_facts)), None)
        # the slot holds another number or date: the claim put something else in its place
        if rival is not None and 2 * (rival.end - rival.start) >= sb - sa - 2 and recall >= rules.conflict_recall:
            return Judgement(CONTRADICTED, recall, _runs(missing + [(a, b)], claim.text), {
                "claim": claim.text[a:b], "claim_start": a, "claim_end": b,
                "source": span_text[sa:sb], "source_start": sa, "source_end": sb})
        missing.append((a, b))
        replaced = True
    absent_weight = sum(weights.get(t, max_idf) for t in {t.term for t in absent})
    specific = any(weights.get(t.term, max_idf) >= rules.specific_idf * max_idf and not is_weak(t.term) for t in absent) \
        if rules.specific_idf > 0 else False
    missing += [(t.start, t.end) for t in absent if not is_weak(t.term)]
    missing = _runs(missing, claim.text)
    share = absent_weight / total
    # with a question lead, the question's words lower the span's share: the answer itself was checked above
    need = rules.min_recall if claim.lead_end else rules.support_recall
    if not missing and recall >= need:
        return Judgement(SUPPORTED, recall, absent=share)
    tolerated = share <= rules.missing_share and not specific and not replaced and not claim.lead_end
    if recall >= need and tolerated \
            and not any(_is_fact_span(claim, a, b) for a, b in missing):
        return Judgement(SUPPORTED, recall, absent=share)  # a few general words of a paraphrase: tolerated
    return Judgement(PARTIAL, recall, missing, absent=share)


def _is_fact_span(claim: Claim, a: int, b: int) -> bool:
    return any(f.start < b and a < f.end for f in claim.facts.all())
