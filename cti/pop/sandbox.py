"""The jinja2 sandbox pop templates run in: what a template may reach, and how much it may do.

Supervisors write the templates and callers and the CRM supply the data, and a render runs on
the daemon's event loop, so the sandbox bounds both reach and work.

Reach: ``ImmutableSandboxedEnvironment``, autoescape that a template cannot switch off, and

* no ``str.format`` / ``format_map`` at all, neither as a method nor through a stored reference
  (CVE-2019-10906 and CVE-2024-56326 escaped through them) nor through ``|attr`` (CVE-2025-27516);
  the ``attr``, ``safe``, ``xmlattr``, ``format`` (and other unbounded) filters do not exist;
* methods of strings, dicts and lists only from an allow-list (``'x'.center(10**9)``,
  ``'\\t'.expandtabs(10**9)`` do not exist), no attribute of a class, nothing starting with ``_``;
* ``{% autoescape %}``, ``include``, ``import`` and ``extends`` are refused at compile time.

Work: every loop iteration, call, attribute lookup, operator, filter and output chunk takes a
step from the render's :class:`Budget`, which also carries a wall-clock deadline, so an endless
loop stops within the time limit. Operators and filters refuse a result above the size caps
*before* computing it, output is counted in every buffer (macros, ``set`` blocks), ``range``
is capped, and macros may nest only so deep. The template's syntax tree is rewritten at
compile time so that loops, ``~`` and output go through these guards.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.filters import FILTERS as DEFAULT_FILTERS
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Macro, markup_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.tests import TESTS as DEFAULT_TESTS
from jinja2.utils import Cycler, Joiner, Namespace, pass_context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape

__all__ = [
    "Budget",
    "RenderLimitExceeded",
    "RenderLimits",
    "TemplateRefused",
    "budget_scope",
    "make_environment",
    "prepare",
]


class RenderLimitExceeded(Exception):
    """A render used up one of its limits (time, steps, output, value size, nesting)."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.message = message


class TemplateRefused(Exception):
    """The template uses a construct pop templates may not use; ``lineno`` says where."""

    def __init__(self, message: str, lineno: int) -> None:
        super().__init__(message)
        self.message = message
        self.lineno = lineno


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """What one render may do. A pop card needs a tiny fraction of each."""

    time_ms: float = 200.0
    steps: int = 100_000  # loop iterations + calls + lookups + operators + filters + outputs
    output_chars: int = 256 * 1024  # the card
    produced_chars: int = 1024 * 1024  # everything written to any buffer, macros included
    value_chars: int = 256 * 1024  # one string (or printed value) an operator or filter makes
    container_chars: int = 1024 * 1024  # a list or dict made in the template, as printed
    list_items: int = 10_000
    range_items: int = 1_000
    int_bits: int = 4_096
    macro_depth: int = 40


@dataclass(slots=True)
class Budget:
    """What is left of one render's limits; lives in a context variable during the render."""

    limits: RenderLimits
    deadline: float
    steps: int
    produced: int
    depth: int = 0

    @classmethod
    def start(cls, limits: RenderLimits) -> Budget:
        return cls(
            limits,
            time.perf_counter() + limits.time_ms / 1000,
            limits.steps,
            limits.produced_chars,
        )


_BUDGET: ContextVar[Budget | None] = ContextVar("cti_pop_budget", default=None)
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


def _limits() -> RenderLimits:
    budget = _BUDGET.get()
    return budget.limits if budget is not None else _COMPILE_LIMITS


def step(count: int = 1) -> None:
    """Take ``count`` steps from the current render's budget; raise when it is used up."""
    budget = _BUDGET.get()
    if budget is None:
        return  # compile-time constant folding: only the static caps apply
    budget.steps -= count
    if budget.steps < 0:
        raise RenderLimitExceeded(
            "steps", f"the template did more than {budget.limits.steps} steps (an endless loop?)"
        )
    if budget.steps % 16 == 0 and time.perf_counter() > budget.deadline:
        raise RenderLimitExceeded(
            "time", f"the template took longer than {budget.limits.time_ms:g} ms"
        )


def _too_big(what: str, size: int, cap: int) -> RenderLimitExceeded:
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


def _check_value(what: str, value: object) -> None:
    cap = _limits().value_chars
    size = measure(value, cap)
    if size > cap:
        raise _too_big(what, size, cap)


