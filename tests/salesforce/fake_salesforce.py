"""A local fake of the Salesforce endpoints the connector uses, over real HTTPS on loopback.

One ThreadingHTTPServer on 127.0.0.1 (ephemeral port) answers for every Salesforce host name
(``login.salesforce.com``, ``test.salesforce.com``, the org's ``*.my.salesforce.com`` instance)
with a certificate from a throwaway ``trustme`` CA. :meth:`FakeSalesforce.session` returns a
``requests.Session`` that trusts that CA and whose adapter connects every request to the fake's
port while keeping the host name for SNI, certificate checks and the Host header: simple-salesforce
runs unmodified, building its usual ``https://`` URLs, and no byte leaves the machine.

Where each response shape comes from:

- ``POST /services/Soap/u/{version}``: SOAP API Developer Guide, ``login()`` and ``LoginResult``
  (``serverUrl``, ``sessionId``, ``userId``, ...); a refused login is a SOAP fault (HTTP 500)
  with an ``sf:LoginFault`` detail (``exceptionCode`` INVALID_LOGIN, PASSWORD_LOCKOUT, ...), as
  in the ExceptionCode list of the API guide. Salesforce answers INVALID_LOGIN ("Invalid
  username, password, security token; or user locked out.") for most locked-out users too.
- ``POST /services/oauth2/token``: Salesforce Help, "OAuth 2.0 JWT Bearer Flow for
  Server-to-Server Integration": ``{"access_token", "scope", "instance_url", "id",
  "token_type"}``, or HTTP 400 ``{"error": "invalid_grant", "error_description": ...}``.
- ``/services/data/vXX.X/search?q=``: REST API Developer Guide, "Search": ``{"searchRecords":
  [...]}``; ``/query?q=``: "Execute a SOQL Query": ``{"totalSize", "done", "records"}``; each
  record carries ``attributes`` (type, url) and relationship fields as nested records or null.
- ``POST /sobjects/{Object}/`` (201 ``{"id", "success", "errors"}``), ``PATCH
  /sobjects/{Object}/{Id}`` (204), ``PATCH /sobjects/Task/{ExternalIdField}/{value}`` (201 with
  ``"created": true``, 200 when it updated, API 46.0 and later), ``GET
  /sobjects/Task/{ExternalIdField}/{value}``: "Insert or Update (Upsert) a Record Using an
  External ID" and "Working with Records".
- Errors: "Status Codes and Error Responses": a JSON list ``[{"message", "errorCode",
  "fields"}]``; 401 INVALID_SESSION_ID ("Session expired or invalid"), 403
  REQUEST_LIMIT_EXCEEDED ("TotalRequests Limit exceeded."), 503 when the server is unavailable.

Scriptable faults: :meth:`fail_next` (the next N REST requests answer 503,
REQUEST_LIMIT_EXCEEDED, 401 INVALID_SESSION_ID, or have their connection reset),
:meth:`outage` (for a while every REST request fails, taking turns between 503 and
REQUEST_LIMIT_EXCEEDED, and every login answers 503, as during maintenance or a limit breach),
:meth:`revoke_sessions` (every issued session expires), ``latency_s`` (each request waits).
Every request is recorded (``requests``, with its arrival time, and the decoded ``sosl``/``soql``
texts); ``refused`` counts the requests a fault answered; ``max_in_flight`` is the most requests
the fake was handling at once.

A separate process (the daemon in the e2e tests) reaches the fake through the connector's own
``ca_bundle`` and ``connect_to`` settings: :attr:`FakeSalesforce.ca_file` and
:meth:`FakeSalesforce.connect_to`.
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import jwt
import requests

from tests.salesforce.fake_org import FakeOrg, OrgError
from tests.salesforce.fake_queries import Malformed, parse_soql, parse_sosl
from tests.salesforce.fake_tls import LoopbackAdapter, TlsServer, authority

FAULTS = ("unavailable", "request_limit", "invalid_session", "reset")
_INVALID_LOGIN = "Invalid username, password, security token; or user locked out."
_LOCKOUT = "The user has exceeded the allowed number of login attempts."
_AUDIENCES = ["https://login.salesforce.com", "https://test.salesforce.com"]


@dataclass
class LoginUser:
    username: str
    password: str
    token: str | None  # None: the user's IP is trusted, the password alone logs in
    locked: bool = False
    lockout_code: str = "PASSWORD_LOCKOUT"  # or INVALID_LOGIN, as most orgs answer
    user_id: str = ""


@dataclass(frozen=True)
class Recorded:
    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    at: float = field(default_factory=time.monotonic)


class FakeSalesforce:
    """The fake org and its HTTPS endpoints (see the module docstring)."""

    def __init__(
        self, *, api_version: str = "59.0", instance_host: str = "fake-org.my.salesforce.com"
    ):
        self.api_version = api_version
        self.instance_host = instance_host
        self.org = FakeOrg(api_version)
        self.org_id = "00D000000000001AAA"
        self.users: dict[str, LoginUser] = {}
        self.jwt_apps: dict[str, bytes] = {}  # consumer key -> certificate's public key (PEM)
        self.sessions: set[str] = set()
        self.requests: list[Recorded] = []
        self.sosl: list[str] = []
        self.soql: list[str] = []
        self.login_hosts: list[str] = []
        self.latency_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.refused = 0
        self._faults: deque[str] = deque()
        self._outage_until = 0.0
        self._outage_faults: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self.ca, self._cert, self._ca_path = authority()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FakeSalesforce:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._cert.configure_cert(context)
        self._server = TlsServer(("127.0.0.1", 0), _Handler, context, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeSalesforce:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def ca_file(self) -> str:
        """The PEM file of the CA that signed the fake's certificate (``ca_bundle``)."""
        return self._ca_path

    def connect_to(self) -> list[str]:
        """Return ``connect_to`` rules sending the login hosts and the instance to the fake."""
        hosts = ("login.salesforce.com", "test.salesforce.com", self.instance_host)
        return [f"{host}:443:127.0.0.1:{self.port}" for host in hosts]

    def session(self, timeout: tuple[float, float] = (2.0, 5.0)) -> requests.Session:
        """Return a session that sends every Salesforce host to this fake, TLS verified."""
        session = requests.Session()
        session.trust_env = False
        session.verify = self._ca_path
        session.mount("https://", LoopbackAdapter(self.port, timeout))
        session.mount("http://", LoopbackAdapter(self.port, timeout))
        return session

    # ------------------------------------------------------------------ scripting
    def add_user(self, username: str, password: str, token: str | None = None, **kw: Any) -> str:
        user_id = self.org.add("User", Username=username, FirstName="Integration", LastName="User")
        self.users[username] = LoginUser(username, password, token, user_id=user_id, **kw)
        return user_id

    def add_jwt_app(self, consumer_key: str, public_key_pem: bytes) -> None:
        self.jwt_apps[consumer_key] = public_key_pem

    def fail_next(self, count: int, fault: str) -> None:
        """Make the next ``count`` REST requests fail with ``fault`` (one of FAULTS)."""
        assert fault in FAULTS, fault
        with self._lock:
            self._faults.extend([fault] * count)

    def outage(
        self, seconds: float, faults: Sequence[str] = ("unavailable", "request_limit")
    ) -> None:
        """Fail every REST request for ``seconds`` from now, taking turns through ``faults``,
        and answer every login 503; ``seconds`` 0 ends an outage at once."""
        assert faults and all(f in FAULTS for f in faults), faults
        with self._lock:
            self._outage_faults = tuple(faults)
            self._outage_until = time.monotonic() + seconds

    @property
    def in_outage(self) -> bool:
        return time.monotonic() < self._outage_until

    def revoke_sessions(self) -> None:
        """Expire every session issued so far (a timeout, or an admin's "revoke")."""
        with self._lock:
            self.sessions.clear()

    def rest_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/services/data/")]

    # ------------------------------------------------------------------ request handling
    def enter(self, record: Recorded) -> None:
        with self._lock:
            self.requests.append(record)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def next_fault(self) -> str | None:
        with self._lock:
            if self._faults:
                fault = self._faults.popleft()
            elif time.monotonic() < self._outage_until:
                fault = self._outage_faults[self.refused % len(self._outage_faults)]
            else:
                return None
            self.refused += 1
            return fault

    def login_refused(self) -> bool:
        """Return whether a login now meets the outage (and count it)."""
        with self._lock:
            if time.monotonic() >= self._outage_until:
                return False
            self.refused += 1
            return True

    def new_session_id(self) -> str:
        session_id = f"{self.org_id[:15]}!AQ{secrets.token_urlsafe(24)}"
        with self._lock:
            self.sessions.add(session_id)
        return session_id

    def valid_session(self, authorization: str | None) -> bool:
        token = (authorization or "").removeprefix("Bearer ")
        with self._lock:
            return token in self.sessions


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: TlsServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; the fake records requests itself."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake.enter(
            Recorded(
                self.command, self.headers.get("Host", ""), url.path, parse_qs(url.query), body
            )
        )
        try:
            if fake.latency_s:
                time.sleep(fake.latency_s)
            is_login = url.path.startswith("/services/Soap/u/") or url.path.endswith("/token")
            if is_login and fake.login_refused():
                self._send(503, "text/html", b"<html><body>Service Unavailable</body></html>")
            elif url.path.startswith("/services/Soap/u/"):
                self._soap_login(body)
            elif url.path == "/services/oauth2/token":
                self._jwt_login(body)
            elif url.path.startswith("/services/data/"):
                self._rest(url.path, parse_qs(url.query), body)
            else:
                self._json(
                    404,
                    [
                        {
                            "errorCode": "NOT_FOUND",
                            "message": "The requested resource does not exist",
                        }
                    ],
                )
        finally:
            fake.leave()

    # ------------------------------------------------------------------ login
    def _soap_login(self, body: bytes) -> None:
        fake = self.server.fake
        fake.login_hosts.append(self.headers.get("Host", ""))
        root = ET.fromstring(body)
        values = {el.tag.rsplit("}", 1)[-1]: el.text or "" for el in root.iter()}
        user = fake.users.get(values.get("username", ""))
        given = values.get("password", "")
        if user is None or given not in _accepted_passwords(user):
            self._soap_fault("INVALID_LOGIN", _INVALID_LOGIN)
            return
        if user.locked:
            code = user.lockout_code
            self._soap_fault(code, _LOCKOUT if code == "PASSWORD_LOCKOUT" else _INVALID_LOGIN)
            return
        version = self.path.rsplit("/", 1)[-1]
        base = f"https://{fake.instance_host}/services/Soap"
        self._send(
            200,
            "text/xml; charset=utf-8",
            _LOGIN_RESPONSE.format(
                metadata=f"{base}/m/{version}/{fake.org_id}",
                server=f"{base}/u/{version}/{fake.org_id}",
                session=fake.new_session_id(),
                user_id=user.user_id,
                org_id=fake.org_id,
                username=user.username,
            ).encode(),
        )

    def _soap_fault(self, code: str, message: str) -> None:
        self._send(
            500, "text/xml; charset=utf-8", _LOGIN_FAULT.format(code=code, message=message).encode()
        )

    def _jwt_login(self, body: bytes) -> None:
        fake = self.server.fake
        fake.login_hosts.append(self.headers.get("Host", ""))
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            self._json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
            return
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, options={"verify_signature": False})
            key = fake.jwt_apps.get(str(claims.get("iss")))
            if key is None:
                self._json(
                    400,
                    {
                        "error": "invalid_client_id",
                        "error_description": "client identifier invalid",
                    },
                )
                return
            claims = jwt.decode(
                assertion, key, algorithms=["RS256"], audience=_AUDIENCES, issuer=claims["iss"]
            )
        except jwt.PyJWTError:
            self._json(400, {"error": "invalid_grant", "error_description": "invalid assertion"})
            return
        user = fake.users.get(str(claims.get("sub")))
        if user is None or user.locked:
            self._json(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "user hasn't approved this consumer"
                    if user is None
                    else "authentication failure",
                },
            )
            return
        instance = f"https://{fake.instance_host}"
        self._json(
            200,
            {
                "access_token": fake.new_session_id(),
                "scope": "api",
                "instance_url": instance,
                "id": f"https://login.salesforce.com/id/{fake.org_id}/{user.user_id}",
                "token_type": "Bearer",
            },
        )

    # ------------------------------------------------------------------ REST
    def _rest(self, path: str, query: dict[str, list[str]], body: bytes) -> None:
        fake = self.server.fake
        prefix = f"/services/data/v{fake.api_version}/"
        fault = fake.next_fault()
        if fault == "reset":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault == "unavailable":
            self._json(503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "Service Unavailable"}])
            return
        if fault == "request_limit":
            self._json(
                403,
                [
                    {
                        "message": "TotalRequests Limit exceeded.",
                        "errorCode": "REQUEST_LIMIT_EXCEEDED",
                    }
                ],
            )
            return
        if fault == "invalid_session" or not fake.valid_session(self.headers.get("Authorization")):
            self._json(
                401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            )
            return
        if not path.startswith(prefix):
            self._json(
                404,
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            )
            return
        parts = [unquote(p) for p in path[len(prefix) :].strip("/").split("/")]
        try:
            self._resource(parts, query, body)
        except OrgError as exc:
            self._json(exc.status, exc.body())
        except Malformed as exc:
            self._json(400, [{"message": str(exc), "errorCode": exc.code}])

    def _resource(self, parts: list[str], query: dict[str, list[str]], body: bytes) -> None:
        fake, org = self.server.fake, self.server.fake.org
        text = query.get("q", [""])[0]
        if parts == ["search"] and self.command == "GET":
            fake.sosl.append(text)
            self._json(200, {"searchRecords": org.search(parse_sosl(text))})
        elif parts == ["query"] and self.command == "GET":
            fake.soql.append(text)
            records = org.select(parse_soql(text))
            self._json(200, {"totalSize": len(records), "done": True, "records": records})
        elif parts[0] == "sobjects" and len(parts) == 2 and self.command == "POST":
            record_id = org.create(parts[1], _json_body(body))
            self._json(201, {"id": record_id, "success": True, "errors": []})
        elif parts[0] == "sobjects" and len(parts) == 3 and self.command == "PATCH":
            org.update(parts[1], parts[2], _json_body(body))
            self._send(204, "application/json", b"")
        elif parts[0] == "sobjects" and len(parts) == 4 and self.command == "PATCH":
            record_id, created = org.upsert(parts[1], parts[2], parts[3], _json_body(body))
            self._json(
                201 if created else 200,
                {"id": record_id, "success": True, "errors": [], "created": created},
            )
        elif parts[0] == "sobjects" and len(parts) == 4 and self.command == "GET":
            self._json(200, org.by_external_id(parts[1], parts[2], parts[3]))
        else:
            self._json(
                404,
                [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}],
            )

    # ------------------------------------------------------------------ responses
    def _json(self, status: int, payload: object) -> None:
        self._send(status, "application/json;charset=UTF-8", json.dumps(payload).encode())

    def _send(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Sforce-Limit-Info", "api-usage=25/15000")
        self.end_headers()
        self.wfile.write(data)


def _accepted_passwords(user: LoginUser) -> set[str]:
    accepted = {user.password + (user.token or "")}
    if user.token is None:
        accepted.add(user.password)
    return accepted


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"{}")
    except ValueError as exc:
        raise OrgError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from exc
    if not isinstance(payload, dict):
        raise OrgError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    return payload


_LOGIN_RESPONSE = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\
<soapenv:Body><loginResponse><result>\
<metadataServerUrl>{metadata}</metadataServerUrl>\
<passwordExpired>false</passwordExpired><sandbox>false</sandbox>\
<serverUrl>{server}</serverUrl><sessionId>{session}</sessionId><userId>{user_id}</userId>\
<userInfo><organizationId>{org_id}</organizationId><userName>{username}</userName></userInfo>\
</result></loginResponse></soapenv:Body></soapenv:Envelope>"""

_LOGIN_FAULT = """<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\
<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode>\
<faultstring>{code}: {message}</faultstring><detail>\
<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>\
<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault>\
</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"""
