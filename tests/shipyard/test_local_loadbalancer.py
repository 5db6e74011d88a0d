"""The local LoadBalancer controller's decision: which Services get 127.0.0.1. (Talking to the API server,
and what it does when a Service stops being a LoadBalancer, is proven in tests/integration/test_local.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.local_loadbalancer import FIELD_MANAGER, apply_configuration, needs_address

ADDRESS = [{"ip": "127.0.0.1", "ipMode": "VIP"}]
# What the API server leaves behind after a Service we served became a ClusterIP: the status is emptied,
# the managed-fields entry is not.
STALE_ENTRY = {"manager": FIELD_MANAGER, "operation": "Apply", "subresource": "status", "apiVersion": "v1",
               "fieldsV1": {"f:status": {"f:loadBalancer": {"f:ingress": {}}}}}


def service(type_: str = "LoadBalancer", ingress: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ingress-nginx", "resourceVersion": "42",
                         "managedFields": [STALE_ENTRY]},
            "spec": {"type": type_, **spec},
            "status": {"loadBalancer": {} if ingress is None else {"ingress": ingress}}}


@pytest.mark.parametrize("svc,expected", [
    (service(), True),
    (service(ingress=[]), True),
    ({"metadata": {"name": "new", "namespace": "default"}, "spec": {"type": "LoadBalancer"}}, True),  # no status yet
    (service(ingress=ADDRESS), False),  # already served
    (service(ingress=[{"hostname": "lb.example.com"}]), False),  # someone else's address stays
    (service(loadBalancerClass="example.com/other"), False),  # another implementation's Service
    (service("ClusterIP"), False),
    (service("NodePort"), False),
    (service("ExternalName"), False),
    ({"metadata": {"name": "odd", "namespace": "default"}}, False),  # no spec at all
])
def test_only_load_balancers_of_the_default_class_without_an_address_need_one(svc, expected):
    assert needs_address(svc) is expected


def test_a_service_being_deleted_is_left_alone():
    doomed = service()
    doomed["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert needs_address(doomed) is False


def test_the_apply_sets_only_the_address_and_is_conditional_on_the_version_read():
    assert apply_configuration(service()) == {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "ingress-nginx", "resourceVersion": "42"},
        "status": {"loadBalancer": {"ingress": ADDRESS}}}
