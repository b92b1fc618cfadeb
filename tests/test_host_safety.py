"""Host-process safety: the module runs inside sshd, sudo, login or a display manager, so it must
not crash, hang, signal or disturb that process. tests/threads_client.c runs several
pam_authenticate calls at once in one process (a thread and a PAM handle each) and in a row, and
reports the module's effect on signal dispositions and masks; SIGPIPE keeps its default action
there, so a module that let one through would kill the client."""
import os
import re
import signal
import subprocess

import pytest

from pamharness import CLIENT_WRAP, PAM, ROOT, check_clean_exit

pytestmark = pytest.mark.system

THREADS_CLIENT = os.path.join(ROOT, "build", "extid-threads-client")
KIOSK = "extidkiosk"  # *@example.com
LOGIN_RE = re.compile(r"^LOGIN (\d+) (\d+) (\S+) (\d+)$", re.M)


class Run:
    def __init__(self, proc, stdout, stderr, logs):
        self.exit = proc.returncode
        self.stdout, self.stderr, self.logs = stdout, stderr, logs
        self.logins = [(int(t), int(r), e, int(rc)) for t, r, e, rc in LOGIN_RE.findall(stdout)]

    def rc_by_email(self):
        out = {}
        for _, _, email, rc in self.logins:
            out.setdefault(email, []).append(rc)
        return out

    def __repr__(self):
        return "Run(exit=%r, stdout=%r, stderr=%r)" % (self.exit, self.stdout, self.stderr[-3000:])


