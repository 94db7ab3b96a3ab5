"""The provisioning workbook's columns and actions: one definition for template, import, export."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["COLUMNS", "HEADER_ALIASES", "Action", "Column", "column_titles"]


class Action(StrEnum):
    """What a row asks for. ``keep`` (or ``ignore``) changes nothing: exports use it."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    title: str
    help: str


COLUMNS: tuple[Column, ...] = (
    Column("action", "action", "create, update, delete or keep (keep changes nothing)"),
    Column("username", "username", "login name: a-z 0-9 . _ - (1 to 64)"),
    Column("first_name", "first name", "required for create and update"),
    Column("last_name", "last name", "required for create and update"),
    Column("email", "email", "required for create and update"),
    Column("extension", "extension", "the agent's phone number on the PBX (digits)"),
    Column(
        "endpoint_secret",
        "endpoint secret",
        "SIP password: 'generate' (or empty on create) for a strong one shown once; "
        "empty on update keeps the current one; or at least 16 characters of your own",
    ),
    Column("groups", "groups", "existing agent groups, separated by ';'"),
    Column("role", "role", "agent, supervisor or admin"),
    Column("salesforce_user", "salesforce user", "Salesforce user id (005...) or username"),
)

# Header cells are matched case-insensitively, with spaces, dashes and underscores alike.
HEADER_ALIASES: dict[str, str] = {
    **{c.key.replace("_", ""): c.key for c in COLUMNS},
    "firstname": "first_name",
    "givenname": "first_name",
    "lastname": "last_name",
    "surname": "last_name",
    "familyname": "last_name",
    "emailaddress": "email",
    "ext": "extension",
    "secret": "endpoint_secret",
    "sipsecret": "endpoint_secret",
    "endpointsecretorgenerate": "endpoint_secret",
    "group": "groups",
    "salesforce": "salesforce_user",
    "salesforceuserid": "salesforce_user",
}


def column_titles() -> list[str]:
    return [c.title for c in COLUMNS]
