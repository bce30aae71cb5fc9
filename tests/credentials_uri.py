"""A credentials URI on 127.0.0.1 for tests: what the credentials library's
`credentials_uri` type fetches (`Code`, the key pair, a SecurityToken, an Expiration).

    with CredentialsUri("AK", "SK", ttl=timedelta(minutes=5), good=1) as server:
        spec = {"type": "credentials_uri", "uri": server.uri}

Each GET is counted (`hits`); after the first `good` answers it answers HTTP 500 (a
credentials backend gone down); `body` replaces the answer; `userinfo` and `query` go
into `uri` (where a URI carries its secrets).
"""

from __future__ import annotations

import http.server
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, Self

__all__ = ("CredentialsUri",)


class CredentialsUri:
    """Answers every GET with the key pair and `token`, valid `ttl` from now; counts them."""

    def __init__(
        self,
        key_id: str,
        secret: str,
        *,
        ttl: timedelta = timedelta(hours=1),
        token: str | None = None,
        good: int | None = None,
        body: dict[str, str] | None = None,
        path: str = "/credentials",
        userinfo: str = "",
        query: str = "",
    ) -> None:
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                if good is not None and outer.hits > good:
                    self.send_error(500, "credentials backend down")
                    return
                expiration = datetime.now(UTC) + ttl
                answer = body or {
                    "Code": "Success",
                    "AccessKeyId": key_id,
                    "AccessKeySecret": secret,
                    "SecurityToken": token or f"token-{outer.hits}",
                    "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self._server.server_address[1]
        user = f"{userinfo}@" if userinfo else ""
        self.uri = f"http://{user}127.0.0.1:{port}{path}" + (f"?{query}" if query else "")
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
