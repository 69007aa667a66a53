"""A demo organisation whose board feels alive: built through the real service functions."""

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache

from sqlalchemy import func, select
from werkzeug.security import generate_password_hash

from handoff.accounts.models import Person
from handoff.commitments import services
from handoff.customers.models import Customer
from handoff.departments.away import mark_away
from handoff.departments.hours import hours_of
from handoff.departments.models import Department, Membership
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.kernel.timeline import TimelineEvent
from handoff.nagging.policies import save_policy
from handoff.nagging.sweep import sweep
from handoff.ownership.models import CustomerTask
from handoff.ownership.services import mark_told
from handoff.promises.services import save_promise, set_on_duty

DEMO_PASSWORD = "handoff-demo"
HISTORY_DAYS = 3  # of reminders
HISTORY_WEEKS = 8  # of commitments: what insights show by default
TOLD_NOTES = [
    "Called; they are fine with the new date.",
    "Left a voicemail and sent an email with the details.",
    "Emailed the options; they will pick one.",
    "Called: apologised, offered a goodwill credit.",
    "Spoke to them, they asked for a call back next week.",
]

DEPARTMENTS = {
    "Sales": "Makes promises to new and existing customers.",
    "Customer Service": "Answers customers on the phone, by email and in chat.",
    "Installation": "Installs equipment on the customer's site.",
    "Billing": "Invoices, credits and payment plans.",
    "Shipping": "Gets goods out of the warehouse and to the customer.",
    "Support": "Fixes what is broken, remotely.",
    "Field Service": "Repairs and maintenance on site.",
    "Finance": "Approves credit, refunds and exceptions.",
    "Procurement": "Orders what is not in stock.",
    "Warehouse": "Keeps stock and prepares orders.",
    "Legal": "Contracts and compliance.",
    "Quality": "Checks that what we deliver works.",
}
# (name, email local part, department, role); the first ones are printed at start-up.
NAMED_PEOPLE = [
    ("Ana Ruiz", "ana", "Sales", "lead"),
    ("Ben Okafor", "ben", "Installation", "lead"),
    ("Chloe Martin", "chloe", "Customer Service", "member"),
    ("Dev Patel", "dev", "Billing", "lead"),
    ("Lena Quinn", "lena", "Field Service", "lead"),
]
# The story insights tell of the demo's month: Finance answers slowly, Warehouse declines a
# lot, Sales promises on Installation's behalf without asking, and Installation keeps
# accepting the same request that no standing promise covers yet.
SLOW = "Finance"
DECLINES_A_LOT = "Warehouse"
PROMISES_WITHOUT_ASKING = ("Sales", "Installation")
TO_PUBLISH = ("Installation", "Mount and connect the display")
MOUNT_DAYS = 2  # business days of notice the requests to publish come with
# Away this week (from today, for five days), and who answers for them: Lena, with Ben
# answering for her; all of Legal, with nobody, so the board names it.
AWAY_DAYS = 5
FIRST = [
    "Ava",
    "Liam",
    "Mia",
    "Noah",
    "Zoe",
    "Omar",
    "Ivy",
    "Leo",
    "Nina",
    "Hugo",
    "Lena",
    "Theo",
    "Ella",
    "Max",
    "Sara",
    "Finn",
    "Rosa",
    "Jan",
]
LAST = [
    "Berg",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Hansen",
    "Ito",
    "Jensen",
    "Klein",
    "Lopez",
    "Meyer",
    "Novak",
]
LAST += ["Olsen", "Quinn", "Rossi", "Schmidt", "Tan", "Weber", "Young"]
COMPANY_A = [
    "Acme",
    "Nordic",
    "Blue",
    "Summit",
    "Harbor",
    "Green",
    "Iron",
    "Silver",
    "Bright",
    "Oak",
    "Pine",
    "Delta",
    "Apex",
]
COMPANY_B = [
    "Bakery",
    "Dental",
    "Logistics",
    "Studio",
    "Hotel",
    "Clinic",
    "Garage",
    "Foods",
    "Printing",
    "Pharmacy",
    "Labs",
]

