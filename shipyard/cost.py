"""Monthly cost estimates of a stack from the pinned price table (`pricing/aws.yaml`).

The estimate covers what Shipyard itself creates and AWS bills by the hour: worker nodes (instance
hours by type), their root volumes, the EKS control plane, NAT gateways and the load balancers of
add-ons that create one. It is a list-price estimate for budgeting and review, not a bill: data
transfer, NAT processing per GB, and what teams run themselves are not in it. SPOT nodes are priced
on demand, an upper bound, because spot prices move daily and a budget check must not pass by luck.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from shipyard.models import InstanceType, Region, _error, _located, _Model

if TYPE_CHECKING:
    from shipyard.catalog import Catalog
    from shipyard.models import StackFile

PRICES_FILE = Path("pricing") / "aws.yaml"


class RegionPrices(_Model):
    """Hourly (or per GiB-month) list prices in one region, in the table's currency."""

    eks_control_plane_hourly: float = Field(ge=0)
    """EKS cluster, standard support, per hour."""
    nat_gateway_hourly: float = Field(ge=0)
    """NAT gateway, per hour (data processing per GB is not estimated)."""
    load_balancer_hourly: float = Field(ge=0)
    """Network Load Balancer, per hour (LCU charges are not estimated)."""
    ebs_gp3_gib_monthly: float = Field(ge=0)
    """gp3 volume storage, per GiB-month (node root volumes)."""
    instances: dict[InstanceType, float] = Field(min_length=1)
    """On-demand Linux price per hour, by EC2 instance type."""


class PriceTable(_Model):
    """The pinned price table: where the numbers come from, when, and the numbers."""

    source: str = Field(min_length=1)
    """Where the prices were taken from (URLs of the public price lists)."""
    as_of: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    """Date the prices were read (YYYY-MM-DD); refresh them when AWS changes list prices."""
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    """ISO currency code of every price."""
    hours_per_month: int = Field(ge=672, le=744)
    """Hours in a billing month used for estimates (AWS uses 730)."""
    regions: dict[Region, RegionPrices] = Field(min_length=1)
    """Prices per AWS region."""

    @model_validator(mode="after")
    def _sane(self) -> PriceTable:
        errors = []
        for region, prices in self.regions.items():
            for itype, price in prices.instances.items():
                if price <= 0:
                    errors.append((("regions", region, "instances", itype),
                                   _error("price", "price of {itype} must be more than 0", itype=itype), price))
        _located("PriceTable", errors)
        return self


@dataclass(frozen=True)
class CostLine:
    item: str
    quantity: float
    unit: str
    monthly: float

    def as_json(self) -> dict[str, Any]:
        return {"item": self.item, "quantity": self.quantity, "unit": self.unit, "monthly": round(self.monthly, 2)}


@dataclass(frozen=True)
class CostEstimate:
    """Estimated monthly cost of one stack, line by line."""

    currency: str
    lines: tuple[CostLine, ...]
    priced: bool = True
    """False for clusters Shipyard does not pay for (local, existing): the estimate is 0 by definition."""

    @property
    def monthly(self) -> float:
        return round(sum(line.monthly for line in self.lines), 2)

    def as_json(self) -> dict[str, Any]:
        return {"monthly": self.monthly, "currency": self.currency, "priced": self.priced,
                "lines": [line.as_json() for line in self.lines]}


class UnpricedError(ValueError):
    """The price table has no price for something the stack asks for (located at the offending key)."""

    def __init__(self, loc: tuple[str | int, ...], message: str):
        super().__init__(message)
        self.loc = loc


def load_balancer_count(stack: StackFile, catalog: Catalog) -> int:
    return sum(catalog.addons[name].load_balancers for name in catalog.addons_for(stack))


