"""The real upstream chart archives (`../shared/charts`), and Helm chart repositories made of them.

`shared_charts()` finds the archives: `$SHIPYARD_TEST_CHARTS`, else a `shared/charts` folder holding
SHA256SUMS next to the repository or one of its parents (or those of the local repository it was cloned
from). Without them a test fails (never skips): they are
what proves the real charts work. `write_index` writes an index.yaml the way `helm repo index` does, read
from each archive's own Chart.yaml, so a FileServer over the folder is a real chart repository.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

ENV = "SHIPYARD_TEST_CHARTS"
REPO = Path(__file__).resolve().parents[2]


def shared_charts() -> Path:
    """The folder of real chart archives with their SHA256SUMS; fails the test when there is none."""
    configured = os.environ.get(ENV, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not (path / "SHA256SUMS").is_file():
            pytest.fail(f"{ENV}={configured} has no SHA256SUMS; point it at the folder of real chart archives "
                        "(<chart>-<version>.tgz with SHA256SUMS, ../shared/charts)")
        return path
    # Next to this checkout, or — for a clone made elsewhere from a local repository (a CI job's clean clone)
    # — next to the repository it was cloned from.
    for root in (REPO, *_origin()):
        for parent in root.parents:
            candidate = parent / "shared" / "charts"
            if (candidate / "SHA256SUMS").is_file():
                return candidate
    pytest.fail(f"the real chart archives were not found: set {ENV} to the folder holding <chart>-<version>.tgz "
                f"and SHA256SUMS (../shared/charts), none was found above {REPO}")


def _origin() -> list[Path]:
    """The local repository this checkout was cloned from, if it was (`remote.origin.url` is a path)."""
    try:
        url = subprocess.run(["git", "-C", str(REPO), "config", "--get", "remote.origin.url"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return []
    url = url.removeprefix("file://")
    return [Path(url).resolve()] if url.startswith("/") and Path(url).is_dir() else []


def sums(directory: Path) -> dict[str, str]:
    """File name -> `sha256:<hex>` as SHA256SUMS lists them."""
    listed = {}
    for line in (directory / "SHA256SUMS").read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            listed[name.strip().lstrip("*")] = f"sha256:{digest}"
    return listed


def sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def chart_metadata(archive: Path) -> dict:
    """The archive's own Chart.yaml (the top folder's), as `helm repo index` reads it."""
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == "Chart.yaml":
                return yaml.safe_load(tar.extractfile(member).read())
    raise AssertionError(f"{archive} has no <chart>/Chart.yaml")


def write_index(directory: Path, base_url: str | None = None) -> Path:
    """`helm repo index directory [--url base_url]`: an index.yaml over every archive in `directory`, with
    urls relative to the index (or absolute under `base_url`)."""
    entries: dict[str, list[dict]] = {}
    for archive in sorted(directory.glob("*.tgz")):
        meta = chart_metadata(archive)
        entry = {key: meta[key] for key in ("apiVersion", "appVersion", "description", "name", "type", "version")
                 if key in meta}
        entry.update(created="2025-09-01T00:00:00Z", digest=sha256(archive).removeprefix("sha256:"),
                     urls=[f"{base_url.rstrip('/')}/{archive.name}" if base_url else archive.name])
        entries.setdefault(meta["name"], []).append(entry)
    index = directory / "index.yaml"
    index.write_text(yaml.safe_dump({"apiVersion": "v1", "entries": entries, "generated": "2025-09-01T00:00:00Z"},
                                    sort_keys=True))
    return index


def copy_charts(target: Path, names: list[str] | None = None) -> Path:
    """A copy of the real archives (all, or `names`) in `target`, to serve or change freely."""
    source = shared_charts()
    target.mkdir(parents=True, exist_ok=True)
    for name in names or sorted(sums(source)):
        shutil.copy2(source / name, target / name)
    return target