ASKS = {
    "Installation": [
        "Install the router on site",
        "Install 3 access points",
        "Mount and connect the display",
    ],
    "Billing": ["Credit the last invoice", "Set up a payment plan", "Invoice on the new rate"],
    "Shipping": [
        "Ship the replacement unit",
        "Express delivery of the order",
        "Send the spare parts",
    ],
    "Support": [
        "Remote fix of the configuration",
        "Reset the customer's account",
        "Call back with a diagnosis",
    ],
    "Field Service": [
        "Repair visit",
        "Replace the faulty unit on site",
        "Annual maintenance visit",
    ],
    "Finance": [
        "Approve a goodwill credit of 50 EUR",
        "Approve the refund",
        "Approve extended payment terms",
    ],
    "Procurement": [
        "Order the missing part",
        "Source 20 units",
        "Get the supplier to confirm a date",
    ],
    "Warehouse": [
        "Reserve stock for the order",
        "Pick and pack today",
        "Hold the unit for collection",
    ],
    "Legal": ["Review the contract change", "Confirm the cancellation terms"],
    "Quality": ["Test the unit before shipping", "Inspect the installation"],
    "Sales": ["Confirm the offer in writing", "Visit the customer with a proposal"],
    "Customer Service": ["Call the customer to confirm", "Send the customer a written summary"],
}
PROMISES = [
    "Installation within 24 hours",
    "Replacement unit by Friday",
    "Credit on the next invoice",
    "Technician visit this week",
    "Refund within 5 days",
    "Delivery before the opening",
    "Fix before the weekend",
    "Upgrade to the new plan with no downtime",
]
DECLINE_REASONS = [
    "Needs a signed order first",
    "No technician free in that region this week",
    "Over the amount we can approve without the contract",
    "Part is discontinued",
]
COMMENTS = [
    "Can we do the morning? The customer is only there until noon.",
    "Checked with the team: tight but possible.",
    "Customer called again asking for an update.",
    "We need the account number before we can start.",
]