def estimate(stack: StackFile, catalog: Catalog, prices: PriceTable) -> CostEstimate:
    """Monthly estimate of a valid stack file; raises `UnpricedError` when a price is missing."""
    spec = stack.cluster
    if spec.provider != "eks":
        return CostEstimate(prices.currency, (), priced=False)
    assert spec.region and spec.node_groups  # guaranteed by the stack model
    region = prices.regions.get(spec.region)
    if region is None:
        raise UnpricedError(("cluster", "region"), f"no prices for region '{spec.region}' in {PRICES_FILE}; "
                            f"priced regions: {', '.join(sorted(prices.regions))}")
    hours = prices.hours_per_month
    lines = [CostLine("EKS control plane", 1, "cluster", region.eks_control_plane_hourly * hours)]
    for index, group in enumerate(spec.node_groups):
        hourly = region.instances.get(group.instance_type)
        if hourly is None:
            raise UnpricedError(("cluster", "nodeGroups", index, "instanceType"),
                                f"no price for {group.instance_type} in {spec.region} in {PRICES_FILE}; ask the "
                                "platform team to add it (or pick a priced type)")
        note = " (spot, priced on demand)" if group.capacity_type == "SPOT" else ""
        lines.append(CostLine(f"nodes {group.name}: {group.instance_type}{note}", group.desired_size, "node",
                              group.desired_size * hourly * hours))
        lines.append(CostLine(f"node volumes {group.name}: gp3", group.desired_size * group.disk_size_gib, "GiB",
                              group.desired_size * group.disk_size_gib * region.ebs_gp3_gib_monthly))
    # Mirrors components/platform.py: prod gets one NAT gateway per zone, other environments share one.
    nats = spec.availability_zones if stack.environment == "prod" else 1
    lines.append(CostLine("NAT gateways", nats, "gateway", nats * region.nat_gateway_hourly * hours))
    balancers = load_balancer_count(stack, catalog)
    if balancers:
        lines.append(CostLine("load balancers", balancers, "NLB", balancers * region.load_balancer_hourly * hours))
    return CostEstimate(prices.currency, tuple(lines))


def money(amount: float, currency: str = "USD") -> str:
    return f"{amount:,.2f} {currency}"


COST_OUTPUT = "estimatedMonthlyCost"
"""Stack output holding the estimate of what was last applied (what previews compare against)."""


def cost_report(current: CostEstimate, budget: float | None, previous: Any) -> dict[str, Any]:
    """The `cost` block of a preview report: the estimate, its budget, and the change against the estimate
    recorded by the last successful `up` (None when never applied, or applied before estimates existed)."""
    before = previous.get("monthly") if isinstance(previous, dict) else None
    before = float(before) if isinstance(before, (int, float)) and not isinstance(before, bool) else None
    return {**current.as_json(), "budget": budget, "previous": before,
            "change": None if before is None else round(current.monthly - before, 2)}


def stack_cost(root: Path, stack: str, previous: Any = None) -> dict[str, Any] | None:
    """The `cost` block for stack `stack` of the repository at `root`: its file's estimate, its budget and the
    change against `previous` (the last applied estimate). None when the file does not validate: a number
    is never guessed from an invalid file (validation reports why)."""
    from shipyard.repo import Repo
    from shipyard.validation import check_stack

    repo = Repo(root)
    checked = check_stack(root, repo.stack(stack).path, repo.local_kubernetes_minor)
    rules, prices = checked.policy.policy, checked.policy.prices
    if checked.stack is None or checked.catalog is None or rules is None or prices is None:
        return None
    return cost_report(estimate(checked.stack, checked.catalog, prices), rules.budget_for(checked.stack), previous)


def cost_cell(cost: dict[str, Any] | None) -> str:
    """`444.16 USD (+12.00)` for tables; `—` when unknown, `not billed` for local/existing clusters."""
    if not cost:
        return "—"
    if not cost.get("priced", True):
        return "not billed"
    text = money(cost["monthly"], cost["currency"])
    change = cost.get("change")
    if change is None:
        return f"{text} (new)"
    return f"{text} ({change:+,.2f})" if change else f"{text} (±0)"
