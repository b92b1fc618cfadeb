# pam_extid — build, test, demo, install. No autotools: pkg-config finds the libraries.
# Sections: build settings, build, tests, formatting, hardening, install and package, benchmark,
# clean. `make help` lists the targets people use.

# ---- Build settings ------------------------------------------------------------------------------
VERSION   := 0.1.0
CC        ?= cc
PKG       := pam libcurl libcjson libssl libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKG) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKG) 2>/dev/null) -pthread

# Warnings are errors in developer and CI builds; packagers build with WERROR= so that a new
# compiler's new warning cannot break the package build (debian/rules does).
WERROR    ?= -Werror
WARN      := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
HARDEN    := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC
OPT       ?= -O2 -g
CFLAGS    ?=
CFLAGS    += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(WERROR) $(HARDEN) $(PKG_CFLAGS) \
             -DEXTID_VERSION='"$(VERSION)"'
LDFLAGS   += -Wl,-z,relro,-z,now -Wl,--as-needed

BUILD     ?= build
SRC       := $(sort $(wildcard src/*.c))
OBJ       := $(SRC:src/%.c=$(BUILD)/src/%.o)
CORE      := $(BUILD)/libextid.a
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
PAMCLIENT := $(BUILD)/extid-pamclient
CHECK     := $(BUILD)/extid-check
THREADS   := $(BUILD)/extid-threads-client
VECTORS   := $(BUILD)/extid-vectors
PYTHON    ?= /usr/bin/python3

# ---- Build: the module, extid-check, the test programs -------------------------------------------
.PHONY: all check-exports help
all: pam_extid.so $(PAMCLIENT) $(CHECK) $(THREADS) $(VECTORS) $(UNIT_BIN)

help:
	@echo 'make             build pam_extid.so, build/extid-check and the test programs'
	@echo 'make demo        a real PAM login against the bundled mock tenant (root)'
	@echo 'make test        the whole test suite (root; installs missing Debian packages)'
	@echo 'make unit        the cmocka unit tests (tests needing root skip without it)'
	@echo 'make check       the quick run: unit tests and the suites not marked slow'
	@echo 'make vectors VECTORS_DIR=dir   public JOSE/RSA test vectors (docs/test-vectors.md)'
	@echo 'make format      reformat the C sources; make format-check: report only'
	@echo 'make fuzz, test-asan, test-valgrind, test-tsan, static: hardening checks'
	@echo 'make install, uninstall, deb: install from the tree or build the Debian package'
	@echo 'make bench       the benchmark (root, a few minutes)'

$(BUILD)/src/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(CORE): $(OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

# ./pam_extid.so is the module; a build tree's own copy (build-asan/pam_extid.so) is made with
# that tree's flags by the same rule.
pam_extid.so $(BUILD)/pam_extid.so: pam_extid.c pam_extid.map $(CORE) $(wildcard src/*.h)
	$(CC) $(CFLAGS) -shared -o $@ pam_extid.c $(CORE) $(LDFLAGS) \
	    -Wl,--no-undefined -Wl,--version-script=pam_extid.map $(PKG_LIBS)

# Only pam_sm_* may be visible to the host process.
check-exports: pam_extid.so
	@bad=$$(nm -D --defined-only pam_extid.so | awk '{print $$3}' | grep -v '^pam_sm_' || true); \
	if [ -n "$$bad" ]; then echo "unexpected exports: $$bad"; exit 1; fi

# extid-check is built from the same core as the module.
$(CHECK): tools/extid-check.c tools/terminal.c tools/terminal.h $(CORE) $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -Itools -o $@ tools/extid-check.c tools/terminal.c $(CORE) \
	    $(LDFLAGS) $(PKG_LIBS)

# Unit tests find files beside their source (tests/unit/https_server.py) through UNIT_DIR.
$(BUILD)/tests/%: tests/unit/%.c $(CORE) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -Isrc -DUNIT_DIR='"$(CURDIR)/tests/unit"' -o $@ $< \
	    $(CORE) $(LDFLAGS) \
	    $(shell pkg-config --cflags --libs cmocka) $(PKG_LIBS)

# PAM clients for the Python suites: one login per process, and logins from several threads.
$(PAMCLIENT): tests/pam_client.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) -lpam

$(THREADS): tests/threads_client.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -pthread -o $@ $< $(LDFLAGS) -lpam

# ---- Tests (tests/README.md says what each suite proves and what it needs) -----------------------
.PHONY: deps unit check test demo
deps:
	@sh tests/deps.sh

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t || exit 1; done

# The quick run: the unit tests and every suite not marked slow, without installing anything.
# Not run as root, the tests marked system skip, saying why.
check: all check-exports unit
	@$(PYTHON) -m pytest -p no:cacheprovider -q -m "not slow" tests

test: deps
	@$(MAKE) --no-print-directory all check-exports
	@$(PYTHON) tests/run_tests.py

demo: deps
	@$(MAKE) --no-print-directory all
	@$(PYTHON) tests/demo.py

# Public JOSE and RSA test vectors through the module's own JWS and JWK code (docs/
# test-vectors.md). They are third-party data kept outside the repository:
# `make vectors VECTORS_DIR=dir`, dir holding wycheproof/, cookbook/ and rfc/.
.PHONY: vectors
$(VECTORS): tests/vectors/run_vectors.c $(CORE) $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(CORE) $(LDFLAGS) $(PKG_LIBS)

vectors: $(VECTORS)
	@if [ -z "$(VECTORS_DIR)" ] || [ ! -d "$(VECTORS_DIR)" ]; then \
	    echo "make vectors: VECTORS_DIR='$(VECTORS_DIR)' is not a directory" >&2; exit 1; fi
	@$(VECTORS) "$(VECTORS_DIR)"

# ---- Formatting: .clang-format is the house style ------------------------------------------------
CLANG_FORMAT ?= clang-format
C_SOURCES    := $(sort pam_extid.c $(wildcard src/*.[ch] tools/*.[ch] tests/*.c tests/unit/*.[ch] \
                  tests/fuzz/*.[ch] tests/bench/*.c tests/vectors/*.[ch]))
.PHONY: format format-check

format:
	$(CLANG_FORMAT) -i $(C_SOURCES)

format-check:
	$(CLANG_FORMAT) --dry-run --Werror $(C_SOURCES)

# ---- Hardening: fuzzing, the suites under ASan+UBSan, valgrind and TSan, static analysis ---------
# Each target fails on any finding. Trees: build-fuzz, build-asan, build-tsan, build-scan.
# `make fuzz FUZZ_SECONDS=600` fuzzes longer.
.PHONY: fuzz fuzz-build test-asan test-valgrind test-tsan static sanitized-tree

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_JOBS    ?= $(shell nproc 2>/dev/null || echo 1)
FUZZ_DIR     := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_DIR) CC=$(FUZZ_CC) \
	    OPT="-O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link" $(FUZZ_DIR)/libextid.a
	@$(MAKE) --no-print-directory -s $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)

# The login fuzzer makes allocations fail on purpose: the core's calls to them go to its
# counter.
$(FUZZ_DIR)/fuzz_login: FUZZ_LDFLAGS := $(foreach f,malloc calloc realloc strdup strndup,-Wl,--wrap=$(f))

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(wildcard tests/unit/*.h) \
                    $(FUZZ_DIR)/libextid.a
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer $(WARN) $(WERROR) \
	    $(PKG_CFLAGS) -Isrc -o $@ $< $(FUZZ_DIR)/libextid.a $(FUZZ_LDFLAGS) $(PKG_LIBS)

fuzz: fuzz-build
	@printf '%s\n' $(FUZZ_NAMES) | \
	    xargs -P $(FUZZ_JOBS) -I{} sh tests/fuzz/run.sh {} $(FUZZ_DIR) $(FUZZ_SECONDS)

# gcc, because its ASan runtime is a shared library that a dlopen'd module can use once the
# (uninstrumented) PAM client has it preloaded.
ASAN_CC   ?= gcc
ASAN_DIR  := build-asan
ASAN_OPT  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_ENV   := ASAN_OPTIONS=detect_leaks=1:exitcode=99:strict_string_checks=1:detect_stack_use_after_return=1 \
             UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99
VALGRIND  := valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
             --show-leak-kinds=definite,indirect --error-exitcode=99
# The PAM-stack suites that run again under the sanitizers and valgrind.
HARDEN_SUITES := tests/test_pam_login.py tests/test_pam_authz.py tests/test_host_safety.py

sanitized-tree: $(BUILD)/pam_extid.so $(UNIT_BIN)

test-asan: all
	@$(MAKE) --no-print-directory -s BUILD=$(ASAN_DIR) CC=$(ASAN_CC) OPT="$(ASAN_OPT)" sanitized-tree
	@mkdir -p $(ASAN_DIR)/logs; for t in $(UNIT_SRC:tests/unit/%.c=$(ASAN_DIR)/tests/%); do \
	    log=$(ASAN_DIR)/logs/$${t##*/}.log; \
	    env $(SAN_ENV) $$t >$$log 2>&1 || { cat $$log; echo "test-asan: $$t failed"; exit 1; }; \
	done; echo "test-asan: unit tests clean"
	EXTID_TEST_MODULE=$(CURDIR)/$(ASAN_DIR)/pam_extid.so \
	EXTID_TEST_WRAP="env LD_PRELOAD=$$($(ASAN_CC) -print-file-name=libasan.so) $(SAN_ENV)" \
	    $(PYTHON) -m pytest -p no:cacheprovider -q $(HARDEN_SUITES)

test-valgrind: all
	@mkdir -p $(BUILD)/valgrind; for t in $(UNIT_BIN); do log=$(BUILD)/valgrind/$${t##*/}.log; \
	    $(VALGRIND) $$t >$$log 2>&1 || { cat $$log; echo "test-valgrind: $$t failed"; exit 1; }; \
	done; echo "test-valgrind: unit tests clean"
	EXTID_TEST_WRAP="$(VALGRIND)" $(PYTHON) -m pytest -p no:cacheprovider -q $(HARDEN_SUITES)

# Data races: the module built with ThreadSanitizer, in the threads client (logins in parallel
# threads) and in the PAM-stack suites (the worker that connects while the address is typed).
TSAN_DIR  := build-tsan
test-tsan: all
	@$(MAKE) --no-print-directory -s BUILD=$(TSAN_DIR) CC=$(ASAN_CC) OPT="-O1 -g -fsanitize=thread" \
	    $(TSAN_DIR)/pam_extid.so
	EXTID_TEST_MODULE=$(CURDIR)/$(TSAN_DIR)/pam_extid.so \
	EXTID_TEST_WRAP="env LD_PRELOAD=$$($(ASAN_CC) -print-file-name=libtsan.so) \
	    TSAN_OPTIONS=exitcode=99:suppressions=$(CURDIR)/tests/tsan.supp" \
	    $(PYTHON) -m pytest -p no:cacheprovider -q $(HARDEN_SUITES)

static:
	cppcheck --enable=warning,performance,portability --error-exitcode=1 --inline-suppr --quiet \
	    --std=c11 -D_GNU_SOURCE -Isrc src pam_extid.c
	@rm -rf build-scan
	scan-build --status-bugs --use-cc=clang -o build-scan/report \
	    $(MAKE) --no-print-directory -s BUILD=build-scan build-scan/libextid.a build-scan/pam_extid.so

# ---- Install and package: make install / uninstall, the Debian package ---------------------------
# `make install` honours DESTDIR, PREFIX and PAMDIR; it never overwrites an existing
# configuration, and `make uninstall` removes only example files the administrator left
# unchanged. `make deb` builds the .deb in a copy of the tree under $(BUILD)/deb, so the working
# tree is never cleaned by dpkg-buildpackage.
.PHONY: install uninstall deb
PREFIX     ?= /usr
LIBDIR     := $(shell pkg-config --variable=libdir pam 2>/dev/null || echo /usr/lib)
PAMDIR     ?= $(LIBDIR)/security
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
# pam-auth-update reads its profiles from /usr/share/pam-configs only, whatever PREFIX is.
PAMCONFDIR ?= /usr/share/pam-configs
SECDIR     := /etc/security
CACHEDIR   := /var/cache/pam_extid
OWNER      := $(shell [ "$$(id -u)" = 0 ] && echo "-o root -g root")
DEBDIR     := $(BUILD)/deb

install: pam_extid.so $(CHECK)
	install -d -m 0755 $(DESTDIR)$(PAMDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(PAMCONFDIR) $(DESTDIR)$(SECDIR)
	install -m 0644 $(OWNER) pam_extid.so $(DESTDIR)$(PAMDIR)/pam_extid.so
	install -m 0755 $(OWNER) $(CHECK) $(DESTDIR)$(SBINDIR)/extid-check
	install -m 0644 $(OWNER) man/pam_extid.8 man/extid-check.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(OWNER) man/pam_extid.conf.5 man/pam_extid.users.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(OWNER) conf/pam-configs/extid $(DESTDIR)$(PAMCONFDIR)/extid
	@# The administrator's files are never replaced.
	[ -e $(DESTDIR)$(SECDIR)/pam_extid.conf ] || \
	    install -m 0600 $(OWNER) conf/pam_extid.conf $(DESTDIR)$(SECDIR)/pam_extid.conf
	[ -e $(DESTDIR)$(SECDIR)/pam_extid.users ] || \
	    install -m 0644 $(OWNER) conf/pam_extid.users $(DESTDIR)$(SECDIR)/pam_extid.users
	install -d -m 0700 $(OWNER) $(DESTDIR)$(CACHEDIR)

uninstall:
	@# An enabled profile must leave the live PAM stack before its module does.
	$(if $(DESTDIR),,if [ -e $(PAMCONFDIR)/extid ] && command -v pam-auth-update >/dev/null; \
	    then pam-auth-update --package --remove extid; fi)
	rm -f $(DESTDIR)$(PAMDIR)/pam_extid.so $(DESTDIR)$(SBINDIR)/extid-check \
	    $(DESTDIR)$(MANDIR)/man8/pam_extid.8 $(DESTDIR)$(MANDIR)/man8/extid-check.8 \
	    $(DESTDIR)$(MANDIR)/man5/pam_extid.conf.5 $(DESTDIR)$(MANDIR)/man5/pam_extid.users.5 \
	    $(DESTDIR)$(PAMCONFDIR)/extid
	@# The one-user sudo trial (sudoers drop-in, then its PAM service) needs the module: it goes
	@# too, unless the drop-in holds more than the trial.
	t=$(DESTDIR)/etc/sudoers.d/extid; if [ -f $$t ]; then \
	    if grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$$' $$t | grep -qv sudo-extid; then \
	        echo "kept $$t (it holds more than the sudo-extid trial)"; else rm -f $$t; fi; fi
	if grep -qs pam_extid $(DESTDIR)/etc/pam.d/sudo-extid; then \
	    rm -f $(DESTDIR)/etc/pam.d/sudo-extid; fi
	@# Configuration goes only while it is still the unchanged example.
	for f in pam_extid.conf pam_extid.users; do \
	    if cmp -s conf/$$f $(DESTDIR)$(SECDIR)/$$f; then rm -f $(DESTDIR)$(SECDIR)/$$f; \
	    elif [ -e $(DESTDIR)$(SECDIR)/$$f ]; then echo "kept $(DESTDIR)$(SECDIR)/$$f (changed)"; fi; \
	done
	rm -rf $(DESTDIR)$(CACHEDIR)

deb:
	rm -rf $(DEBDIR)
	mkdir -p $(DEBDIR)/libpam-extid-$(VERSION)
	tar -cf - --exclude=./.git --exclude='./build*' --exclude=./pam_extid.so \
	    --exclude=__pycache__ --exclude=.pytest_cache --exclude=./debian/libpam-extid \
	    --exclude=./debian/.debhelper --exclude=./debian/tmp --exclude=./debian/files \
	    --exclude='./debian/*.substvars' --exclude='./debian/*.debhelper*' . \
	    | tar -xf - -C $(DEBDIR)/libpam-extid-$(VERSION)
	@# Command-line variables (BUILD=...) reach recipes through MAKEFLAGS and the environment;
	@# the package's own make runs must not see them (its `make clean` would remove this copy).
	cd $(DEBDIR)/libpam-extid-$(VERSION) && \
	    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u BUILD -u DESTDIR -u PREFIX -u PAMDIR \
	        -u SBINDIR -u MANDIR -u PAMCONFDIR -u WERROR dpkg-buildpackage -us -uc -b
	lintian --fail-on error $(DEBDIR)/libpam-extid_$(VERSION)_*.deb

# ---- Benchmark: pam_extid against the network floor and the pam_exec script ---------------------
# `make bench` prints the table and records it in tests/bench/RESULTS.md (a few minutes, root).
# `make bench-smoke` checks the whole bench end to end in seconds (rtt 0, 2 logins); the test
# suite runs it. Neither is part of `make test` timing.
.PHONY: bench bench-smoke
BENCHCLIENT := $(BUILD)/bench/bench-client

$(BENCHCLIENT): tests/bench/bench_client.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) -lpam

bench: pam_extid.so $(BENCHCLIENT)
	$(PYTHON) tests/bench/bench.py --client $(BENCHCLIENT) --record tests/bench/RESULTS.md

bench-smoke: pam_extid.so $(BENCHCLIENT)
	$(PYTHON) tests/bench/bench.py --client $(BENCHCLIENT) --smoke $(BENCH_ARGS)

# ---- Clean ---------------------------------------------------------------------------------------
.PHONY: clean
clean:
	rm -rf $(BUILD) pam_extid.so $(FUZZ_DIR) $(ASAN_DIR) $(TSAN_DIR) build-scan
