"""Data-driven: one fixture per validation rule (tests/fixtures/validate/*.yaml).

A fixture is a stack file plus a header: `# fixture-path:` says where it lives in the repository,
`# fixture-applied: VERSION WHERE` gives the Kubernetes version last applied (and where it was read: the
state, or the file at a git revision), `# expect-line-1: TEXT` expects an error on line 1, and a trailing
`# <- error: TEXT` on any line expects an error on *that* line. `*.happy.yaml` fixtures must be valid. Every expected error must be
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
    path, expected, body, _ = _split_applied(fixture)
    return path, expected, body


def _split_applied(fixture: Path) -> tuple[str, list[tuple[int, str]], str, tuple[str, str] | None]:
    header, body, expected = [], [], []
    lines = fixture.read_text().splitlines(keepends=True)
    while lines and lines[0].startswith(("# fixture-path:", "# expect-line-1:", "# fixture-applied:")):
        header.append(lines.pop(0))
    path = next(h.split(":", 1)[1].strip() for h in header if h.startswith("# fixture-path:"))
    applied_line = next((h.split(":", 1)[1].strip() for h in header if h.startswith("# fixture-applied:")), None)
    applied = tuple(applied_line.split(" ", 1)) if applied_line else None
    expected += [(1, h.split(":", 1)[1].strip()) for h in header if h.startswith("# expect-line-1:")]
    for number, line in enumerate(lines, start=1):
        body.append(line)
        match = _MARK.search(line)
        if match:
            expected.append((number, match["text"].strip()))
    return path, expected, "".join(body), applied


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.stem for f in FIXTURES])
def test_validate_reports_each_rule_on_its_line(fixture: Path, platform_repo: Path):
    path, expected, body, applied = _split_applied(fixture)
    target = platform_repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(body)
    repo = Repo(platform_repo)

    checked = check_stack(platform_repo, target, repo.local_kubernetes_minor, applied=applied)
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


GITHUB_TOKEN_VALUE = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


def _validate(capsys, root: Path, *args: str) -> tuple[int, str]:
    from shipyard.cli import main

    code = main(["--repo", str(root), "validate", *args])
    out, err = capsys.readouterr()
    return code, out + err


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_no_message_repeats_a_secret_even_when_another_rule_fails_on_it(capsys, platform_repo, fmt):
    path = platform_repo / "stacks/ledger/prod.yaml"
    text = path.read_text().replace('owners: ["@acme/ledger"]', f'owners: ["@{GITHUB_TOKEN_VALUE}"]')
    text = text.replace("region: eu-west-1", f"region: {GITHUB_TOKEN_VALUE}")
    text = text.replace("costCenter: cc-4411", f"costCenter: {'x' * 250}{GITHUB_TOKEN_VALUE}, password: 987654")
    path.write_text(text)
    code, out = _validate(capsys, platform_repo, "--format", fmt)
    assert code == 1
    assert GITHUB_TOKEN_VALUE not in out and GITHUB_TOKEN_VALUE[:20] not in out and "987654" not in out
    assert "looks like a GitHub token" in out and "[redacted]" in out


def test_links_under_stacks_are_errors_and_never_followed(capsys, platform_repo, tmp_path):
    outside = tmp_path / "leak.env"
    outside.write_text("team: x\nDB_PASSWORD: hunter2\n")
    (platform_repo / "stacks/ledger/staging.yaml").symlink_to(outside)
    (platform_repo / "stacks/mem").mkdir()
    (platform_repo / "stacks/mem/dev.yaml").symlink_to("/proc/self/mem")
    (platform_repo / "stacks/elsewhere").symlink_to("/etc")
    code, out = _validate(capsys, platform_repo)
    assert code == 1
    for shown in ("stacks/ledger/staging.yaml:1:1: is a symbolic link", "stacks/mem/dev.yaml:1:1: is a symbolic link",
                  "stacks/elsewhere:1:1: is a symbolic link"):
        assert shown in out
    assert "leak.env" not in out and "hunter2" not in out and "/proc" not in out and "/etc" not in out.replace("stacks/", "")
    code, out = _validate(capsys, platform_repo, str(platform_repo / "stacks/ledger/staging.yaml"))
    assert code == 1 and "is a symbolic link" in out and "hunter2" not in out
    code, out = _validate(capsys, platform_repo, str(outside))
    assert code == 1 and "outside the repository" in out and "hunter2" not in out


def _many_stacks(root: Path, count: int) -> list[Path]:
    base = (root / "stacks/ledger/prod.yaml").read_text()
    paths = []
    for i in range(count):
        path = root / "stacks" / f"ledger{i}" / "prod.yaml"
        path.parent.mkdir()
        path.write_text(base.replace("team: ledger", f"team: ledger{i}").replace("ledger-api", f"ledger{i}-api"))
        paths.append(path)
    return paths


def test_a_worker_that_crashes_or_hangs_costs_only_its_file(platform_repo, monkeypatch):
    import os
    import signal
    import time

    from shipyard import validation

    paths = _many_stacks(platform_repo, 210)
    real = validation._check_file

    def sabotaged(path, *args):
        if path.parent.name == "ledger7":
            os.kill(os.getpid(), signal.SIGSEGV)
        if path.parent.name == "ledger8":
            time.sleep(60)
        return real(path, *args)

    monkeypatch.setattr(validation, "_check_file", sabotaged)
    monkeypatch.setattr(validation, "FILE_TIMEOUT", 1.0)
    catalog = load_catalog(platform_repo).catalog
    start = time.monotonic()
    diagnostics = validation.validate_files(paths, platform_repo, catalog, None, jobs=2)
    assert time.monotonic() - start < 20
    assert [(d.path, d.message.split(";")[0]) for d in sorted(diagnostics)] == [
        ("stacks/ledger7/prod.yaml", "validating this file crashed (SIGSEGV)"),
        ("stacks/ledger8/prod.yaml", "validating this file did not finish within 1 s"),
    ]


def test_validating_one_file_checks_its_namespaces_against_every_other_stack(capsys, platform_repo, monkeypatch):
    path = platform_repo / "stacks/sandbox/staging.yaml"
    path.write_text((platform_repo / "stacks/sandbox/dev.yaml").read_text().replace("environment: dev",
                                                                                    "environment: staging"))
    monkeypatch.chdir(platform_repo)
    code, out = _validate(capsys, platform_repo, "stacks/sandbox/staging.yaml")
    assert code == 1
    lines = [line for line in out.splitlines() if line.startswith("stacks/")]
    assert len(lines) == 2 and all(line.startswith("stacks/sandbox/staging.yaml:") for line in lines)
    assert "namespace 'sandbox-web' is also claimed by stacks/sandbox/dev.yaml" in lines[0]
    code, out = _validate(capsys, platform_repo)
    assert code == 1 and "stacks/sandbox/dev.yaml:" in out and "is also claimed by stacks/sandbox/staging.yaml" in out


def test_eks_stacks_never_share_a_cluster(platform_repo):
    dev = platform_repo / "stacks/ledger/dev.yaml"
    assert "ledger-api" in dev.read_text() and "ledger-api" in (platform_repo / "stacks/ledger/prod.yaml").read_text()
    assert check_stack(platform_repo, dev, None).diagnostics == []


def test_a_file_with_thousands_of_problems_reports_a_bounded_number(platform_repo):
    from shipyard.validation import MAX_DIAGNOSTICS_PER_FILE

    path = platform_repo / "stacks/ledger/prod.yaml"
    path.write_text(path.read_text() + "".join(f"extra{i}: 1\n" for i in range(3_000)))
    _, diagnostics = parse_stack_file(path, platform_repo, load_catalog(platform_repo).catalog)
    assert len(diagnostics) == MAX_DIAGNOSTICS_PER_FILE and "more problem(s) in this file" in diagnostics[-1].message
