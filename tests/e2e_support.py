"""Helpers for the end-to-end tests with the real sshd, ssh, sudo and login programs: throwaway
local accounts, private PAM service stacks, a real sshd on a free loopback port, the real ssh
client on a pseudo-terminal, and sudo's service file and sudoers drop-in. Everything made here
is removed by the helper that made it."""
import glob
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time

import pexpect

from mock_tenant import mask_email
from pamharness import MODULE, PamSetup, write_root_file

SSHD = "/usr/sbin/sshd"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SSHD_DROP_IN = os.path.join(ROOT, "conf", "sshd_config.d-pam_extid.conf")
# The module's prompts (pam_extid(8)). Tests answer by kind; these patterns only find them.
CODE_PROMPT = re.compile(r"Code emailed to ([^\r\n]*?) \((\d+) digits[^)\r\n]*\): ")
EMAIL_PROMPT = re.compile(r"Email address for \S+: ")
WRONG_CODE = "00000000"  # 8 digits, so it reaches the tenant and is refused there


def free_port():
    """A loopback port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_text(config_path):
    """A PAM service where only pam_extid decides authentication; account and session always
    pass, so a success proves the module and nothing else."""
    return ("# pam_extid end-to-end test service\n"
            "auth     required  %s config=%s\n"
            "account  required  pam_permit.so\n"
            "session  required  pam_permit.so\n"
            "password required  pam_deny.so\n") % (MODULE, config_path)


def e2e_pam_setup(workdir, tenant, syslog, service, users_text):
    """PamSetup whose private directory holds `service` as a full stack (stack_text)."""
    os.chmod(workdir, 0o755)
    pam = PamSetup(workdir, tenant, syslog, service=service)
    pam.write_users(users_text)
    write_root_file(os.path.join(pam.confdir, service), stack_text(pam.config_path), 0o644)
    return pam


def shipped_fallback_lines(snippet):
    """The commented-out fallback variant of conf/<snippet> as shipped: (control, module
    arguments, the line after it that asks the local password)."""
    with open(os.path.join(ROOT, "conf", snippet)) as f:
        m = re.search(r"^#auth\s+(\[[^\]]*\])\s+pam_extid\.so([^\n]*)\n#([^\n]+)$", f.read(),
                      re.M)
    assert m, "conf/%s has no fallback lines" % snippet
    return m.group(1), m.group(2).strip(), m.group(3).strip()


def write_fallback_stack(pam, service, snippet):
    """Replaces `service` in pam's private directory with the fallback variant of
    conf/<snippet> as shipped: its pam_extid line, then its password line (pam_unix, or the
    host's own common-auth)."""
    control, args, password_line = shipped_fallback_lines(snippet)
    write_root_file(os.path.join(pam.confdir, service),
                    "auth %s %s config=%s %s\n%s\n"
                    "account  required pam_permit.so\nsession  required pam_permit.so\n"
                    "password required pam_deny.so\n"
                    % (control, MODULE, pam.config_path, args, password_line), 0o644)
    shutil.copyfile("/etc/pam.d/common-auth", os.path.join(pam.confdir, "common-auth"))


# ---------------------------------------------------------------------------------------------
# Local accounts

def create_user(name, home=False):
    remove_user(name)  # left over from an aborted run
    subprocess.run(["useradd", "-m" if home else "-M", "-s", "/bin/sh", name], check=True)


def remove_user(name):
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        return
    subprocess.run(["userdel", "-r", name], capture_output=True, check=False)
    if subprocess.run(["id", name], capture_output=True).returncode == 0:
        subprocess.run(["userdel", "-f", name], capture_output=True, check=False)


def user_exists(name):
    return subprocess.run(["id", name], capture_output=True).returncode == 0


class LocalUsers:
    """Accounts created for one test module, removed at its end."""

    def __init__(self):
        self.names = []

    def add(self, name, home=False):
        create_user(name, home)
        self.names.append(name)
        return name

    def remove_all(self):
        for name in self.names:
            remove_user(name)
        left = [n for n in self.names if user_exists(n)]
        self.names = []
        assert not left, "accounts left behind: %s" % left


# ---------------------------------------------------------------------------------------------
# Private PAM service directory

def private_pam_argv(service_dir, argv):
    """argv that runs a program with service_dir mounted over /etc/pam.d in a private mount
    namespace: real libpam reads our stack, the host's /etc/pam.d is neither read nor changed,
    and the mount ends with the program's last process.
    (pam_wrapper, the usual way, cannot serve here: sshd's PAM process and login(1) clear the
    environment before authenticating, and pam_wrapper then drops every pam_syslog line, the
    module's audit line included, because it reads PAM_WRAPPER_USE_SYSLOG at each call.)"""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/pam.d && exec "$@"', service_dir, *argv]


def clean_env():
    """The test's environment without what would change how ssh or sudo ask (askpass, agent)."""
    env = dict(os.environ)
    for k in ("SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "DISPLAY", "SSH_AUTH_SOCK", "LD_PRELOAD"):
        env.pop(k, None)
    return env


def spawn_pty(argv, timeout=30):
    """argv on a pseudo-terminal, in clean_env()."""
    return pexpect.spawn(argv[0], argv[1:], env=clean_env(), encoding="utf-8", timeout=timeout)


class Conversation:
    """What a program on a pty showed while it asked for an address and codes."""

    def __init__(self):
        self.rc = None
        self.output = ""
        self.code_prompts = []   # (prompt text, masked address, digits)
        self.email_prompts = 0
        self.stop = None         # index into `stops` that ended converse(), or None at EOF

    def __repr__(self):
        return "Conversation(rc=%r, code_prompts=%r, output=%r)" % (
            self.rc, self.code_prompts, self.output)


def converse(child, answer_code, email=None, stops=()):
    """Answers the module's prompts on child's terminal until EOF or one of `stops` shows.
    answer_code(n) gives the n-th code answer (1-based); it is called only once that prompt is
    on screen, since the code does not exist before. email answers an address prompt; None
    means no address prompt may come."""
    conv = Conversation()
    seen = []
    patterns = [CODE_PROMPT, EMAIL_PROMPT, pexpect.EOF, *stops]
    while True:
        i = child.expect(patterns)
        seen.append(child.before)
        if i == 2:
            break
        seen.append(child.after)
        if i == 0:
            conv.code_prompts.append((child.after, child.match.group(1),
                                      int(child.match.group(2))))
            child.sendline(answer_code(len(conv.code_prompts)))
        elif i == 1:
            conv.email_prompts += 1
            assert email is not None, "unexpected address prompt: %r" % child.after
            child.sendline(email)
        else:
            conv.stop = i - 3
            break
    conv.output = "".join(seen)
    return conv


def assert_one_code_prompt(conv, email):
    """The module asked for a code once, naming email's masked address and 8 digits."""
    [(prompt, label, digits)] = conv.code_prompts
    assert label == mask_email(email) and digits == 8 and "8 digits" in prompt, prompt


def finish(child, conv):
    """Waits for the program's end and records its exit status."""
    child.expect(pexpect.EOF)
    conv.output += child.before
    child.close()
    conv.rc = child.exitstatus if child.exitstatus is not None else 128 + child.signalstatus
    return conv


def shell_proof(child, user):
    """Asserts that a real shell of user runs on child: it prints a marker and its user name and
    exits, and the program is waited for. Returns what the shell printed."""
    child.sendline("echo E2E-$((6*7)) $(id -un); exit")
    child.expect(pexpect.EOF)
    out = child.before
    child.close()
    assert "E2E-42 %s" % user in out, out
    return out


def converse_to_end(child, answer_code, email=None, stops=(), on_stop=None):
    """converse(), then on_stop(child, conv) if one of `stops` showed, then finish(); the
    program is ended whatever happens."""
    try:
        conv = converse(child, answer_code, email, stops)
        if on_stop and conv.stop is not None:
            on_stop(child, conv)
        return finish(child, conv)
    finally:
        if child.isalive():
            child.close(force=True)


# ---------------------------------------------------------------------------------------------
# Processes

def _children_of(pids):
    """All live descendants of pids (by /proc ppid), so a teardown can end exactly them."""
    parent = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        if fields[0] == "Z":
            continue
        parent[int(stat.split("/")[2])] = int(fields[1])
    found, frontier = set(), set(pids)
    while frontier:
        frontier = {p for p, pp in parent.items() if pp in frontier and p not in found}
        found |= frontier
    return found


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _any_sshd_running():
    for comm in glob.glob("/proc/[0-9]*/comm"):
        try:
            with open(comm) as f:
                if f.read().strip() == "sshd" and _alive(int(comm.split("/")[2])):
                    return True
        except (OSError, ValueError):
            continue
    return False


class Sshd:
    """A real OpenSSH sshd (-D -e) on a free loopback port with its own host key and config,
    PAM services from a private directory (private_pam_argv). /etc/ssh is not read; neither it
    nor /etc/pam.d is changed."""

    def __init__(self, workdir, pam_dir, allow_users, extra=""):
        self.workdir = workdir
        self.pam_dir = pam_dir
        self.port = None
        self.proc = None
        self.log_path = os.path.join(workdir, "sshd.log")
        self.hostkey = os.path.join(workdir, "ssh_host_ed25519_key")
        self.config = os.path.join(workdir, "sshd_config")
        self.allow_users = allow_users
        self.extra = extra
        self.made_run_dir = False

    def start(self, wrap=None):
        if not os.path.isdir("/run/sshd"):  # privilege-separation directory sshd insists on
            os.makedirs("/run/sshd", mode=0o755)
            self.made_run_dir = True
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.hostkey],
                       check=True)
        argv = private_pam_argv(self.pam_dir, [SSHD, "-D", "-e", "-f", self.config])
        if wrap:
            argv = wrap(argv)
        for _ in range(5):  # the port may be taken between choosing and binding it
            self.port = free_port()
            self._write_config()
            log = open(self.log_path, "w")
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=clean_env())
            log.close()
            deadline = time.time() + 10
            while time.time() < deadline and self.proc.poll() is None:
                if "Server listening" in self.log():
                    return self
                time.sleep(0.03)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            if "Address already in use" not in self.log():
                break
        raise RuntimeError("sshd did not start:\n" + self.log())

    def _write_config(self):
        # The administrator's drop-in comes first, as Debian's sshd_config includes it, so its
        # values (UsePAM, keyboard-interactive, AuthenticationMethods, ...) are the ones in force.
        with open(self.config, "w") as f:
            f.write("# sshd for the pam_extid end-to-end tests (standalone, loopback only)\n"
                    "Include %s\n"
                    "ListenAddress 127.0.0.1\n"
                    "Port %d\n"
                    "HostKey %s\n"
                    "PidFile %s\n"
                    "PubkeyAuthentication yes\n"
                    "AllowUsers %s\n"
                    "PrintMotd no\n"
                    "PrintLastLog no\n"
                    "LogLevel VERBOSE\n"
                    "%s"
                    % (SSHD_DROP_IN, self.port, self.hostkey,
                       os.path.join(self.workdir, "sshd.pid"), " ".join(self.allow_users),
                       self.extra))
        os.chmod(self.config, 0o600)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def mark(self):
        return len(self.log())

    def log_since(self, mark):
        return self.log()[mark:]

    def wait_log(self, text, mark=0, timeout=5):
        """sshd may write its verdict a moment after the client has gone."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if text in self.log_since(mark):
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        """Ends the listener and every process it forked; returns pids still alive (none)."""
        if self.proc is None:
            return []
        kids = _children_of([self.proc.pid])
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in kids:
            if _alive(pid):
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 3
        while time.time() < deadline and any(_alive(p) for p in kids):
            time.sleep(0.05)
        left = [p for p in kids if _alive(p)]
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None
        # Ours to remove, unless another sshd (another test run, a system one) now uses it.
        if self.made_run_dir and not _any_sshd_running():
            try:
                os.rmdir("/run/sshd")
            except OSError:
                pass
        return left


def spawn_ssh(port, user, command, key=None, methods=None, timeout=30, log_level="ERROR"):
    """The real ssh client on a pty, for one command; key: a client key to offer first.
    log_level INFO, ssh's default, also shows the text sshd sends with no prompt (the module's
    last message before a refusal)."""
    opts = ["-F", "/dev/null", "-p", str(port),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "LogLevel=" + log_level,
            "-o", "NumberOfPasswordPrompts=1", "-o", "BatchMode=no", "-o", "ConnectTimeout=10"]
    if key:
        opts += ["-i", key, "-o", "IdentitiesOnly=yes", "-o", "PubkeyAuthentication=yes",
                 "-o", "PreferredAuthentications=" + (methods or "publickey,keyboard-interactive")]
    else:
        opts += ["-o", "PubkeyAuthentication=no",
                 "-o", "PreferredAuthentications=" + (methods or "keyboard-interactive")]
    return spawn_pty(["ssh", *opts, "%s@127.0.0.1" % user, command], timeout)


def ssh_login(port, user, command, answer_code, email=None, key=None, methods=None,
              log_level="ERROR"):
    """Runs ssh, answers the module's prompts (see converse), returns the Conversation with
    ssh's exit status."""
    return converse_to_end(spawn_ssh(port, user, command, key, methods, log_level=log_level),
                           answer_code, email)


