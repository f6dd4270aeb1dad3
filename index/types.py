"""Plain data shared by the indexing engine, the assistant and the shells."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Extracted:
    """A file's extracted text; every offset in Docent indexes into `text`.

    For plain-text and Markdown files `text` is the decoded file content itself.
    `pages` gives, for paged formats (PDF), the 1-based page number and the
    [start, end) range of that page in `text`; it is empty otherwise.
    """

    text: str
    title: str
    format: str
    pages: tuple[tuple[int, int, int], ...] = ()
    encoding: str | None = None
    warnings: tuple[str, ...] = ()

    def page_at(self, offset: int) -> int | None:
        for number, start, end in self.pages:
            if start <= offset < end:
                return number
        return None


@dataclass(frozen=True)
class Passage:
    """A retrieval passage: a slice of one file's extracted text."""

    id: str
    path: str
    title: str
    page: int | None
    char_start: int
    char_end: int
    text: str
    ordinal: int = 0


@dataclass
class SearchHit:
    passage: Passage
    score: float
    rank: int = 0
    sources: dict[str, int] = field(default_factory=dict)


class Retrieved(list):
    """Search hits or documents, with why the search that found them was degraded
    (a shared knowledge base's server or the vector store down: keyword matches only)."""

    def __init__(self, items=(), warnings: list[str] | None = None):
        super().__init__(items)
        self.warnings: list[str] = list(warnings or [])


@dataclass(frozen=True)
class SourceDocument:
    """A hit expanded with its neighbours: what the model reads as one document."""

    title: str
    content: str
    path: str
    page: int | None
    char_start: int
    char_end: int
