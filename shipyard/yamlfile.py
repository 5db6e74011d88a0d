"""A YAML loader that keeps the position of every key and fails fast on hostile input.

Why not `yaml.safe_load`: it forgets positions, silently keeps the last of two
duplicate keys, expands alias bombs into gigabytes and recurses on deep nesting.
Why not ruamel.yaml: its pure-Python parser is ~20x slower than libyaml, and
`shipyard validate` has to check a thousand files in under a second.

So libyaml's C composer builds the node graph (aliases stay shared nodes, nothing
is expanded), and we walk it with explicit stacks: the size an alias bomb *would*
expand to is measured with memoised node weights and refused, nesting is bounded
before the composer recurses, every duplicate key is reported, and every mapping
key and sequence item records its 1-based line and column.
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
    _Base: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _Base = yaml.SafeLoader

_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers


class _Parser(_Base):  # type: ignore[misc, valid-type]
    """libyaml's composer with a leaner tag resolver: no path resolvers (unused here), and plain scalars
    resolved by the same first-character tables as PyYAML's, minus the per-node bookkeeping."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in _RESOLVERS.get(value[:1] if value else "", ()):
                    if regexp.match(value):
                        return tag
            return "tag:yaml.org,2002:str"
        return "tag:yaml.org,2002:seq" if kind is yaml.SequenceNode else "tag:yaml.org,2002:map"

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


@dataclass(frozen=True, slots=True)
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


def _flow_depth(text: str) -> int:
    """Deepest nesting of flow brackets, ignoring quoted strings and comments (a cheap, linear scan)."""
    depth = deepest = 0
    quote = ""
    comment = False
    for char in text:
        if comment:
            comment = char != "\n"
        elif quote:
            if char == quote:
                quote = ""
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(depth - 1, 0)
        elif char in "'\"":
            quote = char
        elif char == "#":
            comment = True
    return deepest


def load_text(text: str, display_path: str) -> YamlDocument:
    """Parse one YAML document. Raises `YamlError` with positions on any problem."""

    def fail(mark: Any, message: str, problems: list[Diagnostic] | None = None) -> YamlError:
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return YamlError((problems or []) + [Diagnostic(display_path, line, col, message)])

    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise fail(None, f"file is larger than {MAX_BYTES // 1024} KiB; a stack file should be a few hundred "
                         "lines — split it or remove the bulk")
    # libyaml parses without recursion but its composer recurses per level: bound flow nesting first
    # (block nesting is bounded by the size limit, since each level costs a line of indentation).
    if text.count("[") + text.count("{") > MAX_DEPTH and _flow_depth(text) > MAX_DEPTH:
        raise fail(None, f"nesting deeper than {MAX_DEPTH} levels; flatten this structure")
    loader = _Parser(text)
    try:
        root = loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        if "expected a single document" in str(exc):
            raise fail(exc.problem_mark, "more than one YAML document ('---'); a stack file holds exactly one") \
                from None
        raise fail(exc.problem_mark or exc.context_mark, f"YAML error: {exc.problem}") from None
    except yaml.MarkedYAMLError as exc:
        context = f" ({exc.context})" if exc.context else ""
        raise fail(exc.problem_mark or exc.context_mark,
                   f"YAML syntax error: {exc.problem or 'invalid YAML'}{context}") from None
    except yaml.YAMLError as exc:
        raise fail(None, f"YAML error: {exc}") from None
    finally:
        loader.dispose()
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag.endswith(":null")):
        raise fail(None, "file is empty; a stack file starts with 'team:', 'environment:', 'owners:' and "
                         "'cluster:' (see README, stack file reference)")
    if "&" in text:  # without an anchor there is no alias, and nothing can expand
        _check_size(root, fail)
    return _construct(root, display_path, fail)


