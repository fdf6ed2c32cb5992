"""The blast-radius guard: refuse a run whose change set is unexpectedly large for the destination's history.

Two figures, both against the orders whose last acknowledged content the destination's ledger holds:

* the change share: orders the run would send with content other than what was acknowledged last
  (changed under a new ``updated_at`` or under the same key), over the orders acknowledged before;
* the loss share: orders acknowledged before that the model no longer holds at all, over the same.

A run above either share (``--max-change-share``, ``--max-loss-share``) is refused before anything is sent,
unless ``--allow-large-change`` allows it once. A destination with nothing acknowledged yet (a first run)
is not limited. A full refresh is guarded on the same figures: it resends unchanged rows, which do not
count, but the changed rows it sends do the same damage as in an incremental run.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.errors import ConfigError
from exporter.model_reader import Plan


class LargeChangeError(ConfigError):
    """The change set is larger than the guard allows (exit 3); nothing was sent."""


@dataclass(frozen=True)
class GuardVerdict:
    acknowledged_orders: int
    changed_orders: int
    lost_orders: int
    max_change_share: float
    max_loss_share: float
    allowed: bool  # --allow-large-change

    @property
    def limited(self) -> bool:
        """A first run to a destination (nothing acknowledged there) is not limited."""
        return self.acknowledged_orders > 0

    @property
    def change_share(self) -> float:
        return self.changed_orders / self.acknowledged_orders if self.limited else 0.0

    @property
    def loss_share(self) -> float:
        return self.lost_orders / self.acknowledged_orders if self.limited else 0.0

    @property
    def reasons(self) -> list[str]:
        """Each share over its limit, with the figures."""
        out = []
        if self.limited and self.change_share > self.max_change_share:
            out.append(
                f"{self.changed_orders:,} of the {self.acknowledged_orders:,} orders acknowledged before would "
                f"change ({self.change_share:.1%}, more than --max-change-share {self.max_change_share:g})"
            )
        if self.limited and self.loss_share > self.max_loss_share:
            out.append(
                f"{self.lost_orders:,} of the {self.acknowledged_orders:,} orders acknowledged before are no "
                f"longer in the model ({self.loss_share:.1%}, more than --max-loss-share {self.max_loss_share:g})"
            )
        return out

    @property
    def refuses(self) -> bool:
        return bool(self.reasons) and not self.allowed

    def as_dict(self) -> dict[str, object]:
        return {
            "limited": self.limited,
            "acknowledged_orders": self.acknowledged_orders,
            "changed_orders": self.changed_orders,
            "lost_orders": self.lost_orders,
            "change_share": round(self.change_share, 6),
            "loss_share": round(self.loss_share, 6),
            "max_change_share": self.max_change_share,
            "max_loss_share": self.max_loss_share,
            "over_limit": self.reasons,
            "allowed_once": self.allowed,
            "refuses": self.refuses,
        }

    def check(self) -> None:
        """Raise :class:`LargeChangeError` naming the figures and the flag if the run is refused."""
        if self.refuses:
            raise LargeChangeError(
                "refusing an unexpectedly large change; nothing was sent: " + "; ".join(self.reasons)
                + ". Review it with `mo-export plan`; if it is meant, re-run with --allow-large-change "
                "(allows this run only) or raise the limit."
            )


def judge(plan: Plan, *, max_change_share: float, max_loss_share: float, allowed: bool) -> GuardVerdict:
    """The guard's verdict on a plan (:meth:`exporter.model_reader.ContractModelReader.plan`)."""
    return GuardVerdict(
        acknowledged_orders=plan.acknowledged_orders,
        changed_orders=plan.changed + plan.changed_unknown,
        lost_orders=plan.lost_orders,
        max_change_share=max_change_share,
        max_loss_share=max_loss_share,
        allowed=allowed,
    )
