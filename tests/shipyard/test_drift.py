"""`shipyard.drift`: what is drift, who made it, how `up` puts it back — on objects shaped as the API returns them."""

from __future__ import annotations

import base64
import json

import pytest

from shipyard.drift import (ABSENT, format_path, goes_away_by_itself, object_drift, repair_patch,
                            unmanaged_objects)
from shipyard.live import stack_objects, unwrap_secrets

PULUMI = "pulumi-kubernetes-53c544a1"


def managed(manager: str, fields: dict, time: str = "2026-11-27T02:00:00Z", operation: str = "Update",
            subresource: str | None = None) -> dict:
    entry = {"manager": manager, "operation": operation, "apiVersion": "v1", "time": time,
             "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    return entry


NAMESPACE = {"apiVersion": "v1", "kind": "Namespace",
             "metadata": {"name": "web", "labels": {"pod-security.kubernetes.io/enforce": "baseline",
                                                    "shipyard.io/team": "web"}}}


def live_namespace(labels: dict, writers: list[dict]) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "web", "labels": {"kubernetes.io/metadata.name": "web", **labels},
                         "managedFields": writers, "resourceVersion": "12", "uid": "u"},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


SHIPYARD_LABELS = managed(PULUMI, {"f:metadata": {"f:labels": {
    "f:pod-security.kubernetes.io/enforce": {}, "f:shipyard.io/team": {}}}}, operation="Apply")


def test_an_object_as_shipyard_left_it_with_what_the_cluster_adds_is_clean():
    live = live_namespace({"pod-security.kubernetes.io/enforce": "baseline", "shipyard.io/team": "web"},
                          [SHIPYARD_LABELS, managed("kube-apiserver", {"f:metadata": {"f:labels": {
                              "f:kubernetes.io/metadata.name": {}}}})])
    assert not object_drift(NAMESPACE, live)


def test_a_label_a_person_changed_or_added_is_drift_naming_the_tool_and_time():
    live = live_namespace({"pod-security.kubernetes.io/enforce": "privileged", "shipyard.io/team": "web",
                           "extra": "1"},
                          [SHIPYARD_LABELS, managed("kubectl-label", {"f:metadata": {"f:labels": {
                              "f:pod-security.kubernetes.io/enforce": {}, "f:extra": {}}}},
                              time="2026-11-27T03:00:00Z")])
    drift = object_drift(NAMESPACE, live)
    assert [(format_path(f.path), f.by, f.at) for f in drift.fields] == [
        ('metadata.labels["pod-security.kubernetes.io/enforce"]', "kubectl-label", "2026-11-27T03:00:00Z"),
        ("metadata.labels.extra", "kubectl-label", "2026-11-27T03:00:00Z")]
    assert drift.fields[1].desired is ABSENT
    # up puts the value back and removes what the person added; other labels stay
    assert repair_patch(NAMESPACE, drift) == {"metadata": {"labels": {
        "pod-security.kubernetes.io/enforce": "baseline", "extra": None}}}


def test_fields_a_controller_adds_are_not_drift():
    live = live_namespace({"pod-security.kubernetes.io/enforce": "baseline", "shipyard.io/team": "web",
                           "added-by-operator": "x"},
                          [SHIPYARD_LABELS, managed("cert-manager-cainjector", {"f:metadata": {"f:labels": {
                              "f:added-by-operator": {}}}})])
    assert not object_drift(NAMESPACE, live)


def test_a_value_now_owned_by_a_control_plane_controller_is_the_cluster_working():
    desired = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api", "namespace": "web"},
               "spec": {"replicas": 1}}
    writers = [managed(PULUMI, {"f:spec": {"f:replicas": {}}}, time="2026-11-27T01:00:00Z"),
               managed("kube-controller-manager", {"f:spec": {"f:replicas": {}}}, subresource="scale")]
    live = {**desired, "metadata": {**desired["metadata"], "managedFields": writers}, "spec": {"replicas": 4}}
    assert not object_drift(desired, live)
    writers[1] = managed("kubectl", {"f:spec": {"f:replicas": {}}}, subresource="scale")
    drift = object_drift(desired, live)
    assert [(format_path(f.path), f.by, f.live) for f in drift.fields] == [("spec.replicas", "kubectl", 4)]
    assert repair_patch(desired, drift) == {"spec": {"replicas": 1}}


