"""Per-file status rows for the knowledge-base panel: indexed / failed (reason) / pending.

`collect_rows(kb)` runs in the background: the catalog's records, plus every
supported file under the knowledge base's folders that the catalog does not
have yet or that changed on disk since (pending: the next run will index it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from gui.i18n import tr, trn

STATUSES = ("indexed", "failed", "pending")


@dataclass(frozen=True)
class FileRow:
    path: str
    status: str          # indexed | failed | pending
    detail: str = ""     # failure reason, passage count...
    passages: int = 0

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def collect_rows(kb, limit_pending_scan: int = 200_000, pending: set[str] | None = None) -> list[FileRow]:
    """All rows. With `pending` given (during an indexing run), the folders are not walked again:
    files known to be pending stay so until the catalog has them."""
    from index.extract import is_supported

    rows: dict[str, FileRow] = {}
    stats: dict[str, tuple] = {}
    for r in kb.files():
        status = r.status if r.status in STATUSES else "pending"
        detail = r.error or ""
        rows[r.path] = FileRow(r.path, status, detail, r.n_passages or 0)
        stats[r.path] = (r.size, r.mtime_ns)
    if pending is not None:
        for path in pending:
            if path not in rows:
                rows[path] = FileRow(path, "pending", "")
        return sorted(rows.values(), key=lambda r: r.path.casefold())
    seen = 0
    for root in kb.catalog.roots():
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                seen += 1
                if seen > limit_pending_scan:
                    break
                if name.startswith(".") or not is_supported(name):
                    continue
                path = os.path.join(dirpath, name)
                known = stats.get(path)
                if known is None:
                    rows[path] = FileRow(path, "pending", "")
                    continue
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                if (st.st_size, st.st_mtime_ns) != known:
                    rows[path] = FileRow(path, "pending", rows[path].detail)
    return sorted(rows.values(), key=lambda r: r.path.casefold())


def status_label(status: str) -> str:
    return {"indexed": tr("indexed"), "failed": tr("failed"), "pending": tr("pending")}.get(status, status)


class FileTableModel(QAbstractTableModel):
    # A model over the row list, not a QStandardItemModel: no Qt item (and no Qt call) per cell, so
    # tens of thousands of files are replaced in one step.
    COLUMNS = ("File", "Status", "Details")
    _ROLES = (Qt.DisplayRole, Qt.ToolTipRole, Qt.ForegroundRole, Qt.UserRole)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[FileRow] = []

    def retranslate(self) -> None:
        """Language or theme changed: headers, status words and colours are read again."""
        self.headerDataChanged.emit(Qt.Horizontal, 0, len(self.COLUMNS) - 1)
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, len(self.COLUMNS) - 1))

    def set_rows(self, rows: list[FileRow]) -> None:
        """Replace the rows; when the same files are listed, only the changed rows are repainted.

        (During indexing the list is refreshed every few seconds: a reset would make the view ask for
        every visible cell again, each a call into Python competing for the GIL with the indexer.)
        """
        old = self.rows
        if len(old) == len(rows) and all(a.path == b.path for a, b in zip(old, rows)):
            self.rows = rows
            changed = [i for i, (a, b) in enumerate(zip(old, rows)) if a != b]
            if changed:
                self.dataChanged.emit(self.index(changed[0], 0), self.index(changed[-1], len(self.COLUMNS) - 1))
            return
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUSES, 0)
        for r in self.rows:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):  # noqa: N802
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return tr(self.COLUMNS[section])
        return None

    def data(self, index: QModelIndex, role=Qt.DisplayRole):
        if role not in self._ROLES or not index.isValid():
            return None
        row = self.rows[index.row()]
        col = index.column()
        if role == Qt.DisplayRole:
            if col == 0:
                return row.name
            if col == 1:
                return status_label(row.status)
            if row.status == "indexed":
                return trn("{n} passage", "{n} passages", row.passages)
            return row.detail
        if role == Qt.ToolTipRole:
            return row.path + (f"\n{row.detail}" if row.detail else "")
        if role == Qt.ForegroundRole:
            if col != 1:
                return None
            from gui.theme import colors

            c = colors()
            return QColor({"failed": c.failed, "pending": c.pending}.get(row.status, c.ok))
        return row  # Qt.UserRole


class FileFilterProxy(QSortFilterProxyModel):
    """Text filter (name, folder, reason; case-insensitive) and a status filter."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._text = ""
        self._status = ""

    def set_text(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_text", text.strip().casefold()))

    def set_status(self, status: str) -> None:
        self._refilter(lambda: setattr(self, "_status", status))

    def _refilter(self, change) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt 6.9+
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent) -> bool:  # noqa: N802
        row: FileRow = self.sourceModel().rows[source_row]
        if self._status and row.status != self._status:
            return False
        if self._text:
            return self._text in row.path.casefold() or self._text in row.detail.casefold()
        return True
