"""The documentation agrees with the code: the keys of pam_extid.conf(5), of docs/configuration.md
and of the parser (src/config.c) are the same set; each documented key, range and default is
what the real parser accepts (probed through extid-check, which loads the configuration with the
core's own code); the documented examples parse; the man pages are lint-clean; nothing refers
to files outside the repository or to issue numbers; tests/README.md has a row for every suite,
whose root and slow columns match the markers."""
import glob
import os
import re
import subprocess
import sys

import pytest

from pamharness import ROOT, write_root_file

MAN = os.path.join(ROOT, "man")
CONF5 = os.path.join(MAN, "pam_extid.conf.5")
USERS5 = os.path.join(MAN, "pam_extid.users.5")
PAGES = [os.path.join(MAN, p)
         for p in ("pam_extid.8", "pam_extid.conf.5", "pam_extid.users.5", "extid-check.8")]
README = os.path.join(ROOT, "README.md")
DOCS = os.path.join(ROOT, "docs")
CONFIG_DOC = os.path.join(DOCS, "configuration.md")
CONFIG_C = os.path.join(ROOT, "src", "config.c")
CHECK = os.path.join(ROOT, "build", "extid-check")

# A valid value for each key, to probe that a documented key is accepted. A key documented
# without an entry here fails the test: add one.
SAMPLES = {
    "tenant": "contoso",
    "authority": "https://login.example.com/11112222-bbbb-3333-cccc-4444dddd5555",
    "client_id": "00001111-aaaa-2222-bbbb-3333cccc4444",
    "tenant_id": "11112222-bbbb-3333-cccc-4444dddd5555",
    "users": None,        # the probe's users file
    "ca_file": "/etc/ssl/certs/ca-certificates.crt",
    "proxy": "http://proxy.example.net:3128",
    "identity_claim": "email",
    "cache_dir": None,    # the probe's cache directory
    "unmapped": "ignore",
    "export_env": "yes",
    "early_connect": "no",
    "methods": "otp password",
    "debug": "",          # a flag: no value
}


def section(text, start, stop_pattern):
    i = text.index(start)
    m = re.compile(stop_pattern, re.M).search(text, i + len(start))
    return text[i:m.start() if m else len(text)]


def man_settings():
    """{key: chunk of roff} for each .TP entry under SETTINGS."""
    text = open(CONF5).read()
    body = section(text, "\n.SH SETTINGS\n", r"^\.SH ")
    out = {}
    for chunk in body.split("\n.TP\n")[1:]:
        m = re.match(r'\.BI? "?([a-z_]+)', chunk)
        assert m, "a .TP entry under SETTINGS does not start with its key: %r" % chunk[:60]
        out[m.group(1)] = chunk
    return out


def readme_settings():
    """{key: default column} from the table in docs/configuration.md."""
    body = section(open(CONFIG_DOC).read(), "## Settings", r"^## ")
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]*) \|", body, re.M)
    return {k: d.strip().strip("`") for k, d in rows}


def parser_keys():
    """The parser's key table (key_names[] in src/config.c)."""
    text = open(CONFIG_C).read()
    table = section(text, "key_names[K_COUNT] = {", r"^\};")
    keys = re.findall(r'\[K_[A-Z_]+\] = "([a-z_]+)"', table)
    assert len(keys) > 10, "key table not found in src/config.c"
    return set(keys)


def man_range(chunk):
    m = re.search(r"from\s+(\d+)\s+to\s+(\d+)", chunk)
    return (int(m.group(1)), int(m.group(2))) if m else None


def man_default(chunk):
    m = re.search(r"Default:\s+(\d+)\.", chunk)
    return int(m.group(1)) if m else None


