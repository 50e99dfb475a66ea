/*
 * libFuzzer target for core/crl_expand.c. The input is a set of lines
 * "key=value": every value goes through the magic pass, the $(ENV) pass (a
 * fake environment), the @(file) pass (a fake reader that never touches the
 * disk) and the %(placeholder) pass, whose lookups resolve against the same
 * lines, so the fuzzer builds its own reference chains and cycles.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crl_expand.h"

#define MAX_VARS 64

typedef struct {
    char *key[MAX_VARS];
    char *value[MAX_VARS];
    size_t n;
} vars_t;

static const char *lookup(void *ctx, const char *name)
{
    vars_t *v = ctx;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->key[i], name) == 0)
            return v->value[i];
    return NULL;
}

static const char *fake_env(void *ctx, const char *name)
{
    if (strcmp(name, "PORT") == 0)
        return "8000";
    if (strcmp(name, "EMPTY") == 0)
        return "";
    return NULL;
}

static int fake_read(void *ctx, const char *path, char **content, char *err, size_t errlen)
{
    if (path[0] == 'x') {
        strncpy(err, "refused", errlen - 1);
        err[errlen - 1] = '\0';
        return -1;
    }
    *content = strdup(path);
    return *content ? 0 : -1;
}

static void expand_all(const char *value, vars_t *vars, const crl_magic_t *m)
{
    char unset[64], err[128];
    int failed, deep;

    char *a = crl_expand_magic(value, m);
    if (!a)
        return;
    char *b = crl_expand_env(a, fake_env, NULL, unset, sizeof(unset));
    char *c = b ? crl_expand_files(b, fake_read, NULL, &failed, err, sizeof(err)) : NULL;
    char *d = c ? crl_expand_placeholders(c, lookup, NULL, vars, &deep) : NULL;
    char *e = crl_expand_substitute(value, "%(_)", "item");
    free(a);
    free(b);
    free(c);
    free(d);
    free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static crl_magic_t magic;
    static int ready;
    vars_t vars = { .n = 0 };

    if (!ready) {
        crl_magic_fill(&magic, "/srv/app/conf/uwsgi.ini", "uwsgi", "/srv", NULL);
        ready = 1;
    }
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && vars.n < MAX_VARS;
         line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        if (eq)
            *eq = '\0';
        vars.key[vars.n] = line;
        vars.value[vars.n] = eq ? eq + 1 : line + strlen(line);
        vars.n++;
    }
    for (size_t i = 0; i < vars.n; i++)
        expand_all(vars.value[i], &vars, &magic);
    free(text);
    return 0;
}
