/*
 * core/crl_static.c: what a client gets for static requests. Each test
 * builds a small tree in a fresh temporary directory (the working
 * directory, as after `chdir`), configures the module through its option
 * rows, and checks the recorded status, headers and body bytes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <corral/option.h>
#include <corral/result.h>

#include "crl_static.h"
#include "fake_core.h"

static char tmpdir[] = "/tmp/crl-static-XXXXXX";

static void put(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(content, f);
    fclose(f);
}

static void build_tree(void)
{
    cr_assert_not_null(mkdtemp(tmpdir));
    cr_assert_eq(chmod(tmpdir, 0755), 0);
    cr_assert_eq(chdir(tmpdir), 0);
    const char *dirs[] = { "static", "static/sub", "static/noindex", "static/locked", "outside",
                           "keep", "keep/m2", "public", "safe", "front" };
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        cr_assert_eq(mkdir(dirs[i], 0755), 0);
    put("static/hello.txt", "hello world\n");
    put("static/style.css", "body { color: red }\n");
    put("static/style.css.gz", "GZDATA");
    put("static/app.js", "console.log(1);\n");
    put("static/range.txt", "0123456789");
    put("static/empty.txt", "");
    put("static/data.zzqx", "opaque");
    put("static/UPPER.CSS", "p{}");
    put("static/skip.php", "<?php");
    put("static/sub/index.html", "<h1>sub</h1>");
    put("static/noindex/other.txt", "other");
    put("static/private.txt", "private");
    put("static/locked/inner.txt", "inner");
    put("outside/secret.txt", "secret");
    put("outside/evil.gz", "EVIL");
    put("robots.txt", "User-agent: *\n");
    put("keep/m2/file.txt", "kept");
    put("public/check.txt", "checked");
    put("safe/shared.txt", "shared");
    put("front/index.html", "<html>front</html>");
    cr_assert_eq(chmod("static/private.txt", 0), 0);
    cr_assert_eq(chmod("static/locked", 0), 0);
    cr_assert_eq(symlink("../outside/secret.txt", "static/link-out"), 0);
    cr_assert_eq(symlink("/etc/passwd", "static/abs-out"), 0);
    cr_assert_eq(symlink("../outside", "static/dirlink-out"), 0);
    cr_assert_eq(symlink("hello.txt", "static/link-in"), 0);
    cr_assert_eq(symlink("../safe/shared.txt", "static/link-safe"), 0);
    cr_assert_eq(symlink("../outside/evil.gz", "static/app.js.gz"), 0);
    cr_assert_eq(mkfifo("static/fifo", 0644), 0);
}

static void configure(const char *const *opts)
{
    cr_assert_eq(crl_static_options_register(), CRL_OK);
    for (size_t i = 0; opts[i]; i += 2)
        cr_assert_eq(fake_option_set(opts[i], opts[i + 1]), CRL_OK, "option %s = %s", opts[i],
                     opts[i + 1]);
    cr_assert_eq(crl_static_init(), CRL_OK);
}

static const char *const base_opts[] = {
    "static-map", "/static=static",
    "static-map", "/robots.txt=robots.txt",
    "static-map2", "/m2=keep",
    "check-static", "public",
    "static-index", "index.html",
    "static-skip-ext", ".php",
    "static-safe", "safe",
    "static-gzip-ext", ".css",
    "static-expires-type", "text/css=3600",
    "static-expires-uri", "^/static/hello 60",
    NULL,
};

static void setup(void)
{
    build_tree();
    configure(base_opts);
}

static void teardown(void)
{
    char cmd[256];
    if (chmod("static/locked", 0755) == 0 && chdir("/") == 0) {
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "cannot remove %s\n", tmpdir);
    }
}

/* GET (or another method) of path with extra header pairs. */
#define REQ(method, path, ...) \
    crl_static_serve(fake_request("REQUEST_METHOD", method, "PATH_INFO", path, \
                                  "REQUEST_URI", path, ##__VA_ARGS__, NULL))

static void assert_body(const char *expected)
{
    size_t n = strlen(expected);
    cr_assert_eq(fake_resp.body_len, n, "body of %zu bytes, expected %zu", fake_resp.body_len, n);
    cr_assert_eq(memcmp(fake_resp.body, expected, n), 0, "body '%.*s'", (int)fake_resp.body_len,
                 fake_resp.body);
}

static void assert_header(const char *name, const char *value)
{
    const char *v = fake_header(name);
    cr_assert_not_null(v, "no %s header", name);
    cr_assert_str_eq(v, value, "%s: '%s', expected '%s'", name, v, value);
}

static void assert_served(int status, const char *body)
{
    cr_assert_eq(fake_resp.status, status, "status %d, expected %d", fake_resp.status, status);
    cr_assert(fake_resp.started && fake_resp.finished);
    assert_body(body);
}

static void assert_refused(int rc, int status)
{
    cr_assert_eq(rc, CRL_OK);
    cr_assert(fake_resp.error_called, "expected an error response");
    cr_assert_eq(fake_resp.status, status, "status %d, expected %d", fake_resp.status, status);
    cr_assert_eq(fake_resp.body_len, 0, "file bytes leaked: '%.*s'", (int)fake_resp.body_len,
                 fake_resp.body);
}

static void assert_declined(int rc)
{
    cr_assert_eq(rc, CRL_DECLINED, "rc %d, status %d", rc, fake_resp.status);
    cr_assert(!fake_resp.started && !fake_resp.error_called, "a response was sent");
}

static void expected_etag(const char *path, char *buf, size_t cap)
{
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0);
    snprintf(buf, cap, "\"%llx-%llx\"", (unsigned long long)sb.st_mtime,
             (unsigned long long)sb.st_size);
}

static void http_date(time_t t, char *buf, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

TestSuite(static_files, .init = setup, .fini = teardown);

/* ---- plain serving -------------------------------------------------------- */

Test(static_files, get_sends_file_with_metadata)
{
    char etag[64], lm[64];
    struct stat sb;

    cr_assert_eq(REQ("GET", "/static/hello.txt"), CRL_OK);
    assert_served(200, "hello world\n");
    assert_header("Content-Type", "text/plain; charset=utf-8");
    assert_header("Content-Length", "12");
    assert_header("Accept-Ranges", "bytes");
    expected_etag("static/hello.txt", etag, sizeof(etag));
    assert_header("ETag", etag);
    stat("static/hello.txt", &sb);
    http_date(sb.st_mtime, lm, sizeof(lm));
    assert_header("Last-Modified", lm);
    cr_assert_null(fake_header("Content-Encoding"));
    cr_assert_null(fake_header("Vary"), "no gzip rule covers hello.txt");
}

Test(static_files, head_sends_headers_without_body)
{
    cr_assert_eq(REQ("HEAD", "/static/hello.txt"), CRL_OK);
    assert_served(200, "");
    assert_header("Content-Length", "12");
    assert_header("Content-Type", "text/plain; charset=utf-8");
    cr_assert_eq(fake_resp.sendfile_calls, 0);
}

Test(static_files, other_methods_go_to_the_app)
{
    assert_declined(REQ("POST", "/static/hello.txt"));
    assert_declined(REQ("PUT", "/static/hello.txt"));
    assert_declined(REQ("OPTIONS", "/static/hello.txt"));
    assert_declined(REQ("get", "/static/hello.txt"));
}

Test(static_files, unmapped_and_missing_paths_go_to_the_app)
{
    assert_declined(REQ("GET", "/"));
    assert_declined(REQ("GET", "/app/view"));
    assert_declined(REQ("GET", "/static/missing.txt"));
    assert_declined(REQ("GET", "/static/hello.txt/more"));
    assert_declined(REQ("GET", "/staticfoo/hello.txt"));
    assert_declined(REQ("GET", "/statichello.txt"));
    assert_declined(REQ("GET", "/static/..hidden"));
}

Test(static_files, empty_file)
{
    cr_assert_eq(REQ("GET", "/static/empty.txt"), CRL_OK);
    assert_served(200, "");
    assert_header("Content-Length", "0");
}

Test(static_files, symlink_inside_root_is_served)
{
    cr_assert_eq(REQ("GET", "/static/link-in"), CRL_OK);
    assert_served(200, "hello world\n");
}

Test(static_files, single_file_map_matches_exactly)
{
    cr_assert_eq(REQ("GET", "/robots.txt"), CRL_OK);
    assert_served(200, "User-agent: *\n");
    assert_declined(REQ("GET", "/robots.txt/x"));
    assert_declined(REQ("GET", "/robots.txtx"));
}

Test(static_files, static_map2_keeps_the_mount_in_the_path)
{
    cr_assert_eq(REQ("GET", "/m2/file.txt"), CRL_OK);
    assert_served(200, "kept");
}

Test(static_files, check_static_serves_full_path_info)
{
    cr_assert_eq(REQ("GET", "/check.txt"), CRL_OK);
    assert_served(200, "checked");
    assert_declined(REQ("GET", "/nothing-here.txt"));
}

Test(static_files, skip_ext_goes_to_the_app)
{
    assert_declined(REQ("GET", "/static/skip.php"));
}

/* ---- security ------------------------------------------------------------- */

Test(static_files, dotdot_segments_are_refused)
{
    assert_refused(REQ("GET", "/static/../outside/secret.txt"), 403);
    assert_refused(REQ("GET", "/static/sub/../../outside/secret.txt"), 403);
    assert_refused(REQ("GET", "/static/.."), 403);
    assert_refused(REQ("GET", "/static/../static/hello.txt"), 403);
    /* "/static/%2e%2e%2f%2e%2e%2foutside/secret.txt" once the core has
     * percent-decoded PATH_INFO */
    assert_refused(REQ("GET", "/static/../../outside/secret.txt"), 403);
    assert_refused(REQ("GET", "/static//..//outside/secret.txt"), 403);
    cr_assert_gt(fake_warnings, 0, "a refused traversal is logged");
    /* check-static covers every path */
    assert_refused(REQ("GET", "/../tmp/x"), 403);
    assert_refused(REQ("HEAD", "/static/../outside/secret.txt"), 403);
}

Test(static_files, nul_byte_is_refused)
{
    const char p[] = "/static/hello.txt\0.png";
    assert_refused(crl_static_serve(fake_request_path("GET", p, sizeof(p) - 1)), 403);
}

Test(static_files, symlinks_leaving_the_root_are_refused)
{
    assert_refused(REQ("GET", "/static/link-out"), 403);
    assert_refused(REQ("GET", "/static/abs-out"), 403);
    assert_refused(REQ("GET", "/static/dirlink-out/secret.txt"), 403);
    cr_assert(strstr(fake_last_log, "outside") != NULL, "log: %s", fake_last_log);
}

Test(static_files, static_safe_allows_symlink_targets)
{
    cr_assert_eq(REQ("GET", "/static/link-safe"), CRL_OK);
    assert_served(200, "shared");
}

Test(static_files, fifo_is_refused_without_blocking)
{
    assert_refused(REQ("GET", "/static/fifo"), 403);
}

Test(static_files, unreadable_file_is_refused)
{
    /* root reads anything: drop to nobody, who neither owns nor may read */
    int was_root = geteuid() == 0;
    if (was_root)
        cr_assert_eq(seteuid(65534), 0, "run as nobody: %s", strerror(errno));
    int rc = REQ("GET", "/static/private.txt");
    int rc2_status;
    assert_refused(rc, 403);
    rc = REQ("GET", "/static/locked/inner.txt");
    rc2_status = fake_resp.status;
    if (was_root)
        cr_assert_eq(seteuid(0), 0);
    cr_assert_eq(rc, CRL_OK);
    cr_assert_eq(rc2_status, 403, "unsearchable directory: %d", rc2_status);
}

/* ---- directories and index files ------------------------------------------ */

Test(static_files, directory_with_index)
{
    cr_assert_eq(REQ("GET", "/static/sub/"), CRL_OK);
    assert_served(200, "<h1>sub</h1>");
    assert_header("Content-Type", "text/html; charset=utf-8");
}

Test(static_files, directory_without_slash_redirects)
{
    int rc = crl_static_serve(fake_request("REQUEST_METHOD", "GET", "PATH_INFO", "/static/sub",
                                           "REQUEST_URI", "/static/sub?x=1", NULL));
    cr_assert_eq(rc, CRL_OK);
    assert_served(301, "");
    assert_header("Location", "/static/sub/?x=1");
}

Test(static_files, directory_without_index_goes_to_the_app)
{
    assert_declined(REQ("GET", "/static/noindex/"));
    assert_declined(REQ("GET", "/static/noindex"));
    assert_declined(REQ("GET", "/static/"));
}

Test(static_files, root_mount_serves_index_and_leaves_the_rest_to_the_app)
{
    const char *const opts[] = { "static-map", "/=front", "static-index", "index.html", NULL };
    configure(opts);
    cr_assert_eq(REQ("GET", "/"), CRL_OK);
    assert_served(200, "<html>front</html>");
    assert_declined(REQ("GET", "/api/users"));
    assert_declined(REQ("POST", "/"));
}

/* ---- MIME types -------------------------------------------------------------- */

Test(static_files, mime_types)
{
    cr_assert_eq(REQ("GET", "/static/data.zzqx"), CRL_OK);
    assert_header("Content-Type", "application/octet-stream");
    cr_assert_eq(REQ("GET", "/static/UPPER.CSS"), CRL_OK);
    assert_header("Content-Type", "text/css; charset=utf-8");
    cr_assert_eq(REQ("GET", "/static/app.js"), CRL_OK);
    assert_header("Content-Type", "text/javascript; charset=utf-8");
}

Test(static_files, mimefile_option_and_builtin_fallback)
{
    put("my.types", "# comment\napplication/x-zzqx\tzzqx zzqy\n\ntext/x-weird weird\n");
    const char *const opts[] = { "static-map", "/static=static", "mimefile", "my.types",
                                 "mime-file", "/nonexistent/mime.types", NULL };
    configure(opts);
    cr_assert_eq(REQ("GET", "/static/data.zzqx"), CRL_OK);
    assert_header("Content-Type", "application/x-zzqx");
    /* css is not in my.types: the built-in table answers */
    cr_assert_eq(REQ("GET", "/static/style.css"), CRL_OK);
    assert_header("Content-Type", "text/css; charset=utf-8");
}

/* ---- conditional requests ------------------------------------------------------ */

Test(static_files, if_none_match)
{
    char etag[64], list[160], weak[80];
    expected_etag("static/hello.txt", etag, sizeof(etag));

    cr_assert_eq(REQ("GET", "/static/hello.txt", "HTTP_IF_NONE_MATCH", etag), CRL_OK);
    assert_served(304, "");
    cr_assert_null(fake_header("Content-Length"));
    assert_header("ETag", etag);
    snprintf(list, sizeof(list), "\"nope\", %s", etag);
    cr_assert_eq(REQ("GET", "/static/hello.txt", "HTTP_IF_NONE_MATCH", list), CRL_OK);
    assert_served(304, "");
    snprintf(weak, sizeof(weak), "W/%s", etag);
    cr_assert_eq(REQ("HEAD", "/static/hello.txt", "HTTP_IF_NONE_MATCH", weak), CRL_OK);
    assert_served(304, "");
    cr_assert_eq(REQ("GET", "/static/hello.txt", "HTTP_IF_NONE_MATCH", "*"), CRL_OK);
    assert_served(304, "");
    cr_assert_eq(REQ("GET", "/static/hello.txt", "HTTP_IF_NONE_MATCH", "\"other\""), CRL_OK);
    assert_served(200, "hello world\n");
}

Test(static_files, if_modified_since)
{
    struct stat sb;
    char same[64], before[64], after[64];
    stat("static/hello.txt", &sb);
    http_date(sb.st_mtime, same, sizeof(same));
    http_date(sb.st_mtime - 10, before, sizeof(before));
    http_date(sb.st_mtime + 10, after, sizeof(after));

    cr_assert_eq(REQ("GET", "/static/hello.txt", "HTTP_IF_MODIFIED_SINCE", same), CRL_OK);
    assert_served(304, "");
    cr_assert_eq(REQ("GET", "/static/hello.txt", "HTTP_IF_MODIFIED_SINCE", after), CRL_OK);
    assert_served(304, "");
    cr_assert_eq(REQ("GET", "/static/hello.txt", "HTTP_IF_MODIFIED_SINCE", before), CRL_OK);
    assert_served(200, "hello world\n");
    cr_assert_eq(REQ("GET", "/static/hello.txt", "HTTP_IF_MODIFIED_SINCE", "yesterday"), CRL_OK);
    assert_served(200, "hello world\n");
    /* If-None-Match wins over If-Modified-Since */
    cr_assert_eq(REQ("GET", "/static/hello.txt", "HTTP_IF_MODIFIED_SINCE", same,
                     "HTTP_IF_NONE_MATCH", "\"other\""), CRL_OK);
    assert_served(200, "hello world\n");
}

/* ---- ranges -------------------------------------------------------------------- */

typedef struct {
    const char *range;
    int status;
    const char *body;
    const char *content_range; /* NULL: none */
} range_case_t;

static const range_case_t range_cases[] = {
    { "bytes=2-5", 206, "2345", "bytes 2-5/10" },
    { "bytes=0-0", 206, "0", "bytes 0-0/10" },
    { "bytes=7-", 206, "789", "bytes 7-9/10" },
    { "bytes=-3", 206, "789", "bytes 7-9/10" },
    { "bytes=-10", 206, "0123456789", "bytes 0-9/10" },
    { "bytes=-20", 206, "0123456789", "bytes 0-9/10" },
    { "bytes=5-100", 206, "56789", "bytes 5-9/10" },
    { "bytes=9-9", 206, "9", "bytes 9-9/10" },
    { "BYTES=1-2", 206, "12", "bytes 1-2/10" },
    { " bytes=3-4 ", 206, "34", "bytes 3-4/10" },
    { "bytes=0-99999999999999999999999", 206, "0123456789", "bytes 0-9/10" },
    { "bytes=10-", 416, "", "bytes */10" },
    { "bytes=10-20", 416, "", "bytes */10" },
    { "bytes=-0", 416, "", "bytes */10" },
    { "bytes=99999999999999999999999-", 416, "", "bytes */10" },
    { "bytes=0-1,4-5", 200, "0123456789", NULL },
    { "bytes=5-2", 200, "0123456789", NULL },
    { "bytes=abc", 200, "0123456789", NULL },
    { "bytes=-", 200, "0123456789", NULL },
    { "bytes=1-x", 200, "0123456789", NULL },
    { "items=0-1", 200, "0123456789", NULL },
    { "bytes 0-1", 200, "0123456789", NULL },
    { "", 200, "0123456789", NULL },
};

Test(static_files, range_table)
{
    for (size_t i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
        const range_case_t *c = &range_cases[i];
        char len[24];
        cr_assert_eq(REQ("GET", "/static/range.txt", "HTTP_RANGE", c->range), CRL_OK);
        cr_assert_eq(fake_resp.status, c->status, "Range '%s': %d, expected %d", c->range,
                     fake_resp.status, c->status);
        cr_assert_eq(fake_resp.body_len, strlen(c->body), "Range '%s': %zu bytes", c->range,
                     fake_resp.body_len);
        assert_body(c->body);
        snprintf(len, sizeof(len), "%zu", strlen(c->body));
        assert_header("Content-Length", len);
        if (c->content_range)
            assert_header("Content-Range", c->content_range);
        else
            cr_assert_null(fake_header("Content-Range"), "Range '%s'", c->range);
    }
}

Test(static_files, range_on_empty_file_is_unsatisfiable)
{
    cr_assert_eq(REQ("GET", "/static/empty.txt", "HTTP_RANGE", "bytes=0-"), CRL_OK);
    assert_served(416, "");
    assert_header("Content-Range", "bytes */0");
    cr_assert_eq(REQ("GET", "/static/empty.txt", "HTTP_RANGE", "bytes=-5"), CRL_OK);
    assert_served(416, "");
}

Test(static_files, range_is_ignored_on_head)
{
    cr_assert_eq(REQ("HEAD", "/static/range.txt", "HTTP_RANGE", "bytes=2-5"), CRL_OK);
    assert_served(200, "");
    assert_header("Content-Length", "10");
}

Test(static_files, if_range)
{
    char etag[64], lm[64];
    struct stat sb;
    expected_etag("static/range.txt", etag, sizeof(etag));
    stat("static/range.txt", &sb);
    http_date(sb.st_mtime, lm, sizeof(lm));

    cr_assert_eq(REQ("GET", "/static/range.txt", "HTTP_RANGE", "bytes=2-3", "HTTP_IF_RANGE",
                     etag), CRL_OK);
    assert_served(206, "23");
    cr_assert_eq(REQ("GET", "/static/range.txt", "HTTP_RANGE", "bytes=2-3", "HTTP_IF_RANGE",
                     lm), CRL_OK);
    assert_served(206, "23");
    cr_assert_eq(REQ("GET", "/static/range.txt", "HTTP_RANGE", "bytes=2-3", "HTTP_IF_RANGE",
                     "\"stale\""), CRL_OK);
    assert_served(200, "0123456789");
    cr_assert_eq(REQ("GET", "/static/range.txt", "HTTP_RANGE", "bytes=20-", "HTTP_IF_RANGE",
                     "\"stale\""), CRL_OK);
    assert_served(200, "0123456789");
}

/* ---- gzip ---------------------------------------------------------------------- */

Test(static_files, gzip_sibling_when_accepted)
{
    cr_assert_eq(REQ("GET", "/static/style.css", "HTTP_ACCEPT_ENCODING", "gzip, deflate, br"),
                 CRL_OK);
    assert_served(200, "GZDATA");
    assert_header("Content-Encoding", "gzip");
    assert_header("Vary", "Accept-Encoding");
    assert_header("Content-Type", "text/css; charset=utf-8");
    assert_header("Content-Length", "6");
    char etag_gz[64];
    expected_etag("static/style.css.gz", etag_gz, sizeof(etag_gz));
    assert_header("ETag", etag_gz);
}

Test(static_files, gzip_accept_encoding_table)
{
    static const struct {
        const char *ae;
        int gzip;
    } cases[] = {
        { "gzip", 1 }, { "GZIP", 1 }, { "deflate, gzip;q=0.5", 1 }, { "x-gzip", 1 },
        { "*", 1 }, { "gzip ; q=1.0", 1 }, { "deflate", 0 }, { "gzip;q=0", 0 },
        { "gzip;q=0.000", 0 }, { "*, gzip;q=0", 0 }, { "*;q=0", 0 }, { "", 0 },
        { "gzipx", 0 }, { "identity", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(REQ("GET", "/static/style.css", "HTTP_ACCEPT_ENCODING", cases[i].ae),
                     CRL_OK);
        assert_header("Vary", "Accept-Encoding");
        if (cases[i].gzip) {
            assert_body("GZDATA");
            assert_header("Content-Encoding", "gzip");
        } else {
            assert_body("body { color: red }\n");
            cr_assert_null(fake_header("Content-Encoding"), "Accept-Encoding '%s'", cases[i].ae);
        }
    }
    cr_assert_eq(REQ("GET", "/static/style.css"), CRL_OK);
    assert_body("body { color: red }\n");
}

Test(static_files, gzip_only_for_selected_files)
{
    /* no rule selects .js in the base configuration */
    cr_assert_eq(REQ("GET", "/static/app.js", "HTTP_ACCEPT_ENCODING", "gzip"), CRL_OK);
    assert_served(200, "console.log(1);\n");
    cr_assert_null(fake_header("Vary"));
}

Test(static_files, gzip_sibling_symlinked_out_is_not_served)
{
    const char *const opts[] = { "static-map", "/static=static", "static-gzip-all", "true", NULL };
    configure(opts);
    cr_assert_eq(REQ("GET", "/static/app.js", "HTTP_ACCEPT_ENCODING", "gzip"), CRL_OK);
    assert_served(200, "console.log(1);\n");
    cr_assert_null(fake_header("Content-Encoding"));
}

Test(static_files, gzip_dir_and_regexp_rules)
{
    const char *const opts[] = { "static-map", "/static=static", "static-gzip-dir", "static/sub",
                                 "static-gzip", "style\\.css$", NULL };
    put("static/sub/index.html.gz", "GZINDEX");
    configure(opts);
    cr_assert_eq(REQ("GET", "/static/sub/index.html", "HTTP_ACCEPT_ENCODING", "gzip"), CRL_OK);
    assert_served(200, "GZINDEX");
    cr_assert_eq(REQ("GET", "/static/style.css", "HTTP_ACCEPT_ENCODING", "gzip"), CRL_OK);
    assert_served(200, "GZDATA");
}

/* ---- expires ------------------------------------------------------------------- */

static time_t parse_date(const char *s)
{
    struct tm tm = { 0 };
    cr_assert_not_null(strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm), "date '%s'", s);
    return timegm(&tm);
}

Test(static_files, expires_by_type)
{
    time_t now = time(NULL);
    cr_assert_eq(REQ("GET", "/static/style.css"), CRL_OK);
    assert_header("Cache-Control", "max-age=3600");
    time_t exp = parse_date(fake_header("Expires"));
    cr_assert(exp >= now + 3600 && exp <= now + 3602, "Expires %s", fake_header("Expires"));
}

Test(static_files, expires_by_uri)
{
    cr_assert_eq(REQ("GET", "/static/hello.txt"), CRL_OK);
    assert_header("Cache-Control", "max-age=60");
    cr_assert_eq(REQ("GET", "/static/range.txt"), CRL_OK);
    cr_assert_null(fake_header("Expires"));
    cr_assert_null(fake_header("Cache-Control"));
}

Test(static_files, expires_from_mtime)
{
    const char *const opts[] = { "static-map", "/static=static", "static-expires-mtime",
                                 "range\\.txt$ 1000", NULL };
    struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = time(NULL) - 100 } };
    char want[64];
    cr_assert_eq(utimensat(AT_FDCWD, "static/range.txt", ts, 0), 0);
    configure(opts);
    cr_assert_eq(REQ("GET", "/static/range.txt"), CRL_OK);
    http_date(ts[1].tv_sec + 1000, want, sizeof(want));
    assert_header("Expires", want);
    long age = strtol(fake_header("Cache-Control") + strlen("max-age="), NULL, 10);
    cr_assert(age >= 898 && age <= 900, "max-age %ld", age);
}

