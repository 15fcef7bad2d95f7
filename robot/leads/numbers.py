"""Phone numbers to E.164 with their candidate zones; large files use every CPU core."""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future

from robot.leads.files import RawRow
from robot.windows import zones_for_parsed

logger = logging.getLogger(__name__)

#: A phone value as E.164 with the zones of its number, or ``(None, ())`` when invalid.
NormalisedNumber = tuple[str | None, tuple[str, ...]]
#: Above this many rows, numbers are normalised in worker processes (phonenumbers is slow).
PARALLEL_MIN_ROWS = 20_000


def normalise_numbers(values: list[str | None], region: str) -> list[NormalisedNumber]:
    """E.164 form and candidate zones of each phone value, read with ``region`` as default."""
    import phonenumbers

    unknown = phonenumbers.PhoneNumberType.UNKNOWN
    e164 = phonenumbers.PhoneNumberFormat.E164
    out: list[NormalisedNumber] = []
    for value in values:
        if not value or not value.strip():
            out.append((None, ()))
            continue
        try:
            parsed = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            out.append((None, ()))
            continue
        # number_type() is what is_valid_number() computes; keep it for the zone lookup.
        number_type = phonenumbers.number_type(parsed)
        if number_type == unknown:
            out.append((None, ()))
            continue
        zones = zones_for_parsed(parsed, number_type)
        out.append((phonenumbers.format_number(parsed, e164), zones))
    return out


def _normalise_job(job: tuple[list[str | None], str]) -> list[NormalisedNumber]:
    return normalise_numbers(*job)


def _chunks(rows: Iterable[RawRow], size: int) -> Iterator[list[RawRow]]:
    chunk: list[RawRow] = []
    for raw in rows:
        chunk.append(raw)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def normalised_chunks(
    rows: Iterable[RawRow],
    phone_value: Callable[[RawRow], str | None],
    region: str,
    size: int,
    parallel_after_rows: int = PARALLEL_MIN_ROWS,
) -> Iterator[tuple[list[RawRow], list[NormalisedNumber]]]:
    """Chunks of rows with their phone values normalised; large imports use all CPU cores.

    The first chunks are normalised here; once the file proves large, later chunks go to a
    process pool a few chunks ahead, so parsing overlaps with the database inserts.
    """
    chunks = _chunks(rows, size)
    seen_rows = 0
    for chunk in chunks:
        values = [phone_value(raw) for raw in chunk]
        yield chunk, normalise_numbers(values, region)
        seen_rows += len(chunk)
        if seen_rows >= parallel_after_rows and (os.cpu_count() or 1) > 1:
            break
    else:
        return
    yield from _normalised_in_pool(chunks, phone_value, region)


def _normalised_in_pool(
    chunks: Iterator[list[RawRow]], phone_value: Callable[[RawRow], str | None], region: str
) -> Iterator[tuple[list[RawRow], list[NormalisedNumber]]]:
    """Normalise in worker processes a few chunks ahead; in this process if the pool fails."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    workers = max(1, min(4, (os.cpu_count() or 1)))
    # forkserver: safe when the caller runs threads (an API server), unlike a bare fork.
    context = multiprocessing.get_context("forkserver")
    pool: ProcessPoolExecutor | None = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    pending: deque[tuple[list[RawRow], list[str | None], Future[list[NormalisedNumber]] | None]]
    pending = deque()

    def finish(
        chunk: list[RawRow], values: list[str | None], job: Future[list[NormalisedNumber]] | None
    ) -> tuple[list[RawRow], list[NormalisedNumber]]:
        nonlocal pool
        if job is not None:
            try:
                return chunk, job.result()
            except BrokenProcessPool:
                if pool is not None:
                    logger.warning("number workers failed; normalising in this process")
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = None
        return chunk, normalise_numbers(values, region)

    try:
        for chunk in chunks:
            values = [phone_value(raw) for raw in chunk]
            job = None
            if pool is not None:
                try:
                    job = pool.submit(_normalise_job, (values, region))
                except BrokenProcessPool:
                    job = None
            pending.append((chunk, values, job))
            if len(pending) > 2 * workers:
                yield finish(*pending.popleft())
        while pending:
            yield finish(*pending.popleft())
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
