"""The kernel: what every concept may use and what uses no concept.

The clock, the database plumbing (UTC datetimes, SQLite set up for a web server, the write
transaction, row locks, the insert that ignores a key already there), the domain errors,
the one timeline writer, the domain events and how they are announced, the bounds every id,
number and date keeps where it enters, and how dates are written for pages and mail alike.
Nothing here imports a concept of handoff (import-linter holds this).
"""
