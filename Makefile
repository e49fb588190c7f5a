# OpsTwin build.
#
#   make            build ./opstwin (optimised)
#   make run        install missing Debian packages, build, serve on 127.0.0.1:8000
#   make test       install, build with ASan+UBSan, run every test suite
#   make bench      run the benchmarks (bench/run.sh), print a table
#   make fuzz       build the libFuzzer targets (clang)
#   make install    install the binary (PREFIX, DESTDIR)
#   make clean
#
# Sources are found by wildcard: a new module under src/<layer>/ and its
# tests/unit/test_<module>.c are picked up without editing this file.

CC      ?= gcc
CLANG   ?= clang
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

PKGS    := libmicrohttpd jansson sqlite3 libpcre2-8 libcurl libjwt openssl libpq hiredis libmosquitto rdkafka
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral
CSTD    := -std=c17 -D_GNU_SOURCE -pthread
INCS    := -Isrc -Ibuild/gen
CFLAGS_COMMON := $(CSTD) $(WARN) $(INCS) $(PKG_CFLAGS) -DOT_VERSION=\"$(VERSION)\"
LIBS    := $(PKG_LIBS) -lm -pthread
# The release binary allocates through mimalloc (linked first, so it serves
# every library's malloc too): about 10% fewer instructions per ingested
# event than glibc's malloc (bench/RESULTS.md, session 9). The sanitizer
# builds keep their own allocator.
REL_LIBS := -lmimalloc $(LIBS)

REL_FLAGS  := -O2 -g -fno-strict-aliasing
ASAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=undefined
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer-no-link,address,undefined

SRC      := $(shell find src -name '*.c' ! -path src/main.c | sort)
EMBED    := $(sort $(wildcard schemas/*.json)) docs/openapi.json docs/index.html
GEN      := build/gen/embedded.c
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
BB_SRC   := $(sort $(wildcard tests/blackbox/*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))

REL_OBJ  := $(SRC:%.c=build/rel/%.o) build/rel/gen/embedded.o
ASAN_OBJ := $(SRC:%.c=build/asan/%.o) build/asan/gen/embedded.o
FUZZ_OBJ := $(SRC:%.c=build/fuzz/%.o) build/fuzz/gen/embedded.o

.PHONY: all run test bench fuzz install clean deps asan check-pkgs
all: check-pkgs opstwin

check-pkgs:
	@pkg-config --exists $(PKGS) || { echo "missing libraries: run 'scripts/deps.sh' (or 'make run' / 'make test', which do it)"; \
	  for p in $(PKGS); do pkg-config --exists $$p || echo "  not found: $$p"; done; exit 1; }
	@test -e "$$($(CC) -print-file-name=libmimalloc.so)" || { \
	  echo "missing library: libmimalloc-dev: run 'scripts/deps.sh' (or 'make run' / 'make test')"; exit 1; }

deps:
	@scripts/deps.sh

# --- embedded files (schemas, OpenAPI document, docs page) ---------------
$(GEN): scripts/embed.sh $(EMBED)
	@mkdir -p $(dir $@)
	@echo "  GEN   $@"; scripts/embed.sh $@ $(EMBED)

# --- release build --------------------------------------------------------
build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"; $(CC) $(CFLAGS_COMMON) $(REL_FLAGS) -MMD -MP -c $< -o $@
build/rel/gen/embedded.o: $(GEN)
	@mkdir -p $(dir $@)
	@echo "  CC    $<"; $(CC) $(CFLAGS_COMMON) $(REL_FLAGS) -c $< -o $@
build/rel/libopstwin.a: $(REL_OBJ)
	@echo "  AR    $@"; ar rcs $@ $^
opstwin: build/rel/src/main.o build/rel/libopstwin.a
	@echo "  LINK  $@"; $(CC) $(REL_FLAGS) -o $@ $^ $(REL_LIBS)

# --- sanitizer build (tests) ---------------------------------------------
build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"; $(CC) $(CFLAGS_COMMON) $(ASAN_FLAGS) -MMD -MP -c $< -o $@
build/asan/gen/embedded.o: $(GEN)
	@mkdir -p $(dir $@)
	@echo "  CC    $<"; $(CC) $(CFLAGS_COMMON) $(ASAN_FLAGS) -c $< -o $@
build/asan/libopstwin.a: $(ASAN_OBJ)
	@echo "  AR    $@"; ar rcs $@ $^
build/asan/opstwin: build/asan/src/main.o build/asan/libopstwin.a
	@echo "  LINK  $@"; $(CC) $(ASAN_FLAGS) -o $@ $^ $(LIBS)
build/asan/unit_tests: $(UNIT_SRC:%.c=build/asan/%.o) build/asan/libopstwin.a
	@echo "  LINK  $@"; $(CC) $(ASAN_FLAGS) -o $@ $^ -lcriterion $(LIBS)
build/asan/blackbox_tests: $(BB_SRC:%.c=build/asan/%.o) build/asan/libopstwin.a
	@echo "  LINK  $@"; $(CC) $(ASAN_FLAGS) -o $@ $^ -lcriterion $(LIBS)
asan: check-pkgs build/asan/opstwin build/asan/unit_tests build/asan/blackbox_tests

# --- fuzzing (clang libFuzzer) -------------------------------------------
build/fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CLANG $<"; $(CLANG) $(CFLAGS_COMMON) -Wno-unknown-warning-option $(FUZZ_FLAGS) -MMD -MP -c $< -o $@
build/fuzz/gen/embedded.o: $(GEN)
	@mkdir -p $(dir $@)
	@echo "  CLANG $<"; $(CLANG) $(CFLAGS_COMMON) $(FUZZ_FLAGS) -c $< -o $@
build/fuzz/libopstwin.a: $(FUZZ_OBJ)
	@echo "  AR    $@"; ar rcs $@ $^
build/fuzz/%: tests/fuzz/%.c build/fuzz/libopstwin.a
	@mkdir -p $(dir $@)
	@echo "  LINK  $@"; $(CLANG) $(CFLAGS_COMMON) -Wno-unknown-warning-option -O1 -g -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)
fuzz: check-pkgs $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)

# --- entry points ---------------------------------------------------------
run: deps all
	@mkdir -p var
	./opstwin serve

test: deps
	@$(MAKE) --no-print-directory asan opstwin
	@scripts/test.sh

bench: deps all
	@bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 opstwin $(DESTDIR)$(PREFIX)/bin/opstwin

clean:
	rm -rf build opstwin

include bench/bench.mk

-include $(shell find build -name '*.d' 2>/dev/null)