# ---------------------------------------------------------------------------------------------
# sudo: the PAM service file and the sudoers drop-in must live in /etc

SUDO_PREFIX = "extid-e2e-"


def remove_stale_sudo_files():
    """Files of a test run that was killed before its teardown: their pid no longer runs."""
    for path in glob.glob("/etc/pam.d/%s*" % SUDO_PREFIX) + \
            glob.glob("/etc/sudoers.d/%s*" % SUDO_PREFIX) + \
            glob.glob("/etc/sudoers.d/.%s*" % SUDO_PREFIX):
        m = re.match(r"\.?%s(\d+)-[0-9a-f]+(\.tmp)?$" % SUDO_PREFIX, os.path.basename(path))
        if m and not os.path.exists("/proc/" + m.group(1)):
            os.unlink(path)


def shipped_sudoers_line(user, service):
    """The Defaults line of conf/sudoers.d-extid as shipped, for user and the PAM service."""
    with open(os.path.join(ROOT, "conf", "sudoers.d-extid")) as f:
        [line] = [l.strip() for l in f if l.startswith("Defaults:")]
    assert line.startswith("Defaults:alice ") and line.count("sudo-extid") == 2, line
    return line.replace("Defaults:alice ", "Defaults:%s " % user).replace("sudo-extid", service)