def test_an_empty_selector_means_exactly_that_and_its_repair_clears_what_was_added():
    desired = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "default-deny", "namespace": "web"},
               "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                        "ingress": [{"from": [{"podSelector": {}}]}]}}
    narrowed = json.loads(json.dumps(desired))
    narrowed["spec"]["podSelector"] = {"matchLabels": {"app": "nothing"}}
    drift = object_drift(desired, narrowed)
    assert [format_path(f.path) for f in drift.fields] == ["spec.podSelector"]
    assert repair_patch(desired, drift) == {"spec": {"podSelector": {"matchLabels": None}}}
    opened = json.loads(json.dumps(desired))
    opened["spec"]["ingress"][0]["from"].append({"namespaceSelector": {}})
    drift = object_drift(desired, opened)
    assert [format_path(f.path) for f in drift.fields] == ["spec.ingress[0].from"]
    assert repair_patch(desired, drift) == {"spec": {"ingress": desired["spec"]["ingress"]}}
    same_peer = json.loads(json.dumps(desired))
    same_peer["spec"]["ingress"][0]["from"][0]["namespaceSelector"] = {}
    same_peer["metadata"]["managedFields"] = [managed("kubectl-edit", {"f:spec": {"f:ingress": {}}})]
    assert [format_path(f.path) for f in object_drift(desired, same_peer).fields] == ["spec.ingress"]


def test_what_the_api_server_normalises_is_never_drift():
    desired = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
               "metadata": {"name": "grafana", "namespace": "monitoring", "annotations": {}},
               "rules": [], "spec": {"paused": False, "replicas": 0, "note": "", "resources": {"limits": None}},
               "data": {"cpu": "0.5"}}
    live = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "grafana", "namespace": "monitoring"}, "rules": None, "spec": {},
            "data": {"cpu": "500m"}}
    assert not object_drift(desired, live)


def test_string_data_compares_with_the_stored_base64_data():
    desired = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "web"},
               "stringData": {"password": "hunter2"}}
    live = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "web"},
            "data": {"password": base64.b64encode(b"hunter2").decode()}, "type": "Opaque"}
    assert not object_drift(desired, live)
    live["data"]["password"] = base64.b64encode(b"other").decode()
    assert [format_path(f.path) for f in object_drift(desired, live).fields] == ["data.password"]


def test_crd_schema_keys_in_the_sdk_spelling_match_the_api_spelling_but_property_names_stay():
    desired = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "things.example.com"},
               "spec": {"versions": [{"schema": {"openAPIV3Schema": {
                   "x_kubernetes_preserve_unknown_fields": True,
                   "properties": {"x_kubernetes_name": {"type": "string"}}}}}]}}
    live = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.example.com"},
            "spec": {"versions": [{"schema": {"openAPIV3Schema": {
                "x-kubernetes-preserve-unknown-fields": True,
                "properties": {"x_kubernetes_name": {"type": "string"}}}}}]}}
    assert not object_drift(desired, live)


def test_a_deleted_object_is_drift_unless_it_declared_its_own_end():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "web"}}
    assert object_drift(service, None).missing
    hook = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "annotations": {
        "helm.sh/hook": "post-install", "helm.sh/hook-delete-policy": "hook-succeeded"}}}
    ttl = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once"},
           "spec": {"ttlSecondsAfterFinished": 60}}
    assert goes_away_by_itself(hook) and goes_away_by_itself(ttl)
    assert not object_drift(hook, None) and not object_drift(ttl, None)


def test_status_subresource_writes_are_the_cluster_even_by_a_person_tool_name():
    live = live_namespace({"pod-security.kubernetes.io/enforce": "baseline", "shipyard.io/team": "web"},
                          [SHIPYARD_LABELS, managed("kubectl", {"f:status": {"f:phase": {}}}, subresource="status")])
    assert not object_drift(NAMESPACE, live)


