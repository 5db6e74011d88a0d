"""A stack file is committed in plain text: it must never hold a secret.

Two signals, checked on the raw document (so a secret is reported even where the file is invalid
otherwise): a key that names a credential (password, token, API key, private key, client secret...)
holding a literal value, and a value that *is* a credential whatever its key (PEM private key blocks,
AWS access key ids, GitHub, Slack and Google API tokens). References are fine: keys that name a
secret rather than hold one (`existingSecret`, `secretName`, `...SecretRef`) are not flagged.
"""

from __future__ import annotations

import re
from typing import Any

Loc = tuple[str | int, ...]

_SENSITIVE_KEY = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[-_]?key|apikey|private[-_]?key|access[-_]?key|client[-_]?secret"
    r"|credentials?|auth[-_]?key|signing[-_]?key|webhook[-_]?url)$", re.I)
_REFERENCE_KEY = re.compile(r"(kubeconfig[-_]?secret|existing[-_]?secret|secret[-_]?(name|ref|key[-_]?ref)|secretref|from[-_]?secret"
                            r"|secret[-_]?namespace|existing[-_]?secret[-_]?\w*)$", re.I)
_CREDENTIAL_VALUES = (
    (re.compile(r"-----BEGIN ([A-Z]+ )*PRIVATE KEY-----"), "a private key block"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), "a GitHub token"),
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), "a Slack token"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), "a Google API key"),
    (re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"), "a Slack webhook URL"),
)
HOW_TO = ("a stack file is committed in plain text: keep the value in a Pulumi secret "
          "(`pulumi config set --secret NAME`) or an external secret, and reference it here "
          "(e.g. the chart's `existingSecret`)")


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def find_secrets(data: Any) -> list[tuple[Loc, str]]:
    """(location, message) for every secret-looking entry, without recursion limits (nesting is bounded by
    the loader)."""
    found: list[tuple[Loc, str]] = []
    stack: list[tuple[Any, Loc]] = [(data, ())]
    seen: set[int] = set()
    while stack:
        node, loc = stack.pop()
        if isinstance(node, (dict, list)):
            if id(node) in seen:  # aliases share objects; check each once
                continue
            seen.add(id(node))
        if isinstance(node, dict):
            for key, value in node.items():
                child = loc + (key,)
                if (isinstance(value, str) and value.strip() and _SENSITIVE_KEY.search(str(key))
                        and not _REFERENCE_KEY.search(str(key))):
                    found.append((child, f"{_dotted(child)}: '{key}' holds what looks like a credential; {HOW_TO}"))
                else:
                    stack.append((value, child))
        elif isinstance(node, list):
            stack.extend((item, loc + (index,)) for index, item in enumerate(node))
        elif isinstance(node, str):
            for pattern, what in _CREDENTIAL_VALUES:
                if pattern.search(node):
                    found.append((loc, f"{_dotted(loc) or '(value)'}: this value looks like {what}; {HOW_TO}"))
                    break
    return sorted(found, key=lambda item: [str(p) for p in item[0]])
