"""Sign-in form."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length, Optional

from handoff.kernel.dates import known_zones
from handoff.kernel.forms import DayField, choices, picked_id


def strip(value):
    """Forgive the spaces a pasted address brings along."""
    return value.strip() if isinstance(value, str) else value


class LoginForm(FlaskForm):
    email = EmailField(
        "Email", filters=[strip], validators=[DataRequired(), Email(), Length(max=254)]
    )
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("Keep me signed in")
    # Filled in by the browser (static/app.js) with its IANA time zone.
    time_zone = HiddenField()
    next = HiddenField()


DIGEST_MODES = [
    ("immediate", "As things happen: one mail at most every few minutes, only with something new"),
    ("morning", "One morning digest: everything collected into one mail at the start of my day"),
]


class ReminderForm(FlaskForm):
    digest_mode = RadioField("How reminders reach me", choices=choices(DIGEST_MODES))


class TimeZoneForm(FlaskForm):
    """The time zone a person reads every moment in (one of those this machine knows)."""

    time_zone = SelectField("Your time zone", validators=[DataRequired("Choose a time zone.")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_zone.choices = [(name, name) for name in known_zones()]


class PasswordForm(FlaskForm):
    """A new password, given with the current one; every other session ends."""

    current = PasswordField(
        "Current password",
        validators=[DataRequired("Give your current password."), Length(max=200)],
    )
    new = PasswordField(
        "New password",
        validators=[
            DataRequired("Choose a new password."),
            Length(min=8, max=200, message="At least 8 characters."),
        ],
    )
    repeat = PasswordField(
        "New password again",
        validators=[
            DataRequired("Type the new password again."),
            EqualTo("new", "The two differ."),
        ],
    )


class AwayForm(FlaskForm):
    """Someone away from a first to a last day, and who answers for them meanwhile."""

    person_id = SelectField("Who is away", coerce=picked_id, validators=[InputRequired()])
    first_day = DayField("First day away", validators=[InputRequired("Give the first day away.")])
    last_day = DayField("Last day away", validators=[InputRequired("Give the last day away.")])
    delegate_id = SelectField("Who answers meanwhile", coerce=picked_id, validators=[Optional()])
    note = StringField("Note (optional)", filters=[strip], validators=[Length(max=200)])

    def __init__(self, people, delegates, *args, **kwargs):
        """`people`: whom the reader may mark away; `delegates`: who may answer for them
        (each (id, name) pairs)."""
        super().__init__(*args, **kwargs)
        self.person_id.choices = [(p_id, name) for p_id, name in people]
        self.delegate_id.choices = [(None, "Nobody")]
        self.delegate_id.choices += [(p_id, name) for p_id, name in delegates]


TOKEN_LIFETIMES = choices([("30", "30 days"), ("90", "90 days"), ("365", "A year"), ("", "Never")])


class ApiTokenForm(FlaskForm):
    """A personal API token: what it is for, what it may do, how long it works."""

    name = StringField(
        "What will use it",
        filters=[strip],
        validators=[DataRequired("Name the token after what will use it."), Length(max=80)],
    )
    scope = RadioField(
        "It may",
        choices=choices([("read", "Read only"), ("write", "Read and write (record and answer)")]),
        default="read",
    )
    days = SelectField("It expires after", choices=TOKEN_LIFETIMES, default="90")

    def lifetime(self) -> int | None:
        return int(self.days.data) if self.days.data else None