def test_keyed_list_items_resolve_to_their_index():
    desired = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api", "namespace": "web"},
               "spec": {"ports": [{"name": "http", "port": 80}]}}
    live = {**desired, "spec": {"ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}}
    live["metadata"] = {**desired["metadata"], "managedFields": [managed("kubectl-patch", {"f:spec": {"f:ports": {
        'k:{"port":8080,"protocol":"TCP"}': {".": {}, "f:port": {}}}}})]}
    drift = object_drift(desired, live)
    assert [(format_path(f.path), f.by) for f in drift.fields] == [("spec.ports[0].port", "kubectl-patch")]
    assert repair_patch(desired, drift) == {"spec": {"ports": [{"name": "http", "port": 80}]}}


def test_unmanaged_access_is_found_in_team_and_addon_namespaces_only():
    def obj(kind: str, name: str, namespace: str | None, **extra) -> dict:
        api = "networking.k8s.io/v1" if kind == "NetworkPolicy" else "rbac.authorization.k8s.io/v1"
        meta = {"name": name, "managedFields": [managed("kubectl-create", {}, time="2026-11-27T04:00:00Z")]}
        if namespace:
            meta["namespace"] = namespace
        return {"apiVersion": api, "kind": kind, "metadata": meta, **extra}

    live = [obj("RoleBinding", "team-admins", "web"),                       # declared by the stack
            obj("RoleBinding", "outside-admin", "web"),                     # nobody declared it
            obj("NetworkPolicy", "allow-all", "monitoring"),                # in an add-on namespace
            obj("RoleBinding", "elsewhere", "kube-system"),                 # not a namespace of the stack
            obj("ClusterRoleBinding", "web-devs-admin", None,
                subjects=[{"kind": "Group", "name": "web-devs"}]),
            obj("ClusterRoleBinding", "others", None, subjects=[{"kind": "Group", "name": "ops"}])]
    owned = obj("RoleBinding", "by-operator", "web")
    owned["metadata"]["ownerReferences"] = [{"kind": "Thing", "name": "x"}]
    live.append(owned)
    found = unmanaged_objects(live, {("rbac.authorization.k8s.io/v1", "RoleBinding", "web", "team-admins")},
                              {"web", "monitoring"}, {"web-devs"})
    assert [(u.kind, u.namespace, u.name, u.by, u.at) for u in found] == [
        ("ClusterRoleBinding", None, "web-devs-admin", "kubectl-create", "2026-11-27T04:00:00Z"),
        ("NetworkPolicy", "monitoring", "allow-all", "kubectl-create", "2026-11-27T04:00:00Z"),
        ("RoleBinding", "web", "outside-admin", "kubectl-create", "2026-11-27T04:00:00Z")]


def test_state_export_gives_objects_their_recorded_inputs_with_secrets_opened_and_marked():
    secret = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
              "plaintext": json.dumps("apiVersion: v1\nclusters: []\n")}
    deployment = {"resources": [
        {"urn": "urn:pulumi:s::shipyard::pulumi:pulumi:Stack::shipyard-s", "type": "pulumi:pulumi:Stack",
         "custom": False, "outputs": {"kubeconfig": secret}},
        {"urn": "urn:pulumi:s::shipyard::pulumi:providers:kubernetes::k8s", "type": "pulumi:providers:kubernetes",
         "custom": True},
        {"urn": "urn:pulumi:s::shipyard::kubernetes:helm.sh/v4:Chart::c", "type": "kubernetes:helm.sh/v4:Chart",
         "custom": False},
        {"urn": "urn:pulumi:s::shipyard::aws:eks/cluster:Cluster::eks", "type": "aws:eks/cluster:Cluster",
         "custom": True},
        {"urn": "urn:pulumi:s::shipyard::kubernetes:core/v1:Secret::s", "type": "kubernetes:core/v1:Secret",
         "custom": True, "outputs": {"__fieldManager": "pulumi-kubernetes-1", "__inputs": {
             "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
             "data": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                      "plaintext": json.dumps({"k": "dg=="})}}}},
    ]}
    objects, others, kubeconfig = stack_objects(deployment)
    assert kubeconfig == "apiVersion: v1\nclusters: []\n"
    assert others == ["urn:pulumi:s::shipyard::aws:eks/cluster:Cluster::eks"]
    assert [(o.name, o.manager, o.desired["data"], o.secret_paths) for o in objects] == [
        ("s", "pulumi-kubernetes-1", {"k": "dg=="}, frozenset({("data",)}))]
    assert unwrap_secrets({"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                           "ciphertext": "x"}) is ABSENT


def _fake_kubectl(tmp_path, body: str):
    script = tmp_path / "kubectl"
    script.write_text("#!/usr/bin/env python3\nimport json, sys\nitems = json.load(sys.stdin)['items']\n" + body)
    script.chmod(0o755)
    return script


def test_objects_of_a_kind_the_cluster_no_longer_serves_count_as_gone(tmp_path):
    from shipyard.live import Kubectl

    kubectl = _fake_kubectl(tmp_path, (
        "if any(i['kind'] == 'Gone' for i in items):\n"
        "    sys.exit('error: resource mapping not found for name: \"x\" namespace: \"\" from \"STDIN\": no matches '\n"
        "             'for kind \"Gone\" in version \"example.com/v1\"')\n"
        "print(json.dumps({'kind': 'List', 'items': items}))\n"))
    identities = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "web"}},
                  {"apiVersion": "example.com/v1", "kind": "Gone", "metadata": {"name": "x"}}]
    with Kubectl(kubectl, "apiVersion: v1\n", tmp_path / "scratch") as client:
        assert [o["kind"] for o in client.get(identities)] == ["ConfigMap"]
    assert not list((tmp_path / "scratch").iterdir())  # the kubeconfig copy is gone too


def test_a_cluster_that_cannot_be_read_is_an_error_not_a_clean_check(tmp_path):
    from shipyard.live import Kubectl, LiveReadError

    kubectl = _fake_kubectl(tmp_path, "sys.exit('The connection to the server 127.0.0.1:6443 was refused')\n")
    with Kubectl(kubectl, "apiVersion: v1\n", tmp_path / "scratch") as client, \
            pytest.raises(LiveReadError, match="reading the cluster failed: The connection"):
        client.get([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}])
