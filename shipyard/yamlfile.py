"""A YAML loader that keeps the position of every key and fails fast on hostile input.

Why not `yaml.safe_load`: it forgets positions, silently keeps the last of two
duplicate keys, expands alias bombs into gigabytes, and its composer recurses once
per nesting level (libyaml's C composer segfaults on a block sequence nested
40,000 deep). Why not ruamel.yaml: its pure-Python parser is ~20x slower than
libyaml, and `shipyard validate` has to check a thousand files in under a second.

So libyaml only *parses* (its parser is a state machine, no recursion) and this
module composes the data from its events with an explicit stack. Every limit is
checked on the event that would exceed it, before anything deeper is built:
nesting depth (block and flow alike), and what aliases would expand to — in depth
(an anchor reused deeper down), in values and in characters — measured from
memoised sizes of anchored content, never by expanding it.

One YAML: scalars are read by the YAML 1.2 core schema, exactly as editors (the
yaml-language-server) read them, so the editor and `shipyard validate` never disagree
about what a file says: `yes` is a string, `012` is 12. Explicit tags follow the same
rules (`!!float 1` is not a float in YAML 1.2), and a `%YAML 1.1` directive is refused.
Where no type will catch a surprise — Helm values, which charts document for YAML 1.1
readers — the caller marks the locations `untyped`, and there a plain scalar that YAML
1.1 reads differently (`yes`, `on`, `0644`, `1:30`...) is an error asking to quote it or
write it unambiguously. Mapping keys always stay strings.
"""

from __future__ import annotations

import errno
import math
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from shipyard.errors import Diagnostic, shown

MAX_BYTES = 256 * 1024
"""Stack files are a few hundred lines; anything bigger is a mistake or an attack."""
MAX_DEPTH = 40
"""Deepest nesting of mappings/sequences, aliases expanded (Helm values rarely pass 10)."""
MAX_NODES = 50_000
"""Values after alias expansion: what a consumer would have to walk."""
MAX_EXPANDED_CHARS = 4 * MAX_BYTES
"""Characters of keys and scalars after alias expansion: what a consumer would have to copy or print."""

try:  # libyaml is in every PyYAML wheel; the pure parser is only a slow fallback.
    from yaml._yaml import CParser as _EventParser
except ImportError:  # pragma: no cover
    _EventParser = yaml.SafeLoader

Loc = tuple[str | int, ...]

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = frozenset(_TAG + t for t in ("str", "int", "float", "bool", "null", "timestamp"))
_COLLECTION_TAGS = {yaml.MappingStartEvent: _TAG + "map", yaml.SequenceStartEvent: _TAG + "seq"}

# --- YAML 1.2 core schema (what editors read) -----------------------------------------------------
_CORE_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_CORE_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_CORE_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_CORE_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
# An explicit !!float must look like one (editors refuse `!!float 1`), unlike a plain scalar's float.
_CORE_FLOAT_FORM = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+"
                              r"|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN")
# What an explicit !!timestamp must look like (the editors' reading; the value stays a string here).
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:t|T|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(?:\.[0-9]+)?"
                        r"(?:[ \t]*(?:Z|[-+][012]?[0-9](?::[0-9]{2})?))?)?")
_CORE_SPECIAL_FLOAT = {".inf": math.inf, ".Inf": math.inf, ".INF": math.inf, "+.inf": math.inf, "+.Inf": math.inf,
                       "+.INF": math.inf, "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
                       ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan}
# Only plain scalars starting with one of these can be anything but a string in either YAML version.
_MAYBE_TYPED = frozenset("0123456789+-.~nNtTfFyYoO<=")

