"""Start the test OpenID Connect provider (tests/sso/oidc_provider.mjs, npm's oidc-provider)."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from cti.config import repo_root

SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
CLIENT_ID = "cti"
CLIENT_SECRET = "s3cret-for-the-tests-only-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Provider:
    issuer: str

    def disable(self, login: str) -> None:
        """Disable ``login`` at the provider (its tokens stop working)."""
        assert httpx.post(f"{self.issuer}/test/disable/{login}").status_code == 204


@contextmanager
def oidc_provider(
    port: int, redirect_uri: str, users: Mapping[str, Mapping[str, object]], workdir: Path
) -> Iterator[Provider]:
    """The provider on 127.0.0.1:``port`` until the block ends."""
    config = workdir / "oidc-provider.json"
    body = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uri": redirect_uri,
        "users": users,
    }
    config.write_text(json.dumps(body))
    process = subprocess.Popen(
        ["node", str(SCRIPT), str(port), str(config)],
        cwd=repo_root(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "ready on" in line:
                break
        else:
            raise AssertionError("the OIDC provider did not start")
        yield Provider(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()
