"""A real S3 and KMS API on loopback (moto's server, pinned in requirements.lock): the shared state
backend and the secrets provider the production path uses, without an AWS account."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
               "AWS_DEFAULT_REGION": REGION}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class FakeAws:
    url: str
    process: subprocess.Popen

    def client(self, service: str):
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def bucket(self, name: str) -> str:
        """A new bucket, as the Pulumi CLI addresses it (path style, the loopback endpoint)."""
        self.client("s3").create_bucket(Bucket=name)
        return f"s3://{name}?endpoint={self.url}&use_path_style=true&region={REGION}"

    def kms_alias(self, alias: str) -> str:
        """A new KMS key behind `alias/<alias>`, as a Pulumi secrets provider URL."""
        kms = self.client("kms")
        key = kms.create_key(Description=f"shipyard test key {alias}")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=f"alias/{alias}", TargetKeyId=key)
        return f"awskms://alias/{alias}?region={REGION}&endpoint={self.url}"

    def objects(self, bucket: str) -> list[str]:
        pages = self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_fake_aws(log: Path) -> FakeAws:
    port = free_port()
    handle = log.open("w")
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **CREDENTIALS})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return FakeAws(url, process)
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"moto server did not listen on {url} within 60 s")
