# bench.mk - the jsonschema benchmark (include from the Makefile).
#   make build/bench_jsonschema && build/bench_jsonschema && python3 bench/jsonschema_py.py
build/bench_jsonschema: bench/bench_jsonschema.c build/rel/libopstwin.a
	$(CC) $(CFLAGS_COMMON) $(REL_FLAGS) -o $@ $^ $(LIBS)
