"""Reports humans read: the PR comment of a preview and the drift report (Markdown), plus their JSON."""

from __future__ import annotations

import json
from typing import Any

from shipyard.cost import cost_cell, money
from shipyard.guard import APPROVAL_LABEL, Destruction
from shipyard.runner import StackReport

MAX_MARKDOWN = 60_000
"""GitHub rejects comments over 65,536 characters; stay well below with room for the footer."""
COMMENT_MARKER = "<!-- shipyard:preview -->"
RISK_BADGE = {"high": "🔴 high", "medium": "🟠 medium", "low": "🟢 low", "none": "⚪ none"}


def preview_json(reports: list[StackReport]) -> dict[str, Any]:
    return {"stacks": [r.as_json() for r in reports],
            "risk": _overall([r.risk for r in reports]),
            "errors": sum(1 for r in reports if r.error)}


def _overall(risks: list[str]) -> str:
    for level in ("high", "medium", "low"):
        if level in risks:
            return level
    return "none"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _details(report: StackReport, source_label: bool = False) -> str:
    if report.error:
        return f"```\n{report.error.strip()[:4000]}\n```\n"
    if not report.changes:
        return "No changes.\n"
    lines = []
    for change in report.changes:
        props = f" — `{'`, `'.join(change.properties)}`" if change.properties else ""
        origin = f" _({change.source})_" if source_label and change.source else ""
        lines.append(f"- **{change.op}** `{change.type}` `{change.name}`{props}{origin}")
    return "\n".join(lines) + "\n"


def preview_markdown(reports: list[StackReport], title: str = "Shipyard preview", json_name: str = "preview.json",
                     limit: int = MAX_MARKDOWN, destroys: list[Destruction] | None = None,
                     approved: bool = False) -> str:
    """The PR comment: a summary table first, each stack's details collapsed; never over `limit` chars.
    Production destruction comes first of all: blocked (needs the label) or approved."""
    head = [COMMENT_MARKER, f"## {title}", ""]
    if destroys:
        state = ("✅ **Approved** (label `" + APPROVAL_LABEL + "`): this change destroys production"
                 if approved else "⛔ **Blocked: this change destroys production.** It needs the platform team's "
                 "label `" + APPROVAL_LABEL + "`")
        head += [state, ""] + [f"- `{_cell(d.stack)}`: {_cell(d.what)}" for d in destroys[:50]] + [""]
    head += [f"Overall risk: **{RISK_BADGE[_overall([r.risk for r in reports])]}** · {len(reports)} stack(s)", "",
            "| stack | risk | create | update | replace | delete | est. monthly cost (change) | |",
            "|---|---|---:|---:|---:|---:|---:|---|"]
    for report in reports:
        c = report.counts()
        status = "❌ failed" if report.error else ("no changes" if not report.changes else "")
        head.append(f"| `{_cell(report.stack)}` | {RISK_BADGE[report.risk] if not report.error else '—'} | "
                    f"{c['create']} | {c['update']} | {c['replace']} | {c['delete']} | "
                    f"{_cell(cost_cell(report.extra.get('cost')))} | {status} |")
    head.append("")
    return _fit(head, [(r.stack, f"<details><summary><code>{r.stack}</code> — "
                                 f"{len(r.changes)} change(s){' (failed)' if r.error else ''}</summary>\n\n"
                                 f"{_details(r)}{_cost_details(r.extra.get('cost'))}\n</details>\n")
                       for r in reports], json_name, limit)


def _cost_details(cost: dict[str, Any] | None) -> str:
    """The estimate line by line, so a reviewer sees *why* a stack costs what it does."""
    if not cost or not cost.get("priced") or not cost.get("lines"):
        return ""
    rows = [f"| {_cell(line['item'])} | {line['quantity']:g} {line['unit']} | {money(line['monthly'], cost['currency'])} |"
            for line in cost["lines"]]
    budget = f" of a {money(cost['budget'], cost['currency'])} budget" if cost.get("budget") is not None else ""
    return ("\n**Estimated monthly cost** " + cost_cell(cost) + budget + "\n\n| item | quantity | per month |\n"
            "|---|---:|---:|\n" + "\n".join(rows) + "\n")


def drift_markdown(reports: list[StackReport], json_name: str = "drift.json", limit: int = MAX_MARKDOWN) -> str:
    head = ["## Shipyard drift report", "", "| stack | status | live drift | pending from Git |",
            "|---|---|---:|---:|"]
    for report in reports:
        status = report.extra.get("status", "error")
        live = sum(1 for c in report.changes if c.source == "live")
        git = sum(1 for c in report.changes if c.source == "git")
        head.append(f"| `{_cell(report.stack)}` | {status} | {live} | {git} |")
    head.append("")
    bodies = [(r.stack, f"<details><summary><code>{r.stack}</code> — {r.extra.get('status', 'error')}</summary>"
                        f"\n\n{_details(r, source_label=True)}\n</details>\n") for r in reports
              if r.changes or r.error]
    return _fit(head, bodies, json_name, limit)


def _fit(head: list[str], bodies: list[tuple[str, str]], json_name: str, limit: int) -> str:
    text = "\n".join(head) + "\n"
    cut: list[str] = []
    for stack, body in bodies:
        footer_room = 400 + 40 * (len(bodies) - len(cut))
        if not cut and len(text) + len(body) + footer_room <= limit:
            text += body
        else:
            cut.append(stack)
    if cut:
        names = ", ".join(f"`{s}`" for s in cut[:20]) + (f" and {len(cut) - 20} more" if len(cut) > 20 else "")
        note = (f"\n> ✂️ Details of {len(cut)} stack(s) were cut to keep this comment under {limit:,} characters: "
                f"{names}. The JSON report (`{json_name}`, attached to this run) has everything.\n")
        text = text[: max(0, limit - len(note))] + note
    return text


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
