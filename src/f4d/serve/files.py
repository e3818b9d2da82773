"""The server's private temp folder: uploads under generated names, explain files that expire.

Layout (the folder is made by :func:`tempfile.mkdtemp`, mode 0700, removed on shutdown)::

    f4d-serve-XXXXXXXX/uploads/<32 hex>           one upload, deleted after its request
    f4d-serve-XXXXXXXX/explain/<32 hex>/ta.png    one request's explanation, deleted after ttl_s

Names are random (:func:`secrets.token_hex`), never the client's file name, so a client can
neither choose a path nor guess another request's explain files.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path

TOKEN = re.compile(r"^[0-9a-f]{32}$")
EXPLAIN_FILE = re.compile(r"^(ta\.png|sta_\d+\.(png|gif)|explain\.json)$")


class PrivateFolder:
    """A private temp folder for uploads and explain files (see the module docstring)."""

    def __init__(self, *, explain_ttl_s: float = 600.0, parent: str | Path | None = None) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="f4d-serve-", dir=parent))  # mode 0700
        self.uploads = self.root / "uploads"
        self.explain = self.root / "explain"
        self.uploads.mkdir(mode=0o700)
        self.explain.mkdir(mode=0o700)
        self.explain_ttl_s = explain_ttl_s

    def new_upload(self) -> Path:
        """A fresh path for one upload (the file is not created)."""
        return self.uploads / secrets.token_hex(16)

    def new_explain_dir(self) -> tuple[str, Path]:
        """``(token, folder)`` for one request's explain files (the folder is not created)."""
        token = secrets.token_hex(16)
        return token, self.explain / token

    def explain_file(self, token: str, name: str) -> Path | None:
        """The explain file ``name`` of request ``token``, or None if absent, expired or invalid."""
        if not TOKEN.match(token) or not EXPLAIN_FILE.match(name):
            return None
        folder = self.explain / token
        if not folder.is_dir() or self._expired(folder, time.time()):
            return None
        path = folder / name
        return path if path.is_file() else None

    def expire(self) -> int:
        """Delete explain folders older than ``explain_ttl_s``; returns how many went."""
        now, removed = time.time(), 0
        for folder in self.explain.iterdir():
            if self._expired(folder, now):
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        return removed

    def _expired(self, folder: Path, now: float) -> bool:
        try:
            return now - folder.stat().st_mtime > self.explain_ttl_s
        except FileNotFoundError:
            return True

    def close(self) -> None:
        """Remove the whole folder."""
        shutil.rmtree(self.root, ignore_errors=True)