def build_demo(
    seed: int = 7, progress: Callable[[str], None] = print, commitments: int = 360
) -> str:
    """Create departments, people, customers and commitments in every state; say what was made."""
    rng = random.Random(seed)
    now = utcnow().replace(second=0, microsecond=0)
    departments = {
        name: Department(name=name, description=text) for name, text in DEPARTMENTS.items()
    }
    db.session.add_all(departments.values())

    admin = _person("Admin", "admin@example.com", is_admin=True)
    people_by_department: dict[str, list[Person]] = {name: [] for name in departments}
    for name, local, department, role in NAMED_PEOPLE:
        person = _person(name, f"{local}@example.com")
        _join(person, departments[department], role, people_by_department)
    # Chloe in Customer Service also takes calls for Sales: one person, two inboxes.
    _join(
        db.session.scalar(db.select(Person).filter_by(email="chloe@example.com")),
        departments["Sales"],
        "member",
        people_by_department,
    )
    used = {p.email for members in people_by_department.values() for p in members}
    has_lead = {department for _, _, department, role in NAMED_PEOPLE if role == "lead"}
    named = {tuple(name.split(" ", 1)) for name, *_ in NAMED_PEOPLE}
    for department in departments.values():
        while len(people_by_department[department.name]) < 3:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}@example.com".lower()
            if email in used or (first, last) in named:  # (one Lena Quinn in the demo)
                continue
            used.add(email)
            role = "member" if department.name in has_lead else "lead"
            has_lead.add(department.name)
            _join(_person(f"{first} {last}", email), department, role, people_by_department)
    db.session.flush()
    progress(f"  {len(departments)} departments, {len(used) + 1} people")
    _away(now, people_by_department)

    _policies(departments, now)
    promises = _catalogues(departments, people_by_department, now)
    customers = _customers(rng, 300)
    db.session.add_all(customers)
    db.session.flush()
    progress(f"  {len(customers)} customers")

    names = list(departments)
    promisers = [
        "Sales",
        "Sales",
        "Customer Service",
        "Customer Service",
        "Support",
        "Field Service",
    ]
    made = []
    office = hours_of(None)  # people make promises in office hours, mostly
    for index in range(commitments):
        # each commitment its own dice, and each of its dice thrown whatever the hour: the
        # demo tells the same story whenever it is loaded (the README's, which its test reads)
        dice = random.Random(seed * 1_000_003 + index)
        created = now - timedelta(minutes=dice.randint(10, HISTORY_WEEKS * 7 * 24 * 60))
        if index % 4 == 0:  # a quarter made in the last two days: fresh work waiting
            created = now - timedelta(minutes=dice.randint(10, 48 * 60))
        created = _in_office_hours(created, now, office, dice)
        owner_name = dice.choice(promisers)
        maker = dice.choice(people_by_department[owner_name])
        route_names = dice.sample(
            [n for n in names if n != owner_name], dice.choice([1, 1, 2, 2, 3])
        )
        promised = created + timedelta(hours=dice.randint(20, 21 * 24))
        route = []
        for position, name in enumerate(route_names):
            due = created + (promised - created) * (position + 1) / (len(route_names) + 0.5)
            promise = promises.get(name) if dice.random() < 0.5 else None
            amount = Decimal(dice.randint(20, 80)) if promise and promise.max_amount else None
            ask = dice.choice(ASKS[name])
            if (owner_name, name) == PROMISES_WITHOUT_ASKING and (name, ask) == TO_PUBLISH:
                ask = ASKS[name][1]  # (what Sales promises is not what Installation does)
            if (name, ask) == TO_PUBLISH and not _with_notice(departments[name], created, due):
                ask = ASKS[name][0]  # (the request a promise would cover comes with notice)
            if (name, ask) == TO_PUBLISH:
                promise, amount = None, None  # (no standing promise covers it yet)
            step = services.RouteStep(departments[name], ask, due, promise, amount=amount)
            route.append(step)
        commitment = services.record_commitment(
            actor=maker,
            customer=dice.choice(customers),
            title=dice.choice(PROMISES),
            details=dice.choice(["", "Customer was upset about an earlier delay.", "Key account."]),
            channel=dice.choice(["phone", "phone", "email", "in_person", "web", "chat"]),
            promised_at=promised,
            owner_department=departments[owner_name],
            route=route,
            now=created,
        )
        _play(dice, commitment, created, now, people_by_department)
        made.append(commitment)
        if index % 40 == 0:
            progress(f"  commitments: {index}/{commitments}")
    progress(f"  commitments: {commitments}/{commitments}")
    _show_a_cancellation(made, now, people_by_department)
    _feedback(random.Random(seed + 1), made, now, people_by_department)
    reminders = _nag_history(random.Random(seed + 2), now, people_by_department, progress)
    return (
        f"Demo loaded: {len(departments)} departments, {len(used) + 1} people, "
        f"{len(customers)} customers, {commitments} commitments, {reminders} reminders "
        f"(admin: {admin.email})."
    )


def _with_notice(department: Department, asked: datetime, due: datetime) -> bool:
    """Whether a request gives its department MOUNT_DAYS business days of notice (counted
    in its hours, as insights count the notice a promise would need: two days over
    Christmas are none)."""
    hours = hours_of(department.id, asked.year)
    return hours.minutes_between(asked, due) >= MOUNT_DAYS * hours.day_minutes


def _in_office_hours(moment: datetime, now: datetime, office, rng) -> datetime:
    """A moment moved into the organisation's hours (where it is not after now)."""
    later, earlier = rng.randint(0, 6 * 60), rng.randint(10, 8 * 60)  # (thrown either way)
    if office.is_open(moment):
        return moment
    moved = office.next_open(moment) + timedelta(minutes=later)
    if moved < now:
        return moved
    # (after the last opening before now, on a weekend say: the last working day instead)
    return office.subtract(now, earlier)


def _odds(commitment, handoff) -> tuple[float, float, float]:
    """Where a department's answer falls (accept below the first, counter below the second,
    decline below the third, else no answer): the story the demo's insights tell."""
    department, owner = handoff.department.name, commitment.owner_department.name
    if (department, handoff.ask) == TO_PUBLISH:
        return 1.0, 1.0, 1.0  # the same request, accepted unchanged: a promise to publish
    if (owner, department) == PROMISES_WITHOUT_ASKING:
        return 0.25, 0.55, 0.95  # promised on its behalf without asking: often not possible
    if department == DECLINES_A_LOT:
        return 0.45, 0.55, 0.95
    return 0.70, 0.85, 0.93


