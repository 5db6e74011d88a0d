"""Reports humans read: the PR comment of a preview and the drift report (Markdown), plus their JSON.

The JSON is also read back (`shipyard report merge` joins the reports of sharded runs), so each shape
has one writer here and one reader (`report_kind`, `reports_from_json`) that checks what it reads.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shipyard.cost import cost_cell, money
from shipyard.engine import ResourceChange
from shipyard.errors import ShipyardError
from shipyard.guard import APPROVAL_LABEL, Destruction
from shipyard.repo import STACK_NAME  # the one definition of a stack name
from shipyard.runner import StackReport
from shipyard.sinks import md_block, md_cell, md_code, md_html, md_text

MAX_MARKDOWN = 60_000
"""GitHub rejects comments over 65,536 characters; stay well below with room for the footer."""
COMMENT_MARKER = "<!-- shipyard:preview -->"
RISK_BADGE = {"high": "🔴 high", "medium": "🟠 medium", "low": "🟢 low", "none": "⚪ none"}


def preview_json(reports: list[StackReport]) -> dict[str, Any]:
    return {"stacks": [r.as_json() for r in reports],
            "risk": _overall([r.risk for r in reports]),
            "errors": sum(1 for r in reports if r.error)}


def drift_json(reports: list[StackReport]) -> dict[str, Any]:
    """Drift JSON: `{"stacks": [{"stack", "status", "error", "changes"}]}`."""
    return {"stacks": [{"stack": r.stack, "status": r.extra.get("status", "error"), "error": r.error,
                        "changes": [c.as_json() for c in r.changes]} for r in reports]}


def _overall(risks: list[str]) -> str:
    for level in ("high", "medium", "low"):
        if level in risks:
            return level
    return "none"


def _details(report: StackReport, source_label: bool = False) -> str:
    if report.error:
        return md_block(report.error.strip()[:4000])
    if not report.changes:
        return "No changes.\n"
    lines = []
    for change in report.changes:
        if change.op == "unmanaged":
            props = f" — {md_text(', '.join(change.properties))}, not declared by any stack"
        else:
            props = f" — {', '.join(md_code(p) for p in change.properties)}" if change.properties else ""
        origin = f" _({md_text(change.source)})_" if source_label and change.source else ""
        who = f" by {md_code(change.by)}" if change.by else ""
        when = f" at {md_text(change.at)}" if change.at else ""
        lines.append(f"- **{md_text(change.op)}** {md_code(change.type)} {md_code(change.name)}{props}{who}{when}"
                     f"{origin}")
    return "\n".join(lines) + "\n"


def _repairs(report: StackReport, done: bool = False) -> str:
    """The out-of-band changes `up` puts back first, field by field: old (live) -> new (Shipyard's)."""
    repairs = report.extra.get("repairs") or []
    if not repairs:
        return ""
    lines = [f"\n**{'Put back' if done else 'Will put back'} before the update** (changed out of band):\n"]
    for repair in repairs[:100]:
        fields = "; ".join(f"{md_code(f['path'])}: {md_code(_short(f.get('old')))} → {md_code(_short(f.get('new')))}"
                           + (f" (by {md_code(f['by'])})" if f.get("by") else "") for f in repair["fields"][:20])
        if repair.get("action") == "recreate":
            fields = "deleted out of band: created again"
        lines.append(f"- {md_code(repair['type'])} {md_code(repair['name'])} — {fields}")
    return "\n".join(lines) + "\n"


def _short(value: Any, limit: int = 80) -> str:
    text = "(absent)" if value is None else json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        head += [state, ""] + [f"- {md_code(d.stack)}: {md_text(d.what)}" for d in destroys[:50]] + [""]
    head += [f"Overall risk: **{RISK_BADGE[_overall([r.risk for r in reports])]}** · {len(reports)} stack(s)", "",
            "| stack | risk | create | update | replace | delete | est. monthly cost (change) | |",
            "|---|---|---:|---:|---:|---:|---:|---|"]
    for report in reports:
        c = report.counts()
        status = "❌ failed" if report.error else ("no changes" if not report.changes else "")
        head.append(f"| {md_cell(md_code(report.stack))} | {RISK_BADGE[report.risk] if not report.error else '—'} | "
                    f"{c['create']} | {c['update']} | {c['replace']} | {c['delete']} | "
                    f"{md_text(cost_cell(report.extra.get('cost')))} | {status} |")
    head.append("")
    return _fit(head, [(r.stack, f"<details><summary><code>{md_html(r.stack)}</code> — "
                                 f"{len(r.changes)} change(s){' (failed)' if r.error else ''}</summary>\n\n"
                                 f"{_details(r)}{_repairs(r)}{_cost_details(r.extra.get('cost'))}\n</details>\n")
                       for r in reports], json_name, limit)


def _cost_details(cost: dict[str, Any] | None) -> str:
    """The estimate line by line, so a reviewer sees *why* a stack costs what it does."""
    if not cost or not cost.get("priced") or not cost.get("lines"):
        return ""
    rows = [f"| {md_text(line['item'])} | {line['quantity']:g} {md_text(line['unit'])} | "
            f"{md_text(money(line['monthly'], cost['currency']))} |" for line in cost["lines"]]
    budget = f" of a {money(cost['budget'], cost['currency'])} budget" if cost.get("budget") is not None else ""
    return ("\n**Estimated monthly cost** " + md_text(cost_cell(cost) + budget)
            + "\n\n| item | quantity | per month |\n"
            "|---|---:|---:|\n" + "\n".join(rows) + "\n")


def drift_markdown(reports: list[StackReport], json_name: str = "drift.json", limit: int = MAX_MARKDOWN) -> str:
    head = ["## Shipyard drift report", "", "| stack | status | live drift | pending from Git |",
            "|---|---|---:|---:|"]
    for report in reports:
        status = report.extra.get("status", "error")
        live = sum(1 for c in report.changes if c.source == "live")
        git = sum(1 for c in report.changes if c.source == "git")
        head.append(f"| {md_cell(md_code(report.stack))} | {md_cell(md_text(status))} | {live} | {git} |")
    head.append("")
    bodies = [(r.stack, f"<details><summary><code>{md_html(r.stack)}</code> — "
                        f"{md_html(r.extra.get('status', 'error'))}</summary>"
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
        names = ", ".join(md_code(s) for s in cut[:20]) + (f" and {len(cut) - 20} more" if len(cut) > 20 else "")
        note = (f"\n> ✂️ Details of {len(cut)} stack(s) were cut to keep this comment under {limit:,} characters: "
                f"{names}. The JSON report ({md_code(json_name)}, attached to this run) has everything.\n")
        text = text[: max(0, limit - len(note))] + note
    return text


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False) + "\n"


class ReportFormatError(ShipyardError):
    """A JSON report is not one `shipyard drift` or `shipyard preview` writes."""


DRIFT_STATUSES = ("clean", "drift", "error")
# What a preview report carries besides its stacks (and its shard); a drift report carries none of it.
PREVIEW_FIELDS = ("risk", "errors", "decommissioned", "destroys_production", "blocked")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def report_kind(data: Any) -> str:
    """`drift` or `preview`, read from the shape of a report's JSON (the commands write no kind field)."""
    if not isinstance(data, dict) or not isinstance(data.get("stacks"), list):
        raise ReportFormatError('not a Shipyard report: expected a JSON object with a "stacks" list')
    unknown = sorted(set(data) - {"stacks", "shard", *PREVIEW_FIELDS})
    if unknown:
        raise ReportFormatError(f"not a drift or preview report: unexpected field(s) {', '.join(unknown)}")
    present = [key for key in PREVIEW_FIELDS if key in data]
    if len(present) == len(PREVIEW_FIELDS):
        return "preview"
    if present:
        missing = ", ".join(key for key in PREVIEW_FIELDS if key not in data)
        raise ReportFormatError(f"not a preview report (`shipyard preview --json`): missing {missing}")
    return "drift"


def reports_from_json(data: dict[str, Any], kind: str) -> list[StackReport]:
    """The StackReports a report of `kind` was written from, checked field by field so that rendering them
    again cannot fail half-way (a report is a file: anything may be in it)."""
    read = _drift_entry if kind == "drift" else _preview_entry
    return [read(entry, f"stacks[{index}]") for index, entry in enumerate(data["stacks"])]


def _drift_entry(entry: Any, where: str) -> StackReport:
    stack = _stack_name(entry, where)
    where = f"{where} ({stack})"
    status = _get(entry, "status", str, where)
    if status not in DRIFT_STATUSES:
        raise ReportFormatError(f'{where}: "status" must be one of {", ".join(DRIFT_STATUSES)}, not {status!r}')
    return StackReport(stack, "drift", _changes(entry, where), error=_get(entry, "error", (str, type(None)), where),
                       extra={"status": status})


_PREVIEW_STACK_FIELDS = ("stack", "operation", "risk", "counts", "summary", "error", "seconds", "changes")


def _preview_entry(entry: Any, where: str) -> StackReport:
    stack = _stack_name(entry, where)
    where = f"{where} ({stack})"
    if _get(entry, "operation", str, where) != "preview":
        raise ReportFormatError(f'{where}: "operation" is {entry["operation"]!r}, not "preview"')
    summary = _get(entry, "summary", dict, where)
    if not all(isinstance(k, str) and _is_number(v) for k, v in summary.items()):
        raise ReportFormatError(f'{where}: "summary" must map operations to counts')
    seconds = _get(entry, "seconds", (int, float), where)
    error = _get(entry, "error", (str, type(None)), where)
    # risk and counts are recomputed from the changes; everything else a preview adds per stack
    # (cost, approved_destroy) is kept as it is.
    extra = {key: value for key, value in entry.items() if key not in _PREVIEW_STACK_FIELDS}
    _check_cost(extra.get("cost"), f"{where}.cost")
    return StackReport(stack, "preview", _changes(entry, where), dict(summary), error, float(seconds), extra)


def _stack_name(entry: Any, where: str) -> str:
    if not isinstance(entry, dict):
        raise ReportFormatError(f"{where}: expected an object")
    stack = _get(entry, "stack", str, where)
    if not STACK_NAME.fullmatch(stack):
        raise ReportFormatError(f"{where}: {stack!r} is not a stack name (<team>-<env>)")
    return stack


def _changes(entry: dict[str, Any], where: str) -> list[ResourceChange]:
    changes = []
    for index, change in enumerate(_get(entry, "changes", list, where)):
        at = f"{where}.changes[{index}]"
        if not isinstance(change, dict):
            raise ReportFormatError(f"{at}: expected an object")
        properties = _get(change, "properties", list, at)
        if not all(isinstance(p, str) for p in properties):
            raise ReportFormatError(f'{at}: "properties" must be a list of strings')
        source = change.get("source")
        if source is not None and source not in ("live", "git"):
            raise ReportFormatError(f'{at}: "source" must be live or git, not {source!r}')
        by, when, fields = change.get("by"), change.get("at"), change.get("fields", [])
        if not isinstance(by, (str, type(None))) or not isinstance(when, (str, type(None))):
            raise ReportFormatError(f'{at}: "by" and "at" must be strings')
        if not isinstance(fields, list) or not all(isinstance(f, dict) and isinstance(f.get("path"), str)
                                                   for f in fields):
            raise ReportFormatError(f'{at}: "fields" must list objects with a "path"')
        changes.append(ResourceChange(_get(change, "urn", str, at), _get(change, "type", str, at),
                                      _get(change, "name", str, at), _get(change, "op", str, at),
                                      tuple(properties), source, by, when, tuple(fields)))
    return changes


def _check_cost(cost: Any, where: str) -> None:
    """The fields the Markdown renders, with the types it renders them as."""
    if cost is None:
        return
    if not isinstance(cost, dict) or not isinstance(cost.get("priced", True), bool):
        raise ReportFormatError(f'{where}: expected an object with a boolean "priced"')
    if not cost.get("priced", True):
        return
    if not (_is_number(cost.get("monthly")) and isinstance(cost.get("currency"), str)
            and _CURRENCY.match(cost["currency"])):
        raise ReportFormatError(f'{where}: expected a number "monthly" and a currency code "currency"')
    for key in ("change", "budget"):
        if cost.get(key) is not None and not _is_number(cost[key]):
            raise ReportFormatError(f'{where}: "{key}" must be a number or null')
    lines = cost.get("lines") or []
    if not isinstance(lines, list) or not all(
            isinstance(line, dict) and isinstance(line.get("item"), str) and isinstance(line.get("unit"), str)
            and _is_number(line.get("quantity")) and _is_number(line.get("monthly")) for line in lines):
        raise ReportFormatError(f'{where}: "lines" must list objects with item, quantity, unit and monthly')


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _get(entry: dict[str, Any], key: str, types: type | tuple[type, ...], where: str) -> Any:
    if key not in entry:
        raise ReportFormatError(f'{where}: missing "{key}"')
    value = entry[key]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in (types if isinstance(types, tuple)
                                                                                  else (types,))):
        raise ReportFormatError(f'{where}: "{key}" has the wrong type ({type(value).__name__})')
    return value