def _check_container(value: object) -> None:
    cap = _limits().container_chars
    size = measure(value, cap)
    if size > cap:
        raise _too_big("the list or dict (printed)", size, cap)


# ---------------------------------------------------------------------------- operators
def _sized(value: object) -> int | None:
    return len(value) if isinstance(value, str | list | tuple) else None


def _check_binop(op: str, left: Any, right: Any) -> None:
    limits = _limits()
    if op == "%" and isinstance(left, str):
        raise jinja2.exceptions.SecurityError("% formatting of strings is not allowed")
    if op == "+":
        a, b = _sized(left), _sized(right)
        if a is not None and b is not None:
            cap = limits.value_chars if isinstance(left, str) else limits.list_items
            if a + b > cap:
                raise _too_big("the sum", a + b, cap)
    elif op == "*":
        seq, times = (left, right) if _sized(left) is not None else (right, left)
        size = _sized(seq)
        if size is not None and isinstance(times, int):
            cap = limits.value_chars if isinstance(seq, str) else limits.list_items
            if size * max(times, 0) > cap:
                raise _too_big("the repetition", size * times, cap)
        elif isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() + right.bit_length()
            if bits > limits.int_bits:
                raise _too_big("the product (bits)", bits, limits.int_bits)
    elif op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        bits = max(left.bit_length(), 1) * right
        if abs(left) > 1 and bits > limits.int_bits:
            raise _too_big("the power (bits)", bits, limits.int_bits)


def _check_result(result: object) -> object:
    cap = _limits().int_bits
    if isinstance(result, int) and result.bit_length() > cap:
        raise _too_big("the number (bits)", result.bit_length(), cap)
    if isinstance(result, list | tuple):
        _check_container(result)
    return result


