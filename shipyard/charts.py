"""The catalog's chart archives: the one Helm repository client, chart mirrors, and the staging every install
goes through.

- A *chart mirror* is a directory of archives named as `helm pull` names them, `<chart>-<version>.tgz`
  (`SHIPYARD_CHART_MIRROR`, or the stack config `shipyard:chartMirror`, which wins; `upstream` forces the
  repositories). `shipyard charts pull --to DIR` fills one.
- A *chart repository* is read through the Helm repository protocol: GET `<repository>/index.yaml`, take the
  entry for the exact version, download its `urls[0]` resolved against the repository URL.
- Every archive must have the catalog's `digest` (sha256 of the archive) before it is used: a missing archive
  or a mismatch is an error naming the file (or URL) and both digests.
- The program installs *staged* archives: `.charts/<chart>-<version>.tgz` in the repository, a path that is
  the same on every machine and for every source (the chart path is recorded in the Pulumi state, so a mirror
  at another place on disk would otherwise show as a phantom diff between a laptop and CI). Every file is
  written to a temporary name, verified, then renamed: concurrent runs and killed runs never leave a partial
  archive under the final name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import yaml

from shipyard.errors import ShipyardError, shown
from shipyard.secrets import public_url

if TYPE_CHECKING:
    import httpx

    from shipyard.catalog import Catalog

STAGING_DIR = ".charts"
"""Where verified archives are staged, relative to the repository root (the program's working directory);
git-ignored. Never under SHIPYARD_HOME, which can move: the path is part of every stack's state."""
MIRROR_ENV = "SHIPYARD_CHART_MIRROR"
MIRROR_CONFIG = "chartMirror"
"""Pulumi config key (`shipyard:chartMirror`): a mirror directory, or `upstream` for the chart repositories."""
UPSTREAM = "upstream"

MAX_INDEX_BYTES = 64 << 20
"""A repository's index.yaml lists every version of every chart: the biggest public ones are tens of MiB."""
MAX_INDEX_DEPTH = 32
"""An index nests 5 levels deep; more is not an index."""
MAX_ARCHIVE_BYTES = 64 << 20
"""The biggest of the catalog's charts, vendored dependencies included, is under 1 MiB."""

Log = Callable[[str], None]


class ChartError(ShipyardError):
    """A chart archive could not be obtained or is not the one the catalog pins."""


def _quiet(line: str) -> None:
    pass


# -- what is pinned ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChartPin:
    """One add-on's chart as the catalog pins it."""

    addon: str
    chart: str
    version: str
    digest: str
    """`sha256:<hex>` of the archive."""
    repository: str

    @property
    def file(self) -> str:
        """The archive's name, as `helm pull` writes it."""
        return archive_name(self.chart, self.version)

    @property
    def staged(self) -> str:
        """The repository-relative path the program installs this chart from."""
        return (PurePosixPath(STAGING_DIR) / self.file).as_posix()


def archive_name(chart: str, version: str) -> str:
    return f"{chart}-{version}.tgz"


def chart_pins(catalog: Catalog, addons: Iterable[str] | None = None) -> list[ChartPin]:
    """The pins of `addons` (default: every add-on of the catalog), sorted by add-on name."""
    names = sorted(catalog.addons if addons is None else set(addons))
    return [ChartPin(addon=name, chart=entry.chart, version=entry.version, digest=entry.digest,
                     repository=entry.repository) for name in names for entry in [catalog.addons[name]]]


def file_digest(path: Path) -> str:
    """`sha256:<hex>` of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def mirror_directory(configured: str | None, environ: Mapping[str, str], root: Path) -> Path | None:
    """The chart mirror in use: the `shipyard:chartMirror` config (which wins; `upstream` means the chart
    repositories), else SHIPYARD_CHART_MIRROR, else None (the chart repositories). A relative path is taken
    relative to the repository root."""
    value = configured.strip() if configured else ""
    if value == UPSTREAM:
        return None
    value = value or environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else root / path


def resolve_url(repository: str, reference: str) -> str:
    """`reference` (an index's `urls[0]`, or `index.yaml`) against a repository URL, as Helm resolves it: an
    absolute URL stays; a relative one is taken under the repository path (a trailing `/` is implied), keeping
    the repository URL's query (signed URLs)."""
    if urlsplit(reference).scheme:
        return reference
    base = urlsplit(repository)
    directory = urlunsplit(base._replace(path=base.path.rstrip("/") + "/", query="", fragment=""))
    resolved = urlsplit(urljoin(directory, reference))
    return urlunsplit(resolved._replace(query=base.query or resolved.query))


# -- the index ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IndexEntry:
    """One version of a chart in a repository's index.yaml."""

    version: str
    digest: str | None
    """`sha256:<hex>` as the index states it, if it does."""
    urls: tuple[str, ...]


try:  # libyaml's event parser: a state machine (no recursion), in every PyYAML wheel
    from yaml._yaml import CParser as _EventParser
except ImportError:  # pragma: no cover
    _EventParser = yaml.SafeLoader


class _Frame:
    """An open mapping or sequence of the index while it is read; `keep` False: skipped (shape only)."""

    __slots__ = ("container", "is_map", "key", "path", "keep")

    def __init__(self, is_map: bool, path: tuple[str | int, ...], keep: bool):
        self.is_map = is_map
        self.container: Any = ({} if is_map else []) if keep else None
        self.key: str | None = None
        self.path = path
        self.keep = keep


def parse_index(text: str | bytes, chart: str, where: str) -> list[IndexEntry]:
    """The entries of `chart` in a Helm repository index (`where` names it in errors).

    Indexes are large and come from the network: they are read from libyaml's event stream with an explicit
    stack, building only `apiVersion` and `entries.<chart>`, refusing nesting past MAX_INDEX_DEPTH and any
    anchor or alias (Helm never writes them; they are how YAML bombs are made). Scalars stay strings, as
    Helm reads these fields (a version `1.10` is not the number 1.1)."""
    parser = _EventParser(text)
    stack: list[_Frame] = []
    root: Any = None
    documents = 0

    def wanted(path: tuple[str | int, ...]) -> bool:
        return not path or (path[0] == "entries" and (len(path) == 1 or path[1] == chart))

    def add(value: Any) -> None:
        nonlocal root
        if not stack:
            root = value
            return
        top = stack[-1]
        if top.is_map:
            if top.keep:
                top.container[top.key] = value
            top.key = None
        elif top.keep:
            top.container.append(value)

    try:
        while True:
            event = parser.get_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise ChartError(f"{where} uses YAML anchors or aliases, which Helm never writes; refusing it")
            if isinstance(event, yaml.ScalarEvent):
                if stack and stack[-1].is_map and stack[-1].key is None:
                    stack[-1].key = event.value
                else:
                    add(event.value)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(stack) >= MAX_INDEX_DEPTH:
                    raise ChartError(f"{where} nests deeper than {MAX_INDEX_DEPTH} levels; it is not a Helm "
                                     "repository index")
                if not stack:
                    path: tuple[str | int, ...] = ()
                    keep = True
                else:
                    top = stack[-1]
                    if top.is_map and top.key is None:
                        raise ChartError(f"{where} has a mapping key that is not a string; it is not a Helm "
                                         "repository index")
                    step: str | int = top.key if top.is_map else len(top.container or ())  # type: ignore[assignment]
                    path = top.path + (step,)
                    keep = top.keep and wanted(path)
                stack.append(_Frame(isinstance(event, yaml.MappingStartEvent), path, keep))
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                add(stack.pop().container)
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise ChartError(f"{where} holds more than one YAML document; it is not a Helm repository index")
            elif isinstance(event, yaml.StreamEndEvent):
                break
    except yaml.YAMLError as exc:
        raise ChartError(f"{where} is not valid YAML: {shown(exc, 200)}") from None
    except UnicodeError:
        raise ChartError(f"{where} is not UTF-8 text") from None
    finally:
        parser.dispose()
    if not isinstance(root, dict) or not root.get("apiVersion") or not isinstance(root.get("entries"), dict):
        raise ChartError(f"{where} is not a Helm repository index (no apiVersion and entries)")
    listed = root["entries"].get(chart)
    if listed is None:
        raise ChartError(f"chart '{shown(chart)}' is not in {where}")
    if not isinstance(listed, list):
        raise ChartError(f"{where}: entries.{shown(chart)} is not a list of chart versions")
    entries = []
    for item in listed:
        if not isinstance(item, dict) or not isinstance(item.get("version"), str):
            continue
        urls = item.get("urls")
        digest = item.get("digest")
        entries.append(IndexEntry(
            version=item["version"],
            digest=f"sha256:{digest.lower()}" if isinstance(digest, str) and digest else None,
            urls=tuple(u for u in urls if isinstance(u, str) and u) if isinstance(urls, list) else ()))
    return entries


def find_version(entries: list[IndexEntry], version: str) -> IndexEntry | None:
    """The entry of exactly `version` (Helm compares versions as semver: a leading `v` does not count)."""
    for entry in entries:
        if entry.version == version:
            return entry
    for entry in entries:
        if entry.version.removeprefix("v") == version.removeprefix("v"):
            return entry
    return None


# -- the repository client ---------------------------------------------------------------------------------
class _Transient(Exception):
    """Worth another attempt: a dropped connection, a timeout, a 5xx or 429 answer."""


class _TooLarge(Exception):
    pass


class HelmRepositories:
    """The one client of Helm chart repositories: index.yaml (fetched once per repository and run) and
    archive downloads over https or http, with timeouts, size caps and retries with backoff for transient
    errors. Use as a context manager."""

    RETRY_STATUS = frozenset({429, 500, 502, 503, 504})

    def __init__(self, attempts: int = 3, backoff: float = 1.0, timeout: float = 60.0, connect_timeout: float = 15.0,
                 deadline: float = 600.0, max_index_bytes: int = MAX_INDEX_BYTES,
                 max_archive_bytes: int = MAX_ARCHIVE_BYTES, log: Log = _quiet):
        self.attempts = attempts
        self.backoff = backoff
        """Seconds before the second attempt, doubling after."""
        self.timeout = timeout
        """Seconds any one read may wait."""
        self.connect_timeout = connect_timeout
        self.deadline = deadline
        """Seconds one attempt may take in all: a server trickling bytes cannot hold a run forever."""
        self.max_index_bytes = max_index_bytes
        self.max_archive_bytes = max_archive_bytes
        self.log = log
        self._client: httpx.Client | None = None
        self._indexes: dict[tuple[str, str], list[IndexEntry]] = {}
        self._texts: dict[str, bytes | ChartError] = {}

    def __enter__(self) -> HelmRepositories:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            # Identity encoding: the bytes written are exactly the bytes the digest was computed over.
            self._client = httpx.Client(follow_redirects=True,
                                        timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
                                        headers={"User-Agent": "shipyard-charts", "Accept-Encoding": "identity"})
        return self._client

    def _get(self, url: str, what: str, limit: int, sink: Callable[[bytes], None]) -> None:
        """Stream `url`'s body into `sink`, with retries; raises ChartError naming `what` and the URL."""
        import httpx

        scheme = urlsplit(url).scheme
        if scheme not in ("https", "http"):
            raise ChartError(f"cannot download {what} from {shown(public_url(url))}: only https:// and http:// "
                             "URLs are supported")
        reason = ""
        for number in range(self.attempts):
            if number:
                time.sleep(self.backoff * 2 ** (number - 1))
            received = 0
            started = time.monotonic()
            try:
                with self._http().stream("GET", url) as response:
                    if response.status_code != 200:
                        reason = f"HTTP {response.status_code}"
                        if response.status_code in self.RETRY_STATUS:
                            raise _Transient(reason)
                        raise ChartError(f"cannot download {what} from {shown(public_url(url))}: {reason}"
                                         + (" (not found)" if response.status_code == 404 else ""))
                    try:
                        declared = int(response.headers.get("content-length") or 0)
                    except ValueError:
                        declared = 0
                    if declared > limit:
                        raise _TooLarge()
                    chunks = []
                    for chunk in response.iter_bytes(1 << 20):
                        received += len(chunk)
                        if received > limit:
                            raise _TooLarge()
                        if time.monotonic() - started > self.deadline:
                            raise _Transient(f"took longer than {self.deadline:g} s")
                        chunks.append(chunk)
                    if declared and received != declared and "content-encoding" not in response.headers:
                        raise _Transient(f"received {received} of {declared} bytes")
                    for chunk in chunks:
                        sink(chunk)
                    return
            except _TooLarge:
                size = f"{limit >> 20} MiB" if limit >= 1 << 20 else f"{limit} bytes"
                raise ChartError(f"{what} at {shown(public_url(url))} is larger than {size}; refusing it") from None
            except _Transient as exc:
                reason = str(exc)
            except httpx.TransportError as exc:
                reason = str(exc) or type(exc).__name__
            except httpx.HTTPError as exc:  # an invalid URL, too many redirects: no retry helps
                raise ChartError(f"cannot download {what} from {shown(public_url(url))}: {shown(exc, 200)}") from None
        raise ChartError(f"chart repository unreachable: cannot download {what} from {shown(public_url(url))}: "
                         f"{shown(reason, 200)} (after {self.attempts} attempts)")

    def index(self, repository: str, chart: str) -> list[IndexEntry]:
        """The versions of `chart` the repository's index lists (one download per repository and client)."""
        if repository.startswith("oci://"):
            raise ChartError(f"{shown(public_url(repository))} is an OCI registry, which Shipyard does not pull "
                             "from: put the archive in a chart mirror (`helm pull "
                             f"{shown(public_url(repository))}/{shown(chart)} --version VERSION`) and set "
                             f"{MIRROR_ENV}")
        key = (repository, chart)
        if key not in self._indexes:
            url = resolve_url(repository, "index.yaml")
            if url not in self._texts:
                parts: list[bytes] = []
                self.log(f"==> reading {public_url(url)}")
                try:
                    self._get(url, "index.yaml", self.max_index_bytes, parts.append)
                    self._texts[url] = b"".join(parts)
                except ChartError as exc:  # asked once per run: every chart of that repository gets the answer
                    self._texts[url] = exc
            text = self._texts[url]
            if isinstance(text, ChartError):
                raise ChartError(str(text))
            self._indexes[key] = parse_index(text, chart, shown(public_url(url)))
        return self._indexes[key]

    def locate(self, pin: ChartPin) -> str:
        """The URL of `pin`'s archive, checked against the index's digest when the index states one."""
        entries = self.index(pin.repository, pin.chart)
        where = f"{shown(public_url(resolve_url(pin.repository, 'index.yaml')))}"
        entry = find_version(entries, pin.version)
        if entry is None:
            listed = ", ".join(shown(e.version, 20) for e in entries[:5]) + (", …" if len(entries) > 5 else "")
            raise ChartError(f"add-on '{pin.addon}': version {shown(pin.version)} of chart '{shown(pin.chart)}' is "
                             f"not in {where} (it lists {len(entries)} version(s): {listed or 'none'}); fix the pin "
                             "in addons/catalog.yaml")
        if not entry.urls:
            raise ChartError(f"add-on '{pin.addon}': {where} lists {pin.chart} {pin.version} without a download URL")
        url = resolve_url(pin.repository, entry.urls[0])
        if entry.digest is not None and entry.digest != pin.digest:
            raise ChartError(f"add-on '{pin.addon}': {where} lists {pin.file} ({shown(public_url(url))}) with digest "
                             f"{shown(entry.digest)}, but addons/catalog.yaml pins {pin.digest}; the repository "
                             "publishes another archive under this version: check it before changing the pin")
        return url

    def download(self, pin: ChartPin, url: str, sink: Callable[[bytes], None]) -> None:
        self._get(url, pin.file, self.max_archive_bytes, sink)


# -- writing archives ---------------------------------------------------------------------------------------
Producer = Callable[[Callable[[bytes], None]], None]
"""Feeds an archive's bytes, chunk by chunk, to the sink it is given."""


def _write_verified(target: Path, pin: ChartPin, source: str, produce: Producer) -> None:
    """Write what `produce` feeds into `target`, atomically, only if it has `pin.digest`: the bytes go to a
    temporary file next to `target` while hashed, then are renamed over it. Raises ChartError (nothing is
    written) on a mismatch."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            def sink(chunk: bytes) -> None:
                out.write(chunk)
                digest.update(chunk)

            produce(sink)
            out.flush()
            os.fsync(out.fileno())
        got = f"sha256:{digest.hexdigest()}"
        if got != pin.digest:
            raise ChartError(f"add-on '{pin.addon}': {source} has digest {got}, but addons/catalog.yaml pins "
                             f"{pin.digest}; refusing it (nothing was written)")
        os.chmod(partial, 0o644)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def _copy_from(path: Path) -> Producer:
    def produce(sink: Callable[[bytes], None]) -> None:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                sink(chunk)

    return produce


def _matches(path: Path, digest: str) -> bool:
    try:
        return path.is_file() and file_digest(path) == digest
    except OSError:
        return False


# -- staging: what the program installs ---------------------------------------------------------------------
@dataclass(frozen=True)
class StagedChart:
    pin: ChartPin
    path: str
    """Repository-relative, e.g. `.charts/ingress-nginx-4.13.3.tgz`: what `helm.v4.Chart` gets as `chart`."""
    source: str
    """`staged` (already there with the right digest), the mirror file, or the URL it was downloaded from."""


def stage_charts(pins: Iterable[ChartPin], root: Path, mirror: Path | None,
                 repositories: HelmRepositories | None = None, log: Log = _quiet) -> dict[str, StagedChart]:
    """Every pin's archive, verified against its digest and staged at `root/.charts/<file>` (add-on -> staged
    chart). From `mirror` when set (an archive missing there is an error; the repositories are not asked),
    else from the chart repositories. A staged archive that already has the digest is reused as is.
    Raises one ChartError listing every archive that failed; nothing is staged for those."""
    staged: dict[str, StagedChart] = {}
    problems: list[str] = []
    own = repositories is None
    client = repositories or HelmRepositories(log=log)
    try:
        for pin in pins:
            target = root / pin.staged
            try:
                if _matches(target, pin.digest):
                    staged[pin.addon] = StagedChart(pin, pin.staged, "staged")
                    continue
                if mirror is not None:
                    source = mirror / pin.file
                    if not source.is_file():
                        raise ChartError(f"add-on '{pin.addon}': the chart mirror has no {pin.file} (looked for "
                                         f"{source}; expected digest {pin.digest}); add it with `shipyard charts "
                                         f"pull --to {mirror} {pin.addon}` or `helm pull`")
                    _write_verified(target, pin, str(source), _copy_from(source))
                    staged[pin.addon] = StagedChart(pin, pin.staged, str(source))
                else:
                    url = client.locate(pin)
                    log(f"==> downloading {pin.file} from {public_url(url)}")
                    _write_verified(target, pin, shown(public_url(url), 200),
                                    lambda sink, pin=pin, url=url: client.download(pin, url, sink))
                    staged[pin.addon] = StagedChart(pin, pin.staged, public_url(url))
            except ChartError as exc:
                problems.append(str(exc))
            except OSError as exc:
                problems.append(f"add-on '{pin.addon}': cannot stage {pin.staged}: {exc.strerror or exc}")
    finally:
        if own:
            client.__exit__()
    if problems:
        raise ChartError("\n".join(problems))
    return staged


# -- pulling: filling a mirror --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PulledChart:
    pin: ChartPin
    file: Path
    status: str
    """`pulled` (downloaded), `present` (already there with the right digest, kept) or `replaced` (there with
    another digest, replaced by the verified download)."""
    url: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"addon": self.pin.addon, "chart": self.pin.chart, "version": self.pin.version,
                "digest": self.pin.digest, "file": str(self.file), "status": self.status, "url": self.url}


@dataclass
class PullResult:
    directory: Path
    charts: list[PulledChart] = field(default_factory=list)
    errors: list[tuple[ChartPin, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"mirror": str(self.directory), "charts": [c.as_json() for c in self.charts],
                "errors": [{"addon": pin.addon, "chart": pin.chart, "version": pin.version, "message": message}
                           for pin, message in self.errors],
                "ok": not self.errors}


def pull_charts(pins: Iterable[ChartPin], directory: Path, repositories: HelmRepositories,
                log: Log = _quiet) -> PullResult:
    """Fill a chart mirror: every pin's archive downloaded from its repository into `directory/<file>`,
    digest-checked and written atomically. Archives already there with the right digest are kept."""
    result = PullResult(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for pin in pins:
        target = directory / pin.file
        try:
            if _matches(target, pin.digest):
                log(f"==> {pin.file}: present, digest matches")
                result.charts.append(PulledChart(pin, target, "present"))
                continue
            existed = target.exists()
            url = repositories.locate(pin)
            log(f"==> {pin.file}: downloading {public_url(url)}")
            _write_verified(target, pin, shown(public_url(url), 200),
                            lambda sink, pin=pin, url=url: repositories.download(pin, url, sink))
            result.charts.append(PulledChart(pin, target, "replaced" if existed else "pulled", public_url(url)))
        except ChartError as exc:
            log(f"==> {pin.file}: FAILED")
            result.errors.append((pin, str(exc)))
        except OSError as exc:
            result.errors.append((pin, f"add-on '{pin.addon}': cannot write {target}: {exc.strerror or exc}"))
    return result