class SudoService:
    """/etc/pam.d/<name> running pam_extid, and /etc/sudoers.d/<name> switching one user to it
    with the Defaults line of conf/sudoers.d-extid (pam_service=<name>, pam_login_service=<name>
    for sudo -i, one PAM try, messages not silenced).
    Unique names; remove() always runs."""

    def __init__(self, user, config_path, workdir):
        # No '.' in the name: sudo skips such files in sudoers.d.
        self.name = "%s%d-%s" % (SUDO_PREFIX, os.getpid(), secrets.token_hex(4))
        self.user = user
        self.pam_file = os.path.join("/etc/pam.d", self.name)
        self.sudoers_file = os.path.join("/etc/sudoers.d", self.name)
        self.config_path = config_path
        self.workdir = workdir

    def install(self):
        remove_stale_sudo_files()
        write_root_file(self.pam_file, stack_text(self.config_path), 0o644)
        draft = os.path.join(self.workdir, "sudoers-draft")
        with open(draft, "w") as f:
            f.write("# pam_extid end-to-end test; removed by the test\n%s\n"
                    "%s ALL=(ALL:ALL) ALL\n" % (shipped_sudoers_line(self.user, self.name),
                                                 self.user))
        os.chmod(draft, 0o440)
        subprocess.run(["visudo", "-cqf", draft], check=True)
        # Same directory as the target, so the rename is atomic and sudo never reads half a file.
        tmp = os.path.join("/etc/sudoers.d", "." + self.name)
        shutil.copyfile(draft, tmp)
        os.chmod(tmp, 0o440)
        os.chown(tmp, 0, 0)
        os.replace(tmp, self.sudoers_file)
        os.unlink(draft)

    def remove(self):
        for path in (self.sudoers_file, os.path.join("/etc/sudoers.d", "." + self.name),
                     self.pam_file):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def leftovers(self):
        return [p for p in (self.sudoers_file, self.pam_file) if os.path.exists(p)]


