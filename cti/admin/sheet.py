"""Read provisioning uploads (CSV or XLSX) defensively, and write the template and exports.

An upload is untrusted: it is refused, with a message a person can act on, when it is too large,
not a workbook, a zip bomb, or has too many rows. Formulas are never evaluated: a formula cell is
read as the formula text and flagged (the validator refuses it). Exports neutralize values that
start with ``= + - @`` (CSV/formula injection, OWASP): they get a leading apostrophe, which an
import strips again.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any, Literal
from xml.parsers import expat

from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font, PatternFill

from cti.admin.columns import COLUMNS, HEADER_ALIASES, column_titles
from cti.admin.site_columns import SITE_EXAMPLES, SITE_SHEETS, site_aliases
from cti.errors import PayloadTooLarge, ValidationFailed

__all__ = [
    "Sheet",
    "SheetLimits",
    "SheetRow",
    "UploadRejected",
    "neutralize",
    "read_upload",
    "template_xlsx",
    "write_csv",
    "write_xlsx",
]

_DANGEROUS_LEADS = ("=", "+", "-", "@", "\t", "\r")
_XLS_MAGIC = b"\xd0\xcf\x11\xe0"
_ZIP_MAGIC = b"PK\x03\x04"


class UploadRejected(ValidationFailed):
    """The uploaded file cannot be read as a provisioning sheet (nothing was changed)."""

    error_id = "import.rejected"


@dataclass(frozen=True, slots=True)
class SheetLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_rows: int = 20_000
    max_columns: int = 40
    max_cell_chars: int = 1000
    max_zip_entries: int = 200
    max_row_cells: int = 1024  # cells one row of a worksheet may hold (styled blanks count)
    max_cells: int = 500_000  # cells of every worksheet together (20k rows x 25 columns)
    max_unzipped_bytes: int = 100 * 1024 * 1024
    max_zip_ratio: int = 200


@dataclass(frozen=True, slots=True)
class SheetRow:
    """One data row: ``number`` as the spreadsheet shows it (the header is row 1)."""

    number: int
    cells: dict[str, str]
    formulas: frozenset[str] = frozenset()


@dataclass(slots=True)
class Sheet:
    """What an upload held: its columns (by key; None for a column we do not know) and rows."""

    filename: str
    kind: Literal["csv", "xlsx"]
    columns: list[str | None]
    rows: list[SheetRow] = field(default_factory=list)
    # The workbook's site sheets ("locations", "devices"; SITE_SHEETS), when it has them.
    extra: dict[str, list[SheetRow]] = field(default_factory=dict)

    @property
    def missing_columns(self) -> list[str]:
        return [c.key for c in COLUMNS if c.key not in self.columns]


def neutralize(value: str) -> str:
    """Return ``value`` safe to open in a spreadsheet: a leading ``= + - @`` gets an apostrophe."""
    return "'" + value if value.startswith(_DANGEROUS_LEADS) else value


def _unneutralize(value: str) -> str:
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@":
        return value[1:]
    return value


def read_upload(data: bytes, filename: str, limits: SheetLimits | None = None) -> Sheet:
    """Parse an upload; raise :class:`UploadRejected` (or PayloadTooLarge) with the reason."""
    limits = limits or SheetLimits()
    if len(data) > limits.max_bytes:
        raise PayloadTooLarge(
            f"the file is {len(data) / 1e6:.1f} MB; the limit is {limits.max_bytes / 1e6:.0f} MB",
            details={"bytes": len(data), "limit": limits.max_bytes},
        )
    if not data.strip():
        raise UploadRejected("the file is empty")
    if data.startswith(_XLS_MAGIC):
        raise UploadRejected("this is an old .xls workbook: save it as .xlsx (or CSV) and retry")
    if data.startswith(_ZIP_MAGIC):
        return _read_xlsx(data, filename, limits)
    return _read_csv(data, filename, limits)


# ------------------------------------------------------------------------------------ XLSX
def _check_zip(data: bytes, limits: SheetLimits) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UploadRejected("the file is neither a readable .xlsx workbook nor CSV") from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > limits.max_zip_entries:
            raise UploadRejected("the workbook has too many parts to be a provisioning sheet")
        total = 0
        for entry in entries:
            total += entry.file_size
            ratio = entry.file_size / max(entry.compress_size, 1)
            if total > limits.max_unzipped_bytes or (
                entry.file_size > 1_000_000 and ratio > limits.max_zip_ratio
            ):
                raise UploadRejected(
                    "the workbook unpacks to far more than it weighs (a zip bomb?); refused",
                    details={"part": entry.filename[:100]},
                )
        names = {entry.filename for entry in entries}
        if "xl/workbook.xml" not in names or "[Content_Types].xml" not in names:
            raise UploadRejected("the file is a zip archive but not an .xlsx workbook")
        counter = _CellCounter(limits)
        for name in sorted(names):
            if _WORKSHEET.fullmatch(name):
                counter.scan(archive, name)


_WORKSHEET = re.compile(r"xl/worksheets/[^/]+\.xml")
_CELL_REF = re.compile(r"([A-Z]{1,3})\d+")


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number


class _CellCounter:
    """Count a workbook's cells by streaming its worksheets' XML before openpyxl reads them.

    openpyxl builds every cell of a row even in read-only mode: one row of 2.5 million cells
    took 55 s and 3 GB. The declared ``<dimension>`` is checked first; since it may lie, the
    ``<c>`` elements are counted as the XML streams by (expat, no tree, no DTD), and the scan
    stops at the first row or total over the limits.
    """

    def __init__(self, limits: SheetLimits) -> None:
        self._limits = limits
        self._row = self._total = 0

    def scan(self, archive: zipfile.ZipFile, name: str) -> None:
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._no_doctype
        parser.StartElementHandler = self._start
        try:
            with archive.open(name) as part:
                while chunk := part.read(64 * 1024):
                    parser.Parse(chunk, False)
                parser.Parse(b"", True)
        except (expat.ExpatError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise UploadRejected(
                "the workbook could not be read; save it again as .xlsx",
                details={"part": name[:100]},
            ) from exc

    def _start(self, tag: str, attributes: dict[str, str]) -> None:
        local = tag.rpartition(" ")[2]
        if local == "c":
            self._row += 1
            self._total += 1
            if self._row > self._limits.max_row_cells or self._total > self._limits.max_cells:
                self._refuse()
        elif local == "row":
            self._row = 0
        elif local == "dimension":
            self._check_dimension(attributes.get("ref", ""))

    def _check_dimension(self, ref: str) -> None:
        """``A1:Z20000``: refuse a declared width or area over the limits at once."""
        corners = [_CELL_REF.fullmatch(part.replace("$", "")) for part in ref.split(":")]
        if len(corners) != 2 or not all(corners):
            return  # absent or odd: the count decides
        first, last = (m for m in corners if m is not None)
        width = _column_number(last.group(1)) - _column_number(first.group(1)) + 1
        if width > self._limits.max_row_cells:
            self._refuse()

    def _refuse(self) -> None:
        limits = self._limits
        raise UploadRejected(
            f"the workbook has more cells than a provisioning sheet needs (at most "
            f"{limits.max_row_cells} in a row, {limits.max_cells} in all): delete the unused "
            "columns and rows, or save the agents sheet alone as CSV",
            details={"max_row_cells": limits.max_row_cells, "max_cells": limits.max_cells},
        )

    @staticmethod
    def _no_doctype(*args: object) -> None:
        raise UploadRejected("the workbook declares a DTD; an .xlsx worksheet never does")


def _read_xlsx(data: bytes, filename: str, limits: SheetLimits) -> Sheet:
    _check_zip(data, limits)
    try:
        # read_only streams rows; data_only=False reads a formula as its text: never evaluated.
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for a damaged workbook
        raise UploadRejected(
            "the workbook could not be read; save it again as .xlsx",
            details={"error": str(exc)[:200]},
        ) from exc
    try:
        names = book.sheetnames
        agents = (
            "agents"
            if "agents" in names
            else next((n for n in names if n not in SITE_SHEETS), None)
        )
        sheet_out = Sheet(filename, "xlsx", [c.key for c in COLUMNS])  # none: no agent rows
        if agents is not None:
            found = _read_table(book[agents], filename, _header, limits)
            if found is None:
                raise UploadRejected("the workbook's agents sheet is empty")
            sheet_out = found
        for name in SITE_SHEETS:
            if name in names:
                aliases = site_aliases(name)
                table = _read_table(
                    book[name], filename, partial(_site_header, aliases=aliases), limits
                )
                sheet_out.extra[name] = [] if table is None else table.rows
    finally:
        book.close()
    return sheet_out


def _read_table(sheet: Any, filename: str, header: Any, limits: SheetLimits) -> Sheet | None:
    """One worksheet's header (the first row with text) and rows; None if it has no header."""
    out: Sheet | None = None
    header_row = 1
    for index, row in enumerate(sheet.iter_rows(), start=1):
        cells = [(_cell_text(c.value), c.data_type == "f") for c in row[: limits.max_columns]]
        if out is None:
            if not any(text for text, _ in cells):
                continue  # blank rows above the header
            out = Sheet(filename, "xlsx", header([t for t, _ in cells]))
            header_row = index
            continue
        _add_row(out, index - header_row + 1, cells, limits)
    return out


