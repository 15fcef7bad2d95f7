"""Rasa NLU YAML reading (with error positions) and the Rasa server classifier.

The server tests run a real HTTP server on 127.0.0.1 that answers ``POST /model/parse``
the way Rasa does.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from dialogues.nlu import FALLBACK_INTENT, Entity, IntentClassifier
from dialogues.rasa import (
    EntityAnnotation,
    RasaHttpClassifier,
    RasaNluData,
    load_rasa_nlu,
    parse_rasa_nlu,
    strip_entity_annotations,
)
from robot.config import NluSettings, Settings, override_settings
from robot.errors import EngineError, ScriptError

GOOD = """\
version: "3.1"
nlu:
- intent: book_table
  examples: |
    - a table for [four](guests) please
    - book [tomorrow]{"entity": "day", "value": "2026-11-26", "role": "when"} at [7](hour)
    - [NYC](city:new york) branch
- intent: affirm
  examples:
  - text: |
      yes
  - sure
- synonym: new york
  examples: |
    - big apple
- regex: zip
  examples: |
    - \\d{5}
- lookup: city
  examples: |
    - paris
    - berlin
"""


def test_reads_intents_synonyms_regexes_and_lookups() -> None:
    data = parse_rasa_nlu(GOOD)
    assert data.examples == {
        "book_table": ["a table for four please", "book tomorrow at 7", "NYC branch"],
        "affirm": ["yes", "sure"],
    }
    assert data.synonyms == {"nyc": "new york", "tomorrow": "2026-11-26", "big apple": "new york"}
    assert data.regexes == {"zip": [r"\d{5}"]}
    assert data.lookups == {"city": ["paris", "berlin"]}
    booked = data.annotated[1]
    assert booked.line == 6 and booked.intent == "book_table"
    assert booked.entities == (
        EntityAnnotation("day", "2026-11-26", "tomorrow", 5, 13, role="when"),
        EntityAnnotation("hour", "7", "7", 17, 18),
    )


@pytest.mark.parametrize(
    ("text", "plain", "entities"),
    [
        ("no entities here", "no entities here", ()),
        ("[Paris](city)", "Paris", (EntityAnnotation("city", "Paris", "Paris", 0, 5),)),
        (
            "fly to [NYC](city:new york) now",
            "fly to NYC now",
            (EntityAnnotation("city", "new york", "NYC", 7, 10),),
        ),
        (
            'from [a]{"entity": "x", "group": "1"} to [b]{"entity": "x", "group": "2"}',
            "from a to b",
            (
                EntityAnnotation("x", "a", "a", 5, 6, group="1"),
                EntityAnnotation("x", "b", "b", 10, 11, group="2"),
            ),
        ),
        ("brackets [alone] stay", "brackets [alone] stay", ()),
    ],
)
def test_strip_entity_annotations(
    text: str, plain: str, entities: tuple[EntityAnnotation, ...]
) -> None:
    assert strip_entity_annotations(text) == (plain, entities)


def test_bundled_common_intents_load() -> None:
    path = Path(__file__).resolve().parent.parent / "dialogues" / "scripts" / "common_intents.yml"
    data = load_rasa_nlu(path)
    assert {"affirm", "deny", "do_not_call", "human_agent", FALLBACK_INTENT} <= set(data.examples)
    assert all(text == text.strip() and text for texts in data.examples.values() for text in texts)


def _problems(source: str) -> list[str]:
    with pytest.raises(ScriptError) as caught:
        parse_rasa_nlu(source, filename="nlu.yml")
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "nlu:\n- intent: a\n  examples: |\n    - hi\n  bad: x: y\n",
            "nlu.yml:5:9: YAML syntax error: mapping values are not allowed here",
        ),
        ("- just a list\n", "nlu.yml:1:1: expected a mapping with an 'nlu:' list"),
        ("version: 3.1\nnlu: []\n", 'nlu.yml:1:10: version must be a quoted string, like "3.1"'),
        ('version: "3.1"\nrules: []\n', "nlu.yml:1:1: no 'nlu:' section"),
        ("nlu: hello\n", "nlu.yml:1:6: 'nlu:' must be a list"),
        ("nlu:\n- hello\n", "nlu.yml:2:3: each 'nlu:' item must be a mapping"),
        ("nlu:\n- intent: a\n", "nlu.yml:2:3: intent 'a' has no 'examples:'"),
        ("nlu:\n- intent:\n  examples: |\n    - x\n", "nlu.yml:2:3: intent name must be"),
        (
            "nlu:\n- intent: a\n  examples: |\n    - fine\n    not a list line\n",
            "nlu.yml:5:5: intent 'a': example lines start with '- '",
        ),
        (
            'nlu:\n- intent: a\n  examples: |\n    - ok\n    - go [x]{"entity": 1}\n',
            "nlu.yml:5:13: intent 'a': entity annotation needs an \"entity\" name",
        ),
        (
            'nlu:\n- intent: a\n  examples: |\n    - go [x]{"entity": }\n',
            "nlu.yml:4:13: intent 'a': entity annotation is not JSON",
        ),
        (
            "nlu:\n- regex: zip\n  examples: |\n    - ok\\d\n    - (open\n",
            "nlu.yml:5:7: regex 'zip': invalid pattern: missing )",
        ),
        (
            "nlu:\n- intent: a\n  examples: |\n    - hello there\n"
            "- intent: b\n  examples: |\n    - Hello  there\n",
            "nlu.yml:7:7: example 'Hello  there' of intent 'b' is already an example of "
            "intent 'a' (line 4)",
        ),
        ("nlu:\n- intent: a\n  examples: |\n    - x\n  color: red\n", "nlu.yml:5:3: unknown key"),
        (
            "nlu:\n- intent: a\n  synonym: b\n  examples: |\n    - x\n",
            "nlu.yml:2:3: item needs exactly one of intent/synonym/regex/lookup",
        ),
        ("nlu:\n- intent: a\n  examples: 42\n", "nlu.yml:3:13: intent 'a': 'examples:' must be"),
    ],
)
def test_problems_name_file_line_and_column(source: str, expected: str) -> None:
    assert any(problem.startswith(expected) for problem in _problems(source)), _problems(source)


def test_all_problems_are_reported_at_once() -> None:
    source = (
        "nlu:\n"
        "- intent: a\n  examples: |\n    - good one\n    bad one\n"
        "- intent: b\n  examples: |\n    - [x]{oops}\n"
        "- regex: r\n  examples: |\n    - [\n"
    )
    assert [p.split(": ")[0] for p in _problems(source)] == [
        "nlu.yml:5:5",
        "nlu.yml:8:10",
        "nlu.yml:11:7",
    ]


def test_missing_file_is_a_script_error(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match=r"missing\.yml:1:1: cannot read NLU file"):
        load_rasa_nlu(tmp_path / "missing.yml")


def test_merge_keeps_both_sides() -> None:
    first = parse_rasa_nlu("nlu:\n- intent: a\n  examples: |\n    - one\n")
    second = parse_rasa_nlu(
        "nlu:\n- intent: a\n  examples: |\n    - two\n- intent: b\n  examples: |\n    - three\n"
    )
    merged = first.merge(second)
    assert merged.examples == {"a": ["one", "two"], "b": ["three"]}
    assert first.examples == {"a": ["one"]}  # inputs untouched
    assert isinstance(merged, RasaNluData)


# ---------------------------------------------------------------- Rasa server


class _RasaLikeHandler(BaseHTTPRequestHandler):
    """Answers like ``rasa run --enable-api``; the first path segment picks a behaviour."""

    requests: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        mode, _, endpoint = url.path.strip("/").partition("/")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append({"mode": mode, "endpoint": endpoint, "body": body, "query": url.query})
        if endpoint != "model/parse":
            return self._send(404, b'{"message": "not found"}')
        if mode == "slow":
            time.sleep(1.5)
        if mode == "error":
            return self._send(500, b'{"message": "model not loaded"}')
        if mode == "badjson":
            return self._send(200, b"<html>not json")
        if mode == "badshape":
            return self._send(200, json.dumps({"intent": "affirm"}).encode())
        text = body["text"]
        yes = text.startswith("yes")
        answer = {
            "text": text,
            "intent": {"name": "affirm" if yes else "deny", "confidence": 0.91 if yes else 0.3},
            "entities": [
                {
                    "entity": "number",
                    "start": text.index("5"),
                    "end": text.index("5") + 1,
                    "value": 5,
                    "extractor": "DucklingEntityExtractor",
                }
            ]
            if "5" in text
            else [],
            "intent_ranking": [
                {"name": "affirm", "confidence": 0.91 if yes else 0.3},
                {"name": "deny", "confidence": 0.09 if yes else 0.7},
            ],
        }
        self._send(200, json.dumps(answer).encode())

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _RasaLikeServer(ThreadingHTTPServer):
    #: Wait for every answer at close: the slow answer to a client that gave up must not
    #: write its broken-pipe report into whatever test runs next.
    daemon_threads = False

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that stopped waiting (the timeout tests) is expected here


@pytest.fixture(scope="module")
def rasa_server() -> Iterator[str]:
    server = _RasaLikeServer(("127.0.0.1", 0), _RasaLikeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_parse_through_a_rasa_server(rasa_server: str) -> None:
    with RasaHttpClassifier(f"{rasa_server}/ok/", token="s3cret") as classifier:
        assert isinstance(classifier, IntentClassifier)
        result = classifier.parse("yes at 5 please")
    assert result.intent == "affirm"
    assert result.confidence == pytest.approx(0.91)
    assert result.ranking == (("affirm", 0.91), ("deny", 0.09))
    assert result.entities == (Entity("number", 5, "5", 7, 8),)
    last = _RasaLikeHandler.requests[-1]
    assert last["body"] == {"text": "yes at 5 please"}
    assert parse_qs(last["query"]) == {"token": ["s3cret"]}


def test_threshold_turns_low_confidence_into_fallback(rasa_server: str) -> None:
    with RasaHttpClassifier(f"{rasa_server}/ok", threshold=0.45) as classifier:
        low = classifier.parse("no thanks")
        high = classifier.parse("yes")
    assert (low.intent, low.confidence) == (FALLBACK_INTENT, pytest.approx(0.3))
    assert high.intent == "affirm"


def test_settings_supply_timeout_and_token(rasa_server: str, isolated_settings: Settings) -> None:
    override_settings(
        Settings(
            data_dir=isolated_settings.data_dir,
            nlu=NluSettings(rasa_timeout_s=3.5, rasa_token="from-settings"),
        )
    )
    with RasaHttpClassifier(f"{rasa_server}/ok") as classifier:
        assert classifier.timeout_s == 3.5
        classifier.parse("yes")
    assert parse_qs(_RasaLikeHandler.requests[-1]["query"]) == {"token": ["from-settings"]}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_server_down_is_an_engine_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with (
        RasaHttpClassifier(url, timeout_s=2.0) as classifier,
        pytest.raises(EngineError, match="unreachable") as caught,
    ):
        classifier.parse("yes")
    assert url in str(caught.value)
    assert caught.value.__cause__ is not None


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("badjson", "invalid JSON"),
        ("error", "answered HTTP 500"),
        ("badshape", "without an 'intent' object"),
    ],
)
def test_bad_answers_are_engine_errors(rasa_server: str, mode: str, message: str) -> None:
    with (
        RasaHttpClassifier(f"{rasa_server}/{mode}") as classifier,
        pytest.raises(EngineError, match=message),
    ):
        classifier.parse("yes")


def test_slow_server_times_out(rasa_server: str) -> None:
    with (
        RasaHttpClassifier(f"{rasa_server}/slow", timeout_s=0.2) as classifier,
        pytest.raises(EngineError, match=r"did not answer in 0\.2 s"),
    ):
        classifier.parse("yes")
