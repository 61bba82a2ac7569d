"""A local webhook endpoint for --notify tests: it records what it is sent and answers as told."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from emulator.server import QuietServer

__all__ = ["PATH", "Receiver", "receiving"]

PATH = "/services/T0AAAAAAAAA/B0BBBBBBBBB/s3cretW3bhookT0ken1234567?sig=s3cretSignatureValue"  # a Slack-like secret


@dataclass
class Receiver:
    """The endpoint's URL, what it was sent, and what it answers next.

    Each POST takes the first of `answers` (status, body, headers), else 200 "ok"; "{path}" in a
    body or header is the path and query the POST came to. While `hanging` is set, a POST gets
    no answer at all until the test ends.
    """

    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    answers: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    hanging: bool = False
    released: threading.Event = field(default_factory=threading.Event)


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A Receiver on 127.0.0.1 (plain HTTP), whose URL's path and query are `PATH`, for the block."""
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.posts.append(json.loads(self.rfile.read(length)))
            if state.hanging:
                state.released.wait()
                return
            status, body, headers = state.answers.pop(0) if state.answers else (200, "ok", {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value.replace("{path}", self.path))
            answer = body.replace("{path}", self.path).encode()
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet."""

    server = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}{PATH}"
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
