"""A stack file is committed in plain text: it must never hold a secret, and no message may repeat one.

Three signals, checked on the raw document (so a secret is reported even where the file is invalid
otherwise):

- a key that names a credential, holding a literal (a string or a number). Keys are split into words
  (camelCase, snake_case, kebab-case), and the *last* word or pair decides: `adminPassword`,
  `DB_PASSWORD`, `secretKey`, `pwd`, `apiKey` name credentials; `bypass`, `compass`, `passwordPolicy`,
  `tokenTtl` and `secretName` do not. A credential key holding a mapping passes its sensitivity on to
  value-like keys below it (`password: {value: ...}`).
- a `{name: DB_PASSWORD, value: ...}` pair (Kubernetes env lists): the name names a credential, so
  the value is one.
- a value (or key) shaped like a credential whatever its key: PEM and PGP private key blocks (also
  base64-wrapped), AWS access key ids, GitHub, GitLab, Slack, Google, Stripe and npm tokens, JSON Web
  Tokens, URLs with a password.

References are fine: `existingSecret`, `secretName`, `...SecretRef`, `kubeconfigSecret` name a secret
rather than hold one — as long as their value is a name; a literal there (`existingSecret: "S3cr3t!"`)
is still a secret. `existingSecretPassword` ends in `password`: it holds one.

`Redactor` is the one way any message is cleaned of what was found here.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from shipyard.errors import QUOTE_LIMIT, shown

Loc = tuple[str | int, ...]

HOW_TO = ("a stack file is committed in plain text: keep the value in a Pulumi secret "
          "(`pulumi config set --secret NAME`) or an external secret, and reference it here "
          "(e.g. the chart's `existingSecret`)")
REDACTED = "[redacted]"

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_CREDENTIAL_WORDS = frozenset({"password", "passwd", "passphrase", "pwd", "pass", "secret", "token", "credential",
                               "credentials", "apikey", "privatekey", "secretkey", "accesskey", "clientsecret",
                               "authkey", "apitoken", "accesstoken", "authtoken", "bearer"})
_CREDENTIAL_PAIRS = frozenset({("api", "key"), ("private", "key"), ("secret", "key"), ("access", "key"),
                               ("auth", "key"), ("signing", "key"), ("encryption", "key"), ("master", "key"),
                               ("license", "key"), ("client", "secret"), ("webhook", "url"),
                               ("connection", "string")})
# `existingSecret`, `existingSecretKey`, `kubeconfigSecret`, `tlsSecret`: the name of a secret, not its value.
_REFERENCE_PREFIXES = frozenset({"existing", "kubeconfig", "from", "tls"})
_REFERENCE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?")
# Keys below a credential key that hold its value (`password: {value: ...}`), and the env-list pair.
_VALUE_KEYS = frozenset({"value", "plain", "plaintext", "literal", "data", "content", "string", "raw"})
_NAME_KEYS = ("name", "key")

_SHAPES: tuple[tuple[str, str], ...] = (
    (r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----", "a private key block"),
    (r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?![0-9A-Za-z])", "an AWS access key id"),
    (r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{30,}", "a GitHub token"),
    (r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,}", "a GitHub token"),
    (r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}", "a GitLab token"),
    (r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}", "a Slack token"),
    (r"(?<![A-Za-z0-9])xapp-[0-9]-[A-Za-z0-9-]{10,}", "a Slack token"),
    (r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+", "a Slack webhook URL"),
    (r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}", "a Google API key"),
    (r"(?<![A-Za-z0-9_-])ya29\.[0-9A-Za-z_-]{20,}", "a Google OAuth token"),
    (r"(?<![A-Za-z0-9_])(?:sk|rk)_live_[A-Za-z0-9]{20,}", "a Stripe key"),
    (r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}", "an npm token"),
    (r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*", "a JSON Web Token"),
    (r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:[^\s/@]+@", "a URL with a password"),
    # "-----BEGIN" in base64 (a PEM block in a Kubernetes Secret's data); decoded below to tell keys from certificates.
    (r"LS0tLS1CRUdJTi[A-Za-z0-9+/=\s]{20,}", "a base64-encoded private key block"),
)
_SHAPE = re.compile("|".join(f"(?P<s{i}>{pattern})" for i, (pattern, _) in enumerate(_SHAPES)))
_SHAPE_NAMES = {f"s{i}": what for i, (_, what) in enumerate(_SHAPES)}
_BASE64_PEM = f"s{len(_SHAPES) - 1}"
_SHORTEST_SHAPE = 15  # a shorter string matches no shape but a URL (which has "://")


@dataclass(frozen=True)
class Secret:
    """One secret found: where, the message (which never contains it), and the texts to redact elsewhere."""

    loc: Loc
    message: str
    values: tuple[str, ...]


@lru_cache(maxsize=4096)
def key_kind(key: str) -> str:
    """'credential' when the key names a credential, 'reference' when it names a secret holding one,
    '' otherwise. Decided by the key's last word (or last two), so `bypass` is not `pass`."""
    words = [w.lower() for w in _WORD.findall(key)]
    if not words:
        return ""
    last, pair = words[-1], tuple(words[-2:])
    if words[0] in _REFERENCE_PREFIXES and len(words) > 1 and last in ("secret", "key"):
        return "reference"
    if last in _CREDENTIAL_WORDS or pair in _CREDENTIAL_PAIRS:
        return "credential"
    return ""


