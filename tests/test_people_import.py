"""Departments, people and memberships from a CSV file: a dry run first, each row's outcome
or errors by line, and nothing imported half-way."""

import io
import re

from sqlalchemy import select

from handoff.accounts.models import Person
from handoff.departments.models import Department, Membership
from handoff.kernel.db import db

FILE = (
    "email,name,department,role,password,time_zone,admin\n"
    "zoe@example.com,Zoe Adler,Field Service,lead,first-password,Europe/Vienna,no\n"
    "zoe@example.com,,Installation,,,,\n"
    "BEN.okafor@example.com,,Installation,member,,,\n"
)


def upload(client, data: bytes, name: str = "people.csv"):
    return client.post(
        "/admin/people/import/preview",
        data={"people": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def sent_rows(page: str) -> str:
    return re.search(r'name="rows" type="hidden" value="([^"]*)"', page).group(1)


def people() -> dict[str, Person]:
    db.session.rollback()
    return {p.email: p for p in db.session.scalars(select(Person))}


def roles() -> set[tuple[str, str, str]]:
    db.session.rollback()
    return {
        (m.person.email, m.department.name, m.role) for m in db.session.scalars(select(Membership))
    }


def test_a_dry_run_shows_each_rows_outcome_and_saves_nothing_then_the_import_saves_it(
    org, client, sign_in
):
    db.session.get(Person, org.ben.id).email = "ben.okafor@example.com"
    db.session.commit()
    sign_in(client, org.admin)
    before = roles()
    preview = upload(client, FILE.encode())
    assert preview.status_code == 200
    text = preview.text
    assert "new person Zoe Adler; new department Field Service; joins Field Service as lead" in (
        text
    )
    assert "joins Installation as member" in text  # (line 3: Zoe again)
    assert "member of Installation now (was lead)" in text  # Ben, line 4
    assert "zoe@example.com" not in people() and roles() == before  # nothing saved
    assert db.session.scalar(select(Department).where(Department.name == "Field Service")) is None

    done = client.post("/admin/people/import", data={"rows": sent_rows(text)})
    assert done.status_code == 303
    zoe = people()["zoe@example.com"]
    assert (zoe.name, zoe.time_zone, zoe.is_admin, zoe.active) == (
        "Zoe Adler",
        "Europe/Vienna",
        False,
        True,
    )
    assert zoe.check_password("first-password")
    assert {
        ("zoe@example.com", "Field Service", "lead"),
        ("zoe@example.com", "Installation", "member"),
        ("ben.okafor@example.com", "Installation", "member"),
    } <= roles()
    again = upload(client, FILE.encode()).text  # the same file again changes nothing
    assert again.count("nothing to change") == 3


def test_a_wrong_row_is_said_by_its_line_and_nothing_is_imported(org, client, sign_in):
    sign_in(client, org.admin)
    rows = (
        "email,name,department,role,password,admin\n"
        "new@example.com,New Person,Sales,member,long-enough-1,no\n"  # fine alone
        "\n"  # (an empty line is skipped; the lines are still numbered as in the file)
        "not-an-email,Someone,Sales,,long-enough-2,\n"
        "other@example.com,Other,Sales,boss,long-enough-3,\n"
        "third@example.com,Third,,,short,maybe\n"
        f"{org.ana.email},,,,new-password-1,\n"
    )
    preview = upload(client, rows.encode())
    text = preview.text
    assert preview.status_code == 200
    assert "3 rows of 5 cannot be imported" in text
    row = {n: text.split(f'<th scope="row">{n}</th>')[1].split("</tr>")[0] for n in (2, 4, 5, 6, 7)}
    assert "Cannot" not in row[2] and "new person New Person" in row[2]
    assert "Email" in row[4] and "Cannot" in row[4]
    assert "A role is one of" in row[5]
    assert "At least 8 characters" in row[6] and "admin is yes or no" in row[6]
    assert "Cannot" not in row[7] and "password left as it is" in row[7]
    assert 'name="rows"' not in text  # no import offered
    # sent anyway: refused whole, the good row too
    import base64

    refused = client.post(
        "/admin/people/import", data={"rows": base64.b64encode(rows.encode()).decode()}
    )
    assert refused.status_code == 422 and "Nothing was imported" in refused.text
    assert "new@example.com" not in people()


def test_an_admin_cannot_take_away_their_own_rights_by_a_file(org, client, sign_in):
    sign_in(client, org.admin)
    text = upload(client, f"email,admin\n{org.admin.email},no\n".encode()).text
    assert "cannot take away your own administrator rights" in text
    assert people()[org.admin.email].is_admin


def test_a_file_that_is_not_rows_of_people_is_refused_beside_the_field(org, client, sign_in):
    sign_in(client, org.admin)
    for data, said in (
        (b"\xff\xfe\x00b", "not UTF-8"),
        (b"name,department\nAna,Sales\n", "one of them is email"),
        (b"email,shoe_size\na@example.com,42\n", "Unknown column shoe_size"),
        (b"email\n", "no rows under its header"),
        (b"email\n" + b"a@example.com\n" * 501, "At most 500 rows"),
        (b"email,name,email\na@example.com,A,b@example.com\n", "The column email is named twice"),
        (b"email,,name\na@example.com,,A\n", "has no name"),
        (b"email,name,department\na@example.com,Ruiz, Ana,Sales\n", "Line 2 has more values"),
        (
            b"email,name,password\n"
            + b"".join(b"p%d@example.com,P,long-enough\n" % n for n in range(26)),
            "At most 25 new people",
        ),
    ):
        page = upload(client, data)
        assert page.status_code == 422, said
        assert said in page.text and 'id="people-errors"' in page.text, said
    wrong_kind = upload(client, b"email\n", name="people.pdf")
    assert wrong_kind.status_code == 422 and "not a CSV file" in wrong_kind.text
    damaged = client.post("/admin/people/import", data={"rows": "%%%"})
    assert damaged.status_code in (400, 422) and "damaged" in damaged.text


def test_only_admins_import(org, client, sign_in):
    import base64

    sign_in(client, org.ben)
    assert client.get("/admin/people/import").status_code == 403
    assert upload(client, FILE.encode()).status_code == 403
    sent = client.post("/admin/people/import", data={"rows": base64.b64encode(FILE.encode())})
    assert sent.status_code == 403
    assert "zoe@example.com" not in people()


def test_a_change_to_someones_rights_or_role_is_said_as_such(org, client, sign_in):
    db.session.get(Person, org.dev.id).active = False
    db.session.commit()
    sign_in(client, org.admin)
    rows = (
        "email,admin,active,department,role\n"
        f"{org.ana.email},yes,,Sales,member\n"
        f"{org.dev.email},,yes,,\n"
    )
    text = upload(client, rows.encode()).text
    assert "made an administrator; member of Sales now (was lead)" in text
    assert "can sign in again" in text
    assert not people()[org.ana.email].is_admin  # (a dry run)
