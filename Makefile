# Makefile — developer entry points for Carbon Ledger (wraps CMake and scripts/).
# `make help` lists targets and variables.

SHELL := /bin/bash

BUILD_TYPE ?= RelWithDebInfo
JOBS       ?= 2
# e.g. SANITIZE=address,undefined — builds into a separate directory with -fsanitize=...
SANITIZE   ?=
BUILD_DIR  ?= $(if $(strip $(SANITIZE)),build-sanitize,build)
# Extra ctest arguments for `make test`, e.g. CTEST_ARGS='-R Projector' or CTEST_ARGS='-L integration'
CTEST_ARGS ?=

SAN_FLAGS   := $(if $(strip $(SANITIZE)),-fsanitize=$(strip $(SANITIZE)) -fno-omit-frame-pointer -fno-sanitize-recover=all)
CXX_FLAGS   := $(strip $(CXXFLAGS) $(SAN_FLAGS))
LINK_FLAGS  := $(strip $(LDFLAGS) $(SAN_FLAGS))
# Always passed, so switching flags on an existing build dir resets the cached values.
CMAKE_ARGS  := -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) "-DCMAKE_CXX_FLAGS=$(CXX_FLAGS)" "-DCMAKE_EXE_LINKER_FLAGS=$(LINK_FLAGS)"
# Records the arguments of the last configure, to re-run cmake only when they change.
CONFIG_STAMP = $(BUILD_DIR)/.ledger-configure-args

.DEFAULT_GOAL := build
.PHONY: build configure run test deps clean help

deps:
	@scripts/install-deps.sh

configure: deps
	@args='$(CMAKE_ARGS)'; \
	if [[ ! -f '$(BUILD_DIR)/CMakeCache.txt' || "$$(cat '$(CONFIG_STAMP)' 2>/dev/null)" != "$$args" ]]; then \
	  echo "make: configuring $(BUILD_DIR) ($$args)"; \
	  cmake -S . -B '$(BUILD_DIR)' $(CMAKE_ARGS) && printf '%s\n' "$$args" > '$(CONFIG_STAMP)'; \
	fi

build: configure
	cmake --build '$(BUILD_DIR)' -j$(JOBS)

run:
	@SANITIZE='$(SANITIZE)' BUILD_DIR='$(BUILD_DIR)' scripts/run.sh

test:
	@SANITIZE='$(SANITIZE)' BUILD_DIR='$(BUILD_DIR)' scripts/test.sh $(CTEST_ARGS)

clean:
	rm -rf build $(wildcard build-*/)

help:
	@echo 'Carbon Ledger make targets:'
	@echo '  build  (default) install missing deps, configure (only when needed) and build into $$BUILD_DIR'
	@echo '  run    build, start a private PostgreSQL under .pgdata/ (unless DATABASE_URL is set),'
	@echo '         migrate, then run `carbon-ledger project` and `carbon-ledger serve` (Ctrl-C stops all)'
	@echo '  test   build, start a throwaway PostgreSQL cluster, run ctest, tear everything down'
	@echo '  deps   install missing Debian packages (scripts/install-deps.sh)'
	@echo '  clean  remove build directories (build, build-*); keeps .pgdata/'
	@echo '  help   this text'
	@echo 'Variables:'
	@echo '  SANITIZE=address,undefined  sanitizer build in build-sanitize/ (used by build, run and test)'
	@echo '  BUILD_DIR=...               build directory (default: build, or build-sanitize with SANITIZE)'
	@echo '  BUILD_TYPE=...              CMake build type (default: RelWithDebInfo)'
	@echo '  JOBS=N                      parallel compile jobs (default: 2)'
	@echo '  CTEST_ARGS=...              extra ctest arguments for `make test` (env CTEST_PARALLEL_LEVEL: ctest -j, default 1)'
	@echo '  DATABASE_URL, LEDGER_HTTP_PORT   used by `make run`'
.PHONY: bench
bench: build
	bash bench/run.sh
.PHONY: fuzz
fuzz:
	bash scripts/fuzz.sh
