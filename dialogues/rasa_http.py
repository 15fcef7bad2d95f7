"""A Rasa server as intent classifier: ``POST {url}/model/parse`` with ``{"text": ...}``.

Rasa answers ``{"text", "intent": {"name", "confidence"}, "entities": [...],
"intent_ranking": [...]}``; :class:`RasaHttpClassifier` turns that into an
:class:`~dialogues.nlu.NluResult`, and any failure (server down, timeout, HTTP error, a body
that is not Rasa's) into an :class:`~robot.errors.EngineError` that says which.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from dialogues.nlu import FALLBACK_INTENT, Entity, NluResult
from robot.errors import EngineError

if TYPE_CHECKING:
    from robot.http_limits import BlockingAnswerReader

log = logging.getLogger(__name__)


class RasaHttpClassifier:
    """Synchronous client of one Rasa server; close it (or use ``with``) when done."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float | None = None,
        token: str | None = None,
        threshold: float | None = None,
    ) -> None:
        from robot.config import get_settings

        settings = get_settings().nlu
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s if timeout_s is not None else settings.rasa_timeout_s
        if token is None and settings.rasa_token is not None:
            token = settings.rasa_token.get_secret_value()
        self._token = token
        self.threshold = threshold
        self._reader: BlockingAnswerReader | None = None

    def __enter__(self) -> RasaHttpClassifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def parse(self, text: str) -> NluResult:
        """Ask the server; raises EngineError when it is unreachable or answers badly.

        The answer is read within ``timeout_s`` in total and the input limits on answers
        (size, JSON depth): a server that trickles or floods is cut off, not waited for.
        """
        from robot.http_limits import (
            AnswerJsonError,
            AnswerTimeoutError,
            AnswerTooLargeError,
            AnswerUnreachableError,
            BlockingAnswerReader,
        )

        if self._reader is None:
            self._reader = BlockingAnswerReader()
        endpoint = f"{self.url}/model/parse"
        params = {"token": self._token} if self._token else None
        try:
            answer = self._reader.read(
                "POST", endpoint, json={"text": text}, params=params, timeout_s=self.timeout_s
            )
        except AnswerTimeoutError as e:
            raise EngineError(f"Rasa server {self.url} did not answer in {self.timeout_s} s") from e
        except AnswerTooLargeError as e:
            raise EngineError(f"Rasa server {self.url} answered too much: {e}") from e
        except AnswerUnreachableError as e:
            raise EngineError(f"Rasa server {self.url} is unreachable: {e}") from e
        if answer.status_code != 200:
            raise EngineError(
                f"Rasa server {self.url} answered HTTP {answer.status_code} to /model/parse"
            )
        try:
            body = answer.json()
        except AnswerJsonError as e:
            raise EngineError(f"Rasa server {self.url} answered with invalid JSON: {e}") from e
        result = self._result(text, body)
        log.debug("rasa %r -> %s (%.2f)", text, result.intent, result.confidence)
        return result

    def _result(self, text: str, body: Any) -> NluResult:
        if not isinstance(body, dict) or not isinstance(body.get("intent"), dict | None):
            raise EngineError(f"Rasa server {self.url} answered without an 'intent' object")
        intent = body.get("intent") or {}
        name = intent.get("name")
        confidence = _number(intent.get("confidence", 0.0), self.url, "intent.confidence")
        if name is not None and not isinstance(name, str):
            raise EngineError(f"Rasa server {self.url} answered a non-text intent name")
        if not name or (self.threshold is not None and confidence < self.threshold):
            name = FALLBACK_INTENT
        ranking = tuple(
            (str(item.get("name")), _number(item.get("confidence"), self.url, "intent_ranking"))
            for item in _list(body, "intent_ranking", self.url)
        )
        entities = tuple(self._entity(text, item) for item in _list(body, "entities", self.url))
        return NluResult(text, name, confidence, entities, ranking)

    def _entity(self, text: str, item: dict[str, Any]) -> Entity:
        entity = item.get("entity")
        if not isinstance(entity, str):
            raise EngineError(f"Rasa server {self.url} answered an entity without a name")
        start, end = item.get("start"), item.get("end")
        if isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= len(text):
            shown = text[start:end]
        else:
            start, end, shown = -1, -1, str(item.get("value", ""))
        return Entity(entity, item.get("value"), shown, start, end)


def _list(body: dict[str, Any], key: str, url: str) -> list[dict[str, Any]]:
    value = body.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise EngineError(f"Rasa server {url} answered a malformed '{key}' list")
    return value


def _number(value: Any, url: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EngineError(f"Rasa server {url} answered a non-numeric {what}")
    return float(value)
