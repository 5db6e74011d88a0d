"""Tenant isolation on the real API server: what `TeamTenancy` declares must actually isolate teams.

Unit tests prove the RoleBindings, quota and network policy are *declared*; only the API server's own
RBAC authorizer and admission chain prove that one team cannot reach another. Two small teams (no
add-ons, so applying them costs seconds) are applied to the session's local cluster. Each team's groups
are impersonated with `kubectl auth can-i --as --as-group` (a SelfSubjectAccessReview, answered by the
same authorizer as real requests), backed by real requests for writes, reads and the quota. The tenancy
guard (a ValidatingAdmissionPolicy) is admission, which can-i never consults: it is checked with real
requests only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shipyard.engine import Engine

Kubectl = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class Team:
    name: str
    namespaces: tuple[str, ...]
    cpu_quota: str

    @property
    def stack(self) -> str:
        return f"{self.name}-dev"

    def group(self, role: str) -> str:
        """The team's group bound to `role` (admins/developers/viewers) in every namespace of the team."""
        return f"{self.name}-{role}"


# Red has two namespaces, so "its own namespaces" is checked beyond the first one.
RED = Team("red", ("red-web", "red-jobs"), cpu_quota="2")
BLUE = Team("blue", ("blue-web",), cpu_quota="2")
TEAMS = (RED, BLUE)
NAMESPACES = tuple(ns for team in TEAMS for ns in team.namespaces)
PAIRS = ((RED, BLUE), (BLUE, RED))  # (team, the other team): isolation must hold in both directions


def _stack_file(team: Team) -> str:
    namespaces = "".join(
        f"  - name: {ns}\n"
        f"    quota: {{cpu: \"{team.cpu_quota}\", memory: 4Gi, pods: 10}}\n"
        f"    admins: [{team.group('admins')}]\n"
        f"    developers: [{team.group('developers')}]\n"
        f"    viewers: [{team.group('viewers')}]\n"
        for ns in team.namespaces)
    return (f"team: {team.name}\nenvironment: dev\nowners: [\"@acme/platform\"]\ncluster:\n  provider: local\n"
            f"namespaces:\n{namespaces}")


def _get(kubectl: Kubectl, *args: str) -> dict:
    return json.loads(kubectl("get", *args, "-o", "json").stdout)


def _as(group: str) -> tuple[str, str]:
    # A made-up user: whatever it may do comes from the group alone.
    return f"--as=someone-in-{group}", f"--as-group={group}"


def _wait_until_pods_can_be_admitted(kubectl: Kubectl, namespace: str, timeout: float = 60) -> None:
    """ResourceQuota admission refuses every pod ("status unknown for quota") until the quota controller
    has filled in `status.hard`, and ServiceAccount admission until the namespace's `default` account
    exists; both appear a moment after `up` returns."""
    deadline = time.monotonic() + timeout
    while True:
        quota = _get(kubectl, "-n", namespace, "resourcequota", "team-quota")
        account = kubectl("-n", namespace, "get", "serviceaccount", "default", check=False)
        if set(quota.get("status", {}).get("hard", {})) == set(quota["spec"]["hard"]) and account.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{namespace}: quota status {quota.get('status')} / default service account "
                                 f"{account.stderr.strip()} not ready after {timeout}s")
        time.sleep(0.5)


def _guard_name(team: Team) -> str:
    return f"shipyard-{team.name}-dev-tenancy-guard"


def _guard_denial(team: Team, kind: str, name: str) -> str:
    """What the API server answers when the tenancy guard refuses a request."""
    return (f"ValidatingAdmissionPolicy '{_guard_name(team)}' with binding '{_guard_name(team)}' denied request: "
            f"{kind} {name} is managed by Shipyard; to change it, change stacks/{team.name}/dev.yaml or ask the "
            f"platform team")


