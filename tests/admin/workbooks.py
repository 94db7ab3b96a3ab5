"""Build provisioning workbooks for tests (as an admin would in a spreadsheet)."""

from __future__ import annotations

import io
from collections.abc import Sequence

from openpyxl import Workbook, load_workbook

from cti.admin.columns import COLUMNS, column_titles

KEYS = [c.key for c in COLUMNS]


def xlsx(rows: Sequence[dict[str, object]], titles: Sequence[str] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(titles or column_titles()))
    for row in rows:
        sheet.append([row.get(k, "") for k in KEYS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def agent_row(action: str, ext: str, group: str = "Claims", **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "action": action,
        "username": f"agent{ext}",
        "first_name": "Agent",
        "last_name": f"N{ext}",
        "email": f"agent{ext}@example.com",
        "extension": ext,
        "endpoint_secret": "generate",
        "groups": group,
        "role": "agent",
        "salesforce_user": "",
    }
    row.update(extra)
    return row


def read_rows(data: bytes) -> list[dict[str, str]]:
    """The rows of an exported workbook, by column key."""
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    return [
        {k: "" if v is None else str(v) for k, v in zip(KEYS, r, strict=False)} for r in rows[1:]
    ]


def rewrite(data: bytes, change: dict[str, dict[str, str]]) -> bytes:
    """Change cells of an exported workbook: {username: {column key: value}}."""
    book = load_workbook(io.BytesIO(data))
    sheet = book.active
    assert sheet is not None
    for cells in sheet.iter_rows(min_row=2):
        username = str(cells[KEYS.index("username")].value)
        for key, value in change.get(username, {}).items():
            cells[KEYS.index(key)].value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