class Probe:
    """Writes root-owned config and users files and asks the real parser about them."""

    def __init__(self, d):
        self.dir = d
        self.users = os.path.join(d, "users")
        self.cache = os.path.join(d, "cache")
        self.conf = os.path.join(d, "probe.conf")
        write_root_file(self.users, "root root@example.com\n", 0o644)

    def base(self, without=()):
        s = {"client_id": SAMPLES["client_id"], "authority": SAMPLES["authority"],
             "users": self.users, "cache_dir": self.cache}
        if "tenant" in without:
            s.pop("authority")
        for k in without:
            s.pop(k, None)
        return s

    def sample(self, key):
        if key == "users":
            return self.users
        if key == "cache_dir":
            return self.cache
        return SAMPLES[key]

    def check(self, settings, args=()):
        text = "".join(("%s\n" % k) if v == "" else ("%s = %s\n" % (k, v))
                       for k, v in settings.items())
        write_root_file(self.conf, text)
        p = subprocess.run([CHECK, "--config", self.conf, "--offline"] + list(args),
                           capture_output=True, text=True, timeout=30)
        return p

    def accepts(self, key, value, via_argument=False):
        if via_argument:
            arg = key if value == "" else "%s=%s" % (key, value)
            return self.check(self.base(without=(key,)), [arg])
        s = self.base(without=(key,))
        s[key] = value
        return self.check(s)


@pytest.fixture
def probe(tmp_path):
    os.chmod(tmp_path, 0o755)
    return Probe(str(tmp_path))


def test_documented_keys_are_the_parser_keys():
    man = set(man_settings())
    readme = set(readme_settings())
    parser = parser_keys() - {"config"}  # config= is a module argument, documented in (8)
    assert man == parser, "pam_extid.conf.5 vs src/config.c: only in man %s, only in parser %s" \
        % (sorted(man - parser), sorted(parser - man))
    assert readme == parser, "docs/configuration.md vs src/config.c: only in the doc %s, " \
        "only in parser %s" \
        % (sorted(readme - parser), sorted(parser - readme))


def test_module_arguments_documented():
    text = open(os.path.join(MAN, "pam_extid.8")).read()
    options = section(text, "\n.SH OPTIONS\n", r"^\.SH ")
    assert ".BI config= path" in options and "\n.B debug\n" in options
    assert "config=PATH" in open(CONFIG_DOC).read()


@pytest.mark.system
def test_every_documented_key_is_accepted_in_file_and_argument(probe):
    for key, chunk in man_settings().items():
        rng = man_range(chunk)
        if rng:
            value = str(rng[0])
        else:
            assert key in SAMPLES, "no sample value for documented key %r: add one" % key
            value = probe.sample(key)
        for via_argument in (False, True):
            p = probe.accepts(key, value, via_argument)
            assert p.returncode == 0, (key, value, via_argument, p.stderr)


@pytest.mark.system
def test_undocumented_keys_are_refused(probe):
    for key, value in (("frobnicate", "1"), ("Timeout", "5"), ("max_attempt", "3")):
        s = probe.base()
        s[key] = value
        p = probe.check(s)
        assert p.returncode == 1, (key, p.stdout)
        assert "unknown key '%s'" % key in p.stderr
    s = probe.base()
    s["debug"] = "yes"
    p = probe.check(s)
    assert p.returncode == 1 and "debug is a flag and takes no value" in p.stderr
    s = probe.base()
    s["tenant"] = "contoso"
    p = probe.check(s)
    assert p.returncode == 1 and "either tenant or authority" in p.stderr
    p = probe.check(probe.base(), ["config=relative/path"])
    assert p.returncode == 1


@pytest.mark.system
def test_documented_comment_rule(probe):
    # pam_extid.conf.5: '#' starts a comment only at the beginning of a line.
    s = probe.base()
    s["# a comment line"] = ""
    assert probe.check(s).returncode == 0
    s = probe.base()
    s["timeout"] = "5 # seconds"
    p = probe.check(s)
    assert p.returncode == 1 and "timeout must be a plain decimal number" in p.stderr