# --- YAML 1.1 (PyYAML's resolver, plus the spec's y/n booleans PyYAML leaves out) ------------------
_V11_RESOLVERS = yaml.resolver.Resolver.yaml_implicit_resolvers
_V11_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_V11_BOOL = {"y": True, "Y": True, "n": False, "N": False}
_V11_BUILD = {
    _TAG + "null": lambda value: None,
    _TAG + "bool": lambda value: _V11_BOOL.get(value, _V11_CONSTRUCTOR.bool_values.get(value.lower())),
    _TAG + "int": lambda value: _V11_CONSTRUCTOR.construct_yaml_int(yaml.ScalarNode(_TAG + "int", value)),
    _TAG + "float": lambda value: _V11_CONSTRUCTOR.construct_yaml_float(yaml.ScalarNode(_TAG + "float", value)),
}


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
    """The file is not loadable YAML; carries every problem found (duplicate keys can be several).

    `document` is the data as far as it could be read when only values were at fault (a bad tag, an
    ambiguous scalar, a duplicate key): callers still look for secrets in it, so a message never repeats
    one. None when the structure itself could not be read. `locs` says which value each diagnostic is
    about, so a caller can withhold a message about a value it found to be a secret."""

    def __init__(self, diagnostics: list[Diagnostic], document: YamlDocument | None = None,
                 locs: list[Loc | None] | None = None):
        self.diagnostics = diagnostics
        self.document = document
        self.locs = locs or [None] * len(diagnostics)
        """Per diagnostic, the location of the value it judges (None for structural problems)."""
        super().__init__("; ".join(d.as_text() for d in diagnostics))


class _Stop(Exception):
    """Internal: a structural problem; composing cannot go on."""

    def __init__(self, mark: Any, message: str):
        self.mark = mark
        self.message = message


def _core(value: str) -> Any:
    """A plain scalar by the YAML 1.2 core schema."""
    if value in _CORE_NULL:
        return None
    if value in _CORE_BOOL:
        return _CORE_BOOL[value]
    if _CORE_INT.fullmatch(value):
        if value[:2] == "0o":
            return int(value[2:], 8)
        return int(value, 16) if value[:2] == "0x" else int(value)
    if _CORE_FLOAT.fullmatch(value):
        return float(value)
    return _CORE_SPECIAL_FLOAT.get(value, value)


def _v11(value: str, tag: str | None = None) -> Any:
    """What YAML 1.1 makes of a scalar: implicitly (tag None) or with an explicit tag. Dates stay strings
    (no stack-file field is a date); a value 1.1 cannot build returns the marker `_V11_INVALID`."""
    if tag is None:
        if value in _V11_BOOL:
            return _V11_BOOL[value]
        for candidate, regexp in _V11_RESOLVERS.get(value[:1], ()):
            if regexp.match(value):
                tag = candidate
                break
        else:
            return value
    build = _V11_BUILD.get(tag)
    if build is None:  # str, timestamp, and 1.1's own merge ('<<') and value ('=') keys
        return value if tag in _SCALAR_TAGS else _V11_INVALID
    try:
        return build(value)
    except (ValueError, KeyError, TypeError):
        return _V11_INVALID


_V11_INVALID = object()


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    return a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))


def _what(value: Any) -> str:
    if value is _V11_INVALID:
        return "an error"
    if isinstance(value, str):
        return f"the string \"{shown(value)}\""
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    return "null" if value is None else f"the number {value}"


_LONE_CR = re.compile(r"\r(?!\n)")

_MAX_NUMBER_CHARS = 100
"""Longer numerals are refused before conversion: Python refuses ints over 4,300 digits (with a ValueError
that would be a traceback), and no stack-file number comes near this."""


