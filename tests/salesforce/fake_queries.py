"""Parse the SOSL and SOQL the connector sends, strictly enough to catch bad escaping.

A crude but honest subset of the SOQL and SOSL Reference:

- SOQL: ``SELECT fields FROM Object [WHERE cond] [ORDER BY field [ASC|DESC]] [LIMIT n]`` with
  ``= != < > <= >= IN LIKE``, ``AND``/``OR``/``NOT`` and parentheses; string literals with the
  escape sequences of "Quoted String Escape Sequences" (any other backslash is an error, as in
  Salesforce).
- SOSL: ``FIND {terms} IN (ALL|PHONE|NAME|EMAIL) FIELDS RETURNING Obj(fields [WHERE cond]
  [LIMIT n]), ...``. Terms are words or "phrases" joined by ``AND``/``OR``/``AND NOT``
  (adjacent terms mean AND); a reserved character ("FIND {SearchQuery}": ``? & | ! { } [ ] ( )
  ^ ~ * : \\ " ' + -``) must be escaped with a backslash unless it is a ``*`` or ``?`` wildcard
  or the quotes of a phrase. The FIND clause ends at the first unescaped ``}``, so an unescaped
  one in a caller ID breaks the query just as it would in Salesforce.

Malformed input raises :class:`Malformed` with the errorCode Salesforce uses
(``MALFORMED_QUERY`` / ``MALFORMED_SEARCH``), which the fake server answers with HTTP 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

RESERVED = set("?&|!{}[]()^~*:\\\"'+-")
# Unescaped wildcards are kept as these markers, so an escaped "*" stays a literal star.
WILDCARDS = {"*": "\x00", "?": "\x01"}
_SOQL_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'"}
_SOQL_ESCAPES["\\"] = "\\"
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<num>-?\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)|(?P<name>[A-Za-z_][A-Za-z0-9_.]*))",
    re.S,
)


class Malformed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------------------ conditions
@dataclass
class Cond:
    """A WHERE condition tree: ("and"|"or", [Cond...]), ("not", [Cond]) or a comparison."""

    kind: str
    children: list[Cond] = field(default_factory=list)
    field_name: str = ""
    op: str = ""
    value: Any = None


class _Tokens:
    def __init__(self, text: str, code: str) -> None:
        self.code = code
        self.items: list[tuple[str, str]] = []
        pos, text = 0, text.rstrip()
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise Malformed(code, f"unexpected text at {pos}: {text[pos : pos + 20]!r}")
            kind = match.lastgroup
            assert kind is not None
            self.items.append((kind, match.group(kind)))
            pos = match.end()
        self.pos = 0

    def peek(self, upper: bool = True) -> str | None:
        if self.pos >= len(self.items):
            return None
        kind, text = self.items[self.pos]
        return text.upper() if upper and kind == "name" else text

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.items):
            raise Malformed(self.code, "unexpected end of query")
        self.pos += 1
        return self.items[self.pos - 1]

    def expect(self, word: str) -> None:
        _kind, text = self.take()
        if text.upper() != word:
            raise Malformed(self.code, f"expected {word}, found {text!r}")


def soql_string(literal: str, code: str = "MALFORMED_QUERY") -> str:
    """Return the value of a quoted SOQL string, refusing unknown escapes."""
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            nxt = body[i + 1 : i + 2]
            if nxt.lower() not in _SOQL_ESCAPES and nxt not in _SOQL_ESCAPES:
                raise Malformed(code, f"invalid escape sequence \\{nxt}")
            out.append(_SOQL_ESCAPES.get(nxt.lower(), _SOQL_ESCAPES.get(nxt, nxt)))
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _value(tokens: _Tokens) -> Any:
    kind, text = tokens.take()
    if kind == "str":
        return soql_string(text, tokens.code)
    if kind == "num":
        return float(text) if "." in text else int(text)
    if kind == "name" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind == "name" and text.lower() == "null":
        return None
    raise Malformed(tokens.code, f"expected a value, found {text!r}")


def _condition(tokens: _Tokens) -> Cond:
    left = _conjunction(tokens)
    parts = [left]
    while tokens.peek() == "OR":
        tokens.take()
        parts.append(_conjunction(tokens))
    return parts[0] if len(parts) == 1 else Cond("or", parts)


def _conjunction(tokens: _Tokens) -> Cond:
    parts = [_factor(tokens)]
    while tokens.peek() == "AND":
        tokens.take()
        parts.append(_factor(tokens))
    return parts[0] if len(parts) == 1 else Cond("and", parts)


def _factor(tokens: _Tokens) -> Cond:
    if tokens.peek() == "(":
        tokens.take()
        inner = _condition(tokens)
        tokens.expect(")")
        return inner
    if tokens.peek() == "NOT":
        tokens.take()
        return Cond("not", [_factor(tokens)])
    kind, name = tokens.take()
    if kind != "name":
        raise Malformed(tokens.code, f"expected a field, found {name!r}")
    op = (tokens.peek() or "").upper()
    if op in ("IN", "LIKE") or op in ("=", "!=", "<>", "<", ">", "<=", ">="):
        tokens.take()
    else:
        raise Malformed(tokens.code, f"expected an operator after {name}")
    if op == "IN":
        tokens.expect("(")
        values = [_value(tokens)]
        while tokens.peek() == ",":
            tokens.take()
            values.append(_value(tokens))
        tokens.expect(")")
        return Cond("cmp", field_name=name, op="IN", value=values)
    return Cond("cmp", field_name=name, op=op, value=_value(tokens))


# ------------------------------------------------------------------------------ SOQL
@dataclass
class Select:
    object_name: str
    fields: list[str]
    where: Cond | None = None
    order_by: str | None = None
    descending: bool = False
    limit: int | None = None


def _fields(tokens: _Tokens) -> list[str]:
    names = [tokens.take()[1]]
    while tokens.peek() == ",":
        tokens.take()
        names.append(tokens.take()[1])
    return names


def _tail(tokens: _Tokens, query: Select, stop: str | None = None) -> None:
    if tokens.peek() == "WHERE":
        tokens.take()
        query.where = _condition(tokens)
    if tokens.peek() == "ORDER":
        tokens.take()
        tokens.expect("BY")
        query.order_by = tokens.take()[1]
        if tokens.peek() in ("ASC", "DESC"):
            query.descending = tokens.take()[1].upper() == "DESC"
    if tokens.peek() == "LIMIT":
        tokens.take()
        kind, text = tokens.take()
        if kind != "num":
            raise Malformed(tokens.code, "LIMIT takes a number")
        query.limit = int(text)
    if tokens.peek() != stop:
        raise Malformed(tokens.code, f"unexpected {tokens.peek()!r}")


def parse_soql(text: str) -> Select:
    tokens = _Tokens(text, "MALFORMED_QUERY")
    tokens.expect("SELECT")
    names = _fields(tokens)
    tokens.expect("FROM")
    query = Select(tokens.take()[1], names)
    _tail(tokens, query)
    return query


# ------------------------------------------------------------------------------ SOSL
@dataclass
class Term:
    text: str  # unescaped; unescaped "*" and "?" are the WILDCARDS markers
    wildcard: bool = False


@dataclass
class Search:
    expression: list[list[tuple[bool, Term]]]  # OR of ANDs of (negated, term)
    scope: str
    returning: list[Select]
    raw_terms: str = ""


def parse_sosl(text: str) -> Search:
    code = "MALFORMED_SEARCH"
    head = re.match(r"\s*FIND\s*\{", text, re.I)
    if head is None:
        raise Malformed(code, "a search starts with FIND {")
    terms, end = _find_clause(text, head.end())
    rest = re.match(r"\s*IN\s+(ALL|PHONE|NAME|EMAIL)\s+FIELDS\s+RETURNING\s+", text[end:], re.I)
    if rest is None:
        raise Malformed(code, "expected IN ... FIELDS RETURNING after the search terms")
    returning = _returning(text[end + rest.end() :])
    return Search(_expression(terms), rest.group(1).upper(), returning, terms)


def _find_clause(text: str, start: int) -> tuple[str, int]:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == "}":
            return text[start:i], i + 1
        i += 1
    raise Malformed("MALFORMED_SEARCH", "the FIND clause is not closed")


def _returning(text: str) -> list[Select]:
    found: list[Select] = []
    for match in re.finditer(r"\s*([A-Za-z_]\w*)\s*\(([^()]*)\)\s*(,|$)", text):
        tokens = _Tokens(match.group(2), "MALFORMED_SEARCH")
        query = Select(match.group(1), _fields(tokens))
        _tail(tokens, query)
        found.append(query)
    if not found:
        raise Malformed("MALFORMED_SEARCH", "RETURNING lists no object")
    return found


def _expression(terms: str) -> list[list[tuple[bool, Term]]]:
    groups: list[list[tuple[bool, Term]]] = [[]]
    negate = False
    for token in _sosl_tokens(terms):
        if isinstance(token, Term):
            groups[-1].append((negate, token))
            negate = False
        elif token == "OR":
            groups.append([])
        elif token == "NOT":
            negate = True
    if not all(groups):
        raise Malformed("MALFORMED_SEARCH", "an operator without a term")
    return groups


def _sosl_tokens(terms: str) -> list[Term | str]:
    tokens: list[Term | str] = []
    i = 0
    while i < len(terms):
        char = terms[i]
        if char.isspace():
            i += 1
        elif char == '"':
            text, i = _scan(terms, i + 1, stop='"')
            tokens.append(text)
        else:
            text, i = _scan(terms, i, stop=None)
            word = text.text.upper()
            tokens.append(word if word in ("AND", "OR", "NOT") and not text.wildcard else text)
    return tokens


def _scan(terms: str, i: int, stop: str | None) -> tuple[Term, int]:
    out: list[str] = []
    wildcard = False
    while i < len(terms):
        char = terms[i]
        if char == "\\":
            if i + 1 >= len(terms):
                raise Malformed("MALFORMED_SEARCH", "a trailing backslash")
            out.append(terms[i + 1])
            i += 2
            continue
        if stop is not None and char == stop:
            return Term("".join(out), wildcard), i + 1
        if stop is None and char.isspace():
            break
        if char in WILDCARDS:
            wildcard = True
            out.append(WILDCARDS[char])
        elif char in RESERVED:
            raise Malformed("MALFORMED_SEARCH", f"unescaped reserved character {char!r}")
        else:
            out.append(char)
        i += 1
    if stop is not None:
        raise Malformed("MALFORMED_SEARCH", "an unclosed phrase")
    return Term("".join(out), wildcard), i
