"""Drives the real pam_extid.so through real libpam (tests/pam_client.c, pam_start_confdir)
and captures what the module sends to syslog, for the PAM-stack and end-to-end tests."""
import contextlib
import fcntl
import os
import pwd
import re
import select
import shlex
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# `make test-asan` / `make test-valgrind` point these at the sanitized module and a command that
# runs the PAM client under the sanitizer runtime or valgrind.
MODULE = os.environ.get("EXTID_TEST_MODULE") or os.path.join(ROOT, "pam_extid.so")
CLIENT = os.path.join(ROOT, "build", "extid-pamclient")
CLIENT_WRAP = shlex.split(os.environ.get("EXTID_TEST_WRAP", ""))
# What ASan, LSan, UBSan and valgrind (-q) print when they find something; 99 is the exit status
# the hardening targets give them.
REPORT_RE = re.compile(r"^==\d+==|runtime error:|Sanitizer", re.M)
REPORT_EXIT = 99


def check_clean_exit(exit_code, stderr, what="PAM client"):
    """Fails when a sanitizer or valgrind reported an error or a leak in a wrapped client."""
    m = REPORT_RE.search(stderr or "")
    assert exit_code != REPORT_EXIT and not m, \
        "%s: memory error or leak reported (exit %s):\n%s" % (what, exit_code, stderr[-6000:])

PAM = {"SUCCESS": 0, "SERVICE_ERR": 3, "SYSTEM_ERR": 4, "AUTH_ERR": 7, "AUTHINFO_UNAVAIL": 9,
       "USER_UNKNOWN": 10, "MAXTRIES": 11, "CONV_ERR": 19, "IGNORE": 25}


