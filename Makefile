# ocimirror build. `make` builds, `make test` sets up and runs every test,
# `make run` sets up and serves a demo store on 127.0.0.1:5000.
CC ?= cc
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
# the store is $(LOCALSTATEDIR)/lib/ocimirror; the units' StateDirectory= is
# always under /var/lib, so with another LOCALSTATEDIR create the store first
LOCALSTATEDIR ?= /var
# systemd reads units and sysusers.d files under /usr/local/lib as well
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DESTDIR ?=
BUILD ?= build

PKGS := libcurl jansson openssl libarchive libzstd yaml-0.1 libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -Wno-unknown-warning-option -Wno-format-truncation
CFLAGS ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) -I. $(PKG_CFLAGS) -D_GNU_SOURCE $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS := $(PKG_LIBS) -lcrypt -lpthread $(EXTRA_LDLIBS)

# Every .c under the library folders, at any depth (mirror/store/, mirror/serve/ ...).
srcs = $(shell find $(1) -name '*.c' | LC_ALL=C sort)
LIB_SRC := $(call srcs,oci registry mirror)
HDRS := $(shell find oci registry mirror cli -name '*.h' | LC_ALL=C sort)
CLI_SRC := $(wildcard cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_MODULES := oci registry mirror upstream cli
TEST_BINS := $(TEST_MODULES:%=$(BUILD)/tests/unit-%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)

.PHONY: all deps test unit e2e asan lint fuzz fuzz-seeds bench run install clean format

all: $(BUILD)/ocimirror

# -MMD: each object depends on exactly the headers it includes.
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"; $(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/libocimirror.a: $(LIB_OBJ)
	@rm -f $@
	ar rcsT $@ $^

$(BUILD)/ocimirror: $(CLI_OBJ) $(BUILD)/libocimirror.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libocimirror.a $(LDLIBS)

.SECONDEXPANSION:
$(BUILD)/tests/unit-%: $$(wildcard tests/$$*/*.c tests/$$*/*.h) $(HDRS) $(BUILD)/libocimirror.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DTESTDATA='"$(CURDIR)/testdata"' -o $@ $(filter %.c %.o,$^) \
		$(BUILD)/libocimirror.a $(LDLIBS) -lcriterion

# cli/ is not in the library; its tests link the cli objects they cover
# (pure ones: no main, no cli state).
$(BUILD)/tests/unit-cli: $(BUILD)/cli/parse.o

deps:
	@scripts/deps.sh

unit: all $(TEST_BINS)
	@set -e; for t in $(TEST_BINS); do echo "== $$t"; $$t --jobs 2; done

e2e: all
	@tests/e2e/run.sh $(BUILD)/ocimirror

# Everything: set-up, lint (architecture, format, static analysis), unit
# tests, fuzz seeds under sanitizers, end-to-end. `.ci/run` adds `make asan`.
test: deps
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory all $(TEST_BINS)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-seeds
	@$(MAKE) --no-print-directory e2e

# The unit and end-to-end suites again, built and linked by clang under
# AddressSanitizer and UndefinedBehaviorSanitizer. Reports go to files in
# $(ASAN_LOGS), so one fails the run even where a test expects a non-zero
# exit (UBSan does not recover: its first report ends the process).
ASAN_BUILD := build-asan
ASAN_LOGS := $(CURDIR)/$(ASAN_BUILD)/sanitizer-logs
# e2e files left out under the sanitizers: the Ceph harness (tests only the
# peer), the S3 rerun (the same code paths as test_s3_store/serve/replicas)
# and the 10k-tag scale case (test_wan covers its paths): the CI budget
ASAN_E2E_SKIP := test_s3_harness.sh test_s3_rerun.sh test_wan_10k.sh
asan: deps
	@rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS)
	@rc=0; E2E_SKIP="$(ASAN_E2E_SKIP)" ASAN_OPTIONS=log_path=$(ASAN_LOGS)/asan:detect_leaks=1 \
		UBSAN_OPTIONS=log_path=$(ASAN_LOGS)/ubsan:print_stacktrace=1 \
		$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) CC=clang \
		EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1" \
		EXTRA_LDLIBS="-fsanitize=address,undefined" unit e2e || rc=$$?; \
		if [ -n "$$(ls -A $(ASAN_LOGS))" ]; then echo "asan: sanitizer reports:"; \
			head -n 40 $(ASAN_LOGS)/*; rc=1; fi; exit $$rc

FUZZ_BUILD := build-fuzz
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_CFLAGS := -std=gnu11 -g -O1 -I. $(PKG_CFLAGS) -D_GNU_SOURCE
FUZZ_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
# The library once, instrumented; each target links against it.
$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC (fuzz) $<"; clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c -o $@ $<
$(FUZZ_BUILD)/libfuzzlib.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcsT $@ $^
$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libfuzzlib.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< \
		$(FUZZ_BUILD)/libfuzzlib.a $(LDLIBS)

