"""The port through which bulk provisioning checks and applies the workbook's site sheets
(``locations``, ``devices``; :mod:`cti.admin.site_columns`). The site service implements it
(:class:`cti.site.workbook.SiteWorkbook`); the root hands it to
:meth:`cti.admin.provisioning.Provisioning.use_site`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from sqlalchemy import Connection

from cti.admin.sheet import SheetRow
from cti.admin.validate import CellError

__all__ = ["SiteApply", "SiteSheets", "no_site"]

#: Runs inside the import's transaction; returns counts and the secrets to show once.
SiteApply = Callable[[Connection], tuple[dict[str, int], dict[str, str]]]


class SiteSheets(Protocol):
    async def check(
        self, sheets: Mapping[str, Sequence[SheetRow]], users: frozenset[str]
    ) -> tuple[list[CellError], SiteApply | None]:
        """Every problem of the site sheets (``users``: who will exist after the agents sheet
        is applied) and, when there is none, what applies them."""
        ...


def no_site(sheets: Mapping[str, Sequence[SheetRow]]) -> list[CellError]:
    """The errors of site sheets sent where no site service is wired (nothing is applied)."""
    return [
        CellError(1, "sheet", "site sheets are not available here", sheet=name)
        for name, rows in sheets.items()
        if rows
    ]
