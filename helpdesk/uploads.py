"""The HTTP side of attachments: larger bodies where files are taken, reading them, serving them back safely.

The checks themselves (size, type, content) and the storage are in :mod:`helpdesk.tickets.attachments`; this
module only turns requests into :class:`~helpdesk.tickets.attachments.Upload` values and attachments into
responses that a browser will never run: a download (``Content-Disposition: attachment``) for everything
but raster images, ``X-Content-Type-Options: nosniff``, and a ``sandbox`` Content-Security-Policy.
"""

from __future__ import annotations

import io
from typing import Any

from flask import current_app, request, send_file
from werkzeug.wrappers import Response

from helpdesk.tickets.attachments import MAX_FILES, AttachmentStore, Upload
from helpdesk.web import get_settings

#: The endpoints that take files: their body may be larger than HELPDESK_MAX_REQUEST_BYTES.
UPLOAD_ENDPOINTS = frozenset({"tickets.new", "api.create_attachments"})
#: What the answer with a file says to the browser: no scripts, no plugins, no forms, no sniffing.
ATTACHMENT_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


def allow_upload_body(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A ``url_value_preprocessor``: on the endpoints that take files, the request may carry them.

    It runs before the ``before_request`` functions, so the CSRF check, which reads the form, already
    parses the body under the larger limit. Other requests keep HELPDESK_MAX_REQUEST_BYTES.
    """
    if endpoint in UPLOAD_ENDPOINTS and request.method == "POST":
        settings = get_settings()
        request.max_content_length = settings.max_request_bytes + settings.attachment_max_bytes * MAX_FILES


def read_uploads(field: str) -> list[Upload]:
    """The files sent in a multipart form field; a file input left empty sends nothing and counts as none.

    Each file is read up to one byte over the size limit, which is enough for the service to refuse it.
    """
    limit = get_settings().attachment_max_bytes
    uploads = []
    for storage in request.files.getlist(field):
        if not storage.filename:
            continue
        uploads.append(Upload(storage.filename, storage.stream.read(limit + 1)))
    return uploads


def send_attachment(attachment: Any) -> Response:
    """The stored file as a download (or, for a raster image, inline), with headers that keep it inert."""
    store = AttachmentStore(get_settings().resolved_attachment_dir)
    path = store.path(attachment.stored_name)
    if not path.is_file():
        current_app.logger.warning("attachment %s has no file %s", attachment.id, path)
        from helpdesk.exceptions import NotFoundError

        raise NotFoundError("That attachment's file is missing; ask an operator to restore it from backup.")
    # Read whole (files are bounded by HELPDESK_ATTACHMENT_MAX_BYTES): no descriptor stays open on the store.
    response = send_file(io.BytesIO(path.read_bytes()), mimetype=attachment.content_type,
                         as_attachment=not attachment.inline, download_name=attachment.filename,
                         conditional=False, etag=False, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = ATTACHMENT_CSP
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "private, no-store"
    return response
