"""Secrets the daemon must store and later use in the clear (an AMI secret an admin entered).

They are sealed with Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) under a key
that lives outside the database: ``state_dir/secrets.key``, created 0600 on first use (back it
up with the state directory: without it the sealed secrets must be entered again). A database
dump or a PostgreSQL replica then holds no usable AMI password. Sealed values read
``fernet:<token>``; a value without the prefix is one stored before sealing existed, read as it
is and sealed at the next start.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from cti.errors import ConfigError, StoreError
from cti.private_files import check_private, create_private_file

__all__ = ["SecretBox"]

_PREFIX = "fernet:"


class SecretBox:
    """Seal and open stored secrets with one Fernet key."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError("the secrets key is not a Fernet key (url-safe base64)") from exc

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> SecretBox:
        """The key in ``state_dir/secrets.key``, made on first use."""
        path = state_dir / "secrets.key"
        create_private_file(path, Fernet.generate_key())
        check_private(path, "the secrets key")
        return cls(path.read_bytes().strip())

    def seal(self, secret: str) -> str:
        return _PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if not stored.startswith(_PREFIX):
            return stored  # stored before sealing: sealed on its next write
        try:
            return self._fernet.decrypt(stored[len(_PREFIX) :].encode()).decode()
        except InvalidToken as exc:
            raise StoreError(
                "a stored secret cannot be opened with this key (was secrets.key replaced?)"
            ) from exc

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(_PREFIX)
