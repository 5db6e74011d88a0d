"""Names that cross into another format: one helper per format (a "sink"), and nothing else writes them.

A stack name, a team folder, an owner, a git ref a user typed, a resource name from the engine, an
error message: any of it can carry a newline, a comment sign, a backtick or a mention, and each
format gives those a meaning of its own. So text bound for one of these formats goes through its
helper here, which either proves the text harmless there or refuses it (`UnsafeTextError`):

| sink | helpers | untrusted text is |
|---|---|---|
| CODEOWNERS | `codeowners_line`, `is_owner` | refused unless it is a plain path and `@user`/`@org/team` owners |
| git arguments | `git_revision`, `git_pathspec` | refused unless one revision; passed after `--end-of-options` |
| Markdown (GitHub) | `md_text`, `md_code`, `md_block`, `md_cell`, `md_html`, `md_mention` | escaped |
| Slack messages | `slack_text`, `slack_code`, `slack_link` | escaped (`&`, `<`, `>`), mentions defused |
| YAML | `yaml_value`, `yaml_comment` | emitted by the YAML emitter; comments kept on one line |
| GitHub API paths | `url_segment` | percent-encoded, `.`/`..` refused |

Refusing is for names (a path or an owner we would write into a file that grants rights, a ref git
would run); escaping is for text that is only shown (a resource name, an error).
"""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote

from shipyard.errors import ShipyardError
from shipyard.models import _OWNER  # the one definition of an owner: the stack file's


class UnsafeTextError(ShipyardError):
    """Text cannot go into a format safely (a path for CODEOWNERS, a git revision...); it is refused, never
    silently altered, because an altered name would point at something else."""


# Control characters (C0, DEL, C1) and the characters Unicode treats as line or paragraph breaks or as
# invisible direction overrides: each can end a line in some reader or hide what a line says.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAK = re.compile(r"\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def _shown(text: str) -> str:
    """Refused text as an error shows it: quoted, every control character visible (never raw in a log)."""
    return repr(text)


def _one_line(text: str) -> str:
    return _LINE_BREAK.sub(" ", text)


# -- CODEOWNERS -------------------------------------------------------------------------------------
# A path is written literally: GitHub reads CODEOWNERS patterns as gitignore globs, so `*`, `?`, `[`,
# `!` and `\` would widen or negate what the line covers, `#` starts a comment and whitespace ends the
# path (what follows would be read as owners).
_CODEOWNERS_PATH = re.compile(r"/(?:[A-Za-z0-9_][A-Za-z0-9._-]*/?)*")


def is_owner(text: object) -> bool:
    """Whether `text` is exactly one GitHub owner, `@user` or `@org/team` (nothing before or after it)."""
    return isinstance(text, str) and _OWNER.fullmatch(text) is not None


def codeowners_line(path: str, owners: list[str]) -> str:
    """One CODEOWNERS line, `PATH OWNER...`. `path` is `*` (everything) or a literal path from the root
    (`/stacks/ledger/`, `/stacks/ledger/dev.yaml`): letters, digits, `.`, `_`, `-` and `/`, no component
    starting with `.` except fixed platform paths such as `/.github/`. Every owner must be `@user` or
    `@org/team`. Anything else is refused: a name that does not fit must never reach the file that says
    who approves changes."""
    if path != "*" and not (_CODEOWNERS_PATH.fullmatch(path) or path in _PLATFORM_DOT_PATHS):
        raise UnsafeTextError(f"cannot write the path {_shown(path)} to CODEOWNERS: only letters, digits, '.', "
                              "'_', '-' and '/' may appear in it (whitespace, '#', control characters and glob "
                              "characters would change what the line means); rename it")
    if not owners:
        raise UnsafeTextError(f"cannot write {path} to CODEOWNERS without an owner: the file would be unowned")
    for owner in owners:
        if not is_owner(owner):
            raise UnsafeTextError(f"cannot write the owner {_shown(owner)} to CODEOWNERS: an owner is exactly "
                                  "'@user' or '@org/team'")
    return f"{path} {' '.join(owners)}"


