"""The judged flow in a real browser: htmx swaps, the CSRF header, 403/409/422 answers.

Runs Debian's Chromium (`apt-get install chromium`) through Playwright; never a downloaded
browser. Without Chromium the test is skipped locally, and fails in CI.
"""

import os
import re
import threading
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from werkzeug.serving import make_server

from handoff.commitments import services
from handoff.kernel.db import db

from conftest import PASSWORD, writes

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs it with apt-get install chromium")
        pytest.skip("Chromium is not installed: sudo apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _read_whole(app):
    """The app, each answer read whole before it is sent: when the browser drops a request
    midway (a page's icon, as it moves on), the test server stops before it closes what the
    answer was read from (a static file) and leaves it to the garbage collector, which warns."""

    def served(environ, start_response):
        answer = app(environ, start_response)
        try:
            return [b"".join(answer)]
        finally:
            if hasattr(answer, "close"):
                answer.close()

    return served


@pytest.fixture
def live_server(app_factory, app):
    """The real app, CSRF on, served over HTTP on loopback."""
    served = app_factory(WTF_CSRF_ENABLED=True, REFRESH_SECONDS=600)
    server = make_server("127.0.0.1", 0, _read_whole(served), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(
        base_url=live_server, viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors, logged = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # what the console shows as an error (a resource that failed, a policy that refused
    # something, a library's error): each is something wrong a person could see
    page.on(
        "console",
        lambda message: (
            logged.append(f"{message.text} ({message.location.get('url')})")
            if message.type == "error"
            else None
        ),
    )
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    # (a form sent back with its errors is 422, an answer given first by someone else 409:
    # the product's answers, swapped in place, which the browser lists as failed loads)
    expected = re.compile(r"Failed to load resource: .* status of (409|422) ")
    logged = [line for line in logged if not expected.match(line)]
    for pattern in EXPECTED_IN_CONSOLE.pop(id(page), []):  # what the test itself set off
        logged = [line for line in logged if not re.search(pattern, line)]
    assert logged == [], f"errors in the browser's console: {logged}"


EXPECTED_IN_CONSOLE: dict[int, list[str]] = {}


def expect_in_console(page, pattern: str) -> None:
    """A console error this test sets off on purpose (a forbidden action's 403, say)."""
    EXPECTED_IN_CONSOLE.setdefault(id(page), []).append(pattern)


def sign_in(page, person):
    page.goto("/login")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def typed(moment) -> str:
    """A moment as Ana types it into a datetime-local input: Berlin wall-clock time."""
    return moment.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M")


def mark_page(page):
    """Mark this page load, to prove later that a change came without a reload."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def test_record_hand_off_accept_and_look_up_in_a_real_browser(page, org, make, now):
    from playwright.sync_api import expect

    make.customer("Harbor Bakery", email="office@harbor.example", phone="+49 30 1234 567")

    # Ana (Sales) records a promise routed to Installation, then Billing.
    sign_in(page, org.ana)
    page.get_by_role("link", name="+ New commitment").click()
    form = page.locator("#commitment-form")

    # Saving an empty form: errors in place (422 swapped by htmx), nothing saved.
    form.get_by_role("button", name="Save and hand off").click()
    expect(form.get_by_text("Say what was promised.")).to_be_visible()
    expect(form.get_by_text("Pick a customer from the search")).to_be_visible()

    page.get_by_label("Find a customer").press_sequentially("harb", delay=30)
    page.get_by_text("Harbor Bakery").click()
    page.get_by_label("What was promised").fill("Oven installed before the opening")
    page.get_by_label("Promised for").fill(typed(now + timedelta(days=4)))
    page.locator("#route-0-department_id").select_option(label="Installation")
    page.locator("#route-0-ask").fill("Install and test the oven controller")
    page.locator("#route-0-due_at").fill(typed(now + timedelta(days=2)))
    page.get_by_role("button", name="+ Add a department").click()
    expect(page.locator("#route-1-department_id")).to_be_visible()
    expect(page.locator("#route-0-ask")).to_have_value("Install and test the oven controller")
    page.locator("#route-1-department_id").select_option(label="Billing")
    page.locator("#route-1-ask").fill("Invoice the installation")
    page.locator("#route-1-due_at").fill(typed(now + timedelta(days=3)))
    shot(page, "01-new-commitment")
    page.get_by_role("button", name="Save and hand off").click()
    page.wait_for_url("**/commitments/C-*")
    reference = page.url.rsplit("/", 1)[1]
    expect(page.locator("h1")).to_contain_text("Oven installed before the opening")
    expect(page.locator(".summary")).to_contain_text("Waiting for acknowledgement")
    shot(page, "02-commitment")
    sign_out(page)

    # Ben, Installation's lead, accepts it in his inbox without a reload.
    sign_in(page, org.ben)
    page.get_by_role("link", name="Inbox").click()
    row = page.locator("article.handoff", has_text=reference)
    expect(row).to_contain_text("waiting")
    mark_page(page)
    # A decline needs a reason: the row says so, nothing changes.
    row.locator("summary", has_text="Decline").click()
    row.get_by_role("button", name="Decline").click()
    expect(row.get_by_text("A reason is required.")).to_be_visible()
    row = page.locator("article.handoff", has_text=reference)
    row.get_by_role("button", name="Accept").click()
    expect(row.locator(".state")).to_have_text("✓ accepted")
    expect(row.get_by_role("button", name="Mark done")).to_be_visible()
    assert not_reloaded(page)
    shot(page, "03-inbox-accepted")

    # A handoff answered by someone else meanwhile: 409, the row shows who answered first.
    other = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    page.reload()
    mark_page(page)
    with writes():
        services.decline(other.handoffs[0], org.ivo, now, "No technician free")
    stale = page.locator("article.handoff", has_text=other.reference)
    stale.get_by_role("button", name="Accept").click()
    expect(stale).to_contain_text("Already declined by Ivo Berg")
    expect(stale.locator(".state")).to_have_text("✗ declined")
    assert not_reloaded(page)

    # Someone who is no longer in the department: 403, shown in the banner, nothing changed.
    expect_in_console(page, r"status of 403|Error Code 403")
    third = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    page.reload()
    mark_page(page)
    with writes():
        for membership in list(org.ben.memberships):
            db.session.delete(membership)
    page.locator("article.handoff", has_text=third.reference).get_by_role(
        "button", name="Accept"
    ).click()
    expect(page.locator("#problem")).to_contain_text("Only members of Installation")
    assert not_reloaded(page)
    shot(page, "04-forbidden")
    sign_out(page)

    # Chloe-in-CS finds it in the lookup with a sentence she can read out.
    sign_in(page, org.dev)
    page.get_by_role("link", name="Lookup").click()
    page.get_by_role("searchbox").press_sequentially("harbor", delay=30)
    result = page.locator(".result", has_text=reference)
    expect(result.locator(".sentence")).to_contain_text("Not yet confirmed by Billing — asked")
    expect(result).to_contain_text("Sales · Ana Ruiz")
    expect(page).to_have_url(re.compile(r"/lookup\?q=harbor$"))
    shot(page, "05-lookup")


def test_follow_a_reminder_from_the_outbox_answer_it_and_see_the_board_change(
    page, org, make, now, app_factory, live_server
):
    from playwright.sync_api import expect

    from handoff.nagging.sweep import sweep

    from nagging_helpers import set_policy

    set_policy(always_open=True, ack_window_minutes=5)
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=now - timedelta(minutes=30)
    )
    nagger = app_factory(PUBLIC_BASE_URL=live_server)  # links point at the served app
    with nagger.app_context():
        assert sweep(now).reminders == 1

    sign_in(page, org.admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Outbox").click()
    page.get_by_role("link", name=f"[Handoff] {c.reference}").click()
    frame = page.frame_locator("iframe.mail-preview")
    expect(frame.get_by_text(c.reference).first).to_be_visible()
    shot(page, "06-outbox-message")
    frame.get_by_role("link", name="Accept").click()  # opens the confirmation page, changes nothing
    expect(page).to_have_url(re.compile(r"/act/"))
    # the admin is signed in here: the link is Ivo's, an answer here is the admin's own
    expect(page.get_by_text("This link was sent to Ivo Berg")).to_be_visible()
    expect(page.get_by_text("recorded as Admin's")).to_be_visible()
    shot(page, "07-confirm-from-mail")
    page.locator("form.chosen").get_by_role("button", name="Accept").click()
    expect(page.get_by_text(f"Done: {c.reference} is now accepted.")).to_be_visible()

    page.get_by_role("link", name="Board").click()
    row = page.locator("tr", has_text=c.reference)
    expect(row.locator(".chip")).to_contain_text("accepted")
    shot(page, "08-board-after-mail-answer")


def test_a_reminder_reads_on_a_phone_and_its_link_answers_there(
    page, org, make, now, app_factory, live_server
):
    """The digest in a 360 px mail client: one column, nothing wider than the screen, buttons
    a thumb can hit; its Decline link opens a page that fits the phone, with Decline first,
    and a decline without a reason is refused beside the field, the words kept."""
    from playwright.sync_api import expect
    from sqlalchemy import select

    from handoff.mail import OutboxMessage
    from handoff.nagging.sweep import sweep

    from nagging_helpers import set_policy

    set_policy(always_open=True, ack_window_minutes=5)
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=now - timedelta(minutes=30)
    )
    nagger = app_factory(PUBLIC_BASE_URL=live_server)
    with nagger.app_context():
        sweep(now)
        mail = db.session.scalars(
            select(OutboxMessage).where(OutboxMessage.to_address == org.ivo.email)
        ).one()
        html = mail.body_html
    page.set_viewport_size({"width": 360, "height": 780})
    page.set_content(html)
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    buttons = page.get_by_role("link", name=re.compile(r"^(Accept|Counter|Decline)$"))
    assert buttons.count() == 3
    for i in range(3):
        box = buttons.nth(i).bounding_box()
        assert box["height"] >= 44 and box["x"] + box["width"] <= 360
    decline = buttons.filter(has_text="Decline").get_attribute("href")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(decline)  # not signed in: the link is Ivo's
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first = page.locator("form.act-form").first
    expect(first.get_by_role("heading")).to_have_text("Decline")  # the one the mail chose
    box = page.locator("form.chosen").bounding_box()
    assert box["y"] < 844  # on the first screen
    first.get_by_label("Reason (required)").fill("   ")
    first.get_by_role("button", name="Decline").click()
    reason = page.locator("form.chosen").get_by_label("Reason (required)")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#decline-reason-errors")).to_contain_text("A reason is required")
    reason.fill("No van free until Monday")
    page.locator("form.chosen").get_by_role("button", name="Decline").click()
    expect(page.get_by_text(f"Done: {c.reference} is now declined.")).to_be_visible()


def test_standing_promise_then_a_decline_moves_who_talks_to_the_customer(page, org, make, now):
    """Issue 5's walk: a standing promise, one commitment within it, one beyond it, a decline,
    and the lookup naming the declining department and what to say."""
    from playwright.sync_api import expect

    make.customer("Lindner Optik", email="info@lindner.example", phone="+49 30 9876 543")

    # Ben, Installation's lead, publishes a standing promise and goes on duty.
    sign_in(page, org.ben)
    page.goto(f"/departments/{org.installation.id}/promises")
    page.get_by_label("Name").fill("Standard install")
    page.get_by_label("Lead time").fill("3")
    page.get_by_label("What it covers").fill("One site, up to three devices")
    page.get_by_role("button", name="Save").last.click()
    expect(page.locator("table.plain")).to_contain_text("Standard install")
    page.get_by_label("Put on duty").select_option(label="Ben Okafor")
    page.get_by_role("button", name="Save").first.click()
    expect(page.locator(".timeline")).to_contain_text("Ben Okafor put themselves on duty")
    sign_out(page)

    def record(title, due_in, expect_line):
        page.get_by_role("link", name="+ New commitment").click()
        page.get_by_label("Find a customer").press_sequentially("lindner", delay=30)
        page.get_by_text("Lindner Optik").click()
        page.get_by_label("What was promised").fill(title)
        page.get_by_label("Promised for").fill(typed(now + due_in + timedelta(hours=1)))
        page.locator("#route-0-department_id").select_option(label="Installation")
        page.locator("#route-0-ask").fill("Install the display")
        page.locator("#route-0-due_at").fill(typed(now + due_in))
        page.locator("#route-0-standing_promise_id").select_option(label="Standard install")
        expect(page.locator("#promise-check")).to_contain_text(expect_line)
        shot(page, f"09-form-{title.rsplit(' ', 1)[1].lower()}")
        page.get_by_role("button", name="Save and hand off").click()
        page.wait_for_url("**/commitments/C-*")
        return page.url.rsplit("/", 1)[1]

    # Ana records one within the promise (accepted at once) and one beyond it (warned).
    sign_in(page, org.ana)
    within = record("Shop display in three weeks", timedelta(days=21), "accepted at once")
    expect(page.locator(".handoff")).to_contain_text("accepted")
    expect(page.locator("#timeline")).to_contain_text("Accepted by standing promise")
    beyond = record("Shop display on Thursday", timedelta(days=2), "Installation must confirm")
    expect(page.locator("#promise-check")).to_have_count(0)
    expect(page.locator(".summary")).to_contain_text("Waiting for acknowledgement")
    sign_out(page)

    # Ivo (Installation) declines the one beyond the promise, in his inbox.
    sign_in(page, org.ivo)
    page.get_by_role("link", name="Inbox").click()
    row = page.locator("article.handoff", has_text=beyond)
    mark_page(page)
    row.locator("summary", has_text="Decline").click()
    row.get_by_label("Reason").fill("No technician free before Friday")
    row.get_by_role("button", name="Decline").click()
    expect(row.locator(".state")).to_have_text("✗ declined")
    assert not_reloaded(page)
    sign_out(page)

    # Dev looks it up: Installation talks to the customer now, and this is what to say.
    sign_in(page, org.dev)
    page.get_by_role("link", name="Lookup").click()
    page.get_by_role("searchbox").press_sequentially("lindner", delay=30)
    declined = page.locator(".result", has_text=beyond)
    expect(declined.locator(".sentence")).to_have_text(
        "Installation declined: No technician free before Friday"
    )
    expect(declined).to_contain_text("Installation · Ivo Berg owns the customer conversation")
    expect(declined.locator(".to-say")).to_contain_text("we can't do this as promised for")
    expect(declined.locator(".to-say")).to_contain_text("Installation will contact you")
    expect(page.locator(".result", has_text=within).locator(".to-say")).to_contain_text(
        "It's confirmed"
    )
    shot(page, "10-lookup-after-decline")
    sign_out(page)

    # Ivo tells the customer and says so; the page updates without a reload.
    sign_in(page, org.ivo)
    page.goto(f"/commitments/{beyond}")
    mark_page(page)
    task = page.locator("#tell .task")
    task.get_by_role("button", name="Mark told").click()
    expect(task.get_by_text("Say what the customer was told.")).to_be_visible()
    task.get_by_label("What you told the customer").fill("Called; Friday morning suits them")
    task.get_by_role("button", name="Mark told").click()
    expect(page.locator("#tell")).to_contain_text("Ivo Berg (Installation) told the customer")
    expect(page.locator("#timeline")).to_contain_text("told the customer: Called; Friday")
    assert not_reloaded(page)
    shot(page, "11-customer-told")


def test_page_through_the_board_and_an_inbox_section_and_come_back(page, org, make):
    made = [
        make.commitment(
            by=org.ana, owner=org.sales, route=[org.installation], due_in=timedelta(days=3 + i)
        )
        for i in range(23)
    ]
    sign_in(page, org.ivo)
    page.goto("/?per=10&sort=due")
    mark_page(page)
    first = page.locator("#board a.ref").first
    assert first.inner_text() == made[0].reference
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url("**after=*")
    assert page.locator("#board a.ref").first.inner_text() == made[10].reference
    assert page.locator("#board a.ref").count() == 10 and not_reloaded(page)
    page.get_by_role("link", name="← Previous").click()
    page.wait_for_url("**before=*")
    assert page.locator("#board a.ref").first.inner_text() == made[0].reference
    # a choice made in the form, two pages on, and Back: the form says what the list shows
    page.locator("select[name=sort]").select_option("newest")
    page.wait_for_url("**sort=newest*")
    page.get_by_role("link", name="Next →").click()
    page.wait_for_url("**after=*")
    newest_second = page.locator("#board a.ref").first.inner_text()
    page.get_by_role("link", name="Next →").click()
    page.wait_for_function(
        "ref => document.querySelector('#board a.ref').textContent.trim() !== ref",
        arg=newest_second,
    )
    page.go_back()
    page.wait_for_function(
        "ref => document.querySelector('#board a.ref').textContent.trim() === ref",
        arg=newest_second,
    )
    assert "sort=newest" in page.url
    assert page.locator("select[name=sort]").input_value() == "newest"
    assert page.locator("select[name=per]").input_value() == "10"
    # Back to the first page in that order, then to the page before the order was chosen:
    # each time the form says what that address showed
    first_ref = "ref => document.querySelector('#board a.ref').textContent.trim() === ref"
    page.go_back()
    page.wait_for_function(first_ref, arg=made[-1].reference)  # (newest first)
    assert page.locator("select[name=sort]").input_value() == "newest"
    page.go_back()
    page.wait_for_function(first_ref, arg=made[0].reference)  # (the customer's date)
    assert "sort=due" in page.url
    assert page.locator("select[name=sort]").input_value() == "due"
    # the inbox: a section pages on its own, the others stay where they are
    page.goto(f"/departments/{org.installation.id}/inbox")
    waiting = page.locator("#inbox-waiting")
    assert waiting.locator("a.ref").count() == 10
    assert "23" in page.locator("#count-waiting").inner_text()
    waiting.get_by_role("link", name="Next →").click()
    page.wait_for_function(
        "ref => document.querySelector('#inbox-waiting a.ref').textContent.trim() === ref",
        arg=made[10].reference,
    )
    shot(page, "inbox-second-page")
    # the page's address follows the section: a reload shows the same page of it
    page.wait_for_url("**waiting_after=*")
    page.reload()
    assert page.locator("#inbox-waiting a.ref").first.inner_text() == made[10].reference


def test_the_first_tab_offers_a_way_past_the_header_to_the_page(page, org):
    """Working by keyboard: the first Tab shows "Skip to the main content", Enter moves focus
    to the page itself."""
    from playwright.sync_api import expect

    sign_in(page, org.ana)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the main content")
    expect(skip).to_be_focused()
    assert skip.bounding_box()["y"] >= 0  # shown once it has focus
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()


def test_answering_by_keyboard_keeps_focus_on_the_card_and_says_what_happened(page, org, make):
    """Enter on Accept: the card comes back accepted, focus is on it (not lost to the page),
    and the outcome is announced to a screen reader."""
    from playwright.sync_api import expect

    first = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(page, org.ben)
    page.goto(f"/departments/{org.installation.id}/inbox")
    card = page.locator(f"#handoff-{first.handoffs[0].id}")
    card.get_by_role("button", name="Accept").focus()
    page.keyboard.press("Enter")
    expect(card.locator(".state")).to_have_text("✓ accepted")
    expect(card).to_be_focused()
    expect(page.locator("#announce")).to_have_text(f"{first.reference}: accepted")
    # the next one, by keyboard alone from there
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('article') !== null")


def test_a_member_goes_away_and_their_delegate_answers_for_them(page, org, make):
    """Ivo marks himself away with Dev (of Billing) answering for him; Dev finds
    Installation's inbox, accepts, and the card and the timeline say for whom."""
    from playwright.sync_api import expect

    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(page, org.ivo)
    page.goto("/me")
    page.get_by_role("link", name="Mark yourself away").click()
    page.get_by_label("Who answers meanwhile").select_option(label="Dev Patel")
    page.get_by_label("Note (optional)").fill("Holiday")
    page.get_by_role("button", name="Mark away").click()
    expect(page.locator(".flashes")).to_contain_text("Dev Patel answers meanwhile")
    expect(page.locator(".absence")).to_contain_text("You are away")
    expect(page.locator(".absence")).to_contain_text("Dev Patel answers for you")
    sign_out(page)

    sign_in(page, org.dev)
    page.get_by_role("link", name="Inbox").click()
    page.get_by_role("link", name="Installation").click()
    expect(page.locator(".away-notes")).to_contain_text("Ivo Berg is away until")
    card = page.locator(f"#handoff-{c.handoffs[0].id}")
    card.get_by_role("button", name="Accept").click()
    expect(card.locator(".answer")).to_contain_text("Accepted by Dev Patel for Ivo Berg")
    page.goto(f"/commitments/{c.reference}")
    expect(page.locator("#timeline")).to_contain_text(
        "Installation accepted by Dev Patel for Ivo Berg"
    )


def test_every_main_page_fits_a_phone_without_scrolling_sideways(page, org, make):
    """At 360 px wide: the header wraps, the board's rows are cards, and no page is wider
    than the screen."""
    from handoff.insights.services import set_targets
    from handoff.kernel.db import transaction

    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    with transaction():  # (a target's hidden words once pushed insights wider than a phone)
        set_targets(org.installation, org.ben, c.created_at, in_window=90, on_time=90)
        services.accept(c.handoffs[0], org.ben, c.created_at + timedelta(minutes=5))
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation])  # one to answer
    page.set_viewport_size({"width": 360, "height": 780})
    sign_in(page, org.ben)
    for path in (
        "/",
        f"/departments/{org.installation.id}/inbox",
        f"/lookup?q={c.reference}",
        "/commitments/new",
        f"/commitments/{c.reference}",
        f"/departments/{org.installation.id}/promises",
        "/me",
        "/away",
        "/insights",
    ):
        page.goto(path)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 360, f"{path} is {wide} px wide on a 360 px screen"
    page.goto(f"/departments/{org.installation.id}/inbox")
    page.locator("summary", has_text="Decline").first.click()
    reason = page.locator("details[open] input[name=reason]").first
    assert reason.bounding_box()["height"] <= 60  # one line, not a stretched box
    page.goto("/")
    sign_out = page.get_by_role("button", name="Sign out")
    assert sign_out.is_visible() and sign_out.bounding_box()["height"] >= 44
    sign_out.click()
    sign_in(page, org.admin)
    for path in (
        "/admin/departments",
        "/admin/people",
        "/admin/policies/organisation",
        f"/admin/policies/{org.installation.id}",
        "/admin/outbox",
        "/admin/settings",
        "/admin/webhooks/",
        "/admin/replies",
    ):
        page.goto(path)
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 360, f"{path} is {wide} px wide on a 360 px screen"


def test_the_outbox_reads_on_a_phone_as_a_list_of_cards(page, org, make, now):
    """At 360 px wide each message is a card of its own, its fields labelled: nothing in the
    list is wider than the screen, so nothing is scrolled sideways to be read."""
    from handoff.nagging.sweep import sweep

    from nagging_helpers import set_policy

    set_policy(always_open=True, ack_window_minutes=5)
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=now - timedelta(minutes=30)
    )
    assert sweep(now).digests >= 1
    page.set_viewport_size({"width": 360, "height": 780})
    sign_in(page, org.admin)
    page.goto("/admin/outbox")
    table = page.locator("table.plain")
    assert table.evaluate("t => t.scrollWidth <= t.clientWidth")
    card = page.locator("tbody tr", has_text=c.reference).first
    box = card.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    status = card.locator("td[data-label=Status]")
    assert status.is_visible()
    label = status.evaluate("td => getComputedStyle(td, '::before').content")
    assert "Status" in label
    shot(page, "phone-outbox")


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1.min.js"  # from npm, vendored
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now, a line each."""
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """axe.run(document, {resultTypes: ['violations']}).then(result => result.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ' (' + v.nodes.length + '): ' + v.nodes[0].target.join(' ')))"""
    )
    return found


@pytest.fixture
def audited(browser, live_server):
    """A page whose context lets axe-core in (the app's policy admits no script it did not
    serve), at each size in turn."""
    contexts = []

    def at(size: str):
        context = browser.new_context(
            base_url=live_server, viewport=SIZES[size], timezone_id="Europe/Berlin", bypass_csp=True
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield at
    for context in contexts:
        context.close()


def test_no_main_page_has_a_serious_accessibility_problem_at_either_size(audited, app):
    """On the demo's organisation (what a new user sees), as Ben, lead of Installation."""
    from sqlalchemy import select

    from handoff.commitments.models import Commitment
    from handoff.demo import DEMO_PASSWORD, build_demo
    from handoff.departments.models import Department
    from handoff.kernel.db import transaction
    from handoff.ownership.models import CustomerTask

    with transaction():
        build_demo(seed=7, progress=lambda line: None)
    installation = db.session.scalar(select(Department).where(Department.name == "Installation"))
    told = db.session.scalar(
        select(CustomerTask.commitment_id).where(CustomerTask.outcome == "told").limit(1)
    )
    reference = Commitment.reference_of(told)
    pages = {
        "board": "/",
        "inbox": f"/departments/{installation.id}/inbox",
        "lookup": f"/lookup?q={reference}",
        "new-commitment": "/commitments/new",
        "commitment": f"/commitments/{reference}",
        "promises": f"/departments/{installation.id}/promises",
        "me": "/me",
        "away": "/away",
        "insights": "/insights",
    }
    found = {}
    for size in SIZES:
        page = audited(size)
        page.goto("/login")
        page.get_by_label("Email").fill("ben@example.com")
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/")
        for name, path in pages.items():
            page.goto(path)
            problems = serious_violations(page)
            if problems:
                found[f"{size} {path}"] = problems
            if os.environ.get("HANDOFF_SCREENSHOTS"):  # the README's pictures, made anew
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"))
    assert found == {}


