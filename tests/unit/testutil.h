/*
 * testutil.h - small helpers shared by the unit tests: where the fixtures are, reading
 * files and JSON, and a seeded PRNG so random tests are repeatable.
 */
#ifndef COHORT_TESTUTIL_H
#define COHORT_TESTUTIL_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The fixtures folder: $COHORT_FIXTURES (set by ctest) or ../shared/fixtures next to the
 * source tree. Returns a static string.
 */
const char *testutil_fixtures_dir(void);

/* The source tree: $COHORT_SOURCE_DIR (set by ctest) or ".". Returns a static string. */
const char *testutil_source_dir(void);

/*
 * Reads a whole file into a malloc'd buffer with a NUL after the last byte; the caller
 * frees it. Sets *len (if not NULL). Aborts the test with a message when the file
 * cannot be read: a missing fixture is a failure, never a skip.
 */
char *testutil_read_file(const char *path, size_t *len);

/* Reads and parses a JSON file; the caller frees it with cJSON_Delete. Aborts on failure. */
cJSON *testutil_read_json(const char *path);

/*
 * Calls fn(path, arg) for every regular file under dir whose name ends in suffix, in
 * sorted order, recursing into subfolders. Returns the number of files visited.
 */
size_t testutil_walk(const char *dir, const char *suffix, void (*fn)(const char *path, void *arg), void *arg);

/* splitmix64: a tiny seeded generator, so a failing random case can be replayed. */
uint64_t testutil_rand_next(uint64_t *state);
void testutil_rand_bytes(uint64_t *state, uint8_t *out, size_t len);

#endif
