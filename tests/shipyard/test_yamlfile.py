import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.yamlfile import MAX_BYTES, MAX_DEPTH, YamlError, load_file, load_text


def _errors(text: str, untyped=None) -> list[str]:
    with pytest.raises(YamlError) as exc:
        load_text(text, "f.yaml", untyped)
    return [d.as_text() for d in exc.value.diagnostics]


def _everywhere(loc) -> bool:
    return True


def test_positions_of_keys_and_items_are_one_based():
    doc = load_text("a: 1\nb:\n  - x\n  - {c: 2}\n", "f.yaml")
    assert doc.data == {"a": 1, "b": ["x", {"c": 2}]}
    assert (doc.positions[("a",)].line, doc.positions[("a",)].col) == (1, 1)
    assert (doc.positions[("b", 1)].line, doc.positions[("b", 1)].col) == (4, 5)
    assert doc.positions[("b", 1, "c")].line == 4


def test_keys_stay_strings_even_when_yaml_11_would_make_them_booleans():
    doc = load_text("on: true\n'1': x\nyes: 2\n", "f.yaml")
    assert doc.data == {"on": True, "1": "x", "yes": 2}


def test_every_duplicate_key_is_reported_with_both_lines():
    assert _errors("a: 1\nb: 2\na: 3\nb: 4\n") == [
        "f.yaml:3:1: duplicate key 'a' (first defined on line 1); keep one of them",
        "f.yaml:4:1: duplicate key 'b' (first defined on line 2); keep one of them",
    ]


def test_syntax_error_reports_its_line():
    [error] = _errors("a: 1\nb: [1, 2\nc: 3\n")
    assert error.startswith("f.yaml:3:") and "YAML syntax error" in error


def test_alias_bomb_is_rejected_before_expansion():
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    [error] = _errors("\n".join(lines) + "\n")
    assert "alias bomb" in error


def test_deep_nesting_fails_cleanly_instead_of_recursing():
    [error] = _errors("[" * 10_000 + "]" * 10_000)
    assert f"deeper than {MAX_DEPTH}" in error


def test_oversized_text_is_rejected_unparsed():
    [error] = _errors("a: " + "x" * (MAX_BYTES + 1) + "\n")
    assert "larger than" in error


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_documents_are_errors(text):
    [error] = _errors(text)
    assert "file is empty" in error


def test_python_tags_are_refused():
    [error] = _errors("a: !!python/object/apply:os.system ['true']\n")
    assert "is not allowed" in error and error.startswith("f.yaml:1:")


def test_multiple_documents_are_refused():
    [error] = _errors("a: 1\n---\nb: 2\n")
    assert "more than one YAML document" in error


def test_deep_block_nesting_fails_cleanly():
    text = "".join("  " * i + f"k{i}:\n" for i in range(60)) + "  " * 60 + "leaf: 1\n"
    [error] = _errors(text)
    assert f"deeper than {MAX_DEPTH}" in error


def _run_isolated(code: str, stdin: str) -> subprocess.CompletedProcess:
    """Loader calls that used to segfault run in a child: a crash must fail the test, not the test run."""
    return subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])


@pytest.mark.parametrize("text", [
    "deep:\n  " + "- " * 40_000 + "1\n",                      # block sequences, one line
    "".join("  " * i + "- \n" for i in range(400)),           # block sequences, indented
    "a: " + "[" * 40_000 + "]" * 40_000 + "\n",               # flow
    "a: " + "{a: " * 20_000 + "1" + "}" * 20_000 + "\n",      # flow mappings
    "? " * 30_000 + "x\n",                                     # complex keys
])
def test_any_nesting_is_bounded_before_recursion(text):
    result = _run_isolated("""
import sys
from shipyard.yamlfile import YamlError, load_text
try:
    load_text(sys.stdin.read(), "f.yaml")
except YamlError as exc:
    print(exc)
""", text)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "f.yaml:" in result.stdout and ("deeper than" in result.stdout or "mapping keys" in result.stdout)


