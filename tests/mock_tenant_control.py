"""Start, stop and query the mock Entra tenant (tests/mock_tenant.py) from tests and the demo.

    with MockTenant(state_dir) as t:          # or: t = MockTenant().start(state_dir) ... t.stop()
        t.authority, t.issuer, t.ca_file, t.client_id, t.tenant_id
        t.outbox("alice@example.com")         # latest code sent to that address, or None
        t.stats(); t.reset(); t.rotate(); t.config(slow_seconds=0.2)

Control calls go over HTTPS to /_mock/ and trust only the mock's own test CA.
"""

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
MOCK = os.path.join(HERE, "mock_tenant.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class MockTenantError(RuntimeError):
    pass


class MockTenant:
    def __init__(self, state_dir=None, print_codes=False, extra_args=()):
        self.state_dir = state_dir
        self.print_codes = print_codes
        self.extra_args = tuple(extra_args)
        self.proc = None
        self.log_path = None
        self._log = None
        self.port = None

    # --- lifecycle ---

    def start(self, state_dir=None, print_codes=None, extra_args=None):
        """Launches the server and waits until it serves; returns self."""
        if self.proc is not None:
            raise MockTenantError("mock tenant already started")
        if state_dir is not None:
            self.state_dir = state_dir
        if print_codes is not None:
            self.print_codes = print_codes
        if extra_args is not None:
            self.extra_args = tuple(extra_args)
        if not self.state_dir:
            raise MockTenantError("a state directory is required")
        self.state_dir = os.path.abspath(str(self.state_dir))
        os.makedirs(self.state_dir, exist_ok=True)
        port_file = os.path.join(self.state_dir, "port")
        if os.path.exists(port_file):
            os.unlink(port_file)
        self.log_path = os.path.join(self.state_dir, "mock_tenant.log")
        self._log = open(self.log_path, "ab")
        cmd = [PYTHON, MOCK, "--state-dir", self.state_dir]
        if self.print_codes:
            cmd.append("--print-codes")
        cmd.extend(self.extra_args)
        # With print_codes the person running the demo must see the codes, so stderr is theirs.
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=None if self.print_codes else self._log)
        try:
            self._wait_ready(port_file)
            self._load_info()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, port_file):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    self.port = int(f.read().strip())
                return
            if self.proc.poll() is not None:
                raise MockTenantError("mock tenant exited with status %s:\n%s"
                                      % (self.proc.returncode, self.log_tail()))
            time.sleep(0.02)
        raise MockTenantError("mock tenant not ready after %.0f s:\n%s"
                              % (START_TIMEOUT, self.log_tail()))

    def _load_info(self):
        # Identity comes from the server itself, so extra_args may override any of it.
        info = self._call("GET", "info")[1]
        self.authority = info["authority"]
        self.issuer = info["issuer"]
        self.jwks_uri = info["jwks_uri"]
        self.client_id = info["client_id"]
        self.tenant_id = info["tenant_id"]
        self.tenant_name = info["tenant_name"]
        self.ca_file = info["ca_file"]
        self.other_ca_file = info["other_ca_file"]
        self.password = info["password"]  # every password account's (unless config changes it)
        self.base_url = "https://127.0.0.1:%d" % self.port
        self.discovery_url = self.authority + "/v2.0/.well-known/openid-configuration"

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT. Returns the exit status (None if not
        started)."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            rc = self.proc.returncode
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return rc

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def log_tail(self, lines=30):
        if not self.log_path or not os.path.exists(self.log_path):
            return "(no log)"
        with open(self.log_path, "rb") as f:
            data = f.read().decode("utf-8", "replace")
        return "\n".join(data.splitlines()[-lines:])

    # --- URLs ---

    def endpoint(self, name):
        """URL of initiate, challenge or token."""
        return "%s/oauth2/v2.0/%s" % (self.authority, name)

    def ssl_context(self, ca_file=None):
        return ssl.create_default_context(
            cafile=ca_file or os.path.join(self.state_dir, "ca.crt"))

    def connection(self, timeout=10, ca_file=None, host="127.0.0.1"):
        return http.client.HTTPSConnection(host, self.port, timeout=timeout,
                                           context=self.ssl_context(ca_file))

    # --- control API ---

    def _call(self, method, op, body=None, query="", ok=(200,)):
        """One control request on its own connection; returns (status, parsed JSON)."""
        conn = self.connection()
        try:
            headers = {}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, "/_mock/" + op + query, body=data, headers=headers)
            resp = conn.getresponse()
            status, raw = resp.status, resp.read()
        finally:
            conn.close()
        if status not in ok:
            raise MockTenantError("/_mock/%s answered %d: %r" % (op, status, raw[:300]))
        return status, json.loads(raw)

    def stats(self):
        return self._call("GET", "stats")[1]

    def reset(self):
        return self._call("POST", "reset", {})[1]

    def rotate(self):
        return self._call("POST", "rotate", {})[1]

    def config(self, **kw):
        """Sets slow_seconds, code_length, interval, flow_ttl, password, jwks_gather,
        lockout_after (wrong codes or passwords per address before Entra locks it; 0 never),
        email_claim (the email optional claim configured: in every ID token), jwks_host
        ("localhost": jwks_uri on another host than the authority) or fail_next; returns the
        config."""
        return self._call("POST", "config", kw)[1]

    def token_scopes(self):
        """The scope of each /token that issued tokens since start or reset, in order."""
        return self._call("GET", "scopes")[1]["token_scopes"]

    def _outbox(self, email):
        status, obj = self._call("GET", "outbox", query="?email=" + quote(email, safe=""),
                                 ok=(200, 404))
        return obj if status == 200 else None

    def outbox(self, email):
        """Latest code sent to email (case-insensitive), or None."""
        entry = self._outbox(email)
        return entry["code"] if entry else None

    def channel(self, email):
        """The channel ("email" or "sms") of the latest code sent for email, or None."""
        entry = self._outbox(email)
        return entry["channel"] if entry else None

    def sent(self, email):
        """How many codes were sent to email since start or reset."""
        entry = self._outbox(email)
        return entry["sent"] if entry else 0

    def issued(self, since_start=False):
        """Every code, continuation token, access, refresh and ID token handed out, and every
        password received, since the last reset (or since start): {"codes": [...],
        "continuation_tokens": [...], "passwords": [...], ...}."""
        return self._call("GET", "issued", query="?all=1" if since_start else "")[1]
