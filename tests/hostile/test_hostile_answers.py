"""Attacks by customers' servers: trickling, flooding and absurdly deep JSON answers.

The reader gets a short total budget (1 s) and the servers trickle far longer than that
(minutes); the tests check that the read is cut with the right typed error, never how fast.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from payloads import HANG_BOUND_S
from servers import hostile_server

from dialogues.rasa_http import RasaHttpClassifier
from robot.errors import EngineError
from robot.http_limits import (
    AnswerJsonError,
    AnswerTimeoutError,
    AnswerTooLargeError,
    BlockingAnswerReader,
    read_answer,
)


async def _read(url: str, **options: object) -> object:
    async with httpx.AsyncClient() as client:
        return await asyncio.wait_for(
            read_answer(client, "POST", url, json={"q": 1}, **options),  # type: ignore[arg-type]
            HANG_BOUND_S,  # only catches a hang: the reader's own deadline is 1 s
        )


@pytest.mark.parametrize("mode", ["trickle_body", "trickle_headers"])
async def test_trickling_server_is_cut_at_the_total_deadline(mode: str) -> None:
    with (
        hostile_server(mode) as url,
        pytest.raises(AnswerTimeoutError, match=r"no complete answer within 1 s"),
    ):
        await _read(url, timeout_s=1.0)


async def test_a_partly_spent_budget_ends_early_but_is_stated_whole() -> None:
    """A caller that spent time before the request (a first try, a DNS check) passes its
    deadline; the error names the whole budget, never what happened to be left of it."""
    loop = asyncio.get_running_loop()
    with (
        hostile_server("trickle_body") as url,
        pytest.raises(AnswerTimeoutError, match=r"no complete answer within 1\.5 s$"),
    ):
        await _read(url, timeout_s=1.5, deadline=loop.time() + 0.7)


async def test_flooding_server_is_cut_at_the_size_cap() -> None:
    with (
        hostile_server("flood") as url,
        pytest.raises(AnswerTooLargeError, match="ANSWER_MAX_BYTES"),
    ):
        await _read(url, timeout_s=HANG_BOUND_S / 2)


async def test_flood_can_be_truncated_when_the_body_does_not_matter() -> None:
    with hostile_server("flood") as url:
        answer = await _read(url, timeout_s=HANG_BOUND_S / 2, max_bytes=1000, truncate=True)
    assert (answer.status_code, len(answer.body), answer.truncated) == (200, 1000, True)  # type: ignore[attr-defined]


async def test_json_answer_nested_100000_deep_is_refused() -> None:
    with hostile_server("deep_json") as url:
        answer = await _read(url, timeout_s=HANG_BOUND_S / 2)
        with pytest.raises(AnswerJsonError, match=r"answer:1:\d+: JSON nested deeper than 32"):
            answer.json()  # type: ignore[attr-defined]


async def test_a_good_answer_is_read() -> None:
    with hostile_server("ok") as url:
        answer = await _read(url)
    assert answer.json()["intent"]["name"] == "affirm"  # type: ignore[attr-defined]


def test_blocking_reader_is_cut_at_the_deadline_too() -> None:
    with BlockingAnswerReader() as reader:
        with hostile_server("trickle_headers") as url, pytest.raises(AnswerTimeoutError):
            reader.read("GET", url, timeout_s=1.0)
        # The same reader still serves the next request after a refused one.
        with hostile_server("ok") as url:
            assert reader.read("GET", url).status_code == 200


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("trickle_body", r"did not answer in 1\.0 s"),
        ("trickle_headers", r"did not answer in 1\.0 s"),
        ("deep_json", "JSON nested deeper than 32"),
        ("flood", "ANSWER_MAX_BYTES"),
    ],
)
def test_rasa_server_attacks_are_engine_errors(mode: str, message: str) -> None:
    with (
        hostile_server(mode) as url,
        RasaHttpClassifier(url, timeout_s=1.0) as classifier,
        pytest.raises(EngineError, match=message),
    ):
        classifier.parse("yes")


async def test_webhook_delivery_to_a_trickling_crm_times_out_in_total(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from robot.config import WebhookSettings
    from robot.crm.attempts import ClaimedDelivery
    from robot.crm.delivery import DeliveryWorker

    from fixtures.database import open_fresh_database

    with hostile_server("trickle_body") as url:
        for db in open_fresh_database("sqlite", tmp_path):
            worker = DeliveryWorker(
                db.engine, WebhookSettings(timeout_s=1.0), allow_private=True, sweep=False
            )
            delivery = ClaimedDelivery(
                1, "evt_1", "call.completed", 1, "{}", url, "s3cret", 0, datetime.now(UTC)
            )
            async with httpx.AsyncClient() as client:
                result = await asyncio.wait_for(worker.send(client, delivery), HANG_BOUND_S)
    assert result.error == "timed out after 1 s"
