"""Finding customers by any of the ways a caller identifies themselves, and adding them."""

from dataclasses import dataclass

from sqlalchemy import or_, select

from handoff.customers.models import Customer, phone_digits
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput


@dataclass(frozen=True)
class CustomerInput:
    name: str
    email: str
    phone: str
    account_ref: str


def customer_matches(query: str):
    """A SQL condition: the customer's name, email, phone or account reference contains `query`."""
    text = query.strip()
    conditions = [
        Customer.name.icontains(text, autoescape=True),
        Customer.email.icontains(text, autoescape=True),
        Customer.account_ref.icontains(text, autoescape=True),
    ]
    digits = phone_digits(query)
    if len(digits) >= 3:
        conditions.append(Customer.phone_digits.contains(digits, autoescape=True))
    return or_(*conditions)


def search_customers(query: str, limit: int = 8) -> list[Customer]:
    """Customers whose name, email, phone or account reference contains `query`."""
    if len(query.strip()) < 2:
        return []
    return list(
        db.session.scalars(
            select(Customer).where(customer_matches(query)).order_by(Customer.name).limit(limit)
        )
    )


def find_or_create_customer(customer_id: int | None, new: CustomerInput) -> Customer:
    """The picked customer, or a new one from `new`; InvalidInput says what is wrong."""
    if customer_id:
        customer = db.session.get(Customer, customer_id)
        if customer is None:
            raise InvalidInput("That customer no longer exists; search again.", field="customer_id")
        return customer
    if not new.name.strip():
        raise InvalidInput(
            "Pick a customer from the search, or enter a new customer's name.",
            field="customer_id",
        )
    account_ref = new.account_ref.strip() or None
    if account_ref and db.session.scalar(
        select(Customer.id).where(Customer.account_ref == account_ref)
    ):
        raise InvalidInput(
            f"Account reference {account_ref} already belongs to a customer; search for it.",
            field="new_customer_account_ref",
        )
    customer = Customer(
        name=new.name.strip(),
        email=new.email.strip().lower(),
        phone=new.phone.strip(),
        account_ref=account_ref,
    )
    db.session.add(customer)
    db.session.flush()
    return customer
