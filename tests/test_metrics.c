/* The metrics registry: exact exposition lines, escaping, bounds, and the
 * whole output checked by the real promtool. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "trailguard/metrics.h"

#define PROMTOOL "/usr/bin/promtool"

static void assert_has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n') {
            return;
        }
    }
    fail_msg("line not found: %s\n--- in ---\n%s", line, text);
}

/* A registry with every kind, labels, escaping and a refused series. */
static tg_metrics *sample(void) {
    tg_metrics *m = NULL;
    tg_err err;
    assert_int_equal(tg_metrics_new(8, &m, &err), TG_OK);
    tg_metrics_family *skips = tg_metrics_counter(
        m, "trailguard_skips", "Stop updates skipped, by reason.", "reason", &err);
    assert_non_null(skips);
    tg_metrics_series *rl = tg_metrics_series_get(skips, (const char *[]){"rate_limited"});
    tg_metrics_inc(rl);
    tg_metrics_inc(rl);
    tg_metrics_add(tg_metrics_series_get(skips, (const char *[]){"min_improvement"}), 5);
    assert_ptr_equal(tg_metrics_series_get(skips, (const char *[]){"rate_limited"}), rl);

    tg_metrics_family *rej = tg_metrics_counter(
        m, "trailguard_rejects_total", "Rejected stop requests, by exchange code.", "code", &err);
    tg_metrics_inc(tg_metrics_series_get(rej, (const char *[]){"-2021"}));

    tg_metrics_family *st = tg_metrics_gauge(m, "trailguard_feed_staleness_seconds",
                                             "Age of the last mark price.\nPer symbol \\ account.",
                                             "account,symbol", &err);
    assert_non_null(st);
    tg_metrics_set(tg_metrics_series_get(st, (const char *[]){"bn1", "BTCUSDT"}), 0.25);
    tg_metrics_set(tg_metrics_series_get(st, (const char *[]){"we\"ird\\", "a\nb"}), -1.5);

    static const double bounds[] = {0.005, 0.01, 0.1, 1};
    tg_metrics_family *lat = tg_metrics_histogram(m, "trailguard_replace_seconds",
                                                  "Stop replace latency.", NULL, bounds, 4, &err);
    assert_non_null(lat);
    tg_metrics_series *l = tg_metrics_series_get(lat, NULL);
    tg_metrics_observe(l, 0.003);
    tg_metrics_observe(l, 0.01); /* on the bound: le is inclusive */
    tg_metrics_observe(l, 0.5);
    tg_metrics_observe(l, 7);

    tg_metrics_family *up = tg_metrics_gauge(m, "trailguard_up", "1 while running.", "", &err);
    tg_metrics_set(tg_metrics_series_get(up, NULL), 1);

    /* 7 series so far; one more fits, the next is refused. */
    assert_int_equal(tg_metrics_series_count(m), 7);
    assert_non_null(tg_metrics_series_get(rej, (const char *[]){"-4045"}));
    tg_metrics_series *none = tg_metrics_series_get(rej, (const char *[]){"-1111"});
    assert_null(none);
    tg_metrics_inc(none); /* a refused series is a no-op */
    assert_int_equal(tg_metrics_refused(m), 1);
    return m;
}

static char *render(const tg_metrics *m) {
    size_t need = tg_metrics_render(m, NULL, 0);
    char *buf = malloc(need + 1);
    assert_non_null(buf);
    assert_int_equal(tg_metrics_render(m, buf, need + 1), need);
    assert_int_equal(strlen(buf), need);
    return buf;
}

