/*
 * Plugin manager: finds corral_NAME.so in the search directories (the
 * plugins-dir entries, then <dir of the executable>/plugins, then
 * CRL_PLUGIN_DIR), dlopen()s it with RTLD_NOW | RTLD_GLOBAL (extension
 * modules of the embedded Python resolve libpython symbols globally), checks
 * the ABI, registers its option table and remembers the load order.
 *
 * Invariants: a plugin (by descriptor name) is loaded at most once; handles
 * are never dlclose()d once registered (their option rows are referenced by
 * the registry until exit). uWSGI plugin names are mapped onto Corral's:
 * "python3", "python311", "/usr/lib/uwsgi/python3_plugin.so" mean "python";
 * "http" is built into the core.
 */
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <corral/log.h>
#include <corral/result.h>

#include "crl_option.h"
#include "crl_plugin.h"

#ifndef CRL_PLUGIN_DIR
#define CRL_PLUGIN_DIR "/usr/local/lib/corral"
#endif

#define MAX_PLUGINS 32
#define MAX_DIRS 16

static const crl_plugin_t *loaded[MAX_PLUGINS];
static size_t nloaded;
static char *user_dirs[MAX_DIRS];
static size_t nuser_dirs;

/* uWSGI plugins whose job the Corral core does itself. */
static const char *const builtin[] = { "http", "corerouter", NULL };

void crl_plugin_add_dir(const char *dir)
{
    if (nuser_dirs == MAX_DIRS) {
        crl_log(CRL_LOG_WARN, 0, "too many plugin directories; '%s' ignored", dir);
        return;
    }
    for (size_t i = 0; i < nuser_dirs; i++)
        if (strcmp(user_dirs[i], dir) == 0)
            return;
    char *d = strdup(dir);
    if (d)
        user_dirs[nuser_dirs++] = d;
}

/* The i-th search directory into buf; 0 when there is no i-th. */
static int search_dir(size_t i, char *buf, size_t len)
{
    if (i < nuser_dirs) {
        snprintf(buf, len, "%s", user_dirs[i]);
        return 1;
    }
    i -= nuser_dirs;
    if (i == 0) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        if (n <= 0) {
            buf[0] = '\0';
            return 1;
        }
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        if ((size_t)snprintf(buf, len, "%s/plugins", exe) >= len)
            buf[0] = '\0'; /* too long to be a directory we can use */
        return 1;
    }
    if (i == 1) {
        snprintf(buf, len, "%s", CRL_PLUGIN_DIR);
        return 1;
    }
    return 0;
}

/* Turn what a user may write after `plugins =` into Corral's plugin name:
 * strip a directory, "corral_" / "_plugin" / ".so", map python3x to python. */
static void normalize(const char *in, char *out, size_t len)
{
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    if (strncmp(base, "corral_", 7) == 0)
        base += 7;
    snprintf(out, len, "%s", base);
    size_t n = strlen(out);
    if (n > 3 && strcmp(out + n - 3, ".so") == 0)
        out[n -= 3] = '\0';
    if (n > 7 && strcmp(out + n - 7, "_plugin") == 0)
        out[n -= 7] = '\0';
    if (strncmp(out, "python", 6) == 0) {
        const char *p = out + 6;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p == '\0')
            snprintf(out, len, "python");
    }
}

static const crl_plugin_t *find_loaded(const char *name)
{
    for (size_t i = 0; i < nloaded; i++) {
        const crl_plugin_t *p = loaded[i];
        if (strcmp(p->name, name) == 0)
            return p;
        if (p->aliases) {
            const char *a = p->aliases;
            size_t n = strlen(name);
            while (*a) {
                while (*a == ' ')
                    a++;
                size_t l = strcspn(a, " ");
                if (l == n && strncmp(a, name, n) == 0)
                    return p;
                a += l;
            }
        }
    }
    return NULL;
}

static int load_file(const char *path);

/* Load corral_NAME.so from the first search directory that has it. */
static int load_file_by_name(const char *name)
{
    char dir[PATH_MAX], path[PATH_MAX + 300];
    for (size_t i = 0; search_dir(i, dir, sizeof(dir)); i++) {
        if (!dir[0])
            continue;
        snprintf(path, sizeof(path), "%s/corral_%s.so", dir, name);
        if (access(path, F_OK) == 0)
            return load_file(path);
    }
    return CRL_DECLINED;
}

/* dlopen one file and register it. CRL_OK, or CRL_ERROR (logged). */
static int load_file(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        crl_log(CRL_LOG_ERR, 0, "cannot load plugin %s: %s", path, dlerror());
        return CRL_ERROR;
    }
    const crl_plugin_t *p = dlsym(h, CRL_PLUGIN_SYMBOL);
    if (!p) {
        crl_log(CRL_LOG_ERR, 0, "%s is not a Corral plugin (no '%s' symbol)", path,
                CRL_PLUGIN_SYMBOL);
        goto fail;
    }
    if (p->abi != CRL_PLUGIN_ABI) {
        crl_log(CRL_LOG_ERR, 0,
                "plugin %s was built for plugin ABI %u but this corral needs ABI %u; rebuild it",
                path, p->abi, (unsigned)CRL_PLUGIN_ABI);
        goto fail;
    }
    if (find_loaded(p->name)) /* the same plugin from another directory */
        return CRL_OK;
    if (nloaded == MAX_PLUGINS) {
        crl_log(CRL_LOG_ERR, 0, "too many plugins; cannot load %s", path);
        goto fail;
    }
    if (p->noptions && crl_option_register(p->name, p->options, p->noptions, p->conf) != CRL_OK)
        goto fail;
    loaded[nloaded++] = p;
    crl_log(CRL_LOG_DEBUG, 0, "loaded plugin %s from %s", p->name, path);
    return CRL_OK;