def _wait_until_guard_is_enforced(kubectl: Kubectl, team: Team, timeout: float = 30) -> None:
    """The API server starts enforcing a new admission policy a moment after `up` created it (its informer
    must see the policy and the binding). Probed with a server-side dry run, which is admitted exactly like
    the real request but changes nothing if the guard is not in force yet."""
    deadline = time.monotonic() + timeout
    while True:
        probe = kubectl("-n", team.namespaces[0], "delete", "networkpolicy", "default-deny-ingress", "--dry-run=server",
                        *_as(team.group("developers")), check=False)
        if probe.returncode != 0 and _guard_name(team) in probe.stderr:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{_guard_name(team)} not enforced after {timeout}s: {probe.stdout}{probe.stderr}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def tenants(engine: Engine, itest_repo: Path, kubectl: Kubectl) -> Iterator[tuple[Team, ...]]:
    """Both teams applied to the one local cluster; destroyed and their stack files removed afterwards."""
    folders: list[Path] = []
    applied: list[str] = []
    try:
        for team in TEAMS:
            folders.append(itest_repo / "stacks" / team.name)
            folders[-1].mkdir()
            (folders[-1] / "dev.yaml").write_text(_stack_file(team))
        for team in TEAMS:
            applied.append(team.stack)  # before `up`: a half-applied stack must be destroyed too
            engine.up(team.stack)
        for namespace in NAMESPACES:
            _wait_until_pods_can_be_admitted(kubectl, namespace)
        for team in TEAMS:
            _wait_until_guard_is_enforced(kubectl, team)
        yield TEAMS
    finally:
        for stack in applied:
            engine.destroy(stack)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def _can_i(kubectl: Kubectl, group: str, verb: str, resource: str, namespace: str | None = None) -> str:
    """The API server's yes/no for a member of `group`; no namespace means a cluster-wide question."""
    scope = (f"--namespace={namespace}",) if namespace else ("--all-namespaces",)
    result = kubectl("auth", "can-i", verb, resource, *scope, *_as(group), check=False)
    # A misspelt resource still gets an answer, with a warning: refuse it rather than count a "no".
    assert "doesn't have a resource type" not in result.stderr, result.stderr
    answer = result.stdout.strip()
    assert answer in ("yes", "no"), (answer, result.stderr)
    return answer


# -- RBAC: what each group may do, asked of the API server -------------------------------------------------

DEVELOPER_WORK = (("create", "deployments.apps"), ("update", "deployments.apps"), ("create", "pods"),
                  ("delete", "pods"), ("create", "configmaps"), ("get", "secrets"))


@pytest.mark.parametrize(("team", "namespace", "verb", "resource"), [
    pytest.param(team, ns, verb, resource, id=f"{team.group('developers')}-{verb}-{resource}-in-{ns}")
    for team in TEAMS for ns in team.namespaces for verb, resource in DEVELOPER_WORK])
def test_developers_can_edit_workloads_in_each_own_namespace(tenants, kubectl: Kubectl, team: Team, namespace: str,
                                                              verb: str, resource: str):
    assert _can_i(kubectl, team.group("developers"), verb, resource, namespace) == "yes"


# Developers in full; admins and viewers (a wider and a narrower role) on what each would most plausibly leak.
# Every kubectl call costs ~0.2 s of CPU, so the tables stay at what tells the roles apart.
OTHER_TEAM_ACTIONS = {
    "developers": (("get", "pods"), ("list", "configmaps"), ("get", "secrets"), ("list", "deployments.apps"),
                   ("create", "pods"), ("create", "deployments.apps"), ("delete", "configmaps")),
    "admins": (("list", "secrets"), ("create", "rolebindings"), ("delete", "deployments.apps")),
    "viewers": (("list", "pods"), ("get", "configmaps")),
}


@pytest.mark.parametrize(("team", "other", "namespace", "role", "verb", "resource"), [
    pytest.param(team, other, ns, role, verb, resource, id=f"{team.group(role)}-{verb}-{resource}-in-{ns}")
    for team, other in PAIRS for ns in other.namespaces for role, actions in OTHER_TEAM_ACTIONS.items()
    for verb, resource in actions])
def test_no_group_can_read_or_write_in_another_teams_namespace(tenants, kubectl: Kubectl, team: Team, other: Team,
                                                               namespace: str, role: str, verb: str, resource: str):
    assert _can_i(kubectl, team.group(role), verb, resource, namespace) == "no"


CLUSTER_SCOPED_ACTIONS = {
    "developers": (("create", "namespaces"), ("delete", "namespaces"), ("list", "namespaces"),
                   ("create", "clusterroles"), ("create", "clusterrolebindings"), ("create", "nodes"),
                   ("list", "nodes"), ("create", "customresourcedefinitions.apiextensions.k8s.io")),
    # A namespace admin may grant access in its namespace; it must not reach cluster-wide roles or namespaces.
    "admins": (("create", "namespaces"), ("create", "clusterroles"), ("create", "clusterrolebindings")),
}


@pytest.mark.parametrize(("team", "role", "verb", "resource"), [
    pytest.param(team, role, verb, resource, id=f"{team.group(role)}-{verb}-{resource}")
    for team in TEAMS for role, actions in CLUSTER_SCOPED_ACTIONS.items() for verb, resource in actions])