def _play(rng, commitment, created, now, people_by_department) -> None:
    """Answer the handoffs of a commitment the way a busy organisation would, up to now."""
    clock = created
    for handoff in list(commitment.handoffs):
        # most departments answer within hours; a few let it sit for a day or more, and one
        # always does
        if handoff.department.name == SLOW:  # a day or two, every time
            clock += timedelta(minutes=rng.randint(20 * 60, 48 * 60))
        else:
            slow = rng.random() < 0.2
            clock += timedelta(minutes=rng.randint(15, 30 * 60 if slow else 4 * 60))
        if clock >= now:
            return  # not answered yet: it waits in the department's inbox
        members = people_by_department[handoff.department.name]
        answerer = rng.choice(members)
        roll = rng.random()
        accept, counter, decline = _odds(commitment, handoff)
        if handoff.state == "accepted":  # by its standing promise, at once
            done_at = clock + timedelta(hours=rng.randint(2, 72))
            finished = rng.random() < 0.9
            if done_at < min(now, handoff.due_at) and finished:
                services.complete(handoff, answerer, done_at)
        elif roll < accept:
            services.accept(handoff, answerer, clock, rng.choice(["", "", "Booked."]))
            done_at = min(handoff.due_at, clock + timedelta(hours=rng.randint(2, 120)))
            finished = rng.random() < 0.92
            if done_at < now and finished:
                services.complete(handoff, answerer, max(done_at, clock + timedelta(minutes=5)))
        elif roll < counter:
            # (a day or more after the asked date, and after the answer: some answer late)
            offer = max(handoff.due_at, clock) + timedelta(days=rng.randint(1, 4))
            services.counter(
                handoff, answerer, clock, due_at=offer, terms="", note="Earliest slot we have."
            )
            settle_at = clock + timedelta(hours=rng.randint(1, 30))
            taken = rng.random() < 0.6
            owner = rng.choice(people_by_department[commitment.owner_department.name])
            if settle_at < now and taken:
                services.take_counter(handoff, owner, settle_at)
        elif roll < decline:
            services.decline(handoff, answerer, clock, rng.choice(DECLINE_REASONS))
            return
        if rng.random() < 0.2:
            writer = rng.choice(members)
            services.add_comment(
                commitment, writer, clock + timedelta(minutes=3), rng.choice(COMMENTS)
            )
    cancelled, seen_through = rng.random() < 0.04, rng.random() < 0.95
    if cancelled:
        owner = rng.choice(people_by_department[commitment.owner_department.name])
        cancel_at = min(now, clock + timedelta(hours=2))
        services.cancel_commitment(commitment, owner, cancel_at, "Customer changed their mind")
    elif commitment.promised_at < now and seen_through:
        _settle(rng, commitment, now, people_by_department)


def _show_a_cancellation(commitments, now, people_by_department) -> None:
    """The demo shows a cancelled handoff whatever the clock: the dice cancel one most days, and
    where they did not, the owner of the latest commitment still waiting cancels it."""
    handoffs = [h for commitment in commitments for h in commitment.handoffs]
    if any(h.state == "cancelled" for h in handoffs):
        return
    for commitment in reversed(commitments):
        if commitment.cancelled_at is not None or commitment.promised_at <= now:
            continue
        if not any(h.state == "pending" for h in commitment.handoffs):
            continue
        latest = _last_moment(commitment)
        if latest > now - timedelta(minutes=30):
            continue
        owner = people_by_department[commitment.owner_department.name][0]
        at = latest + timedelta(minutes=15)
        services.cancel_commitment(commitment, owner, at, "Customer changed their mind")
        return


def _last_moment(commitment) -> datetime:
    """When the last thing on the commitment's timeline happened (a comment may come after
    its handoffs' last change)."""
    db.session.flush()
    last = db.session.scalar(
        select(func.max(TimelineEvent.created_at)).where(
            TimelineEvent.commitment_id == commitment.id
        )
    )
    return max([h.changed_at for h in commitment.handoffs] + ([last] if last else []))


