"""Console sign-in: session cookie, redirects to sign-in, CSRF on every form, sign-out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from itsdangerous import URLSafeTimedSerializer

from api.console.auth import safe_next
from api.console.session import SESSION_COOKIE
from robot.config import Settings

from fixtures.api_harness import ApiHarness
from fixtures.console import console_client, form_token, open_console_api, session_token, sign_in
from fixtures.database import VALID_SCRIPT

PAGES = ["/", "/calls", "/scripts", "/scripts/new"]


@pytest.fixture
def api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    yield from open_console_api(tmp_path, isolated_settings)


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_a_browser_without_a_session_to_sign_in(api: ApiHarness, path: str) -> None:
    browser = console_client(api)
    answer = browser.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/signin?next={path}"
    htmx = browser.get(path, headers={"HX-Request": "true"}, follow_redirects=False)
    assert htmx.status_code == 401
    assert htmx.headers["hx-redirect"].startswith("/signin")


def test_signing_in_sets_a_protected_session_cookie_and_opens_the_dashboard(
    api: ApiHarness,
) -> None:
    browser = console_client(api)
    page = browser.get("/signin")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    answer = browser.post(
        "/signin",
        data={
            "api_key": api.tenants["acme"][1],
            "csrf_token": form_token(page.text),
            "next": "/calls",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/calls"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS the cookie is Secure
    dashboard = browser.get("/")
    assert dashboard.status_code == 200
    assert 'id="tenant-name">acme<' in dashboard.text


def test_the_session_cookie_is_secure_over_tls(api: ApiHarness) -> None:
    from fastapi.testclient import TestClient

    browser = TestClient(api.client.app, base_url="https://console.example")
    page = browser.get("/signin")
    answer = browser.post(
        "/signin",
        data={"api_key": api.tenants["acme"][1], "csrf_token": form_token(page.text)},
        follow_redirects=False,
    )
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE))
    assert "Secure" in cookie


def test_a_wrong_key_is_refused_and_gives_no_session(api: ApiHarness) -> None:
    browser = console_client(api)
    answer = sign_in(browser, "cr_not-a-real-key")
    assert answer.status_code == 401
    assert "unknown or revoked" in answer.text
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_sign_in_without_its_form_token_is_refused(api: ApiHarness) -> None:
    browser = console_client(api)
    browser.get("/signin")
    answer = browser.post("/signin", data={"api_key": api.tenants["acme"][1]})
    assert answer.status_code == 403
    other = console_client(api)
    stolen = form_token(other.get("/signin").text)  # a token from another browser's cookie
    answer = browser.post("/signin", data={"api_key": api.tenants["acme"][1], "csrf_token": stolen})
    assert answer.status_code == 403
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_a_forged_or_foreign_session_cookie_is_not_accepted(api: ApiHarness) -> None:
    browser = console_client(api)
    tenant_id = api.tenants["acme"][0]
    forged = URLSafeTimedSerializer("guessed", salt="callrobot.console.session").dumps(
        {"t": tenant_id, "k": 1, "c": "x"}
    )
    browser.cookies.set(SESSION_COOKIE, forged)
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_posts_without_the_session_csrf_token_are_refused(api: ApiHarness) -> None:
    browser = console_client(api)
    sign_in(browser, api.tenants["acme"][1])
    token = session_token(browser)
    script = {"yaml_text": VALID_SCRIPT}
    assert browser.post("/scripts/save", data=script).status_code == 403
    assert browser.post("/scripts/save", data={**script, "csrf_token": "wrong"}).status_code == 403
    assert browser.post("/scripts/lint", json={"text": VALID_SCRIPT}).status_code == 403
    bad = {"X-CSRF-Token": "wrong"}
    assert browser.post("/scripts/graph", json={"text": "x"}, headers=bad).status_code == 403
    assert browser.post("/signout", data={}).status_code == 403
    assert browser.get("/").status_code == 200  # still signed in
    ok = browser.post("/scripts/lint", json={"text": VALID_SCRIPT}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200
    saved = browser.post(
        "/scripts/save", data={**script, "csrf_token": token}, follow_redirects=False
    )
    assert saved.status_code == 303


def test_another_sessions_token_does_not_pass_csrf(api: ApiHarness) -> None:
    first, second = console_client(api), console_client(api)
    sign_in(first, api.tenants["acme"][1])
    sign_in(second, api.tenants["acme"][1])
    foreign = session_token(second)
    answer = first.post("/scripts/lint", json={"text": "x"}, headers={"X-CSRF-Token": foreign})
    assert answer.status_code == 403


def test_sign_out_ends_the_session(api: ApiHarness) -> None:
    browser = console_client(api)
    sign_in(browser, api.tenants["acme"][1])
    answer = browser.post(
        "/signout", data={"csrf_token": session_token(browser)}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin"
    assert browser.get("/", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(api: ApiHarness) -> None:
    browser = console_client(api)
    sign_in(browser, api.tenants["acme"][1])
    assert browser.get("/").status_code == 200
    (used,) = api.request("GET", "/v1/keys").json()["items"]
    other = api.request("POST", "/v1/keys", json={"name": "second"}).json()
    revoked = api.client.delete(
        f"/v1/keys/{used['id']}", headers={"Authorization": f"Bearer {other['key']}"}
    )
    assert revoked.status_code == 204
    assert browser.get("/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/calls?outcome=busy", "/calls?outcome=busy"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("calls", "/"),
        (None, "/"),
    ],
)
def test_sign_in_only_returns_to_pages_of_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected
