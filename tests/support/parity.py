"""The editor/CI parity run: every fixture of tests/fixtures/validate and seeded single mutations of valid stack
files, each judged by the editor (the committed schema, read as the yaml-language-server reads YAML:
`tests/support/editor.py`) and by CI (`shipyard validate`'s checker), then compared.

    PYTHONPATH=. python -m tests.support.parity [--seed N] [--mutants N] [--show CLASS]

prints the counts: mutants, agreements, and each class of disagreement. `tests/shipyard/test_editor_parity.py`
runs it and requires: no file the editor marks red that CI accepts, and every file CI refuses that the editor
accepts refused only for rules of the README's "checked only by CI" list (`CI_ONLY`, by message).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from shipyard.repo import Repo
from shipyard.validation import LoadedPolicy, load_catalog, load_policy, validate_files
from shipyard.yamlfile import load_text
from tests.fuzz.generator import TEMPLATES, StackMutator
from tests.support import editor
from tests.support.repo import copy_platform

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schema" / "stack.schema.json"
FIXTURES = REPO / "tests" / "fixtures" / "validate"
SEED = 11
MUTANTS = 3000

CI_ONLY: dict[str, re.Pattern[str]] = {
    "node-group sizes": re.compile(r"need minSize <= desiredSize <= maxSize"),
    "unique names": re.compile(r"names must be unique|role ARNs in a group must be unique"),
    "file path": re.compile(r"does not match the folder|does not match the file name|must end in \.yaml"),
    "namespace prefix": re.compile(r"must start with the team name"),
    "namespaces claimed by other stack files": re.compile(r"is also claimed by"),
    "secrets": re.compile(r"a stack file is committed in plain text"),
    "node totals": re.compile(r"node groups may grow to \d+ nodes in total"),
    "budgets": re.compile(r"over the budget of"),
    "quota caps": re.compile(r"is over the \w+ cap of .* per namespace"),
    "YAML 1.1 values in Helm values": re.compile(r"in YAML 1\.1 but .* in YAML 1\.2"),
    "empty file": re.compile(r"file is empty"),
    "YAML the loader refuses": re.compile(
        r"merge keys|more than one YAML document|YAML tag .* is not allowed|deeper than|alias|"
        r"larger than|not UTF-8|symbolic link|not a regular file|'%YAML|characters long cannot be|"
        r"mapping keys must be plain strings|character #x|YAML syntax error|carriage return without a line feed"),
    "quantities that are not finite": re.compile(r"is not a finite number"),
    "access groups": re.compile(r"is bound by no namespace \(admins, developers or viewers\)"),
    "DNS zones of DNS add-ons": re.compile(r"needs DNS zones on eks"),
    "upgrade steps": re.compile(r"EKS upgrades one minor at a time|EKS cannot downgrade a cluster"),
}
"""The README's "checked only by CI" entries (names as written there), with the `validate` messages of each."""


@dataclass
class Case:
    name: str
    kind: str  # "fixture", "data" or "text"
    path: str
    content: str
    operation: str = ""


@dataclass
class Outcome:
    case: Case
    editor: list[str]
    ci: list[str]
    ci_lines: list[int] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return {(False, False): "both green", (True, True): "both red", (True, False): "editor red, CI green",
                (False, True): "editor green, CI red"}[(bool(self.editor), bool(self.ci))]

    def classes(self) -> list[str]:
        """For editor-green/CI-red: the CI-only rule of each CI message ("unclassified" when none fits)."""
        found = []
        for message in self.ci:
            rule = next((name for name, pattern in CI_ONLY.items() if pattern.search(message)), "unclassified")
            found.append(rule)
        return found


@dataclass
class Summary:
    seed: int
    mutants: int
    bases: int
    fixtures: int
    seconds: float
    verdicts: Counter = field(default_factory=Counter)
    kinds: Counter = field(default_factory=Counter)
    classes: Counter = field(default_factory=Counter)
    editor_only: list[Outcome] = field(default_factory=list)
    unclassified: list[Outcome] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    def text(self) -> str:
        v = self.verdicts
        agree = v["both green"] + v["both red"]
        lines = [
            f"editor/CI parity: {self.mutants:,} mutants ({self.kinds['data']:,} data, {self.kinds['text']:,} text) "
            f"of {self.bases} valid stack files (seed {self.seed}) + {self.fixtures} fixtures, {self.seconds:.1f} s",
            f"  agree: {agree:,} (both green {v['both green']:,}, both red {v['both red']:,})",
            f"  editor red, CI green: {v['editor red, CI green']:,}",
            f"  editor green, CI red: {v['editor green, CI red']:,} (files; by rule checked only by CI:)",
        ]
        for name, count in sorted(self.classes.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"    {name:42} {count:,}")
        return "\n".join(lines)


