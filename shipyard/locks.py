"""Stack locks of Pulumi's DIY backends: who holds one, for how long, and whether that process still exists.

An update takes a lock object `.pulumi/locks/organization/<project>/<stack>/<id>.json` in the backend
(`{"pid", "username", "hostname", "timestamp"}`) and deletes it when it ends. A process killed mid-update
(SIGKILL, a runner that vanished) leaves it behind, and every later update of the stack is refused.
Shipyard reads those objects to say who holds a lock and for how long, and `shipyard unlock` removes one
only when its holder is provably gone (same host, no such process) unless told `--force`. Removal itself
is the engine's own `pulumi cancel`.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from shipyard.errors import ShipyardError
from shipyard.processes import running

_HOLDER = re.compile(r"created by (?P<user>[^@\s]*)@(?P<host>\S+) \(pid (?P<pid>\d+)\) at (?P<at>\S+)")


@dataclass(frozen=True)
class Lock:
    """One lock object and its holder."""

    where: str
    pid: int
    username: str
    hostname: str
    taken: datetime | None

    @property
    def holder(self) -> str:
        return f"{self.username}@{self.hostname} (pid {self.pid})"

    def alive(self) -> bool | None:
        """True/False when the holder is on this host (its process exists or not); None on another host."""
        if self.hostname != socket.gethostname():
            return None
        # The holder is always a `pulumi` process: a zombie, or another program that reused the id, is not it.
        return running(self.pid, "pulumi")

    def describe(self, now: datetime | None = None) -> str:
        age = f" for {_age(self.taken, now)}" if self.taken else ""
        state = {True: "its process is still running", False: "its process is gone",
                 None: "on another host, whose processes `shipyard unlock` cannot check"}[self.alive()]
        return f"held by {self.holder}{age}: {state}"


def holder_from_message(text: str) -> Lock | None:
    """The lock holder named in the engine's "the stack is currently locked" message, if any."""
    match = _HOLDER.search(text)
    if not match:
        return None
    return Lock("", int(match["pid"]), match["user"], match["host"], _timestamp(match["at"]))


def read_locks(backend_url: str, project: str, stack: str) -> list[Lock] | None:
    """Every lock of `stack` in the backend; None for backends whose locks Shipyard cannot list (all but
    `file://` and `s3://`; Pulumi Cloud locks are its service's business)."""
    parts = urlsplit(backend_url)
    suffix = f"organization/{project}/{stack}/"
    if parts.scheme == "file":
        folder = Path(unquote(parts.path)) / ".pulumi" / "locks" / suffix
        files = sorted(folder.glob("*.json")) if folder.is_dir() else []
        return [_parse(str(f), f.read_bytes()) for f in files]
    if parts.scheme == "s3":
        return _s3_locks(parts, f".pulumi/locks/{suffix}")
    return None


def remove_locks(backend_url: str, locks: list[Lock]) -> None:
    """Delete exactly these lock objects — never "every lock of the stack" (`pulumi cancel`), which would also
    take the lock of an update that started after they were inspected."""
    parts = urlsplit(backend_url)
    for lock in locks:
        if parts.scheme == "file":
            Path(lock.where).unlink(missing_ok=True)
        elif parts.scheme == "s3":
            bucket_and_key = lock.where[len("s3://"):]
            bucket, _, key = bucket_and_key.partition("/")
            try:
                _s3_client(parts).delete_object(Bucket=bucket, Key=key)
            except Exception as exc:  # botocore raises many types; all mean the same to the user
                raise ShipyardError(f"could not delete the lock {key} in the state bucket: {type(exc).__name__}") \
                    from None
        else:
            raise ShipyardError(f"locks of {parts.scheme}:// backends cannot be removed one by one")


def _s3_client(parts):
    import boto3
    from botocore.config import Config

    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    path_style = query.get("use_path_style", query.get("s3ForcePathStyle", "")).lower() == "true"
    return boto3.client("s3", region_name=query.get("region"), endpoint_url=query.get("endpoint") or None,
                        config=Config(s3={"addressing_style": "path" if path_style else "auto"}))


def _s3_locks(parts, prefix: str) -> list[Lock]:
    client = _s3_client(parts)
    base = parts.path.strip("/")
    key_prefix = f"{base}/{prefix}" if base else prefix
    locks: list[Lock] = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=parts.netloc, Prefix=key_prefix):
            for item in page.get("Contents", []):
                body = client.get_object(Bucket=parts.netloc, Key=item["Key"])["Body"].read()
                locks.append(_parse(f"s3://{parts.netloc}/{item['Key']}", body))
    except Exception as exc:  # botocore raises many types; all mean the same to the user
        raise ShipyardError(f"could not list the stack's locks in the state bucket: {type(exc).__name__}") from None
    return locks


def _parse(where: str, body: bytes) -> Lock:
    try:
        data = json.loads(body)
        return Lock(where, int(data.get("pid", 0)), str(data.get("username", "?"))[:80],
                    str(data.get("hostname", "?"))[:80], _timestamp(str(data.get("timestamp", ""))))
    except (ValueError, TypeError, AttributeError):
        return Lock(where, 0, "?", "?", None)


def _timestamp(text: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _age(taken: datetime, now: datetime | None = None) -> str:
    seconds = max(0, int(((now or datetime.now(timezone.utc)) - taken).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
