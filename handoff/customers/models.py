"""Customers that commitments are made to."""

import re
from datetime import datetime

from sqlalchemy import String, event
from sqlalchemy.orm import Mapped, mapped_column

from handoff.kernel.clock import utcnow
from handoff.kernel.db import UTCDateTime, db


def phone_digits(phone: str) -> str:
    """The digits of a phone number, so '+49 30 1234-56' matches '30123456'."""
    return re.sub(r"\D", "", phone or "")


class Customer(db.Model):
    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(160), index=True)
    email: Mapped[str] = mapped_column(String(254), default="", index=True)
    phone: Mapped[str] = mapped_column(String(40), default="")
    phone_digits: Mapped[str] = mapped_column(String(40), default="", index=True)
    account_ref: Mapped[str | None] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<Customer {self.name}>"


@event.listens_for(Customer, "before_insert")
@event.listens_for(Customer, "before_update")
def _keep_phone_digits(mapper, connection, customer: Customer) -> None:
    customer.phone_digits = phone_digits(customer.phone)
