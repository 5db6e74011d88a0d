"""Data-driven: one fixture per validation rule (tests/fixtures/validate/*.yaml).

A fixture is a stack file plus a header: `# fixture-path:` says where it lives in the repository,
`# expect-line-1: TEXT` expects an error on line 1, and a trailing `# <- error: TEXT` on any line
expects an error on *that* line. `*.happy.yaml` fixtures must be valid. Every expected error must be
reported on its line, and nothing else may be.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard.repo import Repo
from shipyard.validation import check_stack, load_catalog, parse_stack_file

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "validate").glob("*.yaml"))
_MARK = re.compile(r"#\s*<-\s*error:\s*(?P<text>.+)$")


def _split(fixture: Path) -> tuple[str, list[tuple[int, str]], str]:
    header, body, expected = [], [], []
    lines = fixture.read_text().splitlines(keepends=True)
    while lines and lines[0].startswith(("# fixture-path:", "# expect-line-1:")):
        header.append(lines.pop(0))
    path = next(h.split(":", 1)[1].strip() for h in header if h.startswith("# fixture-path:"))
    expected += [(1, h.split(":", 1)[1].strip()) for h in header if h.startswith("# expect-line-1:")]
    for number, line in enumerate(lines, start=1):
        body.append(line)
        match = _MARK.search(line)
        if match:
            expected.append((number, match["text"].strip()))
    return path, expected, "".join(body)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_validate_reports_each_rule_on_its_line(fixture: Path, platform_repo: Path):
    path, expected, body = _split(fixture)
    target = platform_repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body)
    repo = Repo(platform_repo)

    checked = check_stack(platform_repo, target, repo.local_kubernetes_minor)
    stack, diagnostics = checked.stack, checked.diagnostics

    if fixture.stem.endswith(".happy"):
        assert diagnostics == [] and stack is not None
        return
    assert expected, "an error fixture must say which error it expects"
    assert stack is None
    reported = [(d.line, d.message) for d in diagnostics]
    for line, text in expected:
        assert any(l == line and text in m for l, m in reported), f"expected line {line}: {text!r}; got {reported}"
    assert len(diagnostics) == len(expected), f"unexpected extra errors: {reported}"
    assert all(d.path == path for d in diagnostics)


def test_every_error_in_a_file_is_reported_at_once(platform_repo: Path):
    target = platform_repo / "stacks/ledger/prod.yaml"
    text = target.read_text().replace("region: eu-west-1", "regoin: eu-west-1").replace("memory: 32Gi", "memory: lots")
    text = text.replace("bundles: [baseline, observability]", "bundles: [baseline, nope]")
    target.write_text(text)
    _, diagnostics = parse_stack_file(target, platform_repo, load_catalog(platform_repo).catalog)
    messages = " | ".join(d.message for d in diagnostics)
    assert "unknown key 'regoin'" in messages and "'lots' is not a Kubernetes quantity" in messages
    assert len(diagnostics) >= 2


def test_every_sample_stack_validates():
    repo = Repo.find(Path(__file__).parent)
    catalog = load_catalog(repo.root)
    assert catalog.diagnostics == []
    assert len(repo.stacks()) >= 4
    for ref in repo.stacks():
        stack, diagnostics = parse_stack_file(ref.path, repo.root, catalog.catalog, repo.local_kubernetes_minor)
        assert diagnostics == [], ref.name
        assert stack.stack_name == ref.name


def test_parallel_validation_reports_the_same_as_serial(platform_repo: Path):
    from shipyard.validation import validate_files

    base = (platform_repo / "stacks/ledger/prod.yaml").read_text()
    paths = []
    for i in range(240):
        path = platform_repo / "stacks" / f"ledger{i}" / "prod.yaml"
        path.parent.mkdir()
        text = base.replace("team: ledger", f"team: ledger{i}").replace("ledger-api", f"ledger{i}-api")
        path.write_text(text if i % 7 else text.replace("minSize: 2", "minSize: 5"))
        paths.append(path)
    catalog = load_catalog(platform_repo).catalog
    serial = validate_files(paths, platform_repo, catalog, None, jobs=1)
    parallel = validate_files(paths, platform_repo, catalog, None, jobs=2)
    assert len(serial) == 35 and sorted(serial) == sorted(parallel)
