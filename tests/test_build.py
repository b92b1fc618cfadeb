"""The build: developer and CI builds turn warnings into errors, the Debian package build does not
(a newer compiler's new warning must not break packaging); the unit tests run without root, each
test that needs root reporting itself as skipped and why; the core's modules include only their
own layer and the layers below; every C file opens with a comment saying what it is for."""
import glob
import os
import re
import shutil
import subprocess

import pytest

from pamharness import ROOT

NOBODY = 65534


def need_root():
    """The unit test programs that create files owned by uid 0 (the only owner the core accepts)
    say so by running their group through ufx_run_root_group_tests."""
    out = set()
    for src in glob.glob(os.path.join(ROOT, "tests", "unit", "test_*.c")):
        if "ufx_run_root_group_tests(" in open(src).read():
            out.add(os.path.basename(src)[:-2])
    return out


def compile_command(tmp_path, *args):
    p = subprocess.run(["make", "-n", "-B", "--no-print-directory", "BUILD=%s" % tmp_path]
                       + list(args) + ["%s/src/util.o" % tmp_path],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_developer_build_fails_on_warnings_package_build_does_not(tmp_path):
    assert " -Werror " in compile_command(tmp_path)
    assert "-Werror" not in compile_command(tmp_path, "WERROR=")
    rules = open(os.path.join(ROOT, "debian", "rules")).read()
    calls = re.findall(r"^\t\$\(MAKE\)(.*)$", rules, re.M)
    assert calls, "debian/rules runs no make"
    for call in calls:
        assert re.search(r"(^|\s)WERROR=(\s|$)", call), "debian/rules: make without WERROR=: " + call


@pytest.mark.system
def test_unit_tests_run_without_root(tmp_path):
    binaries = [b for b in glob.glob(os.path.join(ROOT, "build", "tests", "test_*"))
                if "." not in os.path.basename(b) and os.access(b, os.X_OK)]
    needs_root = need_root()
    assert {"test_config", "test_safefile"} <= needs_root
    assert {os.path.basename(b) for b in binaries} >= needs_root, "build the unit tests first"
    os.chmod(tmp_path, 0o755)
    for b in binaries:
        name = os.path.basename(b)
        copy = os.path.join(str(tmp_path), name)
        shutil.copy(b, copy)
        os.chmod(copy, 0o755)
        p = subprocess.run(["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                            "--clear-groups", copy], cwd=str(tmp_path), capture_output=True,
                           text=True, timeout=120)
        out = p.stdout + p.stderr
        assert p.returncode == 0, (name, out)
        assert "FAILED" not in out and "ERROR" not in out, (name, out)
        ran = int(re.search(r"\[==========\] (\d+) test\(s\) run", out).group(1))
        skipped = set(re.findall(r"\[  SKIPPED \] (test_\w+)", out))
        if name in needs_root:
            assert ran > 0 and len(skipped) == ran, (name, out)
            assert out.count("needs root: it creates files owned by uid 0") == ran, (name, out)
        else:
            assert not skipped and "[  PASSED  ] %d test(s)" % ran in out, (name, out)


# The core's layers (docs/architecture.md draws them). A module may include headers of its own
# layer and of the layers below; network and token checks are siblings and never include each
# other; only the pipeline sees everything. A new module goes into this table and that document.
LAYERS = {
    "base": {"result", "log", "util"},
    "local": {"config", "users", "safefile", "cache", "throttle"},
    "network": {"http", "early", "entra_app", "entra_json", "entra_errors", "nativeauth",
                "discovery"},
    "token": {"b64url", "jwt", "jwks", "weakkey", "claims", "idtoken", "authz", "session_env"},
    "pipeline": {"login", "login_state", "step_address", "step_limits", "step_challenge",
                 "step_secrets", "step_verify", "transport"},
}
MAY_USE = {
    "base": {"base"},
    "local": {"base", "local"},
    "network": {"base", "local", "network"},
    "token": {"base", "local", "token"},
    "pipeline": set(LAYERS),
}


def test_core_layers_include_only_downwards():
    layer_of = {m: layer for layer, mods in LAYERS.items() for m in mods}
    wrong = []
    for path in sorted(glob.glob(os.path.join(ROOT, "src", "*.[ch]"))):
        name = os.path.splitext(os.path.basename(path))[0]
        assert name in layer_of, "src/%s: put it in a layer (LAYERS here, docs/architecture.md)" \
            % os.path.basename(path)
        text = open(path).read()
        if re.search(r'^#\s*include\s*<security/', text, re.M):
            wrong.append("src/%s includes a PAM header: only pam_extid.c may"
                         % os.path.basename(path))
        for inc in re.findall(r'^#\s*include\s*"([^"]+)\.h"', text, re.M):
            used = layer_of.get(inc)
            if used and used not in MAY_USE[layer_of[name]]:
                wrong.append("src/%s (%s) includes %s.h (%s)"
                             % (os.path.basename(path), layer_of[name], inc, used))
    assert not wrong, "\n".join(wrong)


def test_every_c_file_says_what_it_is_for():
    """The first thing in each C file is a comment saying what it is for."""
    sources = [p for pattern in ("src/*.[ch]", "pam_extid.c", "tools/*.[ch]", "tests/*.c",
                                 "tests/unit/*.[ch]", "tests/fuzz/*.[ch]", "tests/bench/*.c",
                                 "tests/vectors/*.[ch]")
               for p in glob.glob(os.path.join(ROOT, pattern))]
    silent = sorted(os.path.relpath(p, ROOT) for p in sources
                    if not open(p).read().startswith("/*"))
    assert not silent, "no opening comment: %s" % ", ".join(silent)
