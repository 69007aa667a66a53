"""Departments, people and who belongs where, from a CSV file: each row through the same
services and form rules as the admin pages, a dry run first.

A row is a person, and optionally a department they belong to with their role there:

    email,name,department,role,password,time_zone,admin,active
    ana@example.com,Ana Ruiz,Sales,lead,first-password,Europe/Berlin,no,yes

Only `email` is required as a column. A person not known yet is made (with a name and a
password of at least 8 characters); one known keeps what a row leaves empty, and a row never
changes the password of someone who has one (so a file imported twice is imported once:
they change it on their own page). A department
not known yet is made; a person not in it yet joins it as the row's role (member when empty),
and one in it with another role gets the row's role (a lead made a member says so). Nobody is
deleted or taken out of a department; a row that changes a known person's rights (admin,
active) says so in the dry run. Several rows may name one person (one a department).

The whole file is run in one transaction: a dry run rolls it back and shows what each row
would do; the import commits only if no row has an error, so nothing is imported half-way.
"""

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from handoff.accounts.models import Person
from handoff.accounts.services import PersonInput, add_person, change_person
from handoff.admin.forms import DepartmentForm, PersonForm
from handoff.departments import services as department_services
from handoff.departments.models import Department, Membership, name_key
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput

COLUMNS = ("email", "name", "department", "role", "password", "time_zone", "admin", "active")
MOST_BYTES = 512 * 1024
MOST_ROWS = 500
# Each new person's password is hashed, slowly on purpose (about 0.1 s), in the dry run and
# again in the import, inside a write transaction: a file makes at most this many.
MOST_NEW_PEOPLE = 25
YES = {"yes", "y", "true", "1", "x"}
NO = {"no", "n", "false", "0"}


@dataclass
class RowOutcome:
    """What one row of the file did (or would do), or why it cannot."""

    number: int  # the line's number in the file, the header being 1
    email: str
    department: str
    done: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what it leaves alone, and why
    errors: list[str] = field(default_factory=list)


def read_rows(data: bytes) -> list[tuple[int, dict]]:
    """The file's rows as (line number, {column: value}); InvalidInput (for the `people`
    field) when it is not a CSV file of these columns."""
    if len(data) > MOST_BYTES:
        raise InvalidInput(f"The file is larger than {MOST_BYTES // 1024} KB.", field="people")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(
            "The file is not UTF-8 text: save it as CSV UTF-8 and try again.", field="people"
        ) from None
    if "\x00" in text:
        raise InvalidInput("The file is not a text file.", field="people")
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = [name.strip().lower().replace(" ", "_") for name in next(reader, [])]
        rows = []
        for line in reader:
            first = reader.line_num - sum(value.count("\n") for value in line)
            if any(value.strip() for value in line):
                rows.append((first, line))
            if len(rows) > MOST_ROWS:
                raise InvalidInput(f"At most {MOST_ROWS} rows at once.", field="people")
    except csv.Error as error:
        raise InvalidInput(f"The file is not CSV: {error}.", field="people") from None
    if any(not name for name in header):
        raise InvalidInput("A column of the first line has no name.", field="people")
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise InvalidInput(f"The column {', '.join(twice)} is named twice.", field="people")
    unknown = [name for name in header if name not in COLUMNS]
    if "email" not in header:
        raise InvalidInput(
            f"The first line names the columns, and one of them is email (the columns: "
            f"{', '.join(COLUMNS)}).",
            field="people",
        )
    if unknown:
        raise InvalidInput(
            f"Unknown column {', '.join(unknown[:5])}: the columns are {', '.join(COLUMNS)}.",
            field="people",
        )
    if not rows:
        raise InvalidInput("The file has no rows under its header.", field="people")
    too_long = [number for number, line in rows if len(line) > len(header)]
    if too_long:
        raise InvalidInput(
            f"Line {too_long[0]} has more values than the first line has columns (a comma in a "
            "name? put the value in double quotes).",
            field="people",
        )
    return [
        (number, {name: value.strip() for name, value in zip(header, line, strict=False)})
        for number, line in rows
    ]


def import_rows(rows: list[tuple[int, dict]], actor: Person) -> list[RowOutcome]:
    """Run every row in the session's transaction (the caller commits or rolls back)."""
    _require_few_new_people(rows)
    outcomes = []
    with db.session.no_autoflush:
        for number, row in rows:
            outcome = RowOutcome(number, row.get("email", ""), row.get("department", ""))
            try:
                _run(row, actor, outcome)
            except InvalidInput as error:
                outcome.errors.append(str(error))
            outcomes.append(outcome)
    db.session.flush()
    return outcomes


