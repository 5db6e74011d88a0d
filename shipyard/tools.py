"""The pinned third-party toolchain: official releases first, a mirror for air-gapped sites, a source build last.

For each tool `install` (1) reuses it when it is installed at its pin (a `pulumi` on PATH counts too),
(2) downloads the project's official release artifacts, verified against the checksums the release
publishes — or, with SHIPYARD_TOOLS_MIRROR, the same files by the same names from one mirror, verified
against the mirror's SHA256SUMS — and (3) builds it from the Go module proxy at the version pinned in
`tools.toml` (the provider plugins at the versions pinned in `pyproject.toml`). `--no-build` forbids step 3.

A tool lives in `$SHIPYARD_TOOLS/<name>-<version>/` (`bin/`, data files, `shipyard-tool.json`) and
counts as installed only once complete: it is assembled under a temporary name, its manifest written
last, then renamed atomically; a per-tool lock makes concurrent installs wait for each other.
`mirror` writes installed tools back out under their official file names and internal layouts, so
one machine can seed a mirror and installing from it runs the same extraction as a release download.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from shipyard.errors import ToolError
from shipyard.secrets import public_url
from shipyard.paths import tools_dir

MANIFEST = "shipyard-tool.json"
MIRROR_ENV = "SHIPYARD_TOOLS_MIRROR"
MIRROR_SUMS = "SHA256SUMS"
PROFILES = ("engine", "local", "all")
"""`engine`: what preview/up/drift need; `local`: everything to run local stacks (engine minus the AWS
provider, plus the local control plane); `all`: every pinned tool, linters included."""

GO_ENV = {"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod -modcacherw", "CGO_ENABLED": "0"}
CLIPBOARD_REPLACE = ("github.com/atotto/clipboard => "
                     "github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e")
K8S_STAGING = ("api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider "
               "cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api "
               "cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt "
               "kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics "
               "mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller "
               "streaming").split()
K8S_SERVER = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")

KWOK_STAGES = "share/kwok-stages.yaml"
# kwok's release asset stage-fast.yaml is `kustomize build kustomize/stage/fast`, which is exactly these five
# stages (node/fast, node/heartbeat-with-lease, pod/fast): the source build concatenates the same files.
KWOK_STAGE_SOURCES = ("node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
                      "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml")

Log = Callable[[str], None]

# -- official release artifacts ------------------------------------------------------------------------
# The one table of download locations. It lives here, not in tools.toml, because every row is a contract
# with this module's code: the archive's internal layout that extraction and `tools mirror` rely on, and
# the checksum format the verifier parses; tools.toml stays what people edit, the pins. Templates take
# {v} (the pinned version), {os} (linux|darwin), {arch} (amd64|arm64), {pulumi_arch} (x64|arm64: the
# Pulumi CLI tarball's spelling), {archive} (tar.gz, or zip for etcd on darwin), {file} (the resolved
# file name) and the hosts below (tests point them at a loopback server).
OFFICIAL_HOSTS = {
    "github": "https://github.com",
    "github_api": "https://api.github.com",
    "pulumi_get": "https://get.pulumi.com",
    "k8s_dl": "https://dl.k8s.io",
}
SUMS = "sums"
"""A checksum file with `<hex digest>  <file name>` lines (sha1, sha256 or sha512, told apart by length)."""
DIGEST = "digest"
"""A `<file>.sha256` holding only the hex digest (dl.k8s.io)."""
GITHUB_API = "github-api"
"""The GitHub release's JSON, whose assets carry the `digest` GitHub computed at upload (kwok publishes no
checksum file of its own)."""


@dataclass(frozen=True)
class Release:
    """One official release artifact of a tool, as templates."""

    file: str
    url: str
    checksums: str
    checksum_format: str
    members: tuple[tuple[str, str], ...]
    """(path inside the archive, path in the install directory); an empty archive path is the file itself."""
    optional: tuple[str, ...] = ()
    """Archive paths that some releases (or re-packed source builds) do not have."""
    systems: tuple[str, ...] = ("linux", "darwin")


def _provider_release(name: str) -> Release:
    # The names `pulumi plugin install` fetches; the release's checksum file is `shasum` output (SHA-1) in
    # current provider CI, goreleaser's SHA-256 in older releases: the verifier accepts either.
    base = "{github}/pulumi/pulumi-" + name + "/releases/download/v{v}/"
    binary = f"pulumi-resource-{name}"
    return Release(binary + "-v{v}-{os}-{arch}.tar.gz", base + "{file}", base + "pulumi-" + name + "_{v}_checksums.txt",
                   SUMS, ((binary, f"bin/{binary}"),))


def _k8s_release(binary: str, systems: tuple[str, ...]) -> Release:
    url = "{k8s_dl}/v{v}/bin/{os}/{arch}/" + binary
    return Release(binary, url, url + ".sha256", DIGEST, (("", f"bin/{binary}"),), systems=systems)


RELEASES: dict[str, tuple[Release, ...]] = {
    # get.pulumi.com is where Pulumi's own installer downloads from; the tarball wraps everything in pulumi/.
    "pulumi": (Release("pulumi-v{v}-{os}-{pulumi_arch}.tar.gz", "{pulumi_get}/releases/sdk/{file}",
                       "{pulumi_get}/releases/sdk/pulumi-{v}-checksums.txt", SUMS,
                       (("pulumi/pulumi", "bin/pulumi"),
                        ("pulumi/pulumi-language-python", "bin/pulumi-language-python")),
                       optional=("pulumi/pulumi-language-python",)),),
    "pulumi-resource-kubernetes": (_provider_release("kubernetes"),),
    "pulumi-resource-aws": (_provider_release("aws"),),
    "etcd": (Release("etcd-v{v}-{os}-{arch}.{archive}", "{github}/etcd-io/etcd/releases/download/v{v}/{file}",
                     "{github}/etcd-io/etcd/releases/download/v{v}/SHA256SUMS", SUMS,
                     (("etcd-v{v}-{os}-{arch}/etcd", "bin/etcd"),)),),
    # Kubernetes publishes server binaries for linux only; elsewhere they are built from source.
    "kubernetes": tuple(_k8s_release(binary, ("linux",)) for binary in K8S_SERVER),
    "kubectl": (_k8s_release("kubectl", ("linux", "darwin")),),
    "kwok": (Release("kwok-{os}-{arch}", "{github}/kubernetes-sigs/kwok/releases/download/v{v}/{file}",
                     "{github_api}/repos/kubernetes-sigs/kwok/releases/tags/v{v}", GITHUB_API, (("", "bin/kwok"),)),
             Release("stage-fast.yaml", "{github}/kubernetes-sigs/kwok/releases/download/v{v}/{file}",
                     "{github_api}/repos/kubernetes-sigs/kwok/releases/tags/v{v}", GITHUB_API,
                     (("", KWOK_STAGES),))),
    "actionlint": (Release("actionlint_{v}_{os}_{arch}.tar.gz",
                           "{github}/rhysd/actionlint/releases/download/v{v}/{file}",
                           "{github}/rhysd/actionlint/releases/download/v{v}/actionlint_{v}_checksums.txt", SUMS,
                           (("actionlint", "bin/actionlint"),)),),
}


@dataclass(frozen=True)
class Artifact:
    """A release artifact resolved for one version and platform, at its official place or in a mirror."""

    file: str
    url: str
    checksums: str
    checksum_format: str
    members: tuple[tuple[str, str], ...]
    optional: tuple[str, ...]


@dataclass(frozen=True)
class Tool:
    """One pinned tool: what it is called, which binaries it provides and how to check their version."""

    name: str
    version: str
    binaries: tuple[str, ...]
    version_args: tuple[str, ...] | None
    """Arguments that make the first binary print its version (None: trust the manifest)."""
    expect: str
    """Text the version output must contain."""
    hint: str
    """How long a cold source build takes, shown before it starts."""
    files: tuple[str, ...] = ()
    """Data files (relative to the install directory) that ship with the binaries."""
    profiles: tuple[str, ...] = ()
    """Profiles that need it besides `all`, which has every tool."""
    plugin: str | None = None
    """For a Pulumi resource provider plugin: the package name (`kubernetes`, `aws`)."""
    buildable: bool = True
    """Whether the Go module proxy can build it."""

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class ToolState:
    tool: Tool
    path: Path | None
    """The directory holding its binaries (None when missing)."""
    ok: bool
    detail: str
    source: str = ""
    """How it was obtained: release, mirror, build, PATH, or the tool whose directory it shares."""

    def as_json(self) -> dict[str, object]:
        return {"name": self.tool.name, "version": self.tool.version, "ok": self.ok, "source": self.source or None,
                "path": str(self.path) if self.path else None, "detail": self.detail,
                "profiles": [p for p in PROFILES if p == "all" or p in self.tool.profiles]}


@dataclass(frozen=True)
class Plugin:
    """An installed Pulumi plugin, as the engine registers it."""

    kind: str
    name: str
    version: str
    path: Path
    """The plugin binary."""


@dataclass(frozen=True)
class MirrorResult:
    files: dict[str, str]
    """Official file name -> sha256 of every file written."""
    missing: list[ToolState]
    """Pinned tools of the selection that were not installed, so not mirrored."""


class _Unavailable(Exception):
    """An artifact could not be fetched (not found, unreachable, no published checksum): nothing is known to
    be wrong with it, so a source build may stand in."""

    def __init__(self, file: str, url: str, reason: str):
        super().__init__(f"could not download {file} from {public_url(url)}: {reason}")
        self.file, self.url, self.reason = file, url, reason


def host_platform() -> tuple[str, str]:
    """(os, arch) in Go's spelling, as release file names use them."""
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return ("darwin" if sys.platform == "darwin" else sys.platform), arch


