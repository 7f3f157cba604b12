# ringq — one non-recursive Makefile.
# Layout: each module directory (core, proto_wire, queue, worker, server, client) becomes a
# static library build/lib<module>.a from its *.c files, except files named *_main.c, which are
# program entry points listed in PROGRAMS below (tools/: the programs' shared pieces are
# build/libtools.a). Tests: tests/unit/test_*.c, one Check binary each. Generated C: the schema
# of proto/ (build/gen/proto_wire/pw_msgs.[ch], by proto_wire/gen/pw_msg_gen), in libproto_wire.a.
# Fuzz targets: tests/fuzz/fuzz_*.c (clang libFuzzer).

CC       ?= gcc
BUILD    ?= build
OPT      ?= -O2
SAN      ?=
# core/rt_version.h: the commit a build came from, for --version and ringq_build_info. Written to
# $(BUILD)/gen/rt_version_git.h only when it changes, so exactly the files that include it are
# rebuilt (through their .d dependencies) when the commit does, and nothing else.
GIT_DESC  := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
VERSION_H := $(BUILD)/gen/rt_version_git.h
$(shell mkdir -p $(BUILD)/gen && printf '#define RT_VERSION_GIT "%s"\n' '$(GIT_DESC)' > $(VERSION_H).tmp && \
  (cmp -s $(VERSION_H).tmp $(VERSION_H) || mv $(VERSION_H).tmp $(VERSION_H)); rm -f $(VERSION_H).tmp)
# An object's .d names it both ways, absolute and relative to this directory: a build with an
# absolute BUILD (make BUILD=$$PWD/build) wrote rules for /abs/build/obj/x.o only, so a later
# `make` (BUILD=build) found no header dependencies for build/obj/x.o and kept objects compiled
# against old headers (a struct laid out two ways in one binary).
DEP_TARGETS = -MT '$(abspath $@)' -MT '$(patsubst $(CURDIR)/%,%,$(abspath $@))'
CFLAGS_ALL = -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
             -g $(OPT) $(SAN) -pthread -I. -I$(BUILD)/gen -MMD -MP $(DEP_TARGETS) $(EXTRA_CFLAGS)
LDLIBS_ALL = -luring -lxxhash -lz -lssl -lcrypto -lm -pthread
CHECK_LIBS = $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

# Lower modules last in link order: server/client -> queue/worker/proto_wire -> core.
MODULES  = client server queue worker proto_wire core
PY       = /usr/bin/python3

