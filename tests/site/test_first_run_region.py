"""Setup's region question (``cti serve``'s first run): asked once when neither the config nor
the store has a region, stored and audited as setup's; ``--region`` answers without asking and
a code no country has is refused before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cti.cli import cli
from cti.errors import ValidationFailed
from cti.site_settings import SiteSettings
from cti.site_settings.setup import QUESTION, first_run_region
from cti.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'setup.sqlite3'}")
    store.upgrade()
    return store


class Answers:
    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, str]] = []

    def __call__(self, question: str, default: str) -> str:
        self.asked.append((question, default))
        return self.answers.pop(0)


def test_a_first_run_asks_and_stores_the_answer(store: Store) -> None:
    answers = Answers("Germany", "de")  # not a code: asked again
    chosen = first_run_region(store, "GB", configured_by_site=False, ask=answers)
    assert chosen is not None and (chosen.region, chosen.updated_by) == ("DE", "setup")
    assert answers.asked == [(QUESTION, "GB"), (QUESTION, "GB")]
    events = store.events(kind="site.default_region_set")
    assert [(e.actor, e.details) for e in events] == [("setup", {"from": "GB", "to": "DE"})]
    assert first_run_region(store, "GB", configured_by_site=False, ask=answers) is None
    assert len(answers.asked) == 2  # stored: never asked again
    store.close()


def test_nothing_is_asked_when_the_file_names_a_region_or_there_is_no_terminal(
    store: Store,
) -> None:
    answers = Answers("US")
    assert first_run_region(store, "FR", configured_by_site=True, ask=answers) is None
    assert first_run_region(store, "GB", configured_by_site=False, ask=None) is None
    assert answers.asked == []
    assert store.events(kind="site.default_region_set") == []
    store.close()


def test_three_wrong_answers_are_refused_and_store_nothing(store: Store) -> None:
    with pytest.raises(ValidationFailed):
        first_run_region(store, "GB", configured_by_site=False, ask=Answers("x", "yy", "zzz"))
    assert SiteSettings(store, "GB", configured_by_site=False).load_sync().source == "built-in"
    store.close()


def test_region_option_stores_it_even_over_a_stored_one(store: Store) -> None:
    first_run_region(store, "GB", configured_by_site=True, given="us")
    chosen = first_run_region(store, "GB", configured_by_site=True, given="CA")
    assert chosen is not None and chosen.region == "CA"
    assert SiteSettings(store, "GB", configured_by_site=True).load_sync().region == "CA"
    store.close()


def test_serve_refuses_an_unknown_region_before_starting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'cti.sqlite3'}"
    env = {"CTI_STORE__URL": url, "CTI_STATE_DIR": str(tmp_path / "state"), "CTI_CONFIG": None}
    result = CliRunner().invoke(cli, ["serve", "--region", "ZZ"], env=env)
    assert result.exit_code == 2
    assert "'ZZ' is not a country code" in result.output
    store = Store(url)
    assert store.events(kind="site.default_region_set") == []
    store.close()
