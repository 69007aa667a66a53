"""The figures insights read, kept up to date by the domain events (handoff.reactions).

Every handoff belongs to the week it was handed to its department (the Monday of that week in
the organisation's time zone): its figures (how fast it was answered, the reminders it
needed, how it was answered, how its delivery went) are counted in that week's row of its
department and of the department that promised on its behalf, whenever they happen. A row
is one (department, promising department, week); a department's figures are the sum of its
rows. How long each first answer took, in business minutes, is kept as a count per minute
(`AnswerTime`, and summed for the department in `DepartmentAnswerTime`), so that a median or
90th percentile over any weeks is exact.
"""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from handoff.kernel.db import UTCDateTime, db

COUNTERS = (
    "handoffs",  # handed to the department that week
    "answered",  # answered by a person (accept, counter or decline), the first time
    "in_window",  # … within the department's acknowledgement window
    "by_promise",  # accepted at once by a standing promise
    "accepted",  # first answered with an acceptance (a person, or a standing promise)
    "declined",  # declined (each time)
    "countered",  # countered (each time)
    "reminders",  # reminders sent about it (one per reminder, however many recipients)
    "escalations",  # reminders that reached a new level (the leads, the organisation)
    "done_on_time",  # marked done by its due time
    "done_late",  # marked done after its due time
    "late",  # passed its due time undone
    "tasks",  # tasks to tell the customer the department's break caused
    "told_in_time",  # … told within the deadline
    "feedback",  # customer feedback on commitments the department was part of
    "feedback_score",  # … the sum of their scores (1–5)
)


class Counts:
    """The counters of a week's figures (COUNTERS, in that order), each starting at 0."""

    handoffs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    answered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    in_window: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    by_promise: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    accepted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    declined: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    countered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reminders: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalations: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done_on_time: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    done_late: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    late: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tasks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    told_in_time: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    feedback: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    feedback_score: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class WeekFigures(Counts, db.Model):
    """One department's counts for the handoffs handed to it in one week on behalf of one
    promising department (the matrix of who promises for whom reads these)."""

    __tablename__ = "week_figures"
    # keyed by week first, and on SQLite the rows are stored in that order: a period is one
    # contiguous range; the matrix's pairs are read through the index by pair
    __table_args__ = (
        Index("ix_week_figures_pair", "department_id", "owner_department_id", "week"),
        {"sqlite_with_rowid": False},
    )

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    owner_department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )


class DepartmentWeek(Counts, db.Model):
    """The same counts for a department's whole week, whoever promised (the sum of its
    WeekFigures rows, kept apart so that a department's figures read a row per week)."""

    __tablename__ = "department_week"
    __table_args__ = {"sqlite_with_rowid": False}

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )


class AnswerTime(db.Model):
    """How many first answers to handoffs of one week took exactly `minutes` business
    minutes (rounded down)."""

    __tablename__ = "answer_time"
    __table_args__ = (
        Index("ix_answer_time_pair", "department_id", "owner_department_id", "week"),
        {"sqlite_with_rowid": False},
    )

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    owner_department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    minutes: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoffs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class DepartmentAnswerTime(db.Model):
    """The same counts per minute for a department's whole week, whoever promised (the sum
    of its AnswerTime rows, kept apart so that a department's medians read a tenth of the
    rows: a period of two years at a million commitments, 60,000 rows instead of 570,000)."""

    __tablename__ = "department_answer_time"
    __table_args__ = {"sqlite_with_rowid": False}

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    minutes: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoffs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Target(db.Model):
    """What a department aims for, in percent: of its handoffs answered by a person, how
    many within its window; of its work done, how much on time. Set by an admin or its lead."""

    __tablename__ = "insight_target"

    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    in_window: Mapped[int | None] = mapped_column(Integer)
    on_time: Mapped[int | None] = mapped_column(Integer)
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WeeklyReport(db.Model):
    """That a department's week was mailed to its leads (written once, whoever wrote it)."""

    __tablename__ = "weekly_report"

    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    week: Mapped[date] = mapped_column(Date, primary_key=True)
    written_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RequestWeek(db.Model):
    """The same request (its words, case and spaces aside) asked of a department in one week
    without a standing promise: how many a person answered, how many of those first answers
    were an acceptance, with the shortest notice accepted and the business minutes the
    answers took in all (standing promises to publish read these)."""

    __tablename__ = "request_week"
    __table_args__ = {"sqlite_with_rowid": False}

    week: Mapped[date] = mapped_column(Date, primary_key=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), primary_key=True
    )
    request: Mapped[str] = mapped_column(String(200), primary_key=True)
    ask: Mapped[str] = mapped_column(String(200))  # the words as first asked
    answered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    accepted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    least_notice: Mapped[int | None] = mapped_column(Integer)  # minutes, of those accepted
    answer_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
