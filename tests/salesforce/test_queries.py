"""Pure pieces: escaping (any text reads back as itself, one term), mapping, backoff, the cache."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_connectors.salesforce import Backoff
from crm_connectors.salesforce.cache import TtlCache
from crm_connectors.salesforce.mapping import (
    Refs,
    history_entry,
    parse_datetime,
    readable,
    search_hits,
)
from crm_connectors.salesforce.queries import (
    SOSL_RESERVED,
    checked_id,
    escape_sosl,
    soql_literal,
    task_by_call_object_query,
    text_search,
)
from cti.core.records import Direction, Outcome
from cti.errors import CrmError, NotFound
from tests.salesforce.fake_queries import Malformed, Term, parse_soql, parse_sosl

_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


@given(st.text(max_size=60))
def test_any_escaped_phrase_reads_back_as_one_literal_term(text: str) -> None:
    sosl = f'FIND {{"{escape_sosl(text)}"}} IN ALL FIELDS RETURNING Contact(Id)'

    search = parse_sosl(sosl)

    expected = "".join(" " if char in _CONTROL else char for char in text)
    assert search.expression == [[(False, Term(expected, wildcard=False))]]
    assert [q.object_name for q in search.returning] == ["Contact"]


@given(st.text(max_size=60))
def test_any_text_is_one_soql_string(text: str) -> None:
    query = parse_soql(task_by_call_object_query(text))

    assert query.where is not None
    assert (query.where.field_name, query.where.op, query.where.value) == ("CallObject", "=", text)
    assert query.limit == 1


@given(st.text(min_size=1, max_size=80))
def test_agent_search_text_never_adds_an_operator_or_an_object(text: str) -> None:
    sosl = text_search(text, 5, None)
    if sosl is None:
        assert all(len(word) < 2 for word in text.split())
        return

    search = parse_sosl(sosl)

    assert len(search.expression) == 1  # no OR: one group of AND-ed literal terms
    assert all(not negated and not term.wildcard for negated, term in search.expression[0])
    assert [q.object_name for q in search.returning] == ["Contact", "Account", "Case"]


def test_unescaped_reserved_characters_are_refused_by_the_fake() -> None:
    # The fake is strict on purpose: these are what escaping protects against.
    for bad in (
        "FIND {x} OR {y} IN ALL FIELDS RETURNING Contact(Id)",
        'FIND {"a"b"} IN ALL FIELDS RETURNING Contact(Id)',
        "FIND {a+b} IN ALL FIELDS RETURNING Contact(Id)",
    ):
        with pytest.raises(Malformed):
            parse_sosl(bad)
    with pytest.raises(Malformed):
        parse_soql("SELECT Id FROM Task WHERE CallObject = 'a\\qb'")


def test_escape_covers_every_reserved_character() -> None:
    assert escape_sosl("".join(sorted(SOSL_RESERVED))) == "".join(
        f"\\{c}" for c in sorted(SOSL_RESERVED)
    )
    assert escape_sosl("a\nb\tc") == "a b c"
    assert soql_literal('it\'s \\ "x"\n') == "'it\\'s \\\\ \\\"x\\\"\\n'"


@pytest.mark.parametrize(
    "bad", ["", "003", "003000000000005AA", "003000000000005AAA' OR ''='", "003 00000000005A"]
)
def test_checked_id_refuses_what_is_not_an_id(bad: str) -> None:
    with pytest.raises(NotFound):
        checked_id(bad)
    assert checked_id("003000000000005") == "003000000000005"


def test_a_task_logged_by_someone_else_maps_too() -> None:
    entry = history_entry(
        {
            "Id": "00T000000000001AAA",
            "Subject": "Call",
            "CallType": "outbound",
            "CallDurationInSeconds": 42,
            "CallObject": None,
            "CreatedDate": "2026-11-20T13:00:00.000+0100",
            "Owner": None,
        }
    )

    assert entry.call_id == "00T000000000001AAA"
    assert (entry.direction, entry.outcome) == (Direction.OUTBOUND, Outcome.ANSWERED)
    assert entry.started_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert (entry.caller_number, entry.called_number, entry.agent) == ("", "", None)


def test_an_unreadable_date_is_a_crm_error() -> None:
    with pytest.raises(CrmError):
        parse_datetime("yesterday")


def test_a_record_without_the_fields_asked_for_is_a_crm_error() -> None:
    refs = Refs("salesforce", "https://fake-org.my.salesforce.com", "GB")

    with pytest.raises(CrmError, match="cannot read") as failed, readable("search"):
        search_hits([{"attributes": {"type": "Contact"}, "Name": "No Id"}], refs, 5)
    assert failed.value.details["operation"] == "search"


def test_backoff_is_capped_exponential_with_full_jitter() -> None:
    top = Backoff(base_s=0.5, cap_s=4.0, rand=lambda: 1.0)
    assert [top.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert Backoff(base_s=0.5, cap_s=4.0, rand=lambda: 0.0).delay(5) == 0.0


def test_the_cache_expires_and_evicts() -> None:
    now = [0.0]
    cache: TtlCache[str, int] = TtlCache(ttl_s=10.0, size=2, clock=lambda: now[0])
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert (cache.get("b"), cache.get("a"), cache.get("c")) == (None, 1, 3)
    now[0] = 10.0
    assert cache.get("a") is None
    assert len(cache) == 1
    cache.discard_where(lambda key: key == "c")
    assert len(cache) == 0
    off: TtlCache[str, int] = TtlCache(ttl_s=0.0, size=2)
    off.put("a", 1)
    assert off.get("a") is None
