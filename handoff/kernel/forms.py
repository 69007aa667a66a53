"""What every form shares, and the bounds every number that enters the program keeps."""

from decimal import Decimal, InvalidOperation

from wtforms.fields import DateField, DateTimeLocalField, FieldList
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from handoff.kernel.db import MAX_INT

# Numeric(12, 2): amounts up to ten digits before the point.
MAX_AMOUNT = Decimal("9999999999.99")
# Moments people type: a promise is made for this century, and a year that far from now
# would overflow when moved between time zones (0001-01-01 in Berlin is before UTC's year 1).
FIRST_YEAR, LAST_YEAR = 2000, 2099


def choices(pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(str(value), label) for value, label in pairs]


def database_id(value) -> int:
    """An id as a URL or query parameter gives it; ValueError unless 1 … MAX_INT in ASCII digits
    (so `?customer=²` or `?department=9223372036854775808` is no filter, never a 500)."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()):
        raise ValueError("not an id")
    number = int(text)
    if not 1 <= number <= MAX_INT:
        raise ValueError("not an id")
    return number


def picked_id(value) -> int | None:
    """What a select of ids sends: None when nothing is picked, else an id the database can
    hold (ValueError for anything else, which the field reports as its error)."""
    if value in (None, "", "None"):
        return None
    return database_id(value)


class Bounded:
    """A number the database can hold: finite, within [low, high]."""

    def __init__(self, low, high, message: str | None = None):
        self.low, self.high, self.message = low, high, message

    def __call__(self, form, field):
        value = field.data
        if value is None:
            return
        try:
            finite = Decimal(value).is_finite()
            inside = finite and self.low <= value <= self.high
        except (InvalidOperation, TypeError, ValueError):
            inside = False
        if not inside:
            raise ValidationError(self.message or f"Give a number from {self.low} to {self.high}.")


def amount_bounds() -> Bounded:
    return Bounded(Decimal(0), MAX_AMOUNT, "Give an amount from 0 to 9,999,999,999.99.")


def count_bounds(low: int = 1) -> Bounded:
    return Bounded(low, MAX_INT, f"Give a whole number from {low} to {MAX_INT:,}.")


class MomentField(DateTimeLocalField):
    """A date and time as a datetime-local input sends it ("2026-05-12T10:00"), in this
    century; anything else is the field's error, never an overflow later."""

    def __init__(self, label=None, validators=None, **kwargs):
        kwargs.setdefault("format", "%Y-%m-%dT%H:%M")
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not FIRST_YEAR <= self.data.year <= LAST_YEAR:
            self.data = None
            raise ValueError(f"Give a date from {FIRST_YEAR} to {LAST_YEAR}.")


class DayField(DateField):
    """A day as a date input sends it ("2026-05-12"), in this century; anything else is the
    field's error."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        if self.data is not None and not FIRST_YEAR <= self.data.year <= LAST_YEAR:
            self.data = None
            raise ValueError(f"Give a date from {FIRST_YEAR} to {LAST_YEAR}.")


class Rows(FieldList):
    """A list of sub-forms numbered in field names (route-0-ask, route-1-ask …); only ASCII
    numbers count, so "route-²-ask" is no row rather than an error."""

    def _extract_indices(self, prefix, formdata):
        offset = len(prefix) + 1
        for key in formdata:
            if key.startswith(prefix):
                index = key[offset:].split("-", 1)[0]
                if index.isascii() and index.isdigit():
                    yield int(index)
