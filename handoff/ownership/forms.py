"""Marking the customer told; the organisation's settings."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from handoff.commitments.models import LIMITS


class ToldForm(FlaskForm):
    note = StringField(
        "What you told the customer",
        validators=[DataRequired("Say what the customer was told."), Length(max=LIMITS["note"])],
    )


class SettingsForm(FlaskForm):
    owner_moves = BooleanField("You break it, you own it")
    tell_customer_minutes = IntegerField(
        "Time to tell the customer (business minutes)",
        validators=[
            InputRequired("Say how long the customer owner has."),
            NumberRange(min=0, max=60 * 24 * 10, message="From 0 to 14400 business minutes."),
        ],
    )
