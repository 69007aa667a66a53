"""The kernel's database helpers, on SQLite and PostgreSQL alike."""

from handoff.kernel.db import insert_ignore
from handoff.nagging.models import Mailbox


def test_insert_ignore_counts_the_rows_it_wrote_and_leaves_out_the_known(app):
    assert (
        insert_ignore(
            Mailbox, [{"address": "a@x.example"}, {"address": "b@x.example"}], key=["address"]
        )
        == 2
    )
    assert (
        insert_ignore(
            Mailbox, [{"address": "a@x.example"}, {"address": "c@x.example"}], key=["address"]
        )
        == 1
    )
    assert insert_ignore(Mailbox, [{"address": "a@x.example"}], key=["address"]) == 0
    assert insert_ignore(Mailbox, [], key=["address"]) == 0
