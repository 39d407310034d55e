/* cli.c - command tree dispatch, help, flag parsing and table/JSON output for `cohort`. */
#include "cli.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 8
#define PATH_MAX_CHARS 256

int cli_fail(struct cli_globals *g, int code, const char *fmt, ...)
{
    assert(code != COHORT_EXIT_OK);
    fputs("cohort: ", g->err);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(g->err, fmt, ap);
    va_end(ap);
    fputc('\n', g->err);
    return code;
}

void cli_print_help(const struct cli_command *cmd, const char *path, FILE *to)
{
    fprintf(to, "%s - %s\n\n", path, cmd->summary);
    if (cmd->usage != NULL) {
        fputs(cmd->usage, to);
        if (cmd->usage[0] != '\0' && cmd->usage[strlen(cmd->usage) - 1] != '\n') fputc('\n', to);
    } else if (cmd->children != NULL) {
        fprintf(to, "Usage: %s COMMAND [ARGS...]\n", path);
    } else {
        fprintf(to, "Usage: %s\n", path);
    }
    if (cmd->children != NULL) {
        size_t width = 0;
        for (const struct cli_command *c = cmd->children; c->name != NULL; c++)
            if (strlen(c->name) > width) width = strlen(c->name);
        fputs("\nCommands:\n", to);
        for (const struct cli_command *c = cmd->children; c->name != NULL; c++)
            fprintf(to, "  %-*s  %s\n", (int)width, c->name, c->summary);
        fprintf(to, "\nRun '%s COMMAND --help' for a command's own options.\n", path);
    }
    fputs("\nCommon options:\n"
          "  --json      print results as JSON (for scripts)\n"
          "  --quiet     no progress messages on stderr\n"
          "  -h, --help  show this help\n",
          to);
}

static const struct cli_command *find_child(const struct cli_command *cmd, const char *name)
{
    if (cmd->children == NULL) return NULL;
    for (const struct cli_command *c = cmd->children; c->name != NULL; c++)
        if (strcmp(c->name, name) == 0) return c;
    return NULL;
}

static bool is_help(const char *arg) { return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0; }

int cli_run(const struct cli_command *root, int argc, char **argv, FILE *out, FILE *err)
{
    assert(root != NULL);
    assert(argc >= 1);
    struct cli_globals g = {.json = false, .quiet = false, .out = out, .err = err};

    /* Pull the global flags out; the rest stays in order for the handler. */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (rest == NULL) return cli_fail(&g, COHORT_EXIT_FAILURE, "out of memory");
    int nrest = 0;
    bool help = false, version = false, after_dashdash = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!after_dashdash && strcmp(a, "--") == 0) after_dashdash = true;
        if (!after_dashdash && strcmp(a, "--json") == 0) g.json = true;
        else if (!after_dashdash && strcmp(a, "--quiet") == 0) g.quiet = true;
        else if (!after_dashdash && is_help(a)) help = true;
        else if (!after_dashdash && strcmp(a, "--version") == 0 && nrest == 0) version = true;
        else rest[nrest++] = argv[i];
    }

    char path[PATH_MAX_CHARS];
    snprintf(path, sizeof path, "%s", root->name);
    const struct cli_command *cmd = root;
    int at = 0, code;
    if (version) {
        if (g.json) fprintf(out, "{\"version\":\"%s\"}\n", COHORT_VERSION);
        else fprintf(out, "%s %s\n", root->name, COHORT_VERSION);
        code = COHORT_EXIT_OK;
        goto done;
    }
    for (int depth = 0; cmd->handler == NULL; depth++) {
        assert(depth < MAX_DEPTH);
        if (at == nrest) {
            cli_print_help(cmd, path, help ? out : err);
            code = help ? COHORT_EXIT_OK : COHORT_EXIT_USAGE;
            goto done;
        }
        const struct cli_command *next = find_child(cmd, rest[at]);
        if (next == NULL) {
            code = cli_fail(&g, COHORT_EXIT_USAGE, "unknown command '%s %s'; run '%s --help' for the list", path,
                            rest[at], path);
            goto done;
        }
        size_t used = strlen(path);
        snprintf(path + used, sizeof path - used, " %s", next->name);
        cmd = next;
        at++;
    }
    if (help) {
        cli_print_help(cmd, path, out);
        code = COHORT_EXIT_OK;
        goto done;
    }
    code = cmd->handler(cmd, nrest - at, rest + at, &g);
done:
    free(rest);
    return code;
}

static const struct cli_flag *find_flag(const struct cli_flag *flags, const char *name, size_t len)
{
    for (const struct cli_flag *f = flags; f != NULL && f->name != NULL; f++)
        if (strlen(f->name) == len && strncmp(f->name, name, len) == 0) return f;
    return NULL;
}

