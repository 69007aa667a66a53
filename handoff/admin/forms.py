"""Forms for setting up departments and people."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from handoff.accounts.services import PersonInput
from handoff.departments.models import ROLES
from handoff.kernel.dates import is_valid_zone
from handoff.kernel.forms import choices, picked_id


class DepartmentForm(FlaskForm):
    name = StringField(
        "Name", validators=[DataRequired("Give the department a name."), Length(max=80)]
    )
    description = TextAreaField("What it does", validators=[Optional(), Length(max=2000)])


class PersonForm(FlaskForm):
    name = StringField(
        "Name", validators=[DataRequired("Give the person's name."), Length(max=120)]
    )
    email = EmailField(
        "Email", validators=[DataRequired("Give an email."), Email(), Length(max=254)]
    )
    password = PasswordField(
        "Password",
        validators=[Optional(), Length(min=8, max=200, message="At least 8 characters.")],
    )
    time_zone = StringField("Time zone", validators=[Optional(), Length(max=64)])
    is_admin = BooleanField("Administrator")
    active = BooleanField("Can sign in", default=True)

    def validate_time_zone(self, field):
        if field.data and not is_valid_zone(field.data):
            raise ValidationError("Use a time zone name such as Europe/Berlin.")

    def given(self) -> PersonInput:
        """What the form says, as the account services take it."""
        return PersonInput(
            name=self.name.data,
            email=self.email.data,
            password=self.password.data or "",
            time_zone=self.time_zone.data or "",
            is_admin=self.is_admin.data,
            active=self.active.data,
        )


class MembershipForm(FlaskForm):
    person_id = SelectField("Person", coerce=picked_id)
    role = SelectField("Role", choices=choices((r, r.capitalize()) for r in ROLES))


PEOPLE_FILE_BYTES = 512 * 1024


class PeopleFileForm(FlaskForm):
    """A CSV file of people and departments, run as a dry run before anything is saved."""

    people = FileField(
        "CSV file",
        validators=[
            FileRequired("Choose a CSV file."),
            FileAllowed(
                ["csv", "txt"], "That is not a CSV file: choose one whose name ends in .csv."
            ),
            FileSize(PEOPLE_FILE_BYTES, message="The file is larger than 512 KB."),
        ],
    )


class PeopleRowsForm(FlaskForm):
    """The rows a dry run showed, sent back to be imported."""

    rows = HiddenField(
        validators=[
            DataRequired("The rows to import were not sent."),
            Length(max=PEOPLE_FILE_BYTES * 4 // 3 + 4),
        ]
    )
