import dataclasses
from pathlib import Path

import pulumi_kubernetes as k8s
import pytest

from components.addons import AddonBundle, AddonBundleArgs, AddonSpec
from components.platform import args_from_stack
from shipyard.models import StackFile
from shipyard.offline import record
from shipyard.validation import load_catalog, load_policy

REPO = Path(__file__).resolve().parents[2]
POLICY = load_policy(REPO, load_catalog(REPO).catalog).policy
INGRESS = AddonSpec(name="ingress-nginx", chart="ingress-nginx", repository="https://kubernetes.github.io/ingress-nginx",
                    version="4.13.3", namespace="ingress-nginx", archive=".charts/ingress-nginx-4.13.3.tgz",
                    values={"controller": {"replicaCount": 2, "service": {"type": "LoadBalancer"}, "x": None}})


def _bundle(addon=INGRESS):
    provider = k8s.Provider("k8s", kubeconfig="{}")
    AddonBundle("ledger-addons", AddonBundleArgs(team="ledger", addons=(addon,)), provider=provider)


def test_chart_is_installed_from_its_staged_archive_at_its_exact_version(build):
    rec = build(_bundle)
    chart = rec.named("ledger-addons-ingress-nginx")
    assert chart.type == "kubernetes:helm.sh/v4:Chart"
    # The repository-relative staged archive: the same path on every machine, whatever the chart source.
    assert chart.inputs["chart"] == ".charts/ingress-nginx-4.13.3.tgz"
    # Helm ignores `version` for an archive, but it stays an input: previews and risk grading show it.
    assert chart.inputs["version"] == "4.13.3" and "repositoryOpts" not in chart.inputs
    assert chart.inputs["namespace"] == "ingress-nginx" and chart.inputs["name"] == "ingress-nginx"
    assert chart.provider.endswith("::k8s")


def test_values_are_canonical_sorted_and_without_nulls(build):
    values = build(_bundle).named("ledger-addons-ingress-nginx").inputs["values"]
    assert values == {"controller": {"replicaCount": 2, "service": {"type": "LoadBalancer"}}}
    assert list(values["controller"]) == sorted(values["controller"])