def _site_header(titles: Sequence[str], aliases: dict[str, str]) -> list[str | None]:
    keys: list[str | None] = []
    for title in titles:
        key = aliases.get("".join(ch for ch in title.strip().lower() if ch.isalnum()))
        keys.append(key if key not in keys else None)
    return keys


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


# ------------------------------------------------------------------------------------- CSV
def _read_csv(data: bytes, filename: str, limits: SheetLimits) -> Sheet:
    if b"\x00" in data[:4096]:
        raise UploadRejected("the file is neither an .xlsx workbook nor CSV text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadRejected(
            "the CSV is not UTF-8 text; export it as 'CSV UTF-8' and retry",
            details={"byte_offset": exc.start},
        ) from exc
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        records = list(_bounded(reader, limits.max_rows + 2))
    except csv.Error as exc:
        raise UploadRejected(f"the CSV is malformed: {exc}") from exc
    records = [r for r in records]
    while records and not any(cell.strip() for cell in records[0]):
        records.pop(0)
    if not records:
        raise UploadRejected("the CSV has no header row")
    sheet = Sheet(filename, "csv", _header(records[0][: limits.max_columns]))
    for index, record in enumerate(records[1:], start=2):
        _add_row(sheet, index, [(cell, False) for cell in record[: limits.max_columns]], limits)
    return sheet


