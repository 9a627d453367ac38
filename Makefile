# SPDX-License-Identifier: GPL-2.0-or-later
# vfiomig — hand-written Makefile for Debian 12 and alike; ./configure is optional
# and writes config.mk, which is read here when present.

-include config.mk

# The version lives in VERSION alone (tests/harness/version.bats checks NEWS, the man
# pages and debian/changelog against it).
VERSION    := $(shell cat VERSION 2>/dev/null)
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(PREFIX)/share/zsh/site-functions
PKG_CONFIG ?= pkg-config
CC         ?= cc

# Features that ./configure may turn off (1 = on).
WITH_LIBPCI ?= 1

WARNINGS = -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes \
	   -Wmissing-prototypes -Wvla -Wwrite-strings -Wno-unused-parameter
CFLAGS    ?= -O2 -g
HARDEN     = -D_FORTIFY_SOURCE=2 -fstack-protector-strong
ifeq ($(WERROR),1)
WARNINGS  += -Werror
endif
SANITIZER_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
		  -fno-sanitize-recover=undefined
ifeq ($(SANITIZE),1)
CFLAGS    += $(SANITIZER_FLAGS)
LDFLAGS   += -fsanitize=address,undefined
HARDEN     = -fstack-protector-strong
endif

# --- ship: static build, build dependencies, dist (issue 17) -------------------------
.DEFAULT_GOAL := all
# make STATIC=1: one self-contained ./vfiomig from Debian's static archives (libzstd.a,
# libssl.a, libcrypto.a). Debian 12 ships no libpci.a, so it is built without libpci
# (PCI names stay numeric); its objects go under build/static/.
STATIC ?= 0
OBJDIR  = build
ifeq ($(STATIC),1)
override WITH_LIBPCI := 0
OBJDIR  = build/static
FEATURE_CFLAGS += -DVFIOMIG_STATIC=1
STATIC_LDFLAGS = -static
PKG_STATIC = --static
endif
# The options ./vfiomig was linked with: a change relinks it.
BUILD_FLAVOR = static=$(STATIC) libpci=$(WITH_LIBPCI) version=$(VERSION)

PKGS = libzstd libcrypto libssl
ifeq ($(WITH_LIBPCI),1)
PKGS += libpci
FEATURE_CFLAGS += -DHAVE_LIBPCI=1
endif
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) $(PKG_STATIC) --libs $(PKGS) 2>/dev/null)

# Before compiling anything: every pkg-config module there, or a list of the missing
# ones and the Debian packages that provide them (not a compiler error).
build-deps:
	$(Q)missing= debs=; \
	command -v $(firstword $(CC)) >/dev/null 2>&1 || { missing="$$missing $(firstword $(CC))"; debs="$$debs build-essential"; }; \
	if ! command -v $(firstword $(PKG_CONFIG)) >/dev/null 2>&1; then \
		missing="$$missing pkg-config"; debs="$$debs pkg-config"; \
	fi; \
	for m in $(PKGS); do \
		$(PKG_CONFIG) --exists $$m 2>/dev/null && continue; \
		missing="$$missing $$m"; \
		case $$m in libzstd) d=libzstd-dev ;; libcrypto | libssl) d=libssl-dev ;; \
		libpci) d=libpci-dev ;; *) d=$$m ;; esac; \
		case " $$debs " in *" $$d "*) ;; *) debs="$$debs $$d" ;; esac; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "vfiomig cannot be built here: missing$$missing (pkg-config modules and tools)." >&2; \
		echo "On Debian 12 install them with:" >&2; \
		echo "    sudo apt-get install$$debs" >&2; \
		echo "or, as root, tests/install-deps.sh (everything the build and the tests need)." >&2; \
		$(if $(filter libpci,$(PKGS)),echo "Or build without libpci (numeric PCI names only): make WITH_LIBPCI=0" >&2;) \
		exit 1; \
	fi

build/flavor: FORCE
	@mkdir -p $(@D)
	@echo '$(BUILD_FLAVOR)' | cmp -s - $@ || echo '$(BUILD_FLAVOR)' >$@

# make dist: vfiomig-VERSION.tar.gz (in DIST_DIR, default here) of the files git tracks,
# plus MANIFEST, their list (tests/check-spdx.sh reads it in the unpacked tree).
DIST_NAME = vfiomig-$(VERSION)
DIST_DIR ?= .
dist:
	$(Q)[ -e .git ] || { echo "make dist: $(CURDIR) is not a git checkout" >&2; exit 1; }
	$(Q)stage=$$(mktemp -d) && trap 'rm -rf "$$stage"' EXIT && \
	mkdir "$$stage/$(DIST_NAME)" && \
	git ls-files -z | xargs -0 cp --parents -t "$$stage/$(DIST_NAME)" && \
	{ git ls-files; echo MANIFEST; } | LC_ALL=C sort >"$$stage/$(DIST_NAME)/MANIFEST" && \
	tar -C "$$stage" --sort=name --owner=0 --group=0 --numeric-owner \
		--mtime="@$$(git log -1 --format=%ct)" -czf "$(DIST_DIR)/$(DIST_NAME).tar.gz" $(DIST_NAME)
	@echo "  DIST    $(DIST_DIR)/$(DIST_NAME).tar.gz"