def _settle(rng, commitment, now, people_by_department) -> None:
    """Most promises whose date has passed were seen through: finish them as people would."""
    owner = rng.choice(people_by_department[commitment.owner_department.name])
    at = min(now - timedelta(minutes=5), commitment.promised_at - timedelta(hours=1))
    if any(h.state == "declined" for h in commitment.handoffs):
        services.cancel_commitment(commitment, owner, at, "Could not be delivered as promised")
        return
    for handoff in commitment.handoffs:
        member = rng.choice(people_by_department[handoff.department.name])
        at = max(at, handoff.changed_at + timedelta(minutes=10))
        if handoff.state == "countered":
            services.take_counter(handoff, owner, at)
        if handoff.state == "pending":
            services.accept(handoff, member, at)
        if handoff.state == "accepted" and at < now:
            services.complete(handoff, member, at + timedelta(minutes=30))


FEEDBACK = {
    5: "Very happy: it came when we said.",
    4: "Fine, a small wait.",
    3: "It took a while.",
    2: "They had to chase us.",
}


def _feedback(rng, commitments, now, people_by_department) -> None:
    """Most customers whose commitment was fulfilled said how it went: happier when every
    part was done on time (its own random numbers, so the rest of the demo stays the same)."""
    for commitment in commitments:
        handoffs = commitment.handoffs
        if commitment.cancelled_at is not None or not handoffs:
            continue
        if any(h.state not in ("done", "cancelled") for h in handoffs) or rng.random() < 0.3:
            continue
        finished = max(h.done_at or h.changed_at for h in handoffs)
        at = finished + timedelta(hours=rng.randint(1, 48))
        if at >= now:
            continue
        on_time = all(h.done_at is None or h.done_at <= h.due_at for h in handoffs)
        score = rng.choice([4, 5, 5]) if on_time else rng.choice([2, 3, 3, 4])
        talker = commitment.customer_owner_department.name
        services.record_feedback(
            commitment,
            rng.choice(people_by_department[talker]),
            at,
            score=score,
            comment=FEEDBACK.get(score, ""),
        )


CATALOGUE = {
    "Installation": ("Standard install", "One site, up to three devices", 3 * 9 * 60, None, 3),
    "Billing": ("Goodwill credit", "A credit on the next invoice", 60, Decimal("50.00"), None),
    "Shipping": ("Standard delivery", "Anything in stock, one parcel", 2 * 510, None, 1),
    "Support": ("Remote fix", "Configuration and account problems", 4 * 60, None, None),
    "Field Service": ("Repair visit", "A technician on site", 2 * 12 * 60, None, None),
}


def _catalogues(departments, people_by_department, now) -> dict:
    """Each department's standing promises, published by its lead, who is also on duty: a day
    before the history begins, so that every acceptance by one comes after it."""
    published = now - timedelta(weeks=HISTORY_WEEKS, days=1)
    promises = {}
    for name, (title, covers, lead, amount, quantity) in CATALOGUE.items():
        lead_person = next(
            p for p in people_by_department[name] if p.is_lead_of(departments[name].id)
        )
        promises[name] = save_promise(
            departments[name],
            lead_person,
            published,
            promise=None,
            name=title,
            covers=covers,
            lead_minutes=lead,
            max_amount=amount,
            max_quantity=quantity,
        )
        set_on_duty(departments[name], lead_person, published, lead_person)
    return promises


def _away(now: datetime, people_by_department: dict[str, list[Person]]) -> None:
    """Lena Quinn away this week with Ben Okafor answering for her; Legal away, nobody for it."""
    zone = hours_of(None).zone
    first = now.astimezone(zone).date()
    last = first + timedelta(days=AWAY_DAYS - 1)
    lena = Person.by_email("lena@example.com")
    ben = Person.by_email("ben@example.com")
    away = [(lena, ben, "Holiday")]
    away += [
        (person, None, "Away-day with the auditors") for person in people_by_department["Legal"]
    ]
    for person, delegate, note in away:
        mark_away(
            person,
            first_day=first,
            last_day=last,
            delegate=delegate,
            note=note,
            actor=person,
            zone=zone,
            now=now,
        )


def _policies(departments: dict[str, Department], now) -> None:
    """Office hours in Berlin by default; a round-the-clock Support desk; Shipping in New York."""
    save_policy(
        None,
        now,
        holiday_country="DE",
        escalation_email="duty-manager@example.com",
        escalation_name="Operations duty manager",
    )
    own = {
        "Support": {"always_open": True, "ack_window_minutes": 30, "cadence_minutes": 60},
        "Shipping": {"time_zone": "America/New_York", "day_start": "09:00", "day_end": "17:30"},
        "Field Service": {"work_days": "0,1,2,3,4,5", "day_start": "07:00", "day_end": "19:00"},
    }
    for name, changes in own.items():
        save_policy(departments[name].id, now, **changes)


