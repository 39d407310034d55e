# contracts.cmake - the ctest tests of the manager contracts (contracts-abi/contracts/*.sol).
# Included from contracts-abi/CMakeLists.txt: include(${CMAKE_CURRENT_SOURCE_DIR}/contracts.cmake)
#
#   contracts_artifacts  compile.mjs --check: the committed artifacts (ABI, bytecode) match
#                        the sources compiled with the pinned solc
#   contracts_anvil      node --test against a real anvil the test starts and stops (by PID)
#
# Both need node and the npm tools of package.json (scripts/setup.sh installs them). Without
# node they are still registered, and fail saying what is missing: CI skips no test.
find_program(COHORT_NODE_EXECUTABLE node)
if(COHORT_NODE_EXECUTABLE)
  set(cohort_contracts_node ${COHORT_NODE_EXECUTABLE})
else()
  set(cohort_contracts_node sh -c "echo 'node not found: run scripts/setup.sh' >&2; exit 1" node)
endif()

add_test(NAME contracts_artifacts
  COMMAND ${cohort_contracts_node} contracts-abi/scripts/compile.mjs --check
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
set_tests_properties(contracts_artifacts PROPERTIES TIMEOUT 120 LABELS contracts)

add_test(NAME contracts_anvil
  COMMAND ${cohort_contracts_node} --test contracts-abi/test/
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
# The suite takes about 25 s; the brief's bound is 2 minutes, ctest's guard a little above it.
set_tests_properties(contracts_anvil PROPERTIES TIMEOUT 180 LABELS "integration;contracts")
