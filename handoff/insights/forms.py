"""The form that sets a department's targets."""

from flask_wtf import FlaskForm
from wtforms import IntegerField
from wtforms.validators import NumberRange, Optional


class TargetsForm(FlaskForm):
    in_window = IntegerField(
        "Handoffs answered within the window (%)",
        validators=[Optional(), NumberRange(1, 100, "Give a share from 1 to 100.")],
    )
    on_time = IntegerField(
        "Work done on time (% of the work done)",
        validators=[Optional(), NumberRange(1, 100, "Give a share from 1 to 100.")],
    )
