"""The real yaml-language-server (npm, pinned in tests/lsp/package-lock.json), driven over LSP (stdio
JSON-RPC) as an editor drives it, with the workspace settings of `.vscode/settings.json`: diagnostics on the
lines CI reports, completion that offers only what fits, hover that shows the descriptions. It also holds the
parity test's model of the editor (`tests/support/editor.py`) to the real thing, file by file.

The server is installed on first use (`python -m tests.support.lsp`, i.e. `npm ci` in tests/lsp; a no-op when
the installed copy matches the lock file). Without Node.js on PATH they fail, saying so: never a skip.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support import parity
from tests.support.lsp import LanguageServer, install
from tests.support.repo import PARTS, copy_platform

REPO = Path(__file__).resolve().parents[2]
MUTANT_SAMPLE = 2000
MODELINE = "# yaml-language-server: $schema=../../schema/stack.schema.json\n"



@pytest.fixture(autouse=True)
def _node() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node.js 20+ (node and npm on PATH) is needed to run the yaml-language-server")


def _settings() -> dict[str, Any]:
    """The editor's settings: the repository's `.vscode/settings.json`, plus what a test needs (no network)."""
    workspace = json.loads((REPO / ".vscode" / "settings.json").read_text())
    yaml_settings = {key.split(".", 1)[1]: value for key, value in workspace.items() if key.startswith("yaml.")}
    return {"yaml": {**yaml_settings, "validate": True, "hover": True, "completion": True,
                     "schemaStore": {"enable": False}}}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return copy_platform(tmp_path_factory.mktemp("lsp") / "platform", PARTS + ("schema", ".vscode"))


@pytest.fixture(scope="module")
def server(workspace: Path):
    executable = install()
    with LanguageServer(["node", str(executable), "--stdio"], workspace, _settings()) as language_server:
        yield language_server


class Files:
    """Each document at its own path under stacks/ (a path is never reused: late diagnostics of an earlier
    document must not be taken for a later one's)."""

    def __init__(self, server: LanguageServer, root: Path):
        self.server, self.root, self.count = server, root, 0

    def diagnostics(self, text: str, name: str = "dev.yaml", folder: str = "stacks") -> tuple[str, list[dict]]:
        [(uri, found)] = self.batch([(text, name)], folder)
        return uri, found

    def batch(self, documents: list[tuple[str, str]], folder: str = "stacks") -> list[tuple[str, list[dict]]]:
        """Open all, then collect: the server waits 200 ms before validating each document, concurrently."""
        uris = []
        for text, name in documents:
            self.count += 1
            uris.append(self.server.open(self.root / folder / f"case{self.count}" / name, text))
        return [(uri, self.server.diagnostics(uri)) for uri in uris]


@pytest.fixture(scope="module")
def files(server, workspace) -> Files:
    return Files(server, workspace)


def _lines(diagnostics: list[dict]) -> set[int]:
    return {d["range"]["start"]["line"] + 1 for d in diagnostics}


EKS = """team: billing
environment: prod
owners: ["@acme/billing"]
cluster:
  provider: eks
  region: eu-central-1
  kubernetesVersion: 1.34
  kubeconfigSecret: kc
  publicEndpoint: yes
  nodeGroups:
    - {name: general, instanceType: t3.large, minSize: 2, desiredSize: 3, maxSize: 60}
addons:
  bundles: [baseline, observability]
  enable: [cert-manager, linkerd]
namespaces:
  - name: default
    quota: {cpu: "16", memory: 32Gi, pods: -100}
tags: {team: x, backup: yes}
"""
EXPECTED = {  # line: words of the message there
    6: "Not allowed in prod (policy.yaml environments.prod.regions); use one of: eu-west-1, us-east-1",
    7: 'quoted: "1.33"',
    8: "'kubeconfigSecret' does not apply to provider 'eks' (only to 'existing'); remove it",
    9: "true or false",
    11: "Value is above the maximum of 20",
    14: "Already comes with bundle 'baseline'",
    16: "Reserved by Kubernetes",
    17: "Value is below the minimum of 0",
    18: "Set by the platform",
}


def test_diagnostics_are_on_the_lines_of_the_mistakes_in_words(files):
    _, diagnostics = files.diagnostics(EKS, "prod.yaml")  # no modeline: the workspace settings associate the schema
    by_line: dict[int, list[str]] = {}
    for d in diagnostics:
        by_line.setdefault(d["range"]["start"]["line"] + 1, []).append(d["message"])
    for line, words in EXPECTED.items():
        assert any(words in message for message in by_line.get(line, [])), (line, by_line.get(line))
    assert set(by_line) - set(EXPECTED) <= {14}, by_line  # 14 also names linkerd, not in the catalog
    assert any("Not an add-on of addons/catalog.yaml" in m for m in by_line[14])
    everything = " ".join(m for messages in by_line.values() for m in messages)
    assert "does not match the pattern" not in everything and "Invalid pattern" not in everything
    assert 'backup' not in everything  # `backup: yes` is the string "yes", as CI reads it


def test_a_file_outside_stacks_without_the_modeline_gets_no_stack_schema(files):
    _, diagnostics = files.diagnostics("team: [not, a, label]\n", "dev.yaml", folder="elsewhere")
    assert diagnostics == []


def test_the_modeline_alone_applies_the_schema(files):
    text = "# yaml-language-server: $schema=../../schema/stack.schema.json\nteam: Billing\n"
    _, diagnostics = files.diagnostics(text, "dev.yaml", folder="other")
    assert any("A DNS-1123 label" in d["message"] for d in diagnostics)


def test_every_fixture_gets_the_editor_verdict_of_the_parity_test_on_cis_lines(files, workspace, capsys):
    """Every fixture through the real server: red or green as the parity test's editor model says, and where
    CI reports a rule the schema expresses, the server marks the same line (or, for a key whose value is a
    block, the value's first line)."""
    judge = parity.Judge(workspace)
    cases = parity.fixture_cases()
    served = files.batch([(case.content, Path(case.path).name) for case in cases])
    verdicts, located = [], 0
    for case, (_, diagnostics) in zip(cases, served):
        outcome = judge.judge(case)
        assert bool(diagnostics) == bool(outcome.editor), (case.name, diagnostics, outcome.editor)
        verdicts.append(case.name)
        # "unclassified": not a rule of the README's "checked only by CI", so one the schema expresses
        if outcome.ci and diagnostics and all(rule == "unclassified" for rule in outcome.classes()):
            lines = _lines(diagnostics)
            first = next(n for n, text in enumerate(case.content.splitlines(), 1) if text and text[0] != "#")
            for line in outcome.ci_lines:  # CI puts what is wrong with the whole file on line 1
                assert line in lines or line + 1 in lines or (line == 1 and first in lines), \
                    (case.name, line, sorted(lines), diagnostics)
            located += 1
    with capsys.disabled():
        print(f"\nlanguage server: {len(verdicts)} fixtures, each with the parity test's verdict; {located} with "
              f"CI-expressible errors, each marked on CI's line")
    assert located > 30


def test_a_sample_of_mutants_gets_the_editor_verdict_of_the_parity_test(files, server, workspace, capsys):
    """The real server against the parity test's model of it, on 2,000 mutants. They may differ only where
    the server shows nothing and CI refuses the file for a rule the README lists as checked only by CI:
    text the two YAML parsers read differently (a form feed, a syntax libyaml refuses), tags CI refuses that
    the server skips (`!!set`); or where the server itself fails on the file (it reports a
    `yaml.validation.error` telemetry event and shows nothing: e.g. an empty mapping key, a modeline with a
    `#`). Never may the server mark a file the model accepts — but for one thing that is no rule of the file's:
    a mutated modeline naming a schema file that does not exist, which the server says it cannot load (and
    checks nothing else); CI reads no modeline."""
    judge = parity.Judge(workspace)
    mutants = parity.mutant_cases(parity.SEED, MUTANT_SAMPLE)
    served = files.batch([(case.content, Path(case.path).name) for case in mutants])
    same, ci_only, crashed, unloadable, differ = 0, 0, 0, 0, []
    messages = [d["message"] for _, diagnostics in served for d in diagnostics]
    raw = [m for m in messages if re.search(r"does not match the pattern|Valid values|Invalid pattern|"
                                            r"Matches a schema that is not allowed|Expected \"\w+ cluster\"", m)]
    assert not raw, raw[:5]  # every schema message is in words (and a wrong cluster is one error, not four)
    for case, (_, diagnostics) in zip(mutants, served):
        outcome = judge.judge(case)
        if bool(diagnostics) == bool(outcome.editor):
            same += 1
            continue
        if diagnostics and all(d["message"].startswith("Unable to load schema from") for d in diagnostics) \
                and not case.content.startswith(MODELINE):
            unloadable += 1
            continue
        if not diagnostics:
            before = len(server.telemetry)
            files.diagnostics(case.content, Path(case.path).name)  # again, alone: did the server fail on it?
            if any(event.get("name") == "yaml.validation.error" for event in server.telemetry[before:]):
                crashed += 1
                continue
            if outcome.ci and "unclassified" not in outcome.classes():
                ci_only += 1
                continue
        differ.append((case, [d["message"] for d in diagnostics], outcome.editor, outcome.ci))
    with capsys.disabled():
        print(f"\nlanguage server: {len(mutants)} mutants: {same} with the parity test's editor verdict; {ci_only} "
              f"green in the server and refused by CI for a rule checked only by CI; {crashed} on which the server "
              f"failed (telemetry yaml.validation.error) and showed nothing; {unloadable} whose mutated modeline "
              "names a schema file that does not exist")
    assert not differ, "\n\n".join(f"{c.name} ({c.operation}): server {s[:3]} / model {m[:3]} / CI {ci[:3]}\n"
                                   f"{c.content!r}" for c, s, m, ci in differ[:5])


def _labels(items: list[dict]) -> set[str]:
    return {item["label"] for item in items}


def test_completion_offers_only_the_keys_of_the_stacks_provider(files, server):
    head = "team: billing\nenvironment: dev\nowners: ['@acme/billing']\ncluster:\n  provider: {}\n  \n"
    offered = {}
    for provider in ("eks", "local", "existing"):
        uri, _ = files.diagnostics(head.format(provider))
        offered[provider] = _labels(server.completion(uri, 5, 2))
    assert {"region", "kubernetesVersion", "nodeGroups", "availabilityZones", "vpcCidr", "publicEndpoint"} \
        <= offered["eks"] and "kubeconfigSecret" not in offered["eks"]
    assert offered["local"] <= {"kubernetesVersion", "provider"} and "kubernetesVersion" in offered["local"]
    assert offered["existing"] <= {"kubernetesVersion", "kubeconfigSecret", "provider"}
    assert "kubeconfigSecret" in offered["existing"] and "region" not in offered["existing"]


def test_completion_inserts_real_defaults_never_null(files, server):
    text = "team: billing\nenvironment: dev\nowners: ['@acme/billing']\ncluster:\n  provider: eks\n  \n"
    uri, _ = files.diagnostics(text)
    items = {item["label"]: item for item in server.completion(uri, 5, 2)}
    assert "null" not in json.dumps([item.get("insertText", "") for item in items.values()])
    assert items["availabilityZones"]["insertText"] == "availabilityZones: ${1:3}"
    assert items["publicEndpoint"]["insertText"] == "publicEndpoint: ${1:false}"


def test_value_completion_offers_what_the_environment_and_catalog_allow(files, server):
    text = "team: billing\nenvironment: prod\nowners: ['@acme/billing']\ncluster:\n  provider: eks\n  region: \n" \
           "addons:\n  bundles:\n    - \n"
    uri, _ = files.diagnostics(text)
    assert _labels(server.completion(uri, 5, 10)) == {"eu-west-1", "us-east-1"}  # prod's regions, policy.yaml
    assert _labels(server.completion(uri, 8, 6)) >= {"baseline", "observability", "gitops"}


def test_hover_shows_the_title_description_and_example(files, server):
    uri, _ = files.diagnostics(EKS, "prod.yaml")
    region = server.hover(uri, 5, 4)
    assert region.startswith("#### Region") and "AWS region" in region and "```yaml\nregion: eu-west-1\n```" in region
    quota = server.hover(uri, 16, 5)
    assert quota.startswith("#### Quota") and "defaultQuota" in quota
    cpu = server.hover(uri, 16, 14)
    assert cpu.startswith("#### CPU") and "||" not in cpu
    provider = server.hover(uri, 4, 4)
    assert "#### Provider" in provider and "a new AWS EKS cluster" in provider