def _bounded(rows: Iterable[list[str]], limit: int) -> Iterable[list[str]]:
    for count, row in enumerate(rows):
        if count >= limit:
            raise UploadRejected(f"the file has more than {limit - 2} rows; split it")
        yield row


# --------------------------------------------------------------------------------- shared
def _header(titles: Sequence[str]) -> list[str | None]:
    keys: list[str | None] = []
    for title in titles:
        squashed = "".join(ch for ch in title.strip().lower() if ch.isalnum())
        key = HEADER_ALIASES.get(squashed)
        keys.append(key if key not in keys else None)
    return keys


def _add_row(
    sheet: Sheet, number: int, cells: Sequence[tuple[str, bool]], limits: SheetLimits
) -> None:
    if len(sheet.rows) >= limits.max_rows:
        raise UploadRejected(f"the file has more than {limits.max_rows} rows; split it")
    values: dict[str, str] = {}
    formulas = set()
    for key, (raw, formula) in zip(sheet.columns, cells, strict=False):
        if key is None:
            continue
        text = raw[: limits.max_cell_chars]
        values[key] = text if formula else _unneutralize(text.strip())
        if formula:
            formulas.add(key)
    if any(values.values()):
        sheet.rows.append(SheetRow(number, values, frozenset(formulas)))


# ---------------------------------------------------------------------------------- writing
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="305496")


def _write_table(sheet: Any, columns: Sequence[Any], rows: Iterable[Mapping[str, str]]) -> None:
    sheet.append([c.title for c in columns])
    for cell in sheet[1]:
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
    for row in rows:
        sheet.append([neutralize(row.get(c.key, "")) for c in columns])
    for row_cells in sheet.iter_rows(min_row=2):
        for cell in row_cells:
            cell.data_type = "s"  # text, never a formula, whatever it starts with
    for index, column in enumerate(columns):
        sheet.column_dimensions[chr(ord("A") + index)].width = max(12, len(column.title) + 4)
    sheet.freeze_panes = "A2"


def write_xlsx(
    rows: Iterable[Mapping[str, str]],
    site: Mapping[str, Iterable[Mapping[str, str]]] | None = None,
) -> bytes:
    """Return an .xlsx with the provisioning columns and ``rows`` (keys as in COLUMNS), and
    the ``locations`` and ``devices`` sheets with the rows ``site`` gives them."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "agents"
    _write_table(sheet, COLUMNS, rows)
    for name, columns in SITE_SHEETS.items():
        _write_table(book.create_sheet(name), columns, (site or {}).get(name, ()))
    help_sheet = book.create_sheet("help")
    help_sheet.append(["sheet", "column", "what to put there"])
    for column in COLUMNS:
        help_sheet.append(["agents", column.title, column.help])
    for name, columns in SITE_SHEETS.items():
        for column in columns:
            help_sheet.append([name, column.title, column.help])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_csv(rows: Iterable[Mapping[str, str]]) -> bytes:
    """Return the same as CSV (UTF-8 with a BOM, so spreadsheets detect the encoding)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(column_titles())
    for row in rows:
        writer.writerow([neutralize(row.get(c.key, "")) for c in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def template_xlsx() -> bytes:
    """The downloadable template: headers, one example row per action, and the help sheet."""
    example = {
        "action": "create",
        "username": "jdoe",
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane.doe@example.com",
        "extension": "2001",
        "endpoint_secret": "generate",
        "groups": "Sales",
        "role": "agent",
        "salesforce_user": "",
    }
    return write_xlsx([example], {k: [v] for k, v in SITE_EXAMPLES.items()})
