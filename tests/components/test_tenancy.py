import pulumi
import pulumi_kubernetes as k8s

from components.tenancy import NamespaceSpec, TeamTenancy, TeamTenancyArgs

SPEC = NamespaceSpec(name="ledger-api", cpu="16", memory="32Gi", pods="100", admins=("ledger-leads",),
                     developers=("ledger-devs", "auditors"))
# A second namespace with another group in another role, and a reserved group everyone (the platform too) is in.
BATCH = NamespaceSpec(name="ledger-batch", cpu="4", memory="8Gi", pods="20", developers=("ledger-devs",),
                      viewers=("ledger-oncall", "system:authenticated"))
VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
VAP_BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"


def _tenancy(protect=False, namespaces=(SPEC,)):
    provider = k8s.Provider("k8s", kubeconfig="{}")
    TeamTenancy("ledger-tenancy", TeamTenancyArgs(team="ledger", environment="prod", namespaces=namespaces,
                                                    protect=protect), provider=provider)


def test_each_namespace_gets_quota_limits_rbac_and_default_deny(build):
    rec = build(_tenancy)
    component = rec.named("ledger-tenancy")
    assert component.type == "shipyard:tenancy:TeamTenancy"
    kinds = sorted(r.type.split(":")[-1] for r in rec.children_of(component))
    assert kinds == ["LimitRange", "Namespace", "NetworkPolicy", "ResourceQuota", "RoleBinding", "RoleBinding",
                     "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]
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
    assert len(objects) == 8
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


# -- The tenancy guard: the team's own groups may not change or delete what Shipyard put in their namespaces --

def test_guard_refuses_updates_and_deletes_of_managed_objects_to_the_teams_groups(build):
    rec = build(lambda: _tenancy(namespaces=(SPEC, BATCH)))
    [policy], [binding] = rec.of_type(VAP), rec.of_type(VAP_BINDING)
    assert policy.name == "ledger-tenancy-guard" and binding.name == "ledger-tenancy-guard-binding"
    spec = policy.inputs["spec"]
    assert spec["failurePolicy"] == "Fail"
    rules = spec["matchConstraints"]["resourceRules"]
    assert sorted((r["apiGroups"][0], r["resources"][0]) for r in rules) == [
        ("", "limitranges"), ("", "resourcequotas"), ("networking.k8s.io", "networkpolicies"),
        ("rbac.authorization.k8s.io", "rolebindings")]
    # Never CREATE: a team still adds its own network policies and bindings (and an unmatched `*` would also
    # catch the subresources, such as the quota's status the controller keeps up to date).
    assert all(r["operations"] == ["UPDATE", "DELETE"] and r["apiVersions"] == ["*"] for r in rules)
    # Every group of every namespace and role, sorted; not the reserved group the platform's identity is in too.
    [condition] = spec["matchConditions"]
    assert condition["expression"] == ('request.userInfo.groups.exists(g, g in '
                                       '["auditors", "ledger-devs", "ledger-leads", "ledger-oncall"])')
    [validation] = spec["validations"]
    assert validation["expression"] == "false" and validation["reason"] == "Forbidden"
    for message in (validation["message"], validation["messageExpression"]):
        assert "stacks/ledger/prod.yaml" in message and "ask the platform team" in message
    assert binding.inputs["spec"] == {"policyName": "shipyard-ledger-prod-tenancy-guard",
                                      "validationActions": ["Deny"]}


def test_guard_objects_are_named_per_stack_so_stacks_can_share_a_cluster(build):
    rec = build(_tenancy)
    names = {r.inputs["metadata"]["name"] for r in rec.of_type(VAP) + rec.of_type(VAP_BINDING)}
    assert names == {"shipyard-ledger-prod-tenancy-guard"}
    assert all("namespace" not in r.inputs["metadata"] for r in rec.of_type(VAP) + rec.of_type(VAP_BINDING))


def test_guard_selects_exactly_the_stacks_namespaces_and_every_object_shipyard_puts_in_them(build):
    rec = build(lambda: _tenancy(namespaces=(SPEC, BATCH)))
    constraints = rec.of_type(VAP)[0].inputs["spec"]["matchConstraints"]
    by_namespace = constraints["namespaceSelector"]["matchLabels"]
    by_object = constraints["objectSelector"]["matchLabels"]
    assert by_namespace == {"shipyard.io/environment": "prod", "shipyard.io/team": "ledger"}
    for ns in rec.of_type("kubernetes:core/v1:Namespace"):
        assert by_namespace.items() <= ns.inputs["metadata"]["labels"].items()
    guarded = {(r["apiGroups"][0], r["resources"][0]) for r in constraints["resourceRules"]}
    plural = {"ResourceQuota": ("", "resourcequotas"), "LimitRange": ("", "limitranges"),
              "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
              "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings")}
    in_namespaces = [r for r in rec if r.custom and "namespace" in r.inputs.get("metadata", {})]
    assert len(in_namespaces) == 2 * 3 + 4  # quota, limits, deny policy per namespace; 2 + 2 role bindings
    for obj in in_namespaces:  # a namespaced kind Shipyard adds later must be guarded too
        assert plural[obj.type.rsplit(":", 1)[-1]] in guarded, obj.type
        assert by_object.items() <= obj.inputs["metadata"]["labels"].items(), obj.name


def test_guard_uses_the_given_provider_and_is_protected_in_prod_only(build):
    for protect in (True, False):
        rec = build(lambda: _tenancy(protect=protect))
        component = rec.named("ledger-tenancy")
        for guard in rec.of_type(VAP) + rec.of_type(VAP_BINDING):
            assert guard.parent == component.urn and guard.provider.endswith("::k8s")
            assert guard.protect is protect


def test_no_guard_when_no_namespace_binds_a_team_group(build):
    nobody = NamespaceSpec(name="ledger-api", cpu="1", memory="1Gi", pods="5", viewers=("system:authenticated",))
    rec = build(lambda: _tenancy(namespaces=(nobody,)))
    assert not rec.of_type(VAP) and not rec.of_type(VAP_BINDING)
    assert not build(lambda: _tenancy(namespaces=())).of_type(VAP)
