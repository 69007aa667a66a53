"""Who reacts to what: the one table of every domain event and the reactions it sets off.

A verb announces what happened (handoff.kernel.events); the reactions below run in the same
transaction, in the order given. Read down a row to see everything one event does; add a
feature that must hear of something by adding its reaction here, not by calling it from the
verb.
"""

from handoff.kernel import events
from handoff.nagging import notices, schedule
from handoff.ownership import services as ownership
from handoff.promises import services as promises

EVENT_HANDLERS = {
    # plan the first reminder, then accept at once within a standing promise
    events.HandoffRequested: [schedule.plan_reminders, promises.accept_within_standing_promise],
    # the state moved: reminders start a new series under it
    events.HandoffAnswered: [schedule.plan_reminders],
    # the department hears the news in its next digest
    events.AcceptedByStandingPromise: [notices.tell_of_acceptance],
    # you break it, you own it: the conversation moves, a task to tell the customer is set
    events.PromiseBroke: [ownership.on_promise_broke],
    # the department that had the conversation hears once who has it now
    events.CustomerOwnerChanged: [notices.tell_of_hand_over],
    # heard by nothing yet (insights and webhooks will)
    events.CommitmentFulfilled: [],
    events.NagRecorded: [],
    events.Escalated: [],
}


def install() -> None:
    """Make this table the reactions of every event."""
    events.install(EVENT_HANDLERS)