def test_team_groups_cannot_touch_cluster_scoped_objects(tenants, kubectl: Kubectl, team: Team, role: str, verb: str,
                                                         resource: str):
    assert _can_i(kubectl, team.group(role), verb, resource) == "no"


# The guard rails the platform sets in a namespace: the `edit` role grants none of them, so developers
# can neither raise their quota nor grant themselves (or anyone) more access.
GUARD_RAIL_CHANGES = (("update", "resourcequotas"), ("delete", "resourcequotas"), ("update", "limitranges"),
                      ("delete", "limitranges"), ("create", "rolebindings"), ("update", "rolebindings"),
                      ("create", "roles"))


@pytest.mark.parametrize(("team", "namespace", "verb", "resource"), [
    pytest.param(team, ns, verb, resource, id=f"{team.group('developers')}-{verb}-{resource}-in-{ns}")
    for team in TEAMS for ns in team.namespaces for verb, resource in GUARD_RAIL_CHANGES])
def test_developers_cannot_change_quota_limits_or_access_in_own_namespace(tenants, kubectl: Kubectl, team: Team,
                                                                          namespace: str, verb: str, resource: str):
    assert _can_i(kubectl, team.group("developers"), verb, resource, namespace) == "no"


# Admins run their namespace, access included, but the quota and default limits stay the platform's.
ADMIN_ANSWERS = (("create", "rolebindings", "yes"), ("create", "roles", "yes"), ("create", "deployments.apps", "yes"),
                 ("get", "resourcequotas", "yes"), ("update", "resourcequotas", "no"), ("update", "limitranges", "no"))


@pytest.mark.parametrize(("team", "namespace", "verb", "resource", "answer"), [
    pytest.param(team, ns, verb, resource, answer, id=f"{team.group('admins')}-{verb}-{resource}-in-{ns}-{answer}")
    for team in TEAMS for ns in team.namespaces for verb, resource, answer in ADMIN_ANSWERS])
def test_admins_manage_access_but_not_quota_in_own_namespace(tenants, kubectl: Kubectl, team: Team, namespace: str,
                                                             verb: str, resource: str, answer: str):
    assert _can_i(kubectl, team.group("admins"), verb, resource, namespace) == answer


VIEWER_ANSWERS = (("list", "pods", "yes"), ("get", "deployments.apps", "yes"), ("create", "pods", "no"),
                  ("update", "configmaps", "no"), ("delete", "deployments.apps", "no"), ("get", "secrets", "no"))


@pytest.mark.parametrize(("team", "namespace", "verb", "resource", "answer"), [
    pytest.param(team, ns, verb, resource, answer, id=f"{team.group('viewers')}-{verb}-{resource}-in-{ns}-{answer}")
    for team in TEAMS for ns in team.namespaces for verb, resource, answer in VIEWER_ANSWERS])
def test_viewers_read_own_namespace_but_write_nothing_and_see_no_secrets(tenants, kubectl: Kubectl, team: Team,
                                                                          namespace: str, verb: str, resource: str,
                                                                          answer: str):
    assert _can_i(kubectl, team.group("viewers"), verb, resource, namespace) == answer


@pytest.mark.parametrize(("team", "other"), [pytest.param(t, o, id=f"{t.name}-vs-{o.name}") for t, o in PAIRS])
def test_real_requests_of_developers_succeed_at_home_and_are_forbidden_next_door(tenants, kubectl: Kubectl,
                                                                                 team: Team, other: Team):
    # can-i is the authorizer's answer; this is the same answer on real requests, writes included.
    home, next_door = team.namespaces[0], other.namespaces[0]
    developer = _as(team.group("developers"))
    created = kubectl("-n", home, "create", "configmap", "tenancy-probe", "--from-literal=k=v", *developer,
                      check=False)
    try:
        assert created.returncode == 0, created.stderr
        for request in (("create", "configmap", "tenancy-probe", "--from-literal=k=v"), ("get", "configmaps"),
                        ("get", "configmap", "kube-root-ca.crt")):
            refused = kubectl("-n", next_door, *request, *developer, check=False)
            assert refused.returncode != 0 and "is forbidden: User" in refused.stderr, (request, refused.stderr)
        missing = kubectl("-n", next_door, "get", "configmap", "tenancy-probe", check=False)
        assert missing.returncode != 0 and "NotFound" in missing.stderr
    finally:
        kubectl("-n", home, "delete", "configmap", "tenancy-probe", "--ignore-not-found")