def _check_size(root: yaml.Node, fail: Any) -> None:
    """Refuse what would expand past MAX_NODES or nest past MAX_DEPTH, without expanding anything.

    Aliases share node objects, so sizes are memoised per node: an alias bomb costs a few hundred
    steps to measure, not billions to expand."""
    weight: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, expanded = stack.pop()
        if id(node) in weight:
            continue
        if isinstance(node, yaml.ScalarNode):
            weight[id(node)] = 1
            continue
        if depth > MAX_DEPTH:
            raise fail(node.start_mark, f"nesting deeper than {MAX_DEPTH} levels; flatten this structure")
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        if expanded:
            weight[id(node)] = 1 + sum(weight[id(c)] for c in children)
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in weight)
    if weight[id(root)] > MAX_NODES:
        node = root  # point at the deepest node that alone expands past the limit
        while not isinstance(node, yaml.ScalarNode):
            children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
            big = [c for c in children if weight[id(c)] > MAX_NODES]
            if not big:
                break
            node = big[0]
        raise fail(node.start_mark, f"aliases expand to more than {MAX_NODES} values (an 'alias bomb'); write "
                                    "the values out instead of nesting aliases")


def _construct(root: yaml.Node, display_path: str, fail: Any) -> YamlDocument:
    """Build plain data from the node graph, recording positions and every duplicate key."""
    doc = YamlDocument(display_path, None)
    problems: list[Diagnostic] = []
    built: dict[int, Any] = {}  # aliased nodes are built once and shared, like PyYAML does
    positions = doc.positions
    positions[()] = Mark(root.start_mark.line + 1, root.start_mark.column + 1)

    def scalar(node: yaml.ScalarNode) -> Any:
        tag = node.tag
        if tag not in _SCALAR_BUILDERS:
            raise fail(node.start_mark, f"YAML tag '{tag}' is not allowed in a stack file; remove it", problems)
        return _SCALAR_BUILDERS[tag](node)

    def container(node: yaml.Node) -> Any:
        if node.tag not in _ALLOWED_EXPLICIT_TAGS:
            raise fail(node.start_mark, f"YAML tag '{node.tag}' is not allowed in a stack file; remove it", problems)
        return {} if isinstance(node, yaml.MappingNode) else []

    if isinstance(root, yaml.ScalarNode):
        doc.data = scalar(root)
        return doc
    doc.data = built[id(root)] = container(root)
    pending: list[tuple[yaml.Node, Loc]] = [(root, ())]
    while pending:
        node, loc = pending.pop()
        if len(loc) >= MAX_DEPTH:
            raise fail(node.start_mark, f"nesting deeper than {MAX_DEPTH} levels; flatten this structure", problems)
        target = built[id(node)]
        if isinstance(node, yaml.MappingNode):
            first_seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise fail(key_node.start_mark, "mapping keys must be plain strings, not nested mappings or "
                                                    "lists", problems)
                key = key_node.value  # always a string: `on:` or `yes:` must not become True
                mark = key_node.start_mark
                if key in first_seen:
                    problems.append(Diagnostic(display_path, mark.line + 1, mark.column + 1,
                                               f"duplicate key '{key}' (first defined on line {first_seen[key]}); "
                                               "keep one of them"))
                    continue
                first_seen[key] = mark.line + 1
                child_loc = loc + (key,)
                positions[child_loc] = Mark(mark.line + 1, mark.column + 1)
                target[key] = _child(value_node, child_loc, built, pending, scalar, container)
        else:
            for index, item in enumerate(node.value):
                child_loc = loc + (index,)
                positions[child_loc] = Mark(item.start_mark.line + 1, item.start_mark.column + 1)
                target.append(_child(item, child_loc, built, pending, scalar, container))
    if problems:
        raise YamlError(problems)
    return doc


def _child(node: yaml.Node, loc: Loc, built: dict[int, Any], pending: list, scalar: Any, container: Any) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return scalar(node)
    if id(node) not in built:
        built[id(node)] = container(node)
        pending.append((node, loc))
    return built[id(node)]


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
