"""Drift notifications against a real HTTP server on loopback (GitHub issues API + Slack webhook)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard.engine import ResourceChange
from shipyard.notify import LABEL, NotifyError, notify_drift
from shipyard.repo import Repo
from shipyard.runner import StackReport
from tests.support.fake_github import FakeServices

REPO = Repo(Path(__file__).resolve().parents[2])
QUOTA = ResourceChange("urn:q", "kubernetes:core/v1:ResourceQuota", "sandbox-tenancy-sandbox-web-quota", "update",
                       ("spec.hard.pods",), source="live")
BINDING = ResourceChange("urn:b", "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding", "b", "update",
                         ("subjects",), source="live")


def drift(stack: str, *changes: ResourceChange) -> StackReport:
    return StackReport(stack, "drift", list(changes), extra={"status": "drift" if changes else "clean"})


@pytest.fixture
def services():
    with FakeServices() as fake:
        yield fake


def env(services: FakeServices) -> dict[str, str]:
    return {"GITHUB_TOKEN": "t0ken", "GITHUB_REPOSITORY": "acme/platform", "GITHUB_API_URL": services.url,
            "SHIPYARD_WEBHOOK_URL": services.url + "/webhook"}


def test_drift_opens_one_labelled_issue_assigned_to_owners_and_posts_the_webhook(services):
    done = notify_drift(REPO, [drift("payments-staging", QUOTA), drift("sandbox-dev")], log=lambda l: None,
                        env=env(services))
    assert done == {"webhook": True, "issues": {"payments-staging": "opened"}}
    [issue] = services.issues.values()
    assert issue["title"] == "Drift detected: payments-staging"
    assert [l["name"] for l in issue["labels"]] == [LABEL]
    assert [a["login"] for a in issue["assignees"]] == ["jdoe"]  # users only; the team is mentioned
    assert "@acme/payments" in issue["body"] and "`spec.hard.pods`" in issue["body"]
    creates = [r for r in services.requests if r["method"] == "POST" and r["path"].endswith("/issues")]
    assert creates[0]["auth"] == "Bearer t0ken" and creates[0]["path"] == "/repos/acme/platform/issues"
    [payload] = services.webhook_payloads
    assert "1 drifted, 0 failed, 1 clean" in payload["text"]
    assert "`payments-staging`: 1 live drift, 0 pending from Git" in payload["text"]
    assert "issues/1" in payload["text"]


def test_the_same_drift_is_not_announced_twice(services):
    notify_drift(REPO, [drift("sandbox-dev", QUOTA)], log=lambda l: None, env=env(services))
    before = len([r for r in services.requests if r["method"] in ("POST", "PATCH") and "/issues" in r["path"]])
    done = notify_drift(REPO, [drift("sandbox-dev", QUOTA)], log=lambda l: None, env=env(services))
    after = len([r for r in services.requests if r["method"] in ("POST", "PATCH") and "/issues" in r["path"]])
    assert done["issues"] == {"sandbox-dev": "unchanged"} and before == after
    assert len(services.issues) == 1


def test_changed_drift_updates_the_issue_and_comments(services):
    notify_drift(REPO, [drift("sandbox-dev", QUOTA)], log=lambda l: None, env=env(services))
    done = notify_drift(REPO, [drift("sandbox-dev", QUOTA, BINDING)], log=lambda l: None, env=env(services))
    assert done["issues"] == {"sandbox-dev": "updated"}
    [issue] = services.issues.values()
    assert "`subjects`" in issue["body"] and issue["state"] == "open"
    assert services.comments[issue["number"]] == ["The drift on this stack changed; the description is updated."]


def test_cleared_drift_closes_the_issue_with_a_comment(services):
    notify_drift(REPO, [drift("sandbox-dev", QUOTA)], log=lambda l: None, env=env(services))
    done = notify_drift(REPO, [drift("sandbox-dev")], log=lambda l: None, env=env(services))
    assert done == {"webhook": True, "issues": {"sandbox-dev": "closed"}}
    [issue] = services.issues.values()
    assert issue["state"] == "closed"
    assert "has cleared" in services.comments[issue["number"]][0]
    assert "`sandbox-dev`: drift cleared" in services.webhook_payloads[-1]["text"]
    # a later drift opens a fresh issue rather than reviving the closed one
    notify_drift(REPO, [drift("sandbox-dev", BINDING)], log=lambda l: None, env=env(services))
    assert len(services.issues) == 2


def test_failed_checks_leave_issues_alone(services):
    notify_drift(REPO, [drift("sandbox-dev", QUOTA)], log=lambda l: None, env=env(services))
    failed = StackReport("sandbox-dev", "drift", error="engine failed", extra={"status": "error"})
    done = notify_drift(REPO, [failed], log=lambda l: None, env=env(services))
    assert done["issues"] == {} and list(services.issues.values())[0]["state"] == "open"
    assert "`sandbox-dev`: check failed" in services.webhook_payloads[-1]["text"]


def test_all_clean_sends_nothing(services):
    done = notify_drift(REPO, [drift("sandbox-dev")], log=lambda l: None, env=env(services))
    assert done == {"webhook": False, "issues": {}} and services.webhook_payloads == []


def test_half_configured_github_is_an_error(services):
    with pytest.raises(NotifyError, match="set both GITHUB_TOKEN and GITHUB_REPOSITORY"):
        notify_drift(REPO, [drift("sandbox-dev", QUOTA)], log=lambda l: None, env={"GITHUB_TOKEN": "x"})


def test_api_errors_are_reported(services):
    bad = env(services) | {"GITHUB_REPOSITORY": "acme/platform", "GITHUB_API_URL": services.url + "/nope"}
    with pytest.raises(NotifyError, match="answered 404"):
        notify_drift(REPO, [drift("sandbox-dev", QUOTA)], log=lambda l: None, env=bad)


HOSTILE = "x` <!channel> @here @everyone [click](https://evil.example) | cell |\n| new | row |"


def _outside_code(markdown: str) -> str:
    return re.sub(r"(?<![`\\])(`+)(?!`).*?(?<!`)\1(?!`)", "", markdown)


def test_an_issue_body_from_hostile_names_mentions_only_the_owners_and_keeps_its_table(services):
    hostile = ResourceChange("urn:h", HOSTILE, HOSTILE, HOSTILE, (HOSTILE,), source="live")
    notify_drift(REPO, [drift("payments-staging", hostile)], log=lambda l: None, env=env(services))
    [issue] = services.issues.values()
    body = issue["body"]
    outside = _outside_code(body)
    assert "@here" not in outside and "@everyone" not in outside and "<!channel>" not in outside
    assert "[click](" not in outside and "\n| new | row |" not in body
    header = next(line for line in body.splitlines() if line.startswith("| source |"))
    [row] = [line for line in body.splitlines() if line.startswith("| live |")]
    pipes = re.compile(r"(?<!\\)\|")  # GFM: a pipe right after a backslash never ends a cell
    assert len(pipes.findall(row)) == len(pipes.findall(header)) == 6
    assert "Owners: @acme/payments @jdoe" in body  # the owners are still mentioned on purpose


def test_a_hostile_name_or_issue_url_cannot_mention_or_link_in_the_webhook_message(services):
    # An open issue whose URL (from the API) would close the link and add a mention of its own.
    notify_drift(REPO, [drift("sandbox-dev", QUOTA)], log=lambda l: None, env=env(services))
    [issue] = services.issues.values()
    issue["html_url"] = "https://github.example/x|<!channel>"
    stack = "ev<!here>`il @channel <http://evil.example|click>-dev"
    notify_drift(REPO, [drift("sandbox-dev", BINDING), drift(stack, QUOTA)], log=lambda l: None, env=env(services))
    text = services.webhook_payloads[-1]["text"]
    assert "<!" not in text and "<http://evil" not in text and "@channel" not in text
    assert "|<" not in text and "github.example/x" not in text  # the unusable link is left out, the line is not
    assert "`sandbox-dev`: 1 live drift" in text and "`ev&lt;!here&gt;ˋil" in text
    assert text.count("`") % 2 == 0


def test_api_paths_keep_each_name_in_its_segment(services):
    from shipyard.notify import GitHub

    client = GitHub(services.url, "acme/platform", "t0ken")
    services.teams = {"acme/ledger": {"lena"}}
    assert client.team_member("acme", "ledger", "lena")
    assert not client.team_member("acme", "ledger", "../../../repos/acme/platform/issues?x=")
    assert services.requests[-1]["path"] == "/orgs/acme/teams/ledger/memberships/..%2F..%2F..%2Frepos%2Facme%2F" \
                                            "platform%2Fissues%3Fx%3D"