# ---------------------------------------------------------------------------- loops, output
def _guarded(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        step()
        yield item


@pass_context
def loop_guard(context: Context, iterable: Any) -> Any:
    """Every ``for`` loop iterates through this: one step per item."""
    del context
    step()
    if isinstance(iterable, jinja2.Undefined):
        return iterable  # iterating it raises the usual undefined error
    return _guarded(iterable)


@pass_context
def output_guard(context: Context, value: Any) -> Markup:
    """Every chunk of output, in any buffer, is escaped and counted here."""
    del context
    if isinstance(value, Markup):
        text = value
    else:
        if not isinstance(value, str):
            _check_value("a printed value", value)
        text = escape(value)
    _produce(len(text))
    return text


@pass_context
def literal_guard(context: Context, size: int) -> Markup:
    """Count ``size`` characters of the template's own text about to be written."""
    del context
    _produce(size)
    return Markup("")


def _produce(size: int) -> None:
    step()
    budget = _BUDGET.get()
    if budget is not None:
        budget.produced -= size
        if budget.produced < 0:
            raise RenderLimitExceeded(
                "output",
                f"the template wrote more than {budget.limits.produced_chars} characters",
            )


@pass_context
def value_guard(context: Context, value: Any) -> Any:
    """A list, tuple or dict made from variables must fit the container cap."""
    del context
    step()
    _check_container(value)
    return value


@pass_context
def concat_guard(context: Context, parts: list[Any]) -> Any:
    """``a ~ b``: the parts must fit the value cap before they are joined."""
    del context
    step()
    _check_value("the joined text", parts)
    return markup_join(parts)


class _Rewriter(NodeTransformer):
    """Route loops, ``~`` and output through the guards; refuse what pop templates may not use."""

    def __init__(self, environment: jinja2.Environment) -> None:
        self._environment = environment

    _REFUSED: tuple[tuple[type[nodes.Node], str], ...] = (
        (nodes.EvalContextModifier, "{% autoescape %} (escaping cannot be switched off)"),
        (nodes.Extends, "{% extends %}"),
        (nodes.Include, "{% include %}"),
        (nodes.Import, "{% import %}"),
        (nodes.FromImport, "{% from ... import %}"),
    )

    def generic_visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        for kind, what in self._REFUSED:
            if isinstance(node, kind):
                raise TemplateRefused(f"{what} is not allowed in a pop template", node.lineno)
        return super().generic_visit(node, *args, **kwargs)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        node = self.generic_visit(node)
        node.iter = _filter(node.iter, "cti_loop")
        return node

    def visit_List(self, node: nodes.List) -> nodes.Node:
        return self._container(node)

    def visit_Tuple(self, node: nodes.Tuple) -> nodes.Node:
        return node if node.ctx == "store" else self._container(node)

    def visit_Dict(self, node: nodes.Dict) -> nodes.Node:
        return self._container(node)

    def _container(self, node: nodes.Expr) -> nodes.Node:
        """A literal holding variables is measured as it is made: ``[a, a]`` doubles ``a``."""
        node = self.generic_visit(node)
        try:
            node.as_const(EvalContext(self._environment))
        except Exception:  # not a constant (Impossible, or anything jinja raises trying)
            return _filter(node, "cti_value")
        return node  # only constants: bounded by the source size

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        parts = nodes.List(node.nodes, lineno=node.lineno)
        parts.set_environment(self._environment)
        return _filter(parts, "cti_concat")

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        node = self.generic_visit(node)
        literal = sum(len(c.data) for c in node.nodes if isinstance(c, nodes.TemplateData))
        counted: list[nodes.Expr] = [
            child if isinstance(child, nodes.TemplateData) else _filter(child, "cti_out")
            for child in node.nodes
        ]
        if literal:  # the template's own text, counted once per output statement
            counted.insert(0, _filter(nodes.Const(literal, lineno=node.lineno), "cti_literal"))
        node.nodes = counted
        return node


def _filter(node: nodes.Node, name: str) -> nodes.Filter:
    wrapped = nodes.Filter(node, name, [], [], None, None, lineno=node.lineno)
    wrapped.environment = node.environment
    return wrapped


def prepare(environment: jinja2.Environment, source: str) -> nodes.Template:
    """Parse ``source`` and rewrite it for the guards; raise TemplateRefused or a syntax error."""
    tree = environment.parse(source)
    tree.set_environment(environment)
    rewritten = _Rewriter(environment).visit(tree)
    assert isinstance(rewritten, nodes.Template)
    rewritten.set_environment(environment)
    return rewritten


# ---------------------------------------------------------------------------- filters
_DROPPED_FILTERS = frozenset(
    {
        "attr",  # getattr by name: the CVE-2025-27516 route to str.format
        "safe",  # would let CRM data or caller ids through unescaped
        "xmlattr",
        "format",  # printf formatting: '%999999999d'
        "center",  # center(10**9)
        "indent",  # indent(width=10**9)
        "wordwrap",
        "slice",  # slice(10**9) loops that often
        "pprint",
        "random",  # a pop must render the same way twice (roll back restores output exactly)
        "tojson",
        "urlize",
        "sum",  # sum(start=[]) of shared lists: replaced by a numbers-only sum
    }
)
_STRINGIFYING = frozenset(
    {
        "capitalize",
        "e",
        "escape",
        "forceescape",
        "lower",
        "upper",
        "title",
        "trim",
        "striptags",
        "truncate",
        "replace",
        "string",
        "urlencode",
        "wordcount",
        "join",
        "int",
        "float",
        "list",
        "reverse",
    }
)


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    measured = name in _STRINGIFYING
    precheck = _PRECHECKS.get(name)
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # context/env first

    @functools.wraps(func)  # keeps jinja_pass_arg: jinja passes the same leading argument
    def guarded(*args: Any, **kwargs: Any) -> Any:
        step()
        if measured and len(args) > skip:
            _check_value(f"the input of |{name}", args[skip])
        if precheck is not None:
            precheck(*args[skip:], **kwargs)
        return func(*args, **kwargs)

    return guarded


def _check_replace(value: Any, old: Any, new: Any, count: int | None = None) -> None:
    text, old_s, new_s = str(value), str(old), str(new)
    hits = text.count(old_s) if old_s else len(text) + 1
    if count is not None and count >= 0:
        hits = min(hits, count)
    size = len(text) + hits * max(len(new_s) - len(old_s), 0)
    cap = _limits().value_chars
    if size > cap:
        raise _too_big("the replaced text", size, cap)


def _check_batch(value: Any, linecount: int, fill_with: Any = None) -> None:
    cap = _limits().list_items
    if not 0 < linecount <= cap:
        raise _too_big("a batch", linecount, cap)


def _check_round(value: Any, precision: int = 0, method: str = "common") -> None:
    if not isinstance(precision, int) or not -20 <= precision <= 20:
        raise jinja2.exceptions.FilterArgumentError("round precision is -20 to 20")


_PRECHECKS: dict[str, Callable[..., None]] = {
    "replace": _check_replace,
    "batch": _check_batch,
    "round": _check_round,
}


def _sum(iterable: Iterable[Any], start: int | float = 0) -> int | float:
    """Sum numbers (only numbers: a sum of lists could grow quadratically)."""
    total: int | float = start
    for item in iterable:
        step()
        if not isinstance(item, int | float) or isinstance(item, bool):
            raise jinja2.exceptions.FilterArgumentError("|sum adds numbers only")
        total = total + item
        _check_result(total)
    return total


# ---------------------------------------------------------------------------- globals
def _range(*args: int) -> range:
    numbers = range(*args)
    cap = _limits().range_items
    if len(numbers) > cap:
        raise _too_big("range()", len(numbers), cap)
    return numbers


def _dict(**items: Any) -> dict[str, Any]:
    _check_container(items)
    return items


def _cycler(*items: Any) -> Cycler:
    return Cycler(*items)


def _joiner(sep: str = ", ") -> Joiner:
    return Joiner(sep)


def _namespace(**attrs: Any) -> Namespace:
    _check_container(attrs)
    return Namespace(**attrs)


# ---------------------------------------------------------------------------- environment
_SAFE_METHODS: tuple[tuple[type[Any] | tuple[type[Any], ...], frozenset[str]], ...] = (
    (
        str,
        frozenset(
            {
                "capitalize",
                "casefold",
                "count",
                "endswith",
                "find",
                "isalnum",
                "isalpha",
                "isdigit",
                "islower",
                "isspace",
                "isupper",
                "lower",
                "lstrip",
                "partition",
                "removeprefix",
                "removesuffix",
                "rfind",
                "rpartition",
                "rsplit",
                "rstrip",
                "split",
                "splitlines",
                "startswith",
                "strip",
                "title",
                "upper",
            }
        ),
    ),
    (Mapping, frozenset({"get", "items", "keys", "values"})),
    ((list, tuple, range), frozenset({"count", "index"})),
    ((int, float), frozenset()),
)


class PopEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox with pop templates' allow-lists, operator caps and step counting."""

    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, type) or not super().is_safe_attribute(obj, attr, value):
            return False
        if not callable(value):
            return True
        return next((attr in names for kind, names in _SAFE_METHODS if isinstance(obj, kind)), True)

    def wrap_str_format(self, value: Any) -> None:
        """Never hand out a (sandboxed) ``str.format``: is_safe_attribute refuses it instead."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        """Fail at once, not later when the value is used: nothing unsafe travels anywhere."""
        raise jinja2.exceptions.SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__!r} is not allowed"
        )

    def format_string(self, *args: Any, **kwargs: Any) -> str:
        raise jinja2.exceptions.SecurityError("str.format is not allowed in pop templates")

    def getattr(self, obj: Any, attribute: str) -> Any:
        step()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        step()
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        step()
        _check_binop(operator, left, right)
        return _check_result(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        step()
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's loop(children)
            args = (_guarded(args[0]), *args[1:])
        if not isinstance(__obj, Macro):
            return super().call(__context, __obj, *args, **kwargs)
        budget = _BUDGET.get()
        if budget is None:
            return super().call(__context, __obj, *args, **kwargs)
        if budget.depth >= budget.limits.macro_depth:
            raise RenderLimitExceeded(
                "depth", f"macros nest deeper than {budget.limits.macro_depth} calls"
            )
        budget.depth += 1
        try:
            return super().call(__context, __obj, *args, **kwargs)
        finally:
            budget.depth -= 1


def make_environment(extra_filters: Mapping[str, Callable[..., Any]]) -> PopEnvironment:
    """The environment every pop template (production, preview, publish check) compiles in."""
    env = PopEnvironment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters = {
        name: _guard_filter(name, func)
        for name, func in DEFAULT_FILTERS.items()
        if name not in _DROPPED_FILTERS
    }
    env.filters.update(
        {
            "sum": _guard_filter("sum", _sum),
            **{name: _guard_filter(name, func) for name, func in extra_filters.items()},
            "cti_loop": loop_guard,
            "cti_out": output_guard,
            "cti_literal": literal_guard,
            "cti_value": value_guard,
            "cti_concat": concat_guard,
        }
    )
    env.tests = dict(DEFAULT_TESTS)
    env.globals = {
        "range": _range,
        "dict": _dict,
        "cycler": _cycler,
        "joiner": _joiner,
        "namespace": _namespace,
    }
    return env
