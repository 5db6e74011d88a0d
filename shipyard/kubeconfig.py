"""Reading a kubeconfig a user hands to Shipyard (`shipyard config set-kubeconfig`) before it is encrypted.

It will be used by CI runners, not by the machine it came from, so it must be self-contained: references
to local files (certificates, keys, token files) would break there and are refused with the command that
embeds them. Nothing here ever prints a value from the file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from shipyard.errors import ShipyardError

MAX_BYTES = 1024 * 1024
_FILE_FIELDS = {
    "clusters": ("certificate-authority",),
    "users": ("client-certificate", "client-key", "tokenFile"),
}


class KubeconfigError(ShipyardError):
    """The kubeconfig file cannot be used as a stack's cluster credentials."""


def read_kubeconfig(path: Path) -> str:
    """The file's text once it is a readable, self-contained kubeconfig; else a `KubeconfigError`."""
    shown = str(path)[:200]
    if not path.is_file():
        raise KubeconfigError(f"{shown}: not a regular file")
    if path.stat().st_size > MAX_BYTES:
        raise KubeconfigError(f"{shown}: larger than {MAX_BYTES // 1024} KiB, which no kubeconfig needs")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KubeconfigError(f"{shown}: cannot be read as UTF-8 text ({type(exc).__name__})") from None
    try:
        # Aliases are refused outright: a kubeconfig never needs them, and they are the expansion trick.
        data = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        where = f" (line {exc.problem_mark.line + 1})" if getattr(exc, "problem_mark", None) else ""
        raise KubeconfigError(f"{shown}: not valid YAML{where}") from None
    if not isinstance(data, dict) or data.get("kind", "Config") != "Config" or not data.get("clusters"):
        raise KubeconfigError(f"{shown}: not a kubeconfig (expected `kind: Config` with `clusters`)")
    if not data.get("contexts") or not data.get("current-context"):
        raise KubeconfigError(f"{shown}: has no current context; write one with `kubectl config view --minify "
                              "--flatten --context NAME > FILE`")
    for section, fields in _FILE_FIELDS.items():
        entries = data.get(section) or []
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            raise KubeconfigError(f"{shown}: `{section}` must be a list of named entries")
        for entry in entries:
            body = entry.get(section[:-1]) or {}
            for field in fields:
                if isinstance(body, dict) and body.get(field):
                    raise KubeconfigError(
                        f"{shown}: {section[:-1]} '{str(entry.get('name', '?'))[:80]}' refers to a local file "
                        f"({field}), which CI runners do not have; embed it with `kubectl config view --minify "
                        "--flatten > FILE`")
    return text


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(problem="aliases are not allowed in a kubeconfig",
                                       problem_mark=event.start_mark)
        return super().compose_node(parent, index)
