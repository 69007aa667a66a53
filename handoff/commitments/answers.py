"""What a person may do with a handoff now: the one answer every surface reads.

The handoff partial on the commitment page and in the inbox, the page a reminder's link
opens, the links in a digest (and later the API) all ask `answers_for`: the lifecycle says
which moves the state allows, and the roles say who may make them (a department's members
answer its handoff; the promising department settles a counter and changes the route).
"""

from dataclasses import dataclass

from handoff.commitments.lifecycle import Action, State, allowed_actions

DEPARTMENT, OWNER_SIDE = "department", "owner side"


@dataclass(frozen=True)
class Answer:
    """One answer to a handoff, by the name it has in URLs and forms."""

    name: str
    action: Action
    label: str
    by: str  # who gives it: the handoff's department, or the promising (owner) side
    by_mail: bool = True  # offered as a one-click link in a reminder


# In the order the pages offer them.
ANSWERS: dict[str, Answer] = {
    answer.name: answer
    for answer in (
        Answer("accept", Action.ACCEPT, "Accept", DEPARTMENT),
        Answer("counter", Action.COUNTER, "Counter", DEPARTMENT),
        Answer("decline", Action.DECLINE, "Decline", DEPARTMENT),
        Answer("complete", Action.COMPLETE, "Mark done", DEPARTMENT),
        Answer("take-counter", Action.TAKE_COUNTER, "Take the counter", OWNER_SIDE),
        Answer("reject-counter", Action.REJECT_COUNTER, "Reject the counter", OWNER_SIDE),
        # a change of the route, not an answer: made on the commitment page only
        Answer("remove", Action.CANCEL, "Take off the route", OWNER_SIDE, by_mail=False),
    )
}


def may_answer(person, handoff, now=None) -> bool:
    """Members of the handoff's department (and admins) answer it and mark it done, and so
    does the delegate of a member who is away at `now` (the clock's, if not given)."""
    department_id = handoff.department_id
    return person.belongs_to(department_id) or person.acting_for(department_id, now) is not None


def may_settle(person, commitment) -> bool:
    """The owner side (and admins) settle counters, edit and cancel the commitment."""
    return person.belongs_to(commitment.owner_department_id)


def answerer_refusal(person, handoff, now=None) -> str | None:
    """Why `person` may not answer `handoff` (None: they may)."""
    if may_answer(person, handoff, now):
        return None
    return f"Only members of {handoff.department.name} can answer this handoff."


def owner_refusal(person, commitment) -> str | None:
    """Why `person` may not act for the promising side of `commitment` (None: they may)."""
    if may_settle(person, commitment):
        return None
    return f"Only {commitment.owner_department.name}, who made the promise, can do this."


def refusal(person, handoff, answer: Answer, now=None) -> str | None:
    """Why `person` may not give `answer` to `handoff` by who they are (None: they may):
    the pages ask before anything sent is read, the verbs again when they act."""
    if answer.by == DEPARTMENT:
        return answerer_refusal(person, handoff, now)
    return owner_refusal(person, handoff.commitment)


def answers_open(handoff) -> list[Answer]:
    """The answers the handoff's state allows now, whoever gives them."""
    if handoff.commitment.cancelled_at is not None:
        return []
    allowed = allowed_actions(State(handoff.state))
    return [answer for answer in ANSWERS.values() if answer.action in allowed]


def answers_for(person, handoff, now=None) -> list[Answer]:
    """The answers `person` may give to `handoff` at `now` (the clock's, if not given)."""
    open_now = answers_open(handoff)
    sides = {answer.by for answer in open_now}
    may = {
        DEPARTMENT: DEPARTMENT in sides and may_answer(person, handoff, now),
        OWNER_SIDE: OWNER_SIDE in sides and may_settle(person, handoff.commitment),
    }
    return [answer for answer in open_now if may[answer.by]]


def answers_by_handoff(person, handoffs) -> dict[int, frozenset[str]]:
    """For a page of handoffs: the names of the answers `person` may give to each."""
    return {h.id: frozenset(a.name for a in answers_for(person, h)) for h in handoffs}
