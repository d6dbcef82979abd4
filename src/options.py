"""Checks of numeric options when LightningCLI instantiates a class: a bad value is refused at
start, with the option named as it is typed on the command line, instead of ending a run late
or doing nothing."""
from __future__ import annotations


def require_at_least(option: str, value: int | None, low: int, none_ok: bool = False) -> None:
    """Raise ValueError unless ``value >= low`` (or ``value`` is None where ``none_ok``)."""
    if value is None and none_ok:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        bound = "positive" if low == 1 else f"at least {low}"
        raise ValueError(f"{option} must be {bound}{' or null' if none_ok else ''}, got {value!r}")
