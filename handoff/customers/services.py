"""Finding customers by any of the ways a caller identifies themselves, and adding them."""

from dataclasses import dataclass

from sqlalchemy import select

from handoff.customers.models import Customer, phone_digits
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput
from handoff.kernel.search import SHORTEST, matching_ids, searchable


@dataclass(frozen=True)
class CustomerInput:
    name: str
    email: str
    phone: str
    account_ref: str


def matching_customer_ids(query: str, limit: int):
    """A select of the ids of the customers whose name, email, account reference or phone
    number contains `query` (three characters or more; an address with an @ from its start),
    newest first, at most `limit`."""
    text = query.strip().lower()
    if "@" in text:  # an address, typed from its start: an index range, on both databases
        return (
            select(Customer.id)
            .where(Customer.email >= text, Customer.email < text + "\uffff")
            .order_by(Customer.id.desc())
            .limit(limit)
        )
    digits = phone_digits(query)
    return matching_ids(
        Customer,
        [Customer.name, Customer.email, Customer.account_ref],
        query,
        limit,
        digits=(Customer.phone_digits, digits) if len(digits) >= SHORTEST else None,
    )


def search_customers(query: str, limit: int = 8) -> list[Customer]:
    """Customers whose name, email, phone or account reference contains `query`, by name."""
    if not searchable(query):
        return []
    ids = list(db.session.scalars(matching_customer_ids(query, limit)))
    return list(
        db.session.scalars(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.name))
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