def credential_shape(text: str) -> tuple[str, str] | None:
    """(what, matched text) when `text` contains something shaped like a credential."""
    if len(text) < _SHORTEST_SHAPE and "://" not in text:
        return None
    for match in _SHAPE.finditer(text):
        group = match.lastgroup or ""
        if group == _BASE64_PEM and not _decodes_to_private_key(match[0]):
            continue
        return _SHAPE_NAMES[group], match[0]
    return None


def _decodes_to_private_key(encoded: str) -> bool:
    head = re.sub(r"\s", "", encoded)[:64]
    try:
        decoded = base64.b64decode(head[: len(head) // 4 * 4], validate=True)
    except (binascii.Error, ValueError):
        return False
    return b"PRIVATE KEY" in decoded


def _literal(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, (int, float))


def _dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{shown(part)}" if text else shown(part))
    return text or "(top level)"


def find_secrets(data: Any) -> list[Secret]:
    """Every secret-looking entry, without recursion (nesting is bounded by the loader)."""
    found: list[Secret] = []
    # (node, loc, under a credential key)
    stack: list[tuple[Any, Loc, bool]] = [(data, (), False)]
    seen: set[int] = set()

    def flag(loc: Loc, message: str, value: Any, *more: str) -> None:
        text = value if isinstance(value, str) else str(value)
        found.append(Secret(loc, message, (text, *more)))

    while stack:
        node, loc, sensitive = stack.pop()
        if isinstance(node, dict):
            if id(node) in seen:  # aliases share objects; check each once
                continue
            seen.add(id(node))
            paired = _env_pair(node)
            for key, value in node.items():
                child = loc + (key,)
                shape = credential_shape(key)
                if shape:
                    flag(child, f"{_dotted(child)}: this key looks like {shape[0]}; {HOW_TO}", key, shape[1])
                kind = key_kind(key)
                literal = _literal(value)
                if literal and (kind == "credential" or (sensitive and key in _VALUE_KEYS) or key == paired):
                    shape = credential_shape(value) if isinstance(value, str) else None
                    flag(child, f"{_dotted(child)}: '{shown(key)}' holds what looks like a credential; {HOW_TO}",
                         value, *(shape[1:] if shape else ()))
                elif literal and kind == "reference" and not (isinstance(value, str) and _REFERENCE_NAME.fullmatch(value)
                                                            and not credential_shape(value)):
                    flag(child, f"{_dotted(child)}: '{shown(key)}' should name a secret, but holds a literal value "
                                f"that looks like a credential; {HOW_TO}", value)
                else:
                    stack.append((value, child, sensitive or kind == "credential"))
        elif isinstance(node, list):
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.extend((item, loc + (index,), sensitive) for index, item in enumerate(node))
        elif isinstance(node, str):
            shape = credential_shape(node)
            if shape:
                flag(loc, f"{_dotted(loc)}: this value looks like {shape[0]}; {HOW_TO}", node, shape[1])
    if found:  # a path can pass through a key that is itself a secret
        redact = Redactor([value for secret in found for value in secret.values])
        found = [Secret(s.loc, redact(s.message), s.values) for s in found]
    return sorted(found, key=lambda s: [str(p) for p in s.loc])


def _env_pair(node: dict) -> str | None:
    """'value' when the mapping is a `{name: DB_PASSWORD, value: ...}` pair whose name names a credential."""
    if "value" not in node:
        return None
    for name_key in _NAME_KEYS:
        name = node.get(name_key)
        if isinstance(name, str) and key_kind(name) == "credential":
            return "value"
    return None


class Redactor:
    """Replaces every flagged value in a message — whole, as `shown()` quotes it (escaped, cut at
    `QUOTE_LIMIT`) and the credential inside it — by `[redacted]`. The one helper every message of a
    file goes through, whatever rule wrote it."""

    def __init__(self, values: list[str] | tuple[str, ...]):
        forms: set[str] = set()
        for value in values:
            for form in (value, shown(value, 4 * len(value) + 4), shown(value)):
                if form.endswith("…") and len(value) >= QUOTE_LIMIT - 1:
                    form = form[:-1]
                if form:
                    forms.add(form)
        long_forms = sorted((f for f in forms if len(f) >= 4), key=len, reverse=True)
        # A very short secret is only redacted where quoted: replacing every "a" would ruin any message.
        short_forms = sorted((f for f in forms if len(f) < 4), key=len, reverse=True)
        parts = [rf"(?<![A-Za-z0-9]){re.escape(f)}(?![A-Za-z0-9])" for f in long_forms]
        parts += [rf"(?<=['\"]){re.escape(f)}(?=['\"])" for f in short_forms]
        self._pattern = re.compile("|".join(parts)) if parts else None

    def __call__(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern is not None else text


def public_url(url: str) -> str:
    """`url` without its user:password part: a mirror or repository URL may carry credentials, which no
    message, log line or install manifest may repeat."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