static void exact_lines(void **state) {
    (void)state;
    tg_metrics *m = sample();
    char *text = render(m);
    assert_has_line(text, "# HELP trailguard_skips_total Stop updates skipped, by reason.");
    assert_has_line(text, "# TYPE trailguard_skips_total counter");
    assert_has_line(text, "trailguard_skips_total{reason=\"rate_limited\"} 2");
    assert_has_line(text, "trailguard_skips_total{reason=\"min_improvement\"} 5");
    assert_has_line(text, "trailguard_rejects_total{code=\"-2021\"} 1");
    assert_has_line(text, "trailguard_rejects_total{code=\"-4045\"} 0");
    assert_has_line(text, "# HELP trailguard_feed_staleness_seconds Age of the last mark "
                          "price.\\nPer symbol \\\\ account.");
    assert_has_line(text, "# TYPE trailguard_feed_staleness_seconds gauge");
    assert_has_line(text,
                    "trailguard_feed_staleness_seconds{account=\"bn1\",symbol=\"BTCUSDT\"} 0.25");
    assert_has_line(text, "trailguard_feed_staleness_seconds{account=\"we\\\"ird\\\\\",symbol="
                          "\"a\\nb\"} -1.5");
    assert_has_line(text, "# TYPE trailguard_replace_seconds histogram");
    assert_has_line(text, "trailguard_replace_seconds_bucket{le=\"0.005\"} 1");
    assert_has_line(text, "trailguard_replace_seconds_bucket{le=\"0.01\"} 2");
    assert_has_line(text, "trailguard_replace_seconds_bucket{le=\"0.1\"} 2");
    assert_has_line(text, "trailguard_replace_seconds_bucket{le=\"1\"} 3");
    assert_has_line(text, "trailguard_replace_seconds_bucket{le=\"+Inf\"} 4");
    assert_has_line(text, "trailguard_replace_seconds_sum 7.513");
    assert_has_line(text, "trailguard_replace_seconds_count 4");
    assert_has_line(text, "trailguard_up 1");
    assert_has_line(text, "trailguard_metrics_series_refused_total 1");
    assert_int_equal(text[strlen(text) - 1], '\n');
    free(text);
    tg_metrics_free(m);
}

/* A short buffer gets a NUL-terminated prefix and the full length back. */
static void truncation(void **state) {
    (void)state;
    tg_metrics *m = sample();
    char *full = render(m);
    char small[50];
    assert_int_equal(tg_metrics_render(m, small, sizeof small), strlen(full));
    assert_int_equal(strlen(small), sizeof small - 1);
    assert_memory_equal(small, full, sizeof small - 1);
    free(full);
    tg_metrics_free(m);
}

static void registration_errors(void **state) {
    (void)state;
    tg_metrics *m = NULL;
    tg_err err;
    assert_int_equal(tg_metrics_new(0, &m, &err), TG_OK);
    assert_null(tg_metrics_counter(m, "9bad", "h", NULL, &err));
    assert_null(tg_metrics_counter(m, "bad-name", "h", NULL, &err));
    assert_null(tg_metrics_counter(m, "ok", "h", "a,a", &err));
    assert_null(tg_metrics_counter(m, "ok", "h", "__x", &err));
    assert_null(tg_metrics_counter(m, "ok", "h", "a,,b", &err));
    assert_null(tg_metrics_counter(m, "ok", "h", "a,b,c,d,e", &err));
    static const double b[] = {1, 1};
    assert_null(tg_metrics_histogram(m, "h", "h", NULL, b, 2, &err));
    assert_null(tg_metrics_histogram(m, "h", "h", "le", b, 1, &err));
    tg_metrics_family *c = tg_metrics_counter(m, "x", "h", "a", &err);
    assert_non_null(c);
    assert_ptr_equal(tg_metrics_counter(m, "x_total", "h", "a", &err), c);
    assert_null(tg_metrics_gauge(m, "x_total", "h", "a", &err));
    assert_int_equal(err.status, TG_E_CONFLICT);
    char longv[TG_METRICS_VALUE_MAX + 1];
    memset(longv, 'v', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    assert_null(tg_metrics_series_get(c, (const char *[]){longv}));
    for (int i = 0; i < TG_METRICS_FAMILIES_MAX - 1; i++) {
        char name[32];
        snprintf(name, sizeof name, "g%d", i);
        assert_non_null(tg_metrics_gauge(m, name, "h", NULL, &err));
    }
    assert_null(tg_metrics_gauge(m, "one_too_many", "h", NULL, &err));
    assert_int_equal(err.status, TG_E_CAPACITY);
    tg_metrics_free(m);
}

static void promtool_accepts(void **state) {
    (void)state;
    if (access(PROMTOOL, X_OK) != 0) {
        print_message("promtool not installed (" PROMTOOL "): skipping the format check\n");
        skip();
    }
    tg_metrics *m = sample();
    char *text = render(m);
    char path[] = TG_TEST_TMPDIR "/metrics_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, PROMTOOL " check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[4096] = "";
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int rc = pclose(p);
    unlink(path);
    if (rc != 0 || n != 0) {
        fail_msg("promtool check metrics (rc %d):\n%s\n--- input ---\n%s", rc, out, text);
    }
    free(text);
    tg_metrics_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exact_lines),
        cmocka_unit_test(truncation),
        cmocka_unit_test(registration_errors),
        cmocka_unit_test(promtool_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
