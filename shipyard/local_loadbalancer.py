"""The local control plane's LoadBalancer controller: what kind, k3d and minikube do for LoadBalancer
Services, so charts that expose one (ingress-nginx with `controller.service.type: LoadBalancer`) and
Pulumi's await logic, which waits for an address, work unmodified.

Every Service of `spec.type: LoadBalancer` whose status has no ingress gets
`status.loadBalancer.ingress: [{ip: 127.0.0.1, ipMode: VIP}]`, applied server-side on the status
subresource as the field manager `shipyard-local-loadbalancer` (managed fields then say the cluster set
it, not a person). A Service with `spec.loadBalancerClass` is left alone: the class names another
implementation, and Kubernetes says the default one must ignore it. Nothing needs taking back when a
Service stops being a LoadBalancer: the API server itself empties `status.loadBalancer` on that change and
refuses an ingress on any other type (tests/integration/test_local.py proves it).

Nothing is forwarded: pods are simulated by kwok, so there is nothing behind the address to reach.

Run by `shipyard local up` as `python -m shipyard.local_loadbalancer --server … --ca … --cert … --key …`;
it logs to stdout (the component's log file), lists then watches Services, relists on 410 Gone and
every few minutes, reconnects with backoff while the API server is away, and exits 0 on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import ssl
import sys
import time
from collections.abc import Mapping
from typing import Any

import httpx

FIELD_MANAGER = "shipyard-local-loadbalancer"
ADDRESS = "127.0.0.1"
RESYNC_SECONDS = 300
MAX_BACKOFF_SECONDS = 5.0

log = logging.getLogger("shipyard.local_loadbalancer")


def needs_address(service: Mapping[str, Any]) -> bool:
    """Whether this controller should give the Service its address: a LoadBalancer of the default
    implementation (no class), not being deleted, with no ingress yet (whoever set one, it stays)."""
    if (service.get("metadata") or {}).get("deletionTimestamp"):
        return False
    spec = service.get("spec") or {}
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")
    return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass") and not ingress


def apply_configuration(service: Mapping[str, Any]) -> dict[str, Any]:
    """The server-side apply body that gives `service` the address. Its resourceVersion makes it a
    precondition: a Service changed since it was read is answered 409, and the change's own watch event
    brings the next decision."""
    metadata = service["metadata"]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": metadata["name"], "namespace": metadata["namespace"],
                         "resourceVersion": metadata["resourceVersion"]},
            "status": {"loadBalancer": {"ingress": [{"ip": ADDRESS, "ipMode": "VIP"}]}}}


class _Stop(BaseException):
    """SIGTERM or SIGINT: a BaseException, so no `except Exception` on the way out swallows it."""


class _Unavailable(Exception):
    """The API server answered with something other than what a healthy one would."""


class Controller:
    """Gives every LoadBalancer Service the API server behind `client` serves its address."""

    def __init__(self, client: httpx.Client):
        self.client = client

    def run(self) -> None:
        """List, reconcile, watch; relist on 410 and every RESYNC_SECONDS; back off while unreachable."""
        backoff, failing = 0.5, False
        while True:
            try:
                version = self.sync()
                if failing:
                    log.info("API server reachable again")
                backoff, failing = 0.5, False
                resync_at = time.monotonic() + RESYNC_SECONDS
                while version is not None and time.monotonic() < resync_at:
                    version = self.watch(version, max(1, int(resync_at - time.monotonic())))
            except (httpx.HTTPError, _Unavailable, ValueError) as error:  # ValueError: a torn JSON line
                if not failing:
                    log.warning("API server unavailable (%s); retrying", str(error) or type(error).__name__)
                failing = True
                time.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)

    def sync(self) -> str:
        """Reconcile every Service; the list's resourceVersion, to watch from."""
        response = self.client.get("/api/v1/services")
        if response.status_code != 200:
            raise _Unavailable(f"list services: {response.status_code} {response.text[:200]}")
        services = response.json()
        for service in services.get("items") or []:
            self.reconcile(service)
        return services["metadata"]["resourceVersion"]

    def watch(self, version: str, seconds: int) -> str | None:
        """Reconcile each change after `version` for up to `seconds`; the last version seen, or None when
        it is too old to watch from (410 Gone) and a relist is needed."""
        params = {"watch": "true", "resourceVersion": version, "allowWatchBookmarks": "true",
                  "timeoutSeconds": str(seconds)}
        timeout = httpx.Timeout(10, read=seconds + 30)
        with self.client.stream("GET", "/api/v1/services", params=params, timeout=timeout) as response:
            if response.status_code == 410:
                return None
            if response.status_code != 200:
                response.read()
                raise _Unavailable(f"watch services: {response.status_code} {response.text[:200]}")
            for line in response.iter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                kind, obj = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        return None
                    raise _Unavailable(f"watch services: {obj.get('message', obj)}")
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if kind in ("ADDED", "MODIFIED"):
                    self.reconcile(obj)
        return version

    def reconcile(self, service: Mapping[str, Any]) -> None:
        if not needs_address(service):
            return
        metadata = service["metadata"]
        name = f"{metadata['namespace']}/{metadata['name']}"
        response = self.client.patch(
            f"/api/v1/namespaces/{metadata['namespace']}/services/{metadata['name']}/status",
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
            content=json.dumps(apply_configuration(service)))
        if response.status_code == 200:
            log.info("%s: assigned %s", name, ADDRESS)
        elif response.status_code in (404, 409):
            pass  # deleted or changed since: its watch event (or the next resync) decides again
        else:
            log.warning("could not assign %s to %s: %s %s", ADDRESS, name, response.status_code,
                        response.text[:300])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shipyard.local_loadbalancer",
                                     description="Give LoadBalancer Services of the local control plane an address.")
    parser.add_argument("--server", required=True, help="the API server's URL")
    parser.add_argument("--ca", required=True, help="CA bundle that signed the API server's certificate")
    parser.add_argument("--cert", required=True, help="client certificate")
    parser.add_argument("--key", required=True, help="client key")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request

    def stop(signum: int, _frame: object) -> None:
        raise _Stop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    context = ssl.create_default_context(cafile=args.ca)
    context.load_cert_chain(args.cert, args.key)
    log.info("started; serving LoadBalancer Services at %s", ADDRESS)
    try:
        with httpx.Client(base_url=args.server, verify=context, timeout=httpx.Timeout(10, connect=5)) as client:
            Controller(client).run()
    except _Stop as stopped:
        log.info("stopped (%s)", stopped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