def _require_few_new_people(rows: list[tuple[int, dict]]) -> None:
    emails = {Person.normalise_email(r["email"]) for _, r in rows if r.get("email")}
    known = set()
    ordered = sorted(emails)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        known |= set(db.session.scalars(select(Person.email).where(Person.email.in_(chunk))))
    if len(emails - known) > MOST_NEW_PEOPLE:
        raise InvalidInput(
            f"At most {MOST_NEW_PEOPLE} new people a file ({len(emails - known)} here): split it.",
            field="people",
        )


def _run(row: dict, actor: Person, outcome: RowOutcome) -> None:
    email = row.get("email", "")
    if not email:
        raise InvalidInput("No email: each row is a person's.")
    person = Person.by_email(email)
    given = _person_input(row, person, outcome)
    if outcome.errors:
        return
    if person is None:
        person = add_person(given)
        outcome.done.append(f"new person {person.name}")
    else:
        before = (person.name, person.time_zone, person.is_admin, person.active)
        change_person(actor, person, given)
        db.session.flush()
        outcome.done += _changes(before, person)
    name = row.get("department", "")
    if not name:
        if row.get("role"):
            outcome.errors.append("A role needs a department.")
        return
    department = _department(name, outcome)
    if department is None:
        return
    role = (row.get("role") or "member").lower()
    membership = db.session.scalar(
        select(Membership).where(
            Membership.department_id == department.id, Membership.person_id == person.id
        )
    )
    if membership is None:
        department_services.add_member(department, person.id, role)
        outcome.done.append(f"joins {department.name} as {role}")
    elif membership.role != role:
        was = membership.role
        department_services.set_role(membership, role)
        outcome.done.append(f"{role} of {department.name} now (was {was})")


def _changes(before: tuple, person: Person) -> list[str]:
    """What a row changed of a known person's account, said plainly (rights above all)."""
    name, zone, admin, active = before
    said = []
    if person.name != name:
        said.append(f"name {name} → {person.name}")
    if person.time_zone != zone:
        said.append(
            f"time zone {zone or 'the organisation’s'} → {person.time_zone or 'the organisation’s'}"
        )
    if person.is_admin != admin:
        said.append("made an administrator" if person.is_admin else "no longer an administrator")
    if person.active != active:
        said.append("can sign in again" if person.active else "can no longer sign in")
    return said


def _person_input(row: dict, person: Person | None, outcome: RowOutcome) -> PersonInput | None:
    """The row as the person form takes it, checked by the form's own rules; what it leaves
    empty is what the person has (a new person: not an admin, able to sign in)."""
    password = row.get("password", "")
    if person is not None and password:
        password = ""  # (theirs is changed on their own page, or by an admin on theirs)
        outcome.notes.append("password left as it is (they have an account)")
    flags = {}
    for column, now_value in (
        ("admin", person.is_admin if person else False),
        ("active", person.active if person else True),
    ):
        value = row.get(column, "").lower()
        if value and value not in YES | NO:
            outcome.errors.append(f"{column} is yes or no, not “{row[column][:40]}”.")
        flags[column] = value in YES if value else now_value
    data = MultiDict(
        {
            "name": row.get("name") or (person.name if person else ""),
            "email": row["email"],
            "password": password,
            "time_zone": row.get("time_zone") or (person.time_zone or "" if person else ""),
        }
    )
    if flags["admin"]:
        data["is_admin"] = "y"
    if flags["active"]:
        data["active"] = "y"
    form = PersonForm(formdata=data, meta={"csrf": False})
    if not form.validate():
        for name, errors in form.errors.items():
            outcome.errors += [f"{form[name].label.text}: {error}" for error in errors]
    if outcome.errors:
        return None
    return form.given()


def _department(name: str, outcome: RowOutcome) -> Department | None:
    """The department of this name (case aside), made if there is none."""
    found = db.session.scalar(select(Department).where(Department.name_key == name_key(name)))
    if found is not None:
        return found
    form = DepartmentForm(formdata=MultiDict({"name": name}), meta={"csrf": False})
    if not form.validate():
        outcome.errors += [f"Department: {error}" for error in form.name.errors]
        return None
    department = department_services.add_department(form.name.data, "")
    outcome.done.append(f"new department {department.name}")
    return department
