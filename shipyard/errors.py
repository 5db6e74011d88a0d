"""The one error hierarchy of Shipyard.

Everything that can go wrong for a *user reason* raises a subclass of
`ShipyardError`; the CLI edge (`shipyard.cli.main`) turns it into a message and
an exit code in exactly one place. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

QUOTE_LIMIT = 80
"""Most characters of a user's value any message repeats: enough to recognise it, never a whole file."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A user's value as messages quote it: control characters escaped (no terminal escapes, no forged
    lines), then at most `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > 4 * limit:  # escaping can only lengthen: never escape more than is kept
        text = text[:4 * limit]
    if _CONTROL.search(text):
        text = _CONTROL.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one file, pointing at the offending key."""

    path: str
    line: int
    col: int
    message: str

    def as_text(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.message}"

    def as_github(self) -> str:
        # Workflow-command escaping: %, CR and LF in the message; also , and : in properties.
        msg = self.message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        path = self.path.replace("%", "%25").replace(",", "%2C").replace(":", "%3A")
        return f"::error file={path},line={self.line},col={self.col}::{msg}"

    def as_json(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "col": self.col, "message": self.message}


class ShipyardError(Exception):
    """Root of every error Shipyard reports to a user. `exit_code` is what the CLI returns."""

    exit_code = 1


class RepoNotFoundError(ShipyardError):
    """The current directory (or --repo) is not a Shipyard platform repository."""


class StackNotFoundError(ShipyardError):
    """A stack name does not match any `stacks/<team>/<env>.yaml`."""


class InvalidInputError(ShipyardError):
    """One or more files failed validation; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(d.as_text() for d in self.diagnostics))


class ToolError(ShipyardError):
    """A required external tool (Go, the Pulumi CLI, a plugin, a control-plane binary) is missing or broken."""


class EngineError(ShipyardError):
    """The Pulumi engine failed (the message carries the engine's own words, secrets redacted)."""


class ConcurrentUpdateError(EngineError):
    """Someone else is updating the same stack right now."""


class StaleLockError(ConcurrentUpdateError):
    """The stack is locked by an update whose process is gone: waiting cannot help, `shipyard unlock` can."""


class StackNotAppliedError(EngineError):
    """The stack has no state yet: it was never applied (only `up` creates a stack)."""


def relpath(path: Path, root: Path) -> str:
    """Path as shown to users: relative to the repository when inside it."""
    try:
        return path.relative_to(root).as_posix()  # the common case, without touching the disk
    except ValueError:
        pass
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
