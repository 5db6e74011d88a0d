"""What `__main__.py` needs from the package: the validated stack file and the inputs that are not in it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi

from shipyard.catalog import MIRROR_DIR, Catalog
from shipyard.cost import CostEstimate, estimate
from shipyard.models import StackFile
from shipyard.paths import local_kubeconfig
from shipyard.repo import Repo
from shipyard.validation import check_stack

OFFLINE_CONFIG = "offline"
"""Set (to "true") by `shipyard preview --offline`: no kubeconfig or cluster is read."""
OFFLINE_KUBECONFIG = "offline-preview: no cluster is contacted"


@dataclass(frozen=True)
class LoadedStack:
    stack: StackFile
    catalog: Catalog
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
    if checked.diagnostics or checked.stack is None or checked.catalog is None or checked.policy.prices is None:
        lines = "\n".join(d.as_text() for d in checked.diagnostics)
        raise pulumi.RunError(f"stack '{stack_name}' is invalid; nothing was changed:\n{lines}")
    return LoadedStack(checked.stack, checked.catalog, estimate(checked.stack, checked.catalog, checked.policy.prices))


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


def chart_mirror_for(stack: StackFile, root: Path, config: pulumi.Config) -> Path | None:
    """`chartMirror` config (a path, relative to the repository), else the repository mirror for `local`
    clusters (the embedded default works air-gapped), else None: charts come from their repositories."""
    # Relative to the repository (the program's working directory): the chart path is recorded in the
    # state, and an absolute path would differ between a laptop and CI and show as a phantom diff.
    configured = config.get("chartMirror")
    if configured:
        return None if configured == "upstream" else Path(configured)
    if stack.cluster.provider == "local":
        return MIRROR_DIR
    return None
