"""A YAML loader that keeps the position of every key and fails fast on hostile input.

Why not `yaml.safe_load`: it forgets positions, silently keeps the last of two
duplicate keys, expands alias bombs into gigabytes and recurses on deep nesting.
Why not ruamel.yaml: its pure-Python parser is ~20x slower than libyaml, and
`shipyard validate` has to check a thousand files in under a second.

So we drive libyaml's C *event* parser ourselves and build the data with an
explicit stack: no recursion (deep nesting is a clean error, not a crash), every
alias is charged the full size of what it expands to (an alias bomb is rejected
before anything is expanded), and every mapping key and sequence item records
its 1-based line and column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import Diagnostic

MAX_BYTES = 256 * 1024
"""Stack files are a few hundred lines; anything bigger is a mistake or an attack."""
MAX_DEPTH = 40
"""Deepest nesting of mappings/sequences (Helm values rarely pass 10)."""
MAX_NODES = 50_000
"""Nodes after alias expansion: what a consumer would have to walk."""

try:  # libyaml is in every PyYAML wheel; the pure parser is only a slow fallback.
    _Parser: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Parser = yaml.SafeLoader

_RESOLVER = yaml.resolver.Resolver()
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_SCALAR_BUILDERS = {
    "tag:yaml.org,2002:null": lambda node: None,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    # Dates stay strings: no stack-file field is a date, and a str is what a user wrote.
    "tag:yaml.org,2002:timestamp": lambda node: node.value,
    _STR: lambda node: node.value,
}
_ALLOWED_EXPLICIT_TAGS = frozenset(_SCALAR_BUILDERS) | {"!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    line: int
    col: int


@dataclass
class YamlDocument:
    """Parsed data plus the position of every key (for mappings) and item (for sequences)."""

    path: str
    data: Any
    positions: dict[Loc, Mark] = field(default_factory=dict)

    def mark(self, loc: Loc) -> Mark:
        """Position of `loc`, or of its nearest recorded ancestor (aliased content has none of its own)."""
        while loc:
            found = self.positions.get(loc)
            if found is not None:
                return found
            loc = loc[:-1]
        return self.positions.get((), Mark(1, 1))


class YamlError(Exception):
    """The file is not loadable YAML; carries every problem found (duplicate keys can be several)."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("; ".join(d.as_text() for d in diagnostics))


def _mark(event_mark: Any) -> Mark:
    return Mark(event_mark.line + 1, event_mark.column + 1)


class _Container:
    __slots__ = ("value", "loc", "start", "pending_key", "key_mark", "duplicate", "first_seen", "weight", "anchor",
                 "depth")

    def __init__(self, value: Any, loc: Loc, start: Mark, anchor: str | None, depth: int):
        self.value = value
        self.loc = loc
        self.start = start
        self.pending_key: str | None = None
        self.key_mark: Mark | None = None
        self.duplicate = False
        self.first_seen: dict[str, Mark] = {}
        self.weight = 1
        self.anchor = anchor
        self.depth = depth


