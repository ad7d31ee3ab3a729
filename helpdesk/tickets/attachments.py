"""Attachments: files sent with a ticket (the web form, the API), checked, stored on disk, described in a row.

A file is accepted only when its extension is on the allow-list (``HELPDESK_ATTACHMENT_TYPES``) *and* its
bytes are what that extension says: a PNG must start with the PNG signature, a notebook must be JSON with
``cells``, a text file must be UTF-8 without NUL bytes. The name given is kept for display only (cleaned of
paths and control characters); the file is stored under a random name (a UUID, no extension) in
``HELPDESK_ATTACHMENT_DIR``, so nothing the sender chose reaches the file system.

Nothing here is ever run or rendered as a page: files are served back with ``Content-Disposition:
attachment`` (raster images inline), ``X-Content-Type-Options: nosniff`` and a ``sandbox`` policy (see the
route in :mod:`helpdesk.tickets.routes`). No SVG, HTML or PDF is accepted at all.

Writes: :class:`AttachmentStore` writes each file to a temporary name in the same directory and renames it
into place (an atomic rename), inside the transaction that inserts the rows (see
:meth:`helpdesk.tickets.services.TicketService.file` and :meth:`~helpdesk.tickets.services.TicketService.attach`).
When the transaction fails, the files it wrote are removed; a file left by a crash between the rename and the
commit has no row, and :meth:`AttachmentStore.sweep_orphans` removes it later.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from helpdesk.db import Base, utcnow
from helpdesk.exceptions import HelpdeskError, InvalidInputError

if TYPE_CHECKING:
    from helpdesk.config import Settings

MIB = 1024 * 1024
#: The default largest file (``HELPDESK_ATTACHMENT_MAX_BYTES``).
DEFAULT_MAX_BYTES = 10 * MIB
#: The most files one request may carry.
MAX_FILES = 5
FILENAME_MAX = 200

#: Extension -> the content type it is served as. What the bytes must look like is in :func:`sniff`.
TYPES: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "txt": "text/plain",
    "log": "text/plain",
    "py": "text/x-python",
    "csv": "text/csv",
    "json": "application/json",
    "ipynb": "application/x-ipynb+json",
    "fits": "application/fits",
}
#: The allow-list shipped: every type above.
DEFAULT_TYPES = tuple(TYPES)
#: Raster images a browser may show inline (never SVG: it can carry script).
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f\"\\/<>:|?*]+")


class AttachmentTooLargeError(HelpdeskError):
    status_code = 413
    code = "attachment_too_large"


class AttachmentTypeError(HelpdeskError):
    status_code = 415
    code = "attachment_type"


class Attachment(Base):
    """A file sent with a ticket (``message_id`` null: with the question) or with one of its messages."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_ticket_id_id", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("message.id", ondelete="CASCADE"), index=True)
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    #: The name the sender gave, cleaned for display (no directories, no control characters).
    filename: Mapped[str] = mapped_column(String(FILENAME_MAX))
    #: The file's name in the attachment directory: a random hex UUID, never derived from the sender's input.
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def inline(self) -> bool:
        """Shown in the page (a raster image) rather than only offered for download."""
        return self.content_type in INLINE_TYPES


@dataclass(frozen=True)
class Upload:
    """One file as received: the name its sender gave and its bytes."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Checked:
    """An upload that passed the checks, ready to store."""

    filename: str
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def display_name(given: str) -> str:
    """The sender's file name fit to show: the last path part, no control or reserved characters, bounded."""
    name = unicodedata.normalize("NFC", given or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip(" .")
    if len(name) > FILENAME_MAX:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[:FILENAME_MAX - len(ext) - 2]}.{ext}" if dot and len(ext) < 16 else name[:FILENAME_MAX]
    return name or "file"


def extension(filename: str) -> str:
    return filename.rpartition(".")[2].lower() if "." in filename else ""


