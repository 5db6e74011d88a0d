from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from shipyard.offline import PlannedResource, record

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # components/ is repository code, not part of the installed package
    sys.path.insert(0, str(REPO))


class Recording(list):
    """Resources a component registered, with lookups by type and name."""

    def of_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self if r.type == type_]

    def named(self, name: str) -> PlannedResource:
        [found] = [r for r in self if r.name == name]
        return found

    def children_of(self, parent: PlannedResource) -> list[PlannedResource]:
        return [r for r in self if r.parent == parent.urn]


@pytest.fixture
def build() -> Callable[[Callable[[], object]], Recording]:
    """Run a component-building function under recording mocks."""

    def run(fn: Callable[[], object], stack: str = "ledger-prod") -> Recording:
        return Recording(record(fn, stack_name=stack))

    return run
