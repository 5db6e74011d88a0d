import json
import re
from pathlib import Path

import pytest

from shipyard.cli import main
from shipyard.cli.report import MergeError, merge_reports
from shipyard.cli.selection import shard_of
from shipyard.engine import ResourceChange
from shipyard.guard import Destruction
from shipyard.report import COMMENT_MARKER, drift_json, drift_markdown, preview_json, preview_markdown
from shipyard.runner import StackReport, risk_of

REPO = Path(__file__).resolve().parents[2]


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


# Merging the JSON reports of sharded runs (`shipyard report merge`).

COST = {"monthly": 120.5, "currency": "USD", "priced": True, "budget": 500.0, "previous": None, "change": None,
        "lines": [{"item": "nodes general: m6i.large", "quantity": 1, "unit": "node", "monthly": 120.5}]}


def drift_reports(count: int) -> list[StackReport]:
    """A fleet where every 7th stack drifted, every 13th failed, the rest are clean."""
    reports = []
    for i in range(count):
        stack = f"team{i:04d}-{('dev', 'staging', 'prod')[i % 3]}"
        if i % 13 == 5:
            reports.append(StackReport(stack, "drift", error="engine failed: timeout", extra={"status": "error"}))
        elif i % 7 == 3:
            found = [ResourceChange(f"urn:q{i}", "kubernetes:core/v1:ResourceQuota", f"{stack}-quota", "update",
                                    ("spec.hard.pods",), source="live"),
                     ResourceChange(f"urn:b{i}", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "admins",
                                    "update", ("subjects",), source="git")]
            reports.append(StackReport(stack, "drift", found, extra={"status": "drift"}))
        else:
            reports.append(StackReport(stack, "drift", extra={"status": "clean"}))
    return reports


def preview_reports(count: int) -> list[StackReport]:
    reports = []
    for i in range(count):
        stack = f"team{i:04d}-{('dev', 'prod')[i % 2]}"
        if i % 11 == 4:
            reports.append(StackReport(stack, "preview", error="preview failed", seconds=1.25))
        else:
            changes = [change("kubernetes:core/v1:ConfigMap", "update", "data.x", name=f"c{i}")] if i % 3 else []
            reports.append(StackReport(stack, "preview", changes, {"same": 4, "update": len(changes)},
                                       seconds=2.5 + i / 100, extra={"cost": COST}))
    return reports


def preview_data(reports: list[StackReport], decommissioned=(), destroys=(), blocked=False) -> dict:
    """What `shipyard preview --json` writes for these reports."""
    data = preview_json(reports)
    data["decommissioned"] = list(decommissioned)
    data["destroys_production"] = [d.as_json() for d in destroys]
    data["blocked"] = blocked
    return data


def shards(make, reports: list[StackReport], count: int, **kwargs) -> list[tuple[str, dict]]:
    """The reports `--shard I/N` runs would write (through JSON text, as files carry them)."""
    documents = []
    for index in range(1, count + 1):
        data = make([r for r in reports if shard_of(r.stack, count) == index], **kwargs)
        data["shard"] = {"index": index, "count": count}
        documents.append((f"shard-{index}.json", json.loads(json.dumps(data))))
    return documents


def write(tmp_path, documents) -> list[str]:
    paths = []
    for name, data in documents:
        (tmp_path / name).write_text(json.dumps(data) if not isinstance(data, str) else data)
        paths.append(str(tmp_path / name))
    return paths


def test_sharded_drift_reports_merge_into_the_unsharded_report():
    reports = sorted(drift_reports(300), key=lambda r: r.stack)
    merged = merge_reports(shards(drift_json, reports, 8))
    assert merged.kind == "drift"
    assert merged.as_json() == json.loads(json.dumps(drift_json(reports)))
    assert merged.markdown("drift.json") == drift_markdown(reports)
    assert merged.exit_code() == 1  # some checks failed


