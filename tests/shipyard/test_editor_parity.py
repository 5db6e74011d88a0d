"""The editor says what CI says: the committed schema (as the yaml-language-server reads a file) and
`shipyard validate` judge every fixture and 3,000 seeded single mutations of valid stack files alike, except
for the rules the README lists as "checked only by CI" (tests/support/parity.py; run it alone for the counts:
`PYTHONPATH=. python -m tests.support.parity`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support import parity

REPO = Path(__file__).resolve().parents[2]


def test_the_editor_and_ci_agree_but_for_rules_checked_only_by_ci(capsys):
    summary = parity.run()
    with capsys.disabled():
        print("\n" + summary.text())
    assert summary.mutants == parity.MUTANTS and summary.kinds["data"] and summary.kinds["text"]
    assert summary.verdicts["both green"] and summary.verdicts["both red"]
    assert not summary.editor_only, "the editor refuses what CI accepts:\n\n" + "\n\n".join(
        parity.describe(o) for o in summary.editor_only[:10])
    assert not summary.unclassified, "CI refuses, for no rule of the README's 'checked only by CI', what the " \
        "editor accepts:\n\n" + "\n\n".join(parity.describe(o) for o in summary.unclassified[:10])
    assert summary.seconds < 60


def test_every_rule_checked_only_by_ci_is_in_the_readme():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Checked only by CI"):]
    section = section[:section.index("\n#", 1)]
    listed = re.findall(r"^- \*\*(.+?)\*\*", section, re.M)
    assert sorted(listed) == sorted(parity.CI_ONLY)


ISSUE_CASES = {
    # the issue's examples: (change to a valid eks dev stack, the editor and CI both say it is invalid)
    "publicEndpoint: yes": ("  publicEndpoint: false", "  publicEndpoint: yes", True),
    "publicEndpoint: off": ("  publicEndpoint: false", "  publicEndpoint: off", True),
    "tags: {backup: yes}": ("tags: {costCenter: cc-4411}", "tags: {costCenter: cc-4411, backup: yes}", False),
    "kubeconfigSecret on eks": ("  publicEndpoint: false", "  kubeconfigSecret: kc", True),
    "eks without region": ("  region: eu-west-1\n", "", True),
    "pods: -100": ("pods: 30", "pods: -100", True),
    "a bundle twice": ("bundles: [baseline]", "bundles: [baseline, baseline]", True),
    "kubernetesVersion: 1.34": ('kubernetesVersion: "1.34"', "kubernetesVersion: 1.34", True),
    "the README's old diskSizeGiB": ("maxSize: 3}", "maxSize: 3, diskSizeGiB: 100}", True),
    "diskSizeGib": ("maxSize: 3}", "maxSize: 3, diskSizeGib: 100}", False),
    "an add-on the catalog lacks": ("bundles: [baseline]", "bundles: [baseline]\n  enable: [linkerd]", True),
    "a region dev does not allow": ("region: eu-west-1", "region: ap-south-1", True),
    "vpcCidr /24": ("  publicEndpoint: false", "  vpcCidr: 10.0.0.0/24", True),
    "a reserved namespace": ("name: billing-api", "name: kube-system", True),
    "a reserved tag key": ("costCenter: cc-4411", "team: x", True),
}
STACK = """team: billing
environment: dev
owners: ["@acme/billing"]
cluster:
  provider: eks
  region: eu-west-1
  kubernetesVersion: "1.34"
  publicEndpoint: false
  nodeGroups:
    - {name: general, instanceType: t3.large, minSize: 1, desiredSize: 1, maxSize: 3}
addons:
  bundles: [baseline]
namespaces:
  - name: billing-api
    quota: {cpu: "4", memory: 8Gi, pods: 30}
tags: {costCenter: cc-4411}
"""


@pytest.fixture(scope="module")
def judge(tmp_path_factory):
    from tests.support.repo import copy_platform

    return parity.Judge(copy_platform(tmp_path_factory.mktemp("parity") / "platform"))


@pytest.mark.parametrize("name", ISSUE_CASES)
def test_the_issues_examples_get_one_verdict(judge, name):
    old, new, invalid = ISSUE_CASES[name]
    assert old in STACK
    outcome = judge.judge(parity.Case(name, "fixture", "stacks/billing/dev.yaml", STACK.replace(old, new, 1)))
    assert (bool(outcome.editor), bool(outcome.ci)) == (invalid, invalid), (outcome.editor, outcome.ci)


def test_the_base_stack_is_valid_for_both(judge):
    outcome = judge.judge(parity.Case("base", "fixture", "stacks/billing/dev.yaml", STACK))
    assert outcome.editor == [] and outcome.ci == []
