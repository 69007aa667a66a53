"""Commitments and handoffs as lists show them, read as columns: the board's and the
lookup's rows (CommitmentRow), the inbox's cards and a digest's items (HandoffCard). A page
of them costs a few small queries, where loading commitments and handoffs as entities with
their eager loads cost several times as much. A row answers what the sentences, the list
templates and the answers (commitments.answers) ask of the model it stands for, as the
model's own names say it, and no more; it is read-only."""

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from handoff.accounts.models import Person
from handoff.commitments.lifecycle import OPEN_STATES
from handoff.commitments.models import Commitment, Handoff
from handoff.customers.models import Customer
from handoff.departments.models import Department
from handoff.kernel.db import db


@cache
def aliases(*models) -> tuple:
    """The departments and people a row names, each joined in under its own name: made once
    for each use (making an alias costs more than the query it is for), when first asked
    for (every model is mapped by then)."""
    return tuple(aliased(model) for model in models)


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
    answered_for_id: int | None  # an away member, when their delegate answered

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

    status = Commitment.status  # (the model's own rule, read from the row's columns)


def commitment_rows(ids: list[int]) -> list[CommitmentRow]:
    """The rows of these commitments, in this order (an id not found is left out): two
    queries, the commitments with the names they show joined in, and their handoffs with
    their departments' names, whatever the number of rows."""
    if not ids:
        return []
    # (rows unpacked in their statement's order: lookups by name cost as much as the rest)
    steps: dict[int, list] = {i: [] for i in ids}
    for (
        commitment_id,
        handoff_id,
        department_id,
        department_name,
        state,
        due_at,
        requested_at,
        changed_at,
        done_at,
        answer_note,
        counter_due_at,
        counter_terms,
        nags_total,
        escalated_at,
        answered_for_id,
    ) in db.session.execute(_steps_statement(), {"ids": ids}):
        steps[commitment_id].append(
            Step(
                id=handoff_id,
                department=Named(department_id, department_name),
                state=state,
                due_at=due_at,
                requested_at=requested_at,
                changed_at=changed_at,
                done_at=done_at,
                answer_note=answer_note,
                counter_due_at=counter_due_at,
                counter_terms=counter_terms,
                nags_total=nags_total,
                escalated_at=escalated_at,
                answered_for_id=answered_for_id,
            )
        )
    rows = {}
    for (
        commitment_id,
        title,
        promised_at,
        cancelled_at,
        cancel_reason,
        customer_id,
        customer_name,
        owner_department_id,
        owner_name,
        customer_owner_department_id,
        talker_name,
        customer_owner_person_id,
        person_name,
    ) in db.session.execute(_commitments_statement(), {"ids": ids}):
        rows[commitment_id] = CommitmentRow(
            id=commitment_id,
            title=title,
            promised_at=promised_at,
            cancelled_at=cancelled_at,
            cancel_reason=cancel_reason,
            customer=Named(customer_id, customer_name),
            owner_department=Named(owner_department_id, owner_name),
            customer_owner_department=Named(customer_owner_department_id, talker_name),
            customer_owner_person=_named(customer_owner_person_id, person_name),
            handoffs=steps[commitment_id],
        )
    return [rows[i] for i in ids if i in rows]


@cache
def _commitments_statement():
    """commitment_rows' commitments, with the names they show: built once, run with the ids
    bound (building it cost more than running it)."""
    owner, talker, person = aliases(Department, Department, Person)
    return (
        select(
            Commitment.id,
            Commitment.title,
            Commitment.promised_at,
            Commitment.cancelled_at,
            Commitment.cancel_reason,
            Commitment.customer_id,
            Customer.name.label("customer_name"),
            Commitment.owner_department_id,
            owner.name.label("owner_name"),
            Commitment.customer_owner_department_id,
            talker.name.label("talker_name"),
            Commitment.customer_owner_person_id,
            person.name.label("person_name"),
        )
        .join(Customer, Customer.id == Commitment.customer_id)
        .join(owner, owner.id == Commitment.owner_department_id)
        .join(talker, talker.id == Commitment.customer_owner_department_id)
        .outerjoin(person, person.id == Commitment.customer_owner_person_id)
        .where(Commitment.id.in_(bindparam("ids", expanding=True)))
    )


@cache
def _steps_statement():
    """commitment_rows' handoffs with their departments' names: built once."""
    return (
        select(
            Handoff.commitment_id,
            Handoff.id,
            Handoff.department_id,
            Department.name.label("department_name"),
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
            Handoff.answered_for_id,
        )
        .join(Department, Department.id == Handoff.department_id)
        .where(Handoff.commitment_id.in_(bindparam("ids", expanding=True)))
        .order_by(Handoff.commitment_id, Handoff.position)
    )


def _named(ident: int | None, name: str | None) -> Named | None:
    """A name from an outer join (None where the row names nobody)."""
    return None if ident is None else Named(ident, name)


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
    answered_for: Named | None  # an away member, when their delegate answered
    answer_note: str
    counter_due_at: datetime | None
    counter_terms: str
    changed_at: datetime
    changed_by: Named
    done_at: datetime | None
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
    def standing_promise_id(self) -> int | None:
        return self.standing_promise.id if self.standing_promise else None

    @property
    def answered_by_id(self) -> int | None:
        return self.answered_by.id if self.answered_by else None

    @property
    def answered_for_id(self) -> int | None:
        return self.answered_for.id if self.answered_for else None

    # the model's own rules, read from the card's columns
    effective_due_at = Handoff.effective_due_at
    accepted_by_promise = Handoff.accepted_by_promise