def test_sharded_preview_reports_merge_into_the_unsharded_report():
    reports = sorted(preview_reports(120), key=lambda r: r.stack)
    prod = next(r.stack for r in reports if r.stack.endswith("-prod"))
    destroys = [Destruction(prod, "delete kubernetes:core/v1:Namespace ns")]
    unsharded = preview_data(reports, destroys=destroys, blocked=True)
    documents = []
    for name, data in shards(preview_data, reports, 4):
        if data["shard"]["index"] == shard_of(prod, 4):
            data["destroys_production"], data["blocked"] = [d.as_json() for d in destroys], True
        documents.append((name, data))
    merged = merge_reports(documents)
    assert merged.kind == "preview"
    assert merged.as_json() == json.loads(json.dumps(unsharded))
    assert "shard" not in merged.as_json()
    assert merged.markdown("preview.json") == preview_markdown(reports, destroys=destroys, approved=False)
    assert merged.exit_code() == 1  # blocked, and some previews failed


def test_merged_stacks_are_ordered_by_name_whatever_the_file_order():
    reports = drift_reports(40)
    documents = list(reversed(shards(drift_json, reports, 3)))
    stacks = [s["stack"] for s in merge_reports(documents).as_json()["stacks"]]
    assert stacks == sorted(r.stack for r in reports)


def test_a_missing_shard_is_named_and_nothing_is_merged():
    documents = [d for d in shards(drift_json, drift_reports(50), 4) if d[1]["shard"]["index"] != 3]
    with pytest.raises(MergeError, match=r"shard 3/4 is missing"):
        merge_reports(documents)


def test_a_shard_given_twice_is_an_error_naming_both_files():
    documents = shards(drift_json, drift_reports(50), 4)
    documents.append(("again.json", documents[1][1]))
    with pytest.raises(MergeError) as caught:
        merge_reports(documents)
    assert "shard 2/4 is given more than once: shard-2.json, again.json" in str(caught.value)
    assert "is in more than one report" not in str(caught.value)  # said once, not once per stack


def test_reports_of_runs_with_different_shard_counts_do_not_merge():
    documents = shards(drift_json, drift_reports(20), 2)[:1] + shards(drift_json, drift_reports(20), 3)[1:]
    with pytest.raises(MergeError, match="different numbers of shards"):
        merge_reports(documents)


def test_a_stack_of_another_shard_is_an_error():
    documents = shards(drift_json, drift_reports(50), 2)
    stray = documents[1][1]["stacks"][0]
    documents[0][1]["stacks"].append(stray)
    with pytest.raises(MergeError, match=rf"shard-1.json: 1 stack\(s\) of other shards .*{stray['stack']}"):
        merge_reports(documents)


def test_sharded_and_unsharded_reports_do_not_merge():
    documents = shards(drift_json, drift_reports(20), 2) + [("plain.json", drift_json([]))]
    with pytest.raises(MergeError, match=r"plain.json carry no shard"):
        merge_reports(documents)


def test_a_stack_in_two_reports_is_an_error():
    one, two = drift_reports(3)[:2], drift_reports(3)[1:]
    with pytest.raises(MergeError, match=f"stack {two[0].stack} is in more than one report: a.json, b.json"):
        merge_reports([("a.json", drift_json(one)), ("b.json", drift_json(two))])


def test_drift_and_preview_reports_do_not_mix():
    with pytest.raises(MergeError, match=r"drift reports with preview reports \(drift: d.json; preview: p.json\)"):
        merge_reports([("d.json", drift_json(drift_reports(2))), ("p.json", preview_data(preview_reports(2)))])


