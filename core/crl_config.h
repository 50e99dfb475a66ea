/*
 * Configuration: collects located records (key, value, file, line) from the
 * UWSGI_* environment, the command line and config files in uWSGI's order,
 * runs immediate options (ini/yaml includes, plugins, strict, logic blocks)
 * while reading, expands $(ENV), @(file) and %(placeholder) in three passes
 * afterwards, and applies every record to the option registry.
 */
#ifndef CRL_CONFIG_H
#define CRL_CONFIG_H

typedef enum {
    CRL_CONFIG_RUN,  /* start serving */
    CRL_CONFIG_EXIT, /* --help, --version, --show-config or --check-config
                        has done its work: exit 0 */
} crl_config_action_t;

/* Read and resolve the whole configuration. Core option tables must be
 * registered before. Plugins named by `plugins` or needed by an option are
 * loaded here (crl_plugin_load). Warnings and errors are logged with file
 * and line. Returns CRL_OK, or CRL_ERROR when the configuration is unusable
 * (the caller exits 1). */
int crl_config_load(int argc, char **argv, char **envp, crl_config_action_t *action);

/* The value of a custom key or option as the configuration wrote it (used
 * by %(name)), or NULL. Valid until exit. */
const char *crl_config_get(const char *name);

/* Every record key=value in order, for the Python plugin's uwsgi.opt. */
typedef void (*crl_config_each_cb)(void *ctx, const char *key, const char *value);
void crl_config_foreach(crl_config_each_cb cb, void *ctx);

#endif
