"""shipyard/charts.py against a real Helm chart repository on loopback, made of the real upstream archives."""

from __future__ import annotations

import dataclasses
import json
import socket
from pathlib import Path

import pytest

from shipyard.charts import (STAGING_DIR, ChartError, ChartPin, HelmRepositories, chart_pins, file_digest,
                             mirror_directory, parse_index, pull_charts, resolve_url, stage_charts)
from shipyard.cli import main
from shipyard.validation import load_catalog
from tests.support.charts import copy_charts, shared_charts, sums, write_index
from tests.support.mirror import FileServer

REPO = Path(__file__).resolve().parents[2]
SIX = ["argo-cd", "cert-manager", "external-dns", "ingress-nginx", "kube-prometheus-stack", "metrics-server"]


def catalog_pins(repository: str) -> list[ChartPin]:
    """The catalog's real pins (versions and digests), every chart served by `repository`."""
    catalog = load_catalog(REPO).catalog
    assert catalog is not None
    return [dataclasses.replace(pin, repository=repository) for pin in chart_pins(catalog)]


def client(**kwargs) -> HelmRepositories:
    return HelmRepositories(**{"backoff": 0.0, "timeout": 10.0, "connect_timeout": 2.0, **kwargs})


@pytest.fixture
def served(tmp_path: Path):
    """A chart repository at <server>/charts holding the six real archives, index.yaml with relative urls."""
    folder = copy_charts(tmp_path / "site" / "charts")
    write_index(folder)
    with FileServer(tmp_path / "site") as server:
        yield server, folder, f"{server.url}/charts"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tamper(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))


# -- pulling into a mirror ----------------------------------------------------------------------------------
def test_catalog_digests_are_the_real_archives():
    real = sums(shared_charts())
    catalog = load_catalog(REPO).catalog
    assert sorted(catalog.addons) == SIX
    for pin in chart_pins(catalog):
        assert real[pin.file] == pin.digest, pin.addon


def test_pull_fetches_all_six_with_their_pinned_digests(served, tmp_path):
    server, _, url = served
    mirror = tmp_path / "mirror"
    with client() as repositories:
        result = pull_charts(catalog_pins(url), mirror, repositories)
    assert result.errors == []
    assert [(c.pin.addon, c.status) for c in result.charts] == [(name, "pulled") for name in SIX]
    real = sums(shared_charts())
    assert sorted(p.name for p in mirror.iterdir()) == sorted(real)  # no temporary file left behind
    for name, digest in real.items():
        assert file_digest(mirror / name) == digest
    assert server.gets("index.yaml") == 1  # one index read for the repository, not one per chart


def test_pull_again_keeps_present_archives_without_downloading(served, tmp_path):
    server, _, url = served
    mirror = tmp_path / "mirror"
    with client() as repositories:
        pull_charts(catalog_pins(url), mirror, repositories)
    before = len(server.requests)
    with client() as repositories:
        result = pull_charts(catalog_pins(url), mirror, repositories)
    assert {c.status for c in result.charts} == {"present"} and len(result.charts) == 6
    assert len(server.requests) == before


def test_pull_replaces_a_mirror_archive_with_another_digest(served, tmp_path):
    _, _, url = served
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    pin = catalog_pins(url)[SIX.index("metrics-server")]
    (mirror / pin.file).write_bytes(b"not the chart")
    with client() as repositories:
        [pulled] = pull_charts([pin], mirror, repositories).charts
    assert pulled.status == "replaced" and file_digest(mirror / pin.file) == pin.digest


def test_tampered_archive_is_refused_naming_it_and_both_digests_and_nothing_is_written(served, tmp_path):
    _, folder, url = served
    pin = catalog_pins(url)[SIX.index("ingress-nginx")]
    tamper(folder / pin.file)  # the index still states the real digest: only the bytes give it away
    actual = file_digest(folder / pin.file)
    mirror = tmp_path / "mirror"
    with client() as repositories:
        result = pull_charts([pin], mirror, repositories)
    [(failed, message)] = result.errors
    assert failed == pin and result.charts == []
    assert f"{url}/{pin.file}" in message and actual in message and pin.digest in message
    assert list(mirror.iterdir()) == []