# -- Quota: enforced by the API server's admission, not by convention ---------------------------------------

def _pod_manifest(path: Path, name: str, namespace: str, cpu: str) -> Path:
    # Limits equal to the requests: otherwise the LimitRange's default limit (cpu 1) would be applied and
    # a large request would fail validation ("must be less than or equal to cpu limit") before the quota.
    resources = {"cpu": cpu, "memory": "64Mi"}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
           "spec": {"restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "registry.k8s.io/pause:3.10",
                                    "resources": {"requests": resources, "limits": resources}}]}}
    path.write_text(json.dumps(pod))
    return path


def test_pod_over_the_namespace_quota_is_rejected_by_the_api_server(tenants, kubectl: Kubectl, tmp_path: Path):
    namespace, over = RED.namespaces[0], str(int(RED.cpu_quota) + 1)
    manifest = _pod_manifest(tmp_path / "pod.json", "over-quota", namespace, cpu=over)
    result = kubectl("create", "-f", str(manifest), *_as(RED.group("developers")), check=False)
    assert result.returncode != 0
    assert "exceeded quota: team-quota" in result.stderr, result.stderr
    assert f"requested: requests.cpu={over}" in result.stderr, result.stderr
    assert f"limited: requests.cpu={RED.cpu_quota}" in result.stderr, result.stderr
    missing = kubectl("-n", namespace, "get", "pod", "over-quota", check=False)
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_pod_within_the_namespace_quota_is_admitted_and_counted(tenants, kubectl: Kubectl, tmp_path: Path):
    namespace = RED.namespaces[0]
    manifest = _pod_manifest(tmp_path / "pod.json", "within-quota", namespace, cpu="500m")
    developer = _as(RED.group("developers"))
    result = kubectl("create", "-f", str(manifest), *developer, check=False)
    try:
        assert result.returncode == 0, result.stderr
        assert _get(kubectl, "-n", namespace, "pod", "within-quota")["spec"]["containers"][0]["resources"][
            "requests"]["cpu"] == "500m"
        # Quota admission charges the pod to the quota as it admits it.
        assert _get(kubectl, "-n", namespace, "resourcequota", "team-quota")["status"]["used"]["requests.cpu"] == "500m"
    finally:
        # Forced: the fake kubelet need not confirm, and the namespace is left as `up` made it.
        kubectl("-n", namespace, "delete", "pod", "within-quota", "--ignore-not-found", "--force",
                "--grace-period=0", *developer)


# -- Network policy: every team namespace starts closed to the rest of the cluster -------------------------

def test_stacks_export_exactly_the_namespaces_checked_here(tenants, engine: Engine):
    # Guards the parametrisation below: a namespace the stacks add must be checked too.
    exported = [ns for team in TEAMS for ns in engine.outputs(team.stack)["namespaces"]]
    assert sorted(exported) == sorted(NAMESPACES)


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_every_team_namespace_denies_ingress_from_outside_by_default(tenants, kubectl: Kubectl, namespace: str):
    policies = _get(kubectl, "-n", namespace, "networkpolicies")["items"]
    deny_all = [p for p in policies if p["spec"].get("podSelector") == {} and "Ingress" in p["spec"]["policyTypes"]]
    assert [p["metadata"]["name"] for p in deny_all] == ["default-deny-ingress"], policies
    # Only peers selected by pod within the namespace: no namespaceSelector or ipBlock lets outsiders in.
    peers = [peer for rule in deny_all[0]["spec"].get("ingress", []) for peer in rule.get("from", [])]
    assert all(set(peer) == {"podSelector"} for peer in peers), peers


# -- Tenancy guard: a team cannot switch its own guard rails off ---------------------------------------------

def _content(kubectl: Kubectl, namespace: str, kind: str, name: str) -> dict:
    """What the platform set on an object: labels and everything but metadata and status (the quota
    controller keeps rewriting the quota's status, so resourceVersion would not do)."""
    obj = _get(kubectl, "-n", namespace, kind, name)
    kept = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    return {"labels": obj["metadata"].get("labels"), **kept}