@pytest.mark.parametrize("data, message", [
    ([], 'expected a JSON object with a "stacks" list'),
    ({"stacks": [], "risk": "none"}, "not a preview report .*missing errors, decommissioned"),
    ({"stacks": [], "verdict": 1}, "unexpected field"),
    ({"stacks": [{"stack": "x", "resources": []}]}, "'x' is not a stack name"),
    ({"stacks": [{"stack": "a-dev", "status": "fine", "error": None, "changes": []}]}, '"status" must be one of'),
    ({"stacks": [{"stack": "a-dev", "status": "drift", "error": None, "changes": [{"urn": "u"}]}]},
     r'stacks\[0\] \(a-dev\).changes\[0\]: missing "properties"'),
    ({"stacks": [{"stack": "<!channel>-dev", "status": "clean", "error": None, "changes": []}]},
     "is not a stack name"),
    ({"stacks": [], "shard": {"index": 5, "count": 4}}, r"shard 5/4 is out of range"),
])
def test_a_file_that_is_not_a_report_is_named_in_the_error(data, message):
    with pytest.raises(MergeError, match=rf"bad.json: .*{message}"):
        merge_reports([("bad.json", data)])


def test_a_preview_with_a_malformed_cost_is_refused_before_rendering():
    data = json.loads(json.dumps(preview_data(preview_reports(1))))
    data["stacks"][0]["cost"] = {"priced": True, "monthly": "lots", "currency": "USD"}
    with pytest.raises(MergeError, match=r"stacks\[0\] \(team0000-dev\).cost: expected a number"):
        merge_reports([("p.json", data)])


def test_empty_shards_merge_into_a_valid_empty_report():
    merged = merge_reports(shards(drift_json, [], 3))
    assert merged.as_json() == {"stacks": []} and merged.exit_code() == 0
    assert merge_reports(shards(preview_data, [], 2)).as_json() == preview_data([])


def test_markdown_keeps_untrusted_text_literal():
    hostile = ResourceChange("urn:x", "t`y|pe", "<img src=x onerror=alert(1)> ``name``", "**op**", ("a|b",),
                             source="live")
    failed = StackReport("team-prod", "drift", error="boom\n```\n# not a heading\n", extra={"status": "error"})
    text = drift_markdown([StackReport("team-dev", "drift", [hostile], extra={"status": "drift"}), failed])
    # each code span's delimiter is longer than any backtick run inside, so nothing in it can close it early
    assert "- **\\*\\*op\\*\\*** ``t`y|pe`` ``` <img src=x onerror=alert(1)> ``name`` ``` — `a|b` _(live)_" in text
    assert "````\nboom\n```\n# not a heading\n````" in text  # the error cannot close its code block


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_merge_cli_writes_json_and_markdown_and_exits_2_on_drift(capsys, tmp_path):
    reports = [r for r in drift_reports(60) if not r.error]
    files = write(tmp_path, shards(drift_json, reports, 4))
    code, out, err = run(capsys, "report", "merge", *files, "--json", str(tmp_path / "all.json"),
                         "--markdown", str(tmp_path / "all.md"))
    ordered = sorted(reports, key=lambda r: r.stack)
    assert code == 2
    assert json.loads((tmp_path / "all.json").read_text()) == json.loads(json.dumps(drift_json(ordered)))
    assert (tmp_path / "all.md").read_text() == drift_markdown(ordered, json_name=str(tmp_path / "all.json"))
    assert f"{ordered[0].stack}: " in out and f"merged 4 drift report(s): {len(reports)} stack(s)" in err


def test_merge_cli_exit_codes(capsys, tmp_path):
    clean = [StackReport("a-dev", "drift", extra={"status": "clean"})]
    failed = [StackReport("b-dev", "drift", error="x", extra={"status": "error"})]
    assert run(capsys, "report", "merge", *write(tmp_path, [("c.json", drift_json(clean))]))[0] == 0
    assert run(capsys, "report", "merge", *write(tmp_path, [("c.json", drift_json(clean)),
                                                           ("f.json", drift_json(failed))]))[0] == 1
    unchanged = [StackReport("a-dev", "preview", extra={"cost": None})]
    changed = [StackReport("b-dev", "preview", [change("kubernetes:core/v1:ConfigMap", "update")])]
    assert run(capsys, "report", "merge", *write(tmp_path, [("u.json", preview_data(unchanged))]))[0] == 0
    assert run(capsys, "report", "merge", *write(tmp_path, [("u.json", preview_data(unchanged)),
                                                           ("c.json", preview_data(changed))]))[0] == 2


