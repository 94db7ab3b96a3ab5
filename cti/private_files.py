"""Files only the service may read: the state directory, the SQLite store, secrets.

The store holds password hashes, customer data, notes and the SIP digest hashes that are as good
as SIP passwords; the state directory holds the session and sealing keys. Each is created with
its final mode (``os.open``/``os.mkdir`` with the mode, never chmod-ed afterwards, so there is no
moment in which another user can open it), and :func:`check_private` refuses to run on one that
others can read, saying how to fix it. SQLite creates its ``-wal`` and ``-shm`` files with the
database file's own permissions, so a private database keeps them private.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cti.errors import ConfigError

__all__ = ["check_private", "create_private_file", "ensure_private_dir", "touch_private"]

DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as 0700 if it does not exist yet."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            continue


def touch_private(path: Path) -> None:
    """Create an empty ``path`` as 0600 unless it exists (the SQLite store before its engine).

    A missing directory is left missing: a store path in a directory that does not exist is a
    mistake SQLite reports (the daemon makes its own state directory first).
    """
    if not path.parent.is_dir():
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def create_private_file(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new ``path`` created 0600; False if it already exists."""
    ensure_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return True


def check_private(path: Path, what: str) -> None:
    """Raise ConfigError if ``path`` exists and users other than its owner may read it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if not mode & (stat.S_IRWXG | stat.S_IRWXO):
        return
    wanted = DIR_MODE if stat.S_ISDIR(mode) else FILE_MODE
    raise ConfigError(
        f"{what} {path} is open to other users (mode {stat.S_IMODE(mode):o}); it holds "
        f"secrets or customer data. Fix it with: chmod {wanted:o} {path}",
        details={"path": str(path), "mode": f"{stat.S_IMODE(mode):o}"},
    )