def _scalar(value: str, tag: str | None, plain: bool) -> tuple[Any, str | None, str | None]:
    """(Python value, problem, ambiguity) of a scalar: its YAML 1.2 core value, why it is refused if it is,
    and, for a value YAML 1.1 reads differently, what to say where that matters (see `untyped`)."""
    if (plain or tag not in (None, "!", _TAG + "str")) and len(value) > _MAX_NUMBER_CHARS \
            and (_CORE_INT.fullmatch(value) or _CORE_FLOAT.fullmatch(value)):
        return value, (f"a number {len(value)} characters long cannot be a stack-file value; quote it "
                       f"(\"{shown(value)}\") if you mean text"), None
    if tag is None or tag == "!":
        if not plain or tag == "!":
            return value, None, None
        if value[:1] not in _MAYBE_TYPED:
            return (value, None, None) if value else (None, None, None)
        core = _core(value)
        old = _v11(value)
        if _same(core, old):
            return core, None, None
        return core, None, (f"'{shown(value)}' is {_what(old)} in YAML 1.1 but {_what(core)} in YAML 1.2 (what "
                            "Shipyard and editors read); Helm values are often written for YAML 1.1, so quote it "
                            f"(\"{shown(value)}\") if you mean text, or write it unambiguously")
    if tag not in _SCALAR_TAGS:
        return value, f"YAML tag '{shown(tag)}' is not allowed in a stack file; remove it", None
    kind = tag[len(_TAG):]
    if kind == "str":
        return value, None, None
    if kind == "timestamp":  # dates stay strings: no stack-file field is a date
        if _TIMESTAMP.fullmatch(value):
            return value, None, None
        return value, f"'{shown(value)}' is not a valid !!timestamp (yyyy-mm-dd); remove the tag or fix the value", None
    core = _core(value)
    if kind == "float" and _CORE_FLOAT_FORM.fullmatch(value):
        core = float(core)
    expected = {"int": int, "float": float, "bool": bool, "null": type(None)}[kind]
    if type(core) is not expected:
        return value, f"'{shown(value)}' is not a valid !!{kind}; remove the tag or fix the value", None
    old = _v11(value, tag)
    if _same(core, old):
        return core, None, None
    return core, None, (f"'{shown(value)}' tagged !!{kind} is {_what(old)} in YAML 1.1 but {_what(core)} in YAML 1.2; "
                        "write it unambiguously")


class _Frame:
    """An open mapping or sequence while composing: what it holds so far and what it would expand to."""

    __slots__ = ("target", "loc", "is_map", "key", "key_mark", "anchor", "mark", "nodes", "chars", "height")

    def __init__(self, target: Any, loc: Loc, is_map: bool, anchor: str | None, mark: Any):
        self.target = target
        self.loc = loc
        self.is_map = is_map
        self.key: str | None = None
        self.key_mark: Any = None
        self.anchor = anchor
        self.mark = mark
        self.nodes = 1
        self.chars = 0
        self.height = 1


Untyped = Callable[[Loc], bool]
"""Says which locations hold untyped data (Helm values): there a value YAML 1.1 reads differently is refused."""


def load_text(text: str, display_path: str, untyped: Untyped | None = None) -> YamlDocument:
    """Parse one YAML document. Raises `YamlError` with positions on any problem."""
    problems: list[Diagnostic] = []
    problem_locs: list[Loc | None] = []

    def located(mark: Any, message: str) -> Diagnostic:
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        return Diagnostic(display_path, line, col, message)

    def fail(mark: Any, message: str) -> YamlError:
        return YamlError(problems + [located(mark, message)], None, problem_locs + [None])

    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise fail(None, f"file is larger than {MAX_BYTES // 1024} KiB; a stack file should be a few hundred "
                         "lines — split it or remove the bulk")
    lone = _LONE_CR.search(text)
    if lone is not None:  # YAML calls it a line break, the editors' parser does not: they would read two files
        line = text.count("\n", 0, lone.start()) + 1
        raise YamlError([Diagnostic(display_path, line, lone.start() - text.rfind("\n", 0, lone.start()),
                                    "a carriage return without a line feed: YAML parsers disagree on whether it "
                                    "ends a line; save the file with \\n (or \\r\\n) line endings")])
    parser = _EventParser(text)
    try:
        doc = _compose(parser, display_path, problems, problem_locs, located, untyped)
    except _Stop as stop:
        raise fail(stop.mark, stop.message) from None
    except yaml.MarkedYAMLError as exc:
        context = f" ({exc.context})" if exc.context else ""
        raise fail(exc.problem_mark or exc.context_mark,
                   f"YAML syntax error: {exc.problem or 'invalid YAML'}{context}") from None
    except yaml.reader.ReaderError as exc:
        before = text[:exc.position]
        line, col = before.count("\n"), exc.position - (before.rfind("\n") + 1)
        raise YamlError(problems + [Diagnostic(display_path, line + 1, col + 1, f"YAML error: character "
                                               f"#x{exc.character:04x} is not allowed in YAML text; remove it")],
                        None, problem_locs + [None]) from None
    except yaml.YAMLError as exc:
        raise fail(None, f"YAML error: {shown(exc, 200)}") from None
    except UnicodeError:
        raise fail(None, "file is not UTF-8 text") from None
    finally:
        parser.dispose()
    if problems:
        raise YamlError(problems, doc, problem_locs)
    return doc


