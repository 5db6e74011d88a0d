"""The add-on catalog (`addons/catalog.yaml`): pinned Helm charts and the bundles that group them.

The platform team owns the data; this module is its model, its validation and the
one rule that decides which add-ons a stack gets: bundles + enable - disable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator

from shipyard.models import DnsLabel, _error, _located, _Model

if TYPE_CHECKING:
    from shipyard.models import StackFile

CATALOG_FILE = Path("addons") / "catalog.yaml"

# Exact chart versions only: `4.13.3` or `v1.18.2`, optional pre-release/build. No ranges, no wildcards.
_EXACT_VERSION = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
# http:// too: the pinned digest, not the transport, is what guarantees the archive (internal repositories).
_REPOSITORY = re.compile(r"^(https?://|oci://)[^\s]+$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class AddonEntry(_Model):
    """One add-on: a Helm chart at an exact version, installed into its own namespace."""

    description: str
    """What the add-on does, in one line."""
    chart: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    """Chart name in its repository."""
    repository: str
    """Upstream Helm chart repository (https://, http:// or oci://; oci:// charts install from a chart mirror only)."""
    version: str
    """Exact chart version; ranges are rejected so every preview is reproducible."""
    digest: str
    """`sha256:<hex>` of the chart archive `<chart>-<version>.tgz`: every archive is checked against it before
    anything is installed, whether it comes from a chart mirror or the repository."""
    namespace: DnsLabel
    """Namespace the chart is installed into."""
    values: dict[str, Any] = Field(default_factory=dict)
    """Default Helm values; a stack's `addons.values.<name>` is deep-merged over them."""
    local_values: dict[str, Any] = Field(default_factory=dict)
    """Values deep-merged over `values` (and under the stack's own) only on `cluster.provider: local`, whose
    pods are simulated: what a chart needs there that it cannot have (a webhook that must answer)."""
    load_balancers: int = Field(default=0, ge=0, le=10)
    """Cloud load balancers the add-on creates (a Service of type LoadBalancer each); priced in cost estimates."""

    @field_validator("version")
    @classmethod
    def _exact(cls, value: str) -> str:
        if not _EXACT_VERSION.match(value):
            raise _error("exact_version", "chart version '{value}' is not an exact version; pin it, e.g. 4.13.3 "
                         "(ranges and wildcards make previews unreproducible)", value=value)
        return value

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not _REPOSITORY.match(value):
            raise _error("repository", "repository '{value}' must be an https://, http:// or oci:// URL", value=value)
        return value

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not _DIGEST.match(value):
            raise _error("digest", "digest '{value}' is not a sha256 digest; write sha256:<64 lower-case hex digits>, "
                         "the sha256 of the chart archive (`sha256sum <chart>-<version>.tgz`)", value=value)
        return value

    @model_validator(mode="before")
    @classmethod
    def _digest_pinned(cls, data: Any) -> Any:
        if isinstance(data, dict) and "digest" not in data:
            raise _error("missing_digest", "missing 'digest': pin the chart archive next to its version, e.g. "
                         "digest: sha256:<64 hex digits> (the sha256 of <chart>-<version>.tgz); an unpinned archive "
                         "could change under the same version")
        return data


class Bundle(_Model):
    """A named group of add-ons teams enable together."""

    description: str
    """What the bundle is for."""
    addons: list[str] = Field(min_length=1)
    """Add-on names from this catalog."""


class Catalog(_Model):
    """The platform's add-on catalog."""

    addons: dict[DnsLabel, AddonEntry]
    """Every add-on teams can get, by name."""
    bundles: dict[DnsLabel, Bundle]
    """Named groups of add-ons."""

    @model_validator(mode="after")
    def _bundles_reference_entries(self) -> Catalog:
        errors = []
        for name, bundle in self.bundles.items():
            for index, addon in enumerate(bundle.addons):
                if addon not in self.addons:
                    errors.append((("bundles", name, "addons", index),
                                   _error("unknown_addon", "bundle '{bundle}' lists '{addon}', which is not an add-on "
                                          "in this catalog; known: {known}", bundle=name, addon=addon,
                                          known=", ".join(sorted(self.addons))), addon))
        _located("Catalog", errors)
        return self

    # -- the one rule: what a stack gets ------------------------------------------------------------
    def addons_for(self, stack: StackFile) -> list[str]:
        """Sorted add-on names a (valid) stack gets: its bundles' add-ons plus `enable`, minus `disable`."""
        chosen: set[str] = set(stack.addons.enable)
        for bundle in stack.addons.bundles:
            chosen.update(self.bundles[bundle].addons)
        return sorted(chosen - set(stack.addons.disable))

    def check_stack(self, stack: StackFile) -> list[tuple[tuple[str | int, ...], Any, Any]]:
        """Catalog rules for a stack file, each located at the offending key (used by the model validator)."""
        errors: list[tuple[tuple[str | int, ...], Any, Any]] = []
        spec = stack.addons
        known_addons = ", ".join(sorted(self.addons))
        from_bundles: dict[str, str] = {}
        for index, bundle in enumerate(spec.bundles):
            if bundle not in self.bundles:
                errors.append((("addons", "bundles", index),
                               _error("unknown_bundle", "unknown bundle '{name}'; the catalog has: {known}",
                                      name=bundle, known=", ".join(sorted(self.bundles))), bundle))
                continue
            for addon in self.bundles[bundle].addons:
                from_bundles.setdefault(addon, bundle)
        for key in ("bundles", "enable", "disable"):
            seen: set[str] = set()
            for index, name in enumerate(getattr(spec, key)):
                if name in seen:
                    errors.append((("addons", key, index), _error("duplicate", "'{name}' is listed twice in "
                                                                  "addons.{key}; remove one", name=name, key=key),
                                   name))
                seen.add(name)
        for key in ("enable", "disable"):
            for index, name in enumerate(getattr(spec, key)):
                if name not in self.addons:
                    errors.append((("addons", key, index), _error("unknown_addon", "unknown add-on '{name}'; the "
                                                                  "catalog has: {known}", name=name,
                                                                  known=known_addons), name))
        for index, name in enumerate(spec.enable):
            if name in from_bundles:
                errors.append((("addons", "enable", index),
                               _error("redundant", "'{name}' already comes with bundle '{bundle}'; remove it from "
                                      "addons.enable", name=name, bundle=from_bundles[name]), name))
            if name in spec.disable:
                errors.append((("addons", "enable", index),
                               _error("conflict", "'{name}' is both enabled and disabled; keep one", name=name), name))
        for index, name in enumerate(spec.disable):
            if name in self.addons and name not in from_bundles:
                errors.append((("addons", "disable", index),
                               _error("not_in_bundle", "'{name}' is not brought by any of this stack's bundles, so "
                                      "there is nothing to disable; remove it", name=name), name))
        gets = set(spec.enable) | set(from_bundles)
        gets -= set(spec.disable)
        for name in spec.values:
            if name not in self.addons:
                errors.append((("addons", "values", name), _error("unknown_addon", "values for unknown add-on "
                                                                  "'{name}'; the catalog has: {known}", name=name,
                                                                  known=known_addons), name))
            elif name not in gets:
                errors.append((("addons", "values", name),
                               _error("values_without_addon", "values for '{name}', which this stack does not get; "
                                      "enable it (addons.enable) or remove these values", name=name), name))
        # An add-on's namespace is the platform's: its controller runs there with cluster-wide rights, so a
        # team's `admin` binding in it would be cluster admin. Reserved whether or not this stack gets it.
        addon_namespaces: dict[str, str] = {}
        for addon_name, entry in sorted(self.addons.items()):
            addon_namespaces.setdefault(entry.namespace, addon_name)
        for index, namespace in enumerate(stack.namespaces):
            owner = addon_namespaces.get(namespace.name)
            if owner is not None:
                errors.append((("namespaces", index, "name"),
                               _error("addon_namespace", "namespace '{name}' belongs to the add-on '{addon}' "
                                      "(addons/catalog.yaml); pick another name", name=namespace.name, addon=owner),
                               namespace.name))
        return errors