# Paths of the platform's own files that start with a dot; team names never do (DNS labels).
_PLATFORM_DOT_PATHS = frozenset({"/.github/"})


# -- git arguments ----------------------------------------------------------------------------------
# A revision as users give it: a ref name (origin/main, v1.2), HEAD or a commit id, optionally followed
# by ~N / ^N steps. The ref name follows `git check-ref-format`; this is stricter in refusing non-ASCII
# and a leading '-' (git would read it as an option).
_REF_NAME_CHAR = re.compile(r"[A-Za-z0-9._/@+=,%-]+")
_STEPS = re.compile(r"(?:~[0-9]*|\^[0-9]*)*\Z")


def git_revision(ref: str) -> str:
    """`ref` unchanged when it is one revision git may be given (after `--end-of-options`, see GitRepo);
    else `UnsafeTextError`. Ranges (`a..b`), reflog and search syntax (`@{...}`, `:/text`) and anything
    with whitespace or control characters are refused: commands take single revisions."""
    problem = None
    name = ref[: len(ref) - len(_STEPS.search(ref).group())] if ref else ""
    if not name:
        problem = "it is empty"
    elif name.startswith("-"):
        problem = "it starts with '-' (git would read it as an option)"
    elif not _REF_NAME_CHAR.fullmatch(name):
        problem = ("only letters, digits and . _ / @ + = , % - may appear in it, followed by ~N or ^N steps "
                   "(no whitespace, control characters, ':', '?', '*', '[' or '\\')")
    elif ".." in name or "@{" in name or name == "@":
        problem = "it is a range or reflog expression, not one revision"
    elif (name.startswith("/") or name.endswith(("/", ".", ".lock")) or "//" in name
          or any(part.startswith(".") or part.endswith(".lock") for part in name.split("/"))):
        problem = "it breaks git's ref-name rules (git check-ref-format)"
    elif len(ref) > 255:
        problem = "it is longer than 255 characters"
    if problem:
        raise UnsafeTextError(f"{_shown(ref)} is not a git revision: {problem}")
    return ref


def git_pathspec(path: str) -> str:
    """A path given to git after `--`, read literally: no pathspec magic (`:(glob)`, `:!x`), no wildcards."""
    if _CONTROL.search(path):
        raise UnsafeTextError(f"cannot give the path {_shown(path)} to git: it contains control characters")
    return f":(literal){path}"


# -- Markdown (GitHub-flavoured: PR comments, issue bodies, job summaries) ---------------------------
# Everything CommonMark or GitHub gives a meaning inline: emphasis, code, links and images, HTML and
# entities, table pipes, strikethrough, math.
_MARKUP = re.compile(r"([\\`*_\[\]<>&|~$])")


def _defuse_mentions(text: str) -> str:
    """`@name` notifies `name` on GitHub and Slack; a WORD JOINER after the `@` shows the same text and
    mentions nobody."""
    return text.replace("@", "@\u2060")


def md_text(text: str) -> str:
    """Untrusted text as literal Markdown on one line: no emphasis, links, HTML, table breaks or mentions
    (`@everyone-style` names are defused). Safe in a table cell as it is."""
    return _MARKUP.sub(r"\\\1", _defuse_mentions(_one_line(text)))


def md_code(text: str) -> str:
    """Untrusted text as one inline code span, on one line: its delimiter is longer than any backtick run
    inside it, so nothing in it can close the span early (CommonMark). Nothing in a code span links or
    mentions. In a table, pass the result through `md_cell`."""
    text = _one_line(text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[:1] == "`" or text[-1:] == "`" or (text[:1] == text[-1:] == " " and text.strip()) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_block(text: str) -> str:
    """Untrusted text as a fenced code block whose fence no line of it can close."""
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence}\n{text}\n{fence}\n"


def md_cell(markdown: str) -> str:
    """Inline Markdown (from `md_text`, `md_code` or our own) as one table cell: an unescaped `|` would end
    the cell and a newline the table. GitHub splits cells at pipes not right after a backslash, then drops
    that backslash before reading the cell, so escaping on top of `md_text` is harmless and this also
    keeps a `|` inside a code span literal."""
    return _one_line(markdown).replace("|", "\\|")