def load_text(text: str, display_path: str) -> YamlDocument:
    """Parse one YAML document. Raises `YamlError` with positions on any problem."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlError([Diagnostic(display_path, 1, 1, f"file is larger than {MAX_BYTES // 1024} KiB; "
                                    "a stack file should be a few hundred lines — split it or remove the bulk")])
    doc = YamlDocument(display_path, None)
    problems: list[Diagnostic] = []
    anchors: dict[str, tuple[Any, int]] = {}
    stack: list[_Container] = []
    total = 0
    documents = 0
    root_set = False

    def fail(mark: Mark, message: str) -> YamlError:
        return YamlError(problems + [Diagnostic(display_path, mark.line, mark.col, message)])

    def attach(value: Any, weight: int, mark: Mark, anchor: str | None) -> None:
        nonlocal root_set
        if anchor is not None:
            anchors[anchor] = (value, weight)
        if not stack:
            doc.data = value
            doc.positions[()] = mark
            root_set = True
            return
        parent = stack[-1]
        parent.weight += weight
        if isinstance(parent.value, list):
            loc = parent.loc + (len(parent.value),)
            doc.positions[loc] = mark
            parent.value.append(value)
            return
        if parent.pending_key is None:  # this value is a key
            if not isinstance(value, str):
                raise fail(mark, "mapping keys must be plain strings, not nested mappings or lists")
            first = parent.first_seen.get(value)
            parent.duplicate = first is not None
            if first is not None:
                problems.append(Diagnostic(display_path, mark.line, mark.col,
                                           f"duplicate key '{value}' (first defined on line {first.line}); "
                                           "keep one of them"))
            else:
                parent.first_seen[value] = mark
            parent.pending_key = value
            parent.key_mark = mark
            return
        if not parent.duplicate:  # the first occurrence wins; the duplicate is already reported
            doc.positions[parent.loc + (parent.pending_key,)] = parent.key_mark  # type: ignore[assignment]
            parent.value[parent.pending_key] = value
        parent.pending_key = None

    def child_loc() -> Loc:
        if not stack:
            return ()
        parent = stack[-1]
        if isinstance(parent.value, list):
            return parent.loc + (len(parent.value),)
        return parent.loc + ((parent.pending_key,) if parent.pending_key is not None else ("<key>",))

    try:
        for event in yaml.parse(text, Loader=_Parser):
            kind = type(event)
            if kind is yaml.ScalarEvent:
                mark = _mark(event.start_mark)
                is_key = bool(stack) and isinstance(stack[-1].value, dict) and stack[-1].pending_key is None
                tag = event.tag
                if tag is not None and tag not in _ALLOWED_EXPLICIT_TAGS:
                    raise fail(mark, f"YAML tag '{tag}' is not allowed in a stack file; remove it")
                if is_key:
                    value: Any = event.value  # keys are always strings: `on:` or `yes:` must not become True
                elif tag == "!" or event.style in ("'", '"', "|", ">") and tag is None:
                    value = event.value
                else:
                    if tag is None:
                        tag = _RESOLVER.resolve(yaml.ScalarNode, event.value, event.implicit)
                    node = yaml.ScalarNode(tag, event.value)
                    value = _SCALAR_BUILDERS[tag](node)
                total += 1
                attach(value, 1, mark, event.anchor)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                mark = _mark(event.start_mark)
                if event.tag is not None and event.tag not in _ALLOWED_EXPLICIT_TAGS:
                    raise fail(mark, f"YAML tag '{event.tag}' is not allowed in a stack file; remove it")
                depth = len(stack) + 1
                if depth > MAX_DEPTH:
                    raise fail(mark, f"nesting deeper than {MAX_DEPTH} levels; flatten this structure")
                if stack and isinstance(stack[-1].value, dict) and stack[-1].pending_key is None:
                    raise fail(mark, "mapping keys must be plain strings, not nested mappings or lists")
                container = _Container({} if kind is yaml.MappingStartEvent else [], child_loc(), mark,
                                       event.anchor, depth)
                stack.append(container)
                total += 1
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                done = stack.pop()
                if done.anchor is not None:
                    anchors[done.anchor] = (done.value, done.weight)
                attach(done.value, done.weight, done.start, None)
            elif kind is yaml.AliasEvent:
                mark = _mark(event.start_mark)
                if event.anchor not in anchors:
                    raise fail(mark, f"alias '*{event.anchor}' refers to an anchor that is not defined before it")
                value, weight = anchors[event.anchor]
                total += weight
                if total > MAX_NODES:
                    raise fail(mark, f"aliases expand to more than {MAX_NODES} values (an 'alias bomb'); "
                                     "write the values out instead of nesting aliases")
                attach(value, weight, mark, None)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise fail(_mark(event.start_mark),
                               "more than one YAML document ('---'); a stack file holds exactly one")
            if total > MAX_NODES:
                raise fail(_mark(event.start_mark), f"more than {MAX_NODES} values; a stack file should be small")
    except yaml.MarkedYAMLError as exc:
        where = exc.problem_mark or exc.context_mark
        mark = _mark(where) if where is not None else Mark(1, 1)
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        raise fail(mark, f"YAML syntax error: {problem}{context}") from None
    except yaml.YAMLError as exc:
        raise fail(Mark(1, 1), f"YAML error: {exc}") from None
    except RecursionError:  # pragma: no cover - the explicit stack makes this unreachable
        raise fail(Mark(1, 1), "nesting too deep") from None

    if problems:
        raise YamlError(problems)
    if not root_set or doc.data is None:
        raise YamlError([Diagnostic(display_path, 1, 1, "file is empty; a stack file starts with 'team:', "
                                    "'environment:', 'owners:' and 'cluster:' (see README, stack file reference)")])
    return doc


def load_file(path: Path, display_path: str) -> YamlDocument:
    """Read and parse a file, refusing oversized files before reading them."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise YamlError([Diagnostic(display_path, 1, 1, f"cannot read file: {exc.strerror}")]) from None
    if size > MAX_BYTES:
        raise YamlError([Diagnostic(display_path, 1, 1, f"file is {size // 1024} KiB, larger than the "
                                    f"{MAX_BYTES // 1024} KiB limit; a stack file should be a few hundred lines")])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise YamlError([Diagnostic(display_path, 1, 1, f"file is not UTF-8 text ({exc.reason})")]) from None
    return load_text(text, display_path)