int cli_parse_flags(int argc, char **argv, const struct cli_flag *flags, const char **positional,
                    size_t max_positional, size_t *npositional, struct cli_globals *g)
{
    size_t np = 0;
    bool only_positional = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!only_positional && strcmp(a, "--") == 0) {
            only_positional = true;
            continue;
        }
        if (only_positional || strncmp(a, "--", 2) != 0) {
            if (np == max_positional) return cli_fail(g, COHORT_EXIT_USAGE, "unexpected argument '%s'", a);
            positional[np++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct cli_flag *f = find_flag(flags, name, len);
        if (f == NULL) return cli_fail(g, COHORT_EXIT_USAGE, "unknown option '--%.*s'; see --help", (int)len, name);
        if (f->present != NULL) *f->present = true;
        if (!f->takes_value) {
            if (eq != NULL) return cli_fail(g, COHORT_EXIT_USAGE, "option '--%s' takes no value", f->name);
            continue;
        }
        if (eq != NULL) {
            *f->value = eq + 1;
        } else {
            if (i + 1 >= argc) return cli_fail(g, COHORT_EXIT_USAGE, "option '--%s' needs a value", f->name);
            *f->value = argv[++i];
        }
    }
    if (npositional != NULL) *npositional = np;
    return 0;
}

struct cli_table {
    size_t ncolumns, nrows, cap_rows;
    char **names;
    bool *numeric;
    char **cells; /* nrows * ncolumns, row-major */
};

struct cli_table *cli_table_new(size_t ncolumns, const char *const *column_names)
{
    assert(ncolumns > 0);
    struct cli_table *t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->ncolumns = ncolumns;
    t->names = calloc(ncolumns, sizeof *t->names);
    t->numeric = calloc(ncolumns, sizeof *t->numeric);
    if (t->names == NULL || t->numeric == NULL) goto fail;
    for (size_t i = 0; i < ncolumns; i++)
        if ((t->names[i] = strdup(column_names[i])) == NULL) goto fail;
    return t;
fail:
    cli_table_free(t);
    return NULL;
}

int cli_table_add_row(struct cli_table *t, const char *const *cells)
{
    if (t->nrows == t->cap_rows) {
        size_t cap = t->cap_rows ? 2 * t->cap_rows : 16;
        char **grown = realloc(t->cells, cap * t->ncolumns * sizeof *grown);
        if (grown == NULL) return -1;
        t->cells = grown;
        t->cap_rows = cap;
    }
    char **row = t->cells + t->nrows * t->ncolumns;
    for (size_t i = 0; i < t->ncolumns; i++) {
        row[i] = NULL;
        if (cells[i] != NULL && (row[i] = strdup(cells[i])) == NULL) {
            while (i-- > 0) free(row[i]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

void cli_table_set_numeric(struct cli_table *t, size_t column)
{
    assert(column < t->ncolumns);
    t->numeric[column] = true;
}

static void print_json(const struct cli_table *t, FILE *out)
{
    cJSON *array = cJSON_CreateArray();
    for (size_t r = 0; r < t->nrows; r++) {
        cJSON *obj = cJSON_CreateObject();
        for (size_t c = 0; c < t->ncolumns; c++) {
            const char *cell = t->cells[r * t->ncolumns + c];
            char *end = NULL;
            double number = cell != NULL && t->numeric[c] ? strtod(cell, &end) : 0;
            if (cell == NULL) cJSON_AddNullToObject(obj, t->names[c]);
            else if (t->numeric[c] && end != cell && *end == '\0') cJSON_AddNumberToObject(obj, t->names[c], number);
            else cJSON_AddStringToObject(obj, t->names[c], cell);
        }
        cJSON_AddItemToArray(array, obj);
    }
    char *text = cJSON_Print(array);
    if (text != NULL) fprintf(out, "%s\n", text);
    free(text);
    cJSON_Delete(array);
}

void cli_table_print(const struct cli_table *t, const struct cli_globals *g)
{
    if (g->json) {
        print_json(t, g->out);
        return;
    }
    size_t *width = calloc(t->ncolumns, sizeof *width);
    if (width == NULL) return;
    for (size_t c = 0; c < t->ncolumns; c++) {
        width[c] = strlen(t->names[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            const char *cell = t->cells[r * t->ncolumns + c];
            size_t len = cell ? strlen(cell) : 1;
            if (len > width[c]) width[c] = len;
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncolumns; c++) {
            const char *cell = r == 0 ? t->names[c] : t->cells[(r - 1) * t->ncolumns + c];
            if (cell == NULL) cell = "-";
            bool last = c + 1 == t->ncolumns;
            if (r == 0) {
                /* Header in upper case, as kubectl and docker print theirs. */
                for (const char *p = cell; *p; p++) fputc(*p >= 'a' && *p <= 'z' ? *p - 32 : *p, g->out);
                if (!last) fprintf(g->out, "%*s", (int)(width[c] - strlen(cell) + 2), "");
            } else if (t->numeric[c]) {
                fprintf(g->out, "%*s%s", (int)width[c], cell, last ? "" : "  ");
            } else if (last) {
                fputs(cell, g->out);
            } else {
                fprintf(g->out, "%-*s  ", (int)width[c], cell);
            }
        }
        fputc('\n', g->out);
    }
    free(width);
}

void cli_table_free(struct cli_table *t)
{
    if (t == NULL) return;
    for (size_t i = 0; i < t->nrows * t->ncolumns; i++) free(t->cells[i]);
    free(t->cells);
    if (t->names != NULL)
        for (size_t i = 0; i < t->ncolumns; i++) free(t->names[i]);
    free(t->names);
    free(t->numeric);
    free(t);
}