def _compose(parser: Any, display_path: str, problems: list[Diagnostic], problem_locs: list[Loc | None],
             located: Any, untyped: Untyped | None) -> YamlDocument:
    """Build plain data from the event stream with an explicit stack, recording positions, every duplicate
    key and every refused value, and refusing what nests or expands past the limits."""
    Scalar, Alias = yaml.ScalarEvent, yaml.AliasEvent
    MapStart, SeqStart = yaml.MappingStartEvent, yaml.SequenceStartEvent
    MapEnd, SeqEnd = yaml.MappingEndEvent, yaml.SequenceEndEvent
    DocStart, DocEnd, StreamEnd = yaml.DocumentStartEvent, yaml.DocumentEndEvent, yaml.StreamEndEvent

    doc = YamlDocument(display_path, None)
    positions = doc.positions
    # anchor -> (value, raw text of a scalar or None, nodes, chars, height): sizes of what an alias expands to
    anchors: dict[str, tuple[Any, str | None, int, int, int]] = {}
    open_anchors: set[str] = set()
    stack: list[_Frame] = []
    root_seen = documents = 0

    def add(value: Any, raw: str | None, nodes: int, chars: int, height: int, mark: Any) -> None:
        nonlocal root_seen
        if not stack:
            doc.data = value
            positions[()] = Mark(mark.line + 1, mark.column + 1)
            root_seen = 1
            return
        frame = stack[-1]
        if frame.is_map and frame.key is None:
            if raw is None:
                raise _Stop(mark, "mapping keys must be plain strings, not nested mappings or lists")
            frame.key, frame.key_mark = raw, mark
            frame.nodes += 1
            frame.chars += len(raw)
            return
        if frame.is_map:
            key = frame.key
            frame.key = None
            assert key is not None
            child_loc = frame.loc + (key,)
            if key in frame.target:
                first = positions[child_loc].line
                problem(frame.key_mark, f"duplicate key '{shown(key)}' (first defined on line {first}); keep one of "
                                        "them", child_loc)
            else:
                positions[child_loc] = Mark(frame.key_mark.line + 1, frame.key_mark.column + 1)
                frame.target[key] = value
        else:
            positions[frame.loc + (len(frame.target),)] = Mark(mark.line + 1, mark.column + 1)
            frame.target.append(value)
        frame.nodes += nodes
        frame.chars += chars
        if height >= frame.height:
            frame.height = height + 1

    def problem(mark: Any, message: str, loc: Loc | None) -> None:
        problems.append(located(mark, message))
        problem_locs.append(loc)

    def next_loc() -> Loc:
        """Where the value about to be added goes."""
        if not stack:
            return ()
        top = stack[-1]
        return top.loc + ((top.key,) if top.is_map else (len(top.target),))  # type: ignore[operator]

    def check_expansion(frame: _Frame, mark: Any) -> None:
        if frame.nodes > MAX_NODES:
            raise _Stop(mark, f"aliases expand to more than {MAX_NODES} values (an 'alias bomb'); write the values "
                              "out instead of nesting aliases")
        if frame.chars > MAX_EXPANDED_CHARS:
            raise _Stop(mark, f"aliases expand to more than {MAX_EXPANDED_CHARS // 1024} KiB of text; write the "
                              "values out instead of repeating large anchors")

    while True:
        event = parser.get_event()
        kind = event.__class__
        if kind is Scalar:
            raw = event.value
            plain = event.style == "" or event.style is None
            if stack and stack[-1].is_map and stack[-1].key is None:
                value = raw  # keys stay strings: `on:` or `yes:` must not become True
                key_loc = stack[-1].loc + (raw,)
                if event.tag is not None and event.tag != "!" and event.tag not in _SCALAR_TAGS:
                    problem(event.start_mark, f"YAML tag '{shown(event.tag)}' is not allowed in a stack file; remove "
                                              "it", key_loc)
                elif raw == "<<" and plain and event.tag is None:
                    problem(event.start_mark, "merge keys ('<<') exist only in YAML 1.1 (editors read YAML 1.2); "
                                              "write the keys out", key_loc)
            else:
                value, refused, ambiguity = _scalar(raw, event.tag, plain)
                if refused is None and ambiguity is not None and untyped is not None and untyped(next_loc()):
                    value, refused = raw, ambiguity
                if refused is not None:
                    problem(event.start_mark, refused, next_loc())
            if event.anchor is not None:
                anchors[event.anchor] = (value, raw, 1, len(raw), 0)
            add(value, raw, 1, len(raw), 0, event.start_mark)
        elif kind is MapStart or kind is SeqStart:
            if len(stack) >= MAX_DEPTH:
                raise _Stop(event.start_mark, f"nesting deeper than {MAX_DEPTH} levels; flatten this structure")
            if stack and stack[-1].is_map and stack[-1].key is None:
                raise _Stop(event.start_mark, "mapping keys must be plain strings, not nested mappings or lists")
            parent_loc = next_loc()
            if event.tag is not None and event.tag != "!" and event.tag != _COLLECTION_TAGS[kind]:
                problem(event.start_mark, f"YAML tag '{shown(event.tag)}' is not allowed in a stack file; remove it",
                        parent_loc)
            if event.anchor is not None:
                open_anchors.add(event.anchor)
            stack.append(_Frame({} if kind is MapStart else [], parent_loc, kind is MapStart, event.anchor,
                                event.start_mark))
        elif kind is MapEnd or kind is SeqEnd:
            frame = stack.pop()
            check_expansion(frame, frame.mark)
            if frame.anchor is not None:
                open_anchors.discard(frame.anchor)
                anchors[frame.anchor] = (frame.target, None, frame.nodes, frame.chars, frame.height)
            add(frame.target, None, frame.nodes, frame.chars, frame.height, frame.mark)
        elif kind is Alias:
            name = event.anchor
            if name not in anchors:
                reason = ("refers to a mapping or list that contains it (a cycle)" if name in open_anchors
                          else "is not defined above it")
                raise _Stop(event.start_mark, f"alias '*{shown(name)}' {reason}; write the value out")
            value, raw, nodes, chars, height = anchors[name]
            if len(stack) + height > MAX_DEPTH:
                raise _Stop(event.start_mark, f"alias '*{shown(name)}' nests deeper than {MAX_DEPTH} levels once "
                                              "expanded; flatten this structure")
            add(value, raw, nodes, chars, height, event.start_mark)
            if stack:
                check_expansion(stack[-1], event.start_mark)
        elif kind is DocStart:
            documents += 1
            if documents > 1:
                raise _Stop(event.start_mark, "more than one YAML document ('---'); a stack file holds exactly one")
            if event.version is not None and tuple(event.version) != (1, 2):
                raise _Stop(event.start_mark, f"'%YAML {'.'.join(map(str, event.version))}' makes editors read this "
                                              "file as another YAML version; Shipyard reads YAML 1.2: remove the "
                                              "directive")
        elif kind is StreamEnd:
            break
        elif kind is DocEnd:
            continue
    if not root_seen or doc.data is None:
        raise _Stop(None, "file is empty; a stack file starts with 'team:', 'environment:', 'owners:' and "
                          "'cluster:' (see README, stack file reference)")
    return doc