# ---------------------------------------------------------------------------------------------
# One test module's setup

class E2EModule:
    """What an end-to-end test module sets up once: a work directory, throwaway local accounts,
    a private PAM stack, and what runs on top of it (sshd, sudo's files). A context manager:
    leaving it undoes everything in reverse order, even after a failure, then asserts that
    nothing was left behind. Its attributes are what the tests use (pam, sshd, key, ...)."""

    def __init__(self, tmp_path_factory, tenant, syslog, name):
        self.work = str(tmp_path_factory.mktemp(name))
        self.tenant = tenant
        self.syslog = syslog
        self.users = LocalUsers()
        self.pam = None
        self.sshd = None
        self.log_mark = self.sshd_mark = None
        self._undo = []  # callables that return what they could not remove

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        left = []
        try:
            for undo in reversed(self._undo):
                left += undo()
        finally:
            self.users.remove_all()
        if exc_type is None:
            assert not left, "left behind: %s" % left
        return False

    def add_user(self, name, home=False, password=None):
        self.users.add(name, home)
        if password is not None:
            subprocess.run(["chpasswd"], input="%s:%s\n" % (name, password), text=True,
                           check=True)

    def pam_setup(self, service, users_text):
        """The private PAM stack (e2e_pam_setup) as self.pam."""
        self.pam = e2e_pam_setup(self.work, self.tenant, self.syslog, service, users_text)
        return self.pam

    def start_sshd(self, allow_users, extra=""):
        """A real sshd (Sshd) on self.pam's services as self.sshd; stopped on leaving."""
        sshd = Sshd(self.work, self.pam.confdir, allow_users, extra)
        self._undo.append(sshd.stop)
        self.sshd = sshd.start(wrap=self.syslog.wrap)
        return self.sshd

    def install_sudo_service(self, user):
        """SudoService for user on self.pam's config; removed on leaving."""
        service = SudoService(user, self.pam.config_path, self.work)

        def remove():
            service.remove()
            return service.leftovers()
        self._undo.append(remove)
        service.install()
        return service

    def fresh(self):
        """Per test: the tenant forgets earlier tests, and this test's logs start here."""
        self.tenant.reset()
        self.log_mark = self.syslog.mark()
        if self.sshd:
            self.sshd_mark = self.sshd.mark()
        return self

    def logs(self):
        """The syslog lines since fresh(), as one text."""
        return "\n".join(self.syslog.since(self.log_mark))
