"""A local HTTP receiver on 127.0.0.1 for alert tests: records JSON posts, can hang or fail."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """``mode`` is "ok" (200), "fail" (500) or "hang" (no answer until ``release``)."""

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode
        self.posts: list[dict] = []
        self.arrived = threading.Event()
        self.released = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    receiver.posts.append(json.loads(body or b"{}"))
                except ValueError:
                    receiver.posts.append({"raw": body.decode("utf-8", "replace")})
                receiver.arrived.set()
                if receiver.mode == "hang":
                    receiver.released.wait(10)
                    return
                self.send_response(500 if receiver.mode == "fail" else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, timeout_s: float = 0.5, path: str = "hook") -> str:
        """The apprise ``json://`` URL of this receiver, with short socket timeouts."""
        return f"json://127.0.0.1:{self.port}/{path}?cto={timeout_s}&rto={timeout_s}"

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[dict]:
        """The posts once ``count`` have arrived (or what arrived within the timeout)."""
        import time

        deadline = time.monotonic() + timeout_s
        while len(self.posts) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.posts)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()
