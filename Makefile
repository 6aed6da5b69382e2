# The two quick-start commands: `make run` and `make test`.
# Both install missing Debian packages first (scripts/install-deps.sh), then build.

BUILD      ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= $(shell nproc)
LISTEN     ?= 127.0.0.1:7400
HTTP       ?= 127.0.0.1:7401
DATA_DIR   ?= ./hermod-data

.PHONY: all deps configure build run test bench format clean

all: build

deps:
	scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/bin/hermodd --listen $(LISTEN) --http-listen $(HTTP) --data-dir $(DATA_DIR)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The standard benchmark suite (bench/run-suite.sh); not part of `make test`.
bench: build
	HERMOD_BIN=$(BUILD)/bin bench/run-suite.sh

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
