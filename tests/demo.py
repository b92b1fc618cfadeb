#!/usr/bin/python3
"""make demo: a real PAM login (real libpam, the built pam_extid.so) against the bundled mock
tenant. The mock prints each emailed code on the terminal, standing in for the inbox.
Interactive on a terminal; answers by itself with --auto or when stdin is not a terminal."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pamharness import CLIENT, PamSetup, SyslogSink, ensure_user, remove_user  # noqa: E402
from mock_tenant_control import MockTenant  # noqa: E402

DEMO_USER = "extiddemo"


def main():
    if os.geteuid() != 0:
        print("make demo needs root: it creates the local account %r, root-owned config files "
              "and a syslog socket, and removes them afterwards. Run: sudo make demo" % DEMO_USER)
        return 1
    auto = "--auto" in sys.argv or not sys.stdin.isatty()
    work = tempfile.mkdtemp(prefix="extid-demo-")
    os.chmod(work, 0o755)
    tenant = MockTenant()
    sink = None
    created = False
    try:
        tenant.start(os.path.join(work, "tenant"), print_codes=True)
        sink = SyslogSink(work)
        created = ensure_user(DEMO_USER)
        pam = PamSetup(work, tenant, sink, service="extid-demo")
        pam.write_users("%s  *@example.com\n" % DEMO_USER)
        print("\n== pam_extid demo ==")
        print("mock tenant: %s" % tenant.authority)
        print("PAM service file: %s" % os.path.join(pam.confdir, pam.service))
        print("config: %s\nusers file: %s  (%s may be opened by any address @example.com)"
              % (pam.config_path, pam.users_path, DEMO_USER))
        print("Logging in as %s. Type an address such as alice@example.com, then the code the "
              "mock tenant prints.\n" % DEMO_USER)
        mark = sink.mark()
        if auto:
            res = pam.login(DEMO_USER, emails=["alice@example.com"])
            for kind, text in res.transcript:
                print("  %-16s %s" % (kind, text))
            for answer in res.answers_sent:
                print("  (answered %r)" % answer)
            rc = res.rc
        else:
            argv = sink.wrap([CLIENT, "--confdir", pam.confdir, "--service", pam.service,
                              DEMO_USER])
            rc = subprocess.run(argv).returncode
        print("\nWhat pam_extid logged (syslog, LOG_AUTHPRIV):")
        for line in sink.since(mark):
            print("  " + line.split(": ", 1)[-1] if ": " in line else line)
        print("\nResult: %s" % ("login granted (PAM_SUCCESS)" if rc == 0
                                else "login refused (PAM code %d)" % rc))
        return 0 if rc == 0 or not auto else 1
    finally:
        if created:
            remove_user(DEMO_USER)
        if sink:
            sink.close()
        tenant.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
