"""What one pop template render may do, and what it has left: limits, budget, size checks.

A render runs inside :class:`budget_scope`; the sandbox (:mod:`cti.pop.sandbox`) takes a
:func:`step` for every loop iteration, call, lookup, operator, filter and output, and checks
sizes with :func:`measure` before it builds anything big. Outside a render (jinja folding
constants at compile time) only the static caps apply.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2.utils import Namespace

__all__ = [
    "Budget",
    "RenderLimitExceeded",
    "RenderLimits",
    "budget_scope",
    "check_binop",
    "check_container",
    "check_result",
    "check_value",
    "current_budget",
    "current_limits",
    "measure",
    "produce",
    "step",
    "too_big",
]


class RenderLimitExceeded(Exception):
    """A render used up one of its limits (time, steps, output, value size, nesting)."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """What one render may do. A pop card needs a tiny fraction of each."""

    # A pop's render on the event loop gets a slice of a few ms (:mod:`cti.pop.offload`); past
    # it, it runs again in a worker process, where ``time_ms`` bounds it (its own pop waits).
    time_ms: float = 100.0
    steps: int = 100_000  # loop iterations + calls + lookups + operators + filters + outputs
    output_chars: int = 256 * 1024  # the card
    produced_chars: int = 1024 * 1024  # everything written to any buffer, macros included
    value_chars: int = 256 * 1024  # one string (or printed value) an operator or filter makes
    container_chars: int = 1024 * 1024  # a list or dict made in the template, as printed
    list_items: int = 10_000
    range_items: int = 1_000
    int_bits: int = 4_096
    macro_depth: int = 40
    # ``time_ms`` counts this thread's CPU time, not wall time: for a slice on the event loop,
    # where the OS pausing the daemon (a loaded host) is no measure of the template.
    cpu_clock: bool = False


@dataclass(slots=True)
class Budget:
    """What is left of one render's limits; lives in a context variable during the render."""

    limits: RenderLimits
    deadline: float
    steps: int
    produced: int
    clock: Callable[[], float]
    depth: int = 0

    @classmethod
    def start(cls, limits: RenderLimits) -> Budget:
        clock = time.thread_time if limits.cpu_clock else time.perf_counter
        return cls(
            limits, clock() + limits.time_ms / 1000, limits.steps, limits.produced_chars, clock
        )


_BUDGET: ContextVar[Budget | None] = ContextVar("cti_pop_budget", default=None)


def current_budget() -> Budget | None:
    return _BUDGET.get()


_COMPILE_LIMITS = RenderLimits()  # static caps while jinja folds constants at compile time


class budget_scope:
    """Give the renders inside the ``with`` block a fresh budget (per thread and task)."""

    def __init__(self, limits: RenderLimits) -> None:
        self._budget = Budget.start(limits)
        self._token: Any = None

    def __enter__(self) -> Budget:
        self._token = _BUDGET.set(self._budget)
        return self._budget

    def __exit__(self, *exc: object) -> None:
        _BUDGET.reset(self._token)


def current_limits() -> RenderLimits:
    """The limits of the render under way (the static caps while compiling)."""
    budget = current_budget()
    return budget.limits if budget is not None else _COMPILE_LIMITS


def step(count: int = 1) -> None:
    """Take ``count`` steps from the current render's budget; raise when it is used up."""
    budget = current_budget()
    if budget is None:
        return  # compile-time constant folding: only the static caps apply
    budget.steps -= count
    if budget.steps < 0:
        raise RenderLimitExceeded(
            "steps", f"the template did more than {budget.limits.steps} steps (an endless loop?)"
        )
    # Every 8th step reads the clock (0.4-1 us): a step can cost ~100 us (a filter on a string
    # at the value cap), so the deadline is overshot by under a millisecond.
    if budget.steps % 8 == 0 and budget.clock() > budget.deadline:
        raise RenderLimitExceeded(
            "time", f"the template took longer than {budget.limits.time_ms:g} ms"
        )


def too_big(what: str, size: int, cap: int) -> RenderLimitExceeded:
    shown = f"more than {cap}" if size == cap + 1 else str(size)
    return RenderLimitExceeded("size", f"{what} would be {shown} long; the limit is {cap}")


_MAX_MEASURED_ITEMS = 20_000


def measure(value: object, limit: int) -> int:
    """Roughly how many characters ``value`` prints as; stops counting past ``limit``.

    Shared sub-values count every time they are reached, as printing repeats them, so a small
    structure that prints huge (``[a, a]`` nested 40 times) is caught without printing it.
    """
    total, stack, seen = 0, [value], 0
    while stack:
        item = stack.pop()
        seen += 1
        if seen % 1024 == 0:
            if seen > _MAX_MEASURED_ITEMS:
                return limit + 1
            step()  # a long walk still answers to the deadline
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None or isinstance(item, float):
            total += 8
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            stack.extend(item)
        elif isinstance(item, Namespace):
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        else:
            total += 64  # a range, loop, macro, cycler, undefined: a short repr
        if total > limit:
            return limit + 1
    return total


def check_value(what: str, value: object) -> None:
    cap = current_limits().value_chars
    size = measure(value, cap)
    if size > cap:
        raise too_big(what, size, cap)


def check_container(value: object) -> None:
    cap = current_limits().container_chars
    size = measure(value, cap)
    if size > cap:
        raise too_big("the list or dict (printed)", size, cap)


# ---------------------------------------------------------------------------- operators
def _sized(value: object) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


def check_binop(op: str, left: Any, right: Any) -> None:
    limits = current_limits()
    if op == "%" and isinstance(left, str):
        raise jinja2.exceptions.SecurityError("% formatting of strings is not allowed")
    if op == "+":
        a, b = _sized(left), _sized(right)
        if a is not None and b is not None:
            cap = limits.value_chars if isinstance(left, str) else limits.list_items
            if a + b > cap:
                raise too_big("the sum", a + b, cap)
    elif op == "*":
        seq, times = (left, right) if _sized(left) is not None else (right, left)
        size = _sized(seq)
        if size is not None and isinstance(times, int):
            cap = limits.value_chars if isinstance(seq, str) else limits.list_items
            if size * max(times, 0) > cap:
                raise too_big("the repetition", size * times, cap)
        elif isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() + right.bit_length()
            if bits > limits.int_bits:
                raise too_big("the product (bits)", bits, limits.int_bits)
    elif op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        bits = max(left.bit_length(), 1) * right
        if abs(left) > 1 and bits > limits.int_bits:
            raise too_big("the power (bits)", bits, limits.int_bits)


def check_result(result: object) -> object:
    cap = current_limits().int_bits
    if isinstance(result, int) and result.bit_length() > cap:
        raise too_big("the number (bits)", result.bit_length(), cap)
    if isinstance(result, list | tuple):
        check_container(result)
    return result


def produce(size: int) -> None:
    step()
    budget = current_budget()
    if budget is not None:
        budget.produced -= size
        if budget.produced < 0:
            raise RenderLimitExceeded(
                "output",
                f"the template wrote more than {budget.limits.produced_chars} characters",
            )
