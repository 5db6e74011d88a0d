"""The platform policy file and the price table: their own errors (located in them) and the cost estimate.

The rules a stack file must keep are data-driven fixtures (tests/fixtures/validate/policy_*.yaml).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.cost import estimate
from shipyard.repo import Repo
from shipyard.validation import check_stack, load_catalog, load_policy


def _policy_problems(root: Path) -> list[tuple[str, int, str]]:
    loaded = load_policy(root, load_catalog(root).catalog)
    return [(d.path, d.line, d.message) for d in loaded.diagnostics]


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def test_repository_policy_and_prices_are_valid(platform_repo: Path):
    assert _policy_problems(platform_repo) == []


def test_policy_unknown_key_is_reported_on_its_line(platform_repo: Path):
    policy = platform_repo / "policy.yaml"
    _replace(policy, "    maxNodesTotal: 10\n", "    maxNodesTotal: 10\n    maxNode: 3\n")
    [(path, line, message)] = _policy_problems(platform_repo)
    assert (path, line) == ("policy.yaml", _line_of(policy, "maxNode: 3"))
    assert "unknown key 'maxNode'" in message and "maxNodesPerGroup" in message


def test_policy_must_cover_every_environment(platform_repo: Path):
    policy = platform_repo / "policy.yaml"
    text = policy.read_text()
    start, end = text.index("  staging:\n"), text.index("  prod:\n")
    policy.write_text(text[:start] + text[end:])
    [(_, line, message)] = _policy_problems(platform_repo)
    assert line == _line_of(policy, "environments:")
    assert "environment 'staging' has no rules; add environments.staging" in message


def test_required_addon_must_exist_in_the_catalog(platform_repo: Path):
    policy = platform_repo / "policy.yaml"
    _replace(policy, "requiredAddons: [observability]", "requiredAddons: [observabilty]")
    [(_, line, message)] = _policy_problems(platform_repo)
    assert line == _line_of(policy, "observabilty")
    assert "'observabilty' is neither an add-on nor a bundle" in message


def test_allowed_region_and_instance_types_must_be_priced(platform_repo: Path):
    policy = platform_repo / "policy.yaml"
    _replace(policy, "regions: [eu-west-1, us-east-1]", "regions: [eu-west-1, us-east-1, ap-south-1]")
    _replace(policy, "instanceTypes: [t3.medium,", "instanceTypes: [t3.nano, t3.medium,")
    problems = _policy_problems(platform_repo)
    assert ("policy.yaml", _line_of(policy, "ap-south-1"),
            "environments.prod.regions[2]: region 'ap-south-1' has no prices in pricing/aws.yaml; add them there "
            "first so budgets can be checked") in problems
    assert any(line == _line_of(policy, "t3.nano") and "t3.nano has no price in" in message
               for _, line, message in problems)


def test_price_table_errors_are_located_in_it(platform_repo: Path):
    prices = platform_repo / "pricing" / "aws.yaml"
    _replace(prices, "      t3.large: 0.0832\n", "      t3.large: free\n")
    problems = _policy_problems(platform_repo)
    assert [(p, l) for p, l, _ in problems] == [("pricing/aws.yaml", _line_of(prices, "t3.large: free"))]
    assert "expected a number" in problems[0][2] or "number" in problems[0][2]


def test_missing_policy_file_blocks_every_stack(platform_repo: Path):
    (platform_repo / "policy.yaml").unlink()
    ref = Repo(platform_repo).stack("ledger-dev")
    checked = check_stack(platform_repo, ref.path, None)
    assert checked.stack is None
    assert any(d.path == "policy.yaml" and "the platform policy is missing" in d.message for d in checked.diagnostics)


def test_estimate_of_ledger_prod_adds_up_line_by_line(platform_repo: Path):
    repo = Repo(platform_repo)
    checked = check_stack(platform_repo, repo.stack("ledger-prod").path, repo.local_kubernetes_minor)
    assert checked.stack is not None and checked.policy.prices is not None
    cost = estimate(checked.stack, checked.catalog, checked.policy.prices)
    lines = {line.item: round(line.monthly, 2) for line in cost.lines}
    # eu-west-1, 730 h: 3 x m6i.large, 3 x 50 GiB gp3, prod = one NAT per zone (3), ingress-nginx's NLB.
    assert lines == {
        "EKS control plane": 73.0,
        "nodes general: m6i.large": round(3 * 0.107 * 730, 2),
        "node volumes general: gp3": round(150 * 0.088, 2),
        "NAT gateways": round(3 * 0.048 * 730, 2),
        "load balancers": round(0.0252 * 730, 2),
    }
    assert cost.monthly == pytest.approx(sum(lines.values()), abs=0.01)


def test_clusters_shipyard_does_not_pay_for_cost_nothing(platform_repo: Path):
    repo = Repo(platform_repo)
    checked = check_stack(platform_repo, repo.stack("sandbox-dev").path, repo.local_kubernetes_minor)
    cost = estimate(checked.stack, checked.catalog, checked.policy.prices)
    assert (cost.monthly, cost.priced) == (0, False)


def test_budget_override_lets_one_stack_spend_more(platform_repo: Path):
    stack = platform_repo / "stacks" / "ledger" / "dev.yaml"
    _replace(stack, "instanceType: t3.large, minSize: 1, desiredSize: 1, maxSize: 3",
             "instanceType: t3.xlarge, minSize: 4, desiredSize: 4, maxSize: 5")
    repo = Repo(platform_repo)
    assert any("over the budget of 500.00 USD" in d.message
               for d in check_stack(platform_repo, stack, repo.local_kubernetes_minor).diagnostics)
    _replace(platform_repo / "policy.yaml", "budgetOverrides: {}", "budgetOverrides: {ledger-dev: 800}")
    assert check_stack(platform_repo, stack, repo.local_kubernetes_minor).diagnostics == []


def test_cost_report_compares_with_what_the_last_up_exported(platform_repo: Path):
    from shipyard.cost import cost_report

    repo = Repo(platform_repo)
    checked = check_stack(platform_repo, repo.stack("ledger-prod").path, repo.local_kubernetes_minor)
    cost = estimate(checked.stack, checked.catalog, checked.policy.prices)
    applied = cost.as_json()  # what __main__.py exports as `estimatedMonthlyCost`
    assert cost_report(cost, 5000.0, applied)["change"] == 0
    report = cost_report(cost, 5000.0, {**applied, "monthly": applied["monthly"] - 100})
    assert (report["previous"], report["change"], report["budget"]) == (applied["monthly"] - 100, 100.0, 5000.0)
    # Never applied, or applied before estimates existed: no change to show, never a guess.
    assert cost_report(cost, 5000.0, None)["change"] is None
    assert cost_report(cost, 5000.0, "[secret]")["previous"] is None


def test_a_default_quota_over_its_cap_is_reported_on_its_line(platform_repo: Path):
    policy = platform_repo / "policy.yaml"
    _replace(policy, 'defaultQuota: {cpu: "2", memory: 4Gi, pods: 20}', 'defaultQuota: {cpu: "2", memory: 40Gi, pods: 20}')
    [(_, line, message)] = _policy_problems(platform_repo)
    assert line == _line_of(policy, "memory: 40Gi")
    assert "the default memory quota 40Gi is over maxQuota.memory 32Gi" in message


def test_namespaces_without_quota_get_the_environment_default(platform_repo: Path):
    path = platform_repo / "stacks/sandbox/dev.yaml"
    text = path.read_text()
    path.write_text("\n".join(line for line in text.splitlines() if "quota:" not in line) + "\n")
    checked = check_stack(platform_repo, path, Repo(platform_repo).local_kubernetes_minor)
    assert checked.diagnostics == []
    quotas = {ns.name: (ns.quota.cpu, ns.quota.memory, ns.quota.pods) for ns in checked.stack.namespaces}
    assert set(quotas.values()) == {("2", "4Gi", "20")}


def test_quota_caps_compare_quantities_by_value(platform_repo: Path):
    path = platform_repo / "stacks/sandbox/dev.yaml"
    text = path.read_text()
    first = next(line for line in text.splitlines() if "quota:" in line)
    indent = first[:first.index("quota:")]
    path.write_text(text.replace(first, indent + 'quota: {cpu: 16000m, memory: "32768Mi", pods: 1e2}', 1))
    assert check_stack(platform_repo, path, Repo(platform_repo).local_kubernetes_minor).diagnostics == []
    path.write_text(text.replace(first, indent + 'quota: {cpu: 16001m, memory: "0.04Ti", pods: 101}', 1))
    problems = [d.message for d in check_stack(platform_repo, path, Repo(platform_repo).local_kubernetes_minor).diagnostics]
    assert len(problems) == 3 and all("over the dev cap" in m for m in problems), problems


def test_every_environment_names_the_role_ci_applies_with(platform_repo):
    from shipyard.validation import load_catalog, load_policy

    policy = platform_repo / "policy.yaml"
    text = policy.read_text()
    text = text.replace("    applyRoleArn: arn:aws:iam::222222222222:role/shipyard-apply\n", "", 1)
    text = text.replace("arn:aws:iam::111111111111:role/shipyard-preview", "arn:aws:iam::1111:role/x", 1)
    policy.write_text(text)
    loaded = load_policy(platform_repo, load_catalog(platform_repo).catalog)
    messages = sorted(d.message for d in loaded.diagnostics)
    assert loaded.policy is None and len(messages) == 2
    assert any("environments.prod: missing required key 'applyRoleArn'" in m for m in messages)
    assert any("'arn:aws:iam::1111:role/x' is not an IAM role ARN" in m for m in messages)
