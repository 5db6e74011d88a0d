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
