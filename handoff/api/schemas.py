"""What the API takes and gives, as pydantic models: they validate each request, shape each
answer, and are what the OpenAPI document is made from, so the document cannot drift from
what the API does. Lengths are the ones the forms check (commitments.models.LIMITS); every
rule beyond the shape of a value is the services', as on the pages."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    Strict,
)

from handoff.commitments.models import CHANNELS, LIMITS
from handoff.inbox.queries import SECTIONS
from handoff.kernel.db import MAX_INT
from handoff.kernel.forms import FIRST_YEAR, LAST_YEAR, MAX_AMOUNT

NO_NUL = r"^[^\u0000]*$"  # (no text may hold a NUL character; PostgreSQL refuses one)
# What Python's str.strip() takes away (and NUL): a required text holds something else too.
SPACE = (
    r"\u0000\t\n\u000b\u000c\r \u001c-\u001f\u0085\u00a0\u1680\u2000-\u200a"
    r"\u2028\u2029\u202f\u205f\u3000"
)
NOT_BLANK = rf"^[^\u0000]*[^{SPACE}][^\u0000]*$"


def _this_century(moment: datetime) -> datetime:
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"give a moment from {FIRST_YEAR} to {LAST_YEAR}")
    return moment


EARLIEST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
LATEST = datetime(LAST_YEAR, 12, 31, tzinfo=UTC)


def _within_century(moment: datetime) -> datetime:
    """A bound of a search: one before this century (or after it) bounds nothing more."""
    if moment.year < FIRST_YEAR:
        return EARLIEST
    if moment.year > LAST_YEAR:
        return LATEST
    return moment


def _text_moment(value):
    """A moment is written as ISO 8601 text: a number is no moment (pydantic would read one
    as seconds since 1970), whatever the document says of its type."""
    if not isinstance(value, str) or re.fullmatch(r"\s*[-+]?[0-9.eE+-]*\s*", value):
        raise ValueError("write the moment as ISO 8601 text, such as 2026-05-12T10:00:00+02:00")
    return value


Id = Annotated[int, Field(ge=1, le=MAX_INT)]  # (in a query, where every value is text)
BodyId = Annotated[int, Strict(), Field(ge=1, le=MAX_INT)]  # (in JSON: a number, not "7")
Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_text_moment),
    AfterValidator(_this_century),
    Field(
        description="An ISO 8601 moment with its offset, such as 2026-05-12T10:00:00+02:00, "
        f"from {FIRST_YEAR} to {LAST_YEAR}.",
    ),
]
Bound = Annotated[
    AwareDatetime,
    BeforeValidator(_text_moment),
    AfterValidator(_within_century),
    Field(description="An ISO 8601 moment with its offset."),
]


def text(limit: int, *, required: bool = False, description: str | None = None):
    """A text of at most `limit` characters (at least one if `required`)."""
    return Annotated[
        str,
        Field(
            min_length=1 if required else 0,
            max_length=limit,
            pattern=NOT_BLANK if required else NO_NUL,
            description=description,
        ),
    ]


class In(BaseModel):
    """What a request sends: an unknown field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# --- problems -------------------------------------------------------------------------------


class FieldProblem(BaseModel):
    field: str | None = Field(description="The field at fault, as a dotted path, if one is.")
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details, with a machine-readable code."""

    type: str = Field(description="urn:handoff:problem:<code>")
    title: str
    status: int
    detail: str
    code: str = Field(
        description="unauthorized, forbidden, not_found, conflict, already_answered, "
        "invalid_input, bad_request, rate_limited, busy, …"
    )
    errors: list[FieldProblem] = Field(default_factory=list)


# --- what the API gives -----------------------------------------------------------------------


class Named(BaseModel):
    id: int
    name: str


class Customer(BaseModel):
    id: int
    name: str
    email: str
    phone: str
    account_ref: str | None


class Handoff(BaseModel):
    """One department's part of a commitment, and where its answer stands."""

    id: int
    department: Named
    ask: str
    due_at: datetime
    state: str = Field(
        description="pending, accepted, countered, declined, done or cancelled (off the route)"
    )
    requested_at: datetime
    answered_at: datetime | None
    answered_by: Named | None
    answered_for: Named | None = Field(description="The away member a delegate answered for.")
    note: str
    counter_due_at: datetime | None
    counter_terms: str
    standing_promise: Named | None
    amount: str | None = Field(description="A decimal amount, as text.")
    quantity: int | None
    done_at: datetime | None
    your_answers: list[str] = Field(
        description="The answers the token's owner may give now (the path after /handoffs/{id}/)."
    )


class Owner(BaseModel):
    department: Named
    person: Named | None


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    words: str


