"""Admins set up departments, people and memberships; nobody else can."""

import pytest
from sqlalchemy import select

from handoff.accounts.models import Person
from handoff.departments.models import Department, Membership
from handoff.kernel.db import db

from conftest import fresh, writes


@pytest.mark.parametrize("url", ["/admin/departments", "/admin/people", "/admin/people/new"])
def test_only_admins_reach_the_admin_pages(client, org, sign_in, url):
    sign_in(client, org.ana)
    assert client.get(url).status_code == 403
    sign_in(client, org.admin)
    assert client.get(url).status_code == 200


def test_an_admin_adds_a_department(client, org, sign_in):
    sign_in(client, org.admin)
    response = client.post("/admin/departments/new", data={"name": " Shipping ", "description": ""})
    assert response.status_code == 303
    db.session.rollback()
    assert db.session.scalar(select(Department).filter_by(name="Shipping"))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Give the department a name."),
        ("sales", "exists"),
        ("  SALES ", "exists"),
        ("S\uff41les", "exists"),  # a full-width letter is the same letter
    ],
)
def test_a_bad_department_name_is_refused_in_place(client, org, sign_in, name, message):
    sign_in(client, org.admin)
    response = client.post("/admin/departments/new", data={"name": name})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.rollback()
    assert len(db.session.scalars(select(Department)).all()) == 3


@pytest.mark.parametrize("second", ["Ärger", "ärger", "ÄRGER", "Ärger\u200b", "\u202eÄrger"])
def test_names_that_differ_only_in_the_case_of_any_letter_are_one_name(
    client, org, sign_in, second
):
    sign_in(client, org.admin)
    assert client.post("/admin/departments/new", data={"name": "Ärger"}).status_code == 303
    response = client.post("/admin/departments/new", data={"name": second})
    assert response.status_code == 422
    assert "exists" in response.get_data(as_text=True)
    renamed = client.post(f"/admin/departments/{org.sales.id}", data={"name": second})
    assert renamed.status_code == 422
    db.session.rollback()
    assert len(db.session.scalars(select(Department)).all()) == 4


def test_two_admins_adding_one_name_at_once_get_one_department_and_a_409(
    client, org, sign_in, monkeypatch
):
    from handoff.departments import services

    monkeypatch.setattr(services, "_require_free", lambda name, department: None)  # both checked
    sign_in(client, org.admin)
    assert client.post("/admin/departments/new", data={"name": "Shipping"}).status_code == 303
    response = client.post("/admin/departments/new", data={"name": "shipping"})
    assert response.status_code == 409
    assert "Someone else saved the same thing" in response.get_data(as_text=True)


def test_an_admin_adds_a_person_and_makes_them_a_lead(client, org, sign_in):
    sign_in(client, org.admin)
    response = client.post(
        "/admin/people/new",
        data={
            "name": "Eva Lind",
            "email": "Eva@Example.com",
            "password": "long enough",
            "active": "y",
        },
    )
    assert response.status_code == 303
    db.session.rollback()
    eva = db.session.scalar(select(Person).filter_by(email="eva@example.com"))
    assert eva.check_password("long enough")
    client.post(
        f"/admin/departments/{org.billing.id}/members",
        data={"person_id": str(eva.id), "role": "member"},
    )
    db.session.rollback()
    membership = db.session.scalar(select(Membership).filter_by(person_id=eva.id))
    assert membership.role == "member"
    client.post(f"/admin/memberships/{membership.id}/role", data={"role": "lead"})
    assert fresh(membership).role == "lead"
    membership_id = membership.id
    client.post(f"/admin/memberships/{membership_id}/delete")
    db.session.rollback()
    assert db.session.get(Membership, membership_id) is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"email": "not-an-email"}, "Invalid email"),
        ({"password": ""}, "needs a password"),
        ({"password": "short"}, "At least 8 characters"),
        ({"time_zone": "Mars/Olympus"}, "time zone name"),
        ({"name": ""}, "Give the person"),
        ({"email": "TAKEN"}, "already has that email"),
    ],
)
def test_a_bad_person_is_refused_in_place(client, org, sign_in, changes, message):
    sign_in(client, org.admin)
    data = {"name": "Eva", "email": "eva@example.com", "password": "long enough"}
    data.update({k: (org.ana.email if v == "TAKEN" else v) for k, v in changes.items()})
    response = client.post("/admin/people/new", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(Person).filter_by(name="Eva")) is None


def test_an_admin_cannot_remove_their_own_admin_rights(client, org, sign_in):
    sign_in(client, org.admin)
    response = client.post(
        f"/admin/people/{org.admin.id}", data={"name": "Admin", "email": org.admin.email}
    )
    assert response.status_code == 422
    assert fresh(org.admin).is_admin


def test_unknown_admin_records_are_404(client, org, sign_in):
    sign_in(client, org.admin)
    assert client.get("/admin/departments/999").status_code == 404
    assert client.get("/admin/people/999").status_code == 404
    assert client.post("/admin/memberships/999/delete").status_code == 404


def test_taking_the_person_on_duty_out_of_a_department_leaves_nobody_on_duty(client, org, sign_in):
    with writes():
        org.installation.on_duty_person_id = org.ivo.id
    membership = db.session.scalar(
        select(Membership).filter_by(person_id=org.ivo.id, department_id=org.installation.id)
    )
    sign_in(client, org.admin)
    response = client.post(f"/admin/memberships/{membership.id}/delete")
    assert response.status_code == 303
    assert fresh(org.installation).on_duty_person_id is None


def test_a_role_that_is_not_one_is_refused_and_changes_nothing(client, org, sign_in):
    membership = db.session.scalar(select(Membership).filter_by(person_id=org.ivo.id))
    role = membership.role
    sign_in(client, org.admin)
    response = client.post(f"/admin/memberships/{membership.id}/role", data={"role": "owner"})
    assert response.status_code == 422
    assert "A role is one of: member, lead" in response.get_data(as_text=True)
    assert fresh(membership).role == role


def test_the_people_and_departments_pages_run_as_many_queries_for_30_as_for_3(
    client, org, make, sign_in, count_queries
):
    sign_in(client, org.admin)

    def queries() -> dict[str, int]:
        counted = {}
        for url in ("/admin/people", "/admin/departments"):
            with count_queries() as statements:
                assert client.get(url).status_code == 200
            counted[url] = len(statements)
        return counted

    few = queries()
    for index in range(10):
        department = make.department(f"Team {index}")
        for _ in range(3):  # (leads of the odd teams, members of the even ones)
            make.person(**{"lead_of" if index % 2 else "member_of": [department]})
    many = queries()
    assert many == few
    page = client.get("/admin/people").get_data(as_text=True)
    assert page.count("<td>Team 1 (lead)</td>") == 3 and page.count("<td>Team 2</td>") == 3
    departments = client.get("/admin/departments").get_data(as_text=True)
    row = departments[departments.index(">Team 1</a>") :].split("</tr>")[0]
    leads = leads_of(department_named("Team 1"))
    assert len(leads) == 3 and all(name in row for name in leads) and "<td>3</td>" in row
    row = departments[departments.index(">Team 2</a>") :].split("</tr>")[0]
    assert "— none: nobody to escalate to" in row and "<td>3</td>" in row


def department_named(name: str) -> Department:
    return db.session.scalars(select(Department).where(Department.name == name)).one()


def leads_of(department: Department) -> list[str]:
    return [m.person.name for m in department.memberships if m.role == "lead"]
