"""A real HTTP server on 127.0.0.1 that answers like GitHub's issues API and a Slack webhook,
and records every request (method, path, JSON body) for assertions."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class FakeServices:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[str]] = {}
        self.webhook_payloads: list[dict[str, Any]] = []
        self.events: dict[int, list[dict[str, Any]]] = {}
        """Issue/pull request number -> its events (GET .../issues/N/events)."""
        self.commit_pulls: dict[str, list[dict[str, Any]]] = {}
        """Commit sha -> the pull requests it belongs to (GET .../commits/SHA/pulls)."""
        self.teams: dict[str, set[str]] = {}
        """`org/team` -> member logins, answered by the team-membership endpoint."""
        self._next = 1
        services = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _reply(self, code: int, body: Any = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length)) if length else None

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                services.requests.append({"method": "GET", "path": url.path, "query": parse_qs(url.query)})
                parts = url.path.strip("/").split("/")
                if len(parts) == 6 and parts[0] == "orgs" and parts[2] == "teams" and parts[4] == "memberships":
                    members = services.teams.get(f"{parts[1]}/{parts[3]}", set())
                    if parts[5] in members:
                        self._reply(200, {"state": "active", "role": "member"})
                    else:
                        self._reply(404, {"message": "Not Found"})
                elif url.path.startswith("/repos/") and url.path.endswith("/events"):
                    query = parse_qs(url.query)
                    page, per_page = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["30"])[0])
                    events = services.events.get(int(url.path.split("/")[-2]), [])
                    self._reply(200, events[(page - 1) * per_page: page * per_page])
                elif url.path.startswith("/repos/") and "/commits/" in url.path and url.path.endswith("/pulls"):
                    self._reply(200, services.commit_pulls.get(url.path.split("/")[-2], []))
                elif url.path.startswith("/repos/") and url.path.endswith("/issues"):
                    query = parse_qs(url.query)
                    label = query.get("labels", [None])[0]
                    page, per_page = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["30"])[0])
                    found = [i for i in services.issues.values() if i["state"] == query.get("state", ["open"])[0]
                             and (label is None or label in [l["name"] for l in i["labels"]])]
                    self._reply(200, found[(page - 1) * per_page: page * per_page])
                else:
                    self._reply(404, {"message": "Not Found"})

            def do_POST(self) -> None:  # noqa: N802
                body = self._body()
                services.requests.append({"method": "POST", "path": self.path, "json": body,
                                          "auth": self.headers.get("Authorization")})
                if self.path == "/webhook":
                    services.webhook_payloads.append(body)
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                elif self.path.startswith("/repos/") and self.path.endswith("/issues"):
                    number = services._next
                    services._next += 1
                    issue = {"number": number, "title": body["title"], "body": body["body"], "state": "open",
                             "labels": [{"name": n} for n in body.get("labels", [])],
                             "assignees": [{"login": a} for a in body.get("assignees", [])],
                             "html_url": f"https://github.example/o/r/issues/{number}"}
                    services.issues[number] = issue
                    self._reply(201, issue)
                elif self.path.startswith("/repos/") and self.path.endswith("/comments"):
                    number = int(self.path.split("/")[-2])
                    services.comments.setdefault(number, []).append(body["body"])
                    self._reply(201, {"id": 1, "body": body["body"]})
                else:
                    self._reply(404, {"message": "Not Found"})

            def do_PATCH(self) -> None:  # noqa: N802
                body = self._body()
                services.requests.append({"method": "PATCH", "path": self.path, "json": body})
                number = int(self.path.split("/")[-1])
                if number not in services.issues:
                    self._reply(404, {"message": "Not Found"})
                    return
                services.issues[number].update({k: v for k, v in body.items() if k in ("body", "state", "title")})
                self._reply(200, services.issues[number])

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeServices:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