def test_addon_namespace_is_labelled_and_parented(build):
    rec = build(_bundle)
    ns = rec.named("ledger-addons-ingress-nginx-ns")
    assert ns.parent == rec.named("ledger-addons").urn
    assert ns.inputs["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "shipyard"
    assert ns.inputs["metadata"]["labels"]["shipyard.io/addon"] == "ingress-nginx"


@pytest.mark.parametrize(("archive", "error"), [
    ("/home/me/mirror/ingress-nginx-4.13.3.tgz", "must be a path relative to the repository"),
    ("../mirror/ingress-nginx-4.13.3.tgz", "must be a path relative to the repository"),
    (".charts/ingress-nginx-4.0.0.tgz", "is not ingress-nginx-4.13.3.tgz"),
])
def test_archive_that_is_not_the_pinned_relative_one_fails_before_registering(archive, error):
    registered: list = []
    with pytest.raises(ValueError, match=error):
        record(lambda: _bundle(dataclasses.replace(INGRESS, archive=archive)), stack_name="ledger-prod",
               into=registered)
    assert [r.type for r in registered] == ["pulumi:providers:kubernetes"]  # the test's own provider only


def _stack(provider: str, values: dict | None = None, bundles: list[str] | None = None) -> StackFile:
    cluster = {"provider": provider}
    if provider == "existing":
        cluster["kubernetesVersion"] = "1.34"
    return StackFile.model_validate({
        "team": "ledger", "environment": "dev", "owners": ["@acme/ledger"], "cluster": cluster,
        "addons": {"bundles": bundles or ["baseline", "observability"], "values": values or {}}})


def _addons(provider: str, values: dict | None = None, bundles: list[str] | None = None) -> dict[str, AddonSpec]:
    catalog = load_catalog(REPO).catalog
    stack = _stack(provider, values, bundles)
    charts = {name: f".charts/{catalog.addons[name].chart}-{catalog.addons[name].version}.tgz"
              for name in catalog.addons_for(stack)}
    args = args_from_stack(stack, catalog, POLICY, kubeconfig="{}", charts=charts)
    return {a.name: a for a in args.addons.addons}


def test_local_values_apply_on_local_clusters_only():
    local, existing = _addons("local"), _addons("existing")
    assert local["metrics-server"].values["apiService"] == {"create": False}
    assert "apiService" not in existing["metrics-server"].values
    # Merged over the catalog's values, not instead of them.
    assert local["metrics-server"].values["replicas"] == 1


def test_hook_made_certificates_are_not_needed_anywhere():
    # Helm hooks never run: the charts' webhooks whose certificates hook Jobs make are off on every cluster.
    for addons in (_addons("local"), _addons("existing")):
        assert addons["ingress-nginx"].values["controller"]["admissionWebhooks"] == {"enabled": False}
        assert addons["kube-prometheus-stack"].values["prometheusOperator"] == {
            "admissionWebhooks": {"enabled": False}, "tls": {"enabled": False}}


def test_stack_values_win_over_local_values():
    local = _addons("local", {"metrics-server": {"apiService": {"create": True}}})
    assert local["metrics-server"].values["apiService"] == {"create": True}


def test_chart_inputs_on_a_local_stack_carry_the_local_values(build):
    addons = _addons("local")

    def bundle():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        AddonBundle("ledger-addons", AddonBundleArgs(team="ledger", addons=tuple(addons.values())), provider=provider)

    rec = build(bundle, stack="ledger-dev")
    chart = rec.named("ledger-addons-metrics-server")
    assert chart.inputs["chart"] == ".charts/metrics-server-3.13.0.tgz" and chart.inputs["version"] == "3.13.0"
    assert chart.inputs["values"]["apiService"] == {"create": False}


# -- The add-on guard: the team's groups may not touch the platform's add-on namespaces --
def _guarded_bundle():
    provider = k8s.Provider("k8s", kubeconfig="{}")
    AddonBundle("ledger-addons", AddonBundleArgs(team="ledger", addons=(INGRESS,), environment="prod",
                                                 guarded_groups=("ledger-devs", "ledger-leads")), provider=provider)


def test_addon_namespaces_refuse_every_change_by_the_teams_groups(build):
    rec = build(_guarded_bundle)
    policy, binding = rec.named("ledger-addons-guard"), rec.named("ledger-addons-guard-binding")
    assert policy.type == "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
    assert policy.inputs["metadata"]["name"] == "shipyard-ledger-prod-addon-guard"
    spec = policy.inputs["spec"]
    assert spec["matchConstraints"]["namespaceSelector"] == {
        "matchLabels": {"shipyard.io/team": "ledger"},
        "matchExpressions": [{"key": "shipyard.io/addon", "operator": "Exists"}]}
    assert spec["matchConstraints"]["resourceRules"] == [{"apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*/*"],
                                                          "operations": ["CREATE", "UPDATE", "DELETE"]}]
    assert spec["matchConditions"][0]["expression"] == ('request.userInfo.groups.exists(g, g in '
                                                        '["ledger-devs", "ledger-leads"])')
    assert spec["validations"][0]["message"] == ("managed by Shipyard (a platform add-on): change "
                                                 "stacks/ledger/prod.yaml or ask the platform team")
    assert binding.inputs["spec"] == {"policyName": "shipyard-ledger-prod-addon-guard", "validationActions": ["Deny"]}


def test_no_addon_guard_without_addons_or_groups(build):
    rec = build(_bundle)
    assert not [r for r in rec if "ValidatingAdmissionPolicy" in r.type]


def test_platform_gives_the_addon_guard_the_tenancy_groups():
    stack = StackFile.model_validate({
        "team": "ledger", "environment": "dev", "owners": ["@acme/ledger"], "cluster": {"provider": "local"},
        "addons": {"enable": ["metrics-server"]},
        "namespaces": [{"name": "ledger-web", "quota": {"cpu": "1", "memory": "1Gi", "pods": 5},
                        "developers": ["ledger-devs"], "viewers": ["system:authenticated"]}]})
    catalog = load_catalog(REPO).catalog
    args = args_from_stack(stack, catalog, POLICY, kubeconfig="{}",
                           charts={"metrics-server": ".charts/metrics-server-3.13.0.tgz"})
    assert args.addons.guarded_groups == ("ledger-devs",) and args.addons.environment == "dev"


def test_a_secret_only_a_helm_hook_would_make_is_generated_before_the_chart(build):
    addons = _addons("existing", None, bundles=["gitops"])

    def bundle():
        provider = k8s.Provider("k8s", kubeconfig="{}")
        AddonBundle("ledger-addons", AddonBundleArgs(team="ledger", addons=tuple(addons.values())), provider=provider)

    rec = build(bundle, stack="ledger-dev")
    secret = rec.named("ledger-addons-argo-cd-argocd-redis")
    assert secret.type == "kubernetes:core/v1:Secret"
    assert secret.inputs["metadata"]["name"] == "argocd-redis" and secret.inputs["metadata"]["namespace"] == "argocd"
    assert secret.inputs["stringData"] == "[secret]"  # a secret in the plan, never its value
    assert {"stringData", "data"} <= set(secret.secret_outputs)
    assert addons["argo-cd"].values["redisSecretInit"] == {"enabled": False}
