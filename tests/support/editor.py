"""What an editor makes of a stack file: the yaml-language-server's reading of the YAML, then the committed
JSON Schema, checked with ECMAScript's regular expressions. For the parity test (test_editor_parity.py).

Written apart from `shipyard.yamlfile` on purpose, so a bug there cannot hide in both sides. It follows what
the language server (the `yaml` npm package it parses with, YAML 1.2 core schema) was seen to do, and
`tests/lsp/test_language_server.py` holds the two to each other on real files:

- scalars by the YAML 1.2 core schema (`yes` is a string, `012` is 12, `1e3` is 1000.0);
- explicit tags by the same rules (`!!float 1` is an "Unresolved tag" error); `!!timestamp` must be a
  date and stays text; `!!binary`, `!!set`, `!!omap`, `!!pairs` are known; any other tag is an error;
- duplicate keys and syntax errors are errors; merge keys (`<<`) are applied, not reported;
- a mapping key is the text of what it resolves to (`0x10:` is "16", `true:` is "true"), and a key that
  resolves to null is skipped;
- an empty document (or only comments) is not validated; every document of a stream is.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
import yaml

_TAG = "tag:yaml.org,2002:"
_NULL = re.compile(r"(?:~|[Nn]ull|NULL)?")
_BOOL = re.compile(r"[Tt]rue|TRUE|[Ff]alse|FALSE")
_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT_SPECIAL = re.compile(r"[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN")
_FLOAT_EXP = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)")
_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:t|T|[ \t]+)([0-9]{1,2}):([0-9]{1,2}):"
                        r"([0-9]{1,2}(\.[0-9]+)?)(?:[ \t]*(Z|[-+][012]?[0-9](?::[0-9]{2})?))?)?")


class EditorError(Exception):
    """What the editor's YAML parser reports: the file is red whatever the schema says."""


def _special(text: str) -> float:
    return math.nan if text[-3:].lower() == "nan" else (-math.inf if text[0] == "-" else math.inf)


def _resolve(text: str) -> Any:
    """A plain scalar by the YAML 1.2 core schema, in the order the `yaml` package tests its tags."""
    if _NULL.fullmatch(text):
        return None
    if _BOOL.fullmatch(text):
        return text[0] in "tT"
    if _OCT.fullmatch(text):
        return int(text[2:], 8)
    if _INT.fullmatch(text):
        return int(text)
    if _HEX.fullmatch(text):
        return int(text[2:], 16)
    if _FLOAT_SPECIAL.fullmatch(text):
        return _special(text)
    if _FLOAT_EXP.fullmatch(text) or _FLOAT.fullmatch(text):
        return float(text)
    return text


def _tagged(text: str, tag: str) -> Any:
    kind = tag[len(_TAG):] if tag.startswith(_TAG) else None
    tests = {"null": [_NULL], "bool": [_BOOL], "int": [_OCT, _INT, _HEX], "float": [_FLOAT_SPECIAL, _FLOAT_EXP, _FLOAT]}
    if kind == "str":
        return text
    if kind in tests:
        if not any(t.fullmatch(text) for t in tests[kind]):
            raise EditorError(f"Unresolved tag: {tag}")
        value = _resolve(text)
        return float(value) if kind == "float" and isinstance(value, int) else value
    if kind == "timestamp":
        if not _TIMESTAMP.fullmatch(text):
            raise EditorError("!!timestamp expects a date, starting with yyyy-mm-dd")
        return text
    if kind == "binary":
        return text
    raise EditorError(f"Unresolved tag: {tag}")