class Toolchain:
    """The tools a repository pins, where they are cached, and how to obtain them."""

    def __init__(self, root: Path, cache: Path | None = None, platform: tuple[str, str] | None = None):
        self.root = root
        self.cache = cache or tools_dir()
        self.platform = platform or host_platform()
        pins_file = root / "tools.toml"
        if not pins_file.is_file():
            raise ToolError(f"{pins_file} is missing; it pins every tool Shipyard installs")
        with pins_file.open("rb") as handle:
            self.pins = tomllib.load(handle)
        self.kubernetes_provider_version = _pyproject_pin(root / "pyproject.toml", "pulumi-kubernetes")
        self.aws_provider_version = _pyproject_pin(root / "pyproject.toml", "pulumi-aws")

    # -- what is pinned ---------------------------------------------------------------------------
    def tools(self) -> list[Tool]:
        p = self.pins
        k8s = p["kubernetes"]["version"]
        both = ("engine", "local")
        return [
            Tool("pulumi", p["pulumi"]["version"], ("pulumi",), ("version",), f"v{p['pulumi']['version']}",
                 "~9 min cold on 2 cores", profiles=both),
            Tool("pulumi-resource-kubernetes", self.kubernetes_provider_version, ("pulumi-resource-kubernetes",),
                 None, self.kubernetes_provider_version, "~8 min cold on 2 cores", profiles=both, plugin="kubernetes"),
            Tool("pulumi-resource-aws", self.aws_provider_version, ("pulumi-resource-aws",), None,
                 self.aws_provider_version, "", profiles=("engine",), plugin="aws", buildable=False),
            Tool("etcd", p["etcd"]["version"], ("etcd",), ("--version",), f"etcd Version: {p['etcd']['version']}",
                 "~2 min cold", profiles=("local",)),
            # The source build also leaves kubectl in its directory, which the kubectl tool then uses as is.
            Tool("kubernetes", k8s, K8S_SERVER, ("--version",), f"Kubernetes v{k8s}", "~15 min cold on 2 cores",
                 profiles=("local",)),
            Tool("kubectl", k8s, ("kubectl",), ("version", "--client"), f"Client Version: v{k8s}",
                 "~6 min cold on 2 cores", profiles=both),
            Tool("kwok", p["kwok"]["version"], ("kwok",), ("--version",), f"v{p['kwok']['version']}", "~3 min cold",
                 files=(KWOK_STAGES,), profiles=("local",)),
            Tool("actionlint", p["actionlint"]["version"], ("actionlint",), ("-version",), p["actionlint"]["version"],
                 "~1 min cold"),
        ]

    def tool(self, name: str) -> Tool:
        for tool in self.tools():
            if tool.name == name:
                return tool
        known = ", ".join(t.name for t in self.tools())
        raise ToolError(f"unknown tool '{name}'; pinned tools: {known}")

    def profile(self, profile: str) -> list[Tool]:
        if profile not in PROFILES:
            raise ToolError(f"unknown profile '{profile}'; one of {', '.join(PROFILES)}")
        return [t for t in self.tools() if profile == "all" or profile in t.profiles]

    def select(self, names: list[str] | None = None, profile: str | None = None) -> list[Tool]:
        """The named tools plus a profile's, in pin order; neither given: all."""
        wanted = {self.tool(name).name for name in names or ()}  # unknown names fail before anything happens
        if profile or not wanted:
            wanted |= {t.name for t in self.profile(profile or "all")}
        return [t for t in self.tools() if t.name in wanted]

    def artifacts(self, tool: Tool, mirror: str | None = None) -> list[Artifact]:
        """The tool's official release artifacts for this platform (empty when the project publishes none),
        at their official URLs or, with `mirror`, under the same names in that mirror."""
        system, arch = self.platform
        if system not in ("linux", "darwin") or arch not in ("amd64", "arm64"):
            return []
        values = {**OFFICIAL_HOSTS, "v": tool.version, "os": system, "arch": arch,
                  "pulumi_arch": "x64" if arch == "amd64" else arch,
                  "archive": "zip" if system == "darwin" else "tar.gz"}
        resolved = []
        for release in RELEASES.get(tool.name, ()):
            if system not in release.systems:
                return []
            file = release.file.format(**values)
            members = tuple((m.format(**values), target) for m, target in release.members)
            optional = tuple(m.format(**values) for m in release.optional)
            if mirror:
                base = mirror.rstrip("/")
                resolved.append(Artifact(file, f"{base}/{file}", f"{base}/{MIRROR_SUMS}", SUMS, members, optional))
            else:
                resolved.append(Artifact(file, release.url.format(file=file, **values),
                                         release.checksums.format(file=file, **values), release.checksum_format,
                                         members, optional))
        return resolved

    # -- where they are ---------------------------------------------------------------------------
    def install_dir(self, tool: Tool) -> Path:
        return self.cache / tool.key

    def state(self, tool: Tool, verify: bool = True) -> ToolState:
        """Whether `tool` is installed at its pin. `verify` runs each binary's version command (what
        `tools status` reports); without it the install manifest is trusted (cheap enough for every
        engine call, and a manifest is only written once the directory is complete)."""
        directory = self.install_dir(tool)
        manifest_path = directory / MANIFEST
        if not manifest_path.is_file():
            return self._elsewhere(tool, verify) or ToolState(tool, None, False, "not installed")
        for binary in tool.binaries:
            if not os.access(directory / "bin" / binary, os.X_OK):
                return ToolState(tool, None, False, f"{binary} missing from {directory}")
        for data in tool.files:
            if not (directory / data).is_file():
                return ToolState(tool, None, False, f"{data} missing from {directory}")
        manifest = json.loads(manifest_path.read_text())
        if tool.version_args is not None and verify:
            output = _version_output(directory / "bin" / tool.binaries[0], tool.version_args)
            if tool.expect not in output:
                return ToolState(tool, None, False, f"version mismatch: {output.strip()[:80]!r}")
        elif manifest.get("version") != tool.version:
            return ToolState(tool, None, False, f"manifest says {manifest.get('version')}")
        # Manifests written before downloads existed have no source: those were all source builds.
        return ToolState(tool, directory / "bin", True, tool.version, manifest.get("source", "build"))

    def _elsewhere(self, tool: Tool, verify: bool) -> ToolState | None:
        """A `pulumi` on PATH at the pinned version is used as is; so is the kubectl a kubernetes source
        build of the same version leaves next to the server binaries."""
        if tool.name == "pulumi":
            ambient = shutil.which("pulumi")
            if ambient and tool.expect in _version_output(Path(ambient), tool.version_args):
                return ToolState(tool, Path(ambient).parent, True, f"{tool.expect} on PATH", "PATH")
        if tool.name == "kubectl":
            kubernetes = self.tool("kubernetes")
            directory = self.install_dir(kubernetes)
            kubectl = directory / "bin" / "kubectl"
            if (kubernetes.version == tool.version and (directory / MANIFEST).is_file() and os.access(kubectl, os.X_OK)
                    and (not verify or tool.expect in _version_output(kubectl, tool.version_args))):
                return ToolState(tool, directory / "bin", True, f"{tool.version} (with {kubernetes.key})",
                                 kubernetes.name)
        return None

    def states(self, profile: str = "local") -> list[ToolState]:
        """Each tool of `profile` (default: what local stacks, and so the integration tests, need)."""
        return [self.state(tool) for tool in self.profile(profile)]

    def bin_dirs(self, profile: str = "engine", verify: bool = False) -> list[Path]:
        """Directories to put on PATH for `profile`, raising one error naming every missing tool."""
        states = [self.state(tool, verify=verify) for tool in self.profile(profile)]
        missing = [s for s in states if not s.ok]
        if missing:
            names = ", ".join(f"{s.tool.name} {s.tool.version} ({s.detail})" for s in missing)
            raise ToolError(f"missing tools for the {profile} profile: {names}; "
                            f"run `shipyard tools install --for {profile}`")
        return list(dict.fromkeys(s.path for s in states if s.path is not None))

    def data_file(self, tool_name: str, relative: str) -> Path:
        state = self.state(self.tool(tool_name), verify=False)
        if not state.ok or state.path is None:
            raise ToolError(f"{tool_name} is not installed: {state.detail}; "
                            f"run `shipyard tools install {tool_name}`")
        return state.path.parent / relative

    def binary(self, name: str, verify: bool = False) -> Path:
        for tool in self.tools():
            if name in tool.binaries:
                state = self.state(tool, verify=verify)
                if not state.ok or state.path is None:
                    raise ToolError(f"{name} ({tool.name} {tool.version}) is not installed: {state.detail}; "
                                    f"run `shipyard tools install {tool.name}`")
                return state.path / name
        raise ToolError(f"no pinned tool provides {name}")

    def plugins(self) -> list[Plugin]:
        """The pinned provider plugins that are installed."""
        found = []
        for tool in self.tools():
            if tool.plugin:
                state = self.state(tool, verify=False)
                if state.ok and state.path is not None:
                    found.append(Plugin("resource", tool.plugin, tool.version, state.path / tool.binaries[0]))
        return found

    def plugin_missing_message(self, name: str) -> str:
        """What to tell someone whose stack needs provider plugin `name` when it is not installed."""
        for tool in self.tools():
            if tool.plugin == name:
                return (f"the Pulumi {name} provider plugin {tool.binaries[0]} {tool.version} (pinned by pulumi-{name} "
                        f"in pyproject.toml) is not installed; run `shipyard tools install {tool.name}` "
                        f"(or `shipyard tools install --for engine`)")
        pinned = ", ".join(t.plugin for t in self.tools() if t.plugin)
        return f"no provider plugin '{name}' is pinned (pinned: {pinned}); add its package to pyproject.toml"

    def language_host(self) -> Path | None:
        """`pulumi-language-python` next to the installed Pulumi CLI: official tarballs ship it, source builds
        cannot (the Go module proxy does not serve its module)."""
        state = self.state(self.tool("pulumi"), verify=False)
        if not state.ok or state.path is None:
            return None
        host = state.path / "pulumi-language-python"
        return host if os.access(host, os.X_OK) else None

    # -- installing -------------------------------------------------------------------------------
    def install(self, names: list[str] | None = None, profile: str | None = None, no_build: bool = False,
                log: Log = print) -> list[ToolState]:
        """Reuse, download or build every selected tool (the named ones and `profile`'s; neither: all). Every
        tool is attempted; one ToolError at the end names each that could not be installed and why."""
        wanted = self.select(names, profile)
        mirror = os.environ.get(MIRROR_ENV)
        if mirror is not None and not mirror.strip():
            # An unset CI variable arrives empty: falling back to the official hosts would quietly break an
            # air-gapped site's rule (and fail slowly behind its firewall).
            raise ToolError(f"{MIRROR_ENV} is set but empty; set it to the mirror's base URL, or unset it to download "
                            "from the official release sites")
        mirror = mirror.strip() if mirror else None
        todo = []
        for tool in wanted:
            state = self.state(tool)
            if state.ok:
                log(f"==> {tool.name} {tool.version}: installed ({state.path})")
            else:
                todo.append(tool)
        failures = []
        if todo:
            self.cache.mkdir(parents=True, exist_ok=True)
            with _Downloads(log) as downloads:
                for tool in todo:
                    try:
                        with self._lock(tool):
                            if self.state(tool).ok:  # another process installed it while we waited
                                log(f"==> {tool.name} {tool.version}: installed by another process")
                                continue
                            self._obtain(tool, mirror, no_build, downloads, log)
                    except ToolError as exc:
                        log(f"==> {tool.name} {tool.version}: FAILED")
                        failures.append(str(exc))
        states = [self.state(t) for t in wanted]
        if failures:
            done = sum(s.ok for s in states)
            raise ToolError("\n".join(failures) + f"\n{done} of {len(states)} tools installed")
        return states

    @contextlib.contextmanager
    def _lock(self, tool: Tool) -> Iterator[None]:
        lock_path = self.cache / f".{tool.key}.lock"
        with lock_path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _obtain(self, tool: Tool, mirror: str | None, no_build: bool, downloads: _Downloads, log: Log) -> None:
        artifacts = self.artifacts(tool, mirror)
        if artifacts:
            try:
                self._download(tool, artifacts, "mirror" if mirror else "release", downloads, log)
                return
            except _Unavailable as exc:
                problem, host = str(exc), urlsplit(exc.url).hostname
        else:
            system, arch = self.platform
            problem, host = f"{tool.name} publishes no release for {system}/{arch}", None
        prefix = f"{tool.name} {tool.version}: {problem}"
        where = (f"make {MIRROR_ENV} point at a mirror that has it" if mirror else
                 f"allow downloads from {host or 'its release site'}, or set {MIRROR_ENV} to a mirror that has it")
        if not tool.buildable:
            raise ToolError(f"{prefix}. {tool.binaries[0]} cannot be built from the Go module proxy, so it must be "
                            f"downloaded: {where} (`shipyard tools mirror DIR` on a machine that has it writes one), "
                            f"then run `shipyard tools install {tool.name}`")
        if no_build:
            raise ToolError(f"{prefix}; --no-build forbids building it from the Go module proxy: {where} "
                            f"(`shipyard tools mirror DIR` writes one), or install without --no-build")
        if shutil.which("go") is None:
            raise ToolError(f"{prefix}; Go is not installed, and building it from the Go module proxy needs it: "
                            f"install Go 1.26 or newer (https://go.dev/doc/install; the `go` command must be on "
                            f"PATH), or {where}, then run `shipyard tools install` again")
        log(f"==> {prefix}; building it from the Go module proxy instead")
        try:
            self._build(tool, log)
        except ToolError as exc:
            raise ToolError(f"{prefix}; building it from the Go module proxy instead failed: {exc}") from None

    def _staging(self, tool: Tool) -> Path:
        staging = self.cache / f".{tool.key}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "bin").mkdir(parents=True)
        return staging

    def _commit(self, tool: Tool, staging: Path, record: dict[str, object]) -> Path:
        # The manifest is written last, inside the staging directory, and the rename is atomic: a directory
        # under its final name is always complete.
        binaries = sorted(p.name for p in (staging / "bin").iterdir())
        (staging / MANIFEST).write_text(json.dumps({
            "name": tool.name, "version": tool.version, "binaries": binaries, **record,
            "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")
        final = self.install_dir(tool)
        shutil.rmtree(final, ignore_errors=True)
        os.rename(staging, final)
        return final

    def _download(self, tool: Tool, artifacts: list[Artifact], source: str, downloads: _Downloads, log: Log) -> None:
        """Fetch, verify and unpack every artifact of `tool`; any failure installs nothing."""
        log(f"==> {tool.name} {tool.version}: downloading {len(artifacts)} file(s) from "
            f"{'the mirror' if source == 'mirror' else 'its official release'}")
        started = time.monotonic()
        staging = self._staging(tool)
        try:
            fetched = staging / ".download"
            fetched.mkdir()
            records = []
            for artifact in artifacts:
                # The file before its checksum source: when nothing can be downloaded, the error names the file.
                path = fetched / artifact.file
                sha256 = downloads.fetch(artifact.url, path, artifact.file, tool.name)
                expected = downloads.expected_digest(artifact)
                if expected is None:
                    raise ToolError(f"{tool.name} {tool.version}: {artifact.file} (from {public_url(artifact.url)}) is not listed "
                                    f"in {artifact.checksums}, so it cannot be verified; nothing installed")
                algorithm, digest = expected
                actual = sha256 if algorithm == "sha256" else _file_digest(path, algorithm)
                if actual != digest:
                    raise ToolError(f"{tool.name} {tool.version}: checksum mismatch for {artifact.file} from "
                                    f"{public_url(artifact.url)}: its {algorithm} is {actual}, {artifact.checksums} says "
                                    f"{digest}; nothing installed")
                records.append({"file": artifact.file, "url": public_url(artifact.url), "sha256": sha256,
                                "checksums": artifact.checksums})
            for artifact in artifacts:
                _unpack(fetched / artifact.file, artifact, staging, tool)
            shutil.rmtree(fetched)
            for binary in tool.binaries:
                if not os.access(staging / "bin" / binary, os.X_OK):
                    raise ToolError(f"{tool.name} {tool.version}: the downloaded files do not provide {binary}; "
                                    "nothing installed")
            # Every binary, not only the first: a flat mirror holds one kube-apiserver whatever its version.
            for index, binary in enumerate(tool.binaries if tool.version_args is not None else ()):
                output = _version_output(staging / "bin" / binary, tool.version_args)
                if tool.expect not in output:
                    url = artifacts[index if len(artifacts) == len(tool.binaries) else 0].url
                    raise ToolError(f"{tool.name} {tool.version}: {binary} from {public_url(url)} does not report "
                                    f"{tool.expect!r} (it says {output.strip()[:80]!r}); nothing installed")
            final = self._commit(tool, staging, {"source": source, "url": records[0]["url"],
                                                 "sha256": records[0]["sha256"], "artifacts": records})
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log(f"==> {tool.name} {tool.version} from {source} in {time.monotonic() - started:.1f} s -> {final}")

    # -- building ---------------------------------------------------------------------------------
    def _build(self, tool: Tool, log: Log) -> None:
        staging = self._staging(tool)
        work = self.cache / "build" / tool.key
        work.mkdir(parents=True, exist_ok=True)
        log(f"==> building {tool.name} {tool.version} from the Go module proxy ({tool.hint})")
        started = time.monotonic()
        builder = getattr(self, "_build_" + tool.name.replace("-", "_"))
        try:
            builder(tool, work, staging / "bin", _Runner(tool.name, log))
            seconds = round(time.monotonic() - started, 1)
            peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
            final = self._commit(tool, staging, {"source": "build", "build_seconds": seconds,
                                                 "peak_rss_mib_any_child": peak_mib})
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        log(f"==> {tool.name} {tool.version} built in {seconds:.0f} s -> {final}")

    @staticmethod
    def _wrapper(work: Path, module: str, replaces: list[str] | None = None) -> None:
        """A throw-away module that requires the target: `go install` refuses modules with replace directives."""
        lines = [f"module {module}", "", "go 1.26", ""]
        if replaces:
            lines += ["replace (", *[f"\t{r}" for r in replaces], ")", ""]
        (work / "go.mod").write_text("\n".join(lines))
        (work / "go.sum").unlink(missing_ok=True)

    def _build_pulumi(self, tool: Tool, work: Path, out: Path, run: _Runner) -> None:
        v = tool.version
        self._wrapper(work, "local/pulumi-cli", [CLIPBOARD_REPLACE])
        run(["go", "get", "-tool", f"github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v{v}"], work)
        run(["go", "get", f"github.com/pulumi/pulumi/sdk/v3@v{v}"], work)  # keep sdk == pkg
        run(["go", "build", "-trimpath", "-tags", "osusergo,grpcnotrace", "-ldflags",
             f"-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v{v}", "-o", str(out / "pulumi"),
             "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"], work)

    def _build_pulumi_resource_kubernetes(self, tool: Tool, work: Path, out: Path, run: _Runner) -> None:
        v = tool.version
        pseudo = self.pins.get("pulumi-kubernetes", {}).get("pseudo-versions", {}).get(v)
        if not pseudo:
            raise ToolError(f"pyproject.toml pins pulumi-kubernetes {v}, but tools.toml has no provider "
                            f"pseudo-version for it under [pulumi-kubernetes] pseudo-versions; add the release "
                            f"commit's pseudo-version (the provider module has no tags)")
        info = json.loads(run(["go", "mod", "download", "-json",
                               f"github.com/pulumi/pulumi-kubernetes/provider/v4@{pseudo}"], work, capture=True))
        if "Dir" not in info:
            raise ToolError(f"the Go module proxy does not serve the Kubernetes provider {pseudo}: "
                            f"{info.get('Error', 'unknown error')}")
        src = work / "src"
        shutil.rmtree(src, ignore_errors=True)
        shutil.copytree(info["Dir"], src)
        for path in src.rglob("*"):  # module cache files are read-only
            path.chmod(path.stat().st_mode | 0o200)
        src.chmod(src.stat().st_mode | 0o200)
        # The provider module points at its sibling sdk/ with a local replace; use the released sdk instead.
        run(["go", "mod", "edit", "-dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4"], src)
        run(["go", "get", f"github.com/pulumi/pulumi-kubernetes/sdk/v4@v{v}"], src)
        # schema-embed.json and terraform-mapping-embed.json are git-ignored upstream: generate them.
        run(["go", "run", "generate.go"], src / "cmd" / "pulumi-resource-kubernetes", env={"VERSION": v})
        run(["go", "build", "-trimpath", "-ldflags",
             f"-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version={v}",
             "-o", str(out / "pulumi-resource-kubernetes"), "./cmd/pulumi-resource-kubernetes"], src)

    def _build_etcd(self, tool: Tool, work: Path, out: Path, run: _Runner) -> None:
        self._wrapper(work, "local/etcd")
        run(["go", "get", "-tool", f"go.etcd.io/etcd/server/v3@v{tool.version}"], work)
        run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"), "go.etcd.io/etcd/server/v3"],
            work)

    def _build_kubernetes(self, tool: Tool, work: Path, out: Path, run: _Runner) -> None:
        # kubectl comes along: one `go build` shares the compiled packages, and the kubectl tool uses it as is.
        self._build_k8s_commands(tool.version, [*K8S_SERVER, "kubectl"], work, out, run)

    def _build_kubectl(self, tool: Tool, work: Path, out: Path, run: _Runner) -> None:
        self._build_k8s_commands(tool.version, ["kubectl"], work, out, run)

    def _build_k8s_commands(self, v: str, commands: list[str], work: Path, out: Path, run: _Runner) -> None:
        staging = self.pins["kubernetes"]["staging"]
        minor = v.split(".")[1]
        # k8s.io/kubernetes requires its staging modules at v0.0.0 via local replaces, ignored in a
        # dependency: point each at its published version.
        self._wrapper(work, "local/k8s", [f"k8s.io/{m} => k8s.io/{m} v{staging}" for m in K8S_STAGING])
        run(["go", "get", "-tool", *[f"k8s.io/kubernetes/cmd/{c}@v{v}" for c in commands]], work)
        ldflags = ["-s", "-w"]
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            ldflags += [f"-X {pkg}.gitVersion=v{v}", f"-X {pkg}.gitMajor=1", f"-X {pkg}.gitMinor={minor}",
                        f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.gitCommit=0000000000000000000000000000000000000000",
                        f"-X {pkg}.buildDate=1970-01-01T00:00:00Z"]
        target = str(out) + "/" if len(commands) > 1 else str(out / commands[0])
        run(["go", "build", "-trimpath", "-pgo=off", "-ldflags", " ".join(ldflags), "-o", target,
             *[f"k8s.io/kubernetes/cmd/{c}" for c in commands]], work)

    def _build_actionlint(self, tool: Tool, work: Path, out: Path, run: _Runner) -> None:
        self._wrapper(work, "local/actionlint")
        run(["go", "get", "-tool", f"github.com/rhysd/actionlint/cmd/actionlint@v{tool.version}"], work)
        run(["go", "build", "-trimpath", "-ldflags",
             f"-s -w -X github.com/rhysd/actionlint.version={tool.version}", "-o", str(out / "actionlint"),
             "github.com/rhysd/actionlint/cmd/actionlint"], work)

    def _build_kwok(self, tool: Tool, work: Path, out: Path, run: _Runner) -> None:
        self._wrapper(work, "local/kwok")
        run(["go", "get", "-tool", f"sigs.k8s.io/kwok/cmd/kwok@v{tool.version}"], work)
        run(["go", "build", "-trimpath", "-ldflags", f"-s -w -X sigs.k8s.io/kwok/pkg/consts.Version={tool.version}",
             "-o", str(out / "kwok"), "sigs.k8s.io/kwok/cmd/kwok"], work)
        # kwok alone has no default stages (kwokctl compiles them in): ship the module's own fast
        # node/pod lifecycle stages next to the binary, exactly as released with this version.
        module_dir = Path(run(["go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/kwok"], work, capture=True).strip())
        stages = [module_dir / "kustomize" / "stage" / rel for rel in KWOK_STAGE_SOURCES]
        target = out.parent / KWOK_STAGES
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("---\n".join(p.read_text() for p in stages))

    # -- mirroring --------------------------------------------------------------------------------
    def mirror(self, directory: Path, profile: str | None = None, log: Log = print) -> MirrorResult:
        """Write every installed tool of `profile` (default all) into `directory` as its official release
        artifacts — official file names and internal layouts, deterministic archives — plus SHA256SUMS."""
        directory.mkdir(parents=True, exist_ok=True)
        jobs: list[tuple[ToolState, Artifact]] = []
        missing = []
        for tool in self.profile(profile or "all"):
            state = self.state(tool)
            artifacts = self.artifacts(tool)
            if not state.ok:
                missing.append(state)
            elif not artifacts:
                system, arch = self.platform
                missing.append(ToolState(tool, None, False, f"no official release for {system}/{arch} to re-pack"))
            else:
                jobs += [(state, artifact) for artifact in artifacts]
        files: dict[str, str] = {}
        # Compression dominates and zlib releases the GIL: pack the artifacts side by side.
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            futures = {pool.submit(_pack, state, artifact, directory): (state, artifact) for state, artifact in jobs}
            for future in concurrent.futures.as_completed(futures):
                state, artifact = futures[future]
                files[artifact.file] = future.result()
                log(f"==> {artifact.file} ({state.tool.name} {state.tool.version}, {state.source})")
        _write_sums(directory, files)
        return MirrorResult(files, missing)


# -- downloading --------------------------------------------------------------------------------------
class _Transient(Exception):
    """A failure worth another attempt: a dropped connection, a timeout, a 5xx or 429 answer."""


class _Downloads:
    """Downloads for one install run: streamed to disk while hashing, retried on transient errors, with each
    checksum source fetched once. `file://` URLs (a mirror on a shared disk) are read directly."""

    ATTEMPTS = 3
    BACKOFF = 1.0
    """Seconds before the second attempt, doubling after."""
    RETRY_STATUS = {429, 500, 502, 503, 504}
    PROGRESS_BYTES = 16 << 20

    def __init__(self, log: Log):
        self.log = log
        self._client = None
        self._sums: dict[str, dict[str, str | None]] = {}

    def __enter__(self) -> _Downloads:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()

    def _http(self):
        if self._client is None:
            import httpx

            # Release hosts redirect to their storage (GitHub to objects.githubusercontent.com); identity
            # encoding keeps the bytes on disk exactly the bytes the checksums were computed over.
            self._client = httpx.Client(follow_redirects=True, timeout=httpx.Timeout(60.0, connect=15.0),
                                        headers={"User-Agent": "shipyard-tools", "Accept-Encoding": "identity"})
        return self._client

    def _get(self, url: str, file: str, sink: Callable[[bytes], None], progress: Callable[[int, int], None]) -> None:
        """One attempt at streaming `url`'s body into `sink`."""
        parts = urlsplit(url)
        if parts.scheme == "file":
            path = Path(unquote(parts.path))
            if not path.is_file():
                raise _Unavailable(file, url, "no such file")
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    sink(chunk)
            return
        import httpx

        try:
            # GitHub's API allows 60 anonymous requests an hour per address (a busy runner pool shares one);
            # the workflow token lifts that. Sent to that host only, never to a mirror or release storage.
            token = os.environ.get("GITHUB_TOKEN", "").strip()
            headers = {"Authorization": f"Bearer {token}"} if token and parts.netloc == "api.github.com" else {}
            with self._http().stream("GET", url, headers=headers) as response:
                if response.status_code != 200:
                    reason = f"HTTP {response.status_code}"
                    if response.status_code in self.RETRY_STATUS:
                        raise _Transient(reason)
                    raise _Unavailable(file, url, reason + (" (not found)" if response.status_code == 404 else ""))
                total = int(response.headers.get("content-length") or 0)
                done = 0
                for chunk in response.iter_bytes(1 << 20):
                    sink(chunk)
                    done += len(chunk)
                    progress(done, total)
                if total and done != total and "content-encoding" not in response.headers:
                    raise _Transient(f"received {done} of {total} bytes")
        except httpx.TransportError as exc:
            raise _Transient(str(exc) or type(exc).__name__) from None

    def _attempts(self, url: str, file: str, attempt: Callable[[], None]) -> None:
        reason = ""
        for number in range(self.ATTEMPTS):
            if number:
                time.sleep(self.BACKOFF * 2 ** (number - 1))
            try:
                attempt()
                return
            except _Transient as exc:
                reason = str(exc)
        raise _Unavailable(file, url, f"{reason} (after {self.ATTEMPTS} attempts)")

    def fetch(self, url: str, dest: Path, file: str, label: str) -> str:
        """Stream `url` into `dest`; returns its sha256."""
        digest = hashlib.sha256()
        started = time.monotonic()
        last = [started]

        def progress(done: int, total: int) -> None:
            if total > self.PROGRESS_BYTES and time.monotonic() - last[0] >= 2:
                last[0] = time.monotonic()
                self.log(f"  {label} | {file}: {done / 2**20:.0f} of {total / 2**20:.0f} MiB")

        def attempt() -> None:
            nonlocal digest
            digest = hashlib.sha256()
            with dest.open("wb") as out:
                def sink(chunk: bytes) -> None:
                    out.write(chunk)
                    digest.update(chunk)

                self._get(url, file, sink, progress)

        self._attempts(url, file, attempt)
        size = dest.stat().st_size
        if size > self.PROGRESS_BYTES:
            self.log(f"  {label} | {file}: {size / 2**20:.0f} MiB in {time.monotonic() - started:.1f} s")
        return digest.hexdigest()

    def _text(self, url: str) -> str:
        name = PurePosixPath(urlsplit(url).path).name
        parts: list[bytes] = []

        def attempt() -> None:
            parts.clear()
            self._get(url, name, parts.append, lambda done, total: None)

        self._attempts(url, name, attempt)
        return b"".join(parts).decode("utf-8", errors="replace")

    def expected_digest(self, artifact: Artifact) -> tuple[str, str] | None:
        """(algorithm, hex digest) the release or mirror publishes for `artifact`; None when its checksum
        source does not list it."""
        if artifact.checksum_format == DIGEST:
            words = self._text(artifact.checksums).split()
            digest = words[0].lower() if words else ""
            algorithm = _algorithm(digest)
            return (algorithm, digest) if algorithm else None
        if artifact.checksums not in self._sums:
            text = self._text(artifact.checksums)
            self._sums[artifact.checksums] = (_github_digests(text) if artifact.checksum_format == GITHUB_API
                                              else _parse_sums(text))
        listed = self._sums[artifact.checksums]
        if artifact.file not in listed:
            return None
        digest = listed[artifact.file]
        if digest is None:
            raise _Unavailable(artifact.file, artifact.url, f"{artifact.checksums} publishes no checksum for it")
        algorithm = _algorithm(digest)
        assert algorithm is not None
        return algorithm, digest


def _algorithm(digest: str) -> str | None:
    if not re.fullmatch(r"[0-9a-f]+", digest):
        return None
    return {40: "sha1", 64: "sha256", 128: "sha512"}.get(len(digest))


def _parse_sums(text: str) -> dict[str, str | None]:
    """`<digest>  <name>` lines, as sha256sum, shasum and goreleaser write them (`*name` for binary mode,
    `./name` when summed with a path)."""
    sums: dict[str, str | None] = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) == 2 and _algorithm(parts[0].lower()):
            name = parts[1].strip().lstrip("*")
            sums[name[2:] if name.startswith("./") else name] = parts[0].lower()
    return sums


