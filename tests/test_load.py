"""Load: many logins at once against the mock tenant, each a separate PAM client process, all get
the right result; JWKS refreshes racing each other never leave a torn cache file (a reader sees
the old document or the new one, never a mix)."""
import glob
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from pamharness import PAM

KIOSK = "extidkiosk"  # *@example.com


def login_all(pam, emails, codes=None):
    with ThreadPoolExecutor(max_workers=len(emails)) as pool:
        futures = {e: pool.submit(pam.login, KIOSK, emails=[e],
                                  codes=None if codes is None else codes(e)) for e in emails}
        return {e: f.result() for e, f in futures.items()}


def test_32_concurrent_logins_of_different_identities(pam, tenant):
    expected = {}
    for i in range(32):
        if i % 8 == 5:
            expected["forged+%d@example.com" % i] = PAM["AUTH_ERR"]
        elif i % 8 == 7:
            expected["wrong%d@example.com" % i] = PAM["MAXTRIES"]
        else:
            expected["load%d@example.com" % i] = PAM["SUCCESS"]
    wrong = ["00000000"] * 3
    results = login_all(pam, list(expected),
                        codes=lambda e: wrong if e.startswith("wrong") else None)
    got = {e: r.rc for e, r in results.items()}
    assert got == expected
    logs = "\n".join(line for r in results.values() for line in r.logs)
    for e, rc in expected.items():
        marker = "login granted: user=%s email=%s " % (KIOSK, e)
        assert (marker in logs) == (rc == PAM["SUCCESS"]), e
    s = tenant.stats()
    assert s["requests"]["initiate"] == 32 and s["requests"]["challenge"] == 32, s


class CacheReader(threading.Thread):
    """Reads every cache document as fast as it can and records any that does not parse."""

    def __init__(self, cache_dir):
        super().__init__(daemon=True)
        self.cache_dir = cache_dir
        self.stop = threading.Event()
        self.reads = 0
        self.torn = []

    def run(self):
        while not self.stop.is_set():
            for path in glob.glob(os.path.join(self.cache_dir, "*.json")):
                try:
                    with open(path, "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue  # removed by the test between glob and open
                self.reads += 1
                try:
                    doc = json.loads(data)
                    ok = "keys" in doc if os.path.basename(path).startswith("jwks") \
                        else "issuer" in doc
                except ValueError:
                    ok = False
                if not ok:
                    self.torn.append((path, data[:200]))


def cache_docs(cache_dir):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(cache_dir, "*.json")))


def test_concurrent_jwks_refreshes_never_tear_the_cache(pam, tenant):
    assert pam.login("extidalice").rc == PAM["SUCCESS"]  # warm cache, key 1 only
    docs = cache_docs(pam.cache_dir)
    assert any(d.startswith("jwks") for d in docs) and any(d.startswith("disc") for d in docs)
    reader = CacheReader(pam.cache_dir)
    reader.start()
    try:
        # Tokens are now signed with key 2, unknown to the cache: every login refetches and
        # rewrites the cache at the same moment as the others.
        tenant.rotate()
        before = tenant.stats()["requests"]["jwks"]
        results = login_all(pam, ["rotate%d@example.com" % i for i in range(16)])
        assert {e: r.rc for e, r in results.items()} == {e: PAM["SUCCESS"] for e in results}
        assert tenant.stats()["requests"]["jwks"] - before >= 2
        # Cold cache, a few times over: all of them fetch discovery and JWKS and write both.
        for rnd in range(3):
            for d in cache_docs(pam.cache_dir):
                os.unlink(os.path.join(pam.cache_dir, d))
            results = login_all(pam, ["cold%d-%d@example.com" % (rnd, i) for i in range(16)])
            assert {e: r.rc for e, r in results.items()} == {e: PAM["SUCCESS"] for e in results}
    finally:
        reader.stop.set()
        reader.join(5)
    assert reader.reads > 100, reader.reads  # the reader really ran alongside the writers
    assert not reader.torn, "torn cache file seen: %r" % reader.torn[:3]
    assert cache_docs(pam.cache_dir) == docs
    leftovers = [f for f in os.listdir(pam.cache_dir) if ".tmp." in f]
    assert not leftovers, leftovers
    for d in docs:
        st = os.stat(os.path.join(pam.cache_dir, d))
        assert st.st_uid == 0 and st.st_mode & 0o077 == 0, (d, oct(st.st_mode))
    with open(os.path.join(pam.cache_dir, [d for d in docs if d.startswith("jwks")][0])) as f:
        kids = {k["kid"] for k in json.load(f)["keys"]}
    assert kids == {"mock-key-1", "mock-key-2"}, kids  # the refreshed set is what stayed
