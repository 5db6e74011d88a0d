from pathlib import Path

import pytest
import yaml

from shipyard.models import StackFile
from shipyard.validation import load_catalog

REQUIRED = {"ingress-nginx", "cert-manager", "external-dns", "metrics-server", "kube-prometheus-stack", "argo-cd"}


def _edit(root: Path, change) -> None:
    path = root / "addons/catalog.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_catalog_has_required_addons_and_bundles(platform_repo):
    catalog = load_catalog(platform_repo).catalog
    assert REQUIRED <= set(catalog.addons)
    assert set(catalog.bundles["baseline"].addons) == {"ingress-nginx", "cert-manager", "metrics-server"}
    assert catalog.bundles["observability"].addons == ["kube-prometheus-stack"]
    assert catalog.bundles["gitops"].addons == ["argo-cd"]


def test_version_ranges_are_rejected_with_their_line(platform_repo):
    _edit(platform_repo, lambda d: d["addons"]["argo-cd"].update(version="^8.3.0"))
    [problem] = load_catalog(platform_repo).diagnostics
    assert "'^8.3.0' is not an exact version" in problem.message and problem.path == "addons/catalog.yaml"
    text = (platform_repo / "addons/catalog.yaml").read_text().splitlines()
    assert "version:" in text[problem.line - 1]


def test_bundle_must_reference_real_entries(platform_repo):
    _edit(platform_repo, lambda d: d["bundles"]["baseline"]["addons"].append("traefik"))
    [problem] = load_catalog(platform_repo).diagnostics
    assert "bundle 'baseline' lists 'traefik'" in problem.message


def test_every_addon_pins_its_archive_digest():
    loaded = load_catalog(Path(__file__).resolve().parents[2])
    assert loaded.diagnostics == []
    for entry in loaded.catalog.addons.values():
        assert entry.digest.startswith("sha256:") and len(entry.digest) == 71


def test_missing_digest_is_reported_at_its_addon(platform_repo):
    _edit(platform_repo, lambda d: d["addons"]["metrics-server"].pop("digest"))
    [problem] = load_catalog(platform_repo).diagnostics
    assert problem.message.startswith("addons.metrics-server: missing 'digest': pin the chart archive")
    text = (platform_repo / "addons/catalog.yaml").read_text().splitlines()
    assert "metrics-server:" in text[problem.line - 1]


@pytest.mark.parametrize("digest", ["sha256:abc", "d326ed776de9ba2d74e8b62241059238361d369f5228b934c313967c0b0be253",
                                    "sha512:" + "a" * 64, "sha256:" + "A" * 64])
def test_digest_must_be_a_sha256_of_64_hex_digits(platform_repo, digest):
    _edit(platform_repo, lambda d: d["addons"]["metrics-server"].update(digest=digest))
    [problem] = load_catalog(platform_repo).diagnostics
    assert f"digest '{digest}' is not a sha256 digest; write sha256:<64 lower-case hex digits>" in problem.message
    text = (platform_repo / "addons/catalog.yaml").read_text().splitlines()
    assert "digest:" in text[problem.line - 1]


def test_local_values_must_be_a_mapping(platform_repo):
    _edit(platform_repo, lambda d: d["addons"]["metrics-server"].update(localValues=["apiService"]))
    [problem] = load_catalog(platform_repo).diagnostics
    assert "addons.metrics-server.localValues: expected a mapping" in problem.message


def test_addons_for_is_bundles_plus_enable_minus_disable(platform_repo):
    catalog = load_catalog(platform_repo).catalog
    stack = StackFile.model_validate({
        "team": "a", "environment": "dev", "owners": ["@a"], "cluster": {"provider": "local"},
        "addons": {"bundles": ["baseline", "gitops"], "enable": ["external-dns"], "disable": ["cert-manager"]}})
    assert catalog.addons_for(stack) == ["argo-cd", "external-dns", "ingress-nginx", "metrics-server"]


# -- workload identities ------------------------------------------------------------------------------------
def test_identities_name_exact_actions_and_scope_dns_to_the_stacks_zones(platform_repo):
    catalog = load_catalog(platform_repo).catalog
    dns = catalog.identities["external-dns"]
    assert dns.hosted_zones == "required" and dns.zone_values == "domainFilters"
    [records] = [s for s in dns.statements if s.zone_scoped]
    assert records.rendered("ledger-prod") == {"Sid": "ChangeRecordsInTheStacksZones", "Effect": "Allow",
                                                "Action": sorted(records.actions)}
    assert catalog.identities["cert-manager"].hosted_zones == "optional"
    autoscaler = catalog.identities["cluster-autoscaler"]
    assert autoscaler.awaits and "cluster-autoscaler" not in catalog.addons  # its chart is not pinned yet
    assert catalog.identity_namespace("cluster-autoscaler") == "cluster-autoscaler"
    scale = autoscaler.statements[0].rendered("ledger-prod")
    assert scale["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/ledger-prod": "owned"}}


