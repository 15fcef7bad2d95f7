"""Attacks on the API: a request flood from one key, a bad-key flood, markup in lead fields.

Each attack is refused with a problem answer (429 with ``Retry-After``, or 401) while the
service keeps answering ``/health`` and other tenants. Floods run against a real uvicorn
server on 127.0.0.1; limits are set so that the counts, not the clock, decide the outcome.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.ratelimit import BadKeyThrottle, TokenBucket
from robot.config import QuotaSettings, Settings

from fixtures.api_harness import ApiHarness, open_api, serve_in_thread
from fixtures.database import VALID_SCRIPT, open_fresh_database

FLOOD_REQUESTS = 1000
BURST = 20
IN_FLIGHT = 20


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def harness_with(tmp_path: Path, settings: Settings, **quotas: float) -> Iterator[ApiHarness]:
    limits = settings.quotas.model_copy(update=quotas)
    for db in open_fresh_database("sqlite", tmp_path):
        yield from open_api(db.engine, settings.model_copy(update={"quotas": limits}))


@pytest.fixture
def flood_api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    """Each tenant gets ``BURST`` requests and (practically) no refill."""
    yield from harness_with(tmp_path, isolated_settings, rate_per_s=0.001, burst=BURST)


@pytest.fixture
def api(tmp_path: Path, isolated_settings: Settings) -> Iterator[ApiHarness]:
    yield from harness_with(tmp_path, isolated_settings)


def test_token_bucket_refills_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=2.0, burst=3.0, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == pytest.approx(0.5)
    assert bucket.take("b") == 0.0  # another key has its own bucket
    clock.now += 0.25
    assert bucket.take("a") == pytest.approx(0.25)
    clock.now += 0.25
    assert bucket.take("a") == 0.0
    clock.now += 100.0
    assert [bucket.take("a") for _ in range(4)][-1] > 0  # never more than the burst


def test_bad_key_delays_double_up_to_the_cap_and_then_block() -> None:
    clock = FakeClock()
    throttle = BadKeyThrottle(
        free=2, delay_base_s=0.1, delay_max_s=0.5, block_at=8, decay_per_s=0.5, clock=clock
    )
    delays = [throttle.record("10.0.0.9") for _ in range(7)]
    assert delays == [0.0, 0.0, 0.1, 0.2, 0.4, 0.5, 0.5]
    assert throttle.blocked_for("10.0.0.9") == 0.0
    throttle.record("10.0.0.9")
    assert throttle.blocked_for("10.0.0.9") == pytest.approx(2.0)
    assert throttle.blocked_for("10.0.0.10") == 0.0
    clock.now += 2.0
    assert throttle.blocked_for("10.0.0.9") == 0.0  # the count decays: the address may retry


def test_default_limits_are_sane() -> None:
    quotas = QuotaSettings()
    assert quotas.auth_delay_max_s < 2.0  # a slowed 401 still comes within 2 s
    assert quotas.burst >= quotas.rate_per_s


async def _flood(base: str, keys: list[str]) -> list[httpx.Response]:
    """One request per key, ``IN_FLIGHT`` at a time (the client's pool queues badly)."""
    in_flight = asyncio.Semaphore(IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:

        async def one(key: str) -> httpx.Response:
            async with in_flight:
                return await client.get("/v1/campaigns", headers={"Authorization": f"Bearer {key}"})

        return await asyncio.gather(*(one(key) for key in keys))


async def _others_during(base: str, key: str, flood: asyncio.Task[object]) -> list[int]:
    statuses: list[int] = []
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
        while not flood.done() or not statuses:
            health = await client.get("/health")
            other = await client.get("/v1/scripts", headers={"Authorization": f"Bearer {key}"})
            statuses += [health.status_code, other.status_code]
            if len(statuses) >= 2 * (BURST - 1):
                break  # the other tenant stays within its own burst
            await asyncio.sleep(0)
    return statuses


def test_request_flood_from_one_key_gets_429_and_other_tenants_are_served(
    flood_api: ApiHarness,
) -> None:
    acme_key, globex_key = flood_api.tenants["acme"][1], flood_api.tenants["globex"][1]

    async def attack(base: str) -> tuple[list[httpx.Response], list[int]]:
        flood = asyncio.create_task(_flood(base, [acme_key] * FLOOD_REQUESTS))
        others = await _others_during(base, globex_key, flood)
        return await flood, others

    with serve_in_thread(flood_api.client.app) as base:
        responses, others = asyncio.run(attack(base))

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == BURST
    assert statuses.count(429) == FLOOD_REQUESTS - BURST
    refused = next(r for r in responses if r.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429 and "rate limit" in refused.json()["detail"]
    assert others and set(others) == {200}
    # The flooded key still reaches /health; its tenant waits for the next request.
    assert flood_api.client.get("/health", headers=flood_api.headers("acme")).status_code == 200
    assert flood_api.request("GET", "/v1/scripts").status_code == 429


def test_bad_key_flood_from_one_address_is_slowed_then_refused(api: ApiHarness) -> None:
    guard = api.client.app.state.api_guard  # type: ignore[attr-defined]
    quotas = api.settings.quotas
    waited: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waited.append(seconds)

    guard.bad_keys.sleep = record_sleep
    guard.bad_keys.decay_per_s = 1e-6  # the count does not decay during the test
    bad = {"Authorization": "Bearer cr_guessing" + "x" * 35}
    attacker = TestClient(api.client.app, client=("203.0.113.7", 40000))
    bystander = TestClient(api.client.app, client=("198.51.100.20", 40000))

    answers = [
        attacker.get("/v1/campaigns", headers=bad) for _ in range(quotas.auth_failures_block)
    ]
    assert {a.status_code for a in answers} == {401}
    assert waited[0] == quotas.auth_delay_base_s
    assert waited == sorted(waited) and max(waited) == quotas.auth_delay_max_s
    assert len(waited) == quotas.auth_failures_block - quotas.auth_failures_free

    blocked = attacker.get("/v1/campaigns", headers=bad)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert "bad API keys" in blocked.json()["detail"]
    assert len(waited) == quotas.auth_failures_block - quotas.auth_failures_free  # no lookup
    # Another address, and another tenant, are served as usual.
    assert bystander.get("/v1/campaigns", headers=api.headers("globex")).status_code == 200
    assert bystander.get("/v1/campaigns", headers=bad).status_code == 401


def test_bad_key_flood_on_a_served_api_leaves_other_addresses_served(api: ApiHarness) -> None:
    """Bad keys from 127.0.0.1, at once, while a tenant on 127.0.0.2 keeps working."""
    waited: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waited.append(seconds)

    guard = api.client.app.state.api_guard  # type: ignore[attr-defined]
    guard.bad_keys.sleep = record_sleep
    guard.bad_keys.decay_per_s = 1e-6
    attempts = 3 * api.settings.quotas.auth_failures_block

    async def attack(base: str) -> tuple[list[httpx.Response], list[int]]:
        bad = [f"cr_bad{i:05d}" + "x" * 36 for i in range(attempts)]
        flood = asyncio.create_task(_flood(base, bad))
        bystander = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        statuses: list[int] = []
        async with httpx.AsyncClient(base_url=base, transport=bystander) as client:
            headers = api.headers("globex")
            while not flood.done() or not statuses:
                statuses.append((await client.get("/v1/campaigns", headers=headers)).status_code)
                await asyncio.sleep(0)
        return await flood, statuses

    with serve_in_thread(api.client.app) as base:
        answers, others = asyncio.run(attack(base))

    statuses = [a.status_code for a in answers]
    assert set(statuses) == {401, 429}
    assert statuses.count(401) >= api.settings.quotas.auth_failures_block
    blocked = next(a for a in answers if a.status_code == 429)
    assert int(blocked.headers["retry-after"]) >= 1
    assert max(waited) == api.settings.quotas.auth_delay_max_s
    assert others and set(others) == {200}


XSS_FIELDS = {
    "first_name": "<script>alert('x')</script>",
    "last_name": '"><img src=x onerror=alert(1)>',
    "company": "{{7*7}} ${7*7} javascript:alert(1)",
}


def test_markup_in_lead_fields_is_stored_as_given_and_returned_as_inert_json(
    api: ApiHarness,
) -> None:
    script = api.request(
        "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
    ).json()
    campaign = api.request(
        "POST", "/v1/campaigns", json={"name": "<b>bold</b>", "script_id": script["id"]}
    ).json()
    assert campaign["name"] == "<b>bold</b>"
    url = f"/v1/campaigns/{campaign['id']}/leads"
    as_json = api.request("POST", url, json=[{"phone": "+12025550143", **XSS_FIELDS}])
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["phone", *XSS_FIELDS])
    writer.writeheader()
    writer.writerow({"phone": "+12025550144", **XSS_FIELDS})
    as_csv = api.request("POST", url, content=out.getvalue(), headers={"Content-Type": "text/csv"})
    assert as_json.json()["imported"] == 1 and as_csv.json()["imported"] == 1

    listed = api.request("GET", url)
    assert listed.headers["content-type"] == "application/json"
    assert listed.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in listed.headers["content-security-policy"]
    leads = listed.json()["items"]
    assert len(leads) == 2
    for lead in leads:
        stored = {**(lead.get("variables") or {}), **lead}
        for name, value in XSS_FIELDS.items():
            assert stored[name] == value, name
    # The markup travels as JSON string data, escaped by nothing but JSON itself.
    assert "<script>alert('x')</script>" in listed.text
