"""The words of the timeline entries about who talks to the customer (handoff.kernel.timeline)."""

from handoff.kernel.timeline import phrase


@phrase("owner_moved")
def _owner_moved(d: dict) -> str:
    return f"{d['owner']} now talks to the customer: {d['why']}. Tell the customer by"


@phrase("tell_customer")
def _tell_customer(d: dict) -> str:
    return f"The customer must be told that {d['why']}: {d['owner']} tells them by"


@phrase("task_passed_on")
def _task_passed_on(d: dict) -> str:
    return (
        f"{d['from']}'s task to tell the customer ({d['why']}) was passed on to {d['to']}, "
        "which tells the customer by"
    )


@phrase("told")
def _told(d: dict) -> str:
    return f"{d['by']} ({d['department']}) told the customer: {d['note']}"
