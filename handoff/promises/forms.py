"""The standing promise form."""

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from handoff.kernel.forms import amount_bounds, choices, count_bounds, picked_id

UNITS = {"days": "business days", "hours": "business hours"}


class PromiseForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give it a name."), Length(max=120)])
    covers = TextAreaField("What it covers", validators=[Optional(), Length(max=2000)])
    lead = IntegerField(
        "Lead time", validators=[InputRequired("Give a lead time."), NumberRange(0, 365)]
    )
    lead_unit = SelectField("", choices=choices(UNITS.items()))
    max_amount = DecimalField(
        "Up to this amount", places=2, validators=[Optional(), amount_bounds()]
    )
    max_quantity = IntegerField("At most this many", validators=[Optional(), count_bounds()])
    active = BooleanField("Offered", default=True)

    @classmethod
    def of(cls, promise, day_minutes: int) -> "PromiseForm":
        """The form filled in with a promise, its lead time in whole business days if it is."""
        whole_days = promise.lead_minutes % day_minutes == 0
        unit = day_minutes if whole_days else 60
        return cls(
            formdata=None,
            data={
                "name": promise.name,
                "covers": promise.covers,
                "lead": promise.lead_minutes // unit,
                "lead_unit": "days" if whole_days else "hours",
                "max_amount": promise.max_amount,
                "max_quantity": promise.max_quantity,
                "active": promise.active,
            },
        )

    def promise(self, day_minutes: int) -> dict:
        """What the form says, for services.save_promise (the lead time in minutes)."""
        unit = day_minutes if self.lead_unit.data == "days" else 60
        return {
            "name": self.name.data,
            "covers": self.covers.data or "",
            "lead_minutes": self.lead.data * unit,
            "max_amount": self.max_amount.data,
            "max_quantity": self.max_quantity.data,
            "active": self.active.data,
        }


def _picked(value):
    """A picked person's id, None for nobody, or a value no choice has (never an error)."""
    try:
        return picked_id(value)
    except ValueError:
        return "not a choice"


class OnDutyForm(FlaskForm):
    """Who answers beyond-the-limits requests quickly: one of the department's people, or nobody."""

    person_id = SelectField("Put on duty", coerce=_picked, validate_choice=False)

    def offer(self, people) -> "OnDutyForm":
        self.person_id.choices = [(None, "Nobody"), *((p.id, p.name) for p in people)]
        return self

    def validate_person_id(self, field):
        if field.data not in {value for value, _ in field.choices}:
            raise ValidationError("Pick someone from the list, or nobody.")