lib_srcs = $(filter-out %_main.c,$(wildcard $(1)/*.c))
objs_of  = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIBS     = $(foreach m,$(MODULES),$(BUILD)/lib$(m).a)

# Program name : entry source
PROGRAMS = ringqd:server/ringqd_main.c \
           ringq-interop-server:server/interop_main.c \
           ringq-log:tools/ringq_log_main.c \
           ringq:tools/ringq_main.c \
           ringq-worker:tools/ringq_worker_main.c
prog_name = $(word 1,$(subst :, ,$(1)))
prog_src  = $(word 2,$(subst :, ,$(1)))
PROG_BINS = $(foreach p,$(PROGRAMS),$(if $(wildcard $(call prog_src,$(p))),$(BUILD)/$(call prog_name,$(p))))
# A program directory that is not a module (tools/) may hold more than entry points: its other
# *.c files become build/lib<dir>.a, linked into each program of that directory.
prog_dir  = $(patsubst %/,%,$(dir $(call prog_src,$(1))))
PROG_DIRS = $(sort $(foreach p,$(PROGRAMS),$(call prog_dir,$(p))))
PROG_LIB_DIRS = $(foreach d,$(filter-out $(MODULES),$(PROG_DIRS)),$(if $(call lib_srcs,$(d)),$(d)))
prog_libs = $(foreach d,$(filter $(PROG_LIB_DIRS),$(call prog_dir,$(1))),$(BUILD)/lib$(d).a)

# Helper programs for tests and benches: tests/**/*_prog.c and bench/*_bench.c, each one binary.
# The operator's libraries (libcurl, jansson, libyaml) present? (ringq-operator below.)
OPER_HAVE = $(and $(wildcard /usr/include/jansson.h),$(wildcard /usr/include/yaml.h),$(wildcard /usr/include/*/curl/curl.h /usr/include/curl/curl.h))
TEST_SRCS  = $(filter-out $(if $(OPER_HAVE),,tests/unit/test_ko_%),$(wildcard tests/unit/test_*.c))
TEST_BINS  = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
AUX_SRCS   = $(wildcard tests/crash/*_prog.c tests/integration/*_prog.c bench/*_bench.c)
AUX_BINS   = $(patsubst %.c,$(BUILD)/aux/%,$(AUX_SRCS))

# ringq-bench: every bench/rb_*.c (the engine and whichever system drivers exist; see
# bench/rb_drivers.c). Other bench programs may use the shared histogram bench/rb_hist.c.
RB_SRCS    = $(wildcard bench/rb_*.c)
RB_BIN     = $(BUILD)/ringq-bench

PROTOS     = $(shell find proto -name '*.proto' | sort)
PYGEN      = $(BUILD)/gen/py/.stamp
DESC_BIN   = $(BUILD)/gen/ringq_descriptors.bin
# The generated schema (rules below, next to the descriptor set's).
PWGEN      = $(BUILD)/pw_msg_gen
PWMSGS_H   = $(BUILD)/gen/proto_wire/pw_msgs.h
PWMSGS_C   = $(BUILD)/gen/proto_wire/pw_msgs.c
PWMSGS_O   = $(BUILD)/obj/gen/pw_msgs.o

.PHONY: all test test-only unit integration run run-only deps san tsan fuzz bench bench-quick bench-all clean check-layers format format-check check-fn-len lib install
# Keep intermediate objects (test and aux objects come from chained pattern rules).
.SECONDARY:
all: $(PROG_BINS) $(TEST_BINS) $(AUX_BINS) $(RB_BIN) $(PYGEN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/obj/%.o: $(BUILD)/gen/%.S $(DESC_BIN)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -I$(BUILD)/gen -c $< -o $@

define lib_rule
$(BUILD)/lib$(1).a: $(call objs_of,$(call lib_srcs,$(1))) $(if $(filter server,$(1)),$(BUILD)/obj/srv_descriptors.o $(BUILD)/obj/srv_ui_assets.o) $(if $(filter proto_wire,$(1)),$(PWMSGS_O))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(foreach m,$(MODULES) $(PROG_LIB_DIRS),$(eval $(call lib_rule,$(m))))

define prog_rule
$(BUILD)/$(call prog_name,$(1)): $(call objs_of,$(call prog_src,$(1))) $(call prog_libs,$(1)) $(LIBS)
	$(CC) $(CFLAGS_ALL) -o $$@ $$< $(call prog_libs,$(1)) $(LIBS) $(LDLIBS_ALL)
endef
$(foreach p,$(PROGRAMS),$(eval $(call prog_rule,$(p))))

# Pieces shared by unit tests: tests/unit/*.c not named test_*.c (ts_walk.c, the fail-Nth
# allocation walk of the in-process server; ts_main.c, what the tests' main functions share) make
# build/libunit_fx.a, linked into every unit test, the test_rb_* ones included (the linker
# takes only the objects a test uses).
UNIT_FX_SRCS = $(filter-out tests/unit/test_%,$(wildcard tests/unit/*.c))
$(BUILD)/libunit_fx.a: $(call objs_of,$(UNIT_FX_SRCS))
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libunit_fx.a $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libunit_fx.a $(LIBS) $(CHECK_LIBS) $(LDLIBS_ALL)

# test_rt_bg_stuck holds a lock taken by rt_bg's threads (a wrapped pthread_mutex_lock).
$(BUILD)/tests/test_rt_bg_stuck: private LDLIBS_ALL += -Wl,--wrap=pthread_mutex_lock

# ringq-bench pieces under unit test: tests/unit/test_rb_*.c also link librb_unit.a, an archive
# of every bench/rb_*.c but the entry point (the linker takes only the objects a test uses).
RB_UNIT_SRCS = $(filter-out bench/rb_main.c,$(wildcard bench/rb_*.c))
$(BUILD)/librb_unit.a: $(call objs_of,$(RB_UNIT_SRCS))
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/tests/test_rb_%: $(BUILD)/obj/tests/unit/test_rb_%.o $(BUILD)/librb_unit.a $(BUILD)/libunit_fx.a $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/librb_unit.a $(BUILD)/libunit_fx.a $(LIBS) $(CHECK_LIBS) $(LDLIBS_ALL)

# The CLI's pieces under unit test: tests/unit/test_cli_*.c also link build/libtools.a.
$(BUILD)/tests/test_cli_%: $(BUILD)/obj/tests/unit/test_cli_%.o $(BUILD)/libtools.a $(BUILD)/libunit_fx.a $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libtools.a $(BUILD)/libunit_fx.a $(LIBS) $(CHECK_LIBS) $(LDLIBS_ALL)

$(BUILD)/aux/%: $(BUILD)/obj/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(LIBS) $(CHECK_LIBS) $(LDLIBS_ALL)

$(BUILD)/aux/bench/%: $(BUILD)/obj/bench/%.o $(BUILD)/obj/bench/rb_hist.o $(LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $(filter %.o,$^) $(LIBS) $(CHECK_LIBS) $(LDLIBS_ALL)

$(RB_BIN): $(call objs_of,$(RB_SRCS)) $(LIBS)
	$(CC) $(CFLAGS_ALL) -o $@ $(filter %.o,$^) $(LIBS) $(LDLIBS_ALL)

# Descriptor set for server reflection: protoc at build time, embedded with .incbin.
$(DESC_BIN): $(PROTOS)
	@mkdir -p $(dir $@)
	protoc -Iproto --include_imports --descriptor_set_out=$@ $(PROTOS)

$(BUILD)/gen/srv_descriptors.S: $(DESC_BIN)
	@mkdir -p $(dir $@)
	printf '\t.section .rodata\n\t.global srv_descriptor_set\n\t.global srv_descriptor_set_end\n\t.balign 16\nsrv_descriptor_set:\n\t.incbin "%s"\nsrv_descriptor_set_end:\n\t.section .note.GNU-stack,"",@progbits\n' "$(abspath $(DESC_BIN))" > $@

# The dashboard's files (server/ui/*), embedded with .incbin behind a table of {name, data, end}
# that server/srv_ui.c reads; rebuilt when a file is added, removed or changed.
UI_FILES = $(sort $(wildcard server/ui/*))
$(BUILD)/gen/srv_ui_assets.S: $(UI_FILES) Makefile
	@mkdir -p $(dir $@)
	@{ printf '\t.section .data.rel.ro\n\t.global srv_ui_files\n\t.balign 8\nsrv_ui_files:\n'; i=0; \
	  for f in $(UI_FILES); do printf '\t.quad uin%d, uid%d, uie%d\n' $$i $$i $$i; i=$$((i+1)); done; \
	  printf '\t.quad 0, 0, 0\n\t.section .rodata\n'; i=0; \
	  for f in $(UI_FILES); do printf 'uin%d:\n\t.asciz "%s"\n\t.balign 16\nuid%d:\n\t.incbin "%s"\nuie%d:\n' \
	    $$i "$$(basename $$f)" $$i "$(abspath .)/$$f" $$i; i=$$((i+1)); done; \
	  printf '\t.section .note.GNU-stack,"",@progbits\n'; } > $@

# The schema: proto_wire/gen/pw_msg_gen reads the descriptor set and writes the C structs and
# pw_msg tables of every message (build/gen/proto_wire/pw_msgs.[ch], compiled into
# libproto_wire.a; docs/architecture.md "The schema"). The generator links only pw_pb, rt_buf and rt_alloc,
# so it is built before the library that holds its output.
$(PWGEN): $(call objs_of,proto_wire/gen/pw_msg_gen.c proto_wire/gen/pw_msg_gen_code.c proto_wire/gen/pw_msg_gen_dec.c proto_wire/pw_pb.c core/rt_buf.c core/rt_alloc.c)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDLIBS_ALL)
# Its input is proto/ plus descriptor.proto (libprotobuf-dev): server reflection reads the
# embedded descriptor set through those tables. Not embedded: reflection serves proto/ only.
# (Makefile: this list of inputs is in it; .SECONDARY would not remake a missing input alone.)
SCHEMA_BIN = $(BUILD)/gen/pw_msg_schema.bin
$(SCHEMA_BIN): $(PROTOS) Makefile
	@mkdir -p $(dir $@)
	protoc -Iproto --include_imports --descriptor_set_out=$@ $(PROTOS) google/protobuf/descriptor.proto
$(PWMSGS_H) $(PWMSGS_C) &: $(PWGEN) $(SCHEMA_BIN)
	@mkdir -p $(dir $(PWMSGS_H))
	$(PWGEN) $(SCHEMA_BIN) $(PWMSGS_H).tmp $(PWMSGS_C).tmp
	mv $(PWMSGS_C).tmp $(PWMSGS_C)
	mv $(PWMSGS_H).tmp $(PWMSGS_H)
$(PWMSGS_O): $(PWMSGS_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@
# Objects that may include the generated header wait for it (after the first build -MMD knows).
GEN_USERS = $(call objs_of,$(call lib_srcs,client) $(wildcard server/*.c) $(wildcard bench/*.c tests/fuzz/*.c) $(TEST_SRCS) $(UNIT_FX_SRCS)) \
            $(patsubst %.c,$(BUILD)/pic/%.o,$(call lib_srcs,client))
$(GEN_USERS): | $(PWMSGS_H)

# Python message modules (build/gen/py) for the integration tests and the README's example.
$(PYGEN): $(PROTOS)
	@mkdir -p $(BUILD)/gen/py
	protoc -Iproto --python_out=$(BUILD)/gen/py $(PROTOS)
	touch $@

unit: $(TEST_BINS)
	@bash tests/run_unit.sh $(BUILD)

integration: all lib $(PYGEN)
	@BUILD=$(BUILD) PY=$(PY) bash tests/run_integration.sh

# make test / make run: first the Debian packages (tools/deps.sh installs what is missing as root,
# else stops printing the one apt-get line), then the build, then the work. The second make runs
# only after the packages are there, whatever -j says.
test:
	@bash tools/deps.sh
	@$(MAKE) --no-print-directory test-only

test-only: all lib $(PYGEN)
	@BUILD=$(BUILD) PY=$(PY) bash tests/run_all.sh

# make run PORT=N DATA=DIR HOST=ADDR: ringqd on its embedded defaults, with every program and the
# Python modules the README's quickstart uses built first.
PORT ?= 7070
DATA ?= ./data
HOST ?= 127.0.0.1
QUICKSTART_BINS = $(BUILD)/ringqd $(BUILD)/ringq $(BUILD)/ringq-worker
run:
	@bash tools/deps.sh
	@$(MAKE) --no-print-directory run-only

run-only: $(QUICKSTART_BINS) $(PYGEN)
	$(BUILD)/ringqd --host $(HOST) --port $(PORT) --data $(DATA)

deps:
	@bash tools/deps.sh

# make image: the OCI image (no base: static ringqd, ringq, ringq-worker), by k8s/image/build.sh
# into $(BUILD)/image (docs/kubernetes.md, "The image"). Not part of all: test_k8s_image builds
# its own copy (a few seconds: it links the objects `all` already built).
.PHONY: image
image: $(QUICKSTART_BINS)
	@bash k8s/image/build.sh $(BUILD)

san:
	$(MAKE) BUILD=build-san OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

# tsan: the unit tests, then ringqd itself under a multi-shard smoke (Enqueue, Work streams and
# acks across shards; tests/integration/test_tsan_smoke.py), test_queue_durable (parked
# Leases, Work streams, /metrics, shutdown) and test_streams_server (streams on 3 shards: the
# directory's changes, publish, read, Consume, Fetch, restart, drain), test_queue_enqueue_stream
# (EnqueueStream answers in order across 3 shards, credits, drain), with any ThreadSanitizer
# report fatal (exit 66).
TSAN_MAKE = $(MAKE) BUILD=build-tsan OPT=-O1 SAN="-fsanitize=thread"
TSAN_IT   = TSAN_OPTIONS="halt_on_error=1 exitcode=66" BUILD=build-tsan PY=$(PY) bash tests/run_integration.sh
tsan:
	$(TSAN_MAKE) unit
	$(TSAN_MAKE) build-tsan/ringqd build-tsan/gen/py/.stamp
	@$(TSAN_IT) 'test_tsan_smoke.py'
	@$(TSAN_IT) 'test_queue_durable.py'
	@$(TSAN_IT) 'test_streams_server.py'
	@$(TSAN_IT) 'test_queue_enqueue_stream.py'

FUZZ_SECONDS ?= 30
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

# make bench: bench/suite_bench.sh (ringq against beanstalkd, Redis, JetStream and C++ gRPC with
# ringq-bench; bench/README.md), then bench/streams.sh (streams: publish and fan-out against Redis
# Streams and JetStream); bench-quick: the same in QUICK mode (~2-3 min); bench-all: every
# bench/suite_*.sh and streams.sh in turn (bench/run.sh).
RINGQ_BENCH_BIN = $(if $(wildcard bench/rb_main.c),$(BUILD)/ringq-bench)
bench: all $(RINGQ_BENCH_BIN)
	@BUILD=$(BUILD) bash bench/suite_bench.sh
	@BUILD=$(BUILD) bash bench/streams.sh

bench-quick: all $(RINGQ_BENCH_BIN)
	@QUICK=1 BUILD=$(BUILD) bash bench/suite_bench.sh
	@QUICK=1 BUILD=$(BUILD) bash bench/streams.sh

bench-all: all $(RINGQ_BENCH_BIN)
	@BUILD=$(BUILD) bash bench/run.sh

check-layers:
	@bash tools/check_layers.sh

# make format rewrites with clang-format (.clang-format); make format-check lists the files that
# differ and fails (make test runs it, tests/run_hygiene.sh). Every C directory of the tree.
FORMAT_DIRS = core proto_wire queue worker server client tools bench tests k8s/operator
format:
	@bash tools/check_format.sh --fix $(FORMAT_DIRS)
format-check:
	@bash tools/check_format.sh $(FORMAT_DIRS)
# No function over 80 lines (tools/check_fn_len.sh) in server/ and client/.
FN_LEN_DIRS = client server
check-fn-len:
	@bash tools/check_fn_len.sh $(FN_LEN_DIRS)

# libringq: static and shared. The shared library uses its own -fPIC objects of the modules
# the client needs (client, proto_wire, worker, core), so `make` itself stays as it was.
PREFIX     ?= /usr/local
RINGQ_MODS  = client proto_wire worker core
RINGQ_PIC   = $(patsubst %.c,$(BUILD)/pic/%.o,$(foreach m,$(RINGQ_MODS),$(call lib_srcs,$(m)))) \
              $(BUILD)/pic/gen/pw_msgs.o
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -fvisibility=default -c $< -o $@
$(BUILD)/pic/gen/pw_msgs.o: $(PWMSGS_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIC -fvisibility=default -c $< -o $@
# Both export exactly the functions client/ringq.h declares (libringq.syms, made from the
# header); every other symbol of the modules (ev_*, buf_*, log_*, pw_*, ...) stays local, so a
# program may link libev or anything else with the same generic names next to libringq.
$(BUILD)/libringq.syms: client/ringq.h
	@mkdir -p $(dir $@)
	grep -oE '\brq_[a-z0-9_]+ *\(' $< | tr -d ' (' | sort -u > $@
# The shared library: an anonymous version script of those names.
$(BUILD)/libringq.map: $(BUILD)/libringq.syms
	{ echo '{ global:'; sed 's/$$/;/' $<; echo 'local: *; };'; } > $@
$(BUILD)/libringq.so: $(RINGQ_PIC) $(BUILD)/libringq.map
	$(CC) -shared -Wl,-soname,libringq.so.0 -Wl,--version-script=$(BUILD)/libringq.map \
	    -o $@ $(RINGQ_PIC) $(LDLIBS_ALL)
# The static library: one relocatable object (ld -r resolves the modules' references to each
# other inside it), then every defined symbol but those names made local. A plain archive of the
# objects would export all of them: linked next to libev, ev_loop_destroy resolved to ours.
$(BUILD)/libringq.a: $(RINGQ_PIC) $(BUILD)/libringq.syms
	@rm -f $@ $(BUILD)/libringq.o
	$(LD) -r -o $(BUILD)/libringq.o $(RINGQ_PIC)
	objcopy --keep-global-symbols=$(BUILD)/libringq.syms $(BUILD)/libringq.o
	ar rcs $@ $(BUILD)/libringq.o
lib: $(BUILD)/libringq.so $(BUILD)/libringq.a

# ringq-operator (k8s/operator/, docs/kubernetes.md "Operator"): the only program that links
# libcurl, jansson and libyaml (tools/deps.sh); it calls ringqd through libringq.a. Built by
# `all` when those headers are installed; tests/unit/test_ko_*.c link its objects but main.
OPER_SRCS = $(wildcard k8s/operator/*.c)
OPER_LIBS = -lcurl -ljansson -lyaml
all: $(if $(OPER_HAVE),$(BUILD)/ringq-operator)
$(BUILD)/libko_unit.a: $(call objs_of,$(filter-out %_main.c,$(OPER_SRCS)))
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/ringq-operator: $(call objs_of,$(OPER_SRCS)) $(BUILD)/libringq.a
	$(CC) $(CFLAGS_ALL) -o $@ $(filter %.o,$^) $(BUILD)/libringq.a $(OPER_LIBS) $(LDLIBS_ALL)
$(BUILD)/tests/test_ko_%: $(BUILD)/obj/tests/unit/test_ko_%.o $(BUILD)/libko_unit.a $(BUILD)/libringq.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libko_unit.a $(BUILD)/libringq.a $(OPER_LIBS) $(CHECK_LIBS) $(LDLIBS_ALL)

install: all lib
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/lib/systemd/system $(DESTDIR)$(PREFIX)/share/doc/ringq
	install -m 755 $(PROG_BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libringq.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libringq.so $(DESTDIR)$(PREFIX)/lib/libringq.so.0
	ln -sf libringq.so.0 $(DESTDIR)$(PREFIX)/lib/libringq.so
	install -m 644 client/ringq.h $(DESTDIR)$(PREFIX)/include/
	sed 's|@PREFIX@|$(PREFIX)|' packaging/ringq.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ringq.pc
	sed 's|/usr/local/bin|$(PREFIX)/bin|' packaging/ringqd.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/ringqd.service
	sed 's|/usr/local/bin|$(PREFIX)/bin|' packaging/ringq-worker@.service > '$(DESTDIR)$(PREFIX)/lib/systemd/system/ringq-worker@.service'
	install -m 644 README.md LICENSE docs/*.md $(DESTDIR)$(PREFIX)/share/doc/ringq/

clean:
	rm -rf build build-san build-tsan build-fuzz

-include $(shell find $(BUILD)/obj $(BUILD)/pic -name '*.d' 2>/dev/null)