def _split_fixture(path: Path) -> tuple[str, str]:
    """(path in the repository, content) of a fixture: the `# fixture-path:` header says where it lives."""
    text = path.read_text()
    target = next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("# fixture-path:"))
    return target, text


def fixture_cases() -> list[Case]:
    cases = []
    for fixture in sorted(FIXTURES.glob("*.yaml")):
        target, text = _split_fixture(fixture)
        cases.append(Case(fixture.stem, "fixture", target, text))
    return cases


def bases() -> dict[str, tuple[str, str, dict]]:
    """Valid stack files to mutate: the repository's, the happy fixtures and the fuzz templates."""
    out = {}
    for path in sorted((REPO / "stacks").glob("*/*.yaml")):
        text = path.read_text()
        out[path.relative_to(REPO).as_posix()] = (path.relative_to(REPO).as_posix(), text, load_text(text, "").data)
    for fixture in sorted(FIXTURES.glob("*.happy.yaml")):
        target, text = _split_fixture(fixture)
        out[fixture.name] = (target, text, load_text(text, "").data)
    for provider, template in TEMPLATES.items():
        team, env = f"mut{provider}", "dev" if provider != "existing" else "staging"
        text = template.format(team=team, env=env)
        out[f"template-{provider}"] = (f"stacks/{team}/{env}.yaml", text, load_text(text, "").data)
    return out


def mutant_cases(seed: int, count: int) -> list[Case]:
    mutator = StackMutator(seed, bases())
    return [Case(f"mutant-{m.number}", "text" if m.operation == "text" else "data", m.path, m.content,
                 f"{m.base}: {m.operation}") for m in mutator.mutants(count)]


class Judge:
    """The two checkers, on one scratch copy of the platform repository."""

    def __init__(self, root: Path):
        self.root = root
        self.validator = editor.EditorValidator(json.loads(SCHEMA.read_text()))
        self.catalog = load_catalog(root).catalog
        self.policy: LoadedPolicy = load_policy(root, self.catalog)
        assert self.catalog is not None and self.policy.policy is not None, "the platform files must be valid"
        self.minor = Repo(root).local_kubernetes_minor

    def judge(self, case: Case) -> Outcome:
        target = self.root / case.path
        before = target.read_bytes() if target.is_file() else None
        created = not target.parent.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(case.content)
        try:
            ci = validate_files([target], self.root, self.catalog, self.minor, jobs=1, policy=self.policy)
        finally:
            if before is None:
                target.unlink()
                if created:
                    shutil.rmtree(target.parent)
            else:
                target.write_bytes(before)
        return Outcome(case, editor.problems(case.content, self.validator), [d.message for d in ci],
                       [d.line for d in ci])


def run(seed: int = SEED, count: int = MUTANTS, root: Path | None = None) -> Summary:
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        judge = Judge(root or copy_platform(Path(scratch) / "platform"))
        fixtures = fixture_cases()
        mutants = mutant_cases(seed, count)
        summary = Summary(seed, len(mutants), len(bases()), len(fixtures), 0.0)
        for case in fixtures + mutants:
            outcome = judge.judge(case)
            summary.outcomes.append(outcome)
            summary.verdicts[outcome.verdict] += 1
            if case.kind != "fixture":
                summary.kinds[case.kind] += 1
            if outcome.verdict == "editor red, CI green":
                summary.editor_only.append(outcome)
            elif outcome.verdict == "editor green, CI red":
                classes = outcome.classes()
                for name in set(classes):
                    summary.classes[name] += 1
                if "unclassified" in classes:
                    summary.unclassified.append(outcome)
    summary.seconds = time.monotonic() - started
    return summary


def describe(outcome: Outcome) -> str:
    case = outcome.case
    return (f"{case.name} ({case.kind}{': ' + case.operation if case.operation else ''}) at {case.path}\n"
            f"  editor: {outcome.editor[:3]}\n  CI: {outcome.ci[:3]}\n" + "\n".join(
                f"    | {line}" for line in case.content.splitlines()[:60]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--mutants", type=int, default=MUTANTS)
    parser.add_argument("--show", help="print the cases of one verdict or class, e.g. 'editor red, CI green'")
    args = parser.parse_args(argv)
    summary = run(args.seed, args.mutants)
    print(summary.text())
    if args.show:
        for outcome in summary.outcomes:
            if args.show == outcome.verdict or (outcome.verdict == "editor green, CI red"
                                                and args.show in outcome.classes()):
                print(describe(outcome))
    return 0 if not summary.editor_only and not summary.unclassified else 1


if __name__ == "__main__":
    sys.exit(main())
