"""What the generator wrote: counts for tests and a human summary for the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SampleDataSummary:
    path: Path
    raw_schema: str
    seed: int
    order_rows: int
    orders: int
    """Distinct trimmed, present order numbers (orders planted without an order_no are not among them)."""
    confirmation_rows: int
    confirmations: int
    orphan_confirmations: int
    """Distinct confirmations posted against order numbers that do not exist."""
    material_rows: int
    materials: int
    plant_rows: int
    plants: int
    factories: int
    production_lines: int
    bad_orders: int
    bad_orders_by_code: tuple[tuple[str, int], ...]

    def describe(self) -> str:
        by_code = ", ".join(f"{code} {count:,}" for code, count in self.bad_orders_by_code) or "none"
        share = self.bad_orders / (self.orders or 1)
        return "\n".join((
            f"sample data written to {self.path} (schema {self.raw_schema}, seed {self.seed})",
            f"  mes_production_orders  {self.order_rows:>12,} rows  {self.orders:>10,} orders",
            f"  mes_confirmations      {self.confirmation_rows:>12,} rows  {self.confirmations:>10,} confirmations"
            f" ({self.orphan_confirmations:,} for orders that do not exist)",
            f"  mes_materials          {self.material_rows:>12,} rows  {self.materials:>10,} materials",
            f"  mes_plants             {self.plant_rows:>12,} rows  {self.plants:>10,} plants"
            f" ({self.factories} factories, {self.production_lines} production lines)",
            f"  bad orders planted: {self.bad_orders:,} ({share:.2%}): {by_code}",
        ))
