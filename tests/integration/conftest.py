"""Integration fixtures: the real Pulumi engine against the real local control plane.

They need the pinned tools (`shipyard tools install`, which bin/test runs first); without them they fail,
never skip.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.engine import Engine
from shipyard.local import LocalCluster
from shipyard.tools import Toolchain
from tests.support.charts import shared_charts
from tests.support.repo import copy_platform

REPO = Path(__file__).resolve().parents[2]
ITEST_STACK = """team: itest
environment: dev
owners: ["@acme/platform"]
cluster:
  provider: local
addons:
  enable: [metrics-server]
namespaces:
  - name: itest-web
    quota: {cpu: "4", memory: 8Gi, pods: 20}
    admins: [itest-leads]
    developers: [itest-devs]
"""

DRIFT_STACK = """team: drift
environment: dev
owners: ["@acme/platform"]
cluster:
  provider: local
addons:
  # Every add-on of the catalog, from the real upstream charts, with the catalog's production values.
  bundles: [baseline, observability, gitops]
  enable: [external-dns]
namespaces:
  - name: drift-web
    quota: {cpu: "4", memory: 8Gi, pods: 20}
    admins: [drift-leads]
    developers: [drift-devs]
"""


def pytest_collection_modifyitems(items):
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    chain = Toolchain(REPO)
    missing = [f"{s.tool.name} ({s.detail})" for s in chain.states() if not s.ok]
    if missing:
        # Never a skip: these tests are the proof that the engine and the API server behave (bin/test installs them).
        pytest.fail(f"pinned tools absent: {', '.join(missing)}; run `shipyard tools install` or bin/test")
    return chain


@pytest.fixture(scope="session")
def itest_repo(tmp_path_factory) -> Path:
    root = copy_platform(tmp_path_factory.mktemp("itest") / "platform")
    (root / "stacks" / "itest").mkdir()
    (root / "stacks" / "itest" / "dev.yaml").write_text(ITEST_STACK)
    (root / "stacks" / "drift").mkdir()
    (root / "stacks" / "drift" / "dev.yaml").write_text(DRIFT_STACK)
    return root


@pytest.fixture(scope="session")
def shipyard_home(itest_repo: Path) -> Iterator[Path]:
    home = itest_repo / ".shipyard"
    # These tests use the local defaults (file backend, generated passphrase), whatever the machine running
    # them has set: a CI runner has CI=true, which rightly refuses those defaults.
    state_vars = ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE",
                  "SHIPYARD_SECRETS_PROVIDER", "SHIPYARD_STATE_ANNOUNCED", "CI")
    saved = {k: os.environ.get(k) for k in ("SHIPYARD_HOME", "SHIPYARD_CHART_MIRROR", *state_vars)}
    os.environ["SHIPYARD_HOME"] = str(home)
    # The real upstream charts at the catalog's pins (the workspace's shared mirror), digest-checked like any mirror.
    os.environ["SHIPYARD_CHART_MIRROR"] = str(shared_charts())
    for key in state_vars:
        os.environ.pop(key, None)
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def cluster(itest_repo: Path, shipyard_home: Path, toolchain: Toolchain) -> Iterator[LocalCluster]:
    local = LocalCluster(itest_repo, toolchain=toolchain, home=shipyard_home)
    local.up(log=lambda line: None)
    yield local
    local.down(purge=True, log=lambda line: None)


@pytest.fixture(scope="session")
def engine(itest_repo: Path, cluster: LocalCluster, toolchain: Toolchain) -> Engine:
    return Engine(itest_repo, toolchain=toolchain, log=lambda line: None)


@pytest.fixture(scope="session")
def kubectl(cluster: LocalCluster, toolchain: Toolchain):
    binary = toolchain.binary("kubectl")

    def run(*args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(binary), f"--kubeconfig={cluster.kubeconfig}", *args], capture_output=True,
                              text=True, check=check, timeout=60, input=stdin)

    return run
