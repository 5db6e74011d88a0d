"""A minimal Language Server Protocol client over stdio (JSON-RPC with Content-Length framing).

Enough to drive the real `yaml-language-server` the way an editor does: initialize with a workspace
folder, answer the server's `workspace/configuration` pulls with the editor's settings, open documents,
and collect `textDocument/publishDiagnostics`, completion and hover results.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

LSP_DIR = Path(__file__).resolve().parents[1] / "lsp"
"""tests/lsp: package.json and package-lock.json pin the yaml-language-server; node_modules is git-ignored."""
STAMP = ".shipyard-lock.sha256"


def install(directory: Path = LSP_DIR) -> Path:
    """Install the pinned yaml-language-server (`npm ci`) unless the installed one matches package-lock.json;
    returns its executable. Idempotent: a second call only hashes the lock file."""
    lock = directory / "package-lock.json"
    want = hashlib.sha256(lock.read_bytes()).hexdigest()
    stamp = directory / "node_modules" / STAMP
    server = directory / "node_modules" / "yaml-language-server" / "bin" / "yaml-language-server"
    if server.is_file() and stamp.is_file() and stamp.read_text().strip() == want:
        return server
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not on PATH; install Node.js 20+ to run the language server tests")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=directory, check=True)
    stamp.write_text(want + "\n")
    return server


class LspError(Exception):
    """The server answered a request with an error, or did not answer in time."""


class LanguageServer:
    """`with LanguageServer([...command], root, settings) as server:` starts, initializes and shuts it down."""

    def __init__(self, command: list[str], root: Path, settings: dict[str, Any], timeout: float = 30.0):
        self.command = command
        self.root = root
        self.settings = settings
        """The editor's settings by section, e.g. {"yaml": {...}}; answered to `workspace/configuration`."""
        self.timeout = timeout
        self._next_id = 0
        self._responses: dict[int, dict[str, Any]] = {}
        self._diagnostics: dict[str, list[list[dict[str, Any]]]] = {}
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self.stderr: list[str] = []
        self.telemetry: list[Any] = []
        """`telemetry/event`s the server sent: how it reports its own failures (e.g. yaml.validation.error)."""
        self._versions: dict[str, int] = {}

    # -- lifecycle ---------------------------------------------------------------------------------
    def __enter__(self) -> LanguageServer:
        self._process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, cwd=self.root)
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        root_uri = self.root.as_uri()
        self.request("initialize", {
            "processId": os.getpid(), "rootUri": root_uri,
            "workspaceFolders": [{"uri": root_uri, "name": self.root.name}],
            "capabilities": {
                "workspace": {"configuration": True, "workspaceFolders": True,
                              "didChangeConfiguration": {"dynamicRegistration": False}},
                "textDocument": {
                    "publishDiagnostics": {"relatedInformation": True},
                    "completion": {"completionItem": {"snippetSupport": True,
                                                      "documentationFormat": ["markdown", "plaintext"]}},
                    "hover": {"contentFormat": ["markdown", "plaintext"]},
                },
            },
        })
        self.notify("initialized", {})
        # The server pulls its settings (workspace/configuration) on this notification.
        self.notify("workspace/didChangeConfiguration", {"settings": self.settings})
        return self

    def __exit__(self, *exc: Any) -> None:
        assert self._process is not None
        try:
            self.request("shutdown", None, timeout=5)
            self.notify("exit", None)
            self._process.wait(timeout=5)
        except (LspError, subprocess.TimeoutExpired, BrokenPipeError, OSError):
            self._process.kill()
            self._process.wait()

    # -- JSON-RPC ----------------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        with self._write_lock:
            self._process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self._process.stdin.flush()

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: Any, timeout: float | None = None) -> Any:
        with self._cond:
            self._next_id += 1
            ident = self._next_id
        self._send({"id": ident, "method": method, "params": params})
        with self._cond:
            if not self._cond.wait_for(lambda: ident in self._responses, timeout or self.timeout):
                raise LspError(f"no answer to {method} within {timeout or self.timeout} s; stderr: "
                               f"{''.join(self.stderr)[-2000:]}")
            response = self._responses.pop(ident)
        if "error" in response:
            raise LspError(f"{method}: {response['error']}")
        return response.get("result")

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        stream = self._process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    with self._cond:
                        self._cond.notify_all()
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length is None:
                continue
            message = json.loads(stream.read(length))
            if "method" in message and "id" in message:
                self._answer(message)
            elif "method" in message:
                if message["method"] == "telemetry/event":
                    with self._cond:
                        self.telemetry.append(message.get("params"))
                elif message["method"] == "textDocument/publishDiagnostics":
                    params = message["params"]
                    with self._cond:
                        self._diagnostics.setdefault(params["uri"], []).append(params["diagnostics"])
                        self._cond.notify_all()
            else:
                with self._cond:
                    self._responses[message["id"]] = message
                    self._cond.notify_all()

    def _answer(self, message: dict[str, Any]) -> None:
        """Requests from the server: settings pulls, capability registrations, progress tokens."""
        method, params = message["method"], message.get("params") or {}
        result: Any = None
        if method == "workspace/configuration":
            result = [self.settings.get(item.get("section", ""), None) for item in params.get("items", [])]
        elif method == "workspace/workspaceFolders":
            result = [{"uri": self.root.as_uri(), "name": self.root.name}]
        self._send({"id": message["id"], "result": result})

    def _drain_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self.stderr.append(line.decode("utf-8", "replace"))

    # -- documents ---------------------------------------------------------------------------------
    def open(self, path: Path, text: str) -> str:
        """Open (or re-open with new text) a document; returns its URI."""
        uri = path.as_uri()
        with self._cond:
            self._diagnostics.pop(uri, None)
        if uri in self._versions:
            self._versions[uri] += 1
            self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": self._versions[uri]},
                                                   "contentChanges": [{"text": text}]})
        else:
            self._versions[uri] = 1
            self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1,
                                                                  "text": text}})
        return uri

    def close(self, uri: str) -> None:
        self._versions.pop(uri, None)
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def diagnostics(self, uri: str, timeout: float | None = None) -> list[dict[str, Any]]:
        """The next diagnostics the server publishes for `uri` (after `open`)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._diagnostics.get(uri), timeout or self.timeout):
                raise LspError(f"no diagnostics for {uri}; stderr: {''.join(self.stderr)[-2000:]}")
            return self._diagnostics[uri].pop(0)

    def completion(self, uri: str, line: int, character: int) -> list[dict[str, Any]]:
        result = self.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                          "position": {"line": line, "character": character}})
        return result.get("items", []) if isinstance(result, dict) else (result or [])

    def hover(self, uri: str, line: int, character: int) -> str:
        result = self.request("textDocument/hover", {"textDocument": {"uri": uri},
                                                     "position": {"line": line, "character": character}})
        if not result:
            return ""
        contents = result["contents"]
        if isinstance(contents, dict):
            return contents.get("value", "")
        if isinstance(contents, list):
            return "\n".join(c if isinstance(c, str) else c.get("value", "") for c in contents)
        return str(contents)


if __name__ == "__main__":  # python -m tests.support.lsp: install the pinned server, print its path
    print(install())
    sys.exit(0)