def _key_text(value: Any) -> str | None:
    """A mapping key as the language server names it: the text of its value (as JavaScript prints it)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)


@dataclass
class _Node:
    value: Any


class _Reader:
    """Composes the events libyaml parses into plain data the way the language server reads them."""

    def __init__(self, text: str):
        self.events = yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        self.anchors: dict[str, Any] = {}

    def documents(self) -> list[Any]:
        """Every document's data; an empty one (nothing but comments, or `---` alone) is left out."""
        docs = []
        for event in self.events:
            if isinstance(event, yaml.DocumentStartEvent):
                if getattr(event, "version", None) and tuple(event.version) != (1, 2):
                    raise _Version(tuple(event.version))
                root = next(self.events)
                empty = isinstance(root, yaml.ScalarEvent) and root.value == "" and root.style in (None, "") \
                    and root.tag is None and root.anchor is None
                data = self._node(root)
                if not empty:
                    docs.append(data)
        return docs

    def _node(self, event: Any) -> Any:
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.anchors:
                raise EditorError(f"Unresolved alias {event.anchor}")
            return self.anchors[event.anchor]
        if isinstance(event, yaml.ScalarEvent):
            plain = event.style in (None, "")
            if event.tag in (None, "!"):
                value = _resolve(event.value) if plain and event.tag is None else event.value
            else:
                value = _tagged(event.value, event.tag)
        elif isinstance(event, yaml.SequenceStartEvent):
            if event.tag not in (None, "!", _TAG + "seq", _TAG + "omap", _TAG + "pairs"):
                raise EditorError(f"Unresolved tag: {event.tag}")
            value = []
            if event.anchor:
                self.anchors[event.anchor] = value
            for item in self.events:
                if isinstance(item, yaml.SequenceEndEvent):
                    break
                value.append(self._node(item))
        elif isinstance(event, yaml.MappingStartEvent):
            if event.tag not in (None, "!", _TAG + "map", _TAG + "set"):
                raise EditorError(f"Unresolved tag: {event.tag}")
            value = self._mapping(event)
        else:  # pragma: no cover
            raise EditorError(f"unexpected {event}")
        if event.anchor:
            self.anchors[event.anchor] = value
        return value

    def _mapping(self, start: Any) -> dict[str, Any]:
        value: dict[str, Any] = {}
        if start.anchor:
            self.anchors[start.anchor] = value
        merges: list[Any] = []
        seen: set[Any] = set()
        for item in self.events:
            if isinstance(item, yaml.MappingEndEvent):
                break
            if isinstance(item, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                key_value = self._node(item)  # a complex key: the server names it by its text; never a stack key
                key: str | None = repr(key_value)
            else:
                raw = self._node(item)
                key = "<<" if (isinstance(item, yaml.ScalarEvent) and item.value == "<<" and item.style in (None, "")
                               and item.tag is None) else _key_text(raw)
            child = self._node(next(self.events))
            if key in seen:
                raise EditorError("Map keys must be unique")
            seen.add(key)
            if key == "<<":
                merges.append(child)
            elif key is not None:
                value[key] = child
        for merged in merges:  # explicit keys win; other merge values are ignored, as the server does
            for source in (merged if isinstance(merged, list) else [merged]):
                if isinstance(source, dict):
                    for k, v in source.items():
                        value.setdefault(k, v)
        return value


class _Version(Exception):
    def __init__(self, version: tuple[int, ...]):
        self.version = version


def read(text: str) -> list[Any]:
    """The documents the editor validates (empty ones left out). Raises `EditorError` when it reports a
    YAML problem itself."""
    try:
        return _Reader(text).documents()
    except _Version:  # `%YAML 1.1`: the server reads the file as YAML 1.1, as PyYAML does
        try:
            return [doc for doc in yaml.safe_load_all(text) if doc is not None]
        except yaml.YAMLError as exc:
            raise EditorError(f"YAML syntax error: {exc}") from None
    except yaml.YAMLError as exc:
        raise EditorError(f"YAML syntax error: {exc}") from None
    except RecursionError:
        raise EditorError("nesting too deep") from None


# -- the schema, with ECMAScript's regular expressions -----------------------------------------------
_CACHE: dict[str, re.Pattern[str]] = {}


def ecmascript(pattern: str) -> re.Pattern[str]:
    """`pattern` compiled to mean what it means in ECMAScript: there `$` (without the m flag) matches only at
    the very end, where Python's also matches before a final newline."""
    compiled = _CACHE.get(pattern)
    if compiled is None:
        out, escaped, in_class = [], False, False
        for char in pattern:
            if escaped:
                out.append(char)
                escaped = False
            elif char == "\\":
                out.append(char)
                escaped = True
            elif char == "[":
                in_class = True
                out.append(char)
            elif char == "]":
                in_class = False
                out.append(char)
            elif char == "$" and not in_class:
                out.append(r"\Z")
            else:
                out.append(char)
        compiled = _CACHE[pattern] = re.compile("".join(out))
    return compiled


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]):
    if validator.is_type(instance, "string") and not ecmascript(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


EditorValidator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})


def problems(text: str, validator: Any) -> list[str]:
    """What the editor reports for `text` (empty: green)."""
    try:
        docs = read(text)
    except EditorError as exc:
        return [str(exc)]
    out = []
    for doc in docs:
        for error in validator.iter_errors(doc):
            where = "/".join(str(p) for p in error.absolute_path)
            out.append(f"{where}: {error.message[:200]}")
    return out
