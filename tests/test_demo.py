"""The demo is what the README says it is: its size, its accounts, its walk-through."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from handoff.accounts.models import Person
from handoff.commitments.models import Commitment
from handoff.customers.models import Customer
from handoff.demo import DEMO_PASSWORD, build_demo, sign_in_details
from handoff.departments.hours import WorkingHours, business_day_minutes
from handoff.departments.models import Department
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db, transaction
from handoff.promises.models import StandingPromise
from handoff.promises.services import save_promise

from conftest import PASSWORD, writes

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def said(pattern: str) -> re.Match:
    """What the README says, however its lines are wrapped."""
    found = re.search(pattern.replace(" ", r"\s+"), README)
    assert found, f"the README no longer says {pattern!r}"
    return found


def test_the_readme_says_what_the_demo_is(app):
    with transaction():
        build_demo(seed=7, progress=lambda line: None)

    # its size
    size = said(r"\((\d+) departments, (\d+) people, (\d+) customers, (\d+) commitments")
    counted = [
        db.session.scalar(select(func.count()).select_from(model))
        for model in (Department, Person, Customer, Commitment)
    ]
    assert [int(n) for n in size.groups()] == counted

    # the accounts: each signs in with the demo password and is who the table says
    table = re.findall(r"^\| `([^`]+@example\.com)` \| (.+?) \|$", README, re.MULTILINE)
    assert len(table) >= 5
    for email, who in table:
        person = Person.by_email(email)
        assert person is not None and check_password_hash(person.password_hash, DEMO_PASSWORD)
        if person.is_admin:
            assert who.startswith("administrator")
            continue
        assert who.startswith(person.name), (email, who)
        for membership in person.memberships:
            assert membership.department.name in who, (email, who)
        assert ("lead of" in who) == any(m.role == "lead" for m in person.memberships), who

    # the list printed at start-up: one line a person, the table's people
    printed = [line.split()[0] for line in sign_in_details()]
    assert len(printed) == len(set(printed)) and set(printed) == {email for email, _ in table}

    # "Support works round the clock"
    said("Support works round the clock")
    support = db.session.scalar(select(Department).where(Department.name == "Support"))
    assert WorkingHours.for_department(support.id).always_open

    # the walk: what it publishes in Installation is not there yet, and publishing it works
    published = said(r'"([^"]+)" \((\d+) business days\) is published')
    walk = said(r'publish another \("([^"]+)", (\d+) business days\)')
    installation = db.session.scalar(select(Department).where(Department.name == "Installation"))
    names = set(
        db.session.scalars(
            select(StandingPromise.name).where(StandingPromise.department_id == installation.id)
        )
    )
    assert published.group(1) in names and walk.group(1) not in names
    ben = Person.by_email("ben@example.com")
    assert ben.is_lead_of(installation.id)
    with transaction():
        save_promise(
            installation,
            ben,
            utcnow(),
            promise=None,
            name=walk.group(1),
            covers="",
            lead_minutes=int(walk.group(2)) * business_day_minutes(installation.id),
            max_amount=None,
            max_quantity=None,
        )


@pytest.mark.parametrize(
    "moment",
    [
        None,  # now
        # the day after Christmas: two days' notice over the holidays are no business minutes,
        # and a request given none once kept the demo's suggestion from being made
        datetime(2026, 12, 26, 3, 34, tzinfo=UTC),
    ],
)
def test_the_demos_insights_tell_the_story_the_readme_tells(app, monkeypatch, moment):
    from handoff.insights.queries import department_names, figures_by
    from handoff.insights.routes import Period
    from handoff.insights.suggestions import to_publish

    if moment is not None:
        monkeypatch.setattr("handoff.demo.utcnow", lambda: moment)
    with transaction():
        build_demo(seed=7, progress=lambda line: None)
    said("Finance answers slowest")
    said("Warehouse declines most")
    said("the cell Sales → Installation holds most of Installation's declines")
    said('accepted every "Mount and connect the display" request it answered')
    names = department_names()
    ids = {name: i for i, name in names.items()}
    period = Period({}, (moment or utcnow()).date())
    by_department = figures_by(["department_id"], period.first, period.last)
    medians = {names[d]: f.median for (d,), f in by_department.items()}
    assert max(medians, key=lambda n: medians[n] or 0) == "Finance", medians
    declines = {names[d]: f.counts["declined"] for (d,), f in by_department.items()}
    assert max(declines, key=declines.get) == "Warehouse", declines
    pairs = figures_by(["owner_department_id", "department_id"], period.first, period.last)
    into_installation = {
        names[o]: f.counts["declined"] for (o, d), f in pairs.items() if d == ids["Installation"]
    }
    assert max(into_installation, key=into_installation.get) == "Sales", into_installation
    mount = [
        s for s in to_publish(period.first, period.last) if s.ask == "Mount and connect the display"
    ]
    assert mount and mount[0].accepted == mount[0].requests >= 5  # (a suggestion: 5 or more)


def test_where_the_dice_cancelled_nothing_the_demo_cancels_the_latest_waiting(org, make, now):
    """The demo shows a cancelled handoff whatever its dice did: the latest commitment still
    waiting is cancelled by its owner, after the last thing on its timeline."""
    from handoff.commitments import services
    from handoff.demo import _show_a_cancellation
    from handoff.kernel.timeline import TimelineEvent

    hours = timedelta(hours=1)
    older = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=now - 5 * hours
    )
    latest = make.commitment(by=org.ana, owner=org.sales, route=[org.billing], at=now - 4 * hours)
    with transaction():
        services.add_comment(latest, org.ana, now - 2 * hours, "Customer asked again.")
    people = {"Sales": [org.ana]}
    with transaction():
        _show_a_cancellation([older, latest], now, people)
    assert [h.state for h in latest.handoffs] == ["cancelled"]
    assert [h.state for h in older.handoffs] == ["pending"]
    moments = db.session.scalars(
        select(TimelineEvent.created_at)
        .where(TimelineEvent.commitment_id == latest.id)
        .order_by(TimelineEvent.id)
    ).all()
    assert moments == sorted(moments)  # (the cancellation after the comment)
    with transaction():  # one is shown: nothing more is cancelled
        _show_a_cancellation([older, latest], now, people)
    assert [h.state for h in older.handoffs] == ["pending"]


def test_a_database_the_demo_was_not_loaded_into_names_no_demo_account(org):
    # (the bench's organisation, say: the demo's accounts are not there to sign in with)
    assert sign_in_details() == []
    # nor when its administrator has the demo's address, with a password of its own
    with writes():
        org.admin.email = "admin@example.com"
    assert org.admin.check_password(PASSWORD) and sign_in_details() == []
