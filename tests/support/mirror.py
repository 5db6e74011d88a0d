"""A real HTTP file server on 127.0.0.1, and fake tool releases with the official file names and layouts.

`FileServer` serves a directory (a tools mirror, or release hosts laid out by path) and records every
request; it can answer a path with 503 a few times first, or slowly. `fake_release` builds tiny stand-ins
for every pinned tool: shell scripts printing the version their tool reports, packed exactly as each
project publishes them. The layouts are written out here on purpose, not taken from shipyard.tools: the
tests check Shipyard against the official contract, not against itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tarfile
import threading
import time
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PINS = {"pulumi": "3.274.1", "kubernetes-provider": "4.25.0", "aws-provider": "7.51.1", "etcd": "3.6.16",
        "kubernetes": "1.36.3", "kwok": "0.8.0", "actionlint": "1.7.12"}
STAGES = "apiVersion: kwok.x-k8s.io/v1alpha1\nkind: Stage\nmetadata:\n  name: node-initialize\n"


class FileServer:
    """Serves `root` on 127.0.0.1 until closed. `fail[path] = n` answers that path 503 n times first;
    `delay` seconds pass before every answer."""

    def __init__(self, root: Path, delay: float = 0.0):
        self.root = root
        self.delay = delay
        self.requests: list[str] = []
        self.fail: dict[str, int] = {}
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(server.root), **kwargs)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                time.sleep(server.delay)
                if server.fail.get(self.path, 0) > 0:
                    server.fail[self.path] -= 1
                    self.send_error(503, "try again")
                    return
                super().do_GET()

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                # A client that stops reading (a size cap, a timeout under test) is not a server fault.
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def gets(self, name: str) -> int:
        """How many requests ended in `name`."""
        return sum(1 for path in self.requests if path.rsplit("/", 1)[-1] == name)


def script(output: str) -> bytes:
    return f"#!/bin/sh\necho '{output}'\n".encode()


def targz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def fake_release(system: str = "linux", arch: str = "amd64") -> dict[str, bytes]:
    """Official file name -> content, for every pinned tool on one platform."""
    p = PINS
    k8s = p["kubernetes"]
    etcd_dir = f"etcd-v{p['etcd']}-{system}-{arch}"
    etcd = {f"{etcd_dir}/etcd": script(f"etcd Version: {p['etcd']}"), f"{etcd_dir}/etcdctl": script("etcdctl"),
            f"{etcd_dir}/README.md": b"etcd\n"}
    files = {
        # The Pulumi CLI wraps every binary in pulumi/ and spells amd64 "x64".
        f"pulumi-v{p['pulumi']}-{system}-{'x64' if arch == 'amd64' else arch}.tar.gz": targz({
            "pulumi/pulumi": script(f"v{p['pulumi']}"),
            "pulumi/pulumi-language-python": script("language host"),
            "pulumi/pulumi-language-nodejs": script("nodejs host")}),
        f"pulumi-resource-kubernetes-v{p['kubernetes-provider']}-{system}-{arch}.tar.gz": targz({
            "pulumi-resource-kubernetes": script("kubernetes provider"), "README.md": b"k8s\n",
            "LICENSE": b"apache\n"}),
        f"pulumi-resource-aws-v{p['aws-provider']}-{system}-{arch}.tar.gz": targz({
            "pulumi-resource-aws": script("aws provider"), "README.md": b"aws\n", "LICENSE": b"apache\n"}),
        f"{etcd_dir}.{'zip' if system == 'darwin' else 'tar.gz'}": (zipped(etcd) if system == "darwin"
                                                                   else targz(etcd)),
        "kubectl": script(f"Client Version: v{k8s}"),
        f"kwok-{system}-{arch}": script(f"kwok version v{p['kwok']}"),
        "stage-fast.yaml": STAGES.encode(),
        f"actionlint_{p['actionlint']}_{system}_{arch}.tar.gz": targz({
            "actionlint": script(p["actionlint"]), "LICENSE.txt": b"mit\n", "README.md": b"actionlint\n"}),
    }
    if system == "linux":
        for binary in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            files[binary] = script(f"Kubernetes v{k8s}")
    return files


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_mirror(directory: Path, files: dict[str, bytes], listed: dict[str, bytes] | None = None) -> Path:
    """A flat mirror: every file by its official name, plus SHA256SUMS over `listed` (default: the files)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    sums = listed if listed is not None else files
    (directory / "SHA256SUMS").write_text("".join(f"{sha256(d)}  {n}\n" for n, d in sorted(sums.items())))
    return directory


