"""`shipyard config set-kubeconfig STACK FILE`: an existing cluster's credentials, encrypted and committed."""

from __future__ import annotations

from pathlib import Path

import click

from shipyard.errors import ShipyardError


@click.group("config")
def command() -> None:
    """Stack config that lives in Git (`config/Pulumi.<stack>.yaml`, Pulumi's own format)."""


@command.command("set-kubeconfig")
@click.argument("stack")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def set_kubeconfig(obj, stack: str, file: Path) -> int:
    """Encrypt FILE (a self-contained kubeconfig) with STACK's secrets provider into config/Pulumi.STACK.yaml.

    STACK must use `cluster.provider: existing`; the value is stored under its `kubeconfigSecret` key
    (default `kubeconfig`). Needs the shared state configured as in CI (PULUMI_BACKEND_URL and
    SHIPYARD_SECRETS_PROVIDER or PULUMI_CONFIG_PASSPHRASE). Commit the file: a fresh clone with only
    the documented secrets can then run the stack. Exit 0 when stored, 1 otherwise.
    """
    from shipyard.cli.selection import known_stacks
    from shipyard.engine import Engine
    from shipyard.errors import InvalidInputError, relpath
    from shipyard.kubeconfig import read_kubeconfig
    from shipyard.validation import check_stack

    repo = obj.repo
    known_stacks(repo, [stack])  # before anything: an unknown name never reaches the state backend
    ref = repo.stack(stack)
    checked = check_stack(repo.root, ref.path, repo.local_kubernetes_minor)
    if checked.diagnostics:
        raise InvalidInputError(checked.diagnostics)
    model = checked.stack
    if model.cluster.provider != "existing":
        raise ShipyardError(f"stack '{stack}' uses cluster.provider '{model.cluster.provider}'; only 'existing' "
                            "clusters take a kubeconfig (local clusters use the local control plane's, eks "
                            "clusters make their own)")
    text = read_kubeconfig(file)
    key = model.cluster.kubeconfig_secret
    target = Engine(repo.root).set_config_secret(stack, key, text)
    click.echo(f"{stack}: kubeconfig encrypted as secret config '{key}' in {relpath(target, repo.root)}; "
               "commit it", err=True)
    return 0
