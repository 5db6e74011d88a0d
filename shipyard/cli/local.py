"""`shipyard local up|status|down`: the local control plane on 127.0.0.1."""

from __future__ import annotations

import json

import click


@click.group("local")
def command() -> None:
    """The local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok and a
    LoadBalancer controller)."""


def _cluster(obj):
    from shipyard.local import LocalCluster

    return LocalCluster(obj.repo.root)


@command.command("up")
@click.pass_obj
def up(obj) -> int:
    """Start it (a no-op when it is already up); kubeconfig at $SHIPYARD_HOME/local/kubeconfig."""
    from shipyard.tools import print_log

    cluster = _cluster(obj)
    cluster.up(log=print_log)
    click.echo(str(cluster.kubeconfig))
    return 0


@command.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def status(obj, as_json: bool) -> int:
    """Show each component; exit 0 only when the cluster is healthy."""
    cluster = _cluster(obj)
    states = cluster.status()
    healthy = cluster.healthy()
    if as_json:
        click.echo(json.dumps({"healthy": healthy, "kubeconfig": str(cluster.kubeconfig),
                               "components": [s.as_json() for s in states]}, indent=2))
    else:
        for s in states:
            click.echo(f"{'running' if s.running else 'stopped':<8} {s.name:<24} {s.pid or ''}")
        click.echo(f"{'healthy' if healthy else 'NOT healthy'}; kubeconfig: {cluster.kubeconfig}; logs: {cluster.logs}")
    return 0 if healthy else 1


@command.command("down")
@click.option("--purge", is_flag=True, help="Also delete its data, certificates and logs.")
@click.pass_obj
def down(obj, purge: bool) -> int:
    """Stop every process it started; keep the data unless --purge."""
    from shipyard.tools import print_log

    _cluster(obj).down(purge=purge, log=print_log)
    return 0


@command.command("env")
@click.pass_obj
def env(obj) -> int:
    """Print shell exports for kubectl against the local cluster: eval "$(shipyard local env)"."""
    import shlex

    from shipyard.tools import Toolchain

    cluster = _cluster(obj)
    kubectl_dir = Toolchain(obj.repo.root).binary("kubectl").parent
    click.echo(f"export KUBECONFIG={shlex.quote(str(cluster.kubeconfig))}")
    click.echo(f"export PATH={shlex.quote(str(kubectl_dir))}:\"$PATH\"")
    return 0
