"""A pop's card is rendered once per call and template, for every agent whose context agrees.

The renderer here is the real one, counting its renders; the CRM is the built-in one on SQLite.
"""

from __future__ import annotations

from crm_connectors.builtin import BuiltinCrm
from cti.pop.directory import Directory, GroupConfig
from cti.pop.render import DEFAULT_TEMPLATE, PopRenderer
from cti.pop.service import PopService
from tests.pop.test_pop_service import OWNERS, Notifier, Records, crm, replay

__all__ = ["crm"]  # the fixture, shared with the pop service tests


class CountingRenderer(PopRenderer):
    def __init__(self) -> None:
        super().__init__()
        self.renders: list[str] = []

    def render(
        self, source: str, context: dict[str, object], *, slice_ms: float | None = None
    ) -> str:
        html = super().render(source, context, slice_ms=slice_ms)
        self.renders.append(html)
        return html


def service(crm: BuiltinCrm, renderer: PopRenderer, **kw: object) -> tuple[PopService, Notifier]:
    directory = Directory(endpoint_owners=OWNERS, **kw)  # type: ignore[arg-type]
    notifier = Notifier()
    pops = PopService(
        crm,
        lambda: directory,
        notifier,
        Records(),
        default_region="GB",
        lookup_timeout_s=0.3,
        renderer=renderer,
    )
    return pops, notifier


def pops_of(notifier: Notifier) -> dict[str, str]:
    return {agent: html for kind, agent, html, _ in notifier.sent if kind == "pop"}


async def test_ringall_agents_share_one_card(crm: BuiltinCrm) -> None:
    renderer = CountingRenderer()
    pops, notifier = service(crm, renderer)
    await replay(pops, "queue_ringall_second_answers")

    cards = pops_of(notifier)
    assert set(cards) == {"alice", "bob"}
    assert cards["alice"] == cards["bob"]
    assert "Alice Archer" in cards["alice"]
    assert renderer.renders.count(cards["alice"]) == 1  # made once, sent twice


async def test_a_card_that_names_the_agent_is_made_for_each(crm: BuiltinCrm) -> None:
    renderer = CountingRenderer()
    named = GroupConfig("sales", template="<p>{{ agent }}: {{ call.caller_number }}</p>")
    pops, notifier = service(
        crm, renderer, groups={"sales": named}, queue_groups={"sales": "sales"}
    )
    await replay(pops, "queue_ringall_second_answers")

    cards = pops_of(notifier)
    assert cards == {"alice": "<p>alice: +442079460001</p>", "bob": "<p>bob: +442079460001</p>"}


def test_names_are_what_the_template_reads() -> None:
    renderer = PopRenderer()
    names = renderer.names("{{ agent }} {% for m in matches %}{{ m.name }}{% endfor %}")
    assert names == frozenset({"agent", "matches"})
    assert "agent" not in (renderer.names(DEFAULT_TEMPLATE) or ())
    assert renderer.names("{% if %}") is None


async def test_a_consultation_call_is_looked_up_when_it_rings(crm: BuiltinCrm) -> None:
    """The consultation leg of an attended transfer starts as the agent's own call (no lookup
    then): its pop waited for a lookup nobody started, and was lost if answered meanwhile."""
    pops, notifier = service(crm, PopRenderer())
    await replay(pops, "attended_transfer")

    sent = [
        (agent, data["call"], data["lookup"])
        for kind, agent, _, data in notifier.sent
        if kind == "pop"
    ]
    calls = [(agent, call["id"]) for agent, call, _ in sent]  # type: ignore[index]
    # alice takes the customer; bob gets the consultation (while it rings), then the customer
    assert calls == [
        ("alice", "lab:1795309456.15"),
        ("bob", "lab:1795309457.17"),
        ("bob", "lab:1795309456.15"),
    ]
    assert all(lookup == "done" for _, _, lookup in sent), sent
