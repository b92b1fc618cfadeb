#!/usr/bin/python3
"""The throwaway HTTPS server of tests/unit/test_http.c (Python stdlib + cryptography).

Usage: https_server.py DIR. Writes DIR/ca.pem (the CA the tests trust), DIR/other.pem (an
unrelated CA) and DIR/server.pem, then the port it listens on (127.0.0.1) into DIR/port. Its
routes are described where the tests use them.
"""
import datetime, email.utils, ipaddress, json, os, ssl, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

D = sys.argv[1]
NOW = datetime.datetime.utcnow()

def make_cert(cn, key, issuer, issuer_key, ca):
    n = lambda s: x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, s)])
    b = (x509.CertificateBuilder().subject_name(n(cn)).issuer_name(n(issuer))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(NOW - datetime.timedelta(days=1))
         .not_valid_after(NOW + datetime.timedelta(days=2))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())

def pem(c):
    return c.public_bytes(serialization.Encoding.PEM)

ca_key = ec.generate_private_key(ec.SECP256R1())
ca = make_cert("extid test CA", ca_key, "extid test CA", ca_key, True)
other_key = ec.generate_private_key(ec.SECP256R1())
other = make_cert("untrusted CA", other_key, "untrusted CA", other_key, True)
key = ec.generate_private_key(ec.SECP256R1())
crt = make_cert("127.0.0.1", key, "extid test CA", ca_key, False)
open(D + "/ca.pem", "wb").write(pem(ca))
open(D + "/other.pem", "wb").write(pem(other))
open(D + "/server.pem", "wb").write(pem(crt) + key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

HITS = {}
MIB = 1024 * 1024

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *a):
        sys.stderr.write("test server: " + (fmt % a) + "\n")

    def send(self, code, body, headers=()):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def chunked(self, total):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        while sent < total:
            n = min(65536, total - sent)
            self.wfile.write(b"%x\r\n" % n + b"x" * n + b"\r\n")
            sent += n
        self.wfile.write(b"0\r\n\r\n")

    def echo(self, raw):
        self.send(200, {"method": self.command, "raw": raw,
                        "headers": {k.lower(): v for k, v in self.headers.items()}})

    def do_GET(self):
        p = self.path
        HITS[p] = HITS.get(p, 0) + 1
        base = "https://127.0.0.1:%d" % self.server.server_address[1]
        t = p.split("/")[1]
        if p == "/ok":
            return self.send(200, {"ok": True})
        if p == "/echo":
            return self.echo("")
        if p == "/stats":
            return self.send(200, HITS)
        if p == "/big":
            return self.send(200, b"x" * (2 * MIB))
        if p == "/exact":
            return self.send(200, b"x" * MIB)
        if p == "/bigchunked":
            return self.chunked(2 * MIB)
        if p == "/exactchunked":
            return self.chunked(MIB)
        if p == "/retry-secs":
            return self.send(429, {}, [("Retry-After", "30")])
        if p == "/retry-date":
            return self.send(503, {}, [("Retry-After",
                                        email.utils.formatdate(time.time() + 120, usegmt=True))])
        if p == "/retry-bad":
            return self.send(429, {}, [("Retry-After", "soon")])
        if p == "/redirect":
            return self.send(302, b"{}", [("Location", base + "/ok")])
        if p == "/empty":
            self.send_response(204)
            self.end_headers()
            return
        if p == "/slow":
            time.sleep(3)
            return self.send(200, {})
        if p == "/%s/v2.0/.well-known/openid-configuration" % t and t != "missing":
            uri = {"httpjwks": "http://127.0.0.1:1/keys"}.get(t, "%s/%s/keys" % (base, t))
            return self.send(200, {"issuer": "%s/%s/v2.0" % (base, t), "jwks_uri": uri})
        if p == "/badjwks/keys":
            return self.send(200, {"nokeys": []})
        if p.endswith("/keys"):
            return self.send(200, {"keys": [{"kty": "RSA", "kid": t}]})
        self.send(404, {"error": "not_found"})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        f = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
        p = self.path
        if p == "/echo":
            return self.echo(raw)
        if f.get("client_id") != "cid":
            return self.send(400, {"error": "unauthorized_client"})
        if p == "/t/oauth2/v2.0/initiate" and set(f) == {"client_id", "username", "challenge_type",
                                                         "capabilities"}:
            u = f["username"]
            if f["capabilities"] != "mfa_required":
                return self.send(400, {"error": "invalid_request"})
            if u == "pw@example.com" and f["challenge_type"] == "oob password redirect":
                return self.send(200, {"continuation_token": "CT1P-SECRET"})
            if f["challenge_type"] != "oob redirect":
                return self.send(400, {"error": "invalid_request"})
            if u == "alice@example.com":
                return self.send(200, {"continuation_token": "CT1-SECRET"})
            if u == "redirect@example.com":
                return self.send(200, {"challenge_type": "redirect"})
            if u == "busy@example.com":
                return self.send(503, b"busy")
            if u == "noct@example.com":
                return self.send(200, {"continuation_token": 5})
            return self.send(400, {"error": "user_not_found", "error_codes": [50034],
                                   "trace_id": "tr-1", "correlation_id": "co-1"})
        if (p == "/t/oauth2/v2.0/challenge" and f.get("continuation_token") == "CT1P-SECRET"
                and f.get("challenge_type") == "oob password redirect"):
            return self.send(200, {"continuation_token": "CT2P-SECRET",
                                   "challenge_type": "password"})
        if p == "/t/oauth2/v2.0/challenge" and set(f) == {"client_id", "continuation_token",
                                                          "challenge_type", "id"}:
            if (f["continuation_token"] not in ("CT5-SECRET", "CT6-SECRET") or f["id"] != "M-SMS"
                    or f["challenge_type"] != "oob password redirect"):
                return self.send(400, {"error": "invalid_request"})
            return self.send(200, {"continuation_token": "CT6-SECRET", "challenge_type": "oob",
                                   "binding_method": "prompt", "challenge_channel": "sms",
                                   "challenge_target_label": "+1555****42", "code_length": 6})
        if p == "/t/oauth2/v2.0/introspect" and set(f) == {"client_id", "continuation_token"}:
            if f["continuation_token"] != "CT4-SECRET":
                return self.send(400, {"error": "invalid_request", "error_codes": [55000]})
            return self.send(200, {"continuation_token": "CT5-SECRET", "methods": [
                {"id": "M-EMAIL", "challenge_type": "oob", "challenge_channel": "email",
                 "login_hint": "p***@e*****e.com"},
                {"id": "M-SMS", "challenge_type": "oob", "challenge_channel": "sms",
                 "login_hint": "+1555****42"}]})
        if p == "/t/oauth2/v2.0/token" and set(f) == {"client_id", "continuation_token",
                                                      "grant_type", "password", "scope"}:
            if (f["continuation_token"] != "CT2P-SECRET" or f["grant_type"] != "password"
                    or f["scope"] != "openid profile"):
                return self.send(400, {"error": "invalid_request"})
            if f["password"] == "PW-SECRET-OK":
                return self.send(400, {"error": "invalid_grant", "suberror": "mfa_required",
                                       "error_codes": [50076], "continuation_token": "CT4-SECRET"})
            return self.send(400, {"error": "invalid_grant", "error_codes": [50126],
                                   "error_description": "AADSTS50126: Error validating "
                                   "credentials due to invalid username or password."})
        if (p == "/t/oauth2/v2.0/token" and f.get("grant_type") == "mfa_oob"
                and set(f) == {"client_id", "continuation_token", "grant_type", "oob", "scope"}):
            if f["continuation_token"] != "CT6-SECRET" or f["scope"] != "openid profile":
                return self.send(400, {"error": "invalid_request"})
            if f["oob"] == "654321":
                return self.send(200, {"token_type": "Bearer", "id_token": "IDTOKEN-SECRET"})
            return self.send(400, {"error": "invalid_grant", "suberror": "invalid_oob_value",
                                   "error_codes": [50181]})
        if p == "/t/oauth2/v2.0/challenge" and set(f) == {"client_id", "continuation_token",
                                                          "challenge_type"}:
            if f["continuation_token"] != "CT1-SECRET" or f["challenge_type"] != "oob redirect":
                return self.send(400, {"error": "invalid_grant"})
            return self.send(200, {"continuation_token": "CT2-SECRET", "challenge_type": "oob",
                                   "binding_method": "prompt", "challenge_channel": "email",
                                   "challenge_target_label": "a***e@e*****e.com",
                                   "code_length": 8, "interval": 300})
        if p == "/t/oauth2/v2.0/token" and set(f) == {"client_id", "continuation_token",
                                                      "grant_type", "oob", "scope"}:
            if (f["continuation_token"] != "CT2-SECRET" or f["grant_type"] != "oob"
                    or f["scope"] != "openid profile"):
                return self.send(400, {"error": "invalid_request"})
            if f["oob"] == "12345678":
                return self.send(200, {"token_type": "Bearer", "id_token": "IDTOKEN-SECRET",
                                       "access_token": "ACCESS-SECRET"})
            if f["oob"] == "00000000":
                return self.send(200, {"token_type": "Bearer"})
            return self.send(400, {"error": "invalid_grant", "suberror": "invalid_oob_value",
                                   "error_codes": [50181], "continuation_token": "CT3-SECRET"})
        self.send(404, {"error": "not_found"})

class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, req, addr):
        sys.stderr.write("test server: %r\n" % (sys.exc_info()[1],))

srv = Server(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(D + "/server.pem")
# Lazy handshake: a client that fails TLS must not stall the accept loop.
srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
open(D + "/port.tmp", "w").write(str(srv.server_address[1]))
os.rename(D + "/port.tmp", D + "/port")
srv.serve_forever()