def test_index_stating_another_digest_is_refused_before_downloading(served, tmp_path):
    server, folder, url = served
    pin = catalog_pins(url)[SIX.index("external-dns")]
    tamper(folder / pin.file)
    write_index(folder)  # the repository now publishes another archive under the same version
    with client() as repositories:
        [(_, message)] = pull_charts([pin], tmp_path / "mirror", repositories).errors
    assert file_digest(folder / pin.file) in message and pin.digest in message and pin.file in message
    assert server.gets(pin.file) == 0


def test_version_missing_from_the_index_is_named(served, tmp_path):
    _, _, url = served
    pin = dataclasses.replace(catalog_pins(url)[SIX.index("argo-cd")], version="9.9.9")
    with client() as repositories:
        [(_, message)] = pull_charts([pin], tmp_path / "mirror", repositories).errors
    assert f"version 9.9.9 of chart 'argo-cd' is not in {url}/index.yaml" in message
    assert "8.3.5" in message  # what the index does list


def test_chart_missing_from_the_index_is_named(served, tmp_path):
    _, _, url = served
    pin = dataclasses.replace(catalog_pins(url)[0], chart="traefik")
    with client() as repositories:
        [(_, message)] = pull_charts([pin], tmp_path / "mirror", repositories).errors
    assert f"chart 'traefik' is not in {url}/index.yaml" in message