def test_merge_cli_writes_nothing_when_an_input_is_invalid(capsys, tmp_path):
    files = write(tmp_path, shards(drift_json, drift_reports(10), 2)[:1] + [("broken.json", '{"stacks": [')])
    code, _, err = run(capsys, "report", "merge", *files, str(tmp_path / "absent.json"),
                       "--json", str(tmp_path / "out.json"), "--markdown", str(tmp_path / "out.md"))
    assert code == 1
    assert "broken.json: not valid JSON" in err and "absent.json: cannot read it" in err
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "out.md").exists()
    code, _, err = run(capsys, "report", "merge", files[0], "--json", str(tmp_path / "out.json"))
    assert code == 1 and "shard 2/2 is missing" in err and not (tmp_path / "out.json").exists()


def test_merge_cli_notifies_once_for_all_shards(capsys, tmp_path, github, monkeypatch):
    monkeypatch.setenv("SHIPYARD_WEBHOOK_URL", github.url + "/webhook")
    quota = ResourceChange("urn:q", "kubernetes:core/v1:ResourceQuota", "q", "update", ("spec.hard.pods",),
                           source="live")
    reports = [StackReport("payments-staging", "drift", [quota], extra={"status": "drift"}),
               StackReport("ledger-prod", "drift", [quota], extra={"status": "drift"}),
               StackReport("ledger-dev", "drift", extra={"status": "clean"}),
               StackReport("sandbox-dev", "drift", extra={"status": "clean"})]
    files = write(tmp_path, shards(drift_json, reports, 4))
    code, _, err = run(capsys, "--repo", str(REPO), "report", "merge", *files, "--notify")
    assert code == 2
    [payload] = github.webhook_payloads
    assert payload["text"].startswith("*Shipyard drift check*: 2 drifted, 0 failed, 2 clean")
    assert sorted(i["title"] for i in github.issues.values()) == ["Drift detected: ledger-prod",
                                                                  "Drift detected: payments-staging"]
    assert "drift summary sent to the webhook" in err


def test_merge_cli_refuses_to_notify_for_previews(capsys, tmp_path, github, monkeypatch):
    monkeypatch.setenv("SHIPYARD_WEBHOOK_URL", github.url + "/webhook")
    files = write(tmp_path, [("p.json", preview_data(preview_reports(3)))])
    code, _, err = run(capsys, "report", "merge", *files, "--notify", "--json", str(tmp_path / "out.json"))
    assert code == 1 and "--notify sends drift alerts" in err
    assert github.requests == [] and not (tmp_path / "out.json").exists()


def _unescaped_pipes(line: str) -> int:
    """Cell delimiters as GitHub's table parser sees them: a pipe right after a backslash never ends a cell."""
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_from_untrusted_text_mentions_nobody_links_nothing_and_keeps_its_tables():
    hostile = "@everyone [click](https://evil.example) <!channel> $x$ | injected | cell |\n| new | row |"
    cost = {"monthly": 10.0, "currency": "USD", "priced": True, "budget": 500.0, "change": None,
            "lines": [{"item": hostile, "quantity": 1, "unit": hostile, "monthly": 10.0}]}
    reports = [StackReport("team-prod", "preview", [change("aws:eks/cluster:Cluster", hostile, name=hostile)],
                           extra={"cost": cost})]
    text = preview_markdown(reports, destroys=[Destruction("team-prod", hostile)])
    outside_code = re.sub(r"(?<![`\\])(`+)(?!`).*?(?<!`)\1(?!`)", "", text)  # code spans neither mention nor link
    assert "@everyone" not in outside_code and "<!channel>" not in outside_code
    assert "[click](" not in outside_code and "\\[click\\]" in text and "\\$x\\$" in text
    assert "\n| new | row |" not in text
    header = next(line for line in text.splitlines() if line.startswith("| item |"))
    row = next(line for line in text.splitlines() if line.startswith("| @"))
    assert _unescaped_pipes(row) == _unescaped_pipes(header) == 4


