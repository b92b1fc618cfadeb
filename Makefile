# pam_extid — build, test, demo, install. No autotools: pkg-config finds the libraries.
VERSION   := 0.1.0
CC        ?= cc
PKG       := pam libcurl libcjson libcrypto
PKG_CFLAGS := $(shell pkg-config --cflags $(PKG) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKG) 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
HARDEN    := -fstack-protector-strong -D_FORTIFY_SOURCE=2 -fPIC
OPT       ?= -O2 -g
CFLAGS    ?=
CFLAGS    += -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(HARDEN) $(PKG_CFLAGS) -DEXTID_VERSION='"$(VERSION)"'
LDFLAGS   += -Wl,-z,relro,-z,now -Wl,--as-needed

BUILD     ?= build
SRC       := $(sort $(wildcard src/*.c))
OBJ       := $(SRC:src/%.c=$(BUILD)/src/%.o)
CORE      := $(BUILD)/libextid.a
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
PAMCLIENT := $(BUILD)/extid-pamclient

PREFIX    ?= /usr
LIBDIR    := $(shell pkg-config --variable=libdir pam 2>/dev/null || echo /usr/lib)
PAMDIR    ?= $(LIBDIR)/security
PYTHON    ?= /usr/bin/python3

.PHONY: all test unit demo deps install uninstall clean check-exports
all: pam_extid.so $(PAMCLIENT) $(UNIT_BIN)

$(BUILD)/src/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(CORE): $(OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

pam_extid.so: pam_extid.c pam_extid.map $(CORE) $(wildcard src/*.h)
	$(CC) $(CFLAGS) -shared -o $@ pam_extid.c $(CORE) $(LDFLAGS) \
	    -Wl,--no-undefined -Wl,--version-script=pam_extid.map $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(CORE) $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-missing-prototypes -Isrc -o $@ $< $(CORE) $(LDFLAGS) \
	    $(shell pkg-config --cflags --libs cmocka) $(PKG_LIBS)

$(PAMCLIENT): tests/pam_client.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS) -lpam

# Only pam_sm_* may be visible to the host process.
check-exports: pam_extid.so
	@bad=$$(nm -D --defined-only pam_extid.so | awk '{print $$3}' | grep -v '^pam_sm_' || true); \
	if [ -n "$$bad" ]; then echo "unexpected exports: $$bad"; exit 1; fi

deps:
	@sh tests/deps.sh

unit: $(UNIT_BIN)
	@for t in $(UNIT_BIN); do $$t || exit 1; done

test: deps
	@$(MAKE) --no-print-directory all check-exports
	@$(PYTHON) tests/run_tests.py

demo: deps
	@$(MAKE) --no-print-directory all
	@$(PYTHON) tests/demo.py

install: pam_extid.so
	install -d -m 0755 $(DESTDIR)$(PAMDIR)
	install -m 0644 pam_extid.so $(DESTDIR)$(PAMDIR)/pam_extid.so

uninstall:
	rm -f $(DESTDIR)$(PAMDIR)/pam_extid.so

clean:
	rm -rf $(BUILD) pam_extid.so
