"""The active policy in words, for the server instructions and for operators: what is always refused, the
operator's own limits, and how calls are confirmed."""

from __future__ import annotations

from bimpe_mcp.core.settings import Settings


def restrictions(settings: Settings) -> str | None:
    """The operator's own limits on place_call in one line, or None when none is set."""
    s = settings
    parts: list[str] = []
    if s.allowed_destinations is not None:
        parts.append(f"only {', '.join(s.allowed_destinations)} may be called")
    if s.blocked_destinations:
        parts.append(f"{', '.join(s.blocked_destinations)} blocked")
    if s.quiet_hours:
        parts.append(f"no live calls {s.quiet_hours} destination time")
    limits = [
        f"{n} {kind} calls/{span}"
        for n, kind, span in (
            (s.max_live_calls_per_hour, "live", "hour"),
            (s.max_live_calls_per_day, "live", "day"),
            (s.max_test_calls_per_hour, "test", "hour"),
            (s.max_test_calls_per_day, "test", "day"),
        )
        if n is not None
    ]
    if limits:
        parts.append("at most " + ", ".join(limits))
    if s.confirm == "off":
        parts.append("no confirmation is asked")
    elif s.confirm_test_calls:
        parts.append("test calls need the user's confirmation too")
    if s.confirm == "token":
        parts.append("confirmation is by token, which a model can redeem by itself: the host's tool approval is the "
                     "human gate")  # fmt: skip
    return "Operator policy: " + "; ".join(parts) + "." if parts else None


def summary(settings: Settings) -> str:
    """The active policy for the server instructions: what is always refused, the operator's limits, and how calls
    are confirmed."""
    who = "live and test calls" if settings.confirm_test_calls else "live calls"
    confirm = "not asked" if settings.confirm == "off" else f"{settings.confirm} ({who})"
    asked = {
        "auto": " It is asked through the client, else on a confirmation card the user presses: a client that can "
        "do neither cannot place such calls.",
        "elicit": " It is asked through the client: a client that cannot ask cannot place such calls.",
        "app": " It is given on a confirmation card the user presses (never in the chat): a client that renders no "
        "MCP Apps cannot place such calls.",
    }.get(settings.confirm, "")
    lines = [
        "Premium-rate, shared-cost, emergency and invalid numbers are always refused; a refusal is policy_refused "
        f"naming its rule. User confirmation: {confirm}.{asked}"
    ]
    extra = restrictions(settings)
    return " ".join([*lines, extra] if extra else lines)
