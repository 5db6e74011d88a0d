"""The EKS core add-ons (`addons/eks-core.yaml`): vpc-cni, coredns, kube-proxy and the Pod Identity agent,
each pinned to one version per Kubernetes minor, in one table.

Every eks cluster runs the four as EKS-managed add-ons at its `kubernetesVersion`'s row; this module is the
table's model, its validation (a row for every supported minor, every add-on in every row, exact
`vX.Y.Z-eksbuild.N` versions) and the lookup the platform mapping uses.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import model_validator

from shipyard.models import SUPPORTED_KUBERNETES_VERSIONS, KubernetesVersion, _error, _located, _Model

CORE_ADDONS_FILE = Path("addons") / "eks-core.yaml"
CORE_ADDONS: tuple[str, ...] = ("vpc-cni", "kube-proxy", "eks-pod-identity-agent", "coredns")
"""In the order a new cluster needs them: networking and the credential agent before nodes, DNS on nodes."""
_EKS_BUILD = re.compile(r"^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)-eksbuild\.[1-9][0-9]*$")


class CoreAddonPins(_Model):
    """`addons/eks-core.yaml`: the EKS core add-on versions per Kubernetes minor."""

    versions: dict[KubernetesVersion, dict[str, str]]
    """Kubernetes minor -> add-on -> its exact EKS add-on version (`vX.Y.Z-eksbuild.N`)."""

    @model_validator(mode="after")
    def _complete(self) -> CoreAddonPins:
        errors = []
        for minor, row in self.versions.items():
            for addon, version in row.items():
                if addon not in CORE_ADDONS:
                    errors.append((("versions", minor, addon), _error(
                        "unknown_core_addon", "'{addon}' is not an EKS core add-on Shipyard manages; the table "
                        "holds: {known}", addon=addon, known=", ".join(CORE_ADDONS)), addon))
                elif not _EKS_BUILD.fullmatch(version):
                    errors.append((("versions", minor, addon), _error(
                        "core_addon_version", "'{value}' is not an exact EKS add-on version; write it as "
                        "`aws eks describe-addon-versions` prints it, e.g. v1.20.1-eksbuild.3", value=version),
                        version))
        for minor in SUPPORTED_KUBERNETES_VERSIONS:
            row = self.versions.get(minor)
            if row is None:
                errors.append((("versions",), _error(
                    "core_addon_row", "Kubernetes {minor} is supported but has no row; add versions.\"{minor}\" with "
                    "{addons}", minor=minor, addons=", ".join(CORE_ADDONS)), None))
                continue
            missing = [addon for addon in CORE_ADDONS if addon not in row]
            if missing:
                errors.append((("versions", minor), _error(
                    "core_addon_row", "Kubernetes {minor} has no version for {missing}; every row pins all of "
                    "{addons}", minor=minor, missing=", ".join(missing), addons=", ".join(CORE_ADDONS)), minor))
        _located("CoreAddonPins", errors)
        return self

    def for_version(self, kubernetes_version: str) -> dict[str, str]:
        """The four add-ons and their versions for a (supported) Kubernetes minor, in `CORE_ADDONS` order."""
        row = self.versions[kubernetes_version]
        return {addon: row[addon] for addon in CORE_ADDONS}
