"""What a stream has used and what that costs at list prices: the one place prices and the task's size live.

Prices are AWS's public list prices for us-east-1, arm64 Fargate, as of 2026-11 (Fargate Spot moves with
the market: its figure is the usual one, about 70 % below on-demand). The estimate counts what grows with a
stream: compute (the task), data out to the ingests and the health writes; a stopped stream costs nothing."""

from __future__ import annotations

from dataclasses import dataclass

from playout.health import ON_DEMAND, SPOT
from playout.models import StreamHealthItem


@dataclass(frozen=True)
class TaskSize:
    cpu_units: int  # 1024 = 1 vCPU
    memory_mib: int

    @property
    def vcpu(self) -> float:
        return self.cpu_units / 1024

    @property
    def memory_gb(self) -> float:
        return self.memory_mib / 1024


# What a 1080p30 stream with three destinations needs (bench/: under half of 0.25 vCPU, under 150 MB).
STREAM_TASK_SIZE = TaskSize(cpu_units=256, memory_mib=512)


@dataclass(frozen=True)
class Prices:
    fargate_vcpu_hour: float
    fargate_gb_hour: float
    egress_gb: float  # data transfer out to the internet, first 10 TB a month
    dynamodb_write_million: float  # on-demand write request units


PRICES: dict[str, Prices] = {
    ON_DEMAND: Prices(
        fargate_vcpu_hour=0.03238, fargate_gb_hour=0.00356, egress_gb=0.09, dynamodb_write_million=0.625
    ),
    SPOT: Prices(
        fargate_vcpu_hour=0.01012, fargate_gb_hour=0.00111, egress_gb=0.09, dynamodb_write_million=0.625
    ),
}
GB = 1_000_000_000  # AWS bills data transfer in decimal gigabytes


def task_hour_usd(capacity: str, size: TaskSize = STREAM_TASK_SIZE) -> float:
    price = PRICES[capacity]
    return size.vcpu * price.fargate_vcpu_hour + size.memory_gb * price.fargate_gb_hour


@dataclass(frozen=True)
class Usage:
    egress_bytes: int
    compute_s: float
    spot_s: float
    on_demand_s: float
    capacity: str | None  # the current (or last) run's
    health_writes: int  # heartbeats written, estimated from the compute time and the beat interval
    estimated_usd: float


def usage_of(health: StreamHealthItem | None, beat_interval_s: float) -> Usage:
    if health is None:
        return Usage(0, 0.0, 0.0, 0.0, None, 0, 0.0)
    spot_s, on_demand_s = float(health.spot_s or 0), float(health.on_demand_s or 0)
    egress = sum(int(d.bytes_sent or 0) for d in health.destinations or [])
    writes = int((spot_s + on_demand_s) / beat_interval_s)
    prices = PRICES[ON_DEMAND]
    usd = (
        spot_s / 3600 * task_hour_usd(SPOT)
        + on_demand_s / 3600 * task_hour_usd(ON_DEMAND)
        + egress / GB * prices.egress_gb
        + writes / 1_000_000 * prices.dynamodb_write_million
    )
    capacity = str(health.capacity) if health.capacity else None
    return Usage(egress, spot_s + on_demand_s, spot_s, on_demand_s, capacity, writes, round(usd, 6))
