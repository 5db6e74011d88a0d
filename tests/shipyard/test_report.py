from shipyard.engine import ResourceChange
from shipyard.report import COMMENT_MARKER, preview_markdown
from shipyard.runner import StackReport, risk_of


def change(type_: str, op: str, *props: str, name: str = "r") -> ResourceChange:
    return ResourceChange(f"urn:{type_}:{name}", type_, name, op, props)


def test_risk_levels():
    assert risk_of([]) == "none"
    assert risk_of([change("kubernetes:core/v1:ResourceQuota", "update", "spec.hard.pods")]) == "low"
    assert risk_of([change("kubernetes:helm.sh/v4:Chart", "update", "version")]) == "medium"
    assert risk_of([change("kubernetes:helm.sh/v4:Chart", "update", "values")]) == "low"
    for type_ in ("aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup", "aws:ec2/vpc:Vpc",
                  "kubernetes:core/v1:Namespace"):
        for op in ("replace", "delete"):
            assert risk_of([change(type_, op)]) == "high", (type_, op)
    assert risk_of([change("kubernetes:core/v1:Namespace", "update", "metadata.labels")]) == "low"


def test_markdown_has_a_summary_table_then_collapsed_details():
    prod_cost = {"monthly": 456.16, "currency": "USD", "priced": True, "budget": 5000.0,
                 "previous": 444.16, "change": 12.0,
                 "lines": [{"item": "nodes general: m6i.large", "quantity": 3, "unit": "node", "monthly": 234.33}]}
    reports = [StackReport("ledger-prod", "preview", [change("kubernetes:core/v1:Namespace", "delete", name="ns")],
                           extra={"cost": prod_cost}),
               StackReport("sandbox-dev", "preview", [], extra={"cost": {**prod_cost, "priced": False}}),
               StackReport("payments-staging", "preview", error="boom")]
    text = preview_markdown(reports)
    assert text.startswith(COMMENT_MARKER)
    assert "Overall risk: **🔴 high**" in text
    assert "| `ledger-prod` | 🔴 high | 0 | 0 | 0 | 1 | 456.16 USD (+12.00) |  |" in text
    assert "| `sandbox-dev` | ⚪ none | 0 | 0 | 0 | 0 | not billed | no changes |" in text
    assert "| `payments-staging` | — | 0 | 0 | 0 | 0 | — | ❌ failed |" in text
    assert text.index("| stack |") < text.index("<details>")
    assert "- **delete** `kubernetes:core/v1:Namespace` `ns`" in text
    assert "**Estimated monthly cost** 456.16 USD (+12.00) of a 5,000.00 USD budget" in text
    assert "| nodes general: m6i.large | 3 node | 234.33 USD |" in text


def test_markdown_never_exceeds_the_limit_and_says_what_was_cut():
    many = [StackReport(f"team{i}-dev", "preview",
                        [change("kubernetes:core/v1:ConfigMap", "update", "data.x" * 20, name=f"c{j}")
                         for j in range(40)]) for i in range(60)]
    text = preview_markdown(many, json_name="preview.json")
    assert len(text) <= 60_000
    assert "were cut to keep this comment under 60,000 characters" in text and "`preview.json`" in text
    assert "| `team59-dev` |" in text  # the summary table keeps every stack


def test_cost_cell_says_new_when_nothing_was_applied_yet():
    from shipyard.cost import cost_cell

    base = {"monthly": 1234.5, "currency": "USD", "priced": True}
    assert cost_cell({**base, "change": None}) == "1,234.50 USD (new)"
    assert cost_cell({**base, "change": 0.0}) == "1,234.50 USD (±0)"
    assert cost_cell({**base, "change": -34.5}) == "1,234.50 USD (-34.50)"
    assert cost_cell(None) == "—"
