"""Hostile inputs for the attack tests, and a way to run a step in a child that can be killed.

Every attack test runs the code under attack where a hang or a runaway allocation cannot take
the test run down with it: in a forked child (:func:`in_child`) or a subprocess, stopped after
a generous bound. The bound only catches hangs; no test asserts how fast a refusal is.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from typing import Any

#: Long enough for a loaded 2-core machine; a hang is what it catches, not slowness.
HANG_BOUND_S = 60.0


def alias_bomb(levels: int = 8, fan_out: int = 9) -> str:
    """A script whose aliases expand ``fan_out ** levels`` fold ("billion laughs")."""
    lines = ["script: bomb", "start: a", "l0: &l0 [" + ",".join(['"lol"'] * fan_out) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * fan_out) + "]")
    lines.append(f"states: {{a: {{say: [*l{levels}], end: true, disposition: incomplete}}}}")
    return "\n".join(lines) + "\n"


def deeply_nested(depth: int = 5000) -> str:
    return "script: deep\nstart: a\nx: " + "[" * depth + "]" * depth + "\n"


def single_line(size: int = 10_000_000) -> str:
    return "script: big\nstart: a\nx: " + "a" * size + "\n"


def in_child(fn: Callable[..., Any], *args: Any, bound_s: float = HANG_BOUND_S) -> Any:
    """``fn(*args)`` in a forked child: its return value, or ('raised', type, message).

    A child still running after ``bound_s`` is killed and ('hung', ...) is returned, so an
    attack that makes the code under test spin never stalls the test run.
    """
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)

    def run() -> None:
        try:
            child.send(("returned", fn(*args)))
        except BaseException as e:
            child.send(("raised", type(e).__name__, str(e), traceback.format_exc(limit=3)))

    process = ctx.Process(target=run, daemon=True)
    process.start()
    try:
        if not parent.poll(bound_s):
            return ("hung", f"still running after {bound_s:g} s")
        return parent.recv()
    finally:
        if process.is_alive():
            process.kill()
        process.join()
