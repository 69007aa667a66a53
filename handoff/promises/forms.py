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
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from handoff.kernel.forms import amount_bounds, choices, count_bounds

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
