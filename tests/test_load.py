"""Load: many logins at once against the mock tenant, each a separate PAM client process, all get
the right result; JWKS refreshes racing each other never leave a torn cache file (a reader sees
the old document or the new one, never a mix)."""
import ctypes
import ctypes.util
import glob
import json
import os
import struct
from concurrent.futures import ThreadPoolExecutor

import pytest

from pamharness import PAM

pytestmark = [pytest.mark.system, pytest.mark.slow]

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


# inotify(7) constants: what the kernel reports for every change in a directory.
IN_MODIFY, IN_CLOSE_WRITE, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x8, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_Q_OVERFLOW = 0x100, 0x200, 0x4000
IN_NONBLOCK, IN_CLOEXEC = 0o4000, 0o2000000


class DirWatch:
    """Every change to the names in one directory, in the kernel's order, from inotify: a record
    of how files came to be, which no thread interleaving can hide (a reader thread racing the
    writers only catches a torn file when the scheduler happens to let it)."""

    MASK = IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE

    def __init__(self, path):
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        assert self.fd >= 0, os.strerror(ctypes.get_errno())
        assert libc.inotify_add_watch(self.fd, path.encode(), self.MASK) >= 0, \
            os.strerror(ctypes.get_errno())
        self.events = []

    def drain(self):
        """Appends the queued events as (mask, name); returns them all."""
        while True:
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                return self.events
            off = 0
            while off < len(buf):
                _wd, mask, _cookie, size = struct.unpack_from("iIII", buf, off)
                name = buf[off + 16:off + 16 + size].rstrip(b"\0").decode()
                self.events.append((mask, name))
                off += 16 + size

    def close(self):
        os.close(self.fd)


def cache_docs(cache_dir):
    return sorted(os.path.basename(p) for p in glob.glob(os.path.join(cache_dir, "*.json")))


def test_concurrent_jwks_refreshes_never_tear_the_cache(pam, tenant):
    """A reader can see a torn document only if a cache file is ever written under its final
    name. The kernel's record of the directory shows each final name appears only by rename
    (complete, fsync'd content) and is otherwise only removed, while concurrent logins rewrite
    it: the mock holds the key-set answers until all refreshes are in flight, so they overlap
    on any machine, however busy."""
    assert pam.login("extidalice").rc == PAM["SUCCESS"]  # warm cache, key 1 only
    docs = cache_docs(pam.cache_dir)
    assert any(d.startswith("jwks") for d in docs) and any(d.startswith("disc") for d in docs)
    watch = DirWatch(pam.cache_dir)
    try:
        # Tokens are now signed with key 2, unknown to the cache: every login refetches, and
        # no key set is served before all 16 ask, so they all rewrite the cache together.
        tenant.rotate()
        tenant.config(jwks_gather=16)
        before = tenant.stats()["requests"]["jwks"]
        results = login_all(pam, ["rotate%d@example.com" % i for i in range(16)])
        assert {e: r.rc for e, r in results.items()} == {e: PAM["SUCCESS"] for e in results}
        assert tenant.stats()["requests"]["jwks"] - before >= 2
        rewrites = [n for m, n in watch.drain() if m & IN_MOVED_TO and n.startswith("jwks")]
        assert len(rewrites) >= 2, rewrites
        # Cold cache, a few times over: all of them fetch discovery and JWKS and write both.
        tenant.config(jwks_gather=0)
        for rnd in range(3):
            for d in cache_docs(pam.cache_dir):
                os.unlink(os.path.join(pam.cache_dir, d))
            results = login_all(pam, ["cold%d-%d@example.com" % (rnd, i) for i in range(16)])
            assert {e: r.rc for e, r in results.items()} == {e: PAM["SUCCESS"] for e in results}
        events = watch.drain()
    finally:
        watch.close()
    assert not any(m & IN_Q_OVERFLOW for m, _ in events), "inotify queue overflowed"
    final = [(m, n) for m, n in events if not m & IN_Q_OVERFLOW and ".tmp." not in n]
    assert final and all(m in (IN_MOVED_TO, IN_DELETE) for m, _ in final), \
        "a cache file was written in place: %r" % [e for e in final
                                                  if e[0] not in (IN_MOVED_TO, IN_DELETE)][:5]
    assert cache_docs(pam.cache_dir) == docs
    leftovers = [f for f in os.listdir(pam.cache_dir) if ".tmp." in f]
    assert not leftovers, leftovers
    for d in docs:
        st = os.stat(os.path.join(pam.cache_dir, d))
        assert st.st_uid == 0 and st.st_mode & 0o077 == 0, (d, oct(st.st_mode))
        with open(os.path.join(pam.cache_dir, d)) as f:
            json.load(f)  # complete documents
    with open(os.path.join(pam.cache_dir, [d for d in docs if d.startswith("jwks")][0])) as f:
        kids = {k["kid"] for k in json.load(f)["keys"]}
    assert kids == {"mock-key-1", "mock-key-2"}, kids  # the refreshed set is what stayed