def load_file(path: Path, display_path: str, root: Path | None = None, untyped: Untyped | None = None) -> YamlDocument:
    """Read and parse a regular file, refusing oversized files before reading them (see `read_file`)."""
    return load_text(read_file(path, display_path, root), display_path, untyped)


def read_file(path: Path, display_path: str, root: Path | None = None) -> str:
    """The text of a regular UTF-8 file of at most MAX_BYTES. Raises `YamlError` otherwise.

    Symbolic links are never followed (the file itself, and with `root` every folder from `root` down
    to it): a link could read `/proc/self/mem`, a FIFO that never ends, or a file outside the repository,
    and its target is never named in the message."""
    def refuse(message: str) -> YamlError:
        return YamlError([Diagnostic(display_path, 1, 1, message)])

    if root is not None:
        problem = unsafe_path(path, root)
        if problem:
            raise refuse(problem)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat below refuses it anyway.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse(_SYMLINK) from None
        raise refuse(f"cannot read file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise refuse("is not a regular file; a stack file is a plain YAML file")
        if info.st_size > MAX_BYTES:
            raise refuse(f"file is {info.st_size // 1024} KiB, larger than the {MAX_BYTES // 1024} KiB limit; a "
                         "stack file should be a few hundred lines")
        chunks, size = [], 0
        while size <= MAX_BYTES:  # the size can change after fstat: never read more than the limit
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise refuse(f"cannot read file: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_BYTES:
        raise refuse(f"file is larger than the {MAX_BYTES // 1024} KiB limit; a stack file should be a few hundred "
                     "lines")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"file is not UTF-8 text ({exc.reason})") from None


_SYMLINK = ("is a symbolic link; stack files and their folders must be regular files and folders inside the "
            "repository (links are not followed)")


def unsafe_path(path: Path, root: Path) -> str | None:
    """Why `path` may not be read as a file of the repository at `root`, or None: it must lie inside `root`
    (judged on the path as written, `..` included) with no symbolic link from `root` down to it."""
    absolute = Path(os.path.normpath(path if path.is_absolute() else Path.cwd() / path))
    try:
        parts = absolute.relative_to(root).parts
    except ValueError:
        return "is outside the repository; stack files live in stacks/<team>/<env>.yaml"
    current = root
    for part in parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except OSError as exc:
            return f"cannot read file: {exc.strerror}"
        if stat.S_ISLNK(mode):
            return _SYMLINK
    return None


def replace_scalar(text: str, loc: Loc, value: str) -> str:
    """`text` with the scalar at `loc` (a path of mapping keys) replaced by `value`, and nothing else changed:
    comments, quoting style elsewhere, key order and blank lines stay as they were (an edit a reviewer reads as
    one changed value). The new scalar is written by the YAML emitter (`sinks.yaml_value`), in the old one's
    quotes where it needs none of its own. For files this loader accepts (small, one document)."""
    from shipyard.sinks import yaml_value

    node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            raise KeyError(loc)
        node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
        if node is None:
            raise KeyError(loc)
    if not isinstance(node, yaml.ScalarNode):
        raise KeyError(loc)
    emitted = yaml_value(value)
    bare = emitted[1:-1] if emitted[:1] in "'\"" and emitted[:1] == emitted[-1:] else emitted
    if node.style in ("'", '"') and bare == value and not set(value) & set("'\"\\"):
        emitted = f"{node.style}{value}{node.style}"
    return text[:node.start_mark.index] + emitted + text[node.end_mark.index:]