@pytest.mark.system
def test_documented_ranges_are_the_parser_ranges(probe):
    ranged = {k: man_range(c) for k, c in man_settings().items() if man_range(c)}
    assert {"timeout", "max_attempts", "max_resends", "clock_skew", "jwks_ttl"} <= set(ranged)
    for key, (lo, hi) in ranged.items():
        for value, ok in ((lo, True), (hi, True), (hi + 1, False), (lo - 1, False)):
            if value < 0:
                continue
            p = probe.accepts(key, str(value))
            assert (p.returncode == 0) == ok, (key, value, p.stderr)
            if not ok:
                assert "outside %d..%d" % (lo, hi) in p.stderr, p.stderr


@pytest.mark.system
def test_documented_defaults_are_the_parser_defaults(probe):
    p = probe.check(probe.base())
    assert p.returncode == 0, p.stderr
    effective = dict(re.findall(r"^  ([a-z_]+) +(\S+)", p.stdout, re.M))
    readme = readme_settings()
    for key, chunk in man_settings().items():
        default = man_default(chunk)
        if default is None:
            continue
        assert effective.get(key) == str(default), (key, default, effective.get(key))
        assert readme[key] == str(default), (key, default, readme[key])
    for key in ("identity_claim", "unmapped"):
        assert effective[key] == readme[key], key


def fenced_blocks(text, after):
    body = section(text, after, r"^## ")
    return re.findall(r"^```[a-z]*\n(.*?)^```", body, re.M | re.S)


@pytest.mark.system
def test_documented_users_example_parses(probe):
    blocks = fenced_blocks(open(CONFIG_DOC).read(), "## Users file")
    users = [b for b in blocks if "*@" in b]
    assert users, "users-file example not found in docs/configuration.md"
    write_root_file(probe.users, users[0], 0o644)
    p = probe.check(probe.base())
    assert p.returncode == 0, p.stderr


@pytest.mark.system
def test_man_examples_parse(probe):
    text = open(CONF5).read()
    examples = re.findall(r"^\.EX\n(.*?)^\.EE", text, re.M | re.S)
    plain = [re.sub(r"\\-", "-", e) for e in examples]
    users = [e for e in plain if "*@" in e]
    configs = [e for e in plain if "client_id" in e]
    assert users and len(configs) == 2
    write_root_file(probe.users, users[0], 0o644)
    for conf in configs:
        conf += "users = %s\ncache_dir = %s\n" % (probe.users, probe.cache)
        write_root_file(probe.conf, conf)
        p = subprocess.run([CHECK, "--config", probe.conf, "--offline"], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 0, (conf, p.stderr)


@pytest.mark.system
def test_users_man_examples_parse(probe):
    text = open(USERS5).read()
    examples = [re.sub(r"\\-", "-", e)
                for e in re.findall(r"^\.EX\n(.*?)^\.EE", text, re.M | re.S)]
    users = [e for e in examples if "*@" in e]
    assert len(users) >= 3
    for example in users:
        write_root_file(probe.users, example, 0o644)
        p = probe.check(probe.base())
        assert p.returncode == 0, (example, p.stdout, p.stderr)
        assert "WARNING" not in p.stdout, (example, p.stdout)


@pytest.mark.parametrize("uncomment", [False, True], ids=["as-shipped", "examples-enabled"])
@pytest.mark.system
def test_shipped_examples_parse(probe, uncomment):
    users = open(os.path.join(ROOT, "conf", "pam_extid.users")).read()
    if uncomment:  # the commented example mappings must be valid once an admin enables them
        users = re.sub(r"(?m)^#(?=[a-z])", "", users)
        assert "kiosk    *@contoso.com" in users
    write_root_file(probe.users, users, 0o644)
    conf = open(os.path.join(ROOT, "conf", "pam_extid.conf")).read()
    write_root_file(probe.conf, conf + "users = %s\ncache_dir = %s\n" % (probe.users, probe.cache))
    p = subprocess.run([CHECK, "--config", probe.conf, "--offline"], capture_output=True,
                       text=True, timeout=30)
    if uncomment:
        assert p.returncode == 0, p.stderr
    else:  # valid, but it maps nobody, which the check points out
        assert p.returncode == 1 and p.stderr == "", p.stdout + p.stderr
        assert "0 accounts mapped: every login is refused" in p.stdout, p.stdout


@pytest.mark.parametrize("page", PAGES, ids=os.path.basename)
def test_man_page_lint(page):
    p = subprocess.run(["mandoc", "-Tlint", "-Wwarning", page], capture_output=True, text=True)
    assert p.stdout + p.stderr == "", p.stdout + p.stderr
    p = subprocess.run(["groff", "-ww", "-man", "-z", page], capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr


def test_versions_agree():
    version = re.search(r"^VERSION\s*:=\s*(\S+)", open(os.path.join(ROOT, "Makefile")).read(),
                        re.M).group(1)
    for page in PAGES:
        assert '"pam_extid %s"' % version in open(page).read(), page
    changelog = open(os.path.join(ROOT, "debian", "changelog")).readline()
    assert changelog.startswith("libpam-extid (%s)" % version), changelog


# Everything a reader needs is in the repository: no file cites documents that are not shipped
# with it, nor the numbers of a tracker it does not contain. Section signs are for RFCs only.
OUTSIDE_REFERENCES = [
    (re.compile(r"\b(DESIGN|nativeauth-api|testing-recipes|code-review)(\.md)?\b"),
     "a document that is not in the repository"),
    (re.compile(r"(\.\./|/work/)shared/|\bshared/reviews\b"), "a path outside the repository"),
    (re.compile(r"\bissues? #?\d+", re.I), "an issue number"),
    (re.compile(r"(?<!\d )§"), "a section sign that does not follow an RFC number"),
]
SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", "corpus", ".debhelper", "tmp",
             "libpam-extid"}


def repository_text_files():
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("build")]
        for name in files:
            path = os.path.join(top, name)
            if path == os.path.abspath(__file__) or name.endswith((".so", ".o", ".a", ".deb")):
                continue
            with open(path, "rb") as f:
                data = f.read()
            if b"\0" not in data:
                yield os.path.relpath(path, ROOT), data.decode("utf-8", "replace")


