/* testutil.c - shared helpers of the unit tests. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *testutil_fixtures_dir(void)
{
    const char *dir = getenv("COHORT_FIXTURES");
    return dir != NULL && dir[0] != '\0' ? dir : "../shared/fixtures";
}

const char *testutil_source_dir(void)
{
    const char *dir = getenv("COHORT_SOURCE_DIR");
    return dir != NULL && dir[0] != '\0' ? dir : ".";
}

char *testutil_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "testutil: cannot open %s (is ../shared/fixtures beside the project?)\n", path);
        abort();
    }
    if (fseek(f, 0, SEEK_END) != 0) abort();
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) abort();
    char *data = malloc((size_t)size + 1);
    if (data == NULL) abort();
    if (fread(data, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "testutil: short read of %s\n", path);
        abort();
    }
    fclose(f);
    data[size] = '\0';
    if (len != NULL) *len = (size_t)size;
    return data;
}

cJSON *testutil_read_json(const char *path)
{
    char *text = testutil_read_file(path, NULL);
    cJSON *json = cJSON_Parse(text);
    free(text);
    if (json == NULL) {
        fprintf(stderr, "testutil: %s is not valid JSON\n", path);
        abort();
    }
    return json;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t testutil_walk(const char *dir, const char *suffix, void (*fn)(const char *path, void *arg), void *arg)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "testutil: cannot open folder %s\n", dir);
        abort();
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) != NULL) {
        if (entry->d_name[0] == '.') continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            if (names == NULL) abort();
        }
        names[count++] = strdup(entry->d_name);
    }
    closedir(d);
    if (count) qsort(names, count, sizeof *names, compare_names);

    size_t visited = 0, suffix_len = strlen(suffix);
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            visited += testutil_walk(path, suffix, fn, arg);
        } else {
            size_t n = strlen(names[i]);
            if (n >= suffix_len && strcmp(names[i] + n - suffix_len, suffix) == 0) {
                fn(path, arg);
                visited++;
            }
        }
        free(names[i]);
    }
    free(names);
    return visited;
}

uint64_t testutil_rand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void testutil_rand_bytes(uint64_t *state, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t r = testutil_rand_next(state);
        for (size_t j = 0; j < 8 && i + j < len; j++) out[i + j] = (uint8_t)(r >> (8 * j));
    }
}