def _github_digests(text: str) -> dict[str, str | None]:
    try:
        assets = json.loads(text).get("assets", [])
    except (ValueError, AttributeError):
        return {}
    digests: dict[str, str | None] = {}
    for asset in assets:
        digest = asset.get("digest") or ""
        digests[asset.get("name", "")] = digest.split(":", 1)[1].lower() if digest.startswith("sha256:") else None
    return digests


# -- archives -------------------------------------------------------------------------------------------
ARCHIVE_MTIME = 315532800
"""1980-01-01: the earliest time a zip can hold; re-packed archives use it for every entry, so the same
binaries always give the same bytes."""


def _unpack(archive: Path, artifact: Artifact, staging: Path, tool: Tool) -> None:
    """Put `artifact`'s members where the install directory wants them. Every entry of an archive must be
    safe to extract (no absolute paths, no `..`, no links leaving it), not only the ones used."""
    wanted = dict(artifact.members)
    scratch = staging / ".unpack"
    if artifact.file.endswith(".tar.gz"):
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                try:
                    # The data filter would quietly strip a leading /: an absolute entry is refused outright.
                    if PurePosixPath(member.name).is_absolute():
                        raise tarfile.AbsolutePathError(member)
                    tarfile.data_filter(member, str(scratch))
                except tarfile.FilterError as exc:
                    raise ToolError(f"{tool.name} {tool.version}: {artifact.file} has an unsafe entry "
                                    f"{member.name!r} ({exc}); nothing installed") from None
                # Some tools write `./name`: it lands at the same place as `name`.
                if member.name.removeprefix("./") in wanted:
                    tar.extract(member, scratch, filter="data")
    elif artifact.file.endswith(".zip"):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                path = PurePosixPath(info.filename)
                if (path.is_absolute() or ".." in path.parts or "\\" in info.filename
                        or (info.external_attr >> 16) & 0o170000 == 0o120000):
                    raise ToolError(f"{tool.name} {tool.version}: {artifact.file} has an unsafe entry "
                                    f"{info.filename!r}; nothing installed")
                if info.filename.removeprefix("./") in wanted:
                    target = scratch / info.filename
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zipped.open(info) as source, target.open("wb") as out:
                        shutil.copyfileobj(source, out)
    for member, target in artifact.members:
        extracted = archive if member == "" else scratch / member
        if extracted.is_symlink() or not extracted.is_file():
            if member in artifact.optional:
                continue
            raise ToolError(f"{tool.name} {tool.version}: {artifact.file} has no file {member!r}; nothing installed")
        destination = staging / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(extracted, destination)
        destination.chmod(0o755 if target.startswith("bin/") else 0o644)
    shutil.rmtree(scratch, ignore_errors=True)


