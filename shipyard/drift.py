"""What counts as live drift of a Kubernetes object: every field Shipyard set that is gone or different.

Compared: the inputs recorded at the last deployment against the object as it is now. Maps (labels,
annotations, spec) only matter for the keys Shipyard set, so fields the API server or controllers
add (defaults, `kubernetes.io/metadata.name`, status) never raise an alarm. Lists Shipyard set
(subjects, ports, policy types, limits) must keep their length, and each item must still carry what
Shipyard put in it. Quantities compare by value (`0.5` and `500m` are the same CPU).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")
_SUFFIX = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
           "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
           "P": Decimal("1e15"), "E": Decimal("1e18"), "Ki": Decimal(2**10), "Mi": Decimal(2**20),
           "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50), "Ei": Decimal(2**60)}
# Bookkeeping the provider keeps in its inputs, not fields of the object.
_IGNORED_TOP = {"__fieldManager", "__initialApiVersion", "__inputs", "status"}


def _quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value)
    if not match:
        return None
    try:
        number, suffix = Decimal(match[1]), match[2] or ""
        if suffix[:1] in "eE" and suffix:
            return number * (Decimal(10) ** int(suffix[1:]))
        return number * _SUFFIX[suffix]
    except (InvalidOperation, KeyError, ValueError):
        return None


def _same_scalar(desired: Any, live: Any) -> bool:
    if desired == live:
        return True
    if isinstance(desired, bool) or isinstance(live, bool):
        return False
    a, b = _quantity(desired), _quantity(live)
    return a is not None and a == b


Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """`('spec', 'ports', 0, 'port')` -> `spec.ports[0].port`, as Pulumi prints property paths."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def live_differences(desired: Any, live: Any) -> list[str]:
    """Property paths (`spec.hard.pods`, `subjects`) where `live` no longer has what `desired` set."""
    return [format_path(p) for p in drifted_paths(desired, live)]


def drifted_paths(desired: Any, live: Any, path: Path = ()) -> list[Path]:
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [path]
        out: list[Path] = []
        for key, value in desired.items():
            if not path and key in _IGNORED_TOP:
                continue
            if key not in live:
                if value not in (None, {}, []):
                    out.append(path + (key,))
                continue
            out.extend(drifted_paths(value, live[key], path + (key,)))
        return out
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return [path]
        out = []
        for index, (want, have) in enumerate(zip(desired, live)):
            out.extend(drifted_paths(want, have, path + (index,)))
        return out
    return [] if _same_scalar(desired, live) else [path]


def repair_patch(desired: dict[str, Any], paths: list[Path]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) putting back what Shipyard set at `paths`: maps merge (other keys
    stay), lists are replaced whole (items added out of band go)."""
    patch: dict[str, Any] = {}
    for path in paths:
        keys: list[str] = []
        for part in path:
            if isinstance(part, int):
                break
            keys.append(part)
        value: Any = desired
        for key in keys:
            value = value[key]
        target = patch
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        if keys:
            target[keys[-1]] = value
    return patch