def handoff_cards(ids: list[int]) -> dict[int, HandoffCard]:
    """The cards of these handoffs by id, in one query: the handoffs with their commitments,
    customers and the names of the departments, people and standing promise they name."""
    if not ids:
        return {}
    cards = {}
    # (each row unpacked in the statement's order: 34 lookups by name cost as much as the rest)
    for (
        handoff_id,
        commitment_id,
        department_id,
        department_name,
        state,
        ask,
        due_at,
        requested_at,
        requested_by_id,
        asker_name,
        answered_at,
        answered_by_id,
        answerer_name,
        answered_for_id,
        absent_name,
        answer_note,
        counter_due_at,
        counter_terms,
        changed_at,
        changed_by_id,
        changer_name,
        done_at,
        standing_promise_id,
        promise_name,
        amount,
        quantity,
        next_nag_at,
        nags_total,
        escalated_at,
        title,
        cancelled_at,
        owner_department_id,
        owner_name,
        customer_owner_department_id,
        talker_name,
        customer_id,
        customer_name,
    ) in db.session.execute(_cards_statement(), {"ids": ids}):
        cards[handoff_id] = HandoffCard(
            id=handoff_id,
            commitment=CardCommitment(
                id=commitment_id,
                title=title,
                cancelled_at=cancelled_at,
                customer=Named(customer_id, customer_name),
                owner_department=Named(owner_department_id, owner_name),
                customer_owner_department=Named(customer_owner_department_id, talker_name),
            ),
            department=Named(department_id, department_name),
            state=state,
            ask=ask,
            due_at=due_at,
            requested_at=requested_at,
            requested_by=Named(requested_by_id, asker_name),
            answered_at=answered_at,
            answered_by=_named(answered_by_id, answerer_name),
            answered_for=_named(answered_for_id, absent_name),
            answer_note=answer_note,
            counter_due_at=counter_due_at,
            counter_terms=counter_terms,
            changed_at=changed_at,
            changed_by=Named(changed_by_id, changer_name),
            done_at=done_at,
            standing_promise=_named(standing_promise_id, promise_name),
            amount=amount,
            quantity=quantity,
            next_nag_at=next_nag_at,
            nags_total=nags_total,
            escalated_at=escalated_at,
        )
    return cards


@cache
def _cards_statement():
    """handoff_cards' statement: built once, run with the ids bound."""
    department, owner, talker, asker, answerer, absent, changer = aliases(
        Department, Department, Department, Person, Person, Person, Person
    )
    promise = Handoff.standing_promise.property.entity.class_  # (promises build on commitments)
    return (
        select(
            Handoff.id,
            Handoff.commitment_id,
            Handoff.department_id,
            department.name.label("department_name"),
            Handoff.state,
            Handoff.ask,
            Handoff.due_at,
            Handoff.requested_at,
            Handoff.requested_by_id,
            asker.name.label("asker_name"),
            Handoff.answered_at,
            Handoff.answered_by_id,
            answerer.name.label("answerer_name"),
            Handoff.answered_for_id,
            absent.name.label("absent_name"),
            Handoff.answer_note,
            Handoff.counter_due_at,
            Handoff.counter_terms,
            Handoff.changed_at,
            Handoff.changed_by_id,
            changer.name.label("changer_name"),
            Handoff.done_at,
            Handoff.standing_promise_id,
            promise.name.label("promise_name"),
            Handoff.amount,
            Handoff.quantity,
            Handoff.next_nag_at,
            Handoff.nags_total,
            Handoff.escalated_at,
            Commitment.title,
            Commitment.cancelled_at,
            Commitment.owner_department_id,
            owner.name.label("owner_name"),
            Commitment.customer_owner_department_id,
            talker.name.label("talker_name"),
            Commitment.customer_id,
            Customer.name.label("customer_name"),
        )
        .join(Commitment, Commitment.id == Handoff.commitment_id)
        .join(Customer, Customer.id == Commitment.customer_id)
        .join(department, department.id == Handoff.department_id)
        .join(owner, owner.id == Commitment.owner_department_id)
        .join(talker, talker.id == Commitment.customer_owner_department_id)
        .join(asker, asker.id == Handoff.requested_by_id)
        .outerjoin(answerer, answerer.id == Handoff.answered_by_id)
        .outerjoin(absent, absent.id == Handoff.answered_for_id)
        .join(changer, changer.id == Handoff.changed_by_id)
        .outerjoin(promise, promise.id == Handoff.standing_promise_id)
        .where(Handoff.id.in_(bindparam("ids", expanding=True)))
    )


def delegated_answers(rows: list[CommitmentRow]) -> dict[int, tuple[str, str]]:
    """For the handoffs of these rows a delegate answered: who answered and for whom, by
    handoff id (one small query, and none when no delegate answered any)."""
    ids = [step.id for row in rows for step in row.handoffs if step.answered_for_id]
    if not ids:
        return {}
    answerer, absent = aliases(Person, Person)
    return {
        handoff_id: (by, for_)
        for handoff_id, by, for_ in db.session.execute(
            select(Handoff.id, answerer.name, absent.name)
            .join(answerer, answerer.id == Handoff.answered_by_id)
            .join(absent, absent.id == Handoff.answered_for_id)
            .where(Handoff.id.in_(ids))
        )
    }
