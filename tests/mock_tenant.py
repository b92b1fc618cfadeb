#!/usr/bin/python3
"""Mock Microsoft Entra External ID tenant for pam_extid tests and the demo.

Serves the native-authentication sign-in API (initiate, challenge, token, introspect: email OTP,
email + password, and a second factor by email or SMS code), OpenID discovery and a JWKS over HTTPS
on 127.0.0.1, answering as docs/entra-signin-flows.md describes Entra's.
The email's local part (before '@', any "+tag" ignored) selects a test scenario, see SCENARIOS.
A control API under /_mock/ lets tests read statistics, read the "sent" codes, reset, rotate keys,
inject failures and give one address's ID tokens extra claims (config "claims": {address: {"roles":
[...], "groups": [...]}}), as app role assignments and group memberships would.
As External ID does, the issuer names the host of the tenant's GUID
(https://{tenant-id}.ciamlogin.com/{tenant-id}/v2.0), not the authority's host; config
"jwks_host" moves jwks_uri to another loopback name (as a custom URL domain's keys stay on
ciamlogin.com).

Usage: mock_tenant.py --state-dir DIR [--client-id ID] [--tenant-id GUID] [--tenant-name NAME]
                      [--print-codes] [--public-port PORT]

DIR receives ca.crt, server.crt, server.key, other-ca.crt, signing-keys/ (kept across restarts so a
client's JWKS cache stays valid), outbox/<email> (latest code per address) and finally port.
Only Python's standard library, python3-cryptography and python3-jwt are used.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import re
import secrets
import select
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_CLIENT_ID = "00001111-aaaa-2222-bbbb-3333cccc4444"
DEFAULT_TENANT_ID = "11112222-bbbb-3333-cccc-4444dddd5555"
DEFAULT_TENANT_NAME = "mocktenant"
OTHER_TENANT_ID = "99998888-eeee-7777-ffff-666655554444"
OTHER_AUDIENCE = "55556666-dddd-7777-eeee-8888ffff9999"
GRAPH_AUDIENCE = "00000003-0000-0000-c000-000000000000"
OTHER_USER = "someone.else@example.com"
# Token variants about who may log in: the group every "badgroups" token holds beside a number.
MOCK_GROUP = "6a5b4c3d-2e1f-4a0b-9c8d-7e6f5a4b3c2d"

KID_1, KID_2, KID_UNKNOWN = "mock-key-1", "mock-key-2", "mock-key-9"
KID_APP = "mock-app-key"
LOCKED_TEXT = ("The account is locked, you've tried to sign in too many times with an incorrect "
               "user ID or password.")
ENDPOINTS = ("initiate", "challenge", "token", "introspect", "discovery", "jwks")
MAX_BODY = 1024 * 1024
HUGE_BODY = 2 * 1024 * 1024
TOKEN_LIFETIME = 3600

# Scenario keywords, by the endpoint where they act.
INITIATE_SCENARIOS = {"unknown", "redirect", "disabled", "servererror", "unavailable", "busy",
                      "badjson", "notjson", "hugebody"}
FLOW_SCENARIOS = {"password", "challengeredirect", "tokenredirect", "mfa", "expired", "slow",
                  "code6", "noconsent", "locked"}
# Accounts that sign in with a password (every password account has the one password of the
# config key "password"), and what second factor each then needs: None, a list of registered
# channels (Entra offers them through /introspect), or "register" (none registered yet).
PASSWORD_ACCOUNTS = {"password": None, "mfaemail": ["email"], "mfasms": ["sms"],
                     "mfaboth": ["email", "sms"], "mfareg": "register"}
# Email-OTP accounts that need a second factor: email cannot be the second factor of an account
# whose first factor is an emailed code, so theirs is SMS.
OTP_MFA_ACCOUNTS = {"mfa": ["sms"]}
FLOW_SCENARIOS |= set(PASSWORD_ACCOUNTS) | set(OTP_MFA_ACCOUNTS)
DEFAULT_PASSWORD = "Mock-tenant-passw0rd!"
TOKEN_VARIANTS = {"forged", "algnone", "hs256", "unknownkid", "appkey", "rotatedkid",
                  "expiredtoken", "future", "wrongaud", "wrongiss", "wrongtid", "otheruser",
                  "noidtoken", "noexp", "expstring", "multiaud", "otherazp", "otherprefname",
                  "expired2min", "overage", "hasgroups", "badroles", "badgroups"}
SCENARIOS = INITIATE_SCENARIOS | FLOW_SCENARIOS | TOKEN_VARIANTS

EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+=?^_`{|}~-]{1,64}@"
                      r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")

_log_lock = threading.Lock()


def log(msg):
    with _log_lock:
        sys.stderr.write("[mock tenant] %s\n" % msg)
        sys.stderr.flush()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_uint(value):
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def random_token(nbytes=48):
    return b64url(secrets.token_bytes(nbytes))


def write_atomic(path, data, mode=0o644):
    """Readers (shell scripts, the test harness) must never see a half-written file."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data if isinstance(data, bytes) else data.encode())
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def scenario_of(email):
    local = email.split("@", 1)[0].lower().split("+", 1)[0]
    return local if local in SCENARIOS else "normal"


def ciam_issuer(tenant_id):
    return "https://%s.ciamlogin.com/%s/v2.0" % (tenant_id, tenant_id)


def reserved_domain(email):
    """Addresses under the reserved .invalid domain (RFC 2606) can never be a tenant's users."""
    return email.rsplit("@", 1)[-1].lower().rstrip(".").endswith(".invalid")


def phone_of(email):
    """The mock's registered phone number for an address (a fictional 555-01xx number)."""
    digits = int(hashlib.sha256(email.lower().encode()).hexdigest()[:6], 16) % 100
    return "+1555010%02d42" % digits


def mask_phone(phone):
    return phone[:5] + "*" * (len(phone) - 7) + phone[-2:]


def method_id(email, channel):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "mfa/%s/%s" % (email.lower(), channel))).upper()


def mask_email(email):
    """Entra shows where the code went without revealing the address: a***e@e*****e.com."""
    local, _, domain = email.partition("@")
    labels = domain.split(".")

    def mask_label(label):
        return label if len(label) <= 2 else label[0] + "*" * (len(label) - 2) + label[-1]

    masked_local = local[0] + "***" + (local[-1] if len(local) > 1 else "")
    return masked_local + "@" + ".".join([mask_label(l) for l in labels[:-1]] + labels[-1:])


# --------------------------------------------------------------------------------------------
# Keys and certificates