.PHONY: build-deps dist FORCE
# --- end of ship ---------------------------------------------------------------------

# The layers of docs/architecture.md, bottom up: one folder each under src/. A layer
# includes only the layers below it (tests/check-layers.sh, run by make check).
LAYERS     = base device stream transport protocol pipeline check engine cli
LIB_LAYERS = $(filter-out cli,$(LAYERS))

COMMON_CFLAGS = -std=gnu11 -D_GNU_SOURCE $(WARNINGS) $(FEATURE_CFLAGS) $(PKG_CFLAGS) \
		-DVFIOMIG_VERSION='"$(VERSION)"' -Isrc
ALL_CFLAGS  = $(COMMON_CFLAGS) $(HARDEN) $(CPPFLAGS) $(CFLAGS)
ASAN_CFLAGS = $(COMMON_CFLAGS) -fstack-protector-strong $(SANITIZER_FLAGS)
TSAN_CFLAGS = $(COMMON_CFLAGS) -O1 -g -fsanitize=thread -fno-omit-frame-pointer
ALL_LDFLAGS = $(LDFLAGS)

ifeq ($(V),1)
Q =
else
Q = @
endif

# Everything but src/cli is a library layer, linked into the unit tests too. Objects
# go under build/ (build/asan/ for the ASan+UBSan program), each with the list of the
# headers it read, so that a header change rebuilds only the files that include it.
CORE_SRCS = $(foreach l,$(LIB_LAYERS),$(wildcard src/$(l)/*.c))
CLI_SRCS  = $(wildcard src/cli/*.c)
CORE_OBJS = $(CORE_SRCS:%.c=$(OBJDIR)/%.o)
CLI_OBJS  = $(CLI_SRCS:%.c=$(OBJDIR)/%.o)
ASAN_OBJS = $(CORE_SRCS:%.c=build/asan/%.o) $(CLI_SRCS:%.c=build/asan/%.o)
TSAN_OBJS = $(CORE_SRCS:%.c=build/tsan/%.o) $(CLI_SRCS:%.c=build/tsan/%.o)

UNIT_TESTS = $(basename $(wildcard tests/unit/test_*.c))

DOUBLE = tests/double/libvfio-double.so

all: vfiomig

vfiomig: $(CORE_OBJS) $(CLI_OBJS) build/flavor
	@echo "  LD      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(CORE_OBJS) $(CLI_OBJS) $(STATIC_LDFLAGS) $(ALL_LDFLAGS) \
		$(PKG_LIBS) -lpthread

$(CORE_OBJS) $(CLI_OBJS) $(ASAN_OBJS) $(TSAN_OBJS): | build-deps

build/src/%.o: src/%.c
	@echo "  CC      $@"
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

build/static/src/%.o: src/%.c
	@echo "  CC      $@"
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

build/asan/src/%.o: src/%.c
	@echo "  CC      $@"
	@mkdir -p $(@D)
	$(Q)$(CC) $(ASAN_CFLAGS) -MMD -MP -c -o $@ $<

build/tsan/src/%.o: src/%.c
	@echo "  CC      $@"
	@mkdir -p $(@D)
	$(Q)$(CC) $(TSAN_CFLAGS) -MMD -MP -c -o $@ $<

-include $(CORE_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(TSAN_OBJS:.o=.d)

tests/unit/%: tests/unit/%.c tests/unit/unit.h $(CORE_OBJS)
	@echo "  CC      $@"
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(CORE_OBJS) $(ALL_LDFLAGS) $(PKG_LIBS) -lpthread

# The same program under ASan+UBSan, built beside the normal one for the checks.
vfiomig-asan: $(ASAN_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(ASAN_CFLAGS) -o $@ $^ -fsanitize=address,undefined $(PKG_LIBS) -lpthread

# And under ThreadSanitizer, for the suites whose work is spread over threads.
vfiomig-tsan: $(TSAN_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(TSAN_CFLAGS) -o $@ $^ -fsanitize=thread $(PKG_LIBS) -lpthread

# The test double is never built with sanitizers: it is preloaded into the binary.
DOUBLE_SRCS = $(filter-out tests/double/selftest.c,$(wildcard tests/double/*.c))

$(DOUBLE): $(DOUBLE_SRCS) tests/double/*.h
	@echo "  CC      $@"
	$(Q)$(CC) -std=gnu11 -O2 -g -Wall -Wextra -fPIC -shared -o $@ $(DOUBLE_SRCS) -ldl

double: $(DOUBLE)

# libFuzzer targets of the parsers that read bytes from a file or a peer (clang);
# tests/fuzz/run.sh and run-protocol.sh build them through these rules and fuzz them.
CLANG ?= clang
FUZZ_CFLAGS = -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	      -fno-sanitize-recover=undefined -Isrc
FUZZ_LIBS := $(shell $(PKG_CONFIG) --cflags --libs libzstd libcrypto 2>/dev/null)
FUZZ_STREAM_SRCS = tests/fuzz/fuzz_stream.c $(wildcard src/stream/*.c) src/base/verr.c
FUZZ_PROTOCOL_SRCS = tests/fuzz/fuzz_protocol.c $(wildcard src/protocol/*.c) \
		     $(wildcard src/stream/*.c) src/base/verr.c
FUZZERS = build/fuzz/fuzz_stream build/fuzz/fuzz_stream_deep build/fuzz/fuzz_protocol \
	  build/fuzz/make_corpus
FUZZ_HEADERS = $(wildcard src/*/*.h)

build/fuzz/fuzz_stream: $(FUZZ_STREAM_SRCS) $(FUZZ_HEADERS)
	@echo "  CLANG   $@"
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -o $@ $(FUZZ_STREAM_SRCS) $(FUZZ_LIBS)

# The reader with digests that always match, so mutated inputs get past them.
build/fuzz/fuzz_stream_deep: $(FUZZ_STREAM_SRCS) $(FUZZ_HEADERS)
	@echo "  CLANG   $@"
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -DVFIOMIG_FUZZ_ACCEPT_ANY_DIGEST -o $@ $(FUZZ_STREAM_SRCS) \
		$(FUZZ_LIBS)

build/fuzz/fuzz_protocol: $(FUZZ_PROTOCOL_SRCS) $(FUZZ_HEADERS)
	@echo "  CLANG   $@"
	@mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -o $@ $(FUZZ_PROTOCOL_SRCS) $(FUZZ_LIBS)

build/fuzz/make_corpus: $(FUZZ_PROTOCOL_SRCS) $(FUZZ_HEADERS)
	@echo "  CLANG   $@"
	@mkdir -p $(@D)
	$(Q)$(CLANG) -std=gnu11 -D_GNU_SOURCE -g -O1 -DFUZZ_MAKE_CORPUS -fsanitize=fuzzer-no-link \
		-Isrc -o $@ $(FUZZ_PROTOCOL_SRCS) $(FUZZ_LIBS)

fuzzers: $(FUZZERS)

check-unit: $(UNIT_TESTS)
	$(Q)tests/run-unit.sh $(UNIT_TESTS)

TEST_TOOLS = tests/double/selftest

tests/double/selftest: tests/double/selftest.c $(DOUBLE)
	@echo "  CC      $@"
	$(Q)$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Isrc -o $@ $< -ldl

CHECK_DEPS = vfiomig vfiomig-asan vfiomig-tsan $(DOUBLE) $(UNIT_TESTS) $(TEST_TOOLS)

check-host: $(CHECK_DEPS)
	$(Q)tests/check.sh host

check-vm: vfiomig $(DOUBLE)
	$(Q)tests/check.sh vm

check: $(CHECK_DEPS)
	$(Q)tests/check.sh all

demo: vfiomig
	$(Q)tests/vm/demo.sh --bin ./vfiomig

install: vfiomig
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 0755 vfiomig $(DESTDIR)$(BINDIR)/vfiomig
	for m in man/*.1; do \
		sed '/^\.TH /s/"vfiomig [^"]*"/"vfiomig $(VERSION)"/' $$m \
			>$(DESTDIR)$(MANDIR)/man1/$${m#man/} && \
		chmod 0644 $(DESTDIR)$(MANDIR)/man1/$${m#man/} || exit 1; \
	done
	install -m 0644 completions/vfiomig.bash $(DESTDIR)$(BASHCOMPDIR)/vfiomig
	install -m 0644 completions/_vfiomig $(DESTDIR)$(ZSHCOMPDIR)/_vfiomig

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/vfiomig $(DESTDIR)$(BASHCOMPDIR)/vfiomig \
		$(DESTDIR)$(ZSHCOMPDIR)/_vfiomig
	cd man && for m in *.1; do rm -f $(DESTDIR)$(MANDIR)/man1/$$m; done

clean:
	rm -f vfiomig vfiomig-asan vfiomig-tsan $(UNIT_TESTS) $(DOUBLE) tests/double/selftest \
		tests/tools/mtty-uart
	rm -rf build tests/out
	rm -f vfiomig-*.tar.gz

.PHONY: all double fuzzers check check-unit check-host check-vm demo install uninstall clean

# The engine tests run themselves under the test double.
$(filter tests/unit/test_engine%,$(UNIT_TESTS)): $(DOUBLE)

# Stream tests share helpers by including them.
$(filter tests/unit/test_stream%,$(UNIT_TESTS)): tests/unit/test_stream_lib.c
