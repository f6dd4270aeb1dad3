"""Guards for a generated answer, whatever the model: it stops where the answer stops being one.

Small and base models run away: they start a new question or turn, loop over a
sentence, echo the step-1 JSON or the protocol's tokens, write escape sequences
as text. `AnswerGuard` watches the answer as it streams and

- stops it at a new turn (a protocol token, a "Question:"/"User:" line, the
  question asked again), at JSON (step-1 `relevant_doc_ids`, the documents), at
  a repeated sentence or a repeated run of words, and past a length cap relative
  to the question;
- turns literal line-break escapes (a backslash then n) into line breaks;
- shows nothing that it may withdraw later: it holds back a small tail, and the
  current sentence while it could still become a repeat or the question's echo.

Both pipelines feed it the model's pieces (`push`) and pass `halt` as their
cancel flag, so a guarded stop ends generation at once. The final text is the
streamed text plus what was held back: what the user saw is never taken back.
"""
from __future__ import annotations

import re
import threading
from typing import Callable

from index import analysis
from index.sentences import split_sentences

CHECK_EVERY = 16         # characters of new output between two checks (a protocol token is checked at once)
HOLD_CHARS = 32          # after a character that may open a protocol token or a turn: how far it may reach
NGRAM = 10               # a run of this many words (CJK: characters) seen before is a loop
MIN_CAP_CHARS = 400      # the length cap never goes below this
DEFAULT_CAP_FACTOR = 8.0  # answer chars <= factor x question chars (at least MIN_CAP_CHARS); 0 = no cap

# Where a new turn or the protocol shows through: stop before it.
_PROTOCOL = re.compile(
    r"<\|[A-Za-z0-9_]+\|>|</?s>|<(?:start|end)_of_turn>|<(?:eos|bos|pad)>|\[/?INST\]|<</?SYS>>"
    r"|relevant_doc_ids|\{\s*\"|\[\s*\{|\"doc_id\"",
)
_PROTOCOL_START = re.compile(r"[<>{}|\[\]\\\n]")  # a piece that may open or close protocol text
_TURN = re.compile(
    r"(?:^|\n)[ \t#*>-]*(?:Q|Question|User|Human|Assistant|Вопрос|Пользователь|Ассистент|質問|ユーザー)"
    r"\s*\d*\s*[:：]",
    re.IGNORECASE,
)
_ROLE_LINE = re.compile(r"\n[ \t]*(?:user|model|assistant|system|documents)[ \t]*\n")
_LEAD = re.compile(r"^(?:\s|[,;:.)\]}]|</\w+>)*(?:(?:A|Answer|Ответ|回答|答え)\s*[:：]\s*)?", re.IGNORECASE)
_OPENING_JSON = re.compile(r"(?:[\s,;]*\{[^{}]*\})+")   # the model restating step 1 (or a document) first
_OPEN_JSON = re.compile(r"[\s,;]*\{[^{}]{0,400}$")        # ... still being written
_RISKY = re.compile(r"[<{\[\\\n]")                    # may open a protocol token, JSON, an escape, a turn
_LAST_WORD = re.compile(r"\w*$")
_LABELS = ("a", "answer", "ответ", "回答", "答え", "q", "question", "user", "human", "assistant", "вопрос",
           "пользователь", "ассистент", "質問", "ユーザー")
_LABEL_START = re.compile(  # the opening, while it may still become "Answer:" (dropped) or "Question:" (a stop)
    r"\s*(?:" + "|".join(re.escape(w[:i]) for w in _LABELS for i in range(1, len(w) + 1)) + r")?\s*\d*\s*",
    re.IGNORECASE)
_ESCAPE = re.compile(r"(?:\\+r)?\\+n")
_WORD = re.compile(r"\w+")


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _terms(sentence: str) -> tuple[tuple[str, int], ...]:
    """The analyser's terms with their start offsets (CJK: character bigrams)."""
    return tuple((t.term, t.start) for t in analysis.tokens(sentence))


def length_cap(question: str, factor: float = DEFAULT_CAP_FACTOR) -> int | None:
    """Most characters an answer to this question may have (None: no cap)."""
    if factor <= 0:
        return None
    return max(MIN_CAP_CHARS, int(factor * len(question.strip())))


class _Halt:
    """The cancel flag a pipeline hands to generation: the user's Stop or the guard's."""

    def __init__(self, user: threading.Event | None, guard: "AnswerGuard"):
        self.user, self.guard = user, guard

    def is_set(self) -> bool:
        return self.guard.stopped or (self.user is not None and self.user.is_set())


