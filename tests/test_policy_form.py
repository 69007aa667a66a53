"""The nag policy form: every field is stored as given and shown again as stored."""

from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from handoff.departments.hours import DEFAULT_HOURS, WorkingHours
from handoff.kernel.db import db
from handoff.nagging.models import DEFAULTS, NagPolicy

from nagging_helpers import set_policy

# Every field given, each different from its default.
SET = {
    "time_zone": "America/New_York",
    "work_days": ["1", "2", "3", "5"],
    "day_start": "09:15",
    "day_end": "18:45",
    "holidays": " 2026-12-24\n\n2026-12-31 ",
    "holiday_country": " at ",
    "ack_window_minutes": "45",
    "cadence_minutes": "90",
    "escalate_after": "3",
    "org_escalate_after": "7",
    "due_soon_minutes": "30",
    "escalation_email": " Night.Duty@Example.com ",
    "escalation_name": " Night manager ",
}
SET_STORED = {
    "time_zone": "America/New_York",
    "always_open": False,
    "work_days": "1,2,3,5",
    "day_start": "09:15",
    "day_end": "18:45",
    "holidays": "2026-12-24\n2026-12-31",
    "holiday_country": "AT",
    "ack_window_minutes": 45,
    "cadence_minutes": 90,
    "escalate_after": 3,
    "org_escalate_after": 7,
    "due_soon_minutes": 30,
}
# Every field that may be empty, empty (the others still given).
EMPTY = {
    **SET,
    "holidays": "",
    "holiday_country": "",
    "org_escalate_after": "",
    "escalation_email": "",
    "escalation_name": "",
}
EMPTY_STORED = {
    **SET_STORED,
    "holidays": "",
    "holiday_country": "",
    "org_escalate_after": None,
}
# Round the clock, with the hours left empty.
ROUND_THE_CLOCK = {**SET, "always_open": "y", "work_days": [], "day_start": "", "day_end": ""}


class _FormReader(HTMLParser):
    """The values a browser would send back from the page's policy form."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str | list[str]] = {}
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        name = attrs.get("name")
        if tag == "input" and name and name != "csrf_token":
            if name == "work_days":
                self.values.setdefault(name, [])
                if "checked" in attrs:
                    self.values[name].append(attrs["value"])
            elif attrs.get("type") == "checkbox":
                if "checked" in attrs:  # an unticked box sends nothing
                    self.values[name] = attrs["value"]
            else:
                self.values[name] = attrs.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self.values[self._textarea] = self.values[self._textarea].strip()
            self._textarea = None


def shown(client, url: str) -> dict:
    """The policy form's values as the page shows them."""
    response = client.get(url)
    assert response.status_code == 200
    reader = _FormReader()
    reader.feed(response.get_data(as_text=True))
    return reader.values


def stored(department=None) -> dict:
    """The department's hours and policy rows as the database holds them, column by column."""
    db.session.rollback()
    department_id = department.id if department else None
    values = {}
    for model, columns in ((WorkingHours, DEFAULT_HOURS), (NagPolicy, DEFAULTS)):
        row = db.session.scalar(
            select(model).where(
                model.department_id == department_id
                if department_id
                else model.department_id.is_(None)
            )
        )
        assert row is not None, f"no {model.__tablename__} row was saved"
        values.update({column: getattr(row, column) for column in columns})
    return values


@pytest.fixture(params=["organisation", "department"])
def target(request, org):
    """Whose policy the test saves: the organisation's default, or Installation's own."""
    if request.param == "organisation":
        return None, "/admin/policies/organisation"
    return org.installation, f"/admin/policies/{org.installation.id}"


def contact(department, email: str, name: str) -> dict:
    """The escalation contact a row holds: only the organisation's default names one."""
    return {"escalation_email": email, "escalation_name": name} if department is None else {}


def test_the_first_save_stores_every_field_as_given(client, org, sign_in, target):
    department, url = target
    sign_in(client, org.admin)
    assert client.post(url, data=SET).status_code == 303
    expected = {**SET_STORED, **contact(department, "night.duty@example.com", "Night manager")}
    row = stored(department)
    assert {k: row[k] for k in expected} == expected


def test_the_first_save_stores_the_fields_left_empty_as_empty(client, org, sign_in, target):
    department, url = target
    sign_in(client, org.admin)
    assert client.post(url, data=EMPTY).status_code == 303
    expected = {**EMPTY_STORED, **contact(department, "", "")}
    row = stored(department)
    assert {k: row[k] for k in expected} == expected