def _installed_file(state: ToolState, target: str) -> Path:
    assert state.path is not None
    if target.startswith("bin/"):
        return state.path / target[len("bin/"):]
    return state.path.parent / target


def _pack(state: ToolState, artifact: Artifact, directory: Path) -> str:
    """Write one official artifact from an installed tool; returns its sha256."""
    sources = []
    for member, target in artifact.members:
        path = _installed_file(state, target)
        if not path.is_file():
            if member in artifact.optional:
                continue
            raise ToolError(f"{state.tool.name} {state.tool.version}: {path} is missing; reinstall it "
                            f"(`shipyard tools install {state.tool.name}`)")
        sources.append((member, path))
    partial = directory / f".{artifact.file}.partial-{os.getpid()}-{threading.get_ident()}"
    try:
        if artifact.file.endswith(".tar.gz"):
            _write_tar(partial, sources)
        elif artifact.file.endswith(".zip"):
            _write_zip(partial, sources)
        else:
            shutil.copyfile(sources[0][1], partial)
        os.replace(partial, directory / artifact.file)
    finally:
        partial.unlink(missing_ok=True)
    return _file_digest(directory / artifact.file, "sha256")


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _archive_entries(sources: list[tuple[str, Path]]) -> list[tuple[str, Path | None]]:
    """Members sorted by name, each wrapping directory listed once before its contents."""
    entries: dict[str, Path | None] = {}
    for member, path in sources:
        for parent in reversed(PurePosixPath(member).parents[:-1]):
            entries.setdefault(f"{parent}/", None)
        entries[member] = path
    return sorted(entries.items())


