"""The words of the timeline entries the commitment verbs write (see handoff.kernel.timeline)."""

from handoff.kernel.timeline import phrase, with_note


def _for(d: dict) -> str:
    """' by Ben Okafor for Lena Quinn' when a delegate answered for someone away."""
    return f" by {d['by']} for {d['for']}" if d.get("for") else ""


def _by(d: dict) -> str:
    """'Ben Okafor', or 'Ben Okafor for Lena Quinn' when a delegate acted."""
    return f"{d['by']} for {d['for']}" if d.get("for") else d["by"]


@phrase("recorded")
def _recorded(d: dict) -> str:
    return f"{d['by']} recorded the commitment"


@phrase("requested")
def _requested(d: dict) -> str:
    return f"Handed to {d['department']}: {d['ask']}"


@phrase("accept")
def _accept(d: dict) -> str:
    if d.get("promise"):
        return f"Accepted by standing promise '{d['promise']}'"
    return with_note(f"{d['department']} accepted{_for(d)}", d.get("note"))


@phrase("decline")
def _decline(d: dict) -> str:
    return with_note(f"{d['department']} declined{_for(d)}", d.get("note"))


@phrase("counter")
def _counter(d: dict) -> str:
    return with_note(f"{d['department']} countered{_for(d)}", d.get("note"))


@phrase("take_counter")
def _take_counter(d: dict) -> str:
    return f"{_by(d)} took {d['department']}'s counter"


@phrase("reject_counter")
def _reject_counter(d: dict) -> str:
    return with_note(f"{_by(d)} rejected {d['department']}'s counter", d.get("note"))


@phrase("complete")
def _complete(d: dict) -> str:
    return with_note(f"{d['department']} marked its part done{_for(d)}", d.get("note"))


@phrase("removed")
def _removed(d: dict) -> str:
    return with_note(f"{d['department']} was taken off the route{_for(d)}", d.get("note"))


@phrase("cancel")
def _cancel(d: dict) -> str:
    return f"{d['department']}: cancelled"


@phrase("cancelled")
def _cancelled(d: dict) -> str:
    return with_note(f"{d['by']} cancelled", d.get("note"))


@phrase("customer_date_moved")
def _customer_date_moved(d: dict) -> str:
    return "The customer's date moves to"


@phrase("edited")
def _edited(d: dict) -> str:
    return f"{d['by']} changed " + ", ".join(d["changes"])


@phrase("feedback")
def _feedback(d: dict) -> str:
    return with_note(f"{d['by']} recorded the customer's feedback: {d['score']}/5", d.get("note"))


@phrase("comment")
def _comment(d: dict) -> str:
    return f"{d['by']} wrote in the discussion"
