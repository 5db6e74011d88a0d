import pulumi
import pulumi_kubernetes as k8s

from components.tenancy import NamespaceSpec, TeamTenancy, TeamTenancyArgs

SPEC = NamespaceSpec(name="ledger-api", cpu="16", memory="32Gi", pods="100", admins=("ledger-leads",),
                     developers=("ledger-devs", "auditors"))


def _tenancy(protect=False):
    provider = k8s.Provider("k8s", kubeconfig="{}")
    TeamTenancy("ledger-tenancy", TeamTenancyArgs(team="ledger", environment="prod", namespaces=(SPEC,),
                                                    protect=protect), provider=provider)


def test_each_namespace_gets_quota_limits_rbac_and_default_deny(build):
    rec = build(_tenancy)
    component = rec.named("ledger-tenancy")
    assert component.type == "shipyard:tenancy:TeamTenancy"
    kinds = sorted(r.type.split(":")[-1] for r in rec.children_of(component))
    assert kinds == ["LimitRange", "Namespace", "NetworkPolicy", "ResourceQuota", "RoleBinding", "RoleBinding"]
    quota = rec.named("ledger-tenancy-ledger-api-quota")
    assert quota.inputs["spec"]["hard"] == {"pods": "100", "requests.cpu": "16", "requests.memory": "32Gi"}
    assert quota.inputs["metadata"]["namespace"] == "ledger-api"
    policy = rec.named("ledger-tenancy-ledger-api-default-deny")
    assert policy.inputs["spec"] == {"ingress": [{"from": [{"podSelector": {}}]}], "podSelector": {},
                                     "policyTypes": ["Ingress"]}


def test_groups_are_bound_to_admin_and_edit(build):
    rec = build(_tenancy)
    admins = rec.named("ledger-tenancy-ledger-api-admins").inputs
    developers = rec.named("ledger-tenancy-ledger-api-developers").inputs
    assert admins["roleRef"]["name"] == "admin" and developers["roleRef"]["name"] == "edit"
    assert [s["name"] for s in developers["subjects"]] == ["auditors", "ledger-devs"]  # sorted: stable diffs
    assert all(s["kind"] == "Group" for s in admins["subjects"] + developers["subjects"])
    assert not [r for r in rec if r.name.endswith("-viewers")]  # no empty bindings


def test_every_object_carries_the_shipyard_labels_and_uses_the_given_provider(build):
    rec = build(_tenancy)
    objects = [r for r in rec if r.type.startswith("kubernetes:") and r.custom]
    assert len(objects) == 6
    for obj in objects:
        labels = obj.inputs["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "shipyard" and labels["shipyard.io/team"] == "ledger"
        assert obj.provider and obj.provider.endswith("::k8s")


def test_namespaces_are_protected_in_prod_only(build):
    assert build(lambda: _tenancy(protect=True)).named("ledger-tenancy-ledger-api-ns").protect
    assert not build(lambda: _tenancy(protect=False)).named("ledger-tenancy-ledger-api-ns").protect


def test_namespace_enforces_baseline_pod_security(build):
    labels = build(_tenancy).named("ledger-tenancy-ledger-api-ns").inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
