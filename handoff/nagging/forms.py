"""The nag policy form."""

from datetime import date, time

from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    IntegerField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
    widgets,
)
from wtforms.validators import (
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from handoff.departments.calendars import MOST_DAYS
from handoff.departments.hours import WEEKDAYS
from handoff.kernel.dates import is_valid_zone
from handoff.kernel.forms import FIRST_YEAR, LAST_YEAR, choices


class CheckboxesField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class UnlessRoundTheClock:
    """Lets an hours field stay empty when the department works round the clock."""

    def __call__(self, form, field):
        # The hours are not used round the clock; if given anyway, they are still checked.
        if form.always_open.data:
            Optional()(form, field)


def _stripped(value):
    return value.strip() if isinstance(value, str) else value


def _minutes(label: str, low: int = 1):
    return IntegerField(
        label,
        validators=[InputRequired("Give a number of minutes."), NumberRange(low, 60 * 24 * 30)],
    )


class PolicyForm(FlaskForm):
    time_zone = StringField("Time zone", validators=[InputRequired(), Length(max=64)])
    always_open = BooleanField("Works round the clock, every day (24/7)")
    work_days = CheckboxesField("Working days", coerce=int, choices=choices(enumerate(WEEKDAYS)))
    day_start = TimeField(
        "Opens at", validators=[UnlessRoundTheClock(), InputRequired("Give a time.")]
    )
    day_end = TimeField(
        "Closes at", validators=[UnlessRoundTheClock(), InputRequired("Give a time.")]
    )
    holidays = TextAreaField("Holidays (one date a line, e.g. 2026-12-24)", validators=[Optional()])
    holiday_country = StringField(
        "Public holidays of (country code, e.g. DE)", validators=[Optional(), Length(max=8)]
    )
    ack_window_minutes = _minutes("Time to answer a new handoff (business minutes)")
    cadence_minutes = _minutes("Then remind every (business minutes)")
    escalate_after = IntegerField(
        "Escalate to the leads after this many reminders",
        validators=[InputRequired(), NumberRange(0, 100)],
    )
    org_escalate_after = IntegerField(
        "Escalate to the organisation after this many (empty: never)",
        validators=[Optional(), NumberRange(0, 100)],
    )
    due_soon_minutes = _minutes("Remind this long before an accepted handoff is due", low=0)
    escalation_email = EmailField(
        "Organisation escalation contact (email)",
        validators=[
            Optional(),
            Email("Give an email address like duty@example.com."),
            Length(max=254),
        ],
        filters=[_stripped],  # a pasted address often carries a space; it is no mistake
    )
    escalation_name = StringField("Their name or role", validators=[Optional(), Length(max=120)])

    @classmethod
    def of(cls, hours, policy) -> "PolicyForm":
        """The form filled in with working hours and a nag policy as they are."""
        return cls(
            formdata=None,
            data={
                "time_zone": hours.time_zone,
                "always_open": hours.always_open,
                "work_days": sorted(hours.work_day_numbers),
                "day_start": time.fromisoformat(hours.day_start),
                "day_end": time.fromisoformat(hours.day_end),
                "holidays": hours.holidays,
                "holiday_country": hours.holiday_country,
                "ack_window_minutes": policy.ack_window_minutes,
                "cadence_minutes": policy.cadence_minutes,
                "escalate_after": policy.escalate_after,
                "org_escalate_after": policy.org_escalate_after,
                "due_soon_minutes": policy.due_soon_minutes,
                "escalation_email": policy.escalation_email,
                "escalation_name": policy.escalation_name,
            },
        )

    def settings(self, organisation: bool) -> dict:
        """What the form says, as settings for save_policy. Round the clock the hours may be
        left empty: the department keeps the ones it had, so that unticking 24/7 later
        brings them back; the escalation contact is the organisation's alone."""
        settings = {
            "time_zone": self.time_zone.data,
            "always_open": self.always_open.data,
            "holidays": "\n".join(
                line.strip() for line in (self.holidays.data or "").splitlines() if line.strip()
            ),
            "holiday_country": (self.holiday_country.data or "").strip().upper(),
            "ack_window_minutes": self.ack_window_minutes.data,
            "cadence_minutes": self.cadence_minutes.data,
            "escalate_after": self.escalate_after.data,
            "org_escalate_after": self.org_escalate_after.data,
            "due_soon_minutes": self.due_soon_minutes.data,
        }
        if self.work_days.data:
            settings["work_days"] = ",".join(str(d) for d in sorted(self.work_days.data))
        if self.day_start.data is not None:
            settings["day_start"] = self.day_start.data.strftime("%H:%M")
        if self.day_end.data is not None:
            settings["day_end"] = self.day_end.data.strftime("%H:%M")
        if organisation:
            settings["escalation_email"] = (self.escalation_email.data or "").strip().lower()
            settings["escalation_name"] = (self.escalation_name.data or "").strip()
        return settings

    def validate_time_zone(self, field):
        if not is_valid_zone(field.data):
            raise ValidationError("Use a time zone name such as Europe/Berlin.")

    def validate_work_days(self, field):
        if not field.data and not self.always_open.data:
            raise ValidationError("Pick at least one working day.")

    def validate_day_end(self, field):
        if self.always_open.data:
            return  # the hours are not used round the clock, so their order does not matter
        if self.day_start.data and field.data and field.data <= self.day_start.data:
            raise ValidationError("The day must close after it opens.")

    def validate_holidays(self, field):
        for line in (field.data or "").splitlines():
            if line.strip():
                try:
                    date.fromisoformat(line.strip())
                except ValueError:
                    raise ValidationError(
                        f"“{line.strip()}” is not a date like 2026-12-24."
                    ) from None

    def validate_holiday_country(self, field):
        import holidays

        code = (field.data or "").strip().upper()
        if code and code not in holidays.list_supported_countries():
            raise ValidationError(f"No public holidays are known for “{code}”.")

    def validate_org_escalate_after(self, field):
        if field.data is not None and field.data <= (self.escalate_after.data or 0):
            raise ValidationError("The organisation comes after the leads: give a larger number.")


MOST_CALENDAR_BYTES = 512 * 1024  # a year of any country's holidays is a few kilobytes


class HolidayFileForm(FlaskForm):
    """An iCalendar file of holidays, read and shown before anything is saved."""

    calendar = FileField(
        "Calendar file (.ics)",
        validators=[
            FileRequired("Choose a calendar file (.ics)."),
            FileAllowed(
                ["ics", "ical", "ifb", "icalendar"],
                "That is not a calendar file: choose one whose name ends in .ics.",
            ),
            FileSize(MOST_CALENDAR_BYTES, message="The file is larger than 512 KB."),
        ],
    )


class HolidayDaysForm(FlaskForm):
    """The days a preview offered, sent back to be added."""

    days = HiddenField(validators=[InputRequired("No days to add.")])

    def validate_days(self, field):
        days = []
        for text in (field.data or "").split(","):
            try:
                day = date.fromisoformat(text.strip())
            except ValueError:
                raise ValidationError(f"“{text.strip()[:20]}” is not a date.") from None
            if not FIRST_YEAR <= day.year <= LAST_YEAR:
                raise ValidationError(f"{day} is not a date of this century.")
            days.append(day)
        if len(days) > MOST_DAYS:
            raise ValidationError(f"At most {MOST_DAYS:,} days at once.")
        field.days = sorted(set(days))
