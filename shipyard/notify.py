"""Drift alerts: a Slack-compatible webhook message, and one GitHub issue per drifted stack.

Configuration comes from the environment (what GitHub Actions provides, plus one secret):

- `SHIPYARD_WEBHOOK_URL`: a Slack-compatible incoming webhook (optional).
- `GITHUB_TOKEN`, `GITHUB_REPOSITORY` (`owner/repo`), `GITHUB_API_URL` (default https://api.github.com):
  the issue tracker (optional; all three or none).

Issues: opened (labelled `shipyard-drift`, assigned to the stack's owners that are users, teams
mentioned) when a stack drifts; edited, with a comment, only when the drift *changes* (a fingerprint
of the findings is kept in the issue body, so a stable drift is not re-announced every 6 hours);
closed with a comment when the stack is clean again. Stacks whose check failed are left alone.

Every name or value in an issue goes through the Markdown helpers of `shipyard.sinks`, every one in the
webhook message through its Slack helpers, every one in an API path through `url_segment`: a resource
name from a cluster cannot mention anyone, link anywhere or break the table it is in.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.repo import Repo
from shipyard.runner import StackReport
from shipyard.sinks import (UnsafeTextError, is_owner, md_cell, md_code, md_html, md_mention, md_text, slack_code,
                            slack_link, url_segment)

LABEL = "shipyard-drift"
Log = Callable[[str], None]


class NotifyError(ShipyardError):
    """An alert could not be delivered."""


def _marker(stack: str) -> str:
    # An HTML comment: escaped, the name cannot end it (stack names have nothing to escape, so the marker
    # reads back as the name).
    return f"<!-- shipyard-drift:{md_html(stack)} -->"


def fingerprint(report: StackReport) -> str:
    items = sorted(json.dumps(c.as_json(), sort_keys=True) for c in report.changes)
    return hashlib.sha256("\n".join(items).encode()).hexdigest()[:16]


def _owners(repo: Repo, stack: str) -> list[str]:
    from shipyard.validation import parse_stack_file

    try:
        model, _ = parse_stack_file(repo.stack(stack).path, repo.root, None)
    except ShipyardError:
        return []
    return list(model.owners) if model else []


def _issue_body(report: StackReport, owners: list[str]) -> str:
    lines = [_marker(report.stack), f"<!-- shipyard-drift-fingerprint:{fingerprint(report)} -->",
             f"Shipyard found drift on stack {md_code(report.stack)} "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}).",
             "", "| source | op | resource | properties | by |", "|---|---|---|---|---|"]
    for change in report.changes:
        if change.op == "unmanaged":
            props = md_text(", ".join(change.properties)) or "—"
        else:
            props = ", ".join(md_code(p) for p in change.properties) or "—"
        who = (md_code(change.by) + (f" at {md_text(change.at)}" if change.at else "")) if change.by else "—"
        cells = [md_text(change.source or ""), md_text(change.op), f"{md_code(change.type)} {md_code(change.name)}",
                 props, who]
        lines.append("| " + " | ".join(md_cell(cell) for cell in cells) + " |")
    lines += ["", "**live**: the running state no longer matches the last deployment — someone changed it "
              "out of band; `shipyard up` (on merge, or re-run the deploy workflow) puts Git's state back.",
              "**git**: Git says something that was never applied — merge/deploy it, or revert the file."]
    if any(change.op == "unmanaged" for change in report.changes):
        lines.append("**unmanaged**: access granted or network opened by an object no stack declares; `shipyard up` "
                     "leaves it in place (it may be the team's own) — delete it, or declare it in Git.")
    lines.append("")
    mentioned = [md_mention(o) for o in owners if is_owner(o)]
    if mentioned:
        lines.append("Owners: " + " ".join(mentioned))
    return "\n".join(lines) + "\n"


class GitHub:
    def __init__(self, api: str, repository: str, token: str):
        import httpx

        self.repository = repository
        self.client = httpx.Client(base_url=api.rstrip("/"), timeout=20, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "shipyard"})

    def _call(self, method: str, path: str, repo_scoped: bool = True, ok: tuple[int, ...] = (), **kwargs: Any) -> Any:
        """One API call with retries on network errors and 5xx; statuses in `ok` are returned, not raised."""
        import httpx

        for attempt in range(3):
            try:
                url = f"/repos/{self.repository}{path}" if repo_scoped else path
                response = self.client.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                if attempt == 2:
                    raise NotifyError(f"GitHub API {method} {path} failed: {exc}") from None
                time.sleep(2 ** attempt)
                continue
            if response.status_code >= 500 and attempt < 2:
                time.sleep(2 ** attempt)
                continue
            if response.status_code in ok:
                return response.status_code
            if response.status_code >= 400:
                raise NotifyError(f"GitHub API {method} {path} answered {response.status_code}: "
                                  f"{response.text[:300]}")
            return response.json() if response.content else None
        raise NotifyError(f"GitHub API {method} {path} kept failing")

    def open_drift_issues(self) -> dict[str, dict[str, Any]]:
        """Open drift issues by stack, across every page."""
        found: dict[str, dict[str, Any]] = {}
        page = 1
        while True:
            issues = self._call("GET", "/issues", params={"state": "open", "labels": LABEL, "per_page": 100,
                                                          "page": page})
            for issue in issues:
                body = issue.get("body") or ""
                if "pull_request" in issue or "<!-- shipyard-drift:" not in body:
                    continue
                stack = body.split("<!-- shipyard-drift:", 1)[1].split(" -->", 1)[0]
                found.setdefault(stack, issue)
            if len(issues) < 100:
                return found
            page += 1

    @classmethod
    def from_env(cls, env: dict[str, str]) -> GitHub | None:
        """The client Shipyard's own checks use (ownership, destroy approval): SHIPYARD_GITHUB_TOKEN (read:org)
        or else GITHUB_TOKEN; None without a token."""
        token = env.get("SHIPYARD_GITHUB_TOKEN") or env.get("GITHUB_TOKEN")
        if not token:
            return None
        return cls(env.get("GITHUB_API_URL") or "https://api.github.com", env.get("GITHUB_REPOSITORY", "-/-"), token)

    def team_member(self, org: str, team: str, login: str) -> bool:
        """Whether `login` is an active member of `@org/team` (needs a token that may read the org)."""
        path = f"/orgs/{url_segment(org)}/teams/{url_segment(team)}/memberships/{url_segment(login)}"
        answer = self._call("GET", path, repo_scoped=False, ok=(404,))
        return isinstance(answer, dict) and answer.get("state") == "active"

    def create(self, title: str, body: str, assignees: list[str]) -> dict[str, Any]:
        return self._call("POST", "/issues", json={"title": title, "body": body, "labels": [LABEL],
                                                   "assignees": assignees})

    def edit(self, number: int, **fields: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/issues/{number}", json=fields)

    def comment(self, number: int, body: str) -> None:
        self._call("POST", f"/issues/{number}/comments", json={"body": body})

    def issue_events(self, number: int) -> list[dict[str, Any]]:
        """Every event of an issue or pull request (labelled, unlabelled, ...), oldest first, across pages."""
        events: list[dict[str, Any]] = []
        page = 1
        while True:
            batch = self._call("GET", f"/issues/{number}/events", params={"per_page": 100, "page": page})
            events += batch
            if len(batch) < 100:
                return events
            page += 1

    def pull(self, number: int) -> dict[str, Any]:
        """One pull request (its `base.sha`, `head.sha`, `merge_commit_sha`...)."""
        return self._call("GET", f"/pulls/{int(number)}")

    def pulls_of_commit(self, sha: str) -> list[dict[str, Any]]:
        """The pull requests a commit belongs to (for a merge commit on main: the one merged)."""
        return self._call("GET", f"/commits/{url_segment(sha)}/pulls")


def notify_drift(repo: Repo, reports: list[StackReport], log: Log = print,
                 env: dict[str, str] | None = None) -> dict[str, Any]:
    """Deliver alerts for a drift run; returns what was done (for the log and the tests)."""
    env = dict(os.environ if env is None else env)
    done: dict[str, Any] = {"webhook": False, "issues": {}}
    github_env = [env.get(k) for k in ("GITHUB_TOKEN", "GITHUB_REPOSITORY")]
    if any(github_env) and not all(github_env):
        raise NotifyError("set both GITHUB_TOKEN and GITHUB_REPOSITORY (owner/repo) to keep drift issues")
    issue_urls: dict[str, str] = {}
    if all(github_env):
        github = GitHub(env.get("GITHUB_API_URL") or "https://api.github.com", env["GITHUB_REPOSITORY"],
                        env["GITHUB_TOKEN"])
        existing = github.open_drift_issues()
        for report in reports:
            status = report.extra.get("status")
            issue = existing.get(report.stack)
            if status == "drift":
                owners = _owners(repo, report.stack)
                body = _issue_body(report, owners)
                users = [o[1:] for o in owners if "/" not in o]
                if issue is None:
                    issue = github.create(f"Drift detected: {report.stack}", body, users)
                    done["issues"][report.stack] = "opened"
                elif f"shipyard-drift-fingerprint:{fingerprint(report)}" not in (issue.get("body") or ""):
                    github.edit(issue["number"], body=body)
                    github.comment(issue["number"], "The drift on this stack changed; the description is updated.")
                    done["issues"][report.stack] = "updated"
                else:
                    done["issues"][report.stack] = "unchanged"
                issue_urls[report.stack] = issue.get("html_url", "")
            elif status == "clean" and issue is not None:
                github.comment(issue["number"], f"Drift on {md_code(report.stack)} has cleared: the stack matches "
                                                "Git and the running state again. Closing.")
                github.edit(issue["number"], state="closed", state_reason="completed")
                done["issues"][report.stack] = "closed"
        for stack, action in done["issues"].items():
            log(f"drift issue for {stack}: {action}")
    webhook = env.get("SHIPYARD_WEBHOOK_URL")
    drifted = [r for r in reports if r.extra.get("status") == "drift"]
    failed = [r for r in reports if r.error]
    if webhook and (drifted or failed or any(a == "closed" for a in done["issues"].values())):
        import httpx

        lines = [f"*Shipyard drift check*: {len(drifted)} drifted, {len(failed)} failed, "
                 f"{len(reports) - len(drifted) - len(failed)} clean"]
        for report in drifted:
            live = sum(1 for c in report.changes if c.source == "live")
            git = sum(1 for c in report.changes if c.source == "git")
            lines.append(f"• {slack_code(report.stack)}: {live} live drift, {git} pending from Git"
                         f"{_slack_issue_link(issue_urls.get(report.stack))}")
        for report in failed:
            lines.append(f"• {slack_code(report.stack)}: check failed")
        for stack, action in done["issues"].items():
            if action == "closed":
                lines.append(f"• {slack_code(stack)}: drift cleared")
        try:
            response = httpx.post(webhook, json={"text": "\n".join(lines)}, timeout=20)
        except httpx.HTTPError as exc:
            raise NotifyError(f"webhook delivery failed: {exc}") from None
        if response.status_code >= 400:
            raise NotifyError(f"webhook answered {response.status_code}: {response.text[:200]}")
        done["webhook"] = True
        log("drift summary sent to the webhook")
    return done


def _slack_issue_link(url: str | None) -> str:
    """` <URL|issue>`, or nothing when GitHub gave no usable URL (the summary still goes out)."""
    try:
        return f" {slack_link(url, 'issue')}" if url else ""
    except UnsafeTextError:
        return ""