def _mode(path: Path | None) -> int:
    return 0o755 if path is None or os.access(path, os.X_OK) else 0o644


def _write_tar(target: Path, sources: list[tuple[str, Path]]) -> None:
    with target.open("wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as compressed, \
            tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in _archive_entries(sources):
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime, info.mode, info.uid, info.gid, info.uname, info.gname = ARCHIVE_MTIME, _mode(path), 0, 0, "", ""
            if path is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = path.stat().st_size
                with path.open("rb") as handle:
                    tar.addfile(info, handle)


def _write_zip(target: Path, sources: list[tuple[str, Path]]) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zipped:
        for name, path in _archive_entries(sources):
            info = zipfile.ZipInfo(name, date_time=time.gmtime(ARCHIVE_MTIME)[:6])
            info.external_attr = ((0o040000 if path is None else 0o100000) | _mode(path)) << 16
            info.create_system = 3  # unix, so the mode bits are honoured
            if path is None:
                zipped.writestr(info, b"")
            else:
                info.compress_type = zipfile.ZIP_DEFLATED
                with path.open("rb") as handle, zipped.open(info, "w") as out:
                    shutil.copyfileobj(handle, out, 1 << 20)


def _write_sums(directory: Path, files: dict[str, str]) -> None:
    """SHA256SUMS for what was written now, keeping earlier entries whose files are still in the directory
    (a mirror seeded in several runs, or by several profiles)."""
    sums_path = directory / MIRROR_SUMS
    entries = {}
    if sums_path.is_file():
        entries = {name: digest for name, digest in _parse_sums(sums_path.read_text()).items()
                   if digest and len(digest) == 64 and (directory / name).is_file()}
    entries.update(files)
    partial = directory / f".{MIRROR_SUMS}.partial-{os.getpid()}"
    partial.write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(entries.items())))
    os.replace(partial, sums_path)


