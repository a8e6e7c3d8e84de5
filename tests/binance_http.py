"""Plain-HTTP Binance calls for emulator tests: public and SIGNED requests, headers, JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from emulator.auth import sign
from emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "binance"


@dataclass
class Reply:
    """One answer: HTTP status, headers (lower-case names) and the decoded JSON body."""

    status: int
    headers: dict[str, str]
    body: object

    @property
    def code(self) -> int | None:
        """Binance's error code, None for a success."""
        return self.body.get("code") if isinstance(self.body, dict) else None


def call(base_url: str, method: str, path: str, query: str = "", body: str = "",
         headers: dict[str, str] | None = None) -> Reply:
    """Send one request as given (no signing) and return its answer."""
    url = base_url + path + (f"?{query}" if query else "")
    request = urllib.request.Request(
        url, method=method, data=body.encode() if body else None,
        headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return Reply(answer.status, {k.lower(): v for k, v in answer.headers.items()},
                         json.loads(answer.read()))
    except urllib.error.HTTPError as err:
        return Reply(err.code, {k.lower(): v for k, v in err.headers.items()},
                     json.loads(err.read()))


def public(server, path: str, **params: object) -> Reply:
    """A public GET with ``params`` in the query string."""
    return call(server.base_url, "GET", path, urlencode(params))


def signed(server, method: str, path: str, *, raw: str | None = None, **params: object
           ) -> Reply:
    """A SIGNED call at the server's clock: ``params`` (or the ``raw`` query) plus timestamp
    and signature, in the query string."""
    query = raw if raw is not None else urlencode(
        {**params, "timestamp": params.get("timestamp", server.clock.now_ms())})
    query = f"{query}&signature={sign(query, DEFAULT_API_SECRET)}"
    return call(server.base_url, method, path, query, headers={"X-MBX-APIKEY": DEFAULT_API_KEY})


def fixture(name: str) -> object:
    """A documented example answer kept in tests/fixtures/binance (see SOURCE.md there)."""
    return json.loads((FIXTURES / name).read_text())