# Each fuzz target over its seed corpus (testdata/fuzz/NAME), as a test.
fuzz-seeds: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do n=$${f##*/fuzz_}; \
		echo "== fuzz seeds $$n"; $$f -runs=0 testdata/fuzz/$$n >/dev/null 2>$(FUZZ_BUILD)/$$n.log \
		|| { cat $(FUZZ_BUILD)/$$n.log; exit 1; }; done; echo "fuzz seeds: $(words $(FUZZ_BINS)) targets clean"

FUZZ_SECONDS ?= 60
fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do n=$${f##*/fuzz_}; mkdir -p $(FUZZ_BUILD)/corpus-$$n; \
		echo "== fuzz $$n ($(FUZZ_SECONDS)s)"; \
		$$f -max_total_time=$(FUZZ_SECONDS) $(FUZZ_BUILD)/corpus-$$n testdata/fuzz/$$n; done

# The web UI (ui/) embedded in the binary: scripts/embed_ui.py writes its
# files as C arrays, included by mirror/serve/ui.c.
UI_FILES := ui/index.html ui/style.css ui/app.js
$(BUILD)/gen/ui_assets.inc: $(UI_FILES) scripts/embed_ui.py
	@mkdir -p $(dir $@)
	@python3 scripts/embed_ui.py $@ $(UI_FILES)
$(BUILD)/mirror/serve/ui.o $(FUZZ_BUILD)/obj/mirror/serve/ui.o: $(BUILD)/gen/ui_assets.inc
$(BUILD)/mirror/serve/ui.o: ALL_CFLAGS += -I$(BUILD)/gen
$(FUZZ_BUILD)/obj/mirror/serve/ui.o: FUZZ_CFLAGS += -I$(BUILD)/gen

# The architecture test (scripts/layers.py: which folder may include which,
# no include cycles), then formatting and static analysis.
lint:
	@python3 scripts/layers.py
	@clang-format --dry-run --Werror $(LIB_SRC) $(CLI_SRC) $(HDRS)
	@cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
		--suppress=missingIncludeSystem --suppress=ctuuninitvar --inline-suppr -I. $(LIB_SRC) $(CLI_SRC)

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(HDRS)

bench: deps all
	@bench/bench.sh $(BUILD)/ocimirror
	@bench/bench_serve.sh $(BUILD)/ocimirror
	@bench/bench_sync.sh $(BUILD)/ocimirror
	@bench/bench_bundle.sh $(BUILD)/ocimirror
	@bench/bench_app.sh $(BUILD)/ocimirror
	@bench/bench_wan.sh $(BUILD)/ocimirror
	@bench/bench_hierarchy.sh $(BUILD)/ocimirror
	@bench/bench_s3.sh $(BUILD)/ocimirror

run: deps all
	@scripts/demo.sh $(BUILD)/ocimirror

# The binary, the systemd units (contrib/systemd: @BINDIR@, @SYSCONFDIR@ and
# @LOCALSTATEDIR@ filled in), the ocimirror system user (sysusers.d), and
# example configuration in $(SYSCONFDIR)/ocimirror/ where none is there yet
# (never overwritten): serve.env, and sync.yaml.example, which the admin copies
# to sync.yaml (ocimirror-sync.service runs only once sync.yaml exists).
# INSTALL_BIN: another build's binary (the e2e test: `make -o all install`).
INSTALL_BIN ?= $(BUILD)/ocimirror
UNITS := ocimirror-serve.service ocimirror-sync.service ocimirror-sync.timer
UNIT_SED := sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@LOCALSTATEDIR@|$(LOCALSTATEDIR)|g'
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(SYSCONFDIR)/ocimirror
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/ocimirror
	@set -e; for u in $(UNITS); do \
		$(UNIT_SED) contrib/systemd/$$u >$(DESTDIR)$(UNITDIR)/$$u; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; \
		echo "install $(DESTDIR)$(UNITDIR)/$$u"; done
	$(UNIT_SED) contrib/systemd/ocimirror.sysusers >$(DESTDIR)$(SYSUSERSDIR)/ocimirror.conf
	chmod 0644 $(DESTDIR)$(SYSUSERSDIR)/ocimirror.conf
	@set -e; for f in serve.env sync.yaml.example; do \
		[ -e $(DESTDIR)$(SYSCONFDIR)/ocimirror/$$f ] || \
		install -m 0644 contrib/systemd/$$f $(DESTDIR)$(SYSCONFDIR)/ocimirror/$$f; done
	@echo "install: then cp $(SYSCONFDIR)/ocimirror/sync.yaml.example" \
		"$(SYSCONFDIR)/ocimirror/sync.yaml and edit it (no sync runs without it);" \
		"systemd-sysusers; systemctl daemon-reload;" \
		"systemctl enable --now ocimirror-serve.service ocimirror-sync.timer"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(FUZZ_OBJ:.o=.d)
