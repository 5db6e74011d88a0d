"""`shipyard report merge FILE...`: one report from the JSON reports of a sharded drift or preview run.

The merged report has the shape of an unsharded run's (stacks ordered by name, no shard field) and is
rendered and notified by the same code the commands use. Merging refuses, before writing or sending
anything, whatever could make a report silently incomplete: a shard missing or given twice, a stack in
two reports, reports of different kinds, a file that is not a report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from shipyard.cli.selection import Shard, shard_of
from shipyard.errors import ShipyardError

if TYPE_CHECKING:  # the report modules load the engine's; `shipyard --help` should not wait for them
    from shipyard.guard import Destruction
    from shipyard.runner import StackReport


class MergeError(ShipyardError):
    """The reports cannot be merged into one complete report."""


@dataclass
class MergedReport:
    kind: str
    """`drift` or `preview`."""
    reports: list[StackReport]
    decommissioned: list[str] = field(default_factory=list)
    destroys: list[Destruction] = field(default_factory=list)
    blocked: bool = False

    def as_json(self) -> dict[str, Any]:
        """The JSON an unsharded run writes (same fields, same order)."""
        from shipyard.report import drift_json, preview_json

        if self.kind == "drift":
            return drift_json(self.reports)
        data = preview_json(self.reports)
        data["decommissioned"] = self.decommissioned
        data["destroys_production"] = [d.as_json() for d in self.destroys]
        data["blocked"] = self.blocked
        return data

    def markdown(self, json_name: str) -> str:
        from shipyard.report import drift_markdown, preview_markdown

        if self.kind == "drift":
            return drift_markdown(self.reports, json_name=json_name)
        # A preview reports destruction as approved only when it was found and not blocked (--allow-destroy).
        return preview_markdown(self.reports, json_name=json_name, destroys=self.destroys,
                                approved=bool(self.destroys) and not self.blocked)

    def exit_code(self) -> int:
        """0 clean, 2 drift or changes found, 1 when any stack failed (or, previews, production is blocked)."""
        if any(r.error for r in self.reports) or self.blocked:
            return 1
        if self.kind == "drift":
            return 2 if any(r.extra.get("status") == "drift" for r in self.reports) else 0
        return 2 if any(r.changes for r in self.reports) or self.decommissioned else 0


@dataclass
class _Input:
    name: str
    kind: str
    reports: list[StackReport]
    shard: Shard | None
    decommissioned: list[str]
    destroys: list[Destruction]
    blocked: bool


def merge_reports(documents: list[tuple[str, Any]]) -> MergedReport:
    """Merge parsed JSON reports, each with the name of the file it came from (for the messages). Raises
    MergeError listing every problem found."""
    from shipyard.report import ReportFormatError

    problems: list[str] = []
    inputs: list[_Input] = []
    for name, data in documents:
        try:
            inputs.append(_read_input(name, data))
        except ReportFormatError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise MergeError(_problems(problems))
    if not inputs:
        raise MergeError("no reports to merge")
    kinds = sorted({i.kind for i in inputs})
    if len(kinds) > 1:
        listing = "; ".join(f"{kind}: {', '.join(i.name for i in inputs if i.kind == kind)}" for kind in kinds)
        raise MergeError(f"cannot merge drift reports with preview reports ({listing})")
    # A shard given twice also repeats each of its stacks: say that once, not once per stack.
    problems += _shard_problems(inputs) or (_duplicates(inputs, lambda i: [r.stack for r in i.reports], "stack")
                                            + _duplicates(inputs, lambda i: i.decommissioned, "decommissioned stack"))
    if problems:
        raise MergeError(_problems(problems))
    by_stack = sorted((r for i in inputs for r in i.reports), key=lambda r: r.stack)
    destroys = sorted((d for i in inputs for d in i.destroys), key=lambda d: d.stack)  # stable within a stack
    return MergedReport(kinds[0], by_stack, sorted(s for i in inputs for s in i.decommissioned), destroys,
                        any(i.blocked for i in inputs))


def _problems(problems: list[str], shown: int = 20) -> str:
    more = f"\n  ... and {len(problems) - shown} more" if len(problems) > shown else ""
    return "cannot merge the reports:\n" + "\n".join(f"  {p}" for p in problems[:shown]) + more


def _read_input(name: str, data: Any) -> _Input:
    from shipyard.guard import Destruction
    from shipyard.report import STACK_NAME, ReportFormatError, report_kind, reports_from_json

    kind = report_kind(data)
    reports = reports_from_json(data, kind)
    shard = _shard(data.get("shard")) if "shard" in data else None
    if kind == "drift":
        return _Input(name, kind, reports, shard, [], [], False)
    decommissioned = data["decommissioned"]
    if not isinstance(decommissioned, list) or not all(isinstance(s, str) and STACK_NAME.fullmatch(s)
                                                       for s in decommissioned):
        raise ReportFormatError('"decommissioned" must be a list of stack names')
    destroys = data["destroys_production"]
    if not isinstance(destroys, list) or not all(
            isinstance(d, dict) and set(d) == {"stack", "what"} and isinstance(d["stack"], str)
            and STACK_NAME.fullmatch(d["stack"]) and isinstance(d["what"], str) for d in destroys):
        raise ReportFormatError('"destroys_production" must be a list of {"stack", "what"} objects')
    if not isinstance(data["blocked"], bool):
        raise ReportFormatError('"blocked" must be true or false')
    return _Input(name, kind, reports, shard, decommissioned,
                  [Destruction(d["stack"], d["what"]) for d in destroys], data["blocked"])


def _shard(value: Any) -> Shard:
    from shipyard.report import ReportFormatError

    if (isinstance(value, dict) and set(value) == {"index", "count"}
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value.values())):
        try:
            return Shard(value["index"], value["count"])
        except ValueError as exc:
            raise ReportFormatError(f'"shard": {exc}') from None
    raise ReportFormatError('"shard" must be {"index": I, "count": N} with integers')


def _shard_problems(inputs: list[_Input]) -> list[str]:
    """Sharded reports must be exactly the shards 1..N of one N, each holding only its own stacks."""
    sharded = [i for i in inputs if i.shard is not None]
    if not sharded:
        return []
    if len(sharded) != len(inputs):
        plain = ", ".join(i.name for i in inputs if i.shard is None)
        return [f"some reports are shards and some are not ({plain} carry no shard): merge the reports "
                "of one sharded run"]
    counts = sorted({i.shard.count for i in sharded})
    if len(counts) > 1:
        listing = ", ".join(f"{i.name} is {i.shard}" for i in sharded)
        return [f"the reports come from runs split into different numbers of shards ({listing})"]
    count = counts[0]
    problems = []
    by_index: dict[int, list[str]] = {}
    for i in sharded:
        by_index.setdefault(i.shard.index, []).append(i.name)
    for index in range(1, count + 1):
        names = by_index.get(index, [])
        if not names:
            problems.append(f"shard {index}/{count} is missing: without its report its stacks would go "
                            "unreported")
        elif len(names) > 1:
            problems.append(f"shard {index}/{count} is given more than once: {', '.join(names)}")
    for i in sharded:
        strays = [f"{r.stack} (shard {shard_of(r.stack, count)}/{count})" for r in i.reports
                  if not i.shard.contains(r.stack)]
        if strays:
            problems.append(f"{i.name}: {len(strays)} stack(s) of other shards in the report of shard {i.shard}, "
                            f"e.g. {', '.join(strays[:3])}: not a report of `--shard {i.shard}`")
    return problems


def _duplicates(inputs: list[_Input], stacks_of, what: str) -> list[str]:
    seen: dict[str, list[str]] = {}
    for i in inputs:
        for stack in stacks_of(i):
            seen.setdefault(stack, []).append(i.name)
    return [f"{what} {stack} is in more than one report: {', '.join(names)}" if len(set(names)) > 1
            else f"{what} {stack} is listed twice in {names[0]}"
            for stack, names in sorted(seen.items()) if len(names) > 1]


def load_report(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise MergeError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise MergeError(f"{path}: not a JSON report (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise MergeError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None


@click.group("report")
def command() -> None:
    """Work with the JSON reports of `shipyard drift` and `shipyard preview`."""


@command.command("merge")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Write the merged JSON report here.")
@click.option("--markdown", "markdown_file", type=click.Path(dir_okay=False),
              help="Write the merged Markdown report here (the drift report, or the preview's PR comment).")
@click.option("--notify", is_flag=True, help="Drift reports: send the merged findings to the webhook and keep one "
                                             "GitHub issue per drifted stack, as `drift --notify` does.")
@click.pass_obj
def merge(obj, files: tuple[str, ...], json_file: str | None, markdown_file: str | None, notify: bool) -> int:
    """Merge the --json reports of a sharded `drift` or `preview` run (FILE... are the shards' reports)
    into one report, as if one unsharded run had written it: stacks ordered by name.

    Every shard 1..N must be given exactly once, no stack may be in two reports, and all reports must
    be of one kind (drift or preview); otherwise nothing is written or sent.
    Exit 0 clean, 2 drift or changes found, 1 when any stack failed, production destruction is blocked,
    or the reports cannot be merged.
    """
    documents = []
    problems = []
    for path in files:
        try:
            documents.append((path, load_report(path)))
        except MergeError as exc:
            problems.append(str(exc))
    if problems:
        raise MergeError(_problems(problems))
    from shipyard.report import dumps

    merged = merge_reports(documents)
    if notify and merged.kind != "drift":
        raise click.UsageError("--notify sends drift alerts; these are preview reports")
    repo = obj.repo if notify else None  # found before writing anything: owners are read from its stack files
    outputs = []
    if json_file:
        outputs.append((json_file, dumps(merged.as_json())))
    if markdown_file:
        outputs.append((markdown_file, merged.markdown(json_file or f"{merged.kind}.json")))
    for path, text in outputs:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    click.echo(f"merged {len(files)} {merged.kind} report(s): {len(merged.reports)} stack(s)", err=True)
    _print(merged)
    if notify:
        from shipyard.notify import notify_drift

        notify_drift(repo, merged.reports, log=lambda line: click.echo(line, err=True))
    return merged.exit_code()


def _print(merged: MergedReport) -> None:
    """What the command that wrote the reports prints, for all of them."""
    if merged.kind == "drift":
        from shipyard.cli.drift import print_drift

        print_drift(merged.reports)
        return
    from shipyard.cli.output import print_changes

    for report in merged.reports:
        print_changes(report.stack, report.changes, "would change", risk=report.risk, error=report.error,
                      cost=report.extra.get("cost"), repairs=report.extra.get("repairs"), notes=report.extra.get("notes"))
    for name in merged.decommissioned:
        click.echo(f"{name}: stack file deleted — NOT destroyed; that takes `shipyard destroy {name} --yes`")
    if merged.blocked:
        from shipyard.guard import blocked_message

        click.echo(f"error: {blocked_message(merged.destroys)}", err=True)