def test_a_department_saved_under_an_organisation_that_never_escalates_to_it_keeps_never(
    client, org, sign_in
):
    # The organisation's default says "never" too; the department's first save must not
    # fall back on the built-in 4.
    set_policy(org_escalate_after=None)
    sign_in(client, org.admin)
    url = f"/admin/policies/{org.installation.id}"
    assert shown(client, url)["org_escalate_after"] == ""
    client.post(url, data={**shown(client, url), "org_escalate_after": ""})
    assert stored(org.installation)["org_escalate_after"] is None


def test_a_second_save_empties_what_the_first_set(client, org, sign_in, target):
    department, url = target
    sign_in(client, org.admin)
    client.post(url, data=SET)
    assert client.post(url, data=EMPTY).status_code == 303
    expected = {**EMPTY_STORED, **contact(department, "", "")}
    row = stored(department)
    assert {k: row[k] for k in expected} == expected


def test_a_second_save_sets_what_the_first_left_empty(client, org, sign_in, target):
    department, url = target
    sign_in(client, org.admin)
    client.post(url, data=EMPTY)
    assert client.post(url, data=SET).status_code == 303
    expected = {**SET_STORED, **contact(department, "night.duty@example.com", "Night manager")}
    row = stored(department)
    assert {k: row[k] for k in expected} == expected


def test_the_fields_left_empty_are_shown_empty_again(client, org, sign_in, target):
    department, url = target
    sign_in(client, org.admin)
    client.post(url, data=EMPTY)
    values = shown(client, url)
    assert values["org_escalate_after"] == ""
    assert values["holidays"] == "" and values["holiday_country"] == ""
    if department is None:
        assert values["escalation_email"] == "" and values["escalation_name"] == ""


def test_the_fields_set_are_shown_as_stored(client, org, sign_in, target):
    department, url = target
    sign_in(client, org.admin)
    client.post(url, data=SET)
    values = shown(client, url)
    assert "always_open" not in values
    assert values["work_days"] == ["1", "2", "3", "5"]
    assert (values["day_start"], values["day_end"]) == ("09:15", "18:45")
    assert values["holidays"] == "2026-12-24\n2026-12-31"
    assert values["holiday_country"] == "AT"
    numbers = ("ack_window_minutes", "cadence_minutes", "escalate_after", "org_escalate_after")
    assert [values[n] for n in numbers] == ["45", "90", "3", "7"]
    assert values["due_soon_minutes"] == "30"
    if department is None:
        assert values["escalation_email"] == "night.duty@example.com"
        assert values["escalation_name"] == "Night manager"


def test_saving_the_form_as_shown_changes_nothing(client, org, sign_in, target):
    department, url = target
    sign_in(client, org.admin)
    client.post(url, data=EMPTY)
    before = stored(department)
    assert client.post(url, data=shown(client, url)).status_code == 303
    assert stored(department) == before


INVALID = [
    ("time_zone", "Mars/Base", "time zone name"),
    ("work_days", [], "at least one working day"),
    ("day_start", "", "Give a time."),
    ("day_end", "", "Give a time."),
    ("day_end", "09:00", "close after it opens"),
    ("holidays", "2026-12-24\nchristmas", "“christmas” is not a date"),
    ("holiday_country", "XX", "No public holidays are known for “XX”"),
    ("ack_window_minutes", "0", "Number must be between 1 and 43200"),
    ("cadence_minutes", "", "Give a number of minutes."),
    ("escalate_after", "101", "Number must be between 0 and 100"),
    ("org_escalate_after", "3", "give a larger number"),
    ("due_soon_minutes", "-1", "Number must be between 0 and 43200"),
    ("escalation_email", "duty at example", "Give an email address"),
]


def _error_of(page: str, field: str) -> str:
    """The error list shown next to `field`."""
    start = page.index(f'id="{field}-errors"')
    return page[start : page.index("</ul>", start)]


@pytest.mark.parametrize(("field", "value", "message"), INVALID, ids=[i[0] for i in INVALID])
def test_an_invalid_value_is_refused_next_to_its_field_and_changes_nothing(
    client, org, sign_in, field, value, message
):
    set_policy(org_escalate_after=None)
    before = stored()
    sign_in(client, org.admin)
    response = client.post("/admin/policies/organisation", data={**SET, field: value})
    assert response.status_code == 422
    assert message in _error_of(response.get_data(as_text=True), field)
    assert stored() == before


