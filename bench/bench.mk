# bench.mk - build rules for the benchmark programs. Written to be included
# from the Makefile (it uses CC, CFLAGS_COMMON, REL_FLAGS and LIBS from
# there); until it is, build with
#   make -f Makefile -f bench/bench.mk build/bench/sse_latency
# bench/run.sh does this through bench_make (bench/lib.sh).
ifndef OT_BENCH_MK
OT_BENCH_MK := 1

BENCH_PROGS := $(patsubst bench/%.c,build/bench/%,$(wildcard bench/*.c))

.PHONY: bench-progs
bench-progs: $(BENCH_PROGS)

# bench/NAME.c -> build/bench/NAME, linked with the release library
build/bench/%: bench/%.c build/rel/libopstwin.a
	@mkdir -p $(dir $@)
	@echo "  LINK  $@"; $(CC) $(CFLAGS_COMMON) $(REL_FLAGS) -o $@ $< build/rel/libopstwin.a $(LIBS) -lcurl

# the jsonschema benchmark's original path (schema work):
#   make build/bench_jsonschema && build/bench_jsonschema && python3 bench/jsonschema_py.py
build/bench_jsonschema: bench/bench_jsonschema.c build/rel/libopstwin.a
	$(CC) $(CFLAGS_COMMON) $(REL_FLAGS) -o $@ $^ $(LIBS)

endif
