# Thin wrapper over CMake. `make run` and `make test` are the quick start.
BUILD_DIR      ?= build
ASAN_DIR       ?= build-asan
FUZZ_DIR       ?= build-fuzz
JOBS           ?= 2
FUZZ_SECONDS   ?= 60
PORT           ?= 8080
CMAKE          ?= cmake

.PHONY: all deps test-deps build run test test-sanitize test-tsan fuzz bench clean format

all: build

deps:
	@scripts/install-deps

test-deps:
	@scripts/install-deps --test

# Configuring again is cheap and picks up tools installed since (node, chromium).
build: deps
	$(CMAKE) -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)

# The demo page with its Frames panel: the inspector answers loopback clients only.
run: build
	$(BUILD_DIR)/sockeye serve --port $(PORT) --inspect

test: test-deps build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

# Unit and integration suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
test-sanitize: test-deps
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOCKEYE_SANITIZE=ON
	$(CMAKE) --build $(ASAN_DIR) -j$(JOBS)
	cd $(ASAN_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j$(JOBS) -LE 'heavy|soak'

# The multi-threaded server (--threads) under ThreadSanitizer: the tests that run it.
TSAN_DIR ?= build-tsan
test-tsan: test-deps
	$(CMAKE) -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOCKEYE_TSAN=ON -DSOCKEYE_BENCH=OFF
	$(CMAKE) --build $(TSAN_DIR) -j$(JOBS) --target sockeye sockeye_unit_tests ticker
	cd $(TSAN_DIR) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
	  SOCKEYE_EXTRA_FLAGS="--threads 2" ctest --output-on-failure -LE heavy \
	  -R 'integration\.(echo|tls|concurrency|shutdown|timeouts|protocol_errors|deflate|http|http2|inspector|ticker|exec|proxy)\.|integration\.pubsub(_cluster)?\.Pubsub(Basics|Limits|ReadOnly|Token|Deflate|Tls|Cluster|ClusterSharded)Test|^Handles|^Topics|^RedisBroker'

# Each libFuzzer target for FUZZ_SECONDS, starting from the seed corpus in fuzz/corpus/.
fuzz: deps
	@SOCKEYE_WITH_FUZZ=1 scripts/install-deps
	CC=clang CXX=clang++ $(CMAKE) -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSOCKEYE_FUZZ=ON
	$(CMAKE) --build $(FUZZ_DIR) -j$(JOBS) --target fuzzers
	scripts/run-fuzzers $(FUZZ_DIR) $(FUZZ_SECONDS)

bench: build
	@scripts/install-deps --bench
	$(CMAKE) -S . -B $(BUILD_DIR) >/dev/null
	$(CMAKE) --build $(BUILD_DIR) -j$(JOBS)
	$(BUILD_DIR)/sockeye_microbench

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR) $(TSAN_DIR)

format:
	find src include apps tests bench fuzz examples -name '*.cpp' -o -name '*.hpp' | xargs clang-format -i
