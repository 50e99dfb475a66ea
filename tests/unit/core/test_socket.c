/* Tests of uwsgi-allow-from in core/crl_socket.c: which peers a TCP uwsgi
 * socket serves (a table of rules, peer and verdict), that http and unix
 * sockets are never filtered, that bad entries stop the start naming the
 * file and line, and that refusals are logged at most once per interval.
 * Integration tests can only use loopback peers; the table covers the
 * rest (other networks, IPv6 prefixes, IPv4-mapped peers). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <corral/result.h>

#include "crl_option.h"
#include "crl_socket.h"
#include "helpers.h"

static void setup(void)
{
    capture_log();
    cr_assert_eq(crl_socket_options_register(), CRL_OK);
}

TestSuite(allow, .init = setup);

/* Add one uwsgi-allow-from record, as a config file line would. */
static int allow(const char *value)
{
    void *conf;
    const crl_option_t *opt = crl_option_find("uwsgi-allow-from", &conf);
    cr_assert_not_null(opt);
    return crl_option_set(opt, conf, value, "app.ini", 7);
}

/* A peer address from text ("10.0.0.5" or "fd00::1"). */
static struct sockaddr_storage peer(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(40000);
    } else {
        cr_assert_eq(inet_pton(AF_INET6, text, &in6->sin6_addr), 1, "bad test address %s", text);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(40000);
    }
    return ss;
}

static int allowed(crl_proto_t proto, const char *from)
{
    crl_listener_t l = { .fd = -1, .proto = proto, .family = AF_INET, .name = "0.0.0.0:3031" };
    struct sockaddr_storage ss = peer(from);
    return crl_socket_peer_allowed(&l, (struct sockaddr *)&ss);
}

/* Arrays, not pointers: Criterion may run each parameter in a fresh
 * process image, where pointers into this one mean nothing. */
typedef struct {
    char rules[48]; /* uwsgi-allow-from values separated by '|'; "": unset */
    char peer[32];
    int verdict;    /* 1 served, 0 refused */
} case_t;

static const case_t cases[] = {
    /* default: loopback only */
    { "", "127.0.0.1", 1 },
    { "", "127.255.3.4", 1 },
    { "", "::1", 1 },
    { "", "::ffff:127.0.0.1", 1 },   /* IPv4-mapped loopback */
    { "", "10.0.0.5", 0 },
    { "", "128.0.0.1", 0 },
    { "", "::2", 0 },
    { "", "fe80::1", 0 },
    /* a single host: loopback is no longer implied */
    { "10.0.0.5", "10.0.0.5", 1 },
    { "10.0.0.5", "10.0.0.6", 0 },
    { "10.0.0.5", "127.0.0.1", 0 },
    { "10.0.0.5", "::ffff:10.0.0.5", 1 },
    /* CIDRs at their edges */
    { "10.0.0.0/24", "10.0.0.255", 1 },
    { "10.0.0.0/24", "10.0.1.0", 0 },
    { "10.0.0.7/24", "10.0.0.200", 1 },   /* host bits in the rule are ignored */
    { "192.168.0.0/17", "192.168.127.255", 1 },
    { "192.168.0.0/17", "192.168.128.0", 0 },
    { "0.0.0.0/0", "203.0.113.9", 1 },
    { "0.0.0.0/0", "2001:db8::1", 0 },     /* an IPv4 rule never matches IPv6 */
    { "fd00::/8", "fdff:1::2", 1 },
    { "fd00::/8", "fe00::1", 0 },
    { "2001:db8::/33", "2001:db8:7fff::1", 1 },
    { "2001:db8::/33", "2001:db8:8000::1", 0 },
    { "[2001:db8::1]", "2001:db8::1", 1 },
    { "::/0", "10.0.0.1", 0 },
    /* lists: blanks, commas, repeated records */
    { "10.0.0.5, 10.0.0.6", "10.0.0.6", 1 },
    { "10.0.0.5 10.0.0.6,10.0.0.7", "10.0.0.7", 1 },
    { "10.0.0.5|127.0.0.1", "127.0.0.1", 1 },
    { "10.0.0.5|127.0.0.1", "10.0.0.9", 0 },
    /* everyone */
    { "*", "198.51.100.1", 1 },
    { "10.0.0.5|*", "2001:db8::1", 1 },
};

