"""What `__main__.py` needs from the package: the validated stack file and the inputs that are not in it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pulumi

from shipyard.catalog import Catalog
from shipyard.charts import MIRROR_CONFIG, ChartError, chart_pins, mirror_directory, stage_charts
from shipyard.cost import CostEstimate, estimate
from shipyard.models import StackFile
from shipyard.paths import local_kubeconfig
from shipyard.policy import Policy
from shipyard.repo import Repo
from shipyard.validation import check_stack

OFFLINE_CONFIG = "offline"
"""Set (to "true") by `shipyard preview --offline`: no kubeconfig or cluster is read."""
OFFLINE_KUBECONFIG = "offline-preview: no cluster is contacted"


@dataclass(frozen=True)
class LoadedStack:
    stack: StackFile
    catalog: Catalog
    policy: Policy
    cost: CostEstimate
    """Estimated monthly cost, exported so the next preview can show the change against what was applied."""


def load_stack(root: Path, stack_name: str) -> LoadedStack:
    """The stack file for `stack_name`, validated (catalog, policy, budget); any problem is a `pulumi.RunError`
    listing every diagnostic, raised before a single resource is registered."""
    repo = Repo(root)
    try:
        ref = repo.stack(stack_name)
    except Exception as exc:  # StackNotFoundError: reported as a clean RunError too
        raise pulumi.RunError(str(exc)) from None
    checked = check_stack(root, ref.path, repo.local_kubernetes_minor)
    policy, prices = checked.policy.policy, checked.policy.prices
    if checked.diagnostics or checked.stack is None or checked.catalog is None or policy is None or prices is None:
        lines = "\n".join(d.as_text() for d in checked.diagnostics)
        raise pulumi.RunError(f"stack '{stack_name}' is invalid; nothing was changed:\n{lines}")
    return LoadedStack(checked.stack, checked.catalog, policy, estimate(checked.stack, checked.catalog, prices))


def kubeconfig_for(stack: StackFile, root: Path, config: pulumi.Config) -> pulumi.Input[str] | None:
    """The kubeconfig of a `local` or `existing` cluster (None for eks, which builds its own)."""
    if stack.cluster.provider == "eks":
        return None
    if config.get_bool(OFFLINE_CONFIG):
        return OFFLINE_KUBECONFIG
    if stack.cluster.provider == "local":
        path = local_kubeconfig(root)
        if not path.is_file():
            raise pulumi.RunError(f"the local control plane is not running ({path} is missing); "
                                  "start it with `shipyard local up`")
        return pulumi.Output.secret(path.read_text(encoding="utf-8"))
    key = stack.cluster.kubeconfig_secret
    value = config.get_secret(key)
    if value is None:
        raise pulumi.RunError(f"stack '{stack.stack_name}' uses an existing cluster but config '{key}' is not set; "
                              f"run `shipyard config set-kubeconfig {stack.stack_name} KUBECONFIG_FILE` and commit "
                              f"config/Pulumi.{stack.stack_name}.yaml")
    return value


def addon_charts(loaded: LoadedStack, root: Path, config: pulumi.Config) -> dict[str, str]:
    """Add-on -> the repository-relative path of its chart archive, every archive verified against the
    catalog's digest and staged (`.charts/<chart>-<version>.tgz`) before a single resource is registered.
    From the chart mirror (`shipyard:chartMirror` config, else SHIPYARD_CHART_MIRROR) or the charts'
    repositories; any missing or mismatching archive is a `pulumi.RunError` naming each one.

    Offline previews contact no chart source: they plan the same paths, unverified."""
    pins = chart_pins(loaded.catalog, loaded.catalog.addons_for(loaded.stack))
    if config.get_bool(OFFLINE_CONFIG):
        return {pin.addon: pin.staged for pin in pins}
    mirror = mirror_directory(config.get(MIRROR_CONFIG), os.environ, root)
    try:
        staged = stage_charts(pins, root, mirror, log=lambda line: pulumi.log.info(line))
    except ChartError as exc:
        source = f"the chart mirror {mirror}" if mirror else "the charts' repositories"
        raise pulumi.RunError(f"stack '{loaded.stack.stack_name}': add-on charts could not be obtained from "
                              f"{source} with their pinned digests; nothing was changed:\n{exc}") from None
    return {name: chart.path for name, chart in staged.items()}
