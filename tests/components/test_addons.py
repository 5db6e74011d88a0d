from pathlib import Path

import pulumi_kubernetes as k8s
import pytest

from components.addons import AddonBundle, AddonBundleArgs, AddonSpec

REPO = Path(__file__).resolve().parents[2]
INGRESS = AddonSpec(name="ingress-nginx", chart="ingress-nginx", repository="https://kubernetes.github.io/ingress-nginx",
                    version="4.13.3", namespace="ingress-nginx",
                    values={"controller": {"replicaCount": 2, "service": {"type": "LoadBalancer"}, "x": None}})


def _bundle(mirror=None, addon=INGRESS):
    provider = k8s.Provider("k8s", kubeconfig="{}")
    AddonBundle("ledger-addons", AddonBundleArgs(team="ledger", addons=(addon,), chart_mirror=mirror),
                provider=provider)


def test_upstream_chart_is_installed_at_its_exact_version(build):
    rec = build(_bundle)
    chart = rec.named("ledger-addons-ingress-nginx")
    assert chart.type == "kubernetes:helm.sh/v4:Chart"
    assert chart.inputs["chart"] == "ingress-nginx" and chart.inputs["version"] == "4.13.3"
    assert chart.inputs["repositoryOpts"] == {"repo": "https://kubernetes.github.io/ingress-nginx"}
    assert chart.inputs["namespace"] == "ingress-nginx" and chart.provider.endswith("::k8s")


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


def test_mirror_chart_is_used_when_configured(build, monkeypatch):
    monkeypatch.chdir(REPO)
    chart = build(lambda: _bundle(mirror=Path("addons/charts"))).named("ledger-addons-ingress-nginx")
    assert chart.inputs["chart"] == "addons/charts/ingress-nginx" and "repositoryOpts" not in chart.inputs


def test_mirror_out_of_step_with_the_pin_fails_before_registering(build, monkeypatch):
    monkeypatch.chdir(REPO)
    stale = AddonSpec(**{**INGRESS.__dict__, "version": "4.0.0"})
    with pytest.raises(ValueError, match="pinned to ingress-nginx 4.0.0 but the chart mirror"):
        build(lambda: _bundle(mirror=Path("addons/charts"), addon=stale))
