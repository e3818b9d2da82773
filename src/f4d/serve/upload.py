"""Upload size limit (413 before the body is read when the client says its length) and saving.

:class:`BodyLimit` is plain ASGI middleware: a declared ``Content-Length`` over the limit is
refused at once; a body that grows past it while streaming (chunked uploads) is refused as soon
as it does, and the app behind sees the client as gone. Either way the answer is the JSON 413
of :func:`~f4d.serve.errors.too_large`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from f4d.serve.errors import ApiError, too_large

MULTIPART_SLACK = 64 * 1024  # form fields and part headers on top of the file itself
CHUNK = 1 << 20


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` (+ multipart slack) on ``paths`` with a 413."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, paths: tuple[str, ...]) -> None:
        self.app, self.max_bytes, self.paths = app, max_bytes, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        allowed = self.max_bytes + MULTIPART_SLACK
        declared = _content_length(scope)
        if declared is not None and declared > allowed:
            await _send_error(send, too_large(self.max_bytes))
            return
        received, refused = 0, False

        async def limited_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > allowed:
                    refused = True
                    await _send_error(send, too_large(self.max_bytes))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited_receive, guarded_send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_error(send: Send, err: ApiError) -> None:
    body = json.dumps(err.body()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": err.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def save_upload(source: BinaryIO, path: Path, max_bytes: int) -> int:
    """Copy ``source`` to ``path`` (created 0600); returns its size, stopping past ``max_bytes``.

    Raises :class:`ApiError` 400 for an empty upload and 413 for one over ``max_bytes``.
    """
    size = 0
    with path.open("xb") as out:
        path.chmod(0o600)
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise too_large(max_bytes)
            out.write(chunk)
    if size == 0:
        raise ApiError(400, "empty", "the upload is empty (0 bytes)")
    return size