def test_an_invalid_first_save_of_a_department_makes_no_policy(client, org, sign_in):
    sign_in(client, org.admin)
    url = f"/admin/policies/{org.installation.id}"
    response = client.post(url, data={**SET, "cadence_minutes": "0"})
    assert response.status_code == 422
    db.session.rollback()
    assert db.session.scalar(select(NagPolicy)) is None


def test_a_department_saved_round_the_clock_works_24_7(client, org, sign_in):
    sign_in(client, org.admin)
    assert (
        client.post(f"/admin/policies/{org.installation.id}", data=ROUND_THE_CLOCK).status_code
        == 303
    )
    db.session.rollback()
    policy = WorkingHours.for_department(org.installation.id)
    assert policy.always_open is True
    assert policy.describe() == "Round the clock, every day (America/New_York)"
    assert policy.business_hours(2026).always_open


def test_round_the_clock_left_without_hours_keeps_the_hours_it_had(client, org, sign_in):
    sign_in(client, org.admin)
    url = f"/admin/policies/{org.installation.id}"
    client.post(url, data=SET)
    client.post(url, data=ROUND_THE_CLOCK)
    row = stored(org.installation)
    assert (row["always_open"], row["work_days"], row["day_start"], row["day_end"]) == (
        True,
        "1,2,3,5",
        "09:15",
        "18:45",
    )


def test_the_first_save_round_the_clock_without_hours_keeps_the_default_hours(client, org, sign_in):
    sign_in(client, org.admin)
    client.post("/admin/policies/organisation", data=ROUND_THE_CLOCK)
    row = stored()
    assert row["always_open"] is True
    assert (row["work_days"], row["day_start"], row["day_end"]) == ("0,1,2,3,4", "08:00", "17:00")


def test_round_the_clock_does_not_check_the_opening_times_against_each_other(client, org, sign_in):
    sign_in(client, org.admin)
    data = {**ROUND_THE_CLOCK, "day_start": "18:00", "day_end": "09:00"}
    assert client.post("/admin/policies/organisation", data=data).status_code == 303
    assert stored()["always_open"] is True


def test_round_the_clock_still_refuses_a_time_that_is_no_time(client, org, sign_in):
    sign_in(client, org.admin)
    data = {**ROUND_THE_CLOCK, "day_start": "25:99"}
    response = client.post("/admin/policies/organisation", data=data)
    assert response.status_code == 422
    assert "Not a valid time value" in _error_of(response.get_data(as_text=True), "day_start")


def test_round_the_clock_is_shown_ticked_in_the_form_again(client, org, sign_in):
    sign_in(client, org.admin)
    url = f"/admin/policies/{org.installation.id}"
    client.post(url, data=ROUND_THE_CLOCK)
    assert shown(client, url)["always_open"] == "y"


def test_unticking_round_the_clock_needs_the_hours_again(client, org, sign_in):
    sign_in(client, org.admin)
    url = f"/admin/policies/{org.installation.id}"
    client.post(url, data=ROUND_THE_CLOCK)
    unticked = {k: v for k, v in ROUND_THE_CLOCK.items() if k != "always_open"}
    response = client.post(url, data=unticked)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Give a time." in _error_of(page, "day_start")
    assert "at least one working day" in _error_of(page, "work_days")
    assert stored(org.installation)["always_open"] is True


def test_unticking_round_the_clock_with_hours_given_works_those_hours_again(client, org, sign_in):
    sign_in(client, org.admin)
    url = f"/admin/policies/{org.installation.id}"
    client.post(url, data=ROUND_THE_CLOCK)
    assert client.post(url, data=SET).status_code == 303
    db.session.rollback()
    policy = WorkingHours.for_department(org.installation.id)
    assert policy.always_open is False
    assert policy.describe() == "Tue, Wed, Thu, Sat 09:15–18:45 America/New_York"


def test_the_policies_list_shows_a_department_that_works_round_the_clock(client, org, sign_in):
    set_policy(holiday_country="DE")
    set_policy(org.installation, always_open=True, holiday_country="DE")
    sign_in(client, org.admin)
    page = client.get("/admin/policies").get_data(as_text=True)
    row = page[page.index(">Installation<") : page.index("</tr>", page.index(">Installation<"))]
    assert "Round the clock, every day (Europe/Berlin)" in row
    assert "holidays" not in row  # they do not apply round the clock
