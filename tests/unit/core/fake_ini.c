/* A minimal ini loader for the config reader's tests: [section], key = value,
 * bare keys, ';' and '#' comment lines. Stands in for plugins/ini. */
#include <stdio.h>
#include <string.h>

#include <corral/plugin.h>

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

static int load(const char *path, const char *section, crl_record_cb emit, void *ctx, char *err,
                size_t errlen)
{
    char line[4096], cur[256] = "";
    unsigned no = 0;
    int found = 0, rc = CRL_OK;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        return CRL_ERROR;
    }
    if (!section)
        section = "uwsgi";
    while (rc == CRL_OK && fgets(line, sizeof(line), f)) {
        char *s = trim(line);
        no++;
        if (!*s || *s == ';' || *s == '#')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            snprintf(cur, sizeof(cur), "%.*s", e ? (int)(e - s - 1) : 0, s + 1);
            found |= strcmp(cur, section) == 0;
            continue;
        }
        if (strcmp(cur, section) != 0)
            continue;
        char *eq = strchr(s, '=');
        if (eq) {
            *eq = '\0';
            rc = emit(ctx, trim(s), trim(eq + 1), no);
        } else {
            rc = emit(ctx, s, "", no);
        }
    }
    fclose(f);
    if (rc == CRL_OK && !found) {
        snprintf(err, errlen, "no [%s] section", section);
        return CRL_DECLINED;
    }
    return rc;
}

static const char *const exts[] = { ".ini", NULL };
static const crl_loader_ops_t ops = { .extensions = exts, .load = load };

CRL_PLUGIN_EXPORT const crl_plugin_t crl_plugin = {
    .abi = CRL_PLUGIN_ABI,
    .name = "ini",
    .loader = &ops,
};
