"""Each department's week, mailed to its leads once: the week's figures against its targets,
and the weeks before it as a trend.

A round of the nagger writes it once the week is over and the department's hours are open
(Monday morning, mostly), through the outbox like any mail. Exactly once, however many
naggers run: the first to claim the (department, week) writes it, in the same transaction.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask import current_app, render_template, url_for
from sqlalchemy import select

from handoff.accounts.models import Person
from handoff.departments.away import Presence
from handoff.departments.hours import hours_of
from handoff.departments.models import Department, Membership
from handoff.insights.formats import FORMATS
from handoff.insights.models import WeeklyReport
from handoff.insights.queries import figures_by, weeks_between
from handoff.insights.rollups import organisation_zone, week_of
from handoff.insights.services import targets_of
from handoff.kernel.db import db, insert_new, writing
from handoff.mail import PENDING, OutboxMessage, mail_domain

TREND_WEEKS = 8


def write_weekly_reports(now: datetime) -> int:
    """Write last week's report of every department whose hours are open now and that has
    not had it: answer how many mails were written."""
    written = 0
    db.session.rollback()  # (a write transaction from its first read: SQLite's lock, at once)
    with writing():
        last_week = week_of(now, organisation_zone()) - timedelta(days=7)
        done = set(
            db.session.scalars(
                select(WeeklyReport.department_id).where(WeeklyReport.week == last_week)
            )
        )
        leads = _leads(exclude=done, presence=Presence.at(now))
        for department_id, (name, people) in sorted(leads.items()):
            if not hours_of(department_id).is_open(now):
                continue  # in its hours: Monday morning, where it is
            claimed = insert_new(
                WeeklyReport,
                [{"department_id": department_id, "week": last_week, "written_at": now}],
                ["department_id", "week"],
            )
            if not claimed:
                continue  # another nagger wrote it
            written += _write(department_id, name, people, last_week, now)
        db.session.commit()
    return written


@dataclass
class Reader:
    """Who gets a department's week: a lead, or whoever answers for an away lead."""

    person_id: int
    name: str
    email: str
    own: bool = True  # a lead of the department themselves
    standing_in_for: list[str] = field(default_factory=list)  # the away leads, by name


def _leads(exclude: set[int], presence: Presence) -> dict[int, tuple[str, list]]:
    """Each department's leads, by department, but those done: a lead who is away is
    replaced by the person answering for them (who gets it for them), or left out when
    nobody does. Each one once: (person id, name, address, the away leads they get it for)."""
    found: dict[int, tuple[str, list]] = {}
    for department_id, name, person_id, person_name, email in db.session.execute(
        select(Department.id, Department.name, Person.id, Person.name, Person.email)
        .join(Membership, Membership.department_id == Department.id)
        .join(Person, Person.id == Membership.person_id)
        .where(Membership.role == "lead", Person.active.is_(True), Person.email != "")
        .order_by(Department.id, Person.name)
    ):
        if department_id in exclude:
            continue
        reader = Reader(person_id, person_name, email)
        if presence.is_away(person_id):
            delegate = presence.delegate_of(person_id)
            if delegate is None or not delegate.email:
                continue
            reader = Reader(delegate.id, delegate.name, delegate.email, own=False)
        readers = found.setdefault(department_id, (name, []))[1]
        known = next((r for r in readers if r.person_id == reader.person_id), None)
        if known is None:  # (a lead who also answers for another, or one for two: once)
            known = reader
            readers.append(known)
        known.own |= reader.own
        if not reader.own:
            known.standing_in_for.append(person_name)
    return found


def report_context(department_id: int, name: str, week, now: datetime) -> dict:
    """What a department's weekly report says: the week, its target, the weeks before."""
    first = week - timedelta(weeks=TREND_WEEKS - 1)
    weeks = figures_by(["department_id", "week"], first, week, [department_id])
    trend = [(w, weeks.get((department_id, w))) for w in weeks_between(first, week)]
    target = targets_of([department_id]).get(department_id)
    this = weeks.get((department_id, week))
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    with current_app.test_request_context(
        "/", base_url=f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}"
    ):
        link = url_for(
            "insights.index",
            department=department_id,
            **{"from": first.isoformat(), "to": (week + timedelta(days=6)).isoformat()},
            _external=True,
        )
    return {
        "name": name,
        "week": week,
        "this": this,
        "trend": trend,
        "target": target,
        "link": link,
        "now": now,
        **FORMATS,
    }


def _write(department_id: int, name: str, people: list, week, now: datetime) -> int:
    context = report_context(department_id, name, week, now)
    within = context["this"].share("in_window", "answered") if context["this"] else None
    said = (
        f"{round(within * 100)} % answered within the window"
        if within is not None
        else ("no handoffs answered")
    )
    subject = f"[Handoff] {name}'s week of {week:%d %b}: {said}"
    rows = []
    for reader in people:
        person_id, person_name, email = reader.person_id, reader.name, reader.email
        said = {
            "recipient": person_name,
            "standing_in_for": reader.standing_in_for,
            "also": reader.own,
        }
        text = render_template("email/weekly.txt", **said, **context)
        html = render_template("email/weekly.html", **said, **context)
        rows.append(
            {
                "message_id": f"<weekly-{department_id}-{week}-{person_id}@{mail_domain()}>",
                "to_address": email,
                "to_name": person_name[:120],
                "person_id": person_id,
                "subject": subject[:300],
                "body_text": text,
                "body_html": html,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
                "created_at": now,
            }
        )
    return len(insert_new(OutboxMessage, rows, ["message_id"]))
