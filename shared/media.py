"""Files any server process can serve: site logos and spoken-call clips, kept in the database.

With several processes on several machines a file written to one machine's
disk is missing on the others. The database is the truth; each process keeps
a copy on its own disk (``<instance>/media/``) only to hand a path to the
printer layout and to ``send_file``. Keys name their content (a digest of
it), so a copy on disk is never stale: a new logo is a new key.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from . import store

PREFIX = "media:"


def key_for(kind: str, data: bytes, suffix: str) -> str:
    """Return the key of a file's content (``kind/<digest>.<suffix>``)."""
    return f"{kind}/{hashlib.sha256(data).hexdigest()[:32]}.{suffix}"


def put(db, key: str, content_type: str, data: bytes, now_ms: int) -> str:
    """Keep a file in the database (idempotent for the same key); return its key."""
    store.put_media(db, key, content_type, data, now_ms)
    return key


def get(db, key: str) -> dict | None:
    """Return a kept file ({key, content_type, data}), or None."""
    return store.media(db, key)


def local_copy(folder: str | os.PathLike, db, key: str) -> Path | None:
    """Return this machine's copy of a kept file, writing it from the database the first time."""
    path = Path(folder) / "media" / key
    if path.is_file():
        return path
    row = get(db, key)
    if row is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(bytes(row["data"]))
    os.replace(tmp, path)  # whole files only: another process may write the same one
    return path


def is_media(reference: str | None) -> bool:
    """Tell whether a stored reference (a site's logo_path) names a kept file."""
    return bool(reference) and reference.startswith(PREFIX)


def voice_clip(folder: str | os.PathLike, db, speech, phrase: str, now_ms: int) -> Path:
    """Return a spoken phrase as a WAV file on this machine: kept in the database, made once.

    ``speech`` renders a phrase to a WAV file on this machine (the display's
    espeak-ng cache); what it makes is kept so that every other process plays
    the same clip without making it again.
    """
    key = f"voice/{speech.path_for(phrase).name}"
    copy = local_copy(folder, db, key)
    if copy is not None:
        return copy
    path = speech.wav_for(phrase)
    put(db, key, "audio/wav", path.read_bytes(), now_ms)
    return path