class AnswerGuard:
    """Cleans and bounds one answer as it streams; `text` is the answer to keep."""

    def __init__(self, question: str, on_text: Callable[[str], None] | None = None,
                 cap_factor: float = DEFAULT_CAP_FACTOR, cancel: threading.Event | None = None):
        self.question = _norm(question)
        self.on_text = on_text
        self.cap = length_cap(question, cap_factor)
        self.raw = ""
        self.shown = 0            # characters of the clean text already passed to on_text
        self.reason = ""          # why the guard stopped the answer ("" = it did not)
        self.halt = _Halt(cancel, self)
        self._clean = ""
        self._checked = 0         # len(raw) at the last check
        self._terms: dict[str, tuple] = {}  # finished sentences' terms (they do not change)

    @property
    def stopped(self) -> bool:
        return bool(self.reason)

    def push(self, piece: str) -> None:
        """One more piece of model output (generation thread)."""
        if self.stopped or not piece:
            return
        self.raw += piece
        # Until the answer shows, every piece is judged (the first words show without delay).
        if not self.shown or len(self.raw) - self._checked >= CHECK_EVERY or _PROTOCOL_START.search(piece):
            self._check()

    def finish(self) -> str:
        """The generation ended: judge the rest, show it; returns the answer's text."""
        if not self.stopped and self._checked != len(self.raw):
            self._check(final=True)
        self._emit(len(self.text))
        return self.text

    @property
    def text(self) -> str:
        """The answer to keep: it starts with everything shown ("" when not a word was written)."""
        text = self._clean.rstrip()
        return text if self.shown or _WORD.search(text) else ""

    # -- the rules -------------------------------------------------------------
    def _check(self, final: bool = False) -> None:
        self._checked = len(self.raw)
        text = _ESCAPE.sub("\n", self.raw)
        opening = _OPENING_JSON.match(text)
        text = text[opening.end():] if opening else text
        if not self.shown and not final and _OPEN_JSON.match(text):
            return  # wait: it may be step 1 restated, dropped above once complete
        lead = _LEAD.match(text)
        text = text[lead.end():] if lead else text
        spans = split_sentences(text)
        done = spans if final or _ends_sentence(text) else spans[:-1]   # finished sentences
        keys = [_norm(text[a:b]) for a, b in spans]
        toks = self._tokens(text, spans, len(done))
        cuts: list[tuple[int, str]] = []
        for rx, why in ((_PROTOCOL, "protocol text"), (_TURN, "a new turn"), (_ROLE_LINE, "a new turn")):
            m = rx.search(text)
            if m:
                cuts.append((m.start(), why))
        seen: set[str] = set()
        for n, (a, _b) in enumerate(done):
            if keys[n] and keys[n] in seen:
                cuts.append((a, "a repeated sentence"))
                break
            if n and len(self.question) >= 12 and keys[n] == self.question:
                cuts.append((a, "the question again"))  # not the first sentence: an answer may restate it
                break
            seen.add(keys[n])
        grams: set[tuple[str, ...]] = set()
        for i in range(len(toks) - NGRAM + 1):
            g = tuple(w for w, _ in toks[i:i + NGRAM])
            if g in grams:
                at = toks[i][1]
                start = next((a for a, b in spans if at < b), at)  # whole sentences, unless shown already
                cuts.append((start if start >= self.shown else at, "a repeated passage"))
                break
            grams.add(g)
        if self.cap is not None and len(text) > self.cap:
            ends = [b for _, b in spans[:-1] if b <= self.cap]
            cuts.append((ends[-1] if ends else max(text.rfind(" ", 0, self.cap), 0) or self.cap, "the length cap"))
        if cuts:
            at, self.reason = min(cuts)
            if at < self.shown:  # never take back what was shown; end at a word's end, not inside it
                at = self.shown
                while at < len(text) and text[at].isalnum() and text[at - 1].isalnum():
                    at += 1
            self._clean = text[:at]
            self._emit(len(self.text))
            return
        self._clean = text
        self._emit(self._safe_end(text, spans, keys, toks))

    def _tokens(self, text: str, spans: list[tuple[int, int]], n_done: int) -> list[tuple[str, int]]:
        """Terms of the whole text with offsets; a finished sentence is analysed once."""
        out: list[tuple[str, int]] = []
        for n, (a, b) in enumerate(spans):
            sentence = text[a:b]
            terms = self._terms.get(sentence) if n < n_done else None
            if terms is None:
                terms = _terms(sentence)
                if n < n_done:
                    self._terms[sentence] = terms
            out += [(w, a + i) for w, i in terms]
        return out

    def _safe_end(self, text: str, spans, keys, toks) -> int:
        """How much of the clean text may be shown now: all but what could still be cut. That is
        a word still being written, the tail from a character that may open a protocol token, JSON,
        an escape or a new turn, the sentence being written while it could become a repeat or the
        question's echo, a run that repeats an earlier one, and the opening while it may be a label."""
        if not self.shown and _LABEL_START.fullmatch(text):
            return 0
        end = len(text)
        if text and not text[-1].isspace():
            end = _LAST_WORD.search(text).start()
        risky = _RISKY.search(text, max(0, len(text) - HOLD_CHARS))
        if risky:
            end = min(end, risky.start())
        if spans:
            current = keys[-1]
            earlier = keys[:-1] + [self.question]
            if current and any(e.startswith(current) for e in earlier if e):
                end = min(end, spans[-1][0])
        end = min(end, _loop_start(text, toks))
        return max(len(text[:max(end, 0)].rstrip()), self.shown)  # trailing blanks wait: the answer may end there

    def _emit(self, end: int) -> None:
        if end > self.shown:
            piece = self._clean[self.shown:end]
            self.shown = end
            if self.on_text is not None:
                self.on_text(piece)


def _loop_start(text: str, toks: list[tuple[str, int]], least: int = 2) -> int:
    """Start of the longest tail (>= `least` words) that repeats an earlier run: it may be a loop.
    A word still being written is left out of the comparison (and held with the tail)."""
    if toks and not text[-1:].isspace() and text[-1:] not in ".,;:!?。、！？":
        toks = toks[:-1]
    words = [w for w, _ in toks]
    n = len(words)
    best = n
    for size in range(least, n // 2 + 1):
        tail = words[n - size:]
        if any(words[i:i + size] == tail for i in range(n - size)):
            best = n - size
        else:
            break
    return toks[best][1] if best < n else len(text)


def _ends_sentence(text: str) -> bool:
    t = text.rstrip()
    return bool(t) and (t[-1] in ".!?…。！？\n" or text.endswith("\n"))