ParameterizedTestParameters(allow, table)
{
    return cr_make_param_array(case_t, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(const case_t *c, allow, table)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", c->rules);
    for (char *save = NULL, *r = strtok_r(buf, "|", &save); r; r = strtok_r(NULL, "|", &save))
        cr_assert_eq(allow(r), CRL_OK);
    cr_assert_eq(crl_socket_allow_load(), CRL_OK, "rules '%s': %s", c->rules, logged());
    cr_assert_eq(allowed(CRL_PROTO_UWSGI, c->peer), c->verdict, "rules '%s', peer %s",
                 c->rules[0] ? c->rules : "(default)", c->peer);
}

Test(allow, http_sockets_are_never_filtered)
{
    cr_assert_eq(allow("10.0.0.5"), CRL_OK);
    cr_assert_eq(crl_socket_allow_load(), CRL_OK);
    cr_assert_eq(allowed(CRL_PROTO_HTTP, "203.0.113.9"), 1);
    cr_assert_eq(allowed(CRL_PROTO_UWSGI, "203.0.113.9"), 0);
}

Test(allow, unix_peers_are_always_served)
{
    cr_assert_eq(allow("10.0.0.5"), CRL_OK);
    cr_assert_eq(crl_socket_allow_load(), CRL_OK);
    crl_listener_t l = { .fd = -1, .proto = CRL_PROTO_UWSGI, .family = AF_UNIX, .name = "/s" };
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    cr_assert_eq(crl_socket_peer_allowed(&l, (struct sockaddr *)&sun), 1);
}

typedef struct {
    char text[24];
} entry_t;

static const entry_t bad_entries[] = {
    { "example.com" }, { "10.0.0.0/33" }, { "::1/129" }, { "10.0.0.1/" }, { "10.0.0.1/-1" },
    { "10.0.0" }, { "10.0.0.1/8x" }, { "[10.0.0.1" }, { "" }, { " , " },
};

ParameterizedTestParameters(allow, bad_entry)
{
    return cr_make_param_array(entry_t, bad_entries, sizeof(bad_entries) / sizeof(bad_entries[0]));
}

ParameterizedTest(const entry_t *entry, allow, bad_entry)
{
    cr_assert_eq(allow(entry->text), CRL_OK); /* a list item: checked when loaded */
    cr_assert_eq(crl_socket_allow_load(), CRL_ERROR, "'%s' was accepted", entry->text);
    cr_assert(strstr(logged(), "uwsgi-allow-from at app.ini:7") != NULL, "%s", logged());
}

Test(allow, overlong_value_is_refused_not_cut)
{
    /* 200 addresses of 10.0.0.NN: over 1023 bytes; cut, the last could
     * turn into another address */
    char value[2048] = "";
    for (int i = 0; i < 200; i++)
        strcat(value, i ? " 10.0.0.12" : "10.0.0.12");
    cr_assert_eq(allow(value), CRL_OK);
    cr_assert_eq(crl_socket_allow_load(), CRL_ERROR);
    cr_assert(strstr(logged(), "split it over several lines") != NULL, "%s", logged());
}

Test(allow, refusals_are_logged_once_per_interval)
{
    cr_assert_eq(crl_socket_allow_load(), CRL_OK);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(allowed(CRL_PROTO_UWSGI, "203.0.113.9"), 0);
    const char *log = logged();
    const char *first = strstr(log, "refused a uwsgi connection from 203.0.113.9 on 0.0.0.0:3031");
    cr_assert_not_null(first, "%s", log);
    cr_assert_null(strstr(first + 1, "refused"), "more than one line: %s", log);
    cr_assert_not_null(strstr(log, "default: loopback only"), "%s", log);
}
