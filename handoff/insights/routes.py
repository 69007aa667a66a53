"""Insights: what each department's answers, reminders and deliveries cost the customer, week
by week, and who promises on whose behalf. Anyone signed in may read them; the period and the
departments are in the URL, and every table downloads as CSV with the same numbers."""

from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from handoff.commitments.models import Commitment, Handoff
from handoff.departments.models import Department
from handoff.insights.formats import format_minutes, format_rate, format_share
from handoff.insights.forms import TargetsForm
from handoff.insights.queries import (
    department_names,
    figures_by,
    handoffs_by_pair,
    weeks_between,
    what_happened,
)
from handoff.insights.rollups import organisation_zone
from handoff.insights.services import may_set_targets, set_targets, targets_of
from handoff.insights.suggestions import (
    LEAST_REQUESTS,
    LEAST_SHARE,
    common_reasons,
    promise_use,
    to_publish,
)
from handoff.kernel.clock import utcnow
from handoff.kernel.csvfiles import csv_text
from handoff.kernel.db import db
from handoff.kernel.errors import NotAllowed
from handoff.kernel.forms import database_id
from handoff.web import attempt, render, row_url

bp = Blueprint("insights", __name__)
DEFAULT_WEEKS = 8
MOST_WEEKS = 106  # two years
MOST_DRILLED = 200  # commitments a cell lists
MOST_CHARTS = 12  # departments charted week by week (the busiest, unless chosen)
MOST_IN_MATRIX = 15  # departments on each side of the matrix (the busiest); the CSV has all


class Period:
    """The weeks asked for (`from` and `to`, dates in the organisation's calendar: each
    taken as its week), at most MOST_WEEKS; the last DEFAULT_WEEKS unless the URL says."""

    def __init__(self, args, today: date):
        self.problems: list[str] = []  # what the URL asked that could not be, and what instead
        asked_last = self._read(args, "to", "up to today's week")
        last = asked_last or today
        first = self._read(args, "from", f"the {DEFAULT_WEEKS} weeks up to the last")
        first = first or last - timedelta(weeks=DEFAULT_WEEKS - 1)
        if first > last:
            first, last = last, first
            self.problems.append(
                "The first week came after the last: they were swapped."
                if asked_last
                else "The first week is after this week: the weeks from this one to it are shown."
            )
        if (last - first).days > MOST_WEEKS * 7:
            first = last - timedelta(weeks=MOST_WEEKS - 1)
            self.problems.append(
                f"At most {MOST_WEEKS} weeks at once: the last {MOST_WEEKS} are shown."
            )
        self.weeks = weeks_between(first, last)
        self.first, self.last = self.weeks[0], self.weeks[-1]

    def _read(self, args, name: str, instead: str) -> date | None:
        text = (args.get(name) or "").strip()
        day = _day(text)
        if text and day is None:
            self.problems.append(
                f"“{text[:40]}” is not a date (write it as 2026-11-30, from 2000 to 2099): "
                f"{instead} instead."
            )
        return day

    @property
    def problem(self) -> str:
        return " ".join(self.problems)

    @property
    def end(self) -> date:
        """The Sunday that ends the period."""
        return self.last + timedelta(days=6)

    def bounds(self, zone) -> tuple[datetime, datetime]:
        """The period as moments: Monday's midnight to the midnight after Sunday, in `zone`."""
        start = datetime.combine(self.first, time(0), zone)
        return start, datetime.combine(self.end + timedelta(days=1), time(0), zone)

    def args(self) -> dict:
        return {"from": self.first.isoformat(), "to": self.end.isoformat()}


def _day(text: str | None) -> date | None:
    try:
        day = date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        return None
    return day if 2000 <= day.year <= 2099 else None


def _chosen_departments(names: dict[int, str], period: Period) -> list[int]:
    """The departments the URL names; those it names that are not one are said."""
    chosen, unknown = [], []
    for value in request.args.getlist("department"):
        department_id = _known(value, names)
        if department_id is None:
            unknown.append(f"“{value[:40]}”")
        elif department_id not in chosen:
            chosen.append(department_id)
    if unknown:
        instead = "every department is shown" if not chosen else "the others are shown"
        period.problems.append(f"No department {', '.join(unknown[:5])}: {instead}.")
    return chosen


def _known(value: str, names: dict[int, str]) -> int | None:
    try:
        department_id = database_id(value)
    except ValueError:
        return None
    return department_id if department_id in names else None


