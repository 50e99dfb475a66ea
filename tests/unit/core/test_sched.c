/* Tests of core/crl_sched.c: the rule that chooses SCHED_BATCH from the
 * requests per wake-up and the listen-queue probes, and the calling
 * thread's real policy as the state machine switches it (OTHER <-> BATCH
 * needs no privilege). */
#include <sched.h>

#include <criterion/criterion.h>

#include "crl_sched.h"

/* Each case runs in its own process (Criterion forks), so a policy left
 * behind does not leak into the next. */

static int want(int batch, unsigned requests, unsigned wakeups, unsigned probes, unsigned found)
{
    crl_sched_t s = { .mode = CRL_SCHED_AUTO, .batch = batch, .requests = requests,
                      .wakeups = wakeups, .probes = probes, .found = found };
    return crl_sched_want_batch(&s);
}

Test(sched_rule, one_request_per_wakeup_and_an_empty_queue_is_not_batch)
{
    cr_expect_not(want(0, 128, 128, 16, 0));
    cr_expect_not(want(1, 128, 128, 16, 0));
    cr_expect_not(want(0, 128, 100, 16, 0)); /* 1.28 per wake-up */
}

Test(sched_rule, several_requests_per_wakeup_turn_it_on_at_one_and_a_half)
{
    cr_expect(want(0, 150, 100, 0, 0));
    cr_expect_not(want(0, 149, 100, 0, 0));
    cr_expect(want(0, 1600, 100, 0, 0));
}

Test(sched_rule, several_per_wakeup_keep_it_on_down_to_one_and_a_quarter)
{
    cr_expect(want(1, 149, 100, 0, 0));
    cr_expect(want(1, 125, 100, 0, 0));
    cr_expect_not(want(1, 124, 100, 0, 0));
}

Test(sched_rule, a_queue_found_by_half_the_probes_turns_it_on)
{
    cr_expect(want(0, 128, 128, 16, 8));
    cr_expect_not(want(0, 128, 128, 17, 8));
    cr_expect(want(0, 128, 128, 8, 4));
}

Test(sched_rule, a_quarter_of_the_probes_keeps_it_on)
{
    cr_expect(want(1, 128, 128, 16, 4));
    cr_expect_not(want(1, 128, 128, 17, 4));
}

Test(sched_rule, one_sequential_client_stays_under_the_bar)
{
    /* bench/syscalls.sh: 0.30 probes per request, 0.07 finding one */
    cr_expect_not(want(0, 128, 119, 38, 9));
    cr_expect_not(want(1, 128, 119, 38, 9));
}

Test(sched_rule, too_few_probes_say_nothing)
{
    cr_expect_not(want(0, 128, 128, 7, 7));
    cr_expect_not(want(1, 128, 128, 7, 7));
}

Test(sched_rule, no_wakeup_and_no_overflow)
{
    cr_expect(want(0, 5, 0, 0, 0));
    cr_expect_not(want(1, 0, 0, 0, 0));
    cr_expect(want(0, 0xffffffffu, 0xaaaaaaaau, 0, 0)); /* 1.5 exactly */
    cr_expect(want(0, 128, 128, 0xfffffffeu, 0x7fffffffu)); /* half exactly */
}

/* Serve `per_wakeup` requests after each of `wakeups` wake-ups; after the
 * first of them, probe the queue once more and find what `queued` says. */
static void run(crl_sched_t *s, unsigned wakeups, unsigned per_wakeup, int queued)
{
    for (unsigned i = 0; i < wakeups; i++) {
        crl_sched_wakeup(s, 1);
        for (unsigned j = 0; j < per_wakeup; j++)
            crl_sched_request(s);
        crl_sched_probe(s, queued);
    }
}

Test(sched_auto, switches_the_thread_with_the_load)
{
    crl_sched_t s;

    cr_assert_eq(sched_getscheduler(0), SCHED_OTHER);
    crl_sched_init(&s, CRL_SCHED_AUTO);
    cr_expect_eq(crl_sched_timeout_ms(&s), -1);

    run(&s, CRL_SCHED_WINDOW * 2, 1, 0); /* a lone client: never */
    cr_expect_not(s.batch);
    cr_expect_eq(sched_getscheduler(0), SCHED_OTHER);

    run(&s, CRL_SCHED_WINDOW, 4, 0); /* several ready per wake-up */
    cr_expect(s.batch);
    cr_expect_eq(sched_getscheduler(0), SCHED_BATCH);
    cr_expect_eq(crl_sched_timeout_ms(&s), 1000, "a batch thread wakes to notice idleness");

    run(&s, CRL_SCHED_WINDOW * 2, 1, 0); /* back to one at a time */
    cr_expect_not(s.batch);
    cr_expect_eq(sched_getscheduler(0), SCHED_OTHER);

    run(&s, CRL_SCHED_WINDOW * 2, 1, 1); /* the listen queue has more */
    cr_expect_eq(sched_getscheduler(0), SCHED_BATCH);
    crl_sched_wakeup(&s, 0); /* a second without events */
    cr_expect_not(s.batch);
    cr_expect_eq(sched_getscheduler(0), SCHED_OTHER);
}

Test(sched_auto, a_window_decides_only_when_full)
{
    crl_sched_t s;

    crl_sched_init(&s, CRL_SCHED_AUTO);
    run(&s, 10, 4, 1); /* 40 requests: not a window yet */
    cr_expect_eq(sched_getscheduler(0), SCHED_OTHER);
}

Test(sched_modes, true_is_batch_from_the_start_and_stays)
{
    crl_sched_t s;

    crl_sched_init(&s, CRL_SCHED_ON);
    cr_expect_eq(sched_getscheduler(0), SCHED_BATCH);
    cr_expect_eq(crl_sched_timeout_ms(&s), -1);
    run(&s, CRL_SCHED_WINDOW * 2, 1, 0);
    crl_sched_wakeup(&s, 0);
    cr_expect_eq(sched_getscheduler(0), SCHED_BATCH);
}

Test(sched_modes, false_never_touches_the_policy)
{
    crl_sched_t s;

    crl_sched_init(&s, CRL_SCHED_OFF);
    run(&s, CRL_SCHED_WINDOW, 8, 1);
    cr_expect_eq(sched_getscheduler(0), SCHED_OTHER);
}

Test(sched_modes, a_policy_set_from_outside_is_kept)
{
    struct sched_param p = { .sched_priority = 0 };
    crl_sched_t s;

    cr_assert_eq(sched_setscheduler(0, SCHED_IDLE, &p), 0);
    crl_sched_init(&s, CRL_SCHED_AUTO);
    cr_expect_eq(s.mode, CRL_SCHED_OFF);
    run(&s, CRL_SCHED_WINDOW, 8, 1);
    cr_expect_eq(sched_getscheduler(0), SCHED_IDLE);
    crl_sched_init(&s, CRL_SCHED_ON);
    cr_expect_eq(sched_getscheduler(0), SCHED_IDLE);
}