def _nag_history(rng, now, people_by_department, progress) -> int:
    """Replay the last days of nagging, hour by hour, so the outbox and the board show it.

    Customers are told as the hours pass: most within hours of the promise breaking, some
    late (and reminded), a few not yet.
    """
    reminders = 0
    plans: dict[int, datetime | None] = {}
    moment = now - timedelta(days=HISTORY_DAYS)
    while moment <= now:
        _tell_customers(rng, moment, plans, people_by_department)
        reminders += sweep(moment).reminders
        moment += timedelta(hours=1)
    progress(f"  reminders over the last {HISTORY_DAYS} days: {reminders}")
    return reminders


def _tell_customers(rng, moment, plans, people_by_department) -> None:
    """Mark told the tasks whose planned moment has come."""
    for task in db.session.scalars(
        db.select(CustomerTask).where(CustomerTask.closed_at.is_(None)).order_by(CustomerTask.id)
    ).all():
        if task.id not in plans:
            hours = hours_of(task.department_id, moment.year)
            told_at = hours.add(task.created_at, rng.randint(20, 6 * 60))  # in working hours
            plans[task.id] = told_at if rng.random() < 0.8 else None
        planned = plans[task.id]
        if planned is not None and planned <= moment:
            teller = task.person or rng.choice(people_by_department[task.department.name])
            mark_told(task, teller, planned, rng.choice(TOLD_NOTES))
    db.session.commit()


def _person(name: str, email: str, is_admin: bool = False) -> Person:
    person = Person(name=name, email=email, is_admin=is_admin, time_zone="Europe/Berlin")
    person.password_hash = _demo_password_hash()
    db.session.add(person)
    return person


@cache
def _demo_password_hash() -> str:
    """The demo password's hash, made once: every demo account takes the same published
    password, and each hash costs a tenth of a second on purpose (36 of them took a seventh of
    loading the demo)."""
    return generate_password_hash(DEMO_PASSWORD)


def _join(person, department, role, people_by_department) -> None:
    membership = Membership(person=person, department=department, role=role)
    db.session.add(membership)
    if membership not in person.memberships:
        person.memberships.append(membership)
    people_by_department[department.name].append(person)


def _customers(rng, count: int) -> list[Customer]:
    customers = []
    for index in range(count):
        if index % 3 == 0:
            name = f"{rng.choice(COMPANY_A)} {rng.choice(COMPANY_B)}"
            email = f"office@{name.lower().replace(' ', '').replace('é', 'e')}{index}.example"
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            name = f"{first} {last}"
            email = f"{first}.{last}{index}@mail.example".lower()
        phone = f"+49 30 {rng.randint(1000, 9999)} {rng.randint(100, 999)}"
        customers.append(
            Customer(name=name, email=email, phone=phone, account_ref=f"A-{20000 + index}")
        )
    return customers


def sign_in_details() -> list[str]:
    """The demo accounts worth trying, one line a person, as the database has them (none
    in a database the demo was not loaded into: its administrator, if it has one of that
    address, does not take the demo's password)."""
    admin = Person.by_email("admin@example.com")
    if admin is None or not admin.check_password(DEMO_PASSWORD):
        return []
    lines = [f"{'admin@example.com':22} administrator"]
    for _name, local, _department, _role in NAMED_PEOPLE:
        person = Person.by_email(f"{local}@example.com")
        if person is None:
            continue
        roles: dict[str, list[str]] = {}
        for membership in sorted(person.memberships, key=lambda m: m.department.name):
            roles.setdefault(membership.role, []).append(membership.department.name)
        said = "; ".join(f"{role} of {' and '.join(names)}" for role, names in roles.items())
        inboxes = len(person.memberships)
        more = f" ({'two' if inboxes == 2 else inboxes} inboxes)" if inboxes > 1 else ""
        now = utcnow()
        for absence in person.absences:
            if absence.covers(now):
                answers = f", {absence.delegate.name} answers" if absence.delegate else ""
                more += f"; away until {absence.last_day:%a %d %b}{answers}"
        lines.append(f"{person.email:22} {person.name}, {said}{more}")
    return lines
