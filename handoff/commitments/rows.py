"""Commitments and handoffs as lists show them, read as columns: the board's and the
lookup's rows (CommitmentRow), the inbox's cards and a digest's items (HandoffCard). A page
of them costs a few small queries, where loading commitments and handoffs as entities with
their eager loads cost several times as much. A row answers what the sentences, the list
templates and the answers (commitments.answers) ask of the model it stands for, as the
model's own names say it, and no more; it is read-only."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from handoff.accounts.models import Person
from handoff.commitments.lifecycle import OPEN_STATES, State
from handoff.commitments.models import Commitment, Handoff
from handoff.commitments.status import HandoffFacts, Status, derive_status
from handoff.customers.models import Customer
from handoff.departments.models import Department
from handoff.kernel.db import db


@dataclass(frozen=True)
class Named:
    """A customer, department or person as a row names it."""

    id: int
    name: str


@dataclass(frozen=True)
class Step:
    """One handoff of a row's route: what the chips and the sentences say of it."""

    id: int
    department: Named
    state: str
    due_at: datetime
    requested_at: datetime
    changed_at: datetime
    done_at: datetime | None
    answer_note: str
    counter_due_at: datetime | None
    counter_terms: str
    nags_total: int
    escalated_at: datetime | None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(frozen=True)
class CommitmentRow:
    id: int
    title: str
    promised_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str
    customer: Named
    owner_department: Named
    customer_owner_department: Named
    customer_owner_person: Named | None
    handoffs: list[Step]

    @property
    def reference(self) -> str:
        return Commitment.reference_of(self.id)

    @property
    def customer_id(self) -> int:
        return self.customer.id

    def status(self, now: datetime, at_risk_within: timedelta) -> Status:
        """As Commitment.status says it."""
        return derive_status(
            cancelled=self.cancelled_at is not None,
            promised_at=self.promised_at,
            handoffs=[HandoffFacts(State(h.state), h.due_at) for h in self.handoffs],
            now=now,
            at_risk_within=at_risk_within,
        )


def commitment_rows(ids: list[int]) -> list[CommitmentRow]:
    """The rows of these commitments, in this order (an id not found is left out): the
    commitments with their customers, their handoffs, and the names of the departments and
    people they name, whatever the number of rows."""
    if not ids:
        return []
    found = db.session.execute(
        select(
            Commitment.id,
            Commitment.title,
            Commitment.promised_at,
            Commitment.cancelled_at,
            Commitment.cancel_reason,
            Commitment.customer_id,
            Customer.name.label("customer_name"),
            Commitment.owner_department_id,
            Commitment.customer_owner_department_id,
            Commitment.customer_owner_person_id,
        )
        .join(Customer, Customer.id == Commitment.customer_id)
        .where(Commitment.id.in_(ids))
    ).all()
    steps: dict[int, list] = {i: [] for i in ids}
    for h in db.session.execute(
        select(
            Handoff.commitment_id,
            Handoff.id,
            Handoff.department_id,
            Handoff.state,
            Handoff.due_at,
            Handoff.requested_at,
            Handoff.changed_at,
            Handoff.done_at,
            Handoff.answer_note,
            Handoff.counter_due_at,
            Handoff.counter_terms,
            Handoff.nags_total,
            Handoff.escalated_at,
        )
        .where(Handoff.commitment_id.in_(ids))
        .order_by(Handoff.commitment_id, Handoff.position)
    ):
        steps[h.commitment_id].append(h)
    departments = {
        d.id: Named(d.id, d.name)
        for d in db.session.execute(select(Department.id, Department.name))
    }
    people = {c.customer_owner_person_id for c in found} - {None}
    named = (
        db.session.execute(select(Person.id, Person.name).where(Person.id.in_(people)))
        if people
        else ()
    )
    names = {p.id: Named(p.id, p.name) for p in named}
    rows = {
        c.id: CommitmentRow(
            id=c.id,
            title=c.title,
            promised_at=c.promised_at,
            cancelled_at=c.cancelled_at,
            cancel_reason=c.cancel_reason,
            customer=Named(c.customer_id, c.customer_name),
            owner_department=departments[c.owner_department_id],
            customer_owner_department=departments[c.customer_owner_department_id],
            customer_owner_person=names.get(c.customer_owner_person_id),
            handoffs=[
                Step(
                    id=h.id,
                    department=departments[h.department_id],
                    state=h.state,
                    due_at=h.due_at,
                    requested_at=h.requested_at,
                    changed_at=h.changed_at,
                    done_at=h.done_at,
                    answer_note=h.answer_note,
                    counter_due_at=h.counter_due_at,
                    counter_terms=h.counter_terms,
                    nags_total=h.nags_total,
                    escalated_at=h.escalated_at,
                )
                for h in steps[c.id]
            ],
        )
        for c in found
    }
    return [rows[i] for i in ids if i in rows]


@dataclass(frozen=True)
class CardCommitment:
    """What a handoff's card shows of its commitment, and what its answers depend on."""

    id: int
    title: str
    cancelled_at: datetime | None
    customer: Named
    owner_department: Named
    customer_owner_department: Named

    @property
    def reference(self) -> str:
        return Commitment.reference_of(self.id)

    @property
    def owner_department_id(self) -> int:
        return self.owner_department.id