def test_the_accessibility_check_finds_what_it_is_for(audited, org):
    """Planted: faint words and a picture without words. The check must report both."""
    page = audited("desktop")
    sign_in(page, org.ben)
    page.evaluate(
        """document.querySelector('main').insertAdjacentHTML('beforeend',
            '<p style="color: #c8c8c8; background: #fff">faint</p>'
            + '<img src="/static/favicon.svg">')"""
    )
    found = " ".join(serious_violations(page))
    assert "color-contrast" in found and "image-alt" in found


def test_a_token_is_made_on_ones_page_and_an_admin_registers_a_webhook(audited, org):
    """Made by clicking, at phone size: the token is shown once and works; the webhook's page
    shows its secret; neither page has a serious accessibility problem."""
    page = audited("phone")
    sign_in(page, org.ana)
    page.goto("/me")
    page.get_by_label("What will use it").fill("Our CRM")
    page.get_by_label("Read and write (record and answer)").check()
    page.get_by_role("button", name="Make a token").click()
    secret = page.get_by_label("Your new token").input_value()
    assert secret.startswith("hnd_")
    assert page.locator("table.tokens").get_by_text("Our CRM").is_visible()
    assert serious_violations(page) == []
    answer = page.request.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status == 200 and answer.json()["name"] == "Ana Ruiz"
    page.goto("/me")
    assert secret not in page.content()  # shown once
    page.get_by_role("button", name="Revoke").click()
    assert "is revoked" in page.content()
    answer = page.request.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status == 401

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, org.admin)
    page.goto("/admin/webhooks/")
    page.get_by_label("Address (URL)").fill("https://crm.example.com/hooks/handoff")
    page.get_by_label("What it is for").fill("Our CRM")
    page.get_by_role("button", name="Register").click()
    assert page.get_by_label("The webhook's secret").input_value().startswith("whsec_")
    assert "Nothing delivered yet" in page.content()
    assert serious_violations(page) == []
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= SIZES["phone"]["width"]
    if os.environ.get("HANDOFF_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "webhook-phone.png"), full_page=True)
