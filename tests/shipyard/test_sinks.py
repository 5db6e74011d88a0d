"""One helper per sink, each fed hostile input: what comes out is harmless in its format, or it is refused."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from shipyard.sinks import (UnsafeTextError, codeowners_line, git_pathspec, git_revision, is_owner, md_block,
                            md_cell, md_code, md_html, md_mention, md_text, slack_code, slack_link, slack_text,
                            url_segment, yaml_comment, yaml_value)
from tests.support.git import git

# -- CODEOWNERS -------------------------------------------------------------------------------------


def test_codeowners_line_joins_a_plain_path_and_valid_owners():
    assert codeowners_line("/stacks/ledger/", ["@acme/ledger", "@jdoe"]) == "/stacks/ledger/ @acme/ledger @jdoe"
    assert codeowners_line("*", ["@acme/platform"]) == "* @acme/platform"
    assert codeowners_line("/.github/", ["@acme/platform"]) == "/.github/ @acme/platform"
    assert codeowners_line("/config/Pulumi.a-dev.yaml", ["@a-b/c.d_e"]) == "/config/Pulumi.a-dev.yaml @a-b/c.d_e"


@pytest.mark.parametrize("path", [
    "/stacks/x\n* @mallory/",          # a newline starts a line of its own
    "/stacks/x\r* @mallory/",
    "/stacks/x\u2028/",
    "/stacks/x @mallory/",             # whitespace ends the path: the rest would be owners
    "/stacks/x\t@mallory/",
    "/stacks/x#y/",                    # a comment
    "/stacks/*/",                      # globs widen what the line covers
    "/stacks/?/", "/stacks/[ab]/", "!/stacks/x/", "/stacks/x\\ y/",
    "/stacks/../", "/stacks/.hidden/", "stacks/x/", "**", "",
])
def test_codeowners_refuses_paths_that_would_change_what_a_line_means(path):
    with pytest.raises(UnsafeTextError, match="cannot write the path"):
        codeowners_line(path, ["@acme/ledger"])


@pytest.mark.parametrize("owner", ["@evil\n", "@evil\n* @mallory", "@a b", "@a#b", "evil", "@", "@-x", "@a/",
                                   "@a/b/c", "@a/b\u2028", " @a", "@a\t", "@a/b c", "@ä"])
def test_codeowners_refuses_anything_but_exactly_one_owner(owner):
    assert not is_owner(owner)
    with pytest.raises(UnsafeTextError, match="cannot write the owner"):
        codeowners_line("/stacks/ledger/", ["@acme/ledger", owner])


def test_codeowners_refuses_a_line_without_owners():
    with pytest.raises(UnsafeTextError, match="unowned"):
        codeowners_line("/stacks/ledger/", [])


def test_the_stack_file_model_refuses_an_owner_with_a_trailing_newline():
    from shipyard.models import _OWNER

    assert _OWNER.match("@acme/ledger") and not _OWNER.match("@evil\n") and not _OWNER.match("@acme/x\n")


# -- git arguments ----------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["main", "origin/main", "HEAD", "HEAD~1", "HEAD^", "HEAD^2~3", "v1.2.3",
                                 "feature/x-y_z", "0123456789abcdef0123456789abcdef01234567"])
def test_git_revision_accepts_revisions_people_pass(ref):
    assert git_revision(ref) == ref


@pytest.mark.parametrize("ref, why", [
    ("--output=/tmp/x", "starts with '-'"), ("-p", "starts with '-'"), ("", "empty"),
    ("main..evil", "range"), ("a...b", "range"), ("HEAD@{1}", "only letters"), ("@", "range or reflog"),
    ("main\n", "only letters"), ("ma in", "only letters"), ("main:README.md", "only letters"),
    (":/fix", "only letters"), ("ref*", "only letters"), ("a\\b", "only letters"), ("x\x1b[31m", "only letters"),
    ("refs/heads/x.lock", "ref-name rules"), ("a//b", "ref-name rules"), ("/abs", "ref-name rules"),
    ("x/.hidden", "ref-name rules"), ("trailing.", "ref-name rules"), ("a" * 300, "longer than"),
])
def test_git_revision_refuses_options_ranges_and_odd_names(ref, why):
    with pytest.raises(UnsafeTextError, match=re.escape(why)):
        git_revision(ref)


def test_git_pathspec_is_literal(tmp_path: Path):
    # A file literally named like pathspec magic is matched as a name, and magic in a name matches nothing else.
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a*").write_text("x")
    (tmp_path / "ab").write_text("y")
    git(tmp_path, "add", "-A")
    listed = subprocess.run(["git", "ls-files", "--", git_pathspec("a*")], cwd=tmp_path, capture_output=True,
                            text=True, check=True).stdout.split()
    assert listed == ["a*"]
    with pytest.raises(UnsafeTextError):
        git_pathspec("a\nb")


# -- Markdown ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["plain", "a`b", "``x``", "`lead", "trail`", " a ", "x\ny", "```\n# h\n```"])
def test_md_code_cannot_be_closed_from_inside(text):
    span = md_code(text)
    fence = re.match(r"`+", span).group()
    inner = span[len(fence):-len(fence)]
    assert span.endswith(fence) and "\n" not in span
    assert all(len(run) < len(fence) for run in re.findall(r"`+", inner))


@pytest.mark.parametrize("text", ["[click](https://evil.example)", "![x](https://evil.example/p.png)",
                                  "<img src=x onerror=alert(1)>", "**bold** _it_ ~~s~~", "&lt;", "$x^2$",
                                  "a|b", "a\nb\n# heading", "`code`", "\\*"])
def test_md_text_leaves_nothing_markdown_would_interpret(text):
    out = md_text(text)
    assert "\n" not in out
    # every markup character is escaped by a backslash that is itself not escaped
    for match in re.finditer(r"[`*_\[\]<>&|~$]", out):
        preceding = re.match(r"\\*", out[:match.start()][::-1]).group()
        assert len(preceding) % 2 == 1, (text, out)


@pytest.mark.parametrize("mention", ["@here", "@channel", "@everyone", "@acme/everyone", "hi @jdoe"])
def test_md_text_mentions_nobody(mention):
    assert not re.search(r"@[A-Za-z0-9]", md_text(mention))


def test_md_cell_keeps_pipes_and_newlines_inside_the_cell():
    assert md_cell(md_code("a|b")) == "`a\\|b`"
    assert md_cell("x\ny") == "x y"
    assert md_cell(md_text("a|b")).count("|") == 1  # escaped once by md_text, once more: still one cell


def test_md_block_and_html():
    assert md_block("x\n```\ny") == "````\nx\n```\ny\n````\n"
    assert md_html('<script>"x"</script>\n') == "&lt;script&gt;&quot;x&quot;&lt;/script&gt; "


def test_md_mention_writes_only_valid_owners():
    assert md_mention("@acme/ledger") == "@acme/ledger"
    with pytest.raises(UnsafeTextError):
        md_mention("@acme/ledger\n[x](https://evil.example)")


# -- Slack ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["<!channel>", "<!here>", "<!everyone>", "<@U0123>", "<#C123>",
                                  "<http://evil.example|click>", "&lt;!channel&gt;", "a\n<!channel>"])
def test_slack_text_cannot_make_control_sequences(text):
    out = slack_text(text)
    assert "<" not in out and ">" not in out and "\n" not in out
    assert re.sub(r"&(amp|lt|gt);", "", out).count("&") == 0  # every & is the start of an escape we wrote


@pytest.mark.parametrize("text", ["@here", "@channel", "@everyone", "ping @jdoe"])
def test_slack_text_mentions_nobody(text):
    assert not re.search(r"@[A-Za-z]", slack_text(text))


def test_slack_code_cannot_be_closed_from_inside():
    assert slack_code("a`b <!here>") == "`aˋb &lt;!here&gt;`"


def test_slack_link_takes_only_http_urls_and_escapes_the_label():
    assert slack_link("https://github.example/o/r/issues/1?a=1&b=2", "<issue>") == \
        "<https://github.example/o/r/issues/1?a=1&amp;b=2|&lt;issue&gt;>"
    for url in ("javascript:alert(1)", "https://x|evil", "https://x>evil", "https://x y", "https://x\n"):
        with pytest.raises(UnsafeTextError):
            slack_link(url, "issue")


# -- YAML -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "eu-west-1\n  publicEndpoint: true", "eu-west-1\r\npublicEndpoint: true", "x\u2028publicEndpoint: true",
    "x\x85y", "@acme/ledger", "*alias", "&anchor x", "!!python/object x", "a: b", "a #c", "{a: b}", "[a]",
    "a, b", "yes", "no", "on", "null", "~", "1.33", "0x10", "1e3", "-", "- a", "? a", "%TAG", "'", '"', "`x",
    "", " lead", "trail ", "\t", "é", "\x00", "a\\b",
])
def test_yaml_value_reads_back_as_the_same_string_in_block_and_flow_context(value):
    out = yaml_value(value)
    assert "\n" not in out and "\r" not in out
    doc = yaml.safe_load(f"team: ledger\nregion: {out}  # comment\nlist: [{out}, x]\nmap: {{k: {out}}}\n")
    assert doc == {"team": "ledger", "region": value, "list": [value, "x"], "map": {"k": value}}


def test_yaml_value_writes_lists_in_flow_style():
    assert yaml_value(["baseline", "observability"]) == "[baseline, observability]"
    assert yaml.safe_load(f"x: {yaml_value(['a, b', 'c]'])}") == {"x": ["a, b", "c]"]}


def test_yaml_comment_stays_on_its_line():
    text = yaml_comment("team x\npublicEndpoint: true\u2028y\x85z")
    assert yaml.safe_load(f"# {text}\na: 1\n") == {"a": 1}


# -- GitHub API paths -------------------------------------------------------------------------------


def test_url_segment_stays_one_segment():
    assert url_segment("jdoe") == "jdoe"
    assert url_segment("../../repos/x?y#z") == "..%2F..%2Frepos%2Fx%3Fy%23z"
    for bad in ("", ".", ".."):
        with pytest.raises(UnsafeTextError):
            url_segment(bad)
