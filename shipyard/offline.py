"""`shipyard preview --offline`: run the repository's program under Pulumi mocks.

No engine, no cloud, no cluster, no credentials: the credential-free preview that untrusted
pull requests get. It evaluates the real `__main__.py` and records every resource it would
register (type, name, parent, inputs), with secret inputs redacted.
"""

from __future__ import annotations

import asyncio
import os
import runpy
import sys
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

from shipyard.errors import ShipyardError

SECRET = "[secret]"
# Fake outputs for resources whose outputs the program reads (everything else echoes its inputs).
_FAKE_OUTPUTS: dict[str, dict[str, Any]] = {
    "aws:eks/cluster:Cluster": {
        "arn": "arn:aws:eks:offline-region:000000000000:cluster/offline",
        "endpoint": "https://offline.eks.example",
        "certificateAuthority": {"data": "b2ZmbGluZQ=="},
        "identities": [{"oidcs": [{"issuer": "https://oidc.eks.offline.example/id/OFFLINE"}]}],
    },
}


@dataclass
class PlannedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    provider: str | None
    protect: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    """URNs of the resources it depends on (explicit `depends_on` and the outputs its inputs use)."""
    ignore_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "type": self.type, "name": self.name, "parent": self.parent,
                "custom": self.custom, "provider": self.provider, "protect": self.protect,
                "inputs": self.inputs}


def _redact(value: Any) -> Any:
    from pulumi.runtime import rpc

    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return SECRET
        if rpc._special_sig_key in value and "urn" in value:  # resource reference
            return {"resource": value["urn"]}
        return {k: _redact(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if type(value).__name__ == "Unknown":
        return "[unknown]"
    if isinstance(value, float) and value.is_integer():  # the wire format has only doubles
        return int(value)
    return value


def record(build: Callable[[], Any], *, stack_name: str, config: dict[str, str] | None = None,
           into: list[PlannedResource] | None = None) -> list[PlannedResource]:
    """Run `build` (a Pulumi program body) under mocks; return every resource it registers, in order.

    `into` receives resources as they register, so a caller still sees them when `build` raises.
    """
    import pulumi
    from pulumi.runtime import mocks, rpc, settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    recorded: list[PlannedResource] = [] if into is None else into

    class Recorder(mocks.Mocks):
        def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict]:
            outputs = dict(args.inputs)
            outputs.update(_FAKE_OUTPUTS.get(args.typ, {}))
            return f"{args.name}-id", outputs

        def call(self, args: mocks.MockCallArgs) -> dict:
            if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
                return {"names": [f"offline-zone-{c}" for c in "abcdef"], "zoneIds": [], "id": "offline"}
            if args.token == "aws:route53/getZone:getZone":  # a hosted zone by name: its id is made up
                name = str(args.args.get("name", ""))
                zone_id = "OFFLINE" + "".join(c for c in name.upper() if c.isalnum())[:24]
                return {"name": name, "zoneId": zone_id, "id": zone_id,
                        "arn": f"arn:aws:route53:::hostedzone/{zone_id}"}
            return {}

    class RecordingMonitor(mocks.MockMonitor):
        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                recorded.append(PlannedResource(
                    urn=response.urn, type=request.type, name=request.name, parent=request.parent or None,
                    custom=bool(request.custom),
                    provider=request.provider.rsplit("::", 1)[0] if request.provider else None,
                    protect=bool(request.protect),
                    inputs=_redact(rpc.deserialize_properties(request.object, keep_unknowns=True)),
                    secret_outputs=sorted(request.additionalSecretOutputs),
                    dependencies=sorted(set(request.dependencies)),
                    ignore_changes=sorted(request.ignoreChanges),
                    delete_before_replace=bool(request.deleteBeforeReplace)))
            return response

    # Every future of this run must live on one fresh loop, created before the mocks' root Stack resource.
    asyncio.set_event_loop(asyncio.new_event_loop())
    settings.reset_options()
    pulumi.runtime.set_all_config({f"shipyard:{k}": v for k, v in (config or {}).items()}, secret_keys=[])
    recorder = Recorder()
    mocks.set_mocks(recorder, project="shipyard", stack=stack_name, preview=True,
                    monitor=RecordingMonitor(recorder))
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    _sync_await(run_pulumi_func(build))
    return recorded


def run_offline(root: Path, stack_name: str, into: list[PlannedResource] | None = None) -> list[PlannedResource]:
    """Evaluate `root/__main__.py` for `stack_name` under mocks and return what it registers, in order."""
    import pulumi

    from shipyard.program import OFFLINE_CONFIG

    program = root / "__main__.py"
    if not program.is_file():
        raise ShipyardError(f"{program} does not exist; the platform repository needs its Pulumi program")
    root_str = str(root)
    sys.path.insert(0, root_str)
    cwd = os.getcwd()
    os.chdir(root)  # the engine runs the program from the repository root; so do we
    # The repository's own `components` package must win over any other copy already imported.
    saved = _forget_components()
    try:
        return record(lambda: runpy.run_path(str(program), run_name="__main__"), stack_name=stack_name,
                      config={OFFLINE_CONFIG: "true"}, into=into)
    except pulumi.RunError as exc:
        raise InvalidProgramInput(str(exc)) from None
    finally:
        os.chdir(cwd)
        sys.path.remove(root_str)
        _forget_components()
        sys.modules.update(saved)


def _forget_components() -> dict[str, Any]:
    gone = {n: m for n, m in sys.modules.items() if n == "components" or n.startswith("components.")}
    for name in gone:
        del sys.modules[name]
    return gone


class InvalidProgramInput(ShipyardError):
    """The program refused its input (validation failed inside `__main__.py`)."""

