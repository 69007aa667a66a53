"""Who reacts to what: the one table of every domain event and the reactions it sets off.

A verb announces what happened (handoff.kernel.events); the reactions below run in the same
transaction, in the order given. Read down a row to see everything one event does; add a
feature that must hear of something by adding its reaction here, not by calling it from the
verb.
"""

from handoff.insights import rollups
from handoff.kernel import events
from handoff.nagging import notices, schedule
from handoff.ownership import services as ownership
from handoff.promises import services as promises
from handoff.webhooks import services as webhooks

EVENT_HANDLERS = {
    # other systems hear of it (webhooks)
    events.CommitmentRecorded: [webhooks.on_recorded],
    # plan the first reminder, then accept at once within a standing promise; count it
    events.HandoffRequested: [
        schedule.plan_reminders,
        promises.accept_within_standing_promise,
        rollups.handed_over,
    ],
    # the state moved: reminders start a new series under it; the answer is counted
    events.HandoffAnswered: [rollups.answered, schedule.plan_reminders, webhooks.on_answered],
    # the department hears the news in its next digest; counted as accepted at once
    events.AcceptedByStandingPromise: [
        notices.tell_of_acceptance,
        rollups.accepted_by_promise,
        webhooks.on_accepted_by_promise,
    ],
    # you break it, you own it: the conversation moves, a task to tell the customer is set
    events.PromiseBroke: [ownership.on_promise_broke, rollups.broke, webhooks.on_broke],
    # the department that had the conversation hears once who has it now
    events.CustomerOwnerChanged: [notices.tell_of_hand_over, webhooks.on_owner_changed],
    # counted for insights: told in time, the customer's score, reminders, escalations; and
    # other systems hear of what they chose (webhooks)
    events.CustomerTold: [rollups.told],
    events.FeedbackRecorded: [rollups.feedback],
    events.CommitmentFulfilled: [webhooks.on_fulfilled],
    events.NagRecorded: [rollups.reminded, webhooks.on_nag],
    events.Escalated: [rollups.escalated, webhooks.on_escalated],
}


def install() -> None:
    """Make this table the reactions of every event."""
    events.install(EVENT_HANDLERS)