def md_html(text: str) -> str:
    """Untrusted text inside the HTML GitHub allows in Markdown (`<summary>`, `<code>`), on one line."""
    return html.escape(_one_line(text), quote=True)


def md_mention(owner: str) -> str:
    """An owner to be mentioned on purpose (`@user`, `@org/team`): only a valid owner is written."""
    if not is_owner(owner):
        raise UnsafeTextError(f"cannot mention {_shown(owner)}: an owner is exactly '@user' or '@org/team'")
    return owner


# -- Slack (incoming webhooks, `text` in mrkdwn) ----------------------------------------------------
def slack_text(text: str) -> str:
    """Untrusted text in a Slack message, on one line. Slack's rule: `&`, `<` and `>` are the control
    characters (`<!channel>`, `<!here>`, `<@U123>`, `<http://x|label>`), escaped as `&amp;`, `&lt;`, `&gt;`.
    Also defused: `@here`-style mentions (a WORD JOINER after `@`) and backticks, which Slack cannot escape
    and which would open or close a code span (shown as the look-alike `ˋ`)."""
    text = _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _defuse_mentions(text).replace("`", "\u02cb")


def slack_code(text: str) -> str:
    """Untrusted text as a Slack inline code span (nothing inside can close it: backticks are defused)."""
    return f"`{slack_text(text)}`"


def slack_link(url: str, label: str) -> str:
    """A Slack link `<URL|label>`: `url` must be http(s) without whitespace or control characters; `|` in
    it is percent-encoded (it would start the label) and the label is escaped."""
    if not re.fullmatch(r"https?://[^\s<>|\x00-\x1f\x7f]+", url):
        raise UnsafeTextError(f"cannot link {_shown(url)} in Slack: expected an http(s) URL")
    return f"<{url.replace('&', '&amp;')}|{slack_text(label)}>"


# -- YAML (files Shipyard writes for people to edit) ------------------------------------------------
_INF = float("inf")


def yaml_value(value: Any) -> str:
    """`value` (a string, number, boolean, None, or a list/dict of them) as YAML on one line, written by
    the YAML emitter (PyYAML `safe_dump`): it quotes whatever would otherwise be read as something else
    (`: `, `#`, `{`, a leading `@` or `*`, `yes`, a number-like string) and is safe both as a block value
    (`key: VALUE`) and inside a flow collection (`[VALUE]`, `{key: VALUE}`). A value with a line break is
    double-quoted with escapes, so it can never start a new key."""
    import yaml

    # Dumped as the only item of a flow sequence: the emitter then writes it in flow context, the
    # strictest (no plain `,`, `[`, `]`, `{`, `}`), and never adds a document end marker.
    out = yaml.safe_dump([value], default_flow_style=True, width=_INF, allow_unicode=False, sort_keys=True)
    if "\n" in out.rstrip("\n"):
        out = yaml.safe_dump([value], default_flow_style=True, width=_INF, allow_unicode=False, sort_keys=True,
                             default_style='"')
    out = out.rstrip("\n")
    if not (out.startswith("[") and out.endswith("]")) or "\n" in out:
        raise UnsafeTextError(f"cannot write {_shown(value)} as one line of YAML")
    return out[1:-1]


def yaml_comment(text: str) -> str:
    """Text for the inside of a `# ...` comment: on one line (a line break would end the comment and start
    YAML), without control characters."""
    return _CONTROL.sub(" ", _one_line(text))


# -- GitHub API paths -------------------------------------------------------------------------------
def url_segment(text: str) -> str:
    """One path segment of an API URL (an org, a team slug, a login, a commit id): percent-encoded, so `/`,
    `?` and `#` stay inside the segment; `.` and `..` (which would walk the path) are refused."""
    if text in ("", ".", ".."):
        raise UnsafeTextError(f"{_shown(text)} cannot be a path segment of an API URL")
    return quote(text, safe="")
