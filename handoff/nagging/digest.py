"""One reminder mail per person: every item waiting for them, most urgent first."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from email.utils import make_msgid
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import defaultload, lazyload

from handoff.accounts.models import Person
from handoff.commitments.answers import answers_for
from handoff.commitments.models import Commitment
from handoff.commitments.rows import handoff_cards
from handoff.kernel.dates import format_when, is_valid_zone
from handoff.kernel.db import db
from handoff.kernel.urls import UrlPattern
from handoff.mail import OutboxMessage, mail_domain, one_line
from handoff.nagging.links import make_token
from handoff.nagging.replies import reply_address
from handoff.nagging.rules import Kind
from handoff.ownership.models import CustomerTask

# Most urgent first: the further escalated, then late work, then what waits for an answer.
KIND_ORDER = {
    Kind.LATE: 0,
    Kind.TELL: 0,
    Kind.ACK: 1,
    Kind.SETTLE: 1,
    Kind.DUE_SOON: 2,
    Kind.FYI: 3,
    Kind.HANDOVER: 3,
}
# The reminders that ask for an answer carry one-click links to the answers the recipient
# may give (commitments.answers); news and notices carry none.
ASKS_AN_ANSWER = frozenset({Kind.ACK, Kind.SETTLE, Kind.DUE_SOON, Kind.LATE})


@dataclass
class DigestItem:
    nag: object
    handoff: object  # the handoff the item is about (for a task: the one that broke)
    kind: Kind
    links: list[tuple[str, str]]
    open_url: str
    task: object = None

    @property
    def commitment(self):
        return self.handoff.commitment

    @property
    def line(self) -> str:
        """What is asked: 'Installation: install the router', or the customer to tell."""
        if self.kind == Kind.HANDOVER:
            owner = self.task.commitment.customer_owner_department.name
            return f"Handed over: {owner} talks to the customer now"
        if self.task is not None:
            return f"Tell the customer: {self.task.why}"
        return f"{self.handoff.department.name}: {self.handoff.ask}"

    @property
    def due_at(self) -> datetime:
        """When it is due: the task's deadline, or the handoff's date as it stands (a
        counter's date while countered)."""
        return self.task.due_at if self.task is not None else self.handoff.effective_due_at

    @property
    def is_news(self) -> bool:
        """News and notices: nothing is due from the reader."""
        return self.kind in (Kind.FYI, Kind.HANDOVER)


def opening(kinds: list[Kind]) -> str:
    """The digest's first sentence: what waits, then the news."""
    counts = Counter(
        {Kind.TELL: "tell", Kind.FYI: "fyi", Kind.HANDOVER: "handover"}.get(kind, "wait")
        for kind in kinds
    )
    parts = []
    if counts["wait"]:
        waiting = counts["wait"]
        parts.append(
            "One handoff waits for you."
            if waiting == 1
            else f"{waiting} handoffs wait for you, most urgent first."
        )
    if counts["tell"]:
        tell = counts["tell"]
        parts.append(
            "One customer must be told that a promise changed."
            if tell == 1
            else f"{tell} customers must be told that a promise changed."
        )
    if counts["fyi"]:
        news = counts["fyi"]
        parts.append(
            ("One handoff was" if news == 1 else f"{news} handoffs were")
            + " accepted at once by a standing promise: nothing to answer."
        )
    if counts["handover"]:
        moved = counts["handover"]
        parts.append(
            ("One customer conversation" if moved == 1 else f"{moved} customer conversations")
            + " moved to another department: you no longer need to speak to the customer."
        )
    return " ".join(parts)


def headline(item: DigestItem, zone: ZoneInfo, now: datetime) -> str:
    """What the item is waiting for, in one line, in the recipient's time zone."""
    handoff = item.handoff

    def when(moment: datetime) -> str:
        return format_when(moment, zone, now)

    department = handoff.department.name
    if item.kind == Kind.HANDOVER:
        # the owner now, which a later break in the same round may have moved on again
        commitment = item.task.commitment
        owner = commitment.customer_owner_department.name
        person = commitment.customer_owner_person
        named = f" ({person.name})" if person else ""
        return (
            f"{item.task.why}: {owner}{named} talks to the customer about it now; you no "
            "longer do. If the customer calls you, say so."
        )
    if item.kind == Kind.TELL:
        task = item.task
        person = f" ({task.person.name})" if task.person else ""
        told = f" Already told: {task.carried}" if task.carried else ""
        return (
            f"{task.why}: {task.department.name}{person} talks to the customer now. "
            f"Tell them by {when(task.due_at)}, then mark it told with what you said.{told}"
        )
    if item.kind == Kind.ACK:
        return (
            f"Waiting for {department}'s answer since {when(handoff.changed_at)}; "
            f"asked for {when(handoff.due_at)}."
        )
    if item.kind == Kind.SETTLE:
        offer = when(handoff.counter_due_at) if handoff.counter_due_at else ""
        terms = "; ".join(part for part in (offer, handoff.counter_terms) if part)
        return f"{department} countered ({terms}): settle it, take it or reject it."
    if item.kind == Kind.FYI:
        return (
            f"For your information: accepted at once by {department}'s standing promise, "
            f"due {when(handoff.due_at)}. Nothing to answer."
        )
    if item.kind == Kind.DUE_SOON:
        return f"Due {when(handoff.due_at)} and not marked done yet."
    owner = item.commitment.customer_owner_department.name
    return (
        f"Late: due {when(handoff.due_at)} and not marked done. "
        f"{owner} talks to the customer about it."
    )


def thread_id(commitment) -> str:
    """The Message-ID every mail about one commitment refers to, so clients thread them."""
    return f"<commitment-{commitment.reference}@{mail_domain()}>"


def compose_digest(
    email: str,
    nags: list,
    facts,
    now: datetime,
    cards: dict | None = None,
    person: Person | None = None,
) -> OutboxMessage:
    """Write the digest for one recipient into the outbox (the caller commits).

    Several reminders about one thing (a repeat held back, then a new level) make one item:
    the latest of them. The most urgent items are told in full with their answer buttons
    (DIGEST_ITEMS_IN_FULL); the next ones a line each, up to DIGEST_ITEMS_LISTED; the rest
    are counted with a link to where they wait. A mail stays readable, and its cost bounded,
    however much waits for one person. `cards` keeps the handoffs read, for the next digest
    of the same transaction; `person` is the recipient's, when the caller has read it.
    """
    latest: dict[tuple, object] = {}
    for nag in sorted(nags, key=lambda n: (n.level, n.number, n.id)):
        latest[(nag.handoff_id, nag.task_id, nag.kind)] = nag
    nags = list(latest.values())
    if person is None and nags[0].person_id:
        person = db.session.get(Person, nags[0].person_id)
    zone_name = person.time_zone if person and is_valid_zone(person.time_zone) else None
    zone = ZoneInfo(zone_name or current_app.config["DEFAULT_TIME_ZONE"])
    in_full = current_app.config["DIGEST_ITEMS_IN_FULL"]
    listed = max(1, in_full, current_app.config["DIGEST_ITEMS_LISTED"])
    if person is None:
        # the organisation's escalation contact may have no account to open a count with:
        # every item is listed (none has buttons for it anyway)
        listed = len(nags)
    # most urgent first, from the facts read under lock; only what is shown is loaded whole
    nags.sort(key=lambda n: (-n.level, KIND_ORDER[Kind(n.kind)], facts.about(n).due_at, n.id))
    handoffs, tasks = _load(nags[:listed], facts, {} if cards is None else cards)
    shown = []
    for nag in nags[:listed]:
        kind = Kind(nag.kind)
        if nag.task_id is not None:
            task = tasks[nag.task_id]
            shown.append(DigestItem(nag, task.handoff, kind, [], "", task))
        else:
            shown.append(DigestItem(nag, handoffs[nag.handoff_id], kind, [], ""))
    rest = nags[listed:]
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    with current_app.test_request_context(
        "/", base_url=f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}"
    ):
        show = UrlPattern("commitments.show", ["reference"], external=True)
        act = UrlPattern("nagging.act", ["token", "do"], external=True)
        for number, item in enumerate(shown):
            item.open_url = show.url(reference=item.commitment.reference)
            if item.task is not None:
                item.open_url += "" if item.kind == Kind.HANDOVER else "#tell"
            elif number < in_full and person is not None and item.kind in ASKS_AN_ANSWER:
                token = make_token(item.handoff, person.id)
                item.links = [
                    (answer.label, act.url(token=token, do=answer.name))
                    for answer in answers_for(person, item.handoff)
                    if answer.by_mail
                ]
        more_url = _where_the_rest_wait(rest)
        context = {
            "items": shown[:in_full],
            "listed": shown[in_full:],
            "more": len(rest),
            "more_url": more_url,
            "recipient": nags[0].recipient_name,
            "zone": zone,
            "now": now,
            "headline": headline,
            "when": lambda moment: format_when(moment, zone, now),
            "opening": opening([Kind(n.kind) for n in nags]),
            # answered by reply (nagging.replies): by a person, naming the handoff if several
            "by_reply": person is not None and any(i.task is None for i in shown),
            "lead": next((i.commitment.reference for i in shown if i.task is None), None),
            "several": len({n.handoff_id for n in nags if n.handoff_id is not None}) > 1,
        }
        text = render_template("email/digest.txt", **context)
        html = render_template("email/digest.html", **context)
    commitments = {facts.about(nag).commitment_id for nag in nags}
    first = shown[0].commitment
    if len(commitments) == 1:
        subject = f"[Handoff] {first.reference} {first.customer.name}: {first.title}"
        thread = thread_id(first)
    else:
        noun = "items" if any(n.task_id is not None for n in nags) else "handoffs"
        subject = f"[Handoff] {len(nags)} {noun} for you — most urgent {first.reference}"
        thread = None
    message = OutboxMessage(
        message_id=make_msgid(domain=mail_domain()),
        to_address=email,
        to_name=one_line(nags[0].recipient_name, 120),
        person_id=person.id if person else None,
        subject=one_line(subject, 300),  # a line break in a title must not break the header
        body_text=text,
        body_html=html,
        thread_id=thread,
        next_attempt_at=now,
        created_at=now,
    )
    db.session.add(message)
    db.session.flush()
    # a reply answers the first handoff shown, unless it names another (nagging.replies)
    lead = next((item.handoff.id for item in shown if item.task is None), None)
    message.reply_to = reply_address(message, lead)  # (its id is known now)
    return message