def test_nesting_at_the_limit_loads():
    text = "a: " + "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1) + "\n"
    assert load_text(text, "f.yaml").data["a"] is not None
    with pytest.raises(YamlError):
        load_text("a: " + "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH + "\n", "f.yaml")


def test_an_anchor_reused_deeper_counts_its_own_depth():
    inner = "[" * 30 + "1" + "]" * 30
    [error] = _errors(f"a: &a {inner}\nb: {'[' * 20}*a{']' * 20}\n")
    assert error.startswith("f.yaml:2:") and "alias '*a' nests deeper than 40 levels" in error


def test_a_large_anchor_repeated_is_refused_by_size():
    text = "a: &a " + "x" * 100_000 + "\nb: [" + ", ".join(["*a"] * 1_000) + "]\n"
    [error] = _errors(text)
    assert "KiB of text" in error and error.startswith("f.yaml:2:")


def test_recursive_and_undefined_aliases_are_errors():
    assert "a cycle" in _errors("a: &a [1, *a]\n")[0]
    assert "is not defined" in _errors("a: *nope\n")[0]


@pytest.mark.parametrize("text, shown", [
    ("a: !!int abc\n", "'abc' is not a valid !!int"),
    ("a: !!float abc\n", "'abc' is not a valid !!float"),
    ("a: !!bool maybe\n", "'maybe' is not a valid !!bool"),
    ("a: !!null x\n", "'x' is not a valid !!null"),
    ("a: !!float 1\n", "'1' is not a valid !!float"),  # editors refuse it too: YAML 1.2 floats have a dot
    ("a: !!timestamp x\n", "'x' is not a valid !!timestamp"),
    ("a: !!binary aGk=\n", "YAML tag 'tag:yaml.org,2002:binary' is not allowed"),
    ("a: !custom x\n", "YAML tag '!custom' is not allowed"),
    ("a: !!set {x}\n", "YAML tag 'tag:yaml.org,2002:set' is not allowed"),
    ("!!python/name:os.system x: 1\n", "YAML tag 'tag:yaml.org,2002:python/name:os.system' is not allowed"),
])
def test_every_malformed_tag_is_a_located_error(text, shown):
    [error] = _errors(text)
    assert error.startswith("f.yaml:1:") and shown in error


def test_valid_explicit_tags_load():
    text = "a: !!int '5'\nb: !!float 1.0\nc: !!str 012\nd: !!bool true\ne: ! 12\nf: !!timestamp 2025-01-02\n"
    assert load_text(text, "f.yaml").data == {"a": 5, "b": 1.0, "c": "012", "d": True, "e": "12", "f": "2025-01-02"}


YAML_11_DIFFERENT = {"yes": "yes", "No": "No", "ON": "ON", "off": "off", "y": "y", "N": "N", "012": 12,
                     "-0x2": "-0x2", "0o17": 15, "0b101": "0b101", "1:30": "1:30", "1_000": "1_000", "1e3": 1000.0,
                     "1.5e3": 1500.0, "08": 8, "+0b1": "+0b1"}


@pytest.mark.parametrize("value", YAML_11_DIFFERENT)
def test_values_yaml_11_reads_differently_load_as_editors_read_them(value):
    assert load_text(f"a: {value}\n", "f.yaml").data == {"a": YAML_11_DIFFERENT[value]}


@pytest.mark.parametrize("value", YAML_11_DIFFERENT)
def test_in_untyped_places_values_yaml_11_reads_differently_are_errors_with_a_hint(value):
    [error] = _errors(f"a: {value}\n", untyped=lambda loc: loc == ("a",))
    assert error.startswith("f.yaml:1:4:") and "YAML 1.1" in error and f'quote it ("{value}")' in error
    assert load_text(f"a: {value}\nb: 1\n", "f.yaml", lambda loc: loc == ("b",)).data["a"] == YAML_11_DIFFERENT[value]


def test_a_yaml_11_directive_is_refused():
    [error] = _errors("%YAML 1.1\n---\na: yes\n")
    assert error.startswith("f.yaml:") and "'%YAML 1.1'" in error and "remove the directive" in error
    assert load_text("%YAML 1.2\n---\na: yes\n", "f.yaml").data == {"a": "yes"}


@pytest.mark.parametrize("text, data", [
    ("a: 12\n", 12), ("a: 0x1f\n", 31), ("a: 1.5\n", 1.5), ("a: -3\n", -3), ("a: .inf\n", float("inf")),
    ("a: true\n", True), ("a: False\n", False), ("a: ~\n", None), ("a:\n", None), ("a: 'yes'\n", "yes"),
    ("a: \"012\"\n", "012"), ("a: 2025-01-01\n", "2025-01-01"), ("a: v1.2\n", "v1.2"), ("a: 1.2.3\n", "1.2.3"),
])
def test_values_both_versions_agree_on_load_by_yaml_12(text, data):
    assert load_text(text, "f.yaml").data == {"a": data}


def test_merge_keys_are_yaml_11_only():
    [error] = _errors("base: &b {x: 1}\nother:\n  <<: *b\n")
    assert error.startswith("f.yaml:3:3:") and "merge keys" in error


def test_value_errors_keep_the_document_for_secret_checks():
    with pytest.raises(YamlError) as exc:
        load_text("password: 0123\nb: yes\n", "f.yaml", _everywhere)
    assert len(exc.value.diagnostics) == 2 and exc.value.document.data == {"password": "0123", "b": "yes"}


def test_quoted_values_are_shortened_in_messages():
    [error] = _errors("a: !!int " + "9x" * 500 + "\n")
    assert len(error) < 200


def test_symlinks_are_refused_and_their_target_never_shown(tmp_path):
    secret = tmp_path / "outside.env"
    secret.write_text("PASSWORD=hunter2\n")
    root = tmp_path / "repo"
    (root / "stacks" / "team").mkdir(parents=True)
    link = root / "stacks" / "team" / "dev.yaml"
    link.symlink_to(secret)
    (root / "stacks" / "linked").symlink_to(root / "stacks" / "team")
    mem = root / "stacks" / "team" / "staging.yaml"
    mem.symlink_to("/proc/self/mem")
    for path in (link, mem, root / "stacks" / "linked" / "prod.yaml"):
        for kwargs in ({"root": root}, {}):
            with pytest.raises(YamlError) as exc:
                load_file(path, "shown.yaml", **kwargs)
            text = str(exc.value)
            if kwargs or path.parent.name == "team":
                assert "symbolic link" in text or "cannot read" in text
            assert "outside.env" not in text and "/proc" not in text and "hunter2" not in text


def test_files_outside_the_repository_and_fifos_are_refused(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    other = tmp_path / "x.yaml"
    other.write_text("a: 1\n")
    with pytest.raises(YamlError, match="outside the repository"):
        load_file(root / ".." / "x.yaml", "x.yaml", root=root)
    fifo = root / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(YamlError, match="not a regular file"):
        load_file(fifo, "fifo.yaml", root=root)


@pytest.mark.parametrize("text", ["x: {n}\n", "x: -{n}\n", "x: !!int {n}\n", "x: !!float {n}.5\n", "x: [{n}]\n"])
def test_a_numeral_too_long_for_any_field_is_a_located_error_not_a_traceback(text: str):
    # Python refuses to convert ints over 4,300 digits; the loader must refuse first, on the value's line.
    with pytest.raises(YamlError) as error:
        load_text(text.format(n="9" * 5000), "s.yaml")
    [diagnostic] = error.value.diagnostics
    assert diagnostic.line == 1 and "characters long cannot be a stack-file value" in diagnostic.message
    assert len(diagnostic.message) < 300


def test_long_text_that_only_looks_numeric_when_quoted_is_fine():
    assert load_text('x: "' + "9" * 5000 + '"\n', "s.yaml").data == {"x": "9" * 5000}


def test_a_carriage_return_without_a_line_feed_is_refused():
    # libyaml ends a line there, the editors' parser does not: the two would read different files.
    [error] = _errors("a: 1\n# note\rb: 2\n")
    assert error.startswith("f.yaml:2:7:") and "carriage return without a line feed" in error
    assert load_text("a: 1\r\nb: 2\r\n", "f.yaml").data == {"a": 1, "b": 2}