@dataclass(frozen=True)
class HandoffCard:
    """A handoff as a card of a list (the inbox) or an item of a digest shows it, and as its
    answers ask of it."""

    id: int
    commitment: CardCommitment
    department: Named
    state: str
    ask: str
    due_at: datetime
    requested_at: datetime
    requested_by: Named
    answered_at: datetime | None
    answered_by: Named | None
    answer_note: str
    counter_due_at: datetime | None
    counter_terms: str
    changed_at: datetime
    changed_by: Named
    standing_promise: Named | None
    amount: object
    quantity: int | None
    next_nag_at: datetime | None
    nags_total: int
    escalated_at: datetime | None

    @property
    def department_id(self) -> int:
        return self.department.id

    @property
    def commitment_id(self) -> int:
        return self.commitment.id

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def effective_due_at(self) -> datetime:
        """As Handoff.effective_due_at says it: the counter's date while countered."""
        if self.state == State.COUNTERED and self.counter_due_at:
            return self.counter_due_at
        return self.due_at

    @property
    def accepted_by_promise(self) -> bool:
        """As Handoff.accepted_by_promise says it."""
        return (
            self.standing_promise is not None
            and self.answered_by is None
            and self.answered_at is not None
        )


def handoff_cards(ids: list[int]) -> dict[int, HandoffCard]:
    """The cards of these handoffs by id: one query of the handoffs with their commitments
    and customers, and one each for the names of the people, departments and standing
    promises they name, whatever the number of cards."""
    if not ids:
        return {}
    found = db.session.execute(
        select(
            Handoff.id,
            Handoff.commitment_id,
            Handoff.department_id,
            Handoff.state,
            Handoff.ask,
            Handoff.due_at,
            Handoff.requested_at,
            Handoff.requested_by_id,
            Handoff.answered_at,
            Handoff.answered_by_id,
            Handoff.answer_note,
            Handoff.counter_due_at,
            Handoff.counter_terms,
            Handoff.changed_at,
            Handoff.changed_by_id,
            Handoff.standing_promise_id,
            Handoff.amount,
            Handoff.quantity,
            Handoff.next_nag_at,
            Handoff.nags_total,
            Handoff.escalated_at,
            Commitment.title,
            Commitment.cancelled_at,
            Commitment.owner_department_id,
            Commitment.customer_owner_department_id,
            Commitment.customer_id,
            Customer.name.label("customer_name"),
        )
        .join(Commitment, Commitment.id == Handoff.commitment_id)
        .join(Customer, Customer.id == Commitment.customer_id)
        .where(Handoff.id.in_(ids))
    ).all()
    departments = departments_named()
    people = names_of(
        Person,
        {h.requested_by_id for h in found}
        | {h.answered_by_id for h in found}
        | {h.changed_by_id for h in found},
    )
    promise = Handoff.standing_promise.property.entity.class_  # (promises build on commitments)
    promises = names_of(promise, {h.standing_promise_id for h in found})
    return {
        h.id: HandoffCard(
            id=h.id,
            commitment=CardCommitment(
                id=h.commitment_id,
                title=h.title,
                cancelled_at=h.cancelled_at,
                customer=Named(h.customer_id, h.customer_name),
                owner_department=departments[h.owner_department_id],
                customer_owner_department=departments[h.customer_owner_department_id],
            ),
            department=departments[h.department_id],
            state=h.state,
            ask=h.ask,
            due_at=h.due_at,
            requested_at=h.requested_at,
            requested_by=people[h.requested_by_id],
            answered_at=h.answered_at,
            answered_by=people.get(h.answered_by_id),
            answer_note=h.answer_note,
            counter_due_at=h.counter_due_at,
            counter_terms=h.counter_terms,
            changed_at=h.changed_at,
            changed_by=people[h.changed_by_id],
            standing_promise=promises.get(h.standing_promise_id),
            amount=h.amount,
            quantity=h.quantity,
            next_nag_at=h.next_nag_at,
            nags_total=h.nags_total,
            escalated_at=h.escalated_at,
        )
        for h in found
    }


def departments_named() -> dict[int, Named]:
    """Every department's name by id (a list names a few of a hundred at most), read once a
    transaction: the lists of one page share it."""
    session = db.session()  # (the request's own, behind the scoped proxy)
    kept = session.info.get("departments_named")
    if kept and kept[0] is session.get_transaction():
        return kept[1]
    rows = session.execute(select(Department.id, Department.name))
    named = {d.id: Named(d.id, d.name) for d in rows}
    session.info["departments_named"] = (session.get_transaction(), named)
    return named


def names_of(model, ids: set) -> dict[int, Named]:
    """The names of these rows of `model` (people, standing promises) by id."""
    ids = ids - {None}
    if not ids:
        return {}
    return {
        r.id: Named(r.id, r.name)
        for r in db.session.execute(select(model.id, model.name).where(model.id.in_(ids)))
    }