fail:
    dlclose(h);
    return CRL_ERROR;
}

static int each_on_disk(int (*fn)(const char *name, void *arg), void *arg);

static int try_for_alias(const char *name, void *arg)
{
    if (!find_loaded(name))
        load_file_by_name(name);
    return find_loaded(arg) != NULL;
}

int crl_plugin_load(const char *name)
{
    char norm[256];

    const char *base = strrchr(name, '/');
    if (base && strncmp(base + 1, "corral_", 7) == 0 && access(name, F_OK) == 0)
        return load_file(name); /* an explicit path to a Corral plugin */

    normalize(name, norm, sizeof(norm));
    if (norm[0] == '\0' || find_loaded(norm))
        return CRL_OK;
    for (size_t i = 0; builtin[i]; i++)
        if (strcmp(norm, builtin[i]) == 0)
            return CRL_OK;
    int rc = load_file_by_name(norm);
    if (rc != CRL_DECLINED)
        return rc;
    /* Maybe an alias that only the plugin itself declares: load what is on
     * disk until one answers to the name. */
    each_on_disk(try_for_alias, norm);
    return find_loaded(norm) ? CRL_OK : CRL_DECLINED;
}

/* Call fn(name) for every corral_NAME.so on disk, in search order, until it
 * returns non-zero; returns that value or 0. */
static int each_on_disk(int (*fn)(const char *name, void *arg), void *arg)
{
    char dir[PATH_MAX];

    for (size_t i = 0; search_dir(i, dir, sizeof(dir)); i++) {
        DIR *d = dir[0] ? opendir(dir) : NULL;
        if (!d)
            continue;
        struct dirent *e;
        int rc = 0;
        while (!rc && (e = readdir(d))) {
            size_t n = strlen(e->d_name);
            if (n <= 10 || strncmp(e->d_name, "corral_", 7) != 0 ||
                strcmp(e->d_name + n - 3, ".so") != 0)
                continue;
            char name[256];
            snprintf(name, sizeof(name), "%.*s", (int)(n - 10), e->d_name + 7);
            rc = fn(name, arg);
        }
        closedir(d);
        if (rc)
            return rc;
    }
    return 0;
}

static int try_for_option(const char *name, void *arg)
{
    if (find_loaded(name))
        return 0;
    if (crl_plugin_load(name) != CRL_OK)
        return 0;
    return crl_option_find(arg, NULL) != NULL;
}

int crl_plugin_autoload_for_option(const char *name)
{
    if (crl_option_find(name, NULL))
        return CRL_OK;
    return each_on_disk(try_for_option, (void *)name) ? CRL_OK : CRL_DECLINED;
}

static const crl_plugin_t *loaded_loader_for_ext(const char *ext)
{
    for (size_t i = 0; i < nloaded; i++) {
        const crl_loader_ops_t *l = loaded[i]->loader;
        if (!l || !l->extensions)
            continue;
        for (const char *const *e = l->extensions; *e; e++)
            if (strcmp(*e, ext) == 0)
                return loaded[i];
    }
    return NULL;
}

static int try_for_ext(const char *name, void *arg)
{
    if (!find_loaded(name))
        crl_plugin_load(name);
    return loaded_loader_for_ext(arg) != NULL;
}

/* The loader for ".ini"-style extension ext, loading plugins as needed:
 * first the plugin named like the extension, then any on disk. */
static const crl_plugin_t *loader_for_ext(const char *ext)
{
    const crl_plugin_t *p = loaded_loader_for_ext(ext);
    if (p)
        return p;
    char name[64];
    snprintf(name, sizeof(name), "%s", strcmp(ext, ".yml") == 0 ? "yaml" : ext + 1);
    crl_plugin_load(name);
    if ((p = loaded_loader_for_ext(ext)))
        return p;
    each_on_disk(try_for_ext, (void *)ext);
    return loaded_loader_for_ext(ext);
}

const crl_plugin_t *crl_plugin_loader_for_path(const char *path)
{
    const char *base = strrchr(path, '/');
    const char *dot = strrchr(base ? base : path, '.');
    if (!dot || strlen(dot) > 16)
        return NULL;
    return loader_for_ext(dot);
}

const crl_plugin_t *crl_plugin_loader_for_option(const char *option)
{
    char ext[64];
    snprintf(ext, sizeof(ext), ".%s", option);
    return loader_for_ext(ext);
}

const crl_plugin_t *crl_plugin_app(void)
{
    for (size_t i = 0; i < nloaded; i++)
        if (loaded[i]->app)
            return loaded[i];
    return NULL;
}

size_t crl_plugin_count(void)
{
    return nloaded;
}

const crl_plugin_t *crl_plugin_at(size_t i)
{
    return i < nloaded ? loaded[i] : NULL;
}
