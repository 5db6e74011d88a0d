"""The policy pack (`policies/`) on the real engine: the real Pulumi CLI starts the real analyzer shim
(`policies/bin/pulumi-analyzer-policy-python`), which runs the pack in its own virtual environment.

A normal local stack previews with the pack loaded and passes. The Kubernetes rules are shown refusing
objects no stack file can create (a LoadBalancer Service, a privileged Pod in a team namespace): a repository
copy whose `__main__.py` is a tiny program declaring exactly that one object, run through the same `Engine`
plumbing (inline program, policy config from the stack file, violations from engine events).

The AWS rules (private prod EKS endpoint, team/environment tags) cannot run through the engine here: no AWS
provider plugin can be built on this machine, so no AWS resource is ever registered. Their passing and
failing cases are the unit tests in tests/policies/test_rules.py.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from shipyard.engine import Engine
from shipyard.errors import EngineError, ToolError
from shipyard.local import LocalCluster
from shipyard.tools import Toolchain
from tests.support.repo import REPO, copy_platform

TENANT_STACK = """team: tenant
environment: dev
owners: ["@acme/platform"]
cluster:
  provider: local
addons:
  enable: [ingress-nginx]   # its Service is of type LoadBalancer: allowed in the ingress add-on's namespace
namespaces:
  - name: tenant-web
    quota: {cpu: "4", memory: 8Gi, pods: 20}
    admins: [tenant-leads]
"""

PROBE_STACK = TENANT_STACK.replace("tenant", "probe")

PROBE_PROGRAM = '''"""Test-only program (tests/integration/test_policies.py): declares the one object in probe.json."""
import json
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from shipyard.paths import local_kubeconfig

ROOT = Path(__file__).resolve().parent
provider = k8s.Provider("probe", kubeconfig=pulumi.Output.secret(local_kubeconfig(ROOT).read_text()))
manifest = json.loads((ROOT / "probe.json").read_text())
kinds = {"Service": k8s.core.v1.Service, "Pod": k8s.core.v1.Pod}
kinds[manifest["kind"]](manifest["metadata"]["name"], metadata=manifest["metadata"], spec=manifest["spec"],
                        opts=pulumi.ResourceOptions(provider=provider))
'''


def _platform(path: Path, team: str, stack_file: str) -> Path:
    root = copy_platform(path)
    if not (root / "policies").exists():
        shutil.copytree(REPO / "policies", root / "policies", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "stacks" / team).mkdir()
    (root / "stacks" / team / "dev.yaml").write_text(stack_file)
    return root


@pytest.fixture(scope="module")
def tenant_engine(tmp_path_factory, cluster: LocalCluster, toolchain: Toolchain) -> Engine:
    root = _platform(tmp_path_factory.mktemp("tenant") / "platform", "tenant", TENANT_STACK)
    return Engine(root, toolchain=toolchain, log=lambda line: None)


@pytest.fixture(scope="module")
def probe(tmp_path_factory, cluster: LocalCluster, toolchain: Toolchain):
    root = _platform(tmp_path_factory.mktemp("probe") / "platform", "probe", PROBE_STACK)
    (root / "__main__.py").write_text(PROBE_PROGRAM)
    engine = Engine(root, toolchain=toolchain, log=lambda line: None)

    def declare(manifest: dict) -> Engine:
        (root / "probe.json").write_text(json.dumps(manifest))
        return engine

    yield declare
    engine.destroy("probe-dev")


def _service(namespace: str) -> dict:
    return {"kind": "Service", "metadata": {"name": "web", "namespace": namespace},
            "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}


def _pod(namespace: str, privileged: bool) -> dict:
    return {"kind": "Pod", "metadata": {"name": "debug", "namespace": namespace},
            "spec": {"containers": [{"name": "shell", "image": "registry.k8s.io/pause:3.10",
                                     "securityContext": {"privileged": privileged}}]}}


def test_normal_stack_previews_with_the_policy_pack_loaded(tenant_engine: Engine):
    lines: list[str] = []
    config_files: list[tuple[str, int]] = []

    def output(line: str) -> None:
        if not config_files:  # the per-run config exists, private, while the engine runs
            config_files.extend((p.name, stat.S_IMODE(p.stat().st_mode))
                                for p in (tenant_engine.home / "tmp").glob("policy-config-*"))
        lines.append(line)

    outcome = tenant_engine.preview("tenant-dev", on_output=output)
    text = "\n".join(lines)
    assert "✅ shipyard-guardrails@v0.1.0" in text, text[-3000:]  # the engine's policy summary: loaded, passed
    assert "mandatory" not in text
    assert outcome.summary.get("create", 0) >= 10
    # ingress-nginx's own LoadBalancer Service, in the add-on's namespace, is in the plan and was allowed
    assert any(c.type == "kubernetes:core/v1:Service" and c.name.endswith("ingress-nginx/ingress-nginx-controller")
               for c in outcome.changes)
    assert config_files and all(mode == 0o600 for _, mode in config_files)
    assert not list((tenant_engine.home / "tmp").glob("policy-config-*"))


def test_load_balancer_service_in_a_team_namespace_is_refused(probe):
    with pytest.raises(EngineError) as caught:
        probe(_service("probe-web")).preview("probe-dev")
    message = str(caught.value)
    assert "stack 'probe-dev': 1 policy violation(s) (policies/); nothing was changed:" in message
    assert "load-balancer-only-in-ingress-namespace: kubernetes:core/v1:Service 'web'" in message
    assert ("Service 'web' in namespace 'probe-web' has type LoadBalancer; allowed only in the ingress add-on's "
            "namespace ('ingress-nginx')") in message
    assert "fix: make the Service type ClusterIP" in message


def test_load_balancer_service_in_the_ingress_namespace_passes(probe):
    outcome = probe(_service("ingress-nginx")).preview("probe-dev")
    assert ("create", "web") in {(c.op, c.name) for c in outcome.changes}


def test_privileged_pod_in_a_team_namespace_is_refused(probe):
    with pytest.raises(EngineError) as caught:
        probe(_pod("probe-web", privileged=True)).preview("probe-dev")
    message = str(caught.value)
    assert "no-privileged-containers-in-team-namespaces: kubernetes:core/v1:Pod 'debug'" in message
    assert "Pod 'debug' in team namespace 'probe-web' runs privileged: container 'shell'" in message
    assert "fix: remove securityContext.privileged" in message


def test_up_of_a_privileged_pod_is_refused_before_the_pod_exists(probe, kubectl):
    with pytest.raises(EngineError, match="no-privileged-containers-in-team-namespaces") as caught:
        probe(_pod("probe-web", privileged=True)).up("probe-dev")
    assert "the update stopped at the refused resource" in str(caught.value)
    assert "not found" in kubectl("get", "-n", "probe-web", "pod", "debug", check=False).stderr


def test_unprivileged_pod_in_a_team_namespace_passes(probe):
    outcome = probe(_pod("probe-web", privileged=False)).preview("probe-dev")
    assert ("create", "debug") in {(c.op, c.name) for c in outcome.changes}


def test_missing_policy_environment_is_a_clear_error_naming_the_fix(tenant_engine: Engine, monkeypatch):
    monkeypatch.setenv("SHIPYARD_POLICY_PYTHON", str(tenant_engine.home / "no-such-venv" / "bin" / "python"))
    with pytest.raises(ToolError, match=r"policy pack's Python environment is missing .*run bin/install"):
        tenant_engine.preview("tenant-dev")
