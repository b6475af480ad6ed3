"""Evidence files (photos, scans, PDFs): checked, stored outside the web root, served
only through a scoped lookup.

Files are named by a random id, never by what the user sent; the type is judged
from the file's first bytes, not its name or the browser's claim.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from typing import IO, Any

from flask import current_app, send_file
from marshmallow import ValidationError
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from district.extensions import db
from scoring.models import Evidence

MAX_EVIDENCE_BYTES = 8 * 1024 * 1024
# magic bytes -> (content type, extension)
SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
    (b"RIFF", "image/webp", ".webp"),
)


def _sniff(head: bytes) -> tuple[str, str] | None:
    for magic, ctype, ext in SIGNATURES:
        if head.startswith(magic):
            if ctype == "image/webp" and head[8:12] != b"WEBP":
                continue
            return ctype, ext
    return None


def store(
    upload: Any,
    *,
    owner_type: str,
    owner_id: int,
    school_id: int,
    user_id: int | None,
    field: str = "file",
) -> Evidence:
    """Validate and store one uploaded file (werkzeug FileStorage); flushes the row."""
    stream: IO[bytes] = upload.stream
    data = stream.read(MAX_EVIDENCE_BYTES + 1)
    if not data:
        raise ValidationError({field: ["文件为空"]})
    if len(data) > MAX_EVIDENCE_BYTES:
        raise ValidationError({field: [f"文件超过 {MAX_EVIDENCE_BYTES // 1024 // 1024} MB"]})
    kind = _sniff(data[:16])
    if kind is None:
        raise ValidationError({field: ["只接受 JPEG、PNG、GIF、WebP 图片或 PDF 文件"]})
    ctype, ext = kind
    stored = secrets.token_hex(16) + ext
    folder = current_app.config["UPLOAD_DIR"]
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, stored)
    with open(path, "wb") as fh:
        fh.write(data)
    # Until the transaction commits the file is provisional: a rollback (the next file
    # of the same form rejected, a stale form, any error) removes it again.
    db.session.info.setdefault(_PENDING_FILES, []).append(path)
    original = os.path.basename(upload.filename or "upload")[:200] or "upload"
    row = Evidence(
        school_id=school_id,
        owner_type=owner_type,
        owner_id=owner_id,
        filename=original,
        stored_name=stored,
        content_type=ctype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by=user_id,
    )
    db.session.add(row)
    db.session.flush()
    return row


_PENDING_FILES = "evidence.pending_files"


@event.listens_for(Session, "after_commit")
def _keep_files(session: Session) -> None:
    session.info.pop(_PENDING_FILES, None)


@event.listens_for(Session, "after_rollback")
def _remove_files(session: Session) -> None:
    """Files stored in a transaction that rolled back belong to no row: delete them."""
    for path in session.info.pop(_PENDING_FILES, ()):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def attached(owner_type: str, owner_ids: list[int]) -> dict[int, list[Evidence]]:
    """Evidence grouped by owner id (one query)."""
    if not owner_ids:
        return {}
    rows = db.session.scalars(
        select(Evidence)
        .where(Evidence.owner_type == owner_type, Evidence.owner_id.in_(owner_ids))
        .order_by(Evidence.id)
    )
    out: dict[int, list[Evidence]] = {}
    for row in rows:
        out.setdefault(row.owner_id, []).append(row)
    return out


def send(evidence: Evidence) -> Any:
    path = os.path.join(current_app.config["UPLOAD_DIR"], evidence.stored_name)
    return send_file(path, mimetype=evidence.content_type, download_name=evidence.filename)