/* ---- configuration -------------------------------------------------------------- */

Test(static_config, bad_values_fail_init, .init = build_tree, .fini = teardown)
{
    static const char *const bad[][2] = {
        { "static-map", "/static" },
        { "static-map", "/static=" },
        { "static-expires-uri", "^/x" },
        { "static-expires-uri", "^/x soon" },
        { "static-expires", "([ 10" },
        { "static-expires-type", "text/css=-5" },
        { "static-gzip", "([" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(crl_static_options_register(), CRL_OK);
        cr_assert_eq(fake_option_set("static-map", "/ok=static"), CRL_OK);
        cr_assert_eq(fake_option_set(bad[i][0], bad[i][1]), CRL_OK);
        cr_assert_eq(crl_static_init(), CRL_ERROR, "%s = %s accepted", bad[i][0], bad[i][1]);
        cr_assert_eq(crl_static_enabled(), 0);
    }
}

Test(static_config, enabled_only_with_a_map, .init = build_tree, .fini = teardown)
{
    const char *const none[] = { "static-index", "index.html", "offload-threads", "4", NULL };
    configure(none);
    cr_assert_eq(crl_static_enabled(), 0);
    assert_declined(REQ("GET", "/static/hello.txt"));
    const char *const one[] = { "check-static", "public", NULL };
    configure(one);
    cr_assert_eq(crl_static_enabled(), 1);
}

Test(static_config, root_created_after_start, .init = build_tree, .fini = teardown)
{
    const char *const opts[] = { "static-map", "/late=late", NULL };
    configure(opts);
    cr_assert_gt(fake_warnings, 0, "a missing root is reported");
    assert_declined(REQ("GET", "/late/a.txt"));
    cr_assert_eq(mkdir("late", 0755), 0);
    put("late/a.txt", "late");
    cr_assert_eq(REQ("GET", "/late/a.txt"), CRL_OK);
    assert_served(200, "late");
}

Test(static_config, uwsgi_names_and_aliases_are_unique, .init = build_tree, .fini = teardown)
{
    size_t n;
    cr_assert_eq(crl_static_options_register(), CRL_OK);
    const crl_option_t *rows = fake_option_rows(&n);
    static const char *const set[][2] = {
        { "static-map", "/s=static" }, { "static-map2", "/s=static" },
        { "check-static", "public" }, { "static-check", "public" },
        { "static-index", "index.html" }, { "static-skip-ext", ".php" },
        { "static-safe", "safe" }, { "static-expires", "x 1" },
        { "static-expires-mtime", "x 1" }, { "static-expires-uri", "x 1" },
        { "static-expires-uri-mtime", "x 1" }, { "static-expires-path-info", "x 1" },
        { "static-expires-path-info-mtime", "x 1" }, { "static-expires-type", "text/css=1" },
        { "static-expires-type-mtime", "text/css 1" }, { "static-gzip", "x" },
        { "static-gzip-all", "true" }, { "static-gzip-dir", "static" },
        { "static-gzip-prefix", "static" }, { "static-gzip-ext", ".css" },
        { "static-gzip-suffix", ".js" }, { "mimefile", "/etc/mime.types" },
        { "mime-file", "/etc/mime.types" }, { "offload-threads", "4" },
        { "offload-thread", "2" }, { "static-cache-paths", "30" },
        { "static-cache-paths-name", "paths" },
    };
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
        cr_assert_eq(fake_option_set(set[i][0], set[i][1]), CRL_OK, "option %s", set[i][0]);
    cr_assert_eq(crl_static_init(), CRL_OK, "every uWSGI spelling above is valid together");
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            cr_assert_str_neq(rows[i].name, rows[j].name);
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].name, "offload-threads") == 0)
            cr_assert(rows[i].flags & CRL_OPTF_NOOP);
}
