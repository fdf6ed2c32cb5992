"""The blast-radius guard: refuse a run whose change set is unexpectedly large for the destination's history.

It counts what would leave, against the records (orders) whose last acknowledged content the destination's
ledger holds:

* the change share: rows the run would send that the destination does not hold as they are now: new
  records as well as changed ones (under a new version or the same key), over the records acknowledged
  before (a model that suddenly doubles, every order copied under a new location, is 100 %);
* the loss share: records acknowledged before that the model no longer holds at all, over the same.

A run above either share (``--max-change-share``, ``--max-loss-share``) is refused before anything is sent,
unless ``--allow-large-change`` allows it once. A full refresh is judged on the same figures: the unchanged
rows it resends do not count.

A destination with nothing acknowledged yet, or whose first load has not finished (no run to it ended
with every row answered: a killed first run is resumed, not judged), is not limited by the shares, with
one exception: when the
ledger knows another destination at the same base URL and object (another token, the alternate path, a
spelling of the URL), the first run there would resend everything to what is probably the same tenant.
It is refused unless the user says which it is: ``--new-tenant`` (another tenant: send everything) or
``--token-rotated`` (the same tenant with a new token: the known destination's ledger moves to it).
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.errors import LargeChangeError


@dataclass(frozen=True)
class GuardVerdict:
    acknowledged_orders: int
    #: rows to send whose content the destination does not hold: new + changed
    leaving_rows: int
    new_rows: int
    lost_orders: int
    max_change_share: float
    max_loss_share: float
    allowed: bool  # --allow-large-change
    #: known destinations at the same base URL and object, when this one is new there (labels)
    siblings: tuple[str, ...] = ()
    #: --new-tenant: the user says this destination is another tenant than its siblings
    new_tenant: bool = False

    @property
    def limited(self) -> bool:
        """A first run to a destination (nothing acknowledged there) is not limited by the shares."""
        return self.acknowledged_orders > 0

    @property
    def change_share(self) -> float:
        return self.leaving_rows / self.acknowledged_orders if self.limited else 0.0

    @property
    def loss_share(self) -> float:
        return self.lost_orders / self.acknowledged_orders if self.limited else 0.0

    @property
    def unresolved_sibling(self) -> bool:
        return bool(self.siblings) and not self.limited and not self.new_tenant

    @property
    def reasons(self) -> list[str]:
        """Each limit passed, with the figures."""
        out = []
        if self.limited and self.change_share > self.max_change_share:
            out.append(
                f"{self.leaving_rows:,} rows would go out that the destination does not hold as they are "
                f"({self.new_rows:,} of them new), against {self.acknowledged_orders:,} orders acknowledged before "
                f"({self.change_share:.1%}, more than --max-change-share {self.max_change_share:g})"
            )
        if self.limited and self.loss_share > self.max_loss_share:
            out.append(
                f"{self.lost_orders:,} of the {self.acknowledged_orders:,} orders acknowledged before are no "
                f"longer in the model ({self.loss_share:.1%}, more than --max-loss-share {self.max_loss_share:g})"
            )
        if self.unresolved_sibling:
            out.append(
                "this destination has no acknowledgements, but the ledger knows " + "; ".join(self.siblings)
                + " at the same base URL and object: its first run would send every row again. If the token "
                "was rotated, run with --token-rotated (the known destination's ledger moves to the new token); "
                "if this is another tenant, run with --new-tenant"
            )
        return out

    @property
    def refuses(self) -> bool:
        if self.unresolved_sibling:
            return True  # --allow-large-change does not answer which tenant this is
        return bool(self.reasons) and not self.allowed

    def as_dict(self) -> dict[str, object]:
        return {
            "limited": self.limited,
            "acknowledged_orders": self.acknowledged_orders,
            "leaving_rows": self.leaving_rows,
            "new_rows": self.new_rows,
            "lost_orders": self.lost_orders,
            "change_share": round(self.change_share, 6),
            "loss_share": round(self.loss_share, 6),
            "max_change_share": self.max_change_share,
            "max_loss_share": self.max_loss_share,
            "siblings": list(self.siblings),
            "over_limit": self.reasons,
            "allowed_once": self.allowed,
            "refuses": self.refuses,
        }

    def check(self) -> None:
        """Raise :class:`LargeChangeError` naming the figures and the flag if the run is refused."""
        if not self.refuses:
            return
        if self.unresolved_sibling:
            raise LargeChangeError("refusing a first run to a new destination; nothing was sent: "
                                   + "; ".join(self.reasons))
        raise LargeChangeError(
            "refusing an unexpectedly large change; nothing was sent: " + "; ".join(self.reasons)
            + ". Review it with `mo-export plan`; if it is meant, re-run with --allow-large-change "
            "(allows this run only) or raise the limit."
        )
