"""How insights write their figures, on pages and in mail alike."""


def format_minutes(minutes: int | None) -> str:
    """'45 min', '3 h 20 min' (business time), '–' for none."""
    if minutes is None:
        return "–"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def format_share(share: float | None) -> str:
    return "–" if share is None else f"{round(share * 100)} %"


def format_rate(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.1f}"


FORMATS = {"minutes": format_minutes, "share": format_share, "rate": format_rate}