def run_threads(pam, tenant, emails, rounds=1, same_handle=False, timeout=120):
    argv = [THREADS_CLIENT, "--confdir", pam.confdir, "--service", pam.service,
            "--outbox", os.path.join(tenant.state_dir, "outbox"), "--rounds", str(rounds)]
    if same_handle:
        argv.append("--same-handle")
    argv += [KIOSK] + list(emails)
    mark = pam.sink.mark()
    proc = subprocess.Popen(pam.sink.wrap(CLIENT_WRAP + argv), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail("threads client hung (killed after %d s): %s" % (timeout, out))
    pam.stderr_all.append(err)
    run = Run(proc, out, err, pam.sink.since(mark))
    if CLIENT_WRAP:
        check_clean_exit(run.exit, err, "threads client")
    assert run.exit != -signal.SIGPIPE, "SIGPIPE killed the host process: %r" % run
    assert run.exit >= 0, "host process killed by signal %d: %r" % (-run.exit, run)
    assert "SIGNALS unchanged" in out and "SIGMASK" not in out, run
    assert run.exit == 0, run
    return run


def granted(logs, email):
    return sum(1 for line in logs
               if "login granted: user=%s email=%s " % (KIOSK, email) in line)


def test_parallel_threads_and_repeated_logins_in_one_process(pam, tenant):
    emails = ["user+%d@example.com" % i for i in range(8)]
    run = run_threads(pam, tenant, emails, rounds=2)
    assert len(run.logins) == 16, run
    assert run.rc_by_email() == {e: [PAM["SUCCESS"]] * 2 for e in emails}, run
    # Each thread's login was granted to its own identity, twice: no state crossed threads.
    for e in emails:
        assert granted(run.logs, e) == 2, (e, run.logs)
    assert tenant.stats()["requests"]["token"] == 16


def test_same_handle_authenticates_twice(pam, tenant):
    """sudo calls pam_authenticate again on the same handle when it asks a second time."""
    run = run_threads(pam, tenant, ["again@example.com"], rounds=3, same_handle=True)
    assert run.rc_by_email() == {"again@example.com": [PAM["SUCCESS"]] * 3}, run
    assert granted(run.logs, "again@example.com") == 3


def test_threads_with_different_outcomes_do_not_mix(pam, tenant):
    """Failures and successes side by side in one process each get their own result."""
    expected = {}
    for i in range(3):
        expected["fine+%d@example.com" % i] = PAM["SUCCESS"]
        expected["forged+%d@example.com" % i] = PAM["AUTH_ERR"]
        expected["badjson+%d@example.com" % i] = PAM["AUTHINFO_UNAVAIL"]
        expected["otheruser+%d@example.com" % i] = PAM["AUTH_ERR"]
    run = run_threads(pam, tenant, list(expected))
    assert run.rc_by_email() == {e: [rc] for e, rc in expected.items()}, run
    for e, rc in expected.items():
        assert granted(run.logs, e) == (1 if rc == PAM["SUCCESS"] else 0), e


@pytest.mark.parametrize("endpoint", ["initiate", "challenge", "token", "discovery", "jwks"])
def test_server_dropping_connections_raises_no_sigpipe(pam, tenant, endpoint):
    """The IdP resets the connection (RST, no answer) in the middle of logins running in
    parallel: they fail as unavailable, and the process is neither signalled nor left with
    changed signal handling. curl retries a dead reused connection once, so enough drops are
    queued for every attempt."""
    emails = ["drop+%d@example.com" % i for i in range(4)]
    tenant.config(fail_next={"endpoint": endpoint, "status": 200, "drop": True, "count": 100})
    run = run_threads(pam, tenant, emails)
    assert run.rc_by_email() == {e: [PAM["AUTHINFO_UNAVAIL"]] for e in emails}, run
    assert tenant.stats()["requests"][endpoint] >= 4
    # Once the server behaves again, the same process state logs in.
    tenant.config(fail_next=None)
    run = run_threads(pam, tenant, ["after+drop@example.com"])
    assert run.rc_by_email() == {"after+drop@example.com": [PAM["SUCCESS"]]}, run


def test_module_exports_only_pam_entry_points():
    """Nothing of the core (or of a static helper) can clash with the host's own symbols."""
    module = os.environ.get("EXTID_TEST_MODULE") or os.path.join(ROOT, "pam_extid.so")
    out = subprocess.run(["nm", "-D", "--defined-only", module], capture_output=True, text=True,
                         check=True).stdout
    names = {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert names and all(n.startswith("pam_sm_") for n in names), names


def test_module_installs_no_signal_handler_and_has_no_writable_globals():
    """Statically: the core never touches signal dispositions, and the module's object files
    carry no writable data of their own (no mutable globals to share between threads)."""
    srcs = [os.path.join(ROOT, "pam_extid.c")] + sorted(
        os.path.join(ROOT, "src", f) for f in os.listdir(os.path.join(ROOT, "src"))
        if f.endswith(".c"))
    # strerror too: thread-safe in glibc >= 2.32 only; the core uses extid_strerror (strerror_r).
    # readdir is allowed: glibc makes it unsafe only on a stream two threads share, and with no
    # writable globals (checked below) every stream the core opens is its own call's.
    bad_calls = re.compile(r"\b(signal|sigaction|alarm|setitimer|sigprocmask|strtok|strerror|"
                           r"gmtime|localtime|getpwnam|getpwuid|getgrnam|rand|srand|"
                           r"setlocale|setenv|putenv|curl_global_cleanup)\s*\(")
    found = []
    for path in srcs:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                code = line.split("//")[0]
                if code.lstrip().startswith(("*", "/*")):
                    continue
                if bad_calls.search(code):
                    found.append("%s:%d: %s" % (os.path.basename(path), n, line.strip()))
    assert not found, "non-reentrant or process-wide calls:\n" + "\n".join(found)
    objs = sorted(os.path.join(ROOT, "build", "src", f)
                  for f in os.listdir(os.path.join(ROOT, "build", "src")) if f.endswith(".o"))
    assert objs
    writable = []
    for obj in objs:
        out = subprocess.run(["objdump", "-t", obj], capture_output=True, text=True,
                             check=True).stdout
        for line in out.splitlines():
            # "<addr> l     O .data.rel.ro.local	<size> name": tables of pointers live in
            # .data.rel.ro, read-only once relocated; anything else in data, bss or TLS is
            # state that threads would share.
            m = re.search(r"\sO\s+(\S+)\s+[0-9a-f]+\s+(\S+)$", line)
            if m and re.match(r"\.(data|bss|tdata|tbss)|\*COM\*", m.group(1)) \
                    and not m.group(1).startswith(".data.rel.ro"):
                writable.append("%s: %s (%s)" % (os.path.basename(obj), m.group(2), m.group(1)))
    assert not writable, "writable globals in the core:\n" + "\n".join(writable)