def _load(nags: list, facts, cards: dict) -> tuple[dict, dict]:
    """The handoffs these reminders are about as cards (rows of columns: a digest shows
    dozens; those not in `cards` yet are read and kept there), and the tasks as objects
    (already locked)."""
    task_ids = sorted({n.task_id for n in nags if n.task_id is not None})
    handoff_ids = {n.handoff_id for n in nags if n.handoff_id is not None}
    handoff_ids |= {facts.tasks[i].handoff_id for i in task_ids}
    cards.update(handoff_cards(sorted(handoff_ids - cards.keys())))
    handoffs = {i: cards[i] for i in handoff_ids}
    if not task_ids:
        return handoffs, {}
    tasks = db.session.scalars(
        select(CustomerTask)
        .where(CustomerTask.id.in_(task_ids))
        .options(
            defaultload(CustomerTask.commitment).lazyload(Commitment.handoffs),
            defaultload(CustomerTask.commitment).lazyload(Commitment.made_by),
            lazyload(CustomerTask.closed_by),
        )
    )
    return handoffs, {t.id: t for t in tasks.unique()}


def _where_the_rest_wait(rest: list) -> str:
    """Where the items a digest only counts can be read: the inbox of the department they
    are heard as, or the board when they are heard as several (or as the organisation)."""
    if not rest:
        return ""
    departments = {nag.via_department_id for nag in rest}
    if len(departments) == 1 and None not in departments:
        return url_for("inbox.show", department_id=departments.pop(), _external=True)
    return url_for("board.index", _external=True)
