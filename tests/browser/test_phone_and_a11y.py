"""Every main page on a 390 x 844 phone in headless Chromium: no sideways scrolling, every visible link and button
at WCAG AA contrast (computed in the page from the styles it renders), form errors tied to their fields, and a
landmark for every region."""

from __future__ import annotations

from typing import Any

import pytest

from helpdesk.accounts.models import Role
from helpdesk.accounts.services import AccountService
from helpdesk.tickets.models import Source, Visibility
from helpdesk.tickets.services import TicketService
from tests.support.browser import sign_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}

#: In the page: the contrast of every visible link and button against what is really behind it (the nearest
#: opaque backgrounds, blended), by the WCAG 2.1 relative-luminance formula. Returns the failures.
CONTRAST = """
() => {
  const parse = (c) => { const m = c.match(/[\\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
  const blend = (top, under) => { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]); };
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let colour = [255, 255, 255, 1];
    for (const layer of layers.reverse()) colour = blend(layer, colour);
    return colour;
  };
  const lum = (c) => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const failures = [];
  let checked = 0;
  for (const el of document.querySelectorAll('a[href], button, input[type=submit], input[type=button], summary')) {
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    if (el.disabled || style.visibility === 'hidden' || style.display === 'none' || box.width < 2 || box.height < 2) continue;
    if (box.right < 0 || box.bottom < 0 || el.closest('[hidden], .visually-hidden, svg')) continue;
    if (!(el.innerText || '').trim()) continue;  // an icon or image link: its text contrast does not apply
    const bg = background(el);
    const fg = blend(parse(style.color), bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    checked += 1;
    if (ratio < 4.5) failures.push(`${el.tagName.toLowerCase()} "${el.innerText.trim().slice(0, 40)}" ${style.color} on rgb(${bg.slice(0, 3).map(Math.round)}) = ${ratio.toFixed(2)}`);
  }
  return {checked, failures};
}
"""

#: Every form error (.field-error with an id) is named by aria-describedby of a field marked aria-invalid.
ERRORS_TIED = """
() => [...document.querySelectorAll('.field-error[id]')].map(err => {
  const fields = [...document.querySelectorAll('[aria-describedby]')].filter(
    f => f.getAttribute('aria-describedby').split(/\\s+/).includes(err.id));
  return {id: err.id, fields: fields.length, invalid: fields.every(f => f.getAttribute('aria-invalid') === 'true'),
          announced: err.getAttribute('role') === 'alert' || !!err.closest('[role=alert], [aria-live]')};
})
"""

#: The app's own pages: one main, a banner and a footer, every nav labelled, nothing outside a landmark.
LANDMARKS = """
() => {
  const outside = [...document.body.children].filter(el =>
    !['HEADER', 'NAV', 'MAIN', 'FOOTER', 'ASIDE', 'SCRIPT', 'TEMPLATE', 'DIALOG'].includes(el.tagName) &&
    !el.classList.contains('skip-link') && el.getBoundingClientRect().height > 0 && el.innerText.trim());
  return {
    main: document.querySelectorAll('main').length,
    banner: document.querySelectorAll('body > header').length,
    contentinfo: document.querySelectorAll('body > footer').length,
    unlabelledNavs: [...document.querySelectorAll('nav')].filter(
      n => !n.getAttribute('aria-label') && !n.getAttribute('aria-labelledby')).length,
    outside: outside.map(el => el.tagName + '.' + el.className),
  };
}
"""


def fits(page: Any, path: str) -> None:
    width = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], (path, width, page.evaluate(
        "() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 1)"
        ".slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"))


def contrast_ok(page: Any, path: str) -> None:
    result = page.evaluate(CONTRAST)
    assert result["checked"] > 0, path
    assert result["failures"] == [], (path, result["failures"])


def landmarks_ok(page: Any, path: str) -> None:
    found = page.evaluate(LANDMARKS)
    assert (found["main"], found["banner"], found["contentinfo"]) == (1, 1, 1), (path, found)
    assert found["unlabelledNavs"] == 0 and found["outside"] == [], (path, found)


def check(page: Any, base: str, path: str, *, app_page: bool = True) -> None:
    response = page.goto(f"{base}{path}")
    assert response is not None and response.status < 500, path
    fits(page, path)
    contrast_ok(page, path)
    if app_page:
        landmarks_ok(page, path)
    else:
        assert page.locator("main").count() == 1 and page.locator("nav").count() >= 1, path


