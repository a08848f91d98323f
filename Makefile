# symbiont: one non-recursive makefile.
#   make            build/symbiont
#   make run        boot the default guest
#   make test       every test, ending with the runner's summary line
#   make asan       the same build and suite under AddressSanitizer+UBSan (build-asan/)
#   make bench      benchmarks beside their peers
#   make fuzz       run every libFuzzer target for FUZZ_SECONDS each
#   make guest      the default guest image in build/guest
#
# Sources are found by wildcard, so adding a file needs no edit here.

BUILD ?= build
CC ?= gcc
GUEST_DIR := build/guest

PKGS := slirp json-c libbpf ext2fs
WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
override CFLAGS += -std=gnu11 $(WARN) -pthread -D_GNU_SOURCE -Iinclude -Isrc -MMD -MP
LDLIBS = -lz -llzma -lzstd -llz4 -lbz2 $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
# Recursive (=) so pkg-config runs after deps.sh has installed the packages.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
override CFLAGS += $(PKG_CFLAGS)

SRCS := $(shell find src -name '*.c' ! -name main.c | sort)
OBJS := $(SRCS:%.c=$(BUILD)/%.o)
LIB := $(BUILD)/libsymbiont.a
BIN := $(BUILD)/symbiont

# Unit tests: each tests/{unit,hw,cpu,boot,host}/test_*.c is one cmocka program.
TEST_SRCS := $(shell find tests/unit tests/hw tests/cpu tests/boot tests/host -name 'test_*.c' 2>/dev/null | sort)
TEST_BINS := $(TEST_SRCS:%.c=$(BUILD)/%)