_SUBJECT = '{"apiGroup":"rbac.authorization.k8s.io","kind":"Group","name":"intruders"}'
# (role, kubectl request, kind and name of the object, who refuses it). `rbac` where the role grants no such
# verb at all: the authorizer refuses before admission, and the guard is the second line (tested below).
GUARDED_CHANGES = (
    ("developers", ("delete", "networkpolicy", "default-deny-ingress"), "NetworkPolicy", "default-deny-ingress",
     "guard"),
    ("developers", ("patch", "networkpolicy", "default-deny-ingress", "--type=merge", "-p",
                    '{"spec":{"ingress":[{}]}}'), "NetworkPolicy", "default-deny-ingress", "guard"),
    # Taking Shipyard's label off would take the object out of the guard's selector: refused as well.
    ("developers", ("label", "networkpolicy", "default-deny-ingress", "app.kubernetes.io/managed-by-"),
     "NetworkPolicy", "default-deny-ingress", "guard"),
    ("developers", ("patch", "resourcequota", "team-quota", "--type=merge", "-p", '{"spec":{"hard":{"pods":"99"}}}'),
     "ResourceQuota", "team-quota", "rbac"),
    ("developers", ("delete", "rolebinding", "team-viewers"), "RoleBinding", "team-viewers", "rbac"),
    ("admins", ("delete", "networkpolicy", "default-deny-ingress"), "NetworkPolicy", "default-deny-ingress", "guard"),
    ("admins", ("patch", "resourcequota", "team-quota", "--type=merge", "-p", '{"spec":{"hard":{"pods":"99"}}}'),
     "ResourceQuota", "team-quota", "rbac"),
    ("admins", ("delete", "limitrange", "team-defaults"), "LimitRange", "team-defaults", "rbac"),
    ("admins", ("delete", "rolebinding", "team-viewers"), "RoleBinding", "team-viewers", "guard"),
    ("admins", ("patch", "rolebinding", "team-developers", "--type=json", "-p",
                f'[{{"op":"add","path":"/subjects/-","value":{_SUBJECT}}}]'), "RoleBinding", "team-developers",
     "guard"),
)


@pytest.mark.parametrize(("role", "request_", "kind", "name", "refused_by"), [
    pytest.param(*change, id=f"{RED.group(change[0])}-{change[1][0]}-{change[1][1]}-{change[3]}-{change[4]}")
    for change in GUARDED_CHANGES])
def test_team_cannot_change_or_delete_what_shipyard_put_in_its_own_namespace(tenants, kubectl: Kubectl, role: str,
                                                                            request_: tuple[str, ...], kind: str,
                                                                            name: str, refused_by: str):
    # Red's second namespace: the guard's selector must cover every namespace of the stack, not just the first.
    team, namespace = RED, RED.namespaces[1]
    before = _content(kubectl, namespace, kind.lower(), name)
    result = kubectl("-n", namespace, *request_, *_as(team.group(role)), check=False)
    assert result.returncode != 0, result.stdout
    if refused_by == "guard":
        assert _guard_denial(team, kind, name) in result.stderr, result.stderr
    else:
        assert f'User "someone-in-{team.group(role)}" cannot' in result.stderr, result.stderr
    assert _content(kubectl, namespace, kind.lower(), name) == before


def test_guard_refuses_the_other_teams_groups_too_in_their_own_namespaces(tenants, kubectl: Kubectl):
    # One guard per stack: blue's is not red's with another name only by accident of the fixture.
    result = kubectl("-n", BLUE.namespaces[0], "delete", "networkpolicy", "default-deny-ingress",
                     *_as(BLUE.group("admins")), check=False)
    assert result.returncode != 0 and _guard_denial(BLUE, "NetworkPolicy", "default-deny-ingress") in result.stderr, \
        result.stderr
    assert _get(kubectl, "-n", BLUE.namespaces[0], "networkpolicy", "default-deny-ingress")


def test_guard_holds_where_a_wider_role_would_let_the_team_change_quota_and_limits(tenants, kubectl: Kubectl):
    """RBAC alone refuses quota and limit changes today; the guard must still refuse them if a role ever allows
    them (a ClusterRole aggregated into `edit`, a Role an admin-by-mistake binds)."""
    namespace, developers = RED.namespaces[0], RED.group("developers")
    kubectl("-n", namespace, "create", "role", "guard-probe-quota-editor", "--verb=patch,delete",
            "--resource=resourcequotas,limitranges")
    kubectl("-n", namespace, "create", "rolebinding", "guard-probe-quota-editor", "--role=guard-probe-quota-editor",
            f"--group={developers}")
    try:
        deadline = time.monotonic() + 15  # RBAC is served from an informer cache, too
        while _can_i(kubectl, developers, "patch", "resourcequotas", namespace) != "yes":
            assert time.monotonic() < deadline, "the probe role never took effect"
            time.sleep(0.2)
        quota = _content(kubectl, namespace, "resourcequota", "team-quota")
        patched = kubectl("-n", namespace, "patch", "resourcequota", "team-quota", "--type=merge", "-p",
                          '{"spec":{"hard":{"requests.cpu":"64"}}}', *_as(developers), check=False)
        assert _guard_denial(RED, "ResourceQuota", "team-quota") in patched.stderr, patched.stderr
        deleted = kubectl("-n", namespace, "delete", "limitrange", "team-defaults", *_as(developers), check=False)
        assert _guard_denial(RED, "LimitRange", "team-defaults") in deleted.stderr, deleted.stderr
        assert _content(kubectl, namespace, "resourcequota", "team-quota") == quota
        assert _get(kubectl, "-n", namespace, "limitrange", "team-defaults")
    finally:
        kubectl("-n", namespace, "delete", "rolebinding,role", "guard-probe-quota-editor", "--ignore-not-found")


