from pathlib import Path

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


def test_mirror_out_of_step_with_pin_is_reported(platform_repo):
    _edit(platform_repo, lambda d: d["addons"]["metrics-server"].update(version="3.12.0"))
    [problem] = load_catalog(platform_repo).diagnostics
    assert "pinned 3.12.0 but the chart mirror addons/charts/metrics-server/Chart.yaml has 3.13.0" in problem.message


def test_every_mirrored_chart_matches_its_pin():
    root = Path(__file__).resolve().parents[2]
    loaded = load_catalog(root)
    assert loaded.diagnostics == []
    for entry in loaded.catalog.addons.values():
        assert (root / "addons/charts" / entry.chart / "Chart.yaml").is_file()


def test_addons_for_is_bundles_plus_enable_minus_disable(platform_repo):
    catalog = load_catalog(platform_repo).catalog
    stack = StackFile.model_validate({
        "team": "a", "environment": "dev", "owners": ["@a"], "cluster": {"provider": "local"},
        "addons": {"bundles": ["baseline", "gitops"], "enable": ["external-dns"], "disable": ["cert-manager"]}})
    assert catalog.addons_for(stack) == ["argo-cd", "external-dns", "ingress-nginx", "metrics-server"]
