/*
 * bench_util.h — what every benchmark in bench/ needs: a monotonic clock
 * and order statistics over repeated runs (the machines are shared and
 * noisy, so benchmarks report medians and percentiles, never one run).
 */
#ifndef TG_BENCH_UTIL_H
#define TG_BENCH_UTIL_H

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds on the monotonic clock. */
static inline double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile (0..100, nearest rank) of n values; v is sorted in
 * place. */
static inline double bench_percentile(double *v, size_t n, double p) {
    assert(n > 0 && p >= 0 && p <= 100);
    qsort(v, n, sizeof *v, bench_cmp_double);
    size_t rank = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return v[rank < n ? rank : n - 1];
}

/* The median of n values (the mean of the middle two for even n); v is
 * sorted in place. */
static inline double bench_median(double *v, size_t n) {
    assert(n > 0);
    qsort(v, n, sizeof *v, bench_cmp_double);
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
