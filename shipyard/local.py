"""The local control plane: a small but real Kubernetes cluster on 127.0.0.1.

etcd + kube-apiserver + kube-controller-manager + kube-scheduler (real binaries, built by
`shipyard tools install`) and kwok, which plays the kubelet for fake nodes: pods bound to them
become Running/Ready, so Deployments become Available and Pulumi's await logic works unmodified. A small
LoadBalancer controller (`shipyard.local_loadbalancer`, a Python process) gives LoadBalancer Services the
address 127.0.0.1, as kind, k3d and minikube give them one, so their await works too.

Everything lives under `$SHIPYARD_HOME/local/`: `pki/` (generated CA, serving and client
certificates, service-account key), `etcd/` (data, kept across `down` unless `--purge`),
`logs/<component>.log`, `run/<component>.pid` and `kubeconfig` (admin, certificates embedded).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shipyard.errors import ShipyardError
from shipyard.paths import shipyard_home
from shipyard.processes import command_line, running
from shipyard.tools import KWOK_STAGES, Toolchain

HOST = "127.0.0.1"
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
LOADBALANCER = "loadbalancer"  # the component: pid file, log file, certificate
LOADBALANCER_MODULE = "shipyard.local_loadbalancer"
LOADBALANCER_USER = "shipyard:local-loadbalancer"  # its certificate's CN, ClusterRole and binding
COMPONENTS = (*CONTROL_PLANE, LOADBALANCER)  # in start order; stopped in reverse
SERVICE_CIDR = "10.96.0.0/24"
POD_CIDR = "10.244.0.0/24"
FAKE_NODES = ("kwok-node-0",)
Log = Callable[[str], None]


class LocalClusterError(ShipyardError):
    """The local control plane could not be started or is unhealthy (see its logs)."""


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    running: bool

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "pid": self.pid, "running": self.running}


class LocalCluster:
    """Start, stop and inspect the local control plane of one repository (`$SHIPYARD_HOME`)."""

    def __init__(self, root: Path, toolchain: Toolchain | None = None, home: Path | None = None):
        self.root = root
        self.home = (home or shipyard_home(root)) / "local"
        self.tools = toolchain or Toolchain(root)
        self.pki = self.home / "pki"
        self.logs = self.home / "logs"
        self.run_dir = self.home / "run"
        self.kubeconfig = self.home / "kubeconfig"

    # -- public operations -------------------------------------------------------------------------
    def up(self, log: Log = print, timeout: float = 120) -> bool:
        """Start everything (no-op when healthy). Returns False when it was already up."""
        if self.healthy():
            log(f"local control plane already running ({self.kubeconfig})")
            return False
        if self._control_plane_healthy():
            # Only the LoadBalancer controller is gone: start it alone, the cluster and its data stay as they are.
            log("==> starting the LoadBalancer controller (it was not running)")
            self._ensure_pki()  # a home from before the controller has no certificate for it yet
            self._start_loadbalancer(json.loads((self.home / "ports.json").read_text()))
            return True
        if any(s.running for s in self.status()):
            log("local control plane is partly running; restarting it (data is kept)")
            self.down(log=log)
        binaries = {name: self.tools.binary(name) for name in
                    ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")}
        for directory in (self.pki, self.logs, self.run_dir, self.home / "etcd"):
            directory.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        ports = self._ports()
        self._ensure_pki()
        self._write_kubeconfigs(ports)
        deadline = time.monotonic() + timeout
        log(f"==> starting etcd on {HOST}:{ports['etcd']}")
        self._start("etcd", [
            str(binaries["etcd"]), "--name=shipyard", f"--data-dir={self.home / 'etcd'}", "--unsafe-no-fsync",
            f"--listen-client-urls=http://{HOST}:{ports['etcd']}",
            f"--advertise-client-urls=http://{HOST}:{ports['etcd']}",
            f"--listen-peer-urls=http://{HOST}:{ports['etcd-peer']}",
            f"--initial-advertise-peer-urls=http://{HOST}:{ports['etcd-peer']}",
            f"--initial-cluster=shipyard=http://{HOST}:{ports['etcd-peer']}",
            f"--listen-metrics-urls=http://{HOST}:{ports['etcd-metrics']}", "--log-level=warn"])
        self._wait(lambda: self._http_ok(f"http://{HOST}:{ports['etcd']}/health"), "etcd", deadline)
        pki = self.pki
        log(f"==> starting kube-apiserver on https://{HOST}:{ports['apiserver']}")
        self._start("kube-apiserver", [
            str(binaries["kube-apiserver"]), f"--etcd-servers=http://{HOST}:{ports['etcd']}",
            f"--bind-address={HOST}", f"--advertise-address={HOST}", f"--secure-port={ports['apiserver']}",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--allow-privileged=true",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--profiling=false", "--v=1"])
        self._wait(self._api_ready, "kube-apiserver /readyz", deadline)
        log("==> starting kube-controller-manager, kube-scheduler, kwok and the LoadBalancer controller")
        self._start("kube-controller-manager", [
            str(binaries["kube-controller-manager"]), f"--kubeconfig={pki / 'kcm.kubeconfig'}",
            f"--authentication-kubeconfig={pki / 'kcm.kubeconfig'}",
            f"--authorization-kubeconfig={pki / 'kcm.kubeconfig'}",
            "--leader-elect=false", f"--bind-address={HOST}", f"--secure-port={ports['kcm']}",
            f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}", f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true", "--profiling=false", "--v=1"])
        self._start("kube-scheduler", [
            str(binaries["kube-scheduler"]), f"--kubeconfig={pki / 'scheduler.kubeconfig'}",
            f"--authentication-kubeconfig={pki / 'scheduler.kubeconfig'}",
            f"--authorization-kubeconfig={pki / 'scheduler.kubeconfig'}",
            "--leader-elect=false", f"--bind-address={HOST}", f"--secure-port={ports['scheduler']}",
            "--profiling=false", "--v=1"])
        kwok_config = self.home / "kwok.yaml"
        stages = self.tools.data_file("kwok", KWOK_STAGES).read_text()
        # Standalone kwok applies no option defaults (kwokctl normally writes them): set what it needs.
        options = {"nodeLeaseParallelism": 2, "nodePlayStageParallelism": 2, "podPlayStageParallelism": 4,
                   "podsOnNodeSyncParallelism": 2, "nodeLeaseDurationSeconds": 40,
                   "enablePodsOnNodeSyncListPager": True, "enablePodsOnNodeSyncStreamWatch": True}
        kwok_config.write_text("apiVersion: config.kwok.x-k8s.io/v1alpha1\nkind: KwokConfiguration\n"
                               f"options: {json.dumps(options)}\n---\n" + stages)
        self._start("kwok", [
            str(binaries["kwok"]), f"--config={kwok_config}", f"--kubeconfig={pki / 'kwok.kubeconfig'}",
            "--manage-all-nodes=false", "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--manage-nodes-with-label-selector=", "--manage-single-node=", f"--cidr={POD_CIDR}",
            "--node-ip=10.244.1.1", "--node-lease-duration-seconds=40",
            f"--server-address={HOST}:{ports['kwok']}"])
        self._start_loadbalancer(ports)
        self._ensure_nodes()
        self._wait(lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default") == 200,
                   "the default service account", deadline)
        self._wait(self._nodes_ready, "the fake node to become Ready", deadline)
        log(f"==> local control plane ready; kubeconfig: {self.kubeconfig}")
        return True

    def down(self, purge: bool = False, log: Log = print) -> None:
        """Stop every process this control plane started (none left behind); keep data unless purge."""
        for name in reversed(COMPONENTS):
            pid = self._pid(name)
            if pid is not None and self._is_ours(name, pid):
                log(f"==> stopping {name} (pid {pid})")
                _terminate(pid)
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
        if purge and self.home.exists():
            log(f"==> purging {self.home}")
            shutil.rmtree(self.home)

    def stop_component(self, name: str, kill: bool = False) -> None:
        """Stop one component; `kill` makes it an abrupt outage (tests use it), not a graceful drain."""
        pid = self._pid(name)
        if pid is not None and self._is_ours(name, pid):
            _terminate(pid, grace=0 if kill else 10)
        (self.run_dir / f"{name}.pid").unlink(missing_ok=True)

    def status(self) -> list[ComponentStatus]:
        out = []
        for name in COMPONENTS:
            pid = self._pid(name)
            out.append(ComponentStatus(name, pid, pid is not None and self._is_ours(name, pid)))
        return out

    def healthy(self) -> bool:
        return self._control_plane_healthy() and all(s.running for s in self.status() if s.name == LOADBALANCER)

    def _control_plane_healthy(self) -> bool:
        """Everything but the LoadBalancer controller runs and serves (it alone can be restarted)."""
        return (all(s.running for s in self.status() if s.name in CONTROL_PLANE) and self.kubeconfig.is_file()
                and self._api_ready() and self._nodes_ready())

    # -- processes --------------------------------------------------------------------------------
    def _start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
        log_file = (self.logs / f"{name}.log").open("ab")
        log_file.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
        log_file.flush()
        # A session of its own: Ctrl-C in the terminal that ran `local up` must not kill the cluster.
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=self.home, env=env)
        log_file.close()
        (self.run_dir / f"{name}.pid").write_text(str(proc.pid))
        time.sleep(0.2)
        if proc.poll() is not None:
            raise LocalClusterError(f"{name} exited at once (code {proc.returncode}); see {self.logs / name}.log:\n"
                                    + _tail(self.logs / f"{name}.log"))

    def _pid(self, name: str) -> int | None:
        try:
            return int((self.run_dir / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return None

    def _start_loadbalancer(self, ports: dict[str, int]) -> None:
        self._ensure_loadbalancer_rbac()
        # The child imports the very shipyard package this process runs, wherever that comes from.
        package_root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._start(LOADBALANCER, [
            sys.executable, "-m", LOADBALANCER_MODULE, f"--server=https://{HOST}:{ports['apiserver']}",
            f"--ca={self.pki / 'ca.crt'}", f"--cert={self.pki / f'{LOADBALANCER}.crt'}",
            f"--key={self.pki / f'{LOADBALANCER}.key'}"], env=env)

    def _is_ours(self, name: str, pid: int) -> bool:
        """The pid is alive and still runs our program (pids get reused)."""
        if name == LOADBALANCER:  # a Python process: its command name is the interpreter's
            return running(pid) and LOADBALANCER_MODULE in command_line(pid)
        return running(pid, name)

    def _wait(self, check: Callable[[], bool], what: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            for status in self.status():
                if self._pid(status.name) is not None and not status.running:
                    raise LocalClusterError(f"{status.name} stopped while waiting for {what}; see "
                                            f"{self.logs / status.name}.log:\n" + _tail(self.logs /
                                                                                        f"{status.name}.log"))
            if check():
                return
            time.sleep(0.25)
        raise LocalClusterError(f"timed out waiting for {what}; logs are in {self.logs}")

    # -- ports ------------------------------------------------------------------------------------
    def _ports(self) -> dict[str, int]:
        """Free loopback ports, chosen once and kept, so the kubeconfig stays valid across restarts."""
        path = self.home / "ports.json"
        names = ("etcd", "etcd-peer", "etcd-metrics", "apiserver", "kcm", "scheduler", "kwok")
        if path.is_file():
            ports = json.loads(path.read_text())
            if set(ports) == set(names) and all(_port_free(p) for p in ports.values()):
                return ports
        ports = {name: _free_port() for name in names}
        path.write_text(json.dumps(ports, indent=2))
        return ports

    # -- certificates and kubeconfigs -------------------------------------------------------------
    def _ensure_pki(self) -> None:
        complete = (self.pki / "ca.crt").is_file() and (self.pki / "admin.crt").is_file()
        if complete and (self.pki / f"{LOADBALANCER}.crt").is_file():
            return
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        def key_pair(name: str) -> ec.EllipticCurvePrivateKey:
            key = ec.generate_private_key(ec.SECP256R1())
            path = self.pki / f"{name}.key"
            path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
            path.chmod(0o600)
            return key

        now = dt.datetime.now(dt.timezone.utc)

        def issue(name: str, common_name: str, orgs: tuple[str, ...] = (), server: bool = False) -> None:
            key = key_pair(name)
            attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
            builder = (x509.CertificateBuilder().subject_name(x509.Name(attrs)).issuer_name(ca_name)
                       .public_key(key.public_key()).serial_number(x509.random_serial_number())
                       .not_valid_before(now - dt.timedelta(minutes=5))
                       .not_valid_after(now + dt.timedelta(days=3650))
                       .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH if server
                                                             else x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                                      critical=False))
            if server:
                builder = builder.add_extension(x509.SubjectAlternativeName([
                    x509.IPAddress(ipaddress.ip_address(HOST)),
                    x509.IPAddress(next(ipaddress.ip_network(SERVICE_CIDR).hosts())),
                    *[x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default",
                                                "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")]]),
                    critical=False)
            cert = builder.sign(ca_key, hashes.SHA256())
            (self.pki / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

        # Least privilege (RBAC, see _ensure_loadbalancer_rbac), not system:masters: it only needs Services.
        loadbalancer = (LOADBALANCER, LOADBALANCER_USER)
        if complete:  # a PKI from before the LoadBalancer controller: its CA issues the missing certificate
            ca_key = serialization.load_pem_private_key((self.pki / "ca.key").read_bytes(), password=None)
            ca_name = x509.load_pem_x509_certificate((self.pki / "ca.crt").read_bytes()).subject
            issue(*loadbalancer)
            return
        ca_key = key_pair("ca")
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "shipyard-local-ca")])
        ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=3650))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                                content_commitment=False, key_encipherment=False,
                                                data_encipherment=False, key_agreement=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .sign(ca_key, hashes.SHA256()))
        (self.pki / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
        issue("apiserver", "kube-apiserver", server=True)
        issue("kcm", "system:kube-controller-manager")
        issue("scheduler", "system:kube-scheduler")
        issue("kwok", "shipyard-kwok", ("system:masters",))
        issue(*loadbalancer)
        sa_key = key_pair("sa")
        (self.pki / "sa.pub").write_bytes(sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        issue("admin", "shipyard-admin", ("system:masters",))  # written last: its presence means "PKI complete"

    def _write_kubeconfigs(self, ports: dict[str, int]) -> None:
        import base64

        server = f"https://{HOST}:{ports['apiserver']}"

        def b64(name: str) -> str:
            return base64.b64encode((self.pki / name).read_bytes()).decode()

        def config(user: str) -> str:
            return json.dumps({
                "apiVersion": "v1", "kind": "Config", "current-context": "shipyard-local",
                "clusters": [{"name": "shipyard-local",
                              "cluster": {"server": server, "certificate-authority-data": b64("ca.crt")}}],
                "users": [{"name": user, "user": {"client-certificate-data": b64(f"{user}.crt"),
                                                  "client-key-data": b64(f"{user}.key")}}],
                "contexts": [{"name": "shipyard-local", "context": {"cluster": "shipyard-local", "user": user}}],
            }, indent=2)

        for user in ("kcm", "scheduler", "kwok"):
            path = self.pki / f"{user}.kubeconfig"
            path.write_text(config(user))
            path.chmod(0o600)
        self.kubeconfig.write_text(config("admin"))
        self.kubeconfig.chmod(0o600)

    # -- API helpers ------------------------------------------------------------------------------
    def client(self):
        import ssl

        import httpx

        ports = json.loads((self.home / "ports.json").read_text())
        context = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        context.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return httpx.Client(base_url=f"https://{HOST}:{ports['apiserver']}", verify=context, timeout=5)

    def _get(self, path: str) -> int:
        try:
            with self.client() as client:
                return client.get(path).status_code
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return 0

    def _api_ready(self) -> bool:
        return (self.home / "ports.json").is_file() and self._get("/readyz") == 200

    def _http_ok(self, url: str) -> bool:
        import httpx

        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def _ensure_nodes(self) -> None:
        with self.client() as client:
            for name in FAKE_NODES:
                if client.get(f"/api/v1/nodes/{name}").status_code == 200:
                    continue
                node = {
                    "apiVersion": "v1", "kind": "Node",
                    "metadata": {"name": name,
                                 "annotations": {"node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake"},
                                 "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                            "kubernetes.io/arch": "amd64", "type": "kwok"}},
                    "status": {"allocatable": {"cpu": "32", "memory": "256Gi", "pods": "110"},
                               "capacity": {"cpu": "32", "memory": "256Gi", "pods": "110"}},
                }
                response = client.post("/api/v1/nodes", json=node)
                if response.status_code not in (200, 201, 409):
                    raise LocalClusterError(f"could not create fake node {name}: {response.status_code} "
                                            f"{response.text[:300]}")

    def _ensure_loadbalancer_rbac(self) -> None:
        """The LoadBalancer controller's rights: read Services, write their status; applied server-side, so
        repeating it is a no-op."""
        meta = {"name": LOADBALANCER_USER, "labels": {"app.kubernetes.io/managed-by": "shipyard-local"}}
        group = "rbac.authorization.k8s.io"
        role = {"apiVersion": f"{group}/v1", "kind": "ClusterRole", "metadata": meta, "rules": [
            {"apiGroups": [""], "resources": ["services"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch", "update"]}]}
        binding = {"apiVersion": f"{group}/v1", "kind": "ClusterRoleBinding", "metadata": meta,
                   "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": LOADBALANCER_USER},
                   "subjects": [{"apiGroup": group, "kind": "User", "name": LOADBALANCER_USER}]}
        with self.client() as client:
            for plural, obj in (("clusterroles", role), ("clusterrolebindings", binding)):
                response = client.patch(f"/apis/{group}/v1/{plural}/{LOADBALANCER_USER}",
                                        params={"fieldManager": "shipyard-local", "force": "true"},
                                        headers={"Content-Type": "application/apply-patch+yaml"},
                                        content=json.dumps(obj))
                if response.status_code not in (200, 201):
                    raise LocalClusterError(f"could not apply the LoadBalancer controller's {obj['kind']}: "
                                            f"{response.status_code} {response.text[:300]}")

    def _nodes_ready(self) -> bool:
        try:
            with self.client() as client:
                for name in FAKE_NODES:
                    node = client.get(f"/api/v1/nodes/{name}").json()
                    conditions = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
                    if conditions.get("Ready") != "True":
                        return False
            return True
        except Exception:  # noqa: BLE001
            return False


def _terminate(pid: int, grace: float = 10) -> None:
    try:
        os.kill(pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:  # reap it if it is our child (tests start the cluster in-process)
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As the servers themselves do: a port whose old connections linger in TIME_WAIT is reusable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
            return True
        except OSError:
            return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


