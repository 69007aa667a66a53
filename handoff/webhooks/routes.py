"""Admins register webhooks, read each delivery and its answer, resend, pause, resume."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.kernel.paging import Cursor, keyset_page, page_size
from handoff.web import attempt
from handoff.webhooks import services
from handoff.webhooks.forms import WebhookForm
from handoff.webhooks.models import OWED, Webhook, WebhookDelivery

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")


@bp.before_request
@login_required
def _admins_only():
    if not current_user.is_admin:
        abort(403)


def _get(webhook_id: int) -> Webhook:
    webhook = db.session.get(Webhook, webhook_id)
    if webhook is None or webhook.removed_at is not None:
        abort(404)
    return webhook


def _owed_counts() -> dict[int, int]:
    rows = db.session.execute(
        select(WebhookDelivery.webhook_id, func.count())
        .where(WebhookDelivery.status == OWED)
        .group_by(WebhookDelivery.webhook_id)
    )
    return dict(rows.all())


def _list_page(form: WebhookForm, status: int = 200):
    webhooks = db.session.scalars(
        select(Webhook).where(Webhook.removed_at.is_(None)).order_by(Webhook.id)
    ).all()
    return (
        render_template(
            "webhooks/index.html",
            webhooks=webhooks,
            owed=_owed_counts(),
            form=form,
            events=services.EVENT_TYPES,
            event_words=services.EVENT_TYPES,
        ),
        status,
    )


@bp.get("/")
def index():
    """Every webhook: where it sends, what it hears of, how it is doing."""
    return _list_page(WebhookForm(formdata=None, data={"events": list(services.EVENT_TYPES)}))


@bp.post("/")
def register():
    form = WebhookForm()
    if form.validate():
        done, webhook = attempt(
            form,
            services.register,
            current_user,
            form.url.data,
            form.events.data,
            form.description.data or "",
            utcnow(),
        )
        if done:
            flash("The webhook is registered. Give its secret to the receiver to check bodies.")
            return redirect(url_for("webhooks.show", webhook_id=webhook.id), 303)
    return _list_page(form, 422)


def _show_page(webhook: Webhook, form: WebhookForm, status: int = 200):
    per = page_size(request.args.get("per"))
    cursor = Cursor.read(request.args.get("after"), (int,)) or Cursor.read(
        request.args.get("before"), (int,), backwards=True
    )
    page = keyset_page(
        select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id),
        (WebhookDelivery.id,),
        lambda d: (d.id,),
        cursor,
        per,
        descending=True,
    )
    return (
        render_template(
            "webhooks/show.html",
            webhook=webhook,
            form=form,
            page=page,
            per=per,
            owed=_owed_counts().get(webhook.id, 0),
            event_words=services.EVENT_TYPES,
        ),
        status,
    )


@bp.get("/<int:webhook_id>")
def show(webhook_id: int):
    """The webhook, its secret, and its deliveries, newest first, with the answers."""
    webhook = _get(webhook_id)
    form = WebhookForm(
        formdata=None,
        data={"url": webhook.url, "description": webhook.description, "events": webhook.events},
    )
    return _show_page(webhook, form)


@bp.post("/<int:webhook_id>")
def change(webhook_id: int):
    webhook = _get(webhook_id)
    form = WebhookForm()
    if form.validate():
        done, _ = attempt(
            form,
            services.change,
            current_user,
            webhook,
            form.url.data,
            form.events.data,
            form.description.data or "",
        )
        if done:
            flash("Saved.")
            return redirect(url_for("webhooks.show", webhook_id=webhook_id), 303)
    return _show_page(_get(webhook_id), form, 422)


def _act(webhook_id: int, verb, said: str):
    webhook = _get(webhook_id)
    verb(current_user, webhook, utcnow())
    db.session.commit()
    flash(said)
    return redirect(url_for("webhooks.show", webhook_id=webhook_id), 303)


@bp.post("/<int:webhook_id>/pause")
def pause(webhook_id: int):
    return _act(webhook_id, services.pause, "Paused: what happens meanwhile waits for it.")


@bp.post("/<int:webhook_id>/resume")
def resume(webhook_id: int):
    return _act(webhook_id, services.resume, "Resumed: what it is owed goes out next round.")


@bp.post("/<int:webhook_id>/secret")
def roll_secret(webhook_id: int):
    webhook = _get(webhook_id)
    services.roll_secret(current_user, webhook)
    db.session.commit()
    flash("A new secret: give it to the receiver; bodies are signed with it from now on.")
    return redirect(url_for("webhooks.show", webhook_id=webhook_id), 303)


@bp.post("/<int:webhook_id>/remove")
def remove(webhook_id: int):
    webhook = _get(webhook_id)
    services.remove(current_user, webhook, utcnow())
    db.session.commit()
    flash(f"The webhook to {webhook.url} is removed.")
    return redirect(url_for("webhooks.index"), 303)


@bp.post("/<int:webhook_id>/deliveries/<int:delivery_id>/resend")
def resend(webhook_id: int, delivery_id: int):
    webhook = _get(webhook_id)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook.id:
        abort(404)
    services.resend(current_user, delivery, utcnow())
    db.session.commit()
    flash(f"{delivery.message_id} goes out again in the next round, with the same id.")
    return redirect(url_for("webhooks.show", webhook_id=webhook_id), 303)
