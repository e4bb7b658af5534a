"""The fault and limit settings of a fakehub, as one immutable value."""

from __future__ import annotations

from collections.abc import Mapping

from attrs import field, frozen, validators

FAULT_KINDS = ("500", "502", "503", "reset", "truncate", "malformed", "stall")


def _freeze_tokens(value: Mapping[str, str] | None) -> Mapping[str, str]:
    """Copies the token map so a caller's later edits cannot change a running hub."""
    return dict(value or {})


def _check_faults(_inst: object, _attr: object, value: tuple[str, ...]) -> None:
    """Rejects unknown fault names early instead of silently never firing them."""
    unknown = [f for f in value if f not in FAULT_KINDS]
    if unknown:
        raise ValueError(f"unknown faults {unknown}; choose from {FAULT_KINDS}")


@frozen
class Knobs:
    """Defaults describe a perfectly polite GitHub with no faults.

    Times are in seconds. ``tokens`` maps a token to the user who owns it;
    empty means any token is accepted and budgets are kept per token.
    """

    latency: float = 0.0
    jitter: float = 0.0
    rate_limit: int = 5000
    unauth_rate_limit: int = 60
    rate_window: float = 3600.0
    secondary_every: int = 0
    secondary_concurrency: int = 0
    secondary_status: int = field(default=403, validator=validators.in_((403, 429)))
    secondary_retry_after: int | None = None
    secondary_wait: float = 60.0
    #: Requests arriving this soon after a secondary limit was already in flight when
    #: it was issued: they are limited too, but not counted as violations.
    secondary_grace: float = 0.5
    fault_rate: float = 0.0
    faults: tuple[str, ...] = field(default=FAULT_KINDS, converter=tuple, validator=_check_faults)
    stall: float = 30.0
    tokens: Mapping[str, str] = field(factory=dict, converter=_freeze_tokens)
    fault_seed: int = 0
    #: Users show a public e-mail in profiles and contributor listings (to prove a client drops it).
    public_emails: bool = False
