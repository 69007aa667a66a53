"""The form an admin registers or changes a webhook with."""

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from handoff.kernel.forms import choices
from handoff.webhooks.services import EVENT_TYPES


class WebhookForm(FlaskForm):
    url = StringField(
        "Address (URL)",
        validators=[DataRequired("Give the address to send to."), Length(max=2000)],
    )
    description = StringField("What it is for", validators=[Optional(), Length(max=200)])
    events = SelectMultipleField(
        "Events",
        choices=choices((name, name) for name in EVENT_TYPES),
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validate_choice=True,
        validators=[DataRequired("Choose at least one event.")],
    )
