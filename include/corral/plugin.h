/*
 * The plugin interface. A plugin is a shared object that exports exactly one
 * symbol, `crl_plugin` (CRL_PLUGIN_SYMBOL), a const crl_plugin_t. The core
 * dlopen()s it (RTLD_NOW | RTLD_GLOBAL), checks `abi`, registers its option
 * table, and calls its hooks. Plugins reach the core only through the
 * functions declared in include/corral/.
 *
 * Roles: an application plugin fills `app`; a config loader fills
 * `loader`. Hooks are optional (NULL).
 *
 * A plugin may also be built into the corral binary (see
 * CORRAL_PYTHON_STATIC): the same sources compiled with
 * CRL_PLUGIN_EMBEDDED=name define `crl_builtin_plugin_<name>` instead, and the core
 * finds it in crl_embedded_plugins[] before looking on disk. A plugin
 * defines its descriptor with CRL_PLUGIN_DESCRIPTOR(name) so that it builds
 * both ways.
 */
#ifndef CORRAL_PLUGIN_H
#define CORRAL_PLUGIN_H

#include <stddef.h>

#include <corral/option.h>
#include <corral/request.h>
#include <corral/result.h>

#define CRL_PLUGIN_ABI 2
#define CRL_PLUGIN_SYMBOL "crl_plugin"

#if defined(__GNUC__)
#define CRL_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define CRL_PLUGIN_EXPORT
#endif

#define CRL_PLUGIN_CAT_(a, b) a##b
#define CRL_PLUGIN_CAT(a, b) CRL_PLUGIN_CAT_(a, b)
#ifdef CRL_PLUGIN_EMBEDDED
#define CRL_PLUGIN_DESCRIPTOR(name) const crl_plugin_t CRL_PLUGIN_CAT(crl_builtin_plugin_, name)
#else
#define CRL_PLUGIN_DESCRIPTOR(name) CRL_PLUGIN_EXPORT const crl_plugin_t crl_plugin
#endif

/* Called by a loader once per key/value it finds, in file order. `line` is
 * 1-based. `key` and `value` are NUL-terminated and only valid during the
 * call. A bare key (no value) is passed with value "". Returns CRL_OK to go
 * on, CRL_ERROR to stop loading (the callee has logged why). */
typedef int (*crl_record_cb)(void *ctx, const char *key, const char *value, unsigned line);

typedef struct {
    /* File name endings this loader reads, NULL-terminated (".ini"). */
    const char *const *extensions;
    /* Read `path`, taking the keys of `section` (the loader's default
     * section when NULL: "uwsgi"), and call emit for each. Returns CRL_OK;
     * CRL_ERROR with a message in err (naming the line when there is one)
     * when the file cannot be read or parsed; CRL_DECLINED when the file has
     * no such section (err says so). emit's errors are passed up. */
    int (*load)(const char *path, const char *section, crl_record_cb emit, void *ctx, char *err,
                size_t errlen);
} crl_loader_ops_t;

typedef struct {
    /* Load the configured application(s): in the master before forking,
     * or with lazy-apps in each worker after fork. CRL_OK; CRL_DECLINED when
     * nothing is configured to load; CRL_ERROR when loading failed (logged). */
    int (*load)(void);
    /* Serve one request. Returns CRL_OK when the response is complete,
     * CRL_ERROR when the connection must be closed (response incomplete). */
    int (*handle)(crl_request_t *req);
} crl_app_ops_t;

typedef struct {
    unsigned abi;                /* CRL_PLUGIN_ABI */
    const char *name;            /* "python" */
    const char *aliases;         /* space-separated names accepted by
                                    `plugins =`, e.g. "python3 python311" */
    const crl_option_t *options; /* option rows, or NULL */
    size_t noptions;
    void *conf;                  /* the struct the rows' offsets point into */

    /* In the master once the configuration is resolved; CRL_ERROR stops. */
    int (*init_master)(void);
    /* Around every fork of a worker, in the master. */
    void (*fork_prepare)(void);
    void (*fork_parent)(void);
    /* In the new worker process right after fork (before any request). */
    int (*init_worker)(unsigned worker_id);
    /* In a worker that is about to exit normally. */
    void (*exit_worker)(void);
    /* In the master before it exits. */
    void (*exit_master)(void);

    const crl_app_ops_t *app;
    const crl_loader_ops_t *loader;

    unsigned flags;              /* CRL_PLUGIN_* */
} crl_plugin_t;

/* The app plugin's handle() may run in several threads of one worker at
 * once (the `threads` option); without it the core runs one thread. */
#define CRL_PLUGIN_THREADS 1u

#endif
