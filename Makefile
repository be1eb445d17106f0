# Thin wrapper over CMake. The two commands of the README:
#   make demo   back-test a trailing stop on a generated, seeded price path
#   make test   build and run the whole test suite
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build

.PHONY: all deps build demo test asan tsan fuzz format format-check bench clean crash-test \
	daemon-kill-test failover-test

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) >$(BUILD)/build.log 2>&1 || { cat $(BUILD)/build.log; exit 1; }
	@echo "built $(BUILD)/trailguard (log: $(BUILD)/build.log)"

demo: build
	@scripts/demo.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: deps
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTG_SANITIZE=ON >/dev/null
	@cmake --build build-asan -j $(JOBS) >build-asan/build.log 2>&1 || { cat build-asan/build.log; exit 1; }
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS)

# The emulator and the venue adapters under ThreadSanitizer: both run a loop
# thread beside the caller's.
tsan: deps
	@cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DTG_TSAN=ON >/dev/null
	@cmake --build build-tsan -j $(JOBS) >build-tsan/build.log 2>&1 || { cat build-tsan/build.log; exit 1; }
	@cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
		ctest --output-on-failure -j $(JOBS) -R 'sim|venue'

# libFuzzer targets, built with clang; FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 60
fuzz:
	@scripts/deps.sh --fuzz
	@CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DTG_FUZZ=ON -DTG_TESTS=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS)
	@scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

# Kills the crash worker KILLS times at random moments, checking the store
# after every kill (tests/crash/crash_test.c); the last line has the counts.
KILLS ?= 200
CRASH_SEED ?= 1
crash-test: build
	@$(BUILD)/tests/crash_test --kills $(KILLS) --seed $(CRASH_SEED)

# SIGKILLs the real `trailguard run` KILLS times (default 50) while the
# in-process emulator moves prices, and checks through the emulator after
# every restart that each position has exactly one stop that never loosened
# (tests/crash/daemon_kill_test.c); the last line has the counts. KILLS is
# shared with crash-test, whose default is 200: only a KILLS given on the
# command line or in the environment overrides this one's.
DAEMON_KILLS = $(if $(filter command line environment,$(origin KILLS)),$(KILLS),50)
daemon-kill-test: build
	@$(BUILD)/tests/daemon_kill_test --kills $(DAEMON_KILLS) --seed $(CRASH_SEED)

# Three `trailguard run` with [cluster] on a throw-away PostgreSQL, 300
# positions over six accounts on both venues: SIGKILLs a random one every
# 20 s and restarts it 5 s later for FAILOVER_SECONDS (default 120, the CI
# length; 300 is the full run), checking the stops on the emulator and, in
# its request log, that two processes never send for one account at once;
# the last line has the takeover times and counts, the exit status says
# whether every check held (tests/crash/failover_test.c, docs/cluster.md).
FAILOVER_SECONDS ?= 120
failover-test: build
	@$(BUILD)/tests/failover_test --seconds $(FAILOVER_SECONDS) --seed $(CRASH_SEED)

bench: build
	@for b in $(BUILD)/bench/*; do [ -x "$$b" ] && echo "== $$b" && "$$b"; done

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf build build-asan build-tsan build-fuzz