def _today() -> date:
    return utcnow().astimezone(organisation_zone()).date()


def _context() -> dict:
    names = department_names()
    period = Period(request.args, _today())
    chosen = _chosen_departments(names, period)
    first, last = period.first, period.last
    by_department = figures_by(["department_id"], first, last, chosen)
    pair_counts = handoffs_by_pair(first, last)  # (which pairs promise most)
    shown = sorted(chosen or names, key=lambda d: names[d].casefold())
    rows = [(d, names[d], by_department.get((d,))) for d in shown]
    busiest = sorted(
        (d for d in shown if (d,) in by_department),
        key=lambda d: -by_department[(d,)].counts["handoffs"],
    )
    charted = sorted(busiest[:MOST_CHARTS], key=lambda d: names[d].casefold())
    by_week = figures_by(["department_id", "week"], first, last, charted) if charted else {}
    trend = {d: [(w, by_week.get((d, w))) for w in period.weeks] for d in charted}
    targets = targets_of(shown)
    charts = {d: _chart(names[d], weeks, targets.get(d)) for d, weeks in trend.items()}
    common = _common_scale([m for c in charts.values() for _, m, _ in c["bars"] if m is not None])
    for chart in charts.values():  # one scale for all, so that a slow department looks slow
        chart["top"] = common
    promisers = _most(pair_counts, 0, chosen=set(chosen) or None)
    answerers = _most(pair_counts, 1, chosen=set(chosen) or None)
    promisers = sorted(promisers, key=lambda d: names[d].casefold())
    answerers = sorted(answerers, key=lambda d: names[d].casefold())
    by_pair = (  # (the answer times of the pairs shown alone: a median costs more than a count)
        figures_by(["owner_department_id", "department_id"], first, last, answerers, promisers)
        if promisers and answerers
        else {}
    )
    if chosen:  # (the pairs a chosen department is part of, as in the CSV)
        by_pair = {k: f for k, f in by_pair.items() if k[0] in chosen or k[1] in chosen}
    return {
        "names": names,
        "period": period,
        "chosen": chosen,
        "rows": rows,
        "trend": trend,
        "charts": charts,
        "targets": targets,
        "settable": {d for d in shown if current_user.is_admin or current_user.is_lead_of(d)},
        "pairs": by_pair,
        "promisers": promisers,
        "answerers": answerers,
        "all_departments": sorted(names.items(), key=lambda item: item[1].casefold()),
        "commitments_url": _commitments_link(chosen, period.args()),
        "charts_left_out": len(busiest) - len(charted),
        "matrix_left_out": len({o for o, _ in pair_counts})
        - len(promisers)
        + len({d for _, d in pair_counts})
        - len(answerers),
    }


def _commitments_link(chosen: list[int], args: dict):
    """The address of a department's (or a pair's) commitments in the period, for the
    hundreds of links of the page: built once, each link's ids put after it."""
    base = url_for("insights.commitments", shown=chosen, **args)
    joined = "&" if "?" in base else "?"

    def link(department: int, owner: int | None = None) -> str:
        by = f"&owner={int(owner)}" if owner is not None else ""
        return f"{base}{joined}department={int(department)}{by}"

    return link