@pytest.mark.parametrize(("action", "message"), [
    ("route53:*", "is not one exact IAM action"),
    ("*", "is not one exact IAM action"),
    ("route53:Change*", "is not one exact IAM action"),
])
def test_wildcard_actions_are_refused_in_the_catalog(platform_repo, action, message):
    _edit(platform_repo, lambda d: d["identities"]["external-dns"]["statements"][1].update(actions=[action]))
    [problem] = load_catalog(platform_repo).diagnostics
    assert message in problem.message and problem.path == "addons/catalog.yaml"


def test_an_identity_needs_its_addon_or_says_what_it_awaits(platform_repo):
    def change(data):
        data["identities"]["linkerd"] = dict(data["identities"]["external-dns"])
        data["identities"]["cluster-autoscaler"].pop("namespace")
        data["identities"]["cert-manager"]["awaits"] = "nothing"
    _edit(platform_repo, change)
    messages = sorted(p.message for p in load_catalog(platform_repo).diagnostics)
    assert len(messages) == 3
    assert any("identity for 'linkerd', which is not an add-on of this catalog" in m for m in messages)
    assert any("'cluster-autoscaler' is not in the catalog yet: set the namespace" in m for m in messages)
    assert any("'cert-manager' is in the catalog now; remove awaits" in m for m in messages)


def test_the_zones_placeholder_stands_alone(platform_repo):
    _edit(platform_repo, lambda d: d["identities"]["external-dns"]["statements"][0].update(
        resources=["{hostedZones}", "*"]))
    [problem] = load_catalog(platform_repo).diagnostics
    assert "make it the statement's only resource" in problem.message


def test_identities_apply_to_eks_stacks_that_get_the_addon_and_dns_needs_zones(platform_repo):
    catalog = load_catalog(platform_repo).catalog

    def stack(provider: str, **addons) -> StackFile:
        cluster = {"provider": provider}
        if provider == "eks":
            cluster.update(region="eu-west-1", kubernetesVersion="1.34",
                           nodeGroups=[{"name": "g", "instanceType": "m6i.large", "minSize": 1, "desiredSize": 1,
                                        "maxSize": 2}])
        return StackFile.model_validate({"team": "ledger", "environment": "dev", "owners": ["@acme/ledger"],
                                         "cluster": cluster, "addons": addons})

    assert list(catalog.identities_for(stack("eks", bundles=["baseline"]))) == []  # cert-manager: no zones
    zoned = stack("eks", bundles=["baseline"], enable=["external-dns"], dns={"zones": ["ledger.example.com"]})
    assert sorted(catalog.identities_for(zoned)) == ["cert-manager", "external-dns"]
    assert catalog.identities_for(stack("local", enable=["external-dns"])) == {}
    [(loc, error, _)] = catalog.check_stack(stack("eks", enable=["external-dns"]))
    assert loc == ("addons",) and "'external-dns' needs DNS zones on eks" in error.message()
    assert catalog.check_stack(stack("local", enable=["external-dns"])) == []


# -- the EKS core add-on table --------------------------------------------------------------------------------
def _edit_core(root: Path, change) -> None:
    path = root / "addons/eks-core.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_core_addons_are_pinned_for_every_supported_minor():
    from shipyard.coreaddons import CORE_ADDONS
    from shipyard.models import SUPPORTED_KUBERNETES_VERSIONS

    pins = load_catalog(Path(__file__).resolve().parents[2]).catalog.core_addons
    for minor in SUPPORTED_KUBERNETES_VERSIONS:
        row = pins.for_version(minor)
        assert list(row) == list(CORE_ADDONS)
        assert row["kube-proxy"].startswith(f"v{minor}.")


def test_a_missing_row_or_an_inexact_version_breaks_the_platform(platform_repo):
    _edit_core(platform_repo, lambda d: (d["versions"].pop("1.36"), d["versions"]["1.33"].update(coredns="latest"),
                                         d["versions"]["1.34"].pop("vpc-cni")))
    loaded = load_catalog(platform_repo)
    assert loaded.catalog is None
    messages = sorted(p.message for p in loaded.diagnostics)
    assert all(p.path == "addons/eks-core.yaml" for p in loaded.diagnostics)
    assert any("Kubernetes 1.36 is supported but has no row" in m for m in messages)
    assert any("'latest' is not an exact EKS add-on version" in m for m in messages)
    assert any("Kubernetes 1.34 has no version for vpc-cni" in m for m in messages)


@pytest.mark.parametrize(("secret", "message"), [
    ({"name": "Bad_Name", "keys": ["auth"]}, "DNS-1123"),
    ({"name": "argocd-redis", "keys": []}, "at least 1"),
    ({"name": "argocd-redis", "keys": ["a b"]}, "is not a Secret key"),
    ({"name": "argocd-redis", "keys": ["auth", "auth"]}, "each key once"),
])
def test_generated_secrets_are_checked(secret, message):
    from pydantic import ValidationError

    from shipyard.catalog import GeneratedSecret

    with pytest.raises(ValidationError, match=message):
        GeneratedSecret.model_validate(secret)
