/*
 * Plugin manager: finds plugin shared objects, dlopen()s them, checks the
 * ABI, registers their option tables, and lets the core call their hooks.
 *
 * Search order for a plugin called NAME (after alias resolution: "python3",
 * "python311", "/usr/lib/uwsgi/python3_plugin.so" all mean "python"):
 * the `plugins-dir` directories, then <dir of the corral executable>/plugins,
 * then CRL_PLUGIN_DIR (the install directory). The file is corral_NAME.so.
 * A plugin built into the binary (the Python plugin with a static libpython,
 * CORRAL_PYTHON_STATIC) is taken before any file, even one named by path.
 */
#ifndef CRL_PLUGIN_MANAGER_H
#define CRL_PLUGIN_MANAGER_H

#include <corral/plugin.h>

/* Load a plugin by name, alias or path if it is not loaded yet. Returns
 * CRL_OK (also when already loaded), CRL_DECLINED when no such Corral
 * plugin exists (the caller warns: uWSGI plugins like "gevent" or
 * "logfile" are not available), CRL_ERROR when the file exists but cannot
 * be loaded or has the wrong ABI (logged). */
int crl_plugin_load(const char *name);

/* Whether the plugin called `name` (or an alias) is built into the binary. */
int crl_plugin_embedded(const char *name);

/* The i-th plugin built into the binary, loaded or not; NULL past the end. */
const crl_plugin_t *crl_plugin_embedded_at(size_t i);

/* Add a directory to search first (the plugins-dir option). */
void crl_plugin_add_dir(const char *dir);

/* Load, one after the other, each plugin available on disk that is not yet
 * loaded, until one knows option `name`. Returns CRL_OK when the option is
 * now registered, CRL_DECLINED when no plugin knows it. */
int crl_plugin_autoload_for_option(const char *name);

/* The loader plugin for a config file path by its extension, or for a
 * loader option name ("ini", "yaml", "yml"); loads it on demand. NULL when
 * there is none. */
const crl_plugin_t *crl_plugin_loader_for_path(const char *path);
const crl_plugin_t *crl_plugin_loader_for_option(const char *option);

/* The loaded application plugin (the first with `app`), or NULL. */
const crl_plugin_t *crl_plugin_app(void);

/* Loaded plugins, in load order. */
size_t crl_plugin_count(void);
const crl_plugin_t *crl_plugin_at(size_t i);

#endif
