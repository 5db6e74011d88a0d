from shipyard.yamlfile import MAX_BYTES, MAX_DEPTH, YamlError, load_text

import pytest


def _errors(text: str) -> list[str]:
    with pytest.raises(YamlError) as exc:
        load_text(text, "f.yaml")
    return [d.as_text() for d in exc.value.diagnostics]


def test_positions_of_keys_and_items_are_one_based():
    doc = load_text("a: 1\nb:\n  - x\n  - {c: 2}\n", "f.yaml")
    assert doc.data == {"a": 1, "b": ["x", {"c": 2}]}
    assert (doc.positions[("a",)].line, doc.positions[("a",)].col) == (1, 1)
    assert (doc.positions[("b", 1)].line, doc.positions[("b", 1)].col) == (4, 5)
    assert doc.positions[("b", 1, "c")].line == 4


def test_keys_stay_strings_even_when_yaml_11_would_make_them_booleans():
    doc = load_text("on: yes\n'1': x\n", "f.yaml")
    assert doc.data == {"on": True, "1": "x"}


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
