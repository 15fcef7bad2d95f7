"""``play`` of a ``url``: fetch a WAV from a customer's server within caps, keep it a while.

:class:`UrlMedia` fetches with :func:`robot.http_limits.read_answer` (one total deadline,
``input_limits.media_fetch_timeout_s``, so a server trickling bytes is cut at it; a body past
``input_limits.media_max_bytes`` is refused as soon as it crosses the cap), after the private
address rule of webhooks and routing requests (:func:`robot.crm.urls.check_webhook_url`,
relaxed by ``webhooks_allow_private``). Redirects are not followed. The bytes are checked and
converted like an upload (:func:`robot.control.media_store.check_media_bytes` and
:func:`~robot.control.media_store.convert_media`: a complete WAV within the audio limits, then
8 kHz mono). Played files are kept in a small in-process cache by URL (the most recently used,
up to :data:`CACHE_MAX_BYTES` of audio), so a ``loop`` or a repeated play does not fetch again.

A fetch that fails or a bad file gives None (the ``play`` is skipped and the call goes on) and a
WARNING saying why; logs name the URL's host and path only, never its query (it may hold a
token).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from robot.audio import AudioChunk
from robot.control.media_store import check_media_bytes, convert_media
from robot.crm.urls import check_webhook_url
from robot.errors import CallrobotError, ValidationError
from robot.http_limits import AnswerTimeoutError, AnswerTooLargeError, read_answer
from robot.input_limits import InputLimits, setting_name

logger = logging.getLogger(__name__)

__all__ = ["CACHE_MAX_BYTES", "MediaFetchError", "UrlMedia", "safe_url", "shared_url_media"]

#: Bytes of converted audio kept by the cache of one process (about 30 minutes at 8 kHz).
CACHE_MAX_BYTES = 32_000_000
USER_AGENT = "callrobot-media/1"


def safe_url(url: str) -> str:
    """``url`` as logged: scheme, host, port and path; no query, fragment or credentials."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(malformed URL)"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


class MediaFetchError(CallrobotError):
    """The file of a ``play`` could not be fetched or is not playable; the message says why."""


class UrlMedia:
    """Fetches the files ``play`` names by URL; one instance may serve every call."""

    def __init__(
        self,
        *,
        allow_private: bool | None = None,
        limits: InputLimits | None = None,
        cache_max_bytes: int = CACHE_MAX_BYTES,
    ) -> None:
        """``allow_private`` and ``limits``: the process's settings (read at each fetch) when
        not given."""
        self.allow_private = allow_private
        self.limits = limits
        self.cache_max_bytes = cache_max_bytes
        self._cache: OrderedDict[str, AudioChunk] = OrderedDict()
        self._cached_bytes = 0

    async def load(
        self, url: str, call_id: str = "", on_skip: Callable[[str, str], None] | None = None
    ) -> AudioChunk | None:
        """The audio at ``url`` as calls play it; None (and a WARNING) when it cannot be had,
        after telling ``on_skip`` the URL as logged (:func:`safe_url`) and why."""
        if url in self._cache:
            self._cache.move_to_end(url)
            return self._cache[url]
        try:
            chunk = await self._fetch(url)
        except (CallrobotError, OSError) as e:
            shown = safe_url(url)
            reason = str(e).replace(url, shown).removeprefix(f"{shown}: ")
            logger.warning("call %s: play of %s skipped: %s", call_id, shown, reason)
            if on_skip is not None:
                on_skip(shown, reason)
            return None
        self._keep(url, chunk)
        return chunk

    def _settings(self) -> tuple[bool, InputLimits]:
        if self.allow_private is not None and self.limits is not None:
            return self.allow_private, self.limits
        from robot.config import get_settings

        settings = get_settings()
        allow = (
            settings.webhooks_allow_private if self.allow_private is None else self.allow_private
        )
        return allow, self.limits or settings.input_limits

    async def _fetch(self, url: str) -> AudioChunk:
        allow_private, limits = self._settings()
        total_s = limits.media_fetch_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + total_s
        try:  # resolved now, as for routing requests: the name may point elsewhere today
            async with asyncio.timeout(total_s):
                await asyncio.to_thread(check_webhook_url, url, allow_private=allow_private)
        except ValidationError as e:
            raise MediaFetchError(f"refused: {str(e).removeprefix('url: ')}") from e
        except TimeoutError as e:
            raise MediaFetchError(f"the host did not resolve within {total_s:g} s") from e
        cap = limits.media_max_bytes
        async with httpx.AsyncClient(follow_redirects=False) as client:
            try:
                answer = await read_answer(
                    client,
                    "GET",
                    url,
                    headers={"User-Agent": USER_AGENT},
                    limits=limits,
                    timeout_s=total_s,
                    deadline=deadline,
                    max_bytes=cap,
                )
            except AnswerTooLargeError as e:
                limit = setting_name("media_max_bytes")
                raise MediaFetchError(f"the file is larger than {cap} bytes (limit {limit})") from e
            except AnswerTimeoutError as e:
                limit = setting_name("media_fetch_timeout_s")
                raise MediaFetchError(
                    f"no complete file within {total_s:g} s (limit {limit})"
                ) from e
        if not 200 <= answer.status_code < 300:
            raise MediaFetchError(f"HTTP {answer.status_code}")
        return await asyncio.to_thread(_decode, answer.body, safe_url(url), limits)

    def _keep(self, url: str, chunk: AudioChunk) -> None:
        size = len(chunk.pcm)
        if size > self.cache_max_bytes:
            return
        old = self._cache.pop(url, None)  # two calls fetched it at once: keep one copy
        if old is not None:
            self._cached_bytes -= len(old.pcm)
        self._cache[url] = chunk
        self._cached_bytes += size
        while self._cached_bytes > self.cache_max_bytes:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= len(dropped.pcm)


def _decode(data: bytes, name: str, limits: InputLimits) -> AudioChunk:
    """The fetched bytes checked and converted like an upload (errors name ``name``)."""
    check_media_bytes(data, name, limits)
    with tempfile.TemporaryDirectory(prefix="callrobot-play-") as folder:
        path = Path(folder) / "fetched.wav"
        path.write_bytes(data)
        chunk, _, _ = convert_media(path, name, limits)
    return chunk


_SHARED: UrlMedia | None = None


def shared_url_media() -> UrlMedia:
    """The process's :class:`UrlMedia` (its cache serves every call)."""
    global _SHARED
    if _SHARED is None:
        _SHARED = UrlMedia()
    return _SHARED