@pytest.fixture
def desk(live_server):  # type: ignore[no-untyped-def]
    session = live_server.app.extensions["helpdesk"].session_factory()
    accounts = AccountService(session)
    sam, _ = accounts.create_staff("sam", Role.STAFF)
    dana = accounts.sign_in_github("delegate-dana")
    tickets = TicketService(session)
    long_line = "SELECT " + ", ".join(f"coord_ra_{i}" for i in range(40)) + " FROM dp02_dc2_catalogs.Object"  # noqa: S608 - a line of text, not a query
    ticket = tickets.file(dana, "A very long subject " + "word" * 30, f"```\n{long_line}\n```\n\n" + "x" * 300,
                          Source.WEB).ticket.id
    tickets.reply(sam, ticket, f"Try this:\n\n```python\n{long_line}\n```", Visibility.PUBLIC)
    session.close()
    return {"ticket": ticket}


def test_every_main_page_fits_a_phone_with_aa_contrast_and_landmarks(live_server, browser, desk) -> None:  # type: ignore[no-untyped-def]
    base = live_server.url
    anonymous = browser.new_context(viewport=PHONE)
    page = anonymous.new_page()
    page.set_default_timeout(15_000)
    for path in ("/", "/auth/login", "/signup"):
        check(page, base, path)
    for path in ("/docs/", "/docs/docs/reference/settings.html", "/docs/docs/reference/http-api.html"):
        check(page, base, path, app_page=False)
    anonymous.close()

    requester = browser.new_context(viewport=PHONE)
    page = requester.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, base, "delegate-dana", "/tickets/new")
    for path in ("/tickets/new", "/tickets/", f"/tickets/{desk['ticket']}", "/signup"):
        check(page, base, path)
    requester.close()

    staff = browser.new_context(viewport=PHONE)
    page = staff.new_page()
    page.set_default_timeout(15_000)
    sign_in(page, base, "sam", "/staff/")
    for path in ("/staff/", f"/staff/tickets/{desk['ticket']}", "/staff/dashboard", "/staff/tickets"):
        check(page, base, path)
    staff.close()


def test_form_errors_are_tied_to_their_fields_and_announced(live_server, browser) -> None:  # type: ignore[no-untyped-def]
    base = live_server.url
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{base}/auth/login")
    page.get_by_label("GitHub login").fill("-bad name-")
    page.get_by_role("button", name="Sign in").click()
    errors = page.evaluate(ERRORS_TIED)
    assert errors and all(e["fields"] == 1 and e["invalid"] and e["announced"] for e in errors), errors
    contrast_ok(page, "/auth/login (errors)")

    sign_in(page, base, "delegate-dana", "/tickets/new")
    page.evaluate("() => document.querySelectorAll('[required]').forEach(f => f.removeAttribute('required'))")
    page.get_by_label("Subject").fill(" ")
    page.set_input_files("#attachments", files=[{"name": "page.svg", "mimeType": "image/svg+xml",
                                                 "buffer": b"<svg onload='alert(1)'/>"}])
    page.get_by_role("button", name="File the ticket").click()
    errors = page.evaluate(ERRORS_TIED)
    assert {e["id"] for e in errors} >= {"subject-error", "body-error"}, errors
    assert all(e["fields"] == 1 and e["invalid"] and e["announced"] for e in errors), errors
    assert page.get_by_role("alert").filter(has_text="needs a change").count() == 1  # the summary
    fits(page, "/tickets/new (errors)")
    contrast_ok(page, "/tickets/new (errors)")

    page.get_by_label("Subject").fill("Plot fails")
    page.get_by_label("Your question").fill("See the file")
    page.set_input_files("#attachments", files=[{"name": "page.svg", "mimeType": "image/svg+xml",
                                                 "buffer": b"<svg onload='alert(1)'/>"}])
    page.get_by_role("button", name="File the ticket").click()
    errors = page.evaluate(ERRORS_TIED)
    assert [e["id"] for e in errors] == ["attachments-error"] and errors[0]["invalid"], errors
    assert "cannot be attached" in page.locator("#attachments-error").inner_text()
    context.close()