def _is_text(data: bytes) -> bool:
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def sniff(data: bytes) -> str | None:
    """The content type the bytes themselves show, or None when they look like nothing we accept.

    Images by their signatures; FITS by its first header card; JSON and notebooks by parsing; anything else
    that is UTF-8 without NUL bytes is text. (Text that starts like an HTML page is still only text: it is
    never served as a page.)
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"SIMPLE  =") and len(data) % 2880 == 0:
        return "application/fits"
    if not _is_text(data):
        return None
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except ValueError:
        return "text/plain"
    if isinstance(parsed, dict) and isinstance(parsed.get("cells"), list) and "nbformat" in parsed:
        return "application/x-ipynb+json"
    return "application/json"


def _agrees(extension_type: str, sniffed: str) -> bool:
    """Whether the bytes fit the extension: text types accept any text (a .csv or .py is text, so is JSON)."""
    if extension_type == sniffed:
        return True
    if extension_type.startswith("text/"):
        return sniffed in ("text/plain", "application/json", "application/x-ipynb+json")
    if extension_type == "application/json":
        return sniffed == "application/x-ipynb+json"
    return False


@dataclass(frozen=True)
class AttachmentPolicy:
    """What may be attached, and where files are kept (HELPDESK_ATTACHMENT_*)."""

    directory: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    types: frozenset[str] = frozenset(DEFAULT_TYPES)
    max_files: int = MAX_FILES

    @classmethod
    def from_settings(cls, settings: Settings) -> AttachmentPolicy:
        return cls(directory=settings.resolved_attachment_dir, max_bytes=settings.attachment_max_bytes,
                   types=frozenset(settings.attachment_types))

    def describe(self) -> str:
        """For forms and errors: the types and the size."""
        return f"{', '.join(sorted(self.types))}; up to {self.max_bytes / MIB:g} MiB each"

    def check(self, uploads: Sequence[Upload]) -> list[Checked]:
        """Every upload checked, or an error about the first bad one (nothing is stored either way).

        Raises
        ------
        AttachmentTooLargeError
            A file over ``max_bytes`` (413).
        AttachmentTypeError
            An extension off the list, or bytes that are not what the extension says (415).
        InvalidInputError
            An empty file, or more than ``max_files`` (422), naming the field ``attachments``.
        """
        if len(uploads) > self.max_files:
            raise InvalidInputError.for_field("attachments", f"Attach at most {self.max_files} files at a time.")
        checked = []
        for upload in uploads:
            name = display_name(upload.filename)
            if not upload.data:
                raise InvalidInputError.for_field("attachments", f"The file {name!r} is empty.")
            if len(upload.data) > self.max_bytes:
                raise AttachmentTooLargeError(
                    f"The file {name!r} is {len(upload.data) / MIB:.1f} MiB; files may be up to "
                    f"{self.max_bytes / MIB:g} MiB.", details=[{"field": "attachments", "message": "too large"}])
            ext = extension(name)
            if ext not in self.types or ext not in TYPES:
                raise AttachmentTypeError(
                    f"Files ending .{ext or '(nothing)'} cannot be attached; these can: "
                    f"{', '.join(sorted(self.types))}.", details=[{"field": "attachments", "message": "type"}])
            sniffed = sniff(upload.data)
            if sniffed is None or not _agrees(TYPES[ext], sniffed):
                raise AttachmentTypeError(
                    f"The file {name!r} does not contain what .{ext} says (its bytes look like "
                    f"{sniffed or 'binary data'}).", details=[{"field": "attachments", "message": "content"}])
            checked.append(Checked(name, TYPES[ext], upload.data))
        return checked


class AttachmentStore:
    """The attachment directory: files named by a random UUID, written by rename, never executed."""

    TEMP_PREFIX = ".incoming-"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, stored_name: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", stored_name):
            raise ValueError("not a stored attachment name")
        return self.directory / stored_name

    def write(self, data: bytes) -> str:
        """Store ``data`` under a new name: written to a temporary file, flushed, then renamed into place."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        temp = self.directory / f"{self.TEMP_PREFIX}{name}"
        with open(temp, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.directory / name)
        return name

    def remove(self, names: Iterable[str]) -> None:
        for name in names:
            self.path(name).unlink(missing_ok=True)

    def sweep_orphans(self, session: Session, older_than_seconds: float = 3600) -> list[str]:
        """Remove files (and temporary files) older than this that no row names; returns what was removed.

        Young files are left alone: they may belong to a transaction that has not committed yet.
        """
        if not self.directory.is_dir():
            return []
        cutoff = time.time() - older_than_seconds
        candidates = {p.name: p for p in self.directory.iterdir() if p.is_file() and p.stat().st_mtime < cutoff}
        names = [n for n in candidates if not n.startswith(self.TEMP_PREFIX)]
        known: set[str] = set()
        for start in range(0, len(names), 500):
            known.update(session.scalars(select(Attachment.stored_name).where(
                Attachment.stored_name.in_(names[start:start + 500]))))
        removed = sorted(n for n in candidates if n not in known)
        for name in removed:
            candidates[name].unlink(missing_ok=True)
        return removed


def store_rows(session: Session, store: AttachmentStore, checked: Sequence[Checked], *, ticket_id: int,
               message_id: int | None, uploader_id: int | None, now: datetime) -> list[str]:
    """Write each file and insert its row, uncommitted; returns the stored names (to remove on rollback).

    A failure part-way removes the files already written before it raises.
    """
    written: list[str] = []
    try:
        for item in checked:
            name = store.write(item.data)
            written.append(name)
            session.execute(insert(Attachment.__table__).values(
                ticket_id=ticket_id, message_id=message_id, uploader_id=uploader_id, filename=item.filename,
                stored_name=name, content_type=item.content_type, size=item.size, sha256=item.sha256,
                created_at=now))
    except BaseException:
        store.remove(written)
        raise
    return written


def as_json(attachment: Attachment, url: str | None = None) -> dict[str, Any]:
    return {"id": attachment.id, "ticket_id": attachment.ticket_id, "message_id": attachment.message_id,
            "filename": attachment.filename, "content_type": attachment.content_type, "size": attachment.size,
            "sha256": attachment.sha256, "created_at": attachment.created_at.isoformat(), "url": url}
