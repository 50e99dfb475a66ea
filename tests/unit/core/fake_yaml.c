/* A minimal yaml loader for the config reader's tests: a top-level
 * "section:" line followed by indented "key: value" lines. */
#include <stdio.h>
#include <string.h>

#include <corral/plugin.h>

static int load(const char *path, const char *section, crl_record_cb emit, void *ctx, char *err,
                size_t errlen)
{
    char line[4096];
    unsigned no = 0;
    int in = 0, found = 0, rc = CRL_OK;
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open %s", path);
        return CRL_ERROR;
    }
    if (!section)
        section = "uwsgi";
    while (rc == CRL_OK && fgets(line, sizeof(line), f)) {
        no++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] && line[0] != ' ') {
            in = strncmp(line, section, strlen(section)) == 0 && line[strlen(section)] == ':';
            found |= in;
            continue;
        }
        char *k = line + strspn(line, " ");
        char *colon = strchr(k, ':');
        if (!in || !colon)
            continue;
        *colon = '\0';
        char *v = colon + 1 + strspn(colon + 1, " ");
        rc = emit(ctx, k, v, no);
    }
    fclose(f);
    if (rc == CRL_OK && !found)
        return CRL_DECLINED;
    return rc;
}

static const char *const exts[] = { ".yaml", ".yml", NULL };
static const crl_loader_ops_t ops = { .extensions = exts, .load = load };

CRL_PLUGIN_EXPORT const crl_plugin_t crl_plugin = {
    .abi = CRL_PLUGIN_ABI,
    .name = "yaml",
    .loader = &ops,
};
