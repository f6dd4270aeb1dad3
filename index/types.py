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


@dataclass(frozen=True)
class SourceRef:
    """A place in a source to show: what a citation, a search hit or a file opens in a viewer.

    Made once where it is found and passed unchanged to the viewer. Offsets
    index into the file's extracted text; `quote` is the text expected at
    [char_start, char_end), so a viewer can find the span again if the file
    changed. `highlights` are further [start, end) ranges to mark (optional).
    """

    path: str
    title: str = ""
    page: int | None = None
    char_start: int = 0
    char_end: int = 0
    quote: str = ""
    highlights: tuple[tuple[int, int], ...] = ()

    @classmethod
    def of_passage(cls, passage: Passage) -> "SourceRef":
        return cls(passage.path, passage.title, passage.page, passage.char_start, passage.char_end, passage.text)
