"""Forms for recording commitments and answering handoffs."""

from flask_wtf import FlaskForm
from wtforms import (
    DecimalField,
    EmailField,
    Form,
    FormField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Email,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)

from handoff.commitments.lifecycle import Action
from handoff.commitments.models import CHANNELS, LIMITS
from handoff.kernel.forms import (
    MomentField,
    Rows,
    amount_bounds,
    choices,
    count_bounds,
    picked_id,
)
from handoff.web import from_local

MAX_ROUTE_STEPS = 8


class RouteStepForm(Form):
    """One department of the route: what is asked of it and by when."""

    department_id = SelectField(
        "Department", coerce=picked_id, validators=[InputRequired("Pick a department.")]
    )
    ask = StringField(
        "What is asked",
        validators=[DataRequired("Say what is asked."), Length(max=LIMITS["ask"])],
    )
    due_at = MomentField("By", validators=[InputRequired("Give a date and time.")])
    standing_promise_id = SelectField("Standing promise", coerce=picked_id, validate_choice=True)
    amount = DecimalField("Amount", places=2, validators=[Optional(), amount_bounds()])
    quantity = IntegerField("Quantity", validators=[Optional(), count_bounds()])

    def validate_department_id(self, field):
        if field.data is None:
            raise ValidationError("Pick a department.")


class CommitmentForm(FlaskForm):
    """Record a promise made to a customer and the route that must deliver it."""

    customer_id = IntegerField("Customer", validators=[count_bounds()])
    new_customer_name = StringField(
        "Name", validators=[Optional(), Length(max=LIMITS["customer_name"])]
    )
    new_customer_email = EmailField(
        "Email", validators=[Optional(), Email(), Length(max=LIMITS["customer_email"])]
    )
    new_customer_phone = StringField(
        "Phone", validators=[Optional(), Length(max=LIMITS["customer_phone"])]
    )
    new_customer_account_ref = StringField(
        "Account reference", validators=[Optional(), Length(max=LIMITS["customer_account_ref"])]
    )
    title = StringField(
        "What was promised",
        validators=[DataRequired("Say what was promised."), Length(max=LIMITS["title"])],
    )
    details = TextAreaField("Details", validators=[Optional(), Length(max=LIMITS["details"])])
    promised_at = MomentField("Promised for", validators=[InputRequired("Give a date and time.")])
    channel = SelectField("Channel", choices=choices(CHANNELS.items()))
    owner_department_id = SelectField("On behalf of", coerce=picked_id)
    route = Rows(FormField(RouteStepForm), min_entries=1, max_entries=MAX_ROUTE_STEPS)

    def set_department_choices(self, all_departments, own_departments, promises=()) -> None:
        """Fill the pickers: the route from all departments, the owner from the person's own,
        standing promises grouped by their department."""
        route_choices = choices(
            [("", "Choose a department…")] + [(d.id, d.name) for d in all_departments]
        )
        promise_choices = [SelectChoice("", "None: the department answers")] + [
            SelectChoice(str(p.id), p.name, optgroup=p.department.name) for p in promises
        ]
        for step in self.route:
            step.form.department_id.choices = route_choices
            step.form.standing_promise_id.choices = promise_choices
        self.owner_department_id.choices = choices((d.id, d.name) for d in own_departments)

    def validate_customer_id(self, field):
        if not field.data and not (self.new_customer_name.data or "").strip():
            raise ValidationError(
                "Pick a customer from the search, or enter a new customer's name."
            )

    def validate_route(self, field):
        picked = [step.form.department_id.data for step in field if step.form.department_id.data]
        if len(picked) != len(set(picked)):
            raise ValidationError("Each department can appear only once in the route.")


class EditCommitmentForm(FlaskForm):
    title = StringField(
        "What was promised",
        validators=[DataRequired("Say what was promised."), Length(max=LIMITS["title"])],
    )
    details = TextAreaField("Details", validators=[Optional(), Length(max=LIMITS["details"])])
    promised_at = MomentField("Promised for", validators=[InputRequired("Give a date and time.")])


class AddStepForm(FlaskForm):
    """One more department for the route of a recorded commitment. The choices offer the
    departments not on the route yet; one that is (a stale page) is the service's to refuse,
    with a message that says so."""

    department_id = SelectField(
        "Department",
        coerce=picked_id,
        validators=[InputRequired("Pick a department.")],
        validate_choice=False,
    )
    ask = RouteStepForm.ask
    due_at = RouteStepForm.due_at
    validate_department_id = RouteStepForm.validate_department_id


class NoteForm(FlaskForm):
    """Accept or mark done, with an optional note."""

    note = StringField("Note", validators=[Optional(), Length(max=LIMITS["note"])])

    def answer(self) -> dict:
        """What the answer says, for services.give_answer."""
        return {"note": self.note.data or ""}


class ReasonForm(FlaskForm):
    """Decline, reject a counter, take a step off the route, cancel: a reason is required."""

    reason = StringField(
        "Reason", validators=[DataRequired("A reason is required."), Length(max=LIMITS["reason"])]
    )

    def answer(self) -> dict:
        """What the answer says, for services.give_answer."""
        return {"reason": self.reason.data or ""}


class CounterForm(FlaskForm):
    """What the department can really do: a date and/or terms, with a note."""

    due_at = MomentField("We can do it by", validators=[Optional()])
    terms = StringField("Terms", validators=[Optional(), Length(max=LIMITS["terms"])])
    note = StringField("Note", validators=[Optional(), Length(max=LIMITS["note"])])

    def validate(self, extra_validators=None):
        if not super().validate(extra_validators):
            return False
        if self.due_at.data is None and not (self.terms.data or "").strip():
            self.terms.errors.append("Give a date or terms you can meet.")
            return False
        return True

    def answer(self) -> dict:
        """What the answer says, for services.give_answer (the date read in the reader's zone)."""
        return {
            "due_at": from_local(self.due_at.data),
            "terms": self.terms.data or "",
            "note": self.note.data or "",
        }


# The form each answer is given with (the answers themselves: commitments.answers.ANSWERS).
ANSWER_FORMS: dict[Action, type[FlaskForm]] = {
    Action.ACCEPT: NoteForm,
    Action.COUNTER: CounterForm,
    Action.DECLINE: ReasonForm,
    Action.COMPLETE: NoteForm,
    Action.TAKE_COUNTER: NoteForm,
    Action.REJECT_COUNTER: ReasonForm,
    Action.CANCEL: ReasonForm,
}


class CommentForm(FlaskForm):
    body = TextAreaField(
        "Message",
        validators=[DataRequired("Write something first."), Length(max=LIMITS["details"])],
    )


class FeedbackForm(FlaskForm):
    """How the customer felt about it, in their words."""

    score = SelectField(
        "Score",
        coerce=picked_id,
        choices=choices(
            [("", "How did the customer feel?")] + [(n, f"{n} / 5") for n in range(5, 0, -1)]
        ),
        validators=[InputRequired("Give a score from 1 to 5.")],
    )
    comment = TextAreaField("What they said", validators=[Optional(), Length(max=2000)])

    def validate_score(self, field):
        if field.data is None:
            raise ValidationError("Give a score from 1 to 5.")