class Pki:
    """TLS material (fresh each start, ECDSA so it is instant) and RSA signing keys (kept in
    DIR/signing-keys so restarts in the same directory serve the same JWKS)."""

    def __init__(self, state_dir):
        self.dir = state_dir
        self.ca_file = os.path.join(state_dir, "ca.crt")
        self.other_ca_file = os.path.join(state_dir, "other-ca.crt")
        self.cert_file = os.path.join(state_dir, "server.crt")
        self.key_file = os.path.join(state_dir, "server.key")
        self._make_tls()
        keys = self._signing_keys(["mock-key-1", "mock-key-2", "attacker"])
        self.key1, self.key2, self.attacker = keys

    @staticmethod
    def _name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def _make_ca(self, cn):
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (x509.CertificateBuilder()
                .subject_name(self._name(cn)).issuer_name(self._name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                             False, False), critical=True)
                .add_extension(ski, critical=False)
                .sign(key, hashes.SHA256()))
        return key, cert

    def _make_tls(self):
        ca_key, ca_cert = self._make_ca("pam_extid mock tenant test CA")
        _, other_cert = self._make_ca("pam_extid unrelated test CA")
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                           x509.DNSName("localhost")])
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
        cert = (x509.CertificateBuilder()
                .subject_name(self._name("localhost")).issuer_name(ca_cert.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=825))
                .add_extension(san, critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                             False, False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(aki, critical=False)
                .sign(ca_key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        write_atomic(self.ca_file, ca_cert.public_bytes(pem))
        write_atomic(self.other_ca_file, other_cert.public_bytes(pem))
        write_atomic(self.cert_file, cert.public_bytes(pem))
        write_atomic(self.key_file, key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()), 0o600)

    def _signing_keys(self, names):
        """Loads the keys kept from an earlier start; generates missing ones in parallel
        (OpenSSL releases the GIL), which keeps a cold start well under a second."""
        kdir = os.path.join(self.dir, "signing-keys")
        os.makedirs(kdir, mode=0o700, exist_ok=True)
        keys = {}

        def load_or_make(name):
            path = os.path.join(kdir, name + ".pem")
            try:
                with open(path, "rb") as f:
                    key = serialization.load_pem_private_key(f.read(), None)
                if isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048:
                    keys[name] = key
                    return
            except (OSError, ValueError):
                pass
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            write_atomic(path, key.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()), 0o600)
            keys[name] = key

        threads = [threading.Thread(target=load_or_make, args=(n,)) for n in names]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return [keys[n] for n in names]

    @staticmethod
    def jwk(key, kid):
        pub = key.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": kid, "n": b64url_uint(pub.n),
                "e": b64url_uint(pub.e)}

    def server_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def make_jwt(header, claims, signer):
    """Builds a compact JWS by hand so that broken variants (alg none, HS256 with a public key,
    a string exp) can be produced exactly."""
    h = b64url(json.dumps(header, separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing_input = ("%s.%s" % (h, p)).encode()
    return "%s.%s.%s" % (h, p, b64url(signer(signing_input)))


def rs256(key):
    return lambda data: key.sign(data, padding.PKCS1v15(), hashes.SHA256())


# --------------------------------------------------------------------------------------------
# State


class Flow:
    def __init__(self, email, client_id, challenge_types, capabilities):
        self.email = email
        self.scenario = scenario_of(email)
        self.client_id = client_id
        self.challenge_types = challenge_types
        self.capabilities = capabilities
        # initiated | code_sent | password | mfa | mfa_select | mfa_code_sent | done
        self.state = "initiated"
        self.method = None            # the second-factor channel of the code in flight
        self.token = None             # the only continuation token currently valid
        self.token_issued = 0.0
        self.code = None


class ConnRecord:
    __slots__ = ("idp", "control", "handshake", "closed")

    def __init__(self):
        self.idp = self.control = self.handshake = self.closed = False


def default_config(code_length):
    return {"slow_seconds": 3.0, "code_length": code_length, "fail_next": None,
            "password": DEFAULT_PASSWORD,
            "flow_ttl": 600.0, "interval": 300, "idle_timeout": 120.0,
            "handshake_timeout": 10.0, "drop_handshakes": 0, "jwks_gather": 0,
            "lockout_after": 0, "claims": {}, "email_claim": False, "jwks_host": None}


# How long a held key-set request waits for the others (below the module's 5 s test timeout).
JWKS_GATHER_TIMEOUT = 4.0


class State:
    """Everything mutable, behind one lock. Handlers run in parallel threads."""

    def __init__(self, outbox_dir, print_codes):
        self.lock = threading.Lock()
        # Key-set requests held until jwks_gather of them are in flight at once.
        self.jwks_gate = threading.Condition(self.lock)
        self.outbox_dir = outbox_dir
        self.print_codes = print_codes
        self.issued_all = {}  # the same since start: reset does not clear it
        self._clear()

    def _clear(self):
        self.config = default_config(8)
        self.conns = []
        self.requests = dict.fromkeys(ENDPOINTS, 0)
        self.requests_total = 0
        self.flows = {}
        self.outbox = {}
        self.wrong_codes = {}  # per address, for lockout_after
        self.token_scopes = []  # the scope of each /token that issued tokens
        self.rotated = False
        self.jwks_in_flight = 0
        # Every secret handed out since reset, for tests that prove none of them is ever logged.
        # "passwords" holds every password a client sent, right or wrong.
        self.issued = {"codes": [], "continuation_tokens": [], "access_tokens": [],
                       "refresh_tokens": [], "id_tokens": [], "passwords": []}
        os.makedirs(self.outbox_dir, mode=0o755, exist_ok=True)
        for name in os.listdir(self.outbox_dir):
            os.unlink(os.path.join(self.outbox_dir, name))

    def record(self, kind, secret):
        """Notes a secret handed out. Caller holds the lock."""
        self.issued[kind].append(secret)
        self.issued_all.setdefault(kind, []).append(secret)

    def reset(self):
        with self.lock:
            self._clear()

    def new_conn(self):
        rec = ConnRecord()
        with self.lock:
            self.conns.append(rec)
        return rec

    def stats(self):
        with self.lock:
            # Connections that carried only /_mock/ calls are the harness's own, not the client's.
            idp = [c for c in self.conns if c.idp or not c.control]
            return {"connections": len(idp),
                    "tls_handshakes": sum(1 for c in idp if c.handshake),
                    "closed": sum(1 for c in idp if c.closed),
                    "requests": dict(self.requests),
                    "requests_total": self.requests_total}

    def take_failure(self, endpoint):
        with self.lock:
            fail = self.config.get("fail_next")
            if not fail or fail["endpoint"] != endpoint:
                return None
            fail["count"] -= 1
            if fail["count"] <= 0:
                self.config["fail_next"] = None
            return dict(fail)

    def issue_token(self, flow, state):
        """Each step gets a fresh token; it replaces (invalidates) the flow's previous one."""
        tok = random_token()
        self.record("continuation_tokens", tok)
        self.flows.pop(flow.token, None)
        flow.token, flow.token_issued, flow.state = tok, time.time(), state
        self.flows[tok] = flow
        return tok

    def end_flow(self, flow):
        self.flows.pop(flow.token, None)
        flow.state, flow.token, flow.code = "done", None, None

    def lookup(self, token, states):
        """Returns (flow, None) or (None, "invalid"|"expired"). Caller holds the lock."""
        flow = self.flows.get(token or "")
        if flow is None or flow.token != token or flow.state not in states:
            return None, "invalid"
        if time.time() - flow.token_issued > self.config["flow_ttl"]:
            self.end_flow(flow)
            return None, "expired"
        return flow, None

    def deliver(self, email, code, channel="email"):
        """The mock's "email" (and text message): the latest code per address, whichever channel
        carried it, for the control API and scripts."""
        key = email.lower()
        entry = self.outbox.setdefault(key, {"code": None, "sent": 0})
        entry["code"] = code
        entry["sent"] += 1
        entry["channel"] = channel
        self.record("codes", code)
        write_atomic(os.path.join(self.outbox_dir, key), code + "\n", 0o644)
        if self.print_codes:
            log("%s to %s: your code is %s" % ("text message" if channel == "sms" else "email",
                                               email, code))


# --------------------------------------------------------------------------------------------
# HTTP


class ErrorReply(Exception):
    """An Entra-shaped error answer, raised from deep inside a handler."""

    def __init__(self, status, error, code, text, suberror=None, extra=None, headers=None):
        super().__init__(error)
        self.status, self.error, self.code, self.text = status, error, code, text
        self.suberror, self.extra, self.headers = suberror, extra or {}, headers or {}


def invalid_request(code, text):
    return ErrorReply(400, "invalid_request", code, text)


def missing_param(name):
    return invalid_request(900144, "The request body must contain the following parameter: "
                                   "'%s'." % name)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive; every answer carries Content-Length
    timeout = 120                     # idle keep-alive connections end eventually
    wbufsize = -1                     # headers and body leave in one flush per answer

    def version_string(self):
        return "mock-entra/1.0"

    # --- connection ---

    def setup(self):
        self.conn = self.server.state.new_conn()
        self.tls_ok = False
        # Without this, Nagle + delayed ACK add 40 ms to every keep-alive answer.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Lazy handshake here, in this connection's own thread: an idle client then cannot block
        # the accept loop.
        with self.server.state.lock:
            cfg = self.server.state.config
            handshake_timeout = cfg["handshake_timeout"]
            drop = cfg["drop_handshakes"] > 0
            if drop:
                cfg["drop_handshakes"] -= 1
        self.request.settimeout(handshake_timeout)
        if drop:
            # Wait for the client's hello, then hang up: a front end that lost the connection.
            select.select([self.request], [], [], handshake_timeout)
            log("TLS handshake from %s:%d dropped on request" % self.client_address[:2])
            self.tls_ok = False
            try:
                socket.socket.shutdown(self.request, socket.SHUT_RDWR)
            except OSError:
                pass
            return super().setup()
        try:
            self.request.do_handshake()
            self.tls_ok = True
            with self.server.state.lock:
                self.conn.handshake = True
        except (ssl.SSLError, OSError) as e:
            log("TLS handshake from %s:%d failed: %s" % (self.client_address[0],
                                                         self.client_address[1],
                                                         getattr(e, "reason", None) or e))
        super().setup()

    def handle(self):
        if self.tls_ok:
            super().handle()

    def finish(self):
        super().finish()
        # Closed here rather than a moment later by the server, so that "closed" in the
        # statistics means the client has been told: tests wait for it instead of sleeping.
        try:
            socket.socket.shutdown(self.request, socket.SHUT_RDWR)
        except OSError:
            pass
        with self.server.state.lock:
            self.conn.closed = True

    def handle_one_request(self):
        # An idle keep-alive connection is closed after idle_timeout, as real front ends do.
        with self.server.state.lock:
            idle = self.server.state.config["idle_timeout"]
        self.request.settimeout(idle)
        super().handle_one_request()

    def log_message(self, fmt, *args):
        # Only protocol-level errors reach this (send_error); normal requests log in send_raw.
        log(CONTROL_CHARS.sub("?", fmt % args)[:300])

    def log_request(self, code="-", size="-"):
        pass

    # --- dispatch ---

    def _dispatch(self):
        self.trace_id = str(uuid.uuid4())
        rid = self.headers.get("client-request-id", "")
        self.corr = rid if re.fullmatch(r"[A-Za-z0-9-]{1,64}", rid) else str(uuid.uuid4())
        self.path_only = urlsplit(self.path).path
        self.body = b""
        try:
            self._route()
        except ErrorReply as e:
            self._send_error(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            self.close_connection = True
        except Exception as e:  # a mock bug must show as one 500, not kill the connection silently
            log("internal error on %s: %r" % (self.path_only[:100], e))
            self._send_error(ErrorReply(500, "server_error", 50000,
                                        "There was an error issuing a token or an issue with "
                                        "our sign-in service."))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ErrorReply(411, "invalid_request", 900144, "A Content-Length is required.")
        try:
            n = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            n = -1
        if n < 0:
            self.close_connection = True
            raise invalid_request(900144, "Invalid Content-Length.")
        if n > MAX_BODY:
            self.close_connection = True
            raise ErrorReply(413, "invalid_request", 900144, "The request body is too large.")
        return self.rfile.read(n) if n else b""

    def _route(self):
        app, path = self.server.app, self.path_only
        control = path.startswith("/_mock/")
        with app.state.lock:
            if control:
                self.conn.control = True
            else:
                self.conn.idp = True
                app.state.requests_total += 1
        # Read the body before any answer, so that the keep-alive stream stays in step.
        self.body = self._read_body()
        if control:
            return app.control(self, path[len("/_mock/"):])
        for prefix in app.authority_paths:
            if path.startswith(prefix + "/"):
                rest = path[len(prefix):]
                if rest in ("/oauth2/v2.0/initiate", "/oauth2/v2.0/challenge",
                            "/oauth2/v2.0/token", "/oauth2/v2.0/introspect"):
                    return app.flow_endpoint(self, rest.rsplit("/", 1)[1])
                if rest == "/v2.0/.well-known/openid-configuration":
                    return app.discovery(self)
                if rest == "/discovery/v2.0/keys":
                    return app.jwks(self)
                raise ErrorReply(404, "not_found", 90001,
                                 "The endpoint %s does not exist." % rest[:100])
        # As Entra answers a tenant it does not know (body and status as seen from its
        # discovery endpoint; the native-auth endpoints are assumed to answer alike).
        tenant = CONTROL_CHARS.sub("", path.lstrip("/").split("/", 1)[0])[:64]
        raise ErrorReply(400, "invalid_tenant", 90002,
                         "Tenant '%s' not found. Check to make sure you have the correct tenant "
                         "ID and are signing into the correct cloud. Check with your "
                         "subscription administrator, this may happen if there are no active "
                         "subscriptions for the tenant." % tenant)

    # --- answers ---

    def require_method(self, allowed):
        if self.command != allowed:
            raise ErrorReply(405, "invalid_request", 900561,
                             "The endpoint only accepts %s requests. Received a %s request."
                             % (allowed, self.command), headers={"Allow": allowed})

    def form(self):
        ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise invalid_request(900144, "The request body must be "
                                          "application/x-www-form-urlencoded.")
        try:
            parsed = parse_qs(self.body.decode("utf-8"), keep_blank_values=True,
                              errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise invalid_request(900144, "The request body is not valid form data.")
        return {k: v[0] for k, v in parsed.items()}

    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        self.send_raw(status, body, "application/json; charset=utf-8", headers)

    def send_raw(self, status, body, ctype, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store, no-cache")
        self.send_header("x-ms-request-id", self.trace_id)
        if self.headers.get("return-client-request-id", "").strip().lower() == "true":
            self.send_header("client-request-id", self.corr)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        log("%s %s %d" % (self.command, CONTROL_CHARS.sub("?", self.path_only)[:200], status))

    def _send_error(self, e):
        ts = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        # Real descriptions carry trace lines after CR LF; clients must strip control characters.
        desc = "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (
            e.code, e.text, self.trace_id, self.corr, ts)
        body = {"error": e.error, "error_description": desc, "error_codes": [e.code],
                "timestamp": ts, "trace_id": self.trace_id, "correlation_id": self.corr}
        if e.suberror:
            body["suberror"] = e.suberror
        body.update(e.extra)
        self.send_json(e.status, body, e.headers)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 64

    def server_bind(self):
        # HTTPServer.server_bind would do a reverse DNS lookup; not wanted for loopback.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        log("connection from %s: %r" % (client_address[0], sys.exc_info()[1]))


# --------------------------------------------------------------------------------------------
# The tenant


class App:
    def __init__(self, args, pki, state, port):
        self.client_id, self.tenant_id, self.tenant_name = args.client_id, args.tenant_id, \
            args.tenant_name
        self.pki, self.state, self.port = pki, state, port
        # Behind a proxy (the benchmark's latency proxy) every URL the tenant publishes must name
        # the proxy, or the client would reach the JWKS around it.
        self.base = "https://127.0.0.1:%d" % (args.public_port or port)
        self.domain = "%s.onmicrosoft.com" % self.tenant_name
        self.authority = "%s/%s" % (self.base, self.domain)
        # External ID names its issuer on the host of the tenant's GUID, whatever the authority's
        # host (a tenant name or a custom URL domain); it is only ever compared, never fetched.
        self.issuer = ciam_issuer(self.tenant_id)
        self.jwks_uri = "%s/%s/discovery/v2.0/keys" % (self.base, self.tenant_id)
        self.public_port = args.public_port or port
        # The API answers under the tenant's domain and under its GUID, as Entra does.
        self.authority_paths = ("/" + self.domain, "/" + self.tenant_id)

    def info(self):
        return {"port": self.port, "authority": self.authority, "issuer": self.issuer,
                "jwks_uri": self.jwks_uri, "client_id": self.client_id,
                "tenant_id": self.tenant_id, "tenant_name": self.tenant_name,
                "ca_file": self.pki.ca_file, "other_ca_file": self.pki.other_ca_file,
                "state_dir": self.pki.dir, "password": DEFAULT_PASSWORD}

    def count(self, endpoint):
        with self.state.lock:
            self.state.requests[endpoint] += 1

    def injected_failure(self, h, endpoint):
        fail = self.state.take_failure(endpoint)
        if not fail:
            return False
        if fail.get("drop"):
            # An abrupt close (RST, no answer): the client must fail the login, not die of
            # SIGPIPE or hang.
            h.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            socket.socket.close(h.request)
            raise ConnectionResetError("connection dropped (injected by the mock)")
        status = fail["status"]
        headers = {}
        if fail.get("retry_after") is not None:
            headers["Retry-After"] = str(fail["retry_after"])
        if fail.get("body") is not None:
            h.send_raw(status, fail["body"].encode(), fail.get("content_type") or "text/plain",
                       headers)
            return True
        if status == 429:
            headers.setdefault("Retry-After", "30")
            raise ErrorReply(429, "temporarily_unavailable", 90055,
                             "Too many requests (injected by the mock).", headers=headers)
        if status == 503:
            raise ErrorReply(503, "temporarily_unavailable", 90033,
                             "A transient error has occurred (injected by the mock).",
                             headers=headers)
        if status >= 500:
            raise ErrorReply(status, "server_error", 50000,
                             "There was an error issuing a token (injected by the mock).",
                             headers=headers)
        raise ErrorReply(status, "invalid_request", 90014,
                         "The request failed (injected by the mock).", headers=headers)

    # --- discovery ---

    def discovery(self, h):
        self.count("discovery")
        h.require_method("GET")
        if self.injected_failure(h, "discovery"):
            return
        a = self.authority
        with self.state.lock:
            jwks_host = self.state.config["jwks_host"]
        jwks_uri = self.jwks_uri
        if jwks_host:
            # The key set on another host than the authority, as with a custom URL domain whose
            # keys stay on ciamlogin.com: a client must follow jwks_uri wherever it points.
            jwks_uri = "https://%s:%d/%s/discovery/v2.0/keys" % (jwks_host, self.public_port,
                                                                 self.tenant_id)
        appid = self.appid_of(h)
        if appid:
            # An app with a claims-mapping policy and its own signing key: its discovery document
            # names a key set that holds that key.
            jwks_uri += "?appid=" + appid
        h.send_json(200, {
            "token_endpoint": a + "/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt",
                                                      "client_secret_basic"],
            "jwks_uri": jwks_uri,
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self.issuer,
            "request_uri_parameter_supported": False,
            "authorization_endpoint": a + "/oauth2/v2.0/authorize",
            "end_session_endpoint": a + "/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "ver",
                                 "name", "preferred_username", "email"],
            "tenant_region_scope": "EU",
        })

    def jwks(self, h):
        self.count("jwks")
        h.require_method("GET")
        if self.injected_failure(h, "jwks"):
            return
        with self.state.lock:
            self.gather_jwks()
            rotated = self.state.rotated
        keys = [Pki.jwk(self.pki.key1, KID_1)]
        if rotated:
            keys.append(Pki.jwk(self.pki.key2, KID_2))
        if self.appid_of(h):
            # The app's own key (the rotation key under another kid, to keep start-up quick).
            keys.append(Pki.jwk(self.pki.key2, KID_APP))
        h.send_json(200, {"keys": keys})

    def appid_of(self, h):
        """The appid query of a discovery or key-set request: this app's id, or an error."""
        query = parse_qs(urlsplit(h.path).query)
        if "appid" not in query:
            return None
        appid = query["appid"][0]
        if appid != self.client_id:
            raise ErrorReply(400, "invalid_request", 700016,
                             "Application with identifier '%s' was not found in the directory "
                             "'%s'." % (CONTROL_CHARS.sub("", appid)[:64], self.domain))
        return appid

    def gather_jwks(self):
        """With jwks_gather = n, no key set is served before n requests for it have arrived
        (or JWKS_GATHER_TIMEOUT passed): concurrent refreshes then really overlap, whatever the
        scheduler does. Caller holds the lock."""
        want = self.state.config["jwks_gather"]
        self.state.jwks_in_flight += 1
        self.state.jwks_gate.notify_all()
        if want > 1:
            self.state.jwks_gate.wait_for(lambda: self.state.jwks_in_flight >= want,
                                          timeout=JWKS_GATHER_TIMEOUT)

    # --- native authentication ---

    def flow_endpoint(self, h, endpoint):
        self.count(endpoint)
        h.require_method("POST")
        form = h.form()
        cid = form.get("client_id", "")
        if not cid:
            raise missing_param("client_id")
        if cid != self.client_id:
            raise ErrorReply(400, "unauthorized_client", 700016,
                             "Application with identifier '%s' was not found in the directory "
                             "'%s'." % (CONTROL_CHARS.sub("", cid)[:64], self.domain))
        if self.injected_failure(h, endpoint):
            return
        status, body, ctype, headers, slow = getattr(self, endpoint)(form)
        if slow:
            with self.state.lock:
                delay = self.state.config["slow_seconds"]
            time.sleep(delay)
        if isinstance(body, bytes):
            h.send_raw(status, body, ctype, headers)
        else:
            h.send_json(status, body, headers)

    @staticmethod
    def redirect(reason):
        return {"challenge_type": "redirect", "redirect_reason": reason}

    def initiate(self, form):
        types = form.get("challenge_type", "").split()
        if "redirect" not in types:
            raise invalid_request(901007, "The challenge_type list parameter contains an "
                                          "unsupported challenge type or is missing 'redirect'.")
        email = form.get("username", "")
        if len(email) > 254 or not EMAIL_RE.match(email):
            raise invalid_request(90100, "username parameter is empty or not valid.")
        scenario = scenario_of(email)
        if scenario == "unknown" or reserved_domain(email):
            raise ErrorReply(400, "user_not_found", 50034,
                             "The user account {EmailHidden} does not exist in the %s directory."
                             % self.domain)
        if scenario == "disabled":
            raise ErrorReply(400, "invalid_client", 550026, "Native authentication is not "
                             "enabled for this application.", suberror="nativeauthapi_disabled")
        if scenario == "unavailable":
            raise ErrorReply(503, "temporarily_unavailable", 90033,
                             "A transient error has occurred. Please try again.")
        if scenario == "busy":
            raise ErrorReply(429, "temporarily_unavailable", 90055,
                             "There are too many incoming requests. Please try again later.",
                             headers={"Retry-After": "30"})
        if scenario == "servererror":
            html = b"<html><head><title>500</title></head><body><h1>Internal Server Error</h1>" \
                   b"</body></html>"
            return 500, html, "text/html; charset=utf-8", None, False
        if scenario == "notjson":
            html = b"<html><body><p>Sign in to your account</p></body></html>"
            return 200, html, "text/html; charset=utf-8", None, False
        if scenario == "redirect":
            return 200, self.redirect("The user must sign in with a browser."), None, None, False
        # The reference spells it "capability" and separates values with commas; the SDKs send
        # "capabilities", space-separated. Either form is taken.
        caps = form.get("capabilities", form.get("capability", ""))
        caps = set(caps.replace(",", " ").split())
        if caps - {"mfa_required", "registration_required"}:
            raise invalid_request(90100, "capabilities parameter contains an unsupported value.")
        with self.state.lock:
            flow = Flow(email, form["client_id"], set(types), caps)
            tok = self.state.issue_token(flow, "initiated")
        if scenario == "badjson":
            body = json.dumps({"continuation_token": tok}).encode()
            return 200, body[:len(body) // 2], "application/json; charset=utf-8", None, False
        if scenario == "hugebody":
            head = json.dumps({"continuation_token": tok, "padding": ""}).encode()
            pad = b"x" * (HUGE_BODY - len(head))
            return 200, head[:-2] + pad + b'"}', "application/json; charset=utf-8", None, False
        return 200, {"continuation_token": tok}, None, None, scenario == "slow"

    def challenge(self, form):
        given = form.get("challenge_type")
        if given is not None and "redirect" not in given.split():
            raise invalid_request(901007, "The challenge_type list parameter contains an "
                                          "unsupported challenge type or is missing 'redirect'.")
        tok = form.get("continuation_token", "")
        if not tok:
            raise missing_param("continuation_token")
        with self.state.lock:
            flow, why = self.state.lookup(tok, ("initiated", "code_sent", "mfa", "mfa_select",
                                                "mfa_code_sent"))
            if why == "expired":
                raise ErrorReply(400, "expired_token", 55112, "The continuation_token is expired.")
            if flow is None:
                raise ErrorReply(400, "invalid_grant", 55200, "The continuation token is invalid "
                                 "or was already used.")
            slow = flow.scenario == "slow"
            if flow.state.startswith("mfa"):
                return self.mfa_challenge(flow, form.get("id"))
            if given is not None:
                flow.challenge_types = set(given.split())
            if flow.scenario == "challengeredirect":
                self.state.end_flow(flow)
                return 200, self.redirect("The tenant requires a browser for this user."), \
                    None, None, slow
            if flow.scenario in PASSWORD_ACCOUNTS:
                if "password" not in flow.challenge_types:
                    # A password account and a client that cannot ask for one: web fallback.
                    self.state.end_flow(flow)
                    return 200, self.redirect("The user signs in with a password, which the "
                                              "client does not support."), None, None, slow
                new = self.state.issue_token(flow, "password")
                return 200, {"continuation_token": new, "challenge_type": "password"}, None, \
                    None, slow
            if "oob" not in flow.challenge_types:
                self.state.end_flow(flow)
                return 200, self.redirect("The client does not support the user's "
                                          "authentication method (oob)."), None, None, slow
            length = 6 if flow.scenario == "code6" else self.state.config["code_length"]
            return self.send_code(flow, "email", length, "code_sent")

    def send_code(self, flow, channel, length, state):
        """Sends a fresh code over channel and answers the oob challenge. Caller holds the
        lock."""
        code = flow.code
        while code == flow.code:  # a resend always changes the code
            code = "".join(secrets.choice("0123456789") for _ in range(length))
        flow.code, flow.method = code, channel
        new = self.state.issue_token(flow, state)
        self.state.deliver(flow.email, code, channel)
        target = mask_phone(phone_of(flow.email)) if channel == "sms" else mask_email(flow.email)
        return 200, {"continuation_token": new, "challenge_type": "oob",
                     "binding_method": "prompt", "challenge_channel": channel,
                     "challenge_target_label": target, "code_length": length,
                     "interval": self.state.config["interval"]}, None, None, \
            flow.scenario == "slow"

    def second_factors(self, flow):
        return PASSWORD_ACCOUNTS.get(flow.scenario) or OTP_MFA_ACCOUNTS.get(flow.scenario)

    def mfa_challenge(self, flow, mid):
        """/challenge during the second factor: with id, that method; without, Entra's default
        (the first registered). Sending again is the resend. Caller holds the lock."""
        channels = self.second_factors(flow)
        if mid is None:
            channel = flow.method or channels[0]
        else:
            known = {method_id(flow.email, c): c for c in channels}
            channel = known.get(mid)
            if channel is None:
                raise invalid_request(90100, "id parameter is empty or not valid.")
        return self.send_code(flow, channel, self.state.config["code_length"], "mfa_code_sent")

    def introspect(self, form):
        tok = form.get("continuation_token", "")
        if not tok:
            raise missing_param("continuation_token")
        with self.state.lock:
            flow, why = self.state.lookup(tok, ("mfa", "mfa_select", "mfa_code_sent"))
            if why == "expired":
                raise ErrorReply(400, "expired_token", 55112, "The continuation_token is expired.")
            if flow is None:
                raise invalid_request(55000, "The continuation token is invalid or was already "
                                             "used.")
            methods = []
            for channel in self.second_factors(flow):
                hint = mask_phone(phone_of(flow.email)) if channel == "sms" \
                    else mask_email(flow.email)
                methods.append({"id": method_id(flow.email, channel), "challenge_type": "oob",
                                "challenge_channel": channel, "login_hint": hint})
            new = self.state.issue_token(flow, "mfa_select")
        return 200, {"continuation_token": new, "methods": methods}, None, None, False

    def strong_auth(self, flow):
        """After the first factor: the answer an account that needs more gets, or None when the
        first factor was enough. Caller holds the lock."""
        need = PASSWORD_ACCOUNTS.get(flow.scenario) or OTP_MFA_ACCOUNTS.get(flow.scenario)
        if need is None:
            return None
        if need == "register":
            if "registration_required" not in flow.capabilities:
                self.state.end_flow(flow)
                return 200, self.redirect("Client is missing registration_required capability"), \
                    None, None, False
            new = self.state.issue_token(flow, "register")
            raise ErrorReply(400, "invalid_grant", 50079, "Due to a configuration change made by "
                             "your administrator, or because you moved to a new location, you "
                             "must enroll in multi-factor authentication.",
                             suberror="registration_required", extra={"continuation_token": new})
        if "mfa_required" not in flow.capabilities:
            self.state.end_flow(flow)
            return 200, self.redirect("Client is not capable: missing mfa_required capability"), \
                None, None, False
        new = self.state.issue_token(flow, "mfa")
        raise ErrorReply(400, "invalid_grant", 50076, "Due to a configuration change made by "
                         "your administrator, or because you moved to a new location, you must "
                         "use multi-factor authentication.", suberror="mfa_required",
                         extra={"continuation_token": new})

    def token(self, form):
        grant = form.get("grant_type", "")
        if not grant:
            raise missing_param("grant_type")
        # Each grant continues the flow only at its own step.
        steps = {"oob": ("code_sent",), "password": ("password",), "mfa_oob": ("mfa_code_sent",)}
        if grant not in steps:
            raise ErrorReply(400, "unsupported_grant_type", 70003,
                             "The app requested an unsupported grant type '%s'."
                             % CONTROL_CHARS.sub("", grant)[:40])
        tok = form.get("continuation_token", "")
        if not tok:
            raise missing_param("continuation_token")
        if "openid" not in form.get("scope", "").split():
            raise ErrorReply(400, "invalid_scope", 70011, "The provided value for the input "
                             "parameter 'scope' is not valid: it must contain 'openid'.")
        code = form.get("oob", "")
        with self.state.lock:
            if grant == "password" and "password" in form:
                self.state.record("passwords", form["password"])
            flow, why = self.state.lookup(tok, steps[grant])
            if why == "expired":
                raise ErrorReply(400, "expired_token", 55112, "The continuation_token is expired.")
            if flow is None:
                raise invalid_request(55000, "The continuation token is invalid or was already "
                                             "used.")
            scenario = flow.scenario
            slow = scenario == "slow"
            if scenario == "expired":
                self.state.end_flow(flow)
                raise ErrorReply(400, "expired_token", 55112, "The continuation_token is expired.")
            if scenario == "tokenredirect":
                self.state.end_flow(flow)
                return 200, self.redirect("Client is missing registration_required capability"), \
                    None, None, slow
            address = flow.email.lower()
            limit = self.state.config["lockout_after"]
            if scenario == "locked" or (limit and self.state.wrong_codes.get(address, 0) >= limit):
                raise ErrorReply(400, "invalid_grant", 50053, LOCKED_TEXT)
            if grant == "password":
                password = form.get("password", "")
                if not password:
                    raise missing_param("password")
                right = self.state.config["password"]
                if not hmac.compare_digest(password.encode(), right.encode()):
                    # As for a wrong code, the flow stays where it was: the same continuation
                    # token may try again.
                    self.state.wrong_codes[address] = self.state.wrong_codes.get(address, 0) + 1
                    raise ErrorReply(400, "invalid_grant", 50126, "Error validating credentials "
                                     "due to invalid username or password.")
            else:
                if not code:
                    raise missing_param("oob")
                if not hmac.compare_digest(code.encode(), flow.code.encode()):
                    # The flow stays at the code step: the same continuation token may try again.
                    self.state.wrong_codes[address] = self.state.wrong_codes.get(address, 0) + 1
                    raise ErrorReply(400, "invalid_grant", 50181, "Unable to validate the otp.",
                                     suberror="invalid_oob_value")
            if scenario == "noconsent":
                # No admin consent for the delegated permissions: nobody can consent during a
                # native-auth login, so the grant fails for everyone.
                self.state.end_flow(flow)
                raise ErrorReply(400, "invalid_grant", 65001,
                                 "The user or administrator has not consented to use the "
                                 "application with ID '%s' named 'pam_extid'. Send an interactive "
                                 "authorization request for this user and resource."
                                 % flow.client_id)
            if grant != "mfa_oob":
                more = self.strong_auth(flow)
                if more is not None:
                    return more
            email, client_id = flow.email, flow.client_id
            self.state.end_flow(flow)
            rotated = self.state.rotated
            self.state.token_scopes.append(form.get("scope", ""))
        scopes = form.get("scope", "").split()
        return (200, self.token_response(email, client_id, scenario, rotated, scopes), None, None,
                slow)

    def token_response(self, email, client_id, variant, rotated, scopes):
        now = int(time.time())
        oid = str(uuid.uuid5(uuid.NAMESPACE_URL, "%s/%s" % (self.tenant_id, email.lower())))
        sub = b64url(hashlib.sha256(("%s:%s" % (client_id, oid)).encode()).digest())[:43]
        name = email.split("@", 1)[0].split("+", 1)[0].replace(".", " ").title()
        claims = {"aud": client_id, "iss": self.issuer, "iat": now, "nbf": now,
                  "exp": now + TOKEN_LIFETIME, "name": name, "oid": oid,
                  "preferred_username": email, "sub": sub,
                  "tid": self.tenant_id, "uti": random_token(16), "ver": "2.0"}
        if "profile" not in scopes:
            # Entra's ID-token reference: preferred_username needs the profile scope.
            del claims["preferred_username"]
        with self.state.lock:
            optional_email = self.state.config["email_claim"]
            extra = json.loads(json.dumps(self.state.config["claims"].get(email.lower(), {})))
        if "email" in scopes or optional_email:
            # The email claim comes with the email scope, or as an optional claim configured in
            # the app registration (config key email_claim); otherwise Entra leaves it out.
            claims["email"] = email
        # Per-address claims set through the control API (roles, groups, ...): what the
        # tenant's app role assignments and group memberships would put in the token.
        claims.update(extra)
        key, kid = (self.pki.key2, KID_2) if rotated else (self.pki.key1, KID_1)
        header = {"alg": "RS256", "kid": kid, "typ": "JWT"}
        signer = rs256(key)
        if variant == "forged":
            header["kid"], signer = KID_1, rs256(self.pki.attacker)
        elif variant == "algnone":
            header, signer = {"alg": "none", "kid": KID_1, "typ": "JWT"}, lambda d: b""
        elif variant == "hs256":
            # Key confusion: HMAC keyed with the published public key, as an attacker could.
            secret = self.pki.key1.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            header = {"alg": "HS256", "kid": KID_1, "typ": "JWT"}
            signer = lambda d: hmac.new(secret, d, hashlib.sha256).digest()
        elif variant == "appkey":  # the app's own key, published only with ?appid=
            header["kid"], signer = KID_APP, rs256(self.pki.key2)
        elif variant == "unknownkid":
            header["kid"], signer = KID_UNKNOWN, rs256(self.pki.attacker)
        elif variant == "rotatedkid":
            header["kid"], signer = KID_2, rs256(self.pki.key2)
        elif variant == "expiredtoken":
            claims.update(iat=now - 7200, nbf=now - 7200, exp=now - 3600)
        elif variant == "future":
            claims.update(iat=now + 3600, nbf=now + 3600, exp=now + 3600 + TOKEN_LIFETIME)
        elif variant == "wrongaud":
            claims["aud"] = OTHER_AUDIENCE
        elif variant == "multiaud":  # ours among others, and no azp to say whose it is
            claims["aud"] = [OTHER_AUDIENCE, client_id]
        elif variant == "otherazp":  # for us, but obtained by another app
            claims["azp"] = OTHER_AUDIENCE
        elif variant == "wrongiss":
            claims["iss"] = ciam_issuer(OTHER_TENANT_ID)
        elif variant == "wrongtid":
            claims["tid"] = OTHER_TENANT_ID
        elif variant == "otheruser":
            claims["preferred_username"] = OTHER_USER
            if "email" in claims:
                claims["email"] = OTHER_USER
        elif variant == "otherprefname":  # email is the address, preferred_username is not
            claims["preferred_username"] = OTHER_USER
        elif variant == "expired2min":  # inside the default clock_skew (300 s), not inside 60
            claims.update(iat=now - 3720, nbf=now - 3720, exp=now - 120)
        elif variant == "overage":  # too many groups: Entra points at Graph instead
            claims["_claim_names"] = {"groups": "src1"}
            claims["_claim_sources"] = {"src1": {
                "endpoint": "https://graph.microsoft.com/v1.0/users/%s/getMemberObjects" % oid}}
        elif variant == "hasgroups":  # the implicit-flow form of overage
            claims["hasgroups"] = True
        elif variant == "badroles":  # one role as a bare string, not an array
            claims["roles"] = "Linux.Ops"
        elif variant == "badgroups":  # an array that holds a number beside the object id
            claims["groups"] = [MOCK_GROUP, 5]
        elif variant == "noexp":
            del claims["exp"]
        elif variant == "expstring":
            claims["exp"] = str(claims["exp"])
        access = make_jwt({"alg": "RS256", "kid": kid, "typ": "JWT"},
                          {"aud": GRAPH_AUDIENCE, "iss": self.issuer, "iat": now, "nbf": now,
                           "exp": now + TOKEN_LIFETIME, "oid": oid, "tid": self.tenant_id,
                           "scp": "openid profile", "sub": sub}, rs256(key))
        resp = {"token_type": "Bearer", "scope": "openid profile", "expires_in": TOKEN_LIFETIME,
                "ext_expires_in": TOKEN_LIFETIME, "access_token": access,
                "refresh_token": random_token(64),
                "id_token": make_jwt(header, claims, signer),
                "client_info": b64url(json.dumps({"uid": oid, "utid": self.tenant_id}).encode())}
        with self.state.lock:
            self.state.record("access_tokens", access)
            self.state.record("refresh_tokens", resp["refresh_token"])
            self.state.record("id_tokens", resp["id_token"])
        if variant == "noidtoken":
            del resp["id_token"]
        return resp

    # --- control API ---

    def control(self, h, op):
        if op == "stats":
            h.require_method("GET")
            return h.send_json(200, self.state.stats())
        if op == "info":
            h.require_method("GET")
            return h.send_json(200, self.info())
        if op == "scopes":
            h.require_method("GET")
            with self.state.lock:
                return h.send_json(200, {"token_scopes": list(self.state.token_scopes)})
        if op == "issued":
            h.require_method("GET")
            everything = parse_qs(urlsplit(h.path).query).get("all", [""])[0] == "1"
            with self.state.lock:
                issued = self.state.issued_all if everything else self.state.issued
                return h.send_json(200, json.loads(json.dumps(issued)))
        if op == "outbox":
            h.require_method("GET")
            query = parse_qs(urlsplit(h.path).query)
            email = query.get("email", [""])[0]
            if not email:
                raise ErrorReply(400, "invalid_request", 900144, "The query must contain email.")
            with self.state.lock:
                entry = self.state.outbox.get(email.lower())
                entry = dict(entry) if entry else None
            if not entry:
                raise ErrorReply(404, "not_found", 90001, "No code was sent to this address.")
            return h.send_json(200, {"email": email, "code": entry["code"],
                                     "sent": entry["sent"], "channel": entry["channel"]})
        if op in ("reset", "rotate", "config"):
            if op == "config" and h.command == "GET":
                with self.state.lock:
                    return h.send_json(200, json.loads(json.dumps(self.state.config)))
            h.require_method("POST")
            obj = self.control_json(h, required=(op == "config"))
            if op == "reset":
                self.state.reset()
                log("state reset")
                return h.send_json(200, {"reset": True})
            if op == "rotate":
                with self.state.lock:
                    self.state.rotated = True
                log("signing key rotated to %s" % KID_2)
                return h.send_json(200, {"rotated": True, "kid": KID_2})
            return h.send_json(200, self.apply_config(obj))
        raise ErrorReply(404, "not_found", 90001, "Unknown control operation.")

    @staticmethod
    def control_json(h, required):
        if not h.body.strip():
            if required:
                raise ErrorReply(400, "invalid_request", 900144, "A JSON object is required.")
            return {}
        ctype = h.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            raise ErrorReply(415, "invalid_request", 900144,
                             "Control calls take application/json.")
        try:
            obj = json.loads(h.body)
        except ValueError:
            raise ErrorReply(400, "invalid_request", 900144, "The body is not valid JSON.")
        if not isinstance(obj, dict):
            raise ErrorReply(400, "invalid_request", 900144, "The body must be a JSON object.")
        return obj

    def apply_config(self, obj):
        def bad(msg):
            return ErrorReply(400, "invalid_request", 900144, "config: " + msg)

        def number(v, lo, hi, integer=False):
            ok = isinstance(v, int) if integer else isinstance(v, (int, float))
            return ok and not isinstance(v, bool) and lo <= v <= hi

        new = {}
        for k, v in obj.items():
            if k == "slow_seconds" and number(v, 0, 600):
                new[k] = float(v)
            elif k in ("idle_timeout", "handshake_timeout") and number(v, 0.05, 3600):
                new[k] = float(v)
            elif k == "drop_handshakes" and number(v, 0, 100, integer=True):
                new[k] = v
            elif k == "jwks_gather" and number(v, 0, 64, integer=True):
                new[k] = v
            elif k == "flow_ttl" and number(v, 0, 86400):
                new[k] = float(v)
            elif k == "code_length" and number(v, 1, 32, integer=True):
                new[k] = v
            elif k == "interval" and number(v, 0, 86400, integer=True):
                new[k] = v
            elif k == "password" and isinstance(v, str) and v and not CONTROL_CHARS.search(v):
                new[k] = v
            elif k == "lockout_after" and number(v, 0, 1000, integer=True):
                new[k] = v
            elif k == "claims" and isinstance(v, dict) and all(
                    isinstance(e, str) and isinstance(c, dict) for e, c in v.items()):
                new[k] = {e.lower(): c for e, c in v.items()}
            elif k == "email_claim" and isinstance(v, bool):
                new[k] = v
            elif k == "jwks_host" and v in (None, "localhost", "127.0.0.1"):
                new[k] = v
            elif k == "fail_next" and v is None:
                new[k] = None
            elif k == "fail_next" and isinstance(v, dict):
                if v.get("endpoint") not in ENDPOINTS:
                    raise bad("fail_next.endpoint must be one of %s" % ", ".join(ENDPOINTS))
                if not number(v.get("status"), 100, 599, integer=True):
                    raise bad("fail_next.status must be an HTTP status")
                unknown = set(v) - {"endpoint", "status", "count", "retry_after", "body",
                                    "content_type", "drop"}
                if unknown:
                    raise bad("fail_next: unknown keys %s" % sorted(unknown))
                count = v.get("count", 1)
                if not number(count, 1, 1000, integer=True):
                    raise bad("fail_next.count must be a positive integer")
                new[k] = dict(v, count=count)
            else:
                raise bad("unknown key or bad value for %r" % k)
        with self.state.lock:
            self.state.config.update(new)
            if "jwks_gather" in new:
                self.state.jwks_in_flight = 0  # counts from now on
            return json.loads(json.dumps(self.state.config))


# --------------------------------------------------------------------------------------------


def parse_args(argv):
    p = argparse.ArgumentParser(description="Mock Entra External ID tenant (HTTPS, 127.0.0.1).")
    p.add_argument("--state-dir", required=True)
    p.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    p.add_argument("--tenant-id", default=DEFAULT_TENANT_ID)
    p.add_argument("--tenant-name", default=DEFAULT_TENANT_NAME)
    p.add_argument("--print-codes", action="store_true",
                   help="print each emailed code to stderr (demo)")
    p.add_argument("--public-port", type=int, default=None,
                   help="port to put in published URLs (authority, issuer, jwks_uri) when "
                        "clients reach the tenant through a proxy")
    args = p.parse_args(argv)
    if args.public_port is not None and not 0 < args.public_port < 65536:
        p.error("--public-port must be a TCP port")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,62}", args.tenant_name):
        p.error("--tenant-name must be a lower-case DNS label")
    try:
        uuid.UUID(args.tenant_id)
    except ValueError:
        p.error("--tenant-id must be a GUID")
    if not args.client_id or CONTROL_CHARS.search(args.client_id):
        p.error("--client-id must be a printable string")
    return args


def main(argv=None):
    args = parse_args(argv)
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    port_file = os.path.join(state_dir, "port")
    try:
        os.unlink(port_file)  # a stale port must never be mistaken for this run's
    except FileNotFoundError:
        pass

    pki = Pki(state_dir)
    state = State(os.path.join(state_dir, "outbox"), args.print_codes)
    srv = Server(("127.0.0.1", 0), Handler)
    srv.socket = pki.server_context().wrap_socket(srv.socket, server_side=True,
                                                  do_handshake_on_connect=False)
    port = srv.server_address[1]
    srv.state = state
    srv.app = App(args, pki, state, port)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    worker = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    worker.start()
    write_atomic(port_file, "%d\n" % port)
    log("listening on %s (authority %s, client id %s)" % (srv.app.base, srv.app.authority,
                                                          args.client_id))
    while not stop.wait(0.5):
        pass
    srv.shutdown()
    srv.server_close()
    try:
        os.unlink(port_file)
    except FileNotFoundError:
        pass
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