def test_unreachable_repository_is_named_after_retries(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/charts"
    with client(attempts=2) as repositories:
        [(_, message), *_] = pull_charts(catalog_pins(url), tmp_path / "mirror", repositories).errors
    assert "chart repository unreachable" in message and f"{url}/index.yaml" in message
    assert "after 2 attempts" in message


def test_transient_errors_are_retried(served, tmp_path):
    server, _, url = served
    server.fail["/charts/index.yaml"] = 2
    pin = catalog_pins(url)[SIX.index("metrics-server")]
    server.fail[f"/charts/{pin.file}"] = 1
    with client(attempts=3) as repositories:
        result = pull_charts([pin], tmp_path / "mirror", repositories)
    assert result.errors == [] and result.charts[0].status == "pulled"
    assert server.gets("index.yaml") == 3 and server.gets(pin.file) == 2


def test_not_found_is_not_retried(served, tmp_path):
    server, _, url = served
    with client(attempts=3) as repositories:
        [(_, message), *_] = pull_charts(catalog_pins(f"{url}/nowhere"), tmp_path / "mirror", repositories).errors
    assert "HTTP 404 (not found)" in message and server.gets("index.yaml") == 1


def test_a_repository_that_does_not_answer_in_time_is_unreachable(tmp_path):
    folder = copy_charts(tmp_path / "charts", ["metrics-server-3.13.0.tgz"])
    write_index(folder)
    with FileServer(folder, delay=1.0) as server:
        pin = [p for p in catalog_pins(server.url) if p.addon == "metrics-server"]
        with client(attempts=2, timeout=0.2) as repositories:
            [(_, message)] = pull_charts(pin, tmp_path / "mirror", repositories).errors
    assert "chart repository unreachable" in message and "after 2 attempts" in message
    assert "index.yaml" in message


@pytest.mark.parametrize("absolute", [False, True], ids=["relative-urls", "absolute-urls"])
def test_archive_urls_resolve_relative_and_absolute(tmp_path, absolute):
    # Index under /repo (no trailing slash in the repository URL); absolute urls point elsewhere on the host.
    site = tmp_path / "site"
    folder = copy_charts(site / ("store" if absolute else "repo"), ["metrics-server-3.13.0.tgz"])
    with FileServer(site) as server:
        index = write_index(folder, f"{server.url}/store" if absolute else None)
        if absolute:
            (site / "repo").mkdir()
            index.rename(site / "repo" / "index.yaml")
        pin = [p for p in catalog_pins(f"{server.url}/repo") if p.addon == "metrics-server"]
        with client() as repositories:
            result = pull_charts(pin, tmp_path / "mirror", repositories)
        assert result.errors == []
        assert result.charts[0].url == f"{server.url}/{'store' if absolute else 'repo'}/metrics-server-3.13.0.tgz"
        assert "/repo/index.yaml" in server.requests


def test_oversized_index_and_archive_are_refused(served, tmp_path):
    _, _, url = served
    pin = catalog_pins(url)[SIX.index("kube-prometheus-stack")]
    with client(max_index_bytes=1024) as repositories:
        [(_, message)] = pull_charts([pin], tmp_path / "a", repositories).errors
    assert "index.yaml" in message and "larger than" in message
    with client(max_archive_bytes=100 << 10) as repositories:
        [(_, message)] = pull_charts([pin], tmp_path / "b", repositories).errors
    assert pin.file in message and "larger than" in message
    assert list((tmp_path / "b").iterdir()) == []


def test_oci_repository_asks_for_a_mirror(tmp_path):
    pin = ChartPin("karpenter", "karpenter", "1.6.0", "sha256:" + "0" * 64, "oci://public.ecr.aws/karpenter")
    with client() as repositories:
        [(_, message)] = pull_charts([pin], tmp_path / "m", repositories).errors
    assert "OCI registry" in message and "helm pull oci://public.ecr.aws/karpenter/karpenter" in message
    assert "SHIPYARD_CHART_MIRROR" in message


def test_repository_credentials_are_never_repeated(tmp_path):
    url = f"http://robot:s3cret@127.0.0.1:{closed_port()}/charts"
    with client(attempts=1) as repositories:
        [(_, message), *_] = pull_charts(catalog_pins(url), tmp_path / "m", repositories).errors
    assert "s3cret" not in message and "robot" not in message and "127.0.0.1" in message


# -- the index ----------------------------------------------------------------------------------------------
def test_index_keeps_versions_as_strings_and_reads_only_the_chart():
    text = ("apiVersion: v1\nentries:\n  a:\n  - version: 1.10\n    digest: ABCD\n    urls: [a-1.10.tgz]\n"
            "  - {version: 1.9, urls: []}\n  b:\n  - {version: 2.0, urls: [b.tgz]}\ngenerated: x\n")
    entries = parse_index(text, "a", "idx")
    assert [(e.version, e.digest, e.urls) for e in entries] == [("1.10", "sha256:abcd", ("a-1.10.tgz",)),
                                                                 ("1.9", None, ())]


@pytest.mark.parametrize(("text", "error"), [
    ("apiVersion: v1\nentries:\n  a: &x [{version: '1'}]\n  b: *x\n", "anchors or aliases"),
    ("apiVersion: v1\nentries:\n  a: " + "[" * 40 + "]" * 40 + "\n", "nests deeper than"),
    ("entries: {}\n", "is not a Helm repository index"),
    ("apiVersion: v1\nentries: {a: [}\n", "is not valid YAML"),
    ("apiVersion: v1\nentries: {}\n---\napiVersion: v1\n", "more than one YAML document"),
    ("apiVersion: v1\nentries:\n  ? [x]\n  : 1\n", "not a string"),
])
def test_hostile_or_broken_index_is_refused(text, error):
    with pytest.raises(ChartError, match=error):
        parse_index(text, "a", "idx")


def test_urls_resolve_as_helm_resolves_them():
    assert resolve_url("https://h/charts", "index.yaml") == "https://h/charts/index.yaml"
    assert resolve_url("https://h/charts/", "x-1.tgz") == "https://h/charts/x-1.tgz"
    assert resolve_url("https://h/charts", "https://cdn/x-1.tgz") == "https://cdn/x-1.tgz"
    assert resolve_url("https://h/charts", "../other/x-1.tgz") == "https://h/other/x-1.tgz"
    assert resolve_url("https://h/c?sig=1", "x-1.tgz") == "https://h/c/x-1.tgz?sig=1"


# -- staging: what the program installs ---------------------------------------------------------------------
def test_mirror_missing_archive_is_named_with_its_digest(tmp_path):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    pins = catalog_pins("https://unused.example")
    with pytest.raises(ChartError) as error:
        stage_charts(pins[:2], tmp_path / "root", mirror)
    for pin in pins[:2]:  # every missing archive, not just the first
        assert f"the chart mirror has no {pin.file}" in str(error.value) and pin.digest in str(error.value)
    assert not (tmp_path / "root" / STAGING_DIR).exists() or not any((tmp_path / "root" / STAGING_DIR).iterdir())


def test_mirror_mismatch_is_named_with_both_digests_and_nothing_is_staged(tmp_path):
    mirror = copy_charts(tmp_path / "mirror", ["cert-manager-v1.18.2.tgz"])
    tamper(mirror / "cert-manager-v1.18.2.tgz")
    [pin] = [p for p in catalog_pins("https://unused.example") if p.addon == "cert-manager"]
    with pytest.raises(ChartError) as error:
        stage_charts([pin], tmp_path / "root", mirror)
    message = str(error.value)
    assert str(mirror / pin.file) in message and file_digest(mirror / pin.file) in message and pin.digest in message
    assert list((tmp_path / "root" / STAGING_DIR).iterdir()) == []


def test_staged_path_is_the_same_for_every_mirror_location_and_the_repository(served, tmp_path):
    _, _, url = served
    pins = catalog_pins(url)
    near = copy_charts(tmp_path / "a")
    far = copy_charts(tmp_path / "b" / "deeper" / "mirror")
    from_near = stage_charts(pins, tmp_path / "laptop", near)
    from_far = stage_charts(pins, tmp_path / "ci", far)
    with client() as repositories:
        from_repository = stage_charts(pins, tmp_path / "fresh", None, repositories)
    for pin in pins:
        paths = {from_near[pin.addon].path, from_far[pin.addon].path, from_repository[pin.addon].path}
        assert paths == {f".charts/{pin.file}"}
        for root in ("laptop", "ci", "fresh"):
            assert file_digest(tmp_path / root / ".charts" / pin.file) == pin.digest


def test_staged_archive_is_reused_without_downloading_again(served, tmp_path):
    server, _, url = served
    pins = catalog_pins(url)[:2]
    with client() as repositories:
        stage_charts(pins, tmp_path, None, repositories)
    before = len(server.requests)
    with client() as repositories:
        again = stage_charts(pins, tmp_path, None, repositories)
    assert {s.source for s in again.values()} == {"staged"} and len(server.requests) == before


def test_corrupt_staged_archive_and_killed_run_leftovers_never_count(tmp_path):
    mirror = copy_charts(tmp_path / "mirror", ["external-dns-1.18.0.tgz"])
    [pin] = [p for p in catalog_pins("https://unused.example") if p.addon == "external-dns"]
    staging = tmp_path / "root" / STAGING_DIR
    staging.mkdir(parents=True)
    whole = (mirror / pin.file).read_bytes()
    (staging / pin.file).write_bytes(whole[: len(whole) // 2])  # a half archive under the final name
    (staging / f".{pin.file}.x1.partial").write_bytes(whole[:100])  # a killed run's temporary file
    staged = stage_charts([pin], tmp_path / "root", mirror)
    assert staged[pin.addon].source == str(mirror / pin.file)
    assert file_digest(staging / pin.file) == pin.digest


def test_mirror_setting_config_wins_then_environment(tmp_path):
    env = {"SHIPYARD_CHART_MIRROR": "/srv/charts"}
    assert mirror_directory("/opt/mirror", env, tmp_path) == Path("/opt/mirror")
    assert mirror_directory("upstream", env, tmp_path) is None
    assert mirror_directory(None, env, tmp_path) == Path("/srv/charts")
    assert mirror_directory(None, {"SHIPYARD_CHART_MIRROR": "vendor/charts"}, tmp_path) == tmp_path / "vendor/charts"
    assert mirror_directory(None, {}, tmp_path) is None


# -- `shipyard charts pull` ---------------------------------------------------------------------------------
@pytest.fixture
def served_repo(platform_repo: Path, served):
    """The platform copy with every add-on's repository pointed at the loopback chart repository."""
    server, folder, url = served
    catalog = platform_repo / "addons/catalog.yaml"
    lines = [f"    repository: {url}" if line.startswith("    repository: ") else line
             for line in catalog.read_text().splitlines()]
    catalog.write_text("\n".join(lines) + "\n")
    return platform_repo, server, folder


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_charts_pull_fills_a_mirror_and_reports_json(served_repo, tmp_path, capsys, monkeypatch):
    root, _, _ = served_repo
    monkeypatch.delenv("SHIPYARD_CHART_MIRROR", raising=False)
    mirror = tmp_path / "mirror"
    code, out, err = run(capsys, "--repo", str(root), "charts", "pull", "--to", str(mirror), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] is True and result["errors"] == [] and result["mirror"] == str(mirror)
    assert [(c["addon"], c["status"]) for c in result["charts"]] == [(name, "pulled") for name in SIX]
    real = sums(shared_charts())
    assert {c["file"]: c["digest"] for c in result["charts"]} == {str(mirror / n): d for n, d in real.items()}
    assert "metrics-server-3.13.0.tgz" in err  # progress goes to stderr
    code, out, _ = run(capsys, "--repo", str(root), "charts", "pull", "--to", str(mirror), "--json")
    assert code == 0 and {c["status"] for c in json.loads(out)["charts"]} == {"present"}


def test_charts_pull_defaults_to_the_mirror_variable_and_takes_addon_names(served_repo, tmp_path, capsys,
                                                                           monkeypatch):
    root, _, _ = served_repo
    monkeypatch.setenv("SHIPYARD_CHART_MIRROR", str(tmp_path / "env-mirror"))
    code, out, _ = run(capsys, "--repo", str(root), "charts", "pull", "metrics-server", "argo-cd")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "env-mirror").iterdir()) == ["argo-cd-8.3.5.tgz",
                                                                          "metrics-server-3.13.0.tgz"]
    assert "pulled" in out and "metrics-server" in out


def test_charts_pull_without_a_mirror_asks_for_one(served_repo, capsys, monkeypatch):
    root, _, _ = served_repo
    monkeypatch.delenv("SHIPYARD_CHART_MIRROR", raising=False)
    code, _, err = run(capsys, "--repo", str(root), "charts", "pull")
    assert code == 1 and "--to DIR" in err and "SHIPYARD_CHART_MIRROR" in err


def test_charts_pull_of_an_unknown_addon_is_a_usage_error(served_repo, tmp_path, capsys):
    root, _, _ = served_repo
    code, _, err = run(capsys, "--repo", str(root), "charts", "pull", "--to", str(tmp_path / "m"), "traefik")
    assert code == 1 and "unknown add-on 'traefik'" in err and "ingress-nginx" in err


def test_charts_pull_with_a_tampered_archive_exits_1_and_lists_it(served_repo, tmp_path, capsys):
    root, _, folder = served_repo
    tamper(folder / "argo-cd-8.3.5.tgz")
    mirror = tmp_path / "mirror"
    code, out, err = run(capsys, "--repo", str(root), "charts", "pull", "--to", str(mirror), "--json")
    assert code == 1
    result = json.loads(out)
    assert result["ok"] is False and [e["addon"] for e in result["errors"]] == ["argo-cd"]
    assert len(result["charts"]) == 5 and not (mirror / "argo-cd-8.3.5.tgz").exists()
    assert "argo-cd-8.3.5.tgz" in err


def test_the_shared_charts_locator_honours_its_variable_and_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("SHIPYARD_TEST_CHARTS", str(shared_charts()))
    assert (shared_charts() / "SHA256SUMS").is_file()
    monkeypatch.setenv("SHIPYARD_TEST_CHARTS", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="SHIPYARD_TEST_CHARTS=.* has no SHA256SUMS"):
        shared_charts()
