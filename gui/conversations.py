"""Conversation history per knowledge base, as JSON in the knowledge base folder.

Qt-free. `docent-chats.json` holds the conversations of that knowledge base
(so renaming or deleting the knowledge base takes them along). A turn keeps
what the chat needs to show the answer again and open every citation: the
answer text, citations with their quotes, source offsets and verdicts
(supported, partial with its missing words, contradicted with what the
source says), unsupported ranges, the answer mode and why, and the
documents' path/page/title (not their content: the viewer reads the source
from the knowledge base). A conversation keeps the answer mode the user
chose for it. Files written before verdicts existed load as all-supported.
"""
from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index.types import SourceRef

log = logging.getLogger("docent.gui")

FILE_NAME = "docent-chats.json"
VERSION = 1


@dataclass
class TurnDoc:
    title: str
    path: str
    page: int | None
    char_start: int
    char_end: int


@dataclass
class TurnCitation:
    answer_start: int
    answer_end: int
    doc_id: int
    quote: str
    span_start: int
    span_end: int
    verdict: str = "supported"                  # supported | partial | contradicted
    missing: list[tuple[int, int]] = field(default_factory=list)   # answer offsets the source lacks
    conflict: dict | None = None                # {"claim", "source", offsets}: what the source says instead

    @classmethod
    def from_json(cls, raw: dict) -> "TurnCitation":
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in raw.items() if k in known}
        data["missing"] = [tuple(m) for m in raw.get("missing") or []]
        return cls(**data)


ANSWER_MODES = ("auto", "generate", "quote")   # what a conversation asks for; an answer is generate | quote


@dataclass
class Turn:
    question: str
    answer: str = ""
    found: bool = True
    cancelled: bool = False
    error: str = ""
    relevant_doc_ids: list[int] = field(default_factory=list)
    n_offered: int = 0
    documents: list[TurnDoc] = field(default_factory=list)
    citations: list[TurnCitation] = field(default_factory=list)
    unsupported: list[tuple[int, int]] = field(default_factory=list)
    model: str = ""
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    time: float = field(default_factory=time.time)
    mode: str = ""              # how this answer was made: generate | quote ("" in old files)
    mode_reason: str = ""

    def counts(self) -> dict[str, int]:
        """Sentences per verdict: supported, partial, contradicted, unsupported."""
        out = {"supported": 0, "partial": 0, "contradicted": 0, "unsupported": len(self.unsupported)}
        for c in self.citations:
            out[c.verdict if c.verdict in out else "supported"] += 1
        return out

    @classmethod
    def from_answer(cls, answer) -> "Turn":
        """From an assistant.answer.Answer."""
        return cls(
            question=answer.question,
            answer=answer.answer,
            found=bool(answer.found),
            cancelled=bool(answer.cancelled),
            relevant_doc_ids=list(answer.relevant_doc_ids),
            n_offered=len(answer.documents),
            documents=[TurnDoc(d.title, d.path, d.page, d.char_start, d.char_end) for d in answer.documents],
            citations=[
                TurnCitation(c.answer_start, c.answer_end, c.doc_id, c.quote, c.span_start, c.span_end,
                             c.verdict, [tuple(m) for m in c.missing], dict(c.conflict) if c.conflict else None)
                for c in answer.citations
            ],
            unsupported=[(u.answer_start, u.answer_end) for u in answer.unsupported],
            model=str(answer.model.get("name") or os.path.basename(str(answer.model.get("path") or ""))),
            warnings=list(answer.warnings),
            seconds=float(answer.timings.get("total_s", 0.0) or 0.0),
            mode=answer.mode,
            mode_reason=answer.mode_reason,
        )

    def source(self, i: int) -> SourceRef | None:
        """Citation i as the place the viewer opens (None if this turn has no such citation)."""
        if not 0 <= i < len(self.citations):
            return None
        c = self.citations[i]
        if not 0 <= c.doc_id < len(self.documents):
            return None
        doc = self.documents[c.doc_id]
        return SourceRef(doc.path, doc.title, doc.page, c.span_start, c.span_end, c.quote)

    @classmethod
    def from_json(cls, raw: dict) -> "Turn":
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in raw.items() if k in known}
        data["documents"] = [TurnDoc(**d) for d in raw.get("documents", [])]
        data["citations"] = [TurnCitation.from_json(c) for c in raw.get("citations", [])]
        data["unsupported"] = [tuple(u) for u in raw.get("unsupported", [])]
        return cls(**data)

    def to_json(self) -> dict:
        out = asdict(self)
        out["unsupported"] = [list(u) for u in self.unsupported]
        for c in out["citations"]:
            c["missing"] = [list(m) for m in c["missing"]]
        return out


