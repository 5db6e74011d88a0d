"""The pinned third-party toolchain, built from the Go module proxy and cached outside the repository.

Nothing here can be downloaded as a binary (no get.pulumi.com, no GitHub releases, no dl.k8s.io), so
each tool is built from its Go module at the version pinned in `tools.toml` (the Kubernetes provider
at the `pulumi-kubernetes` version pinned in `pyproject.toml`). A tool lives in
`$SHIPYARD_TOOLS/<name>-<version>/` and counts as installed only once its manifest is written, which
happens last, after an atomic rename: a half-finished build never counts as cached.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import ToolError
from shipyard.paths import tools_dir

MANIFEST = "shipyard-tool.json"
GO_ENV = {"GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod -modcacherw", "CGO_ENABLED": "0"}
CLIPBOARD_REPLACE = ("github.com/atotto/clipboard => "
                     "github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e")
K8S_STAGING = ("api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider "
               "cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api "
               "cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt "
               "kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics "
               "mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller "
               "streaming").split()

KWOK_STAGES = "share/kwok-stages.yaml"
KWOK_STAGE_SOURCES = ("node/fast/node-initialize.yaml", "node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
                      "pod/fast/pod-ready.yaml", "pod/fast/pod-complete.yaml", "pod/fast/pod-delete.yaml")

Log = Callable[[str], None]


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
    """How long a cold build takes, shown before it starts."""
    files: tuple[str, ...] = ()
    """Data files (relative to the install directory) that ship with the binaries."""

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class ToolState:
    tool: Tool
    path: Path | None
    ok: bool
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"name": self.tool.name, "version": self.tool.version, "ok": self.ok,
                "path": str(self.path) if self.path else None, "detail": self.detail}


class Toolchain:
    """The tools a repository pins, where they are cached, and how to build them."""

    def __init__(self, root: Path, cache: Path | None = None):
        self.root = root
        self.cache = cache or tools_dir()
        pins_file = root / "tools.toml"
        if not pins_file.is_file():
            raise ToolError(f"{pins_file} is missing; it pins every tool Shipyard builds")
        with pins_file.open("rb") as handle:
            self.pins = tomllib.load(handle)
        self.kubernetes_provider_version = _pyproject_pin(root / "pyproject.toml", "pulumi-kubernetes")

    # -- what is pinned ---------------------------------------------------------------------------
    def tools(self) -> list[Tool]:
        p = self.pins
        k8s = p["kubernetes"]["version"]
        return [
            Tool("pulumi", p["pulumi"]["version"], ("pulumi",), ("version",), f"v{p['pulumi']['version']}",
                 "~9 min cold on 2 cores"),
            Tool("pulumi-resource-kubernetes", self.kubernetes_provider_version, ("pulumi-resource-kubernetes",),
                 None, self.kubernetes_provider_version, "~8 min cold on 2 cores"),
            Tool("etcd", p["etcd"]["version"], ("etcd",), ("--version",), f"etcd Version: {p['etcd']['version']}",
                 "~2 min cold"),
            Tool("kubernetes", k8s, ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"),
                 ("--version",), f"Kubernetes v{k8s}", "~15 min cold on 2 cores"),
            Tool("kwok", p["kwok"]["version"], ("kwok",), ("--version",), f"v{p['kwok']['version']}", "~3 min cold",
                 files=(KWOK_STAGES,)),
            Tool("actionlint", p["actionlint"]["version"], ("actionlint",), ("-version",), p["actionlint"]["version"],
                 "~1 min cold"),
        ]

    def tool(self, name: str) -> Tool:
        for tool in self.tools():
            if tool.name == name:
                return tool
        raise ToolError(f"unknown tool '{name}'")

    # -- where they are ---------------------------------------------------------------------------
    def install_dir(self, tool: Tool) -> Path:
        return self.cache / tool.key

    def state(self, tool: Tool, verify: bool = True) -> ToolState:
        """Whether `tool` is installed at its pin. `verify` runs each binary's version command (what
        `tools status` reports); without it the install manifest is trusted (cheap enough for every
        engine call, and a manifest is only written after a complete build)."""
        directory = self.install_dir(tool)
        manifest = directory / MANIFEST
        if not manifest.is_file():
            return self._ambient(tool) or ToolState(tool, None, False, "not installed")
        for binary in tool.binaries:
            if not os.access(directory / "bin" / binary, os.X_OK):
                return ToolState(tool, None, False, f"{binary} missing from {directory}")
        for data in tool.files:
            if not (directory / data).is_file():
                return ToolState(tool, None, False, f"{data} missing from {directory}")
        if tool.version_args is not None and verify:
            output = _version_output(directory / "bin" / tool.binaries[0], tool.version_args)
            if tool.expect not in output:
                return ToolState(tool, None, False, f"version mismatch: {output.strip()[:80]!r}")
        else:
            recorded = json.loads(manifest.read_text()).get("version")
            if recorded != tool.version:
                return ToolState(tool, None, False, f"manifest says {recorded}")
        return ToolState(tool, directory / "bin", True, tool.version)

    def _ambient(self, tool: Tool) -> ToolState | None:
        """A `pulumi` already on PATH at the pinned version is used as is."""
        if tool.name != "pulumi":
            return None
        ambient = shutil.which("pulumi")
        if ambient and tool.expect in _version_output(Path(ambient), tool.version_args):
            return ToolState(tool, Path(ambient).parent, True, f"{tool.expect} on PATH")
        return None

    def states(self) -> list[ToolState]:
        return [self.state(tool) for tool in self.tools()]

    def bin_dirs(self, verify: bool = False) -> list[Path]:
        """Directories to put on PATH, raising a clear error naming whatever is missing."""
        states = [self.state(tool, verify=verify) for tool in self.tools()]
        missing = [s for s in states if not s.ok]
        if missing:
            names = ", ".join(f"{s.tool.name} {s.tool.version} ({s.detail})" for s in missing)
            raise ToolError(f"missing tools: {names}; run `shipyard tools install`")
        return list(dict.fromkeys(s.path for s in states if s.path is not None))

    def data_file(self, tool_name: str, relative: str) -> Path:
        state = self.state(self.tool(tool_name), verify=False)
        if not state.ok or state.path is None:
            raise ToolError(f"{tool_name} is not installed: {state.detail}; run `shipyard tools install`")
        return state.path.parent / relative

    def binary(self, name: str, verify: bool = False) -> Path:
        for tool in self.tools():
            if name in tool.binaries:
                state = self.state(tool, verify=verify)
                if not state.ok or state.path is None:
                    raise ToolError(f"{name} ({tool.name} {tool.version}) is not installed: {state.detail}; "
                                    "run `shipyard tools install`")
                return state.path / name
        raise ToolError(f"no pinned tool provides {name}")

    # -- building ---------------------------------------------------------------------------------
    def install(self, names: list[str] | None = None, log: Log = print) -> list[ToolState]:
        """Build (or reuse) every pinned tool; returns their states."""
        go = shutil.which("go")
        wanted = [t for t in self.tools() if names is None or t.name in names]
        todo = [t for t in wanted if not self.state(t).ok]
        for tool in wanted:
            if tool not in todo:
                log(f"==> {tool.name} {tool.version}: cached ({self.state(tool).path})")
        if todo and go is None:
            raise ToolError("Go is not installed, and the tools are built from the Go module proxy: install Go "
                            "1.26 or newer (https://go.dev/doc/install; the `go` command must be on PATH), then "
                            "run `shipyard tools install` again")
        self.cache.mkdir(parents=True, exist_ok=True)
        for tool in todo:
            with self._lock(tool):
                if self.state(tool).ok:  # another process finished it while we waited
                    log(f"==> {tool.name} {tool.version}: built by another process")
                    continue
                self._build(tool, log)
        return [self.state(t) for t in wanted]

    @contextlib.contextmanager
    def _lock(self, tool: Tool) -> Iterator[None]:
        lock_path = self.cache / f".{tool.key}.lock"
        with lock_path.open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _build(self, tool: Tool, log: Log) -> None:
        final = self.install_dir(tool)
        staging = self.cache / f".{tool.key}.partial-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "bin").mkdir(parents=True)
        work = self.cache / "build" / tool.key
        work.mkdir(parents=True, exist_ok=True)
        log(f"==> building {tool.name} {tool.version} from the Go module proxy ({tool.hint})")
        started = time.monotonic()
        builder = getattr(self, "_build_" + tool.name.replace("-", "_"))
        try:
            builder(tool, work, staging / "bin", _Runner(tool.name, log))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        seconds = round(time.monotonic() - started, 1)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
        # The manifest is written before the rename and the rename is atomic: a directory under its
        # final name is always complete.
        (staging / MANIFEST).write_text(json.dumps({
            "name": tool.name, "version": tool.version, "binaries": list(tool.binaries),
            "build_seconds": seconds, "peak_rss_mib_any_child": peak_mib,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        os.rename(staging, final)
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
        v = tool.version
        staging = self.pins["kubernetes"]["staging"]
        minor = v.split(".")[1]
        # k8s.io/kubernetes requires its staging modules at v0.0.0 via local replaces, ignored in a
        # dependency: point each at its published version.
        self._wrapper(work, "local/k8s", [f"k8s.io/{m} => k8s.io/{m} v{staging}" for m in K8S_STAGING])
        commands = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"]
        run(["go", "get", "-tool", *[f"k8s.io/kubernetes/cmd/{c}@v{v}" for c in commands]], work)
        ldflags = ["-s", "-w"]
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
            ldflags += [f"-X {pkg}.gitVersion=v{v}", f"-X {pkg}.gitMajor=1", f"-X {pkg}.gitMinor={minor}",
                        f"-X {pkg}.gitTreeState=clean", f"-X {pkg}.gitCommit=0000000000000000000000000000000000000000",
                        f"-X {pkg}.buildDate=1970-01-01T00:00:00Z"]
        run(["go", "build", "-trimpath", "-pgo=off", "-ldflags", " ".join(ldflags), "-o", str(out) + "/",
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