# -- running ------------------------------------------------------------------------------------------
class _Runner:
    """Runs one build step, streaming its output with a prefix and a heartbeat while it is silent."""

    def __init__(self, name: str, log: Log):
        self.name = name
        self.log = log

    def __call__(self, cmd: list[str], cwd: Path, env: dict[str, str] | None = None, capture: bool = False) -> str:
        full_env = {**os.environ, **GO_ENV, **(env or {})}
        started = time.monotonic()
        last = [started]
        done = threading.Event()

        def heartbeat() -> None:
            while not done.wait(30):
                if time.monotonic() - last[0] >= 30:
                    self.log(f"  {self.name} | ... still running `{' '.join(cmd[:2])}` "
                             f"({time.monotonic() - started:.0f} s)")
                    last[0] = time.monotonic()

        beat = threading.Thread(target=heartbeat, daemon=True)
        beat.start()
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, env=full_env, text=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE if capture else subprocess.STDOUT)
        except FileNotFoundError as exc:
            done.set()
            raise ToolError(f"cannot run {cmd[0]}: {exc.strerror}") from None
        output: list[str] = []
        tail: list[str] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if not capture:
                tail = (tail + [line.rstrip()])[-20:]
                self.log(f"  {self.name} | {line.rstrip()}")
                last[0] = time.monotonic()
        code = proc.wait()
        done.set()
        if capture and code != 0 and proc.stderr is not None:
            tail = proc.stderr.read().splitlines()[-20:]
        if code != 0:
            raise ToolError(f"building {self.name} failed: `{' '.join(cmd)}` exited {code}:\n" + "\n".join(tail))
        return "".join(output)


def _version_output(binary: Path, args: tuple[str, ...] | None) -> str:
    if args is None:
        return ""
    try:
        result = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30,
                                env={**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"})
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return result.stdout + result.stderr


def _pyproject_pin(pyproject: Path, package: str) -> str:
    with pyproject.open("rb") as handle:
        deps = tomllib.load(handle)["project"]["dependencies"]
    for dep in deps:
        match = re.match(rf"^{re.escape(package)}==([^\s;]+)$", dep.strip())
        if match:
            return match[1]
    raise ToolError(f"{pyproject} must pin {package} with '=='")


def print_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