class HostShare:
    """Something on the host that several test sessions may use at once (a developer's suite
    next to `make test`): the test accounts, the /dev/log socket. A session joins while it may
    rely on the thing and leaves at its end; changes happen under a mutex; the last session to
    leave undoes what sessions noted they made, whichever made it (never what was there before).
    Locks and notes live in /run/extid-test-NAME.* (for another user than root, who changes
    nothing on the host, in the temporary directory)."""

    def __init__(self, name):
        uid = os.geteuid()
        base = "/run/extid-test-" + name if uid == 0 else \
            os.path.join(tempfile.gettempdir(), "extid-test-%d-%s" % (uid, name))
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        self._mutex = os.open(base + ".mutex", flags, 0o600)
        self._in_use = os.open(base + ".in-use", flags, 0o600)
        self._notes = base + ".made"

    @contextlib.contextmanager
    def changing(self):
        fcntl.flock(self._mutex, fcntl.LOCK_EX)
        try:
            yield self
        finally:
            fcntl.flock(self._mutex, fcntl.LOCK_UN)

    def join(self):
        fcntl.flock(self._in_use, fcntl.LOCK_SH)

    def note(self, items):
        """Records what this session made (call while changing)."""
        with open(self._notes, "a") as f:
            f.write("".join(i + "\n" for i in items))

    def leave(self):
        """Call while changing. The notes when this session was the last one, to undo them
        (then forgotten); None while another session still uses the thing."""
        fcntl.flock(self._in_use, fcntl.LOCK_UN)
        try:
            fcntl.flock(self._in_use, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return None
        try:
            with open(self._notes) as f:
                made = f.read().split()
            os.unlink(self._notes)
        except FileNotFoundError:
            made = []
        fcntl.flock(self._in_use, fcntl.LOCK_UN)
        return made

    def close(self):
        os.close(self._in_use)
        os.close(self._mutex)


class SyslogSink:
    """Receives what the module logs. /dev/log does not exist on a machine without a syslog
    daemon, so the sink binds it; where something else owns it (a syslog daemon, or another
    test run), commands run in a private mount namespace with the sink's own socket bound over
    /dev/log."""

    def __init__(self, workdir):
        self.lines = []
        self._lock = threading.Lock()
        self._stop = False
        self._socks = []
        self._dev_log = None  # (dev, ino) of the /dev/log socket this sink bound
        self.path = os.path.join(workdir, "log.sock")
        self._bind(self.path)
        # Another session may own /dev/log: it stays (if only as a mount point) until the last
        # session using it ends.
        self._share = HostShare("devlog")
        with self._share.changing():
            self._share.join()
            self._claim_dev_log()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _bind(self, path):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        os.chmod(path, 0o666)
        self._socks.append(sock)
        return sock

    def _claim_dev_log(self):
        """Binds /dev/log when nothing is there (call while changing the share)."""
        try:
            self._bind("/dev/log")
        except OSError:
            return
        st = os.stat("/dev/log")
        self._dev_log = (st.st_dev, st.st_ino)
        self._share.note(["%d:%d" % self._dev_log])

    @property
    def owns_dev_log(self):
        try:
            st = os.stat("/dev/log")
        except FileNotFoundError:
            return False
        return self._dev_log == (st.st_dev, st.st_ino)

    def _run(self):
        while not self._stop:
            ready, _, _ = select.select(list(self._socks), [], [], 0.1)
            # Off the queue and into lines under one lock: since() never finds the queue empty
            # while a line is between the two.
            with self._lock:
                for sock in ready:
                    self.lines.append(sock.recv(65536).decode("utf-8", "replace"))

    def wrap(self, argv):
        """argv to run so that the command's syslog reaches this sink."""
        if self.owns_dev_log:
            return argv
        if not os.path.exists("/dev/log"):
            with self._share.changing(), self._lock:
                self._claim_dev_log()
            if self.owns_dev_log:
                return argv
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" /dev/log && exec "$@"', self.path, *argv]

    def mark(self):
        with self._lock:
            return len(self.lines)

    def since(self, mark, settle=0.15):
        # Datagrams are queued before the sender returns. settle is for senders that may still
        # log after the caller saw them finish (a daemon's child); then every queued line is
        # recorded before returning (a loaded machine, a client under valgrind).
        time.sleep(settle)
        deadline = time.time() + 5
        while True:
            with self._lock:
                if time.time() > deadline or not select.select(list(self._socks), [], [], 0)[0]:
                    return list(self.lines[mark:])
            time.sleep(0.02)

    def close(self):
        self._stop = True
        self._thread.join(2)
        for sock in self._socks:
            sock.close()
        os.unlink(self.path)
        with self._share.changing():
            made = self._share.leave() or ()
            try:
                st = os.stat("/dev/log")
                if "%d:%d" % (st.st_dev, st.st_ino) in made:
                    os.unlink("/dev/log")
            except FileNotFoundError:
                pass
        self._share.close()


class Outbox:
    """An answer that is the latest code the mock tenant emailed to `email`."""

    def __init__(self, email=None):
        self.email = email


class Result:
    def __init__(self):
        self.rc = None
        self.transcript = []  # (kind, text)
        self.logs = []
        self.answers_sent = []

    def prompts(self, kind=None):
        return [t for k, t in self.transcript
                if k.startswith("PROMPT") and (kind is None or k == kind)]

    def messages(self, kind):
        return [t for k, t in self.transcript if k == kind]

    @property
    def log_text(self):
        return "\n".join(self.logs)

    def __repr__(self):
        return "Result(rc=%r, transcript=%r, logs=%r)" % (self.rc, self.transcript, self.logs)


def ensure_user(name):
    """Creates a local account; True if this call created it (and so should remove it)."""
    try:
        pwd.getpwnam(name)
        return False
    except KeyError:
        pass
    if subprocess.run(["useradd", "-M", "-s", "/bin/sh", name]).returncode == 0:
        return True
    pwd.getpwnam(name)  # another test session made it meanwhile; anything else raises
    return False


def remove_user(name):
    subprocess.run(["userdel", name], stderr=subprocess.DEVNULL, check=False)


def write_old_events(path, count, age):
    """Replaces a throttle state file with count events that happened age seconds ago, to
    see them leave the window without waiting."""
    old = int(time.time()) - age
    with open(path, "w") as f:
        f.write("".join("%d\n" % old for _ in range(count)))


def write_root_file(path, text, mode=0o600):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.chown(tmp, 0, 0)
    os.replace(tmp, path)


class PamSetup:
    """A private PAM service directory, config, users file and cache for one test."""

    def __init__(self, workdir, tenant, sink, service="extid-test"):
        self.dir = workdir
        self.tenant = tenant
        self.sink = sink
        self.service = service
        self.confdir = os.path.join(workdir, "pam.d")
        self.config_path = os.path.join(workdir, "pam_extid.conf")
        self.users_path = os.path.join(workdir, "pam_extid.users")
        self.cache_dir = os.path.join(workdir, "cache")
        self.module_args = ""
        self.stderr_all = []  # every client's stderr, for the secret-hygiene check
        os.makedirs(self.confdir, exist_ok=True)
        self.settings = {
            "authority": tenant.authority,
            "client_id": tenant.client_id,
            "tenant_id": tenant.tenant_id,
            "ca_file": tenant.ca_file,
            "users": self.users_path,
            "cache_dir": self.cache_dir,
            "timeout": "5",
            # Most tests log the same address in quick succession; tests/test_throttle.py
            # covers the send throttle with its defaults and its keys.
            "send_limit": "0",
            # Likewise the failure budget: tests/test_fail_budget.py covers it.
            "fail_limit": "0",
        }
        self.flags = ["debug"]
        self.write_users("extidalice alice@example.com\n"
                         "extidops   alice@example.com bob@example.com\n"
                         "extidkiosk *@example.com\n")
        self.write_config()
        self.write_service()

    def write_config(self, **overrides):
        for k, v in overrides.items():
            if v is None:
                self.settings.pop(k, None)
            else:
                self.settings[k] = str(v)
        text = "# written by the test harness\n"
        text += "".join("%s = %s\n" % kv for kv in self.settings.items())
        text += "".join(f + "\n" for f in self.flags)
        write_root_file(self.config_path, text)

    def write_users(self, text, mode=0o644):
        write_root_file(self.users_path, text, mode)

    def write_service(self, args="", control="required", after=""):
        self.module_args = args
        write_root_file(os.path.join(self.confdir, self.service),
                        "auth %s %s config=%s %s\n%s"
                        % (control, MODULE, self.config_path, args, after), 0o644)
        write_root_file(os.path.join(self.confdir, "other"),
                        "auth required pam_deny.so\naccount required pam_deny.so\n"
                        "password required pam_deny.so\nsession required pam_deny.so\n", 0o644)

    def login(self, user, emails=(), codes=None, rhost=None, timeout=60, wrap=None,
              silent=False, env=None):
        """Runs one pam_authenticate. `emails` answer echo-on prompts in order; `codes` answer
        echo-off prompts (strings, Outbox() for the latest emailed code, or a callable
        f(tenant, email) returning the answer). When answers run
        out the client's stdin is closed, which the client reports as a conversation error."""
        emails = list(emails)
        codes = [Outbox()] if codes is None else list(codes)
        typed = [None]
        res = Result()
        mark = self.sink.mark()
        argv = [CLIENT, "--script", "--confdir", self.confdir, "--service", self.service]
        if rhost:
            argv += ["--rhost", rhost]
        if silent:
            argv.append("--silent")
        argv.append(user)
        # The wrap applies to the client only, not to the commands that route its syslog.
        wrap = CLIENT_WRAP if wrap is None else wrap
        argv = self.sink.wrap(list(wrap) + argv)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, bufsize=1,
                                env=dict(os.environ, **env) if env else None)
        deadline = time.time() + timeout
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                kind, _, text = line.partition(" ")
                res.transcript.append((kind, text))
                if kind == "RESULT":
                    res.rc = int(text.split()[0])
                    continue
                if not kind.startswith("PROMPT"):
                    continue
                pool = emails if kind == "PROMPT_ECHO_ON" else codes
                if not pool or time.time() > deadline:
                    proc.stdin.close()
                    continue
                answer = pool.pop(0)
                if kind == "PROMPT_ECHO_ON":
                    if callable(answer):  # e.g. a person who takes their time
                        answer = answer(self.tenant, None)
                    typed[0] = answer
                if isinstance(answer, Outbox):
                    email = answer.email or typed[0] or self.mapped_email(user)
                    answer = self.tenant.outbox(email) or ""
                elif callable(answer):
                    answer = answer(self.tenant, typed[0] or self.mapped_email(user))
                res.answers_sent.append(answer)
                proc.stdin.write(answer + "\n")
                proc.stdin.flush()
            proc.wait(timeout=max(1, deadline - time.time()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            self.stderr = proc.stderr.read()
            self.stderr_all.append(self.stderr)
        res.exit = proc.returncode
        res.logs = self.sink.since(mark)
        if wrap:
            check_clean_exit(res.exit, self.stderr)
        assert res.rc is not None, "client ended without RESULT (exit status %s): %r %s" % (
            res.exit, res, self.stderr)
        return res

    def mapped_email(self, user):
        with open(self.users_path) as f:
            for line in f:
                parts = line.split("#")[0].split()
                if parts and parts[0] == user and len(parts) == 2 and "*" not in parts[1]:
                    return parts[1]
        return None