def _common_scale(values: list[int]) -> int:
    """The top of the charts' one scale: the 95th percentile of every bar, so that a week or
    two of a few very slow answers does not flatten every other bar (those few are drawn to
    the top and marked; their numbers are in the words and the tables)."""
    if not values:
        return 0
    ordered = sorted(values)
    return max(ordered[-(-len(ordered) * 95 // 100) - 1], 1)


def _most(pairs: dict, side: int, chosen) -> list[int]:
    """The departments on one side of the matrix (0: promising, 1: promised for) that take
    part in the most promises, at most MOST_IN_MATRIX (among `chosen`, if given)."""
    totals: dict[int, int] = {}
    for key, handoffs in pairs.items():
        if chosen is None or key[0] in chosen or key[1] in chosen:
            totals[key[side]] = totals.get(key[side], 0) + handoffs
    return sorted(totals, key=lambda d: -totals[d])[:MOST_IN_MATRIX]


def _chart(name: str, weeks, target=None) -> dict:
    """A department's weekly medians as a chart takes them, with the words a screen reader
    reads for it (and the weeks that missed its target, if it has one)."""
    goal = target.in_window if target is not None else None
    on_time_goal = target.on_time if target is not None else None
    items, missed, judged, late_weeks, late_judged = [], 0, 0, 0, 0
    for week, f in weeks:
        median = f.median if f is not None else None
        within = f.share("in_window", "answered") if f is not None else None
        words = format_minutes(median) if median is not None else "no answers"
        if within is not None:
            words += f", {format_share(within)} within the window"
            if goal is not None:
                judged += 1
                if against(within, goal) == "missed":
                    missed += 1
                    words += f" (missed the target of {goal} %)"
        on_time = f.on_time_share if f is not None else None
        if on_time is not None and on_time_goal is not None:
            late_judged += 1
            if against(on_time, on_time_goal) == "missed":
                late_weeks += 1
                words += f", {format_share(on_time)} done on time (missed {on_time_goal} %)"
        items.append((f"{week:%d %b}", median, words))
    said = "; ".join(f"week of {label}: {words}" for label, _, words in items)
    verdict = (
        f" The target of {goal} % within the window was missed in {missed} of {judged} weeks."
        if goal is not None and judged
        else ""
    )
    if on_time_goal is not None and late_judged:
        verdict += (
            f" The target of {on_time_goal} % done on time was missed in {late_weeks} of "
            f"{late_judged} weeks."
        )
    return {
        "title": f"{name}: median time to answer, week by week",
        "description": f"Median business time to answer each week's handoffs. {said}.{verdict}",
        "bars": items,
        "top": max((m for _, m, _ in items if m is not None), default=0),
        "missed": missed,
        "judged": judged,
    }


def against(share: float | None, target: int | None) -> str:
    """'' without a target or a figure; 'met' or 'missed' against it."""
    if share is None or target is None:
        return ""
    return "met" if share * 100 >= target else "missed"


@bp.context_processor
def _formats() -> dict:
    return {
        "minutes": format_minutes,
        "share": format_share,
        "rate": format_rate,
        "against": against,
    }


@bp.get("/insights")
@login_required
def index():
    """Each department's figures over the period, its weeks, and who promises for whom."""
    return render("insights/index.html", **_context())


def _csv(name: str, header: list[str], rows) -> Response:
    return Response(
        csv_text([header, *rows]),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


DEPARTMENT_COLUMNS = [
    "department",
    "handoffs",
    "answered by a person",
    "median answer (business minutes)",
    "90th percentile (business minutes)",
    "answered within the window",
    "accepted at once by standing promise",
    "reminders",
    "escalations",
    "declined",
    "countered",
    "done on time",
    "done late",
    "late",
    "tasks to tell the customer",
    "told in time",
    "feedback",
    "average feedback score",
]


def _department_row(name: str, f) -> list:
    c = f.counts
    average = f.feedback_average
    return [
        name,
        c["handoffs"],
        c["answered"],
        f.median if f.median is not None else "",
        f.p90 if f.p90 is not None else "",
        c["in_window"],
        c["by_promise"],
        c["reminders"],
        c["escalations"],
        c["declined"],
        c["countered"],
        c["done_on_time"],
        c["done_late"],
        c["late"],
        c["tasks"],
        c["told_in_time"],
        c["feedback"],
        f"{average:.2f}" if average is not None else "",
    ]


@bp.get("/insights/departments.csv")
@login_required
def departments_csv():
    """The departments' table, as CSV: the same period, departments and numbers."""
    context = _context()
    period = context["period"]
    rows = [_department_row(name, f) for _, name, f in context["rows"] if f is not None]
    return _csv(f"departments-{period.first}-{period.end}", DEPARTMENT_COLUMNS, rows)


@bp.get("/insights/weeks.csv")
@login_required
def weeks_csv():
    """Each department's figures week by week, as CSV."""
    context = _context()
    period, names = context["period"], context["names"]
    rows = []
    for department_id, weeks in context["trend"].items():
        for week, f in weeks:
            if f is not None:
                rows.append([week.isoformat(), *_department_row(names[department_id], f)])
    header = ["week (Monday)", *DEPARTMENT_COLUMNS]
    return _csv(f"weeks-{period.first}-{period.end}", header, rows)


@bp.get("/insights/pairs.csv")
@login_required
def pairs_csv():
    """Who promised on whose behalf, as CSV: every pair (the page shows the busiest)."""
    names = department_names()
    period = Period(request.args, _today())
    chosen = set(_chosen_departments(names, period))
    pairs = figures_by(["owner_department_id", "department_id"], period.first, period.last)
    header = [
        "promising department",
        "department",
        "promised",
        "declined",
        "countered",
        "late",
        "median answer (business minutes)",
    ]
    rows = [
        [
            names[o],
            names[d],
            f.counts["handoffs"],
            f.counts["declined"],
            f.counts["countered"],
            f.counts["late"],
            f.median if f.median is not None else "",
        ]
        for (o, d), f in sorted(
            pairs.items(), key=lambda item: (names[item[0][0]], names[item[0][1]])
        )
        if not chosen or o in chosen or d in chosen
    ]
    return _csv(f"pairs-{period.first}-{period.end}", header, rows)


@bp.get("/insights/commitments")
@login_required
def commitments():
    """The commitments behind a figure: a department's handoffs of the period, on behalf of
    one promising department if named."""
    names = department_names()
    period = Period(request.args, _today())
    chosen = _chosen_departments(names, period)
    owner = _chosen_owner(names, period)
    start, end = period.bounds(organisation_zone())
    query = (
        select(Handoff, Commitment)
        .join(Commitment, Commitment.id == Handoff.commitment_id)
        .where(Handoff.requested_at >= start, Handoff.requested_at < end)
        .order_by(Handoff.requested_at, Handoff.id)
        .limit(MOST_DRILLED + 1)
    )
    if chosen:
        query = query.where(Handoff.department_id.in_(chosen))
    if owner is not None:
        query = query.where(Handoff.owner_department_id == owner)
    found = db.session.execute(query).all()
    return render(
        "insights/commitments.html",
        happened=what_happened(found[:MOST_DRILLED]),
        found=found[:MOST_DRILLED],
        more=len(found) > MOST_DRILLED,
        names=names,
        period=period,
        chosen=chosen,
        owner=owner,
        back=url_for("insights.index", department=_shown(names), **period.args()),
        row_url=row_url,
    )


def _shown(names: dict[int, str]) -> list[int]:
    """The departments the insights page showed, for the way back to it (`shown` in the URL;
    anything else in it is left out)."""
    return [d for d in (_known(v, names) for v in request.args.getlist("shown")) if d][:200]


def _chosen_owner(names: dict[int, str], period: Period) -> int | None:
    """The promising department the URL names, if any; one that is not a department is said."""
    value = request.args.get("owner", "")
    owner = _known(value, names)
    if value and owner is None:
        period.problems.append(f"No department “{value[:40]}”: whoever promised is shown.")
    return owner


@bp.route("/insights/departments/<int:department_id>/targets", methods=["GET", "POST"])
@login_required
def targets(department_id: int):
    """What a department aims for: set by an admin or one of its leads."""
    department = db.get_or_404(Department, department_id)
    if not may_set_targets(current_user, department):
        raise NotAllowed(f"Only an administrator or a lead of {department.name} sets its targets.")
    current = targets_of([department.id]).get(department.id)
    form = TargetsForm(obj=current) if request.method != "POST" else TargetsForm()
    if request.method == "POST" and form.validate():
        done, _ = attempt(
            form,
            set_targets,
            department,
            current_user,
            utcnow(),
            in_window=form.in_window.data,
            on_time=form.on_time.data,
        )
        if done:
            flash(f"{department.name}'s targets are saved.")
            return redirect(url_for("insights.index", department=department.id), 303)
    status = 422 if request.method == "POST" else 200
    return render("insights/targets.html", None, status, department=department, form=form)


@bp.get("/insights/standing-promises")
@login_required
def standing_promises():
    """The requests departments keep accepting unchanged that no standing promise covers,
    and the promises that are rarely used or often exceeded, over the period."""
    names = department_names()
    period = Period(request.args, _today())
    chosen = _chosen_departments(names, period)
    start, end = period.bounds(organisation_zone())
    suggestions = to_publish(period.first, period.last, chosen)
    uses = promise_use(start, end, chosen)
    reasons = sorted(  # (by department name, each department's as common_reasons orders them)
        common_reasons(start, end, chosen), key=lambda r: names[r.department_id].casefold()
    )
    return render(
        "insights/standing_promises.html",
        names=names,
        period=period,
        chosen=chosen,
        suggestions=suggestions,
        reasons=reasons,
        rarely=[u for u in uses if u.rarely_used],
        exceeded=[u for u in uses if u.exceeded],
        judged=uses,
        least=LEAST_REQUESTS,
        least_share=round(LEAST_SHARE * 100),
        settable={d for d in names if current_user.is_admin or current_user.is_lead_of(d)},
    )