def test_no_references_outside_the_repository():
    found = []
    for rel, text in repository_text_files():
        for n, line in enumerate(text.splitlines(), 1):
            for pattern, what in OUTSIDE_REFERENCES:
                if pattern.search(line):
                    found.append("%s:%d: %s: %s" % (rel, n, what, line.strip()[:90]))
    assert not found, "\n".join(found)


def test_every_suite_has_a_row_in_the_tests_map():
    text = open(os.path.join(ROOT, "tests", "README.md")).read()
    rows = set(re.findall(r"^\| `((?:unit/)?test_\w+\.(?:py|c))` \|", text, re.M))
    suites = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "tests", "test_*.py"))}
    units = {"unit/" + os.path.basename(p)
             for p in glob.glob(os.path.join(ROOT, "tests", "unit", "test_*.c"))}
    missing = sorted((suites | units) - rows)
    assert not missing, "tests/README.md has no row for: %s" % ", ".join(missing)
    gone = sorted(rows - suites - units)
    assert not gone, "tests/README.md has rows for files that do not exist: %s" % ", ".join(gone)


def markdown_files():
    out = [README, os.path.join(ROOT, "tests", "README.md")]
    return out + sorted(glob.glob(os.path.join(DOCS, "*.md")))


def relative_links(path):
    """Targets of the Markdown links in path that point into the repository."""
    text = re.sub(r"^```.*?^```", "", open(path).read(), flags=re.M | re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"[a-z]+:", target) and not target.startswith("#"):
            yield target.split("#", 1)[0]