class Commitment(BaseModel):
    """A promise made to a customer, its route of handoffs, and what to tell the customer."""

    reference: str = Field(examples=["C-1042"])
    url: str
    title: str
    details: str
    channel: str
    status: str = Field(description="waiting, confirmed, at_risk, overdue, fulfilled or cancelled")
    status_label: str
    promised_at: datetime
    created_at: datetime
    cancelled_at: datetime | None
    cancel_reason: str
    customer: Customer
    promised_by: Named
    made_by: Named
    customer_owner: Owner
    what_to_say: str = Field(description="What to tell the customer now, in one sentence.")
    handoffs: list[Handoff]
    timeline: list[TimelineEntry] = Field(description="Newest first.")


class StepBrief(BaseModel):
    id: int
    department: Named
    state: str
    due_at: datetime


class CommitmentBrief(BaseModel):
    reference: str
    url: str
    title: str
    status: str
    promised_at: datetime
    cancelled_at: datetime | None
    customer: Named
    promised_by: Named
    handoffs: list[StepBrief]


class CommitmentPage(BaseModel):
    items: list[CommitmentBrief]
    next_cursor: str | None = Field(description="Ask again with ?cursor= for the next page.")


class InboxCommitment(BaseModel):
    reference: str
    title: str
    customer: Named
    promised_by: Named


class InboxHandoff(Handoff):
    commitment: InboxCommitment


class InboxCounts(BaseModel):
    waiting: int
    settle: int
    countered: int
    accepted: int


class Inbox(BaseModel):
    department: Named
    section: str
    counts: InboxCounts
    items: list[InboxHandoff]
    next_cursor: str | None


class Department(BaseModel):
    id: int
    name: str
    on_duty: Named | None = Field(description="Who answers for it out of hours, if anyone.")


class DepartmentList(BaseModel):
    items: list[Department]


class Me(BaseModel):
    id: int
    name: str
    email: str
    departments: list[Named]
    scope: str
    token_expires_at: datetime | None


class Answered(BaseModel):
    changed: bool = Field(description="False when it only repeated the answer already given.")
    handoff: Handoff
    commitment_status: str


class Told(BaseModel):
    changed: bool
    commitment: Commitment


# --- what the API takes -----------------------------------------------------------------------


class KnownCustomer(In):
    """A customer Handoff knows already, by id."""

    id: BodyId


class NewCustomer(In):
    """A customer new to Handoff: a name, and what else is known."""

    name: text(LIMITS["customer_name"], required=True)
    email: EmailStr | Literal[""] = Field(default="", max_length=LIMITS["customer_email"])
    phone: text(LIMITS["customer_phone"]) = ""
    account_ref: text(LIMITS["customer_account_ref"]) = ""


class StepIn(In):
    department_id: BodyId
    ask: text(LIMITS["ask"], required=True)
    due_at: Moment
    standing_promise_id: BodyId | None = Field(
        default=None, description="Ask within one of the department's standing promises."
    )
    amount: Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, decimal_places=2)] | None = None
    quantity: BodyId | None = None


class CommitmentIn(In):
    customer: KnownCustomer | NewCustomer
    title: text(LIMITS["title"], required=True)
    details: text(LIMITS["details"]) = ""
    channel: Literal[tuple(CHANNELS)]  # type: ignore[valid-type]
    promised_at: Moment
    promised_by: BodyId = Field(description="The department the promise is made on behalf of.")
    route: list[StepIn] = Field(min_length=1, max_length=8)


class CommitmentQuery(In):
    customer: Id | None = None
    department: Id | None = Field(
        default=None, description="Made by this department, or handing work to it."
    )
    status: (
        Literal["open", "waiting", "at_risk", "overdue", "confirmed", "fulfilled", "cancelled"]
        | None
    ) = Field(default=None, description="open: every commitment still on the board")
    due_after: Bound | None = None
    due_before: Bound | None = None
    cursor: Annotated[str, Field(max_length=600, pattern=NO_NUL)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 25


class InboxQuery(In):
    section: Literal[tuple(SECTIONS)] = "waiting"  # type: ignore[valid-type]
    cursor: Annotated[str, Field(max_length=600, pattern=NO_NUL)] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 25


class NoteIn(In):
    note: text(LIMITS["note"]) = ""

    def answer(self) -> dict:
        return {"note": self.note}


class ReasonIn(In):
    reason: text(LIMITS["reason"], required=True)

    def answer(self) -> dict:
        return {"reason": self.reason}


class CounterIn(In):
    due_at: Moment | None = Field(default=None, description="The date the department can meet.")
    terms: text(LIMITS["terms"]) = ""
    note: text(LIMITS["note"]) = ""

    def answer(self) -> dict:
        return {"due_at": self.due_at, "terms": self.terms, "note": self.note}


class Nothing(In):
    def answer(self) -> dict:
        return {}


class ToldIn(In):
    note: text(LIMITS["note"], required=True, description="What the customer was told.")