@dataclass
class Conversation:
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    title: str = ""
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    turns: list[Turn] = field(default_factory=list)
    answer_mode: str = "auto"   # auto | generate | quote: the user's choice for this conversation

    def history(self, max_turns: int = 4) -> list[tuple[str, str]]:
        """Earlier answered turns for the model (never the documents)."""
        done = [t for t in self.turns if t.answer and t.found and not t.cancelled and not t.error]
        return [(t.question, t.answer) for t in done[-max_turns:]]

    def to_json(self) -> dict:
        return {"id": self.id, "title": self.title, "created": self.created, "updated": self.updated,
                "answer_mode": self.answer_mode, "turns": [t.to_json() for t in self.turns]}

    @classmethod
    def from_json(cls, raw: dict) -> "Conversation":
        return cls(
            id=str(raw.get("id") or uuid.uuid4().hex[:12]),
            title=str(raw.get("title") or ""),
            created=float(raw.get("created") or time.time()),
            updated=float(raw.get("updated") or time.time()),
            turns=[Turn.from_json(t) for t in raw.get("turns", [])],
            answer_mode=raw.get("answer_mode") if raw.get("answer_mode") in ANSWER_MODES else "auto",
        )


class ConversationStore:
    def __init__(self, kb_root: Path | str):
        self.path = Path(kb_root) / FILE_NAME
        self.conversations: list[Conversation] = []
        self.load()

    def load(self) -> None:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            self.conversations = [Conversation.from_json(c) for c in raw.get("conversations", [])]
        except FileNotFoundError:
            self.conversations = []
        except (OSError, ValueError, TypeError, KeyError) as exc:
            from index.salvage import salvage_objects

            kept = []
            for raw in salvage_objects(self.path, "turns"):  # the conversations still whole
                try:
                    kept.append(Conversation.from_json(raw))
                except (ValueError, TypeError, KeyError, AttributeError):
                    continue
            log.warning("conversation history %s is damaged (%s); %d conversations kept", self.path, exc, len(kept))
            try:
                os.replace(self.path, self.path.with_suffix(".broken.json"))
            except OSError:
                pass
            self.conversations = kept
            if kept:
                self.save()

    def save(self) -> None:
        data = {"version": VERSION, "conversations": [c.to_json() for c in self.conversations if c.turns]}
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot save conversations to %s: %s", self.path, exc)

    def latest(self) -> Conversation | None:
        with_turns = [c for c in self.conversations if c.turns]
        return max(with_turns, key=lambda c: c.updated) if with_turns else None

    def new(self) -> Conversation:
        conv = Conversation()
        self.conversations.append(conv)
        return conv

    def get(self, conv_id: str) -> Conversation | None:
        return next((c for c in self.conversations if c.id == conv_id), None)

    def add_turn(self, conv: Conversation, turn: Turn) -> None:
        if conv not in self.conversations:
            self.conversations.append(conv)
        conv.turns.append(turn)
        conv.updated = time.time()
        if not conv.title:
            conv.title = " ".join(turn.question.split())[:80]
        self.save()

    def delete(self, conv: Conversation) -> None:
        if conv in self.conversations:
            self.conversations.remove(conv)
            self.save()