def test_team_still_changes_and_deletes_what_it_created_itself(tenants, kubectl: Kubectl, tmp_path: Path):
    namespace, developer, admin = RED.namespaces[0], _as(RED.group("developers")), _as(RED.group("admins"))
    own_policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                  "metadata": {"name": "allow-from-monitoring", "namespace": namespace},
                  "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                           "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "monitoring"}}}]}]}}
    (tmp_path / "policy.json").write_text(json.dumps(own_policy))
    steps = [
        (developer, ("create", "-f", str(tmp_path / "policy.json"))),
        (developer, ("label", "networkpolicy", "allow-from-monitoring", "purpose=scraping")),
        (developer, ("delete", "networkpolicy", "allow-from-monitoring")),
        (developer, ("create", "configmap", "guard-probe", "--from-literal=k=v")),
        (developer, ("delete", "configmap", "guard-probe")),
        # Admins still run access in their namespace: their own bindings are theirs to change and remove.
        (admin, ("create", "rolebinding", "guard-probe-readers", "--clusterrole=view", "--group=red-auditors")),
        (admin, ("label", "rolebinding", "guard-probe-readers", "purpose=audit")),
        (admin, ("delete", "rolebinding", "guard-probe-readers")),
    ]
    try:
        for who, request_ in steps:
            result = kubectl("-n", namespace, *request_, *who, check=False)
            assert result.returncode == 0, (request_, result.stderr)
    finally:
        kubectl("-n", namespace, "delete", "networkpolicy", "allow-from-monitoring", "--ignore-not-found")
        kubectl("-n", namespace, "delete", "configmap", "guard-probe", "--ignore-not-found")
        kubectl("-n", namespace, "delete", "rolebinding", "guard-probe-readers", "--ignore-not-found")


def test_platform_identity_may_still_change_and_delete_managed_objects(tenants, kubectl: Kubectl):
    # The identity that applies Shipyard (here the admin kubeconfig): `up`, drift repair and `destroy` depend on
    # it. Server-side dry runs pass through admission like real requests but leave the objects in place.
    namespace = RED.namespaces[0]
    for request_ in (("delete", "networkpolicy", "default-deny-ingress"), ("delete", "rolebinding", "team-admins"),
                     ("patch", "resourcequota", "team-quota", "--type=merge", "-p", '{"spec":{"hard":{"pods":"11"}}}'),
                     ("label", "limitrange", "team-defaults", "app.kubernetes.io/managed-by-")):
        result = kubectl("-n", namespace, *request_, "--dry-run=server", check=False)
        assert result.returncode == 0, (request_, result.stderr)


@pytest.mark.parametrize("team", TEAMS, ids=lambda t: t.name)
def test_guard_is_one_cluster_scoped_policy_per_stack_that_type_checks_cleanly(tenants, kubectl: Kubectl, team: Team):
    policy = _get(kubectl, "validatingadmissionpolicy", _guard_name(team))
    binding = _get(kubectl, "validatingadmissionpolicybinding", _guard_name(team))
    assert binding["spec"]["policyName"] == _guard_name(team) and binding["spec"]["validationActions"] == ["Deny"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    # The API server type-checks the CEL against the matched kinds shortly after the policy is written.
    deadline = time.monotonic() + 15
    while policy.get("status", {}).get("observedGeneration") != policy["metadata"]["generation"]:
        assert time.monotonic() < deadline, policy.get("status")
        time.sleep(0.2)
        policy = _get(kubectl, "validatingadmissionpolicy", _guard_name(team))
    assert not policy["status"].get("typeChecking", {}).get("expressionWarnings"), policy["status"]