def write_official(root: Path, files: dict[str, bytes], system: str = "linux", arch: str = "amd64") -> dict[str, str]:
    """Lay `files` out as each project's release host does, with each release's own checksum format, under
    one directory per host; returns the host -> base URL path mapping to prefix with a server's URL."""
    p = PINS
    k8s = p["kubernetes"]

    def put(path: str, data: bytes) -> None:
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def sums(names: list[str], algorithm: str = "sha256", prefix: str = "") -> bytes:
        lines = [f"{hashlib.new(algorithm, files[n]).hexdigest()}  {prefix}{n}\n" for n in sorted(names)]
        return "".join(lines).encode()

    by_prefix = {prefix: [n for n in files if n.startswith(prefix)] for prefix in
                 ("pulumi-v", "pulumi-resource-kubernetes-", "pulumi-resource-aws-", "etcd-v", "actionlint_")}
    # get.pulumi.com: the CLI tarballs and pulumi-<version>-checksums.txt (sha256sum format).
    for name in by_prefix["pulumi-v"]:
        put(f"pulumi_get/releases/sdk/{name}", files[name])
    put(f"pulumi_get/releases/sdk/pulumi-{p['pulumi']}-checksums.txt", sums(by_prefix["pulumi-v"]))
    # Provider releases: `shasum ./*.tar.gz` output, i.e. SHA-1 with a ./ prefix.
    for provider, version in (("kubernetes", p["kubernetes-provider"]), ("aws", p["aws-provider"])):
        base = f"github/pulumi/pulumi-{provider}/releases/download/v{version}"
        names = by_prefix[f"pulumi-resource-{provider}-"]
        for name in names:
            put(f"{base}/{name}", files[name])
        put(f"{base}/pulumi-{provider}_{version}_checksums.txt", sums(names, "sha1", "./"))
    base = f"github/etcd-io/etcd/releases/download/v{p['etcd']}"
    for name in by_prefix["etcd-v"]:
        put(f"{base}/{name}", files[name])
    put(f"{base}/SHA256SUMS", sums(by_prefix["etcd-v"]))
    # dl.k8s.io: each binary with a .sha256 holding the bare digest.
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
        if name in files:
            put(f"k8s_dl/v{k8s}/bin/{system}/{arch}/{name}", files[name])
            put(f"k8s_dl/v{k8s}/bin/{system}/{arch}/{name}.sha256", sha256(files[name]).encode())
    # kwok publishes no checksum file: GitHub's release JSON carries each asset's digest.
    base = f"github/kubernetes-sigs/kwok/releases/download/v{p['kwok']}"
    assets = []
    for name in (f"kwok-{system}-{arch}", "stage-fast.yaml"):
        put(f"{base}/{name}", files[name])
        assets.append({"name": name, "digest": f"sha256:{sha256(files[name])}"})
    put(f"github_api/repos/kubernetes-sigs/kwok/releases/tags/v{p['kwok']}", json.dumps({"assets": assets}).encode())
    base = f"github/rhysd/actionlint/releases/download/v{p['actionlint']}"
    for name in by_prefix["actionlint_"]:
        put(f"{base}/{name}", files[name])
    put(f"{base}/actionlint_{p['actionlint']}_checksums.txt", sums(by_prefix["actionlint_"]))
    return {host: f"/{host}" for host in ("github", "github_api", "pulumi_get", "k8s_dl")}
