"""Named executors: the worker pools blocking work runs in, created on first use, shut down
once at exit.

Each pool has a name and a job; a call session gets the registry in its
:class:`~robot.session.SessionEngines` and asks it for the pool it needs:

``speech``
    speech synthesis and engine loading (``ENGINE_THREADS`` threads);
``asr``
    utterances decoded during calls, apart from synthesis so prompts never queue behind
    decodes (``ASR_THREADS``);
``detector``
    answering-machine detectors (each call feeds its own, in order);
``sim-persona``
    the simulated network's callee voices and ears (they cost a real robot nothing, so the
    simulation must not queue the robot's work behind them).

Other closable workers (the grammar recognizer's worker processes) are *adopted* so that the
same shutdown closes them. This module is a leaf: it imports nothing from the project.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

#: Engines release the GIL while they compute; a few threads keep many calls moving on 2 cores.
ENGINE_THREADS = 4
#: Utterances decoded at once. Whisper runs one decode at a time per model (its CTranslate2
#: worker) on ``cpu_threads`` cores, so more threads would only wait there.
ASR_THREADS = 2
#: Scheduling niceness of worker threads (Linux, per thread; inherited by the threads the
#: engines start). The event loop moves every call's 20 ms frames and must get a core the
#: moment it wakes; inference can wait a few milliseconds.
ENGINE_NICE = 10


def lower_thread_priority(nice: int = ENGINE_NICE) -> None:
    """Make the calling thread (and the threads it starts later) yield to the event loop."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)


@dataclass(frozen=True, slots=True)
class PoolSpec:
    threads: int
    #: Lower the threads' priority below the event loop's.
    low_priority: bool = True


#: The pools of this process, by name.
POOLS: dict[str, PoolSpec] = {
    "speech": PoolSpec(ENGINE_THREADS),
    "asr": PoolSpec(ASR_THREADS),
    "detector": PoolSpec(2),
    "sim-persona": PoolSpec(2),
}


class Closable(Protocol):
    def close(self) -> None: ...


class ExecutorRegistry:
    """Thread pools by name (created lazily) plus adopted workers; one :meth:`shutdown`."""

    def __init__(self, specs: dict[str, PoolSpec] | None = None) -> None:
        self.specs = dict(POOLS if specs is None else specs)
        self._lock = threading.Lock()
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._adopted: dict[str, Closable] = {}

    def get(self, name: str) -> ThreadPoolExecutor:
        """The pool called ``name``, started on first use."""
        with self._lock:
            pool = self._pools.get(name)
            if pool is None:
                spec = self.specs.get(name)
                if spec is None:
                    known = ", ".join(sorted(self.specs))
                    raise KeyError(f"no executor named {name!r} (known: {known})")
                initializer: Callable[[], None] | None = (
                    lower_thread_priority if spec.low_priority else None
                )
                pool = ThreadPoolExecutor(
                    spec.threads, thread_name_prefix=name, initializer=initializer
                )
                self._pools[name] = pool
            return pool

    def started(self) -> list[str]:
        """Names of the pools running now and of the adopted workers."""
        with self._lock:
            return sorted(self._pools) + sorted(self._adopted)

    def adopt(self, name: str, worker: Closable) -> None:
        """Close ``worker`` (e.g. a worker process) when the registry shuts down."""
        with self._lock:
            self._adopted[name] = worker

    def shutdown(self, *, wait: bool = False) -> None:
        """Stop every pool (queued work is cancelled) and close every adopted worker."""
        with self._lock:
            pools, self._pools = self._pools, {}
            adopted, self._adopted = self._adopted, {}
        for name, worker in adopted.items():
            try:
                worker.close()
            except Exception as e:  # shutting down: report and go on with the rest
                log.warning("cannot close worker %s: %s", name, e)
        for pool in pools.values():
            pool.shutdown(wait=wait, cancel_futures=True)


_registry: ExecutorRegistry | None = None
_registry_lock = threading.Lock()


def executors() -> ExecutorRegistry:
    """The process's executor registry (created on first use, shut down at exit)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = ExecutorRegistry()
            atexit.register(_registry.shutdown)
        return _registry
