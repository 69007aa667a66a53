"""The words of the timeline entries reminders write (see handoff.kernel.timeline): one kind,
"nag", whose facts say what the reminder did."""

from handoff.kernel.timeline import phrase
from handoff.nagging.rules import Kind, Level


def _to(addresses: list[str]) -> str:
    return ", ".join(addresses) or "nobody"


def label(kind: str, number: int) -> str:
    """'Reminder 2', 'Late notice 3', … what a reminder is called on the timeline."""
    return {
        Kind.ACK: f"Reminder {number}",
        Kind.SETTLE: f"Reminder {number} to settle the counter",
        Kind.DUE_SOON: "The due-soon reminder",
        Kind.LATE: f"Late notice {number}",
        Kind.FYI: "The news of the standing promise",
        Kind.TELL: "The notice to tell the customer" if number == 0 else f"Reminder {number}",
        Kind.HANDOVER: "The hand-over notice",
    }[Kind(kind)]


@phrase("nag")
def _nag(d: dict) -> str:
    what, to = d["what"], _to(d.get("addresses", []))
    if what == "reminder":
        number, department = d["number"], d["department"]
        return {
            Kind.ACK: f"Reminder {number} to {department}: waiting for an answer — {to}",
            Kind.SETTLE: f"Reminder {number} to {department}: a counter waits to be settled — {to}",
            Kind.DUE_SOON: f"Due-soon reminder to {department} — {to}",
            Kind.LATE: f"{department} is late: reminder {number} — {to}",
        }[Kind(d["reminder"])]
    if what == "tell":
        if d["number"] == 0:
            return f"{d['department']} was asked to tell the customer — {to}"
        return (
            f"Reminder {d['number']} to {d['department']}: the customer has not been told yet"
            f" — {to}"
        )
    if what == "escalated":
        if d["level"] == Level.LEADS:
            return f"Escalated to {d['department']}'s leads"
        return "Escalated to the organisation's escalation contact"
    if what == "problem":
        return f"Problem: {d['problem']}"
    if what == "not_mailed":
        what = label(d["reminder"], d["number"])
        return f"{what} not mailed to {_to(d['addresses'])}: {d['reason']}"
    raise ValueError(f"a reminder's timeline entry of unknown kind {what!r}")