# Test guests: tests/guests/*.S, 32-bit multiboot ELF kernels assembled with
# the host toolchain, linked at 1 MiB; low_hello is hello linked at 64 KiB
# (a kernel below 1 MiB, as real-mode test programs are).
GUEST_SRCS := $(wildcard tests/guests/*.S)
TEST_GUESTS := $(GUEST_SRCS:tests/guests/%.S=$(BUILD)/tests/guests/%.elf) $(BUILD)/tests/guests/low_hello.elf

# Payloads: guest/payloads/*.c (but the shared libc.c), freestanding
# static-pie programs that symbiont injects into guest processes (gears).
PAYLOAD_SRCS := $(filter-out guest/payloads/libc.c,$(wildcard guest/payloads/*.c))
PAYLOADS := $(PAYLOAD_SRCS:guest/payloads/%.c=$(BUILD)/payloads/%.elf)
PAYLOAD_CFLAGS := -O2 -Wall -Wextra -Werror -nostdlib -static-pie -fPIE -ffreestanding -fno-builtin \
	-fno-stack-protector -mgeneral-regs-only -fno-asynchronous-unwind-tables -Wl,-e,payload_main

# Guest tools: guest/tools/*.c, shared libraries for a guest with a glibc
# userland (the host's Debian one): the socket accelerator (docs/vsock.md).
GUEST_TOOLS := $(patsubst guest/tools/%.c,$(BUILD)/guest-tools/%.so,$(wildcard guest/tools/*.c))

FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 60

.PHONY: all deps run test asan bench fuzz guest clean distclean compdb format format-check
all: $(BIN) $(TEST_GUESTS) $(PAYLOADS) $(GUEST_TOOLS)

deps:
	@scripts/deps.sh

$(BUILD)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(OBJS)
	@rm -f $@
	ar rcs $@ $^

# --whole-archive: services register themselves from constructors and are
# referenced by nothing, so the linker would otherwise leave them out.
$(BIN): $(BUILD)/src/main.o $(LIB)
	$(CC) $(CFLAGS) -o $@ $< -Wl,--whole-archive $(LIB) -Wl,--no-whole-archive $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(LIB) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(LIB) $(LDLIBS) -lcmocka

# Benchmarks in C that drive an engine directly (bench/geiger_kvm.sh).
$(BUILD)/bench/dirty_kvm: bench/dirty_kvm.c $(LIB) | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tests/guests/%.elf: tests/guests/%.S tests/guests/guest.ld $(wildcard tests/guests/*.h) | deps
	@mkdir -p $(dir $@)
	$(CC) -m32 -c -Iinclude -Itests/guests -o $(@:.elf=.o) $<
	ld -m elf_i386 -T tests/guests/guest.ld --defsym=LOAD_ADDR=0x100000 -o $@ $(@:.elf=.o)

$(BUILD)/tests/guests/low_%.elf: tests/guests/%.S tests/guests/guest.ld $(wildcard tests/guests/*.h) | deps
	@mkdir -p $(dir $@)
	$(CC) -m32 -c -Iinclude -Itests/guests -o $(@:.elf=.o) $<
	ld -m elf_i386 -T tests/guests/guest.ld --defsym=LOAD_ADDR=0x10000 -o $@ $(@:.elf=.o)

$(BUILD)/payloads/%.elf: guest/payloads/%.c guest/payloads/libc.c guest/payloads/sys.h include/symbiont/abi/gears_run.h
	@mkdir -p $(dir $@)
	gcc $(PAYLOAD_CFLAGS) -Iinclude -o $@ $< guest/payloads/libc.c

$(BUILD)/guest-tools/%.so: guest/tools/%.c
	@mkdir -p $(dir $@)
	gcc -shared -fPIC -O2 -std=gnu11 $(WARN) -o $@ $<

# The run payload is built into the binary (src/services/gears/payload.c).
$(BUILD)/src/services/gears/payload.o: $(BUILD)/payloads/run.elf
$(BUILD)/src/services/gears/payload.o: override CFLAGS += -DGEARS_RUN_PAYLOAD='"$(BUILD)/payloads/run.elf"'

# A static program built for x86-64-v3 (AVX2, FMA, F16C, BMI2...): its output
# in the emu guest must equal the host's (tests/e2e/emu_x86_64_v3.sh).
V3_PROG := $(BUILD)/tests/e2e/v3_checksum
$(V3_PROG): tests/e2e/v3_checksum.c
	@mkdir -p $(dir $@)
	gcc -static -O2 -march=x86-64-v3 -Wall -Wextra -Werror -o $@ $< -lm

guest: | deps
	@scripts/guest-image.sh $(GUEST_DIR)

run: $(BIN) guest
	$(BIN) run

test: $(BIN) $(TEST_BINS) $(TEST_GUESTS) $(PAYLOADS) $(GUEST_TOOLS) $(V3_PROG) guest
	@BUILD=$(BUILD) tests/run.sh

asan:
	$(MAKE) BUILD=build-asan CC=clang CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

bench: $(BIN) $(PAYLOADS) $(GUEST_TOOLS) $(BUILD)/bench/dirty_kvm guest
	@BUILD=$(BUILD) bench/run.sh

# Fuzz targets link one copy of the sources built with clang's sanitizers
# and fuzzer instrumentation (compiled once, not once per target).
FUZZ_CFLAGS := -std=gnu11 -O1 -g $(WARN) -pthread -D_GNU_SOURCE -Iinclude -Isrc -Itests/fuzz \
	-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OBJS := $(SRCS:%.c=build-fuzz/obj/%.o)

build-fuzz/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

build-fuzz/libsymbiont.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

build-fuzz/%: tests/fuzz/%.c build-fuzz/libsymbiont.a
	clang $(FUZZ_CFLAGS) $(PKG_CFLAGS) -fsanitize=fuzzer -o $@ $< build-fuzz/libsymbiont.a $(LDLIBS)

# Each target for FUZZ_SECONDS from its seeds; a crash, leak or timeout
# fails the run (the target's last lines and the reproducer are printed).
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
		n=$$(basename $$f); mkdir -p build-fuzz/corpus/$$n; \
		echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
		if $$f -max_total_time=$(FUZZ_SECONDS) -timeout=25 -print_final_stats=1 \
			-artifact_prefix=build-fuzz/$$n- build-fuzz/corpus/$$n tests/fuzz/seeds/$$n \
			>build-fuzz/$$n.log 2>&1; then tail -1 build-fuzz/$$n.log; \
		else tail -30 build-fuzz/$$n.log; echo "fuzz: $$n FAILED"; exit 1; fi; \
	done

compdb:
	@command -v bear >/dev/null || { echo "compdb: needs bear (apt-get install bear)"; exit 1; }
	$(MAKE) clean && bear -- $(MAKE) all $(TEST_BINS)

FORMAT_FILES = $$(find src include tests guest -name '*.[ch]' ! -path 'tests/guests/*' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)

# Fails, naming the files, when any C file differs from the one style.
format-check:
	@clang-format --dry-run -Werror $(FORMAT_FILES) 2>&1 | grep -o '^[^:]*:' | sort -u | sed 's/:$$/: not clang-formatted (make format)/' | tee -a /dev/stderr | (! grep -q .)

# clean keeps build/guest: it is downloaded, not built from this tree.
clean:
	find $(BUILD) -mindepth 1 -maxdepth 1 ! -name guest -exec rm -rf {} + 2>/dev/null || true
	rm -rf build-asan build-fuzz compile_commands.json

distclean:
	rm -rf build build-* compile_commands.json

-include $(OBJS:.o=.d) $(BUILD)/src/main.d $(TEST_BINS:=.d) $(FUZZ_OBJS:.o=.d)
