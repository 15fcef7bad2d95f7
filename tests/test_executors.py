"""The executor registry: named pools created on first use, one shutdown for all."""

from __future__ import annotations

import threading

import pytest

from robot.carriers.sim_audio import persona_executor
from robot.executors import ExecutorRegistry, PoolSpec, executors
from robot.speech.base import asr_executor, speech_executor


class Worker:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_pools_start_on_first_use_and_run_named_threads() -> None:
    registry = ExecutorRegistry({"work": PoolSpec(1), "other": PoolSpec(1)})
    assert registry.started() == []
    pool = registry.get("work")
    assert registry.get("work") is pool
    assert registry.started() == ["work"]
    assert pool.submit(lambda: threading.current_thread().name).result().startswith("work")
    registry.shutdown(wait=True)
    with pytest.raises(RuntimeError):
        pool.submit(print)


def test_shutdown_closes_adopted_workers_and_unknown_names_are_refused() -> None:
    registry = ExecutorRegistry({"work": PoolSpec(1)})
    worker = Worker()
    registry.adopt("grammar-en", worker)
    assert registry.started() == ["grammar-en"]
    registry.shutdown()
    assert worker.closed == 1 and registry.started() == []
    with pytest.raises(KeyError, match="work"):
        registry.get("nope")


def test_module_pools_come_from_the_process_registry() -> None:
    assert speech_executor() is executors().get("speech")
    assert asr_executor() is executors().get("asr")
    assert persona_executor() is executors().get("sim-persona")
    assert asr_executor() is not speech_executor()
