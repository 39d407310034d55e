#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, then
#   1. a clang build with ASan+UBSan and libFuzzer: unit tests under the sanitizers, and
#      each fuzz target for COHORT_FUZZ_SECONDS (default 20) seconds;
#   2. the Release build: unit, conformance and integration tests.
# ctest's summary of the Release run closes the output; the exit status is non-zero when
# any test of either run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${COHORT_FUZZ_SECONDS:-20}

# The integration tests need a dockerd: start one here, once, if none answers (tests
# started in parallel would otherwise race to start it). It is left running for later runs.
if ! docker info >/dev/null 2>&1; then
  echo "== starting dockerd =="
  (setsid dockerd >/tmp/cohort-test-dockerd.log 2>&1 &)
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start: see /tmp/cohort-test-dockerd.log" >&2; exit 1; }
fi

# The conformance tests read Ethereum's own fixtures (README): without them ctest would
# register no state test and pass. Refuse instead, before building anything.
fixtures=$(cd .. && pwd)/shared/fixtures
if [[ ! -d "$fixtures/ethereum-tests/GeneralStateTests" ]]; then
  echo "the conformance fixtures are missing: $fixtures/ethereum-tests/GeneralStateTests does not exist" >&2
  echo "(they live in ../shared/fixtures beside this folder; see the README)" >&2
  exit 1
fi
# Every build's state tests: a build configured with another COHORT_FIXTURES must find some too.
require_state_tests() {
  local n
  n=$(ctest --test-dir "$1" -N -L statetest | sed -n 's/^Total Tests: *\([0-9]*\).*/\1/p')
  if [[ -z "$n" || "$n" -eq 0 ]]; then
    echo "$1 registers no state test: its COHORT_FIXTURES has no GeneralStateTests" >&2
    exit 1
  fi
}

status=0
# The BFT simulator tries a range of seeds taken from the commit under test: each commit's run
# covers new ones (tests/unit/test_bft_sim.c).
COHORT_BFT_COMMIT=$(git rev-parse HEAD 2>/dev/null || true)
export COHORT_BFT_COMMIT
echo "== sanitizer and fuzz build (clang, ASan+UBSan, libFuzzer) =="
CC=clang cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOHORT_SANITIZE=ON \
  -DCOHORT_FUZZ=ON -DCOHORT_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build build-sanitize -j"$jobs"
require_state_tests build-sanitize
# COHORT_TEST_SCALE divides the case count of the million-case differential tests: the
# Release run below does them all, the sanitizers check the same code paths on fewer.
# The state tests run whole in the Release build; under the sanitizers, a sample of folders
# that covers calls, creates, storage, memory and Cancun's opcodes (the whole folder under
# ASan+UBSan is run by hand: docs/PERFORMANCE.md says when it last was).
export COHORT_TEST_SCALE=10 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-sanitize -j"$jobs" --output-on-failure -LE 'contracts|statetest|heavy' || status=1
ctest --test-dir build-sanitize -j"$jobs" --output-on-failure --no-tests=error \
  -R 'statetest_(VMTests|Cancun|stCallCodes|stCreateTest|stSStoreTest|stMemoryTest|stRevertTest|stPreCompiledContracts2)$' || status=1
unset COHORT_TEST_SCALE ASAN_OPTIONS UBSAN_OPTIONS

echo "== release build =="
bash scripts/build.sh
require_state_tests build
ctest --test-dir build -j"$jobs" --output-on-failure || status=1
exit $status
