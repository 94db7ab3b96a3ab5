"""Hostile uploads get a clear refusal; exports neutralize formula-like values."""

from __future__ import annotations

import io
import zipfile

import pytest

from cti.admin.sheet import SheetLimits, UploadRejected, read_upload, write_csv, write_xlsx
from cti.errors import PayloadTooLarge
from tests.admin.workbooks import agent_row, read_rows


def test_not_a_workbook() -> None:
    with pytest.raises(UploadRejected, match="neither"):
        read_upload(b"\x00\x01\x02binary", "x.xlsx")


def test_old_xls_is_named() -> None:
    with pytest.raises(UploadRejected, match=r"\.xls"):
        read_upload(b"\xd0\xcf\x11\xe0" + b"\x00" * 100, "x.xls")


def test_fifty_megabytes_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge, match="limit is 10 MB"):
        read_upload(b"a" * 50_000_000, "big.csv")


def test_a_zip_bomb_is_refused_before_parsing() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<x/>")
        archive.writestr("xl/workbook.xml", "<x/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * 200_000_000)
    with pytest.raises(UploadRejected, match="zip bomb"):
        read_upload(out.getvalue(), "bomb.xlsx")


def test_a_zip_that_is_not_a_workbook() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(UploadRejected, match=r"not an \.xlsx"):
        read_upload(out.getvalue(), "x.xlsx")


def test_too_many_rows() -> None:
    data = "action,username\n" + "keep,x\n" * 30
    with pytest.raises(UploadRejected, match="more than 20 rows"):
        read_upload(data.encode(), "x.csv", SheetLimits(max_rows=20))


def test_csv_not_utf8() -> None:
    with pytest.raises(UploadRejected, match="UTF-8"):
        read_upload("action,username\nkeep,é\n".encode("latin-1"), "x.csv")


DANGEROUS = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_exports_neutralize_leading_formula_characters(value: str) -> None:
    row = {k: str(v) for k, v in agent_row("keep", "2001", last_name=value).items()}
    csv_text = write_csv([row]).decode("utf-8-sig")
    assert f",'{value}," in csv_text or f',"\'{value}",' in csv_text
    [read] = read_rows(write_xlsx([row]))
    assert read["last_name"] == "'" + value
    # and an import of that export reads the value back without the apostrophe
    assert read_upload(write_csv([row]), "x.csv").rows[0].cells["last_name"] == value
