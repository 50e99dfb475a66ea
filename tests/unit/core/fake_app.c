/* A fake application plugin for the config reader's tests: its options are
 * found by autoload (fake-module = ... with no plugins line). */
#include <stddef.h>

#include <corral/plugin.h>

typedef struct {
    char *module;
    long threads;
    int single;
} fake_conf_t;

static fake_conf_t conf;

/* Read back by the tests through the descriptor's conf pointer. */
static const crl_option_t rows[] = {
    { .name = "fake-module", .aliases = "fake-wsgi", .short_name = 'W', .type = CRL_OPT_STRING,
      .offset = offsetof(fake_conf_t, module), .help = "module to load" },
    { .name = "fake-threads", .type = CRL_OPT_INT, .offset = offsetof(fake_conf_t, threads),
      .def = "1", .min = 1, .max = 64, .help = "threads" },
    { .name = "fake-single", .short_name = 'I', .type = CRL_OPT_BOOL,
      .offset = offsetof(fake_conf_t, single), .help = "one interpreter" },
};

static int app_load(void)
{
    return CRL_OK;
}

static int app_handle(crl_request_t *req)
{
    return CRL_OK;
}

static const crl_app_ops_t ops = { .load = app_load, .handle = app_handle };

CRL_PLUGIN_DESCRIPTOR(app) = {
    .abi = CRL_PLUGIN_ABI,
    .name = "app",
    .aliases = "fakeapp fakeapp3",
    .options = rows,
    .noptions = sizeof(rows) / sizeof(rows[0]),
    .conf = &conf,
    .app = &ops,
};