def test_links_between_documents_resolve():
    broken = []
    for md in markdown_files():
        for target in relative_links(md):
            if not os.path.exists(os.path.join(os.path.dirname(md), target)):
                broken.append("%s: %s" % (os.path.relpath(md, ROOT), target))
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def test_every_document_is_reachable_from_the_readme():
    seen, todo = set(), [README]
    while todo:
        md = os.path.realpath(todo.pop())
        if md in seen or not md.endswith(".md") or not os.path.exists(md):
            continue
        seen.add(md)
        todo += [os.path.join(os.path.dirname(md), t) for t in relative_links(md)]
    lost = [os.path.relpath(d, ROOT) for d in markdown_files() if os.path.realpath(d) not in seen]
    assert not lost, "not linked from README.md or a document it links to: %s" % ", ".join(lost)


def test_readme_is_a_front_door():
    text = open(README).read()
    assert len(text.splitlines()) <= 120, "README.md grows: move the details to docs/"
    commands = fenced_blocks(text, "## Two commands")[0]
    assert re.search(r"^make demo\b", commands, re.M) and re.search(r"^make test\b", commands, re.M)
    for target in ("demo", "test"):
        assert re.search(r"^%s:" % target, open(os.path.join(ROOT, "Makefile")).read(), re.M)


def test_architecture_names_every_module():
    text = open(os.path.join(DOCS, "architecture.md")).read()
    modules = [os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "src", "*.c"))]
    missing = sorted(m for m in modules + ["pam_extid.c"]
                     if "`%s`" % os.path.basename(m) not in text)
    assert not missing, "docs/architecture.md does not name: %s" % ", ".join(missing)


def test_licence_file_is_the_packaged_licence():
    copyright = open(os.path.join(ROOT, "debian", "copyright")).read()
    packaged = copyright.split("License: MIT\n", 2)[2].strip("\n").splitlines()
    packaged = "\n".join("" if line == " ." else line[1:] for line in packaged)
    holder = re.search(r"^Copyright: (.*)$", copyright, re.M).group(1)
    text = open(os.path.join(ROOT, "LICENSE")).read()
    assert text == "MIT License\n\nCopyright (c) %s\n\n%s\n" % (holder, packaged)


def collected(*args):
    """{suite file name: number of tests} that pytest collects with args."""
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--co"]
                       + list(args) + [os.path.join(ROOT, "tests")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode in (0, 5), p.stdout + p.stderr  # 5: nothing selected
    counts = {}
    for line in p.stdout.splitlines():
        if "::" in line:
            name = os.path.basename(line.split("::", 1)[0])
            counts[name] = counts.get(name, 0) + 1
    return counts


@pytest.mark.slow  # three collections of the whole tree
def test_tests_map_agrees_with_the_markers():
    text = open(os.path.join(ROOT, "tests", "README.md")).read()
    table = section(text, "## The suites", r"^## ")
    rows = re.findall(r"^\| `(test_\w+\.py)` \|.*\| ([^|]+) \| ([^|]+) \|$", table, re.M)
    assert rows, "the suites table was not found in tests/README.md"
    total = collected()
    marked = {"system": collected("-m", "system"), "slow": collected("-m", "slow")}
    wrong = []
    for name, *columns in rows:
        for marker, said in zip(("system", "slow"), (c.strip() for c in columns)):
            n, of = marked[marker].get(name, 0), total.get(name, 0)
            actual = "yes" if n == of else "no" if n == 0 else "some"
            if actual != {"yes": "yes", "no": "no"}.get(said, "some"):
                wrong.append("%s: the map says %s for %s, %d of %d tests are marked"
                             % (name, said, marker, n, of))
    assert not wrong, "\n".join(wrong)


def test_unit_test_map_agrees_with_the_root_runner():
    text = open(os.path.join(ROOT, "tests", "README.md")).read()
    rows = re.findall(r"^\| `unit/(test_\w+\.c)` \|.*\| (yes|no) \|$", text, re.M)
    assert rows, "the unit test table was not found in tests/README.md"
    wrong = []
    for name, said in rows:
        src = open(os.path.join(ROOT, "tests", "unit", name)).read()
        actual = "yes" if "ufx_run_root_group_tests(" in src else "no"
        if said != actual:
            wrong.append("unit/%s: the map says root %s, the program says %s" % (name, said, actual))
    assert not wrong, "\n".join(wrong)
