# dkimrot - build, test, install.
#
#   make                  build build/dkimrot
#   make check            build and run every test (starts its own servers)
#   make check SANITIZE=1 the same under ASan and UBSan (objects in build/san)
#   make bench            run the benchmarks under bench/
#   make demo             the self-contained demo: two full rotations
#   make deps             install the Debian packages the build and tests need
#   make install          honours PREFIX and DESTDIR

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PKGS     = openssl ldns libconfig sqlite3 libcurl jansson

ifeq ($(SANITIZE),1)
B        = build/san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B        = build
SANFLAGS =
endif

WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
ifeq ($(WERROR),1)
WARN    += -Werror
endif

CFLAGS  ?= -O2 -g
CFLAGS  += -std=c11 -D_GNU_SOURCE $(WARN) $(SANFLAGS) \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lssl -lcrypto -lldns \
           -lconfig -lsqlite3 -lcurl -ljansson) -lm
LDFLAGS += $(SANFLAGS)

SUBDIRS  = common conf state dnsupdate providers rotator
LIB_SRC  = $(filter-out rotator/main.c,$(wildcard $(addsuffix /*.c,$(SUBDIRS))))
LIB_OBJ  = $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRC))
HDRS     = $(wildcard $(addsuffix /*.h,$(SUBDIRS))) $(wildcard tests/*.h)

TEST_SRC = $(wildcard tests/test_*.c)
TEST_BIN = $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRC))
TEST_HELPER_SRC = $(wildcard tests/helper_*.c)
TEST_HELPER_OBJ = $(patsubst %.c,$(B)/obj/%.o,$(TEST_HELPER_SRC))

BENCH_SRC = $(wildcard bench/bench_*.c)
BENCH_BIN = $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))

.PHONY: all check bench demo deps install clean tests

# Keep intermediate objects: two makes in one tree must not delete each other's.
.SECONDARY:

all: $(B)/dkimrot

$(B)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libdkimrot.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/dkimrot: $(B)/obj/rotator/main.o $(B)/libdkimrot.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: tests/%.c $(TEST_HELPER_OBJ) $(B)/libdkimrot.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_HELPER_OBJ) $(B)/libdkimrot.a \
		$(LDLIBS) $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)

$(B)/bench/%: bench/%.c $(B)/libdkimrot.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/libdkimrot.a $(LDLIBS)

tests: $(B)/dkimrot $(TEST_BIN)

check: tests
	DKIMROT_BIN=$(CURDIR)/$(B)/dkimrot sh tests/run.sh $(TEST_BIN)

bench: $(B)/dkimrot $(BENCH_BIN)
	DKIMROT_BIN=$(CURDIR)/$(B)/dkimrot sh bench/run.sh $(CURDIR)/$(B)/bench

demo: $(B)/dkimrot
	DKIMROT_BIN=$(CURDIR)/$(B)/dkimrot sh scripts/demo.sh

deps:
	sh scripts/deps.sh

install: $(B)/dkimrot
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/doc/dkimrot \
		$(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0755 $(B)/dkimrot $(DESTDIR)$(PREFIX)/sbin/dkimrot
	install -m 0644 examples/dkimrot.conf README.md docs/configuration.md \
		docs/providers.md docs/json.md docs/spec.md $(DESTDIR)$(PREFIX)/share/doc/dkimrot/
	sed 's|/usr/local/|$(PREFIX)/|g' scripts/dkimrot.service \
		> $(DESTDIR)$(PREFIX)/lib/systemd/system/dkimrot.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/dkimrot.service

clean:
	rm -rf build