def test_report_markdown_comes_from_the_one_sink_module():
    import shipyard.report as report

    assert not any(hasattr(report, name) for name in ("_code", "_text", "_cell", "_block"))


LIVE = ResourceChange("urn:ns", "kubernetes:core/v1:Namespace", "ledger-web-ns", "update",
                      ('metadata.labels["pod-security.kubernetes.io/enforce"]',), "live", "kubectl-label",
                      "2026-11-27T03:00:00Z",
                      ({"path": 'metadata.labels["pod-security.kubernetes.io/enforce"]', "by": "kubectl-label",
                        "at": "2026-11-27T03:00:00Z"},))
UNMANAGED = ResourceChange("live:kubernetes:rbac.authorization.k8s.io/v1:RoleBinding::ledger-web/outside-admin",
                           "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "ledger-web/outside-admin",
                           "unmanaged", ("grants access",), "live", "kubectl-create", "2026-11-27T04:00:00Z")


def test_live_findings_name_who_and_when_and_survive_a_merge(tmp_path):
    report = StackReport("ledger-dev", "drift", [LIVE, UNMANAGED], extra={"status": "drift"})
    data = drift_json([report])
    [stack] = data["stacks"]
    assert stack["changes"][0]["by"] == "kubectl-label" and stack["changes"][0]["fields"][0]["at"]
    assert stack["changes"][1]["op"] == "unmanaged" and "fields" not in stack["changes"][1]
    merged = merge_reports([("drift.json", json.loads(json.dumps(data)))])
    assert merged.as_json() == json.loads(json.dumps(data))
    markdown = drift_markdown([report])
    assert "by `kubectl-label` at 2026-11-27T03:00:00Z" in markdown
    assert "**unmanaged** `kubernetes:rbac.authorization.k8s.io/v1:RoleBinding` `ledger-web/outside-admin` — grants " \
           "access, not declared by any stack by `kubectl-create`" in markdown


def test_a_malformed_live_finding_is_refused():
    data = drift_json([StackReport("ledger-dev", "drift", [LIVE], extra={"status": "drift"})])
    data["stacks"][0]["changes"][0]["fields"] = ["not an object"]
    with pytest.raises(MergeError, match='"fields" must list objects'):
        merge_reports([("drift.json", data)])


def test_the_pr_comment_lists_each_repair_up_will_make_old_to_new():
    repairs = [{"urn": "u", "type": "kubernetes:core/v1:Namespace", "name": "ledger-web-ns", "action": "patch",
                "fields": [{"path": 'metadata.labels["pod-security.kubernetes.io/enforce"]', "old": "privileged",
                            "new": "baseline", "by": "kubectl-label"}]},
               {"urn": "v", "type": "kubernetes:core/v1:Service", "name": "metrics-server", "action": "recreate",
                "fields": []},
               {"urn": "w", "type": "kubernetes:core/v1:Secret", "name": "s", "action": "patch",
                "fields": [{"path": "data.password", "old": "[secret]", "new": "[secret]"}]}]
    markdown = preview_markdown([StackReport("ledger-dev", "preview", [], extra={"repairs": repairs})])
    assert "**Will put back before the update** (changed out of band):" in markdown
    assert ('`metadata.labels["pod-security.kubernetes.io/enforce"]`: `privileged` → `baseline` (by `kubectl-label`)'
            in markdown)
    assert "`metrics-server` — deleted out of band: created again" in markdown
    assert "`[secret]` → `[secret]`" in markdown
