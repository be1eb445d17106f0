/*
 * trailguard/metrics.h — a fixed-capacity Prometheus registry.
 *
 * Families (counter, gauge, histogram) are registered at start-up with their
 * HELP text and label names; each label set is one series, looked up once
 * and kept as a handle. The hot path then costs one add through the handle:
 * no allocation, no lookup, no string formatting. Formatting happens only in
 * tg_metrics_render, which writes the Prometheus text exposition format
 * 0.0.4 (what GET /metrics answers).
 *
 *     tg_metrics *m;
 *     tg_metrics_new(0, &m, &err);
 *     tg_metrics_family *rej = tg_metrics_counter(m, "trailguard_rejects_total",
 *                                                 "Stop requests the exchange rejected.",
 *                                                 "code", &err);
 *     tg_metrics_series *r2021 = tg_metrics_series_get(rej, (const char *[]){"-2021"});
 *     tg_metrics_inc(r2021);                         // hot path
 *
 * Bounds: at most TG_METRICS_FAMILIES_MAX families and series_max series.
 * A series beyond the bound is refused: tg_metrics_series_get returns NULL,
 * the refusal is counted (rendered as trailguard_metrics_series_refused_total),
 * and every update function accepts NULL as a no-op, so a refused series
 * costs the caller no branch of its own.
 *
 * Single-threaded: a registry belongs to the loop thread that updates it.
 */
#ifndef TRAILGUARD_METRICS_H
#define TRAILGUARD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trailguard/error.h"

#define TG_METRICS_FAMILIES_MAX   64    /* families in one registry */
#define TG_METRICS_SERIES_DEFAULT 1024  /* series when tg_metrics_new gets 0 */
#define TG_METRICS_SERIES_MAX     65536 /* largest series_max accepted */
#define TG_METRICS_LABELS_MAX     4     /* label names of one family */
#define TG_METRICS_BUCKETS_MAX    24    /* finite bucket bounds of one histogram */
#define TG_METRICS_NAME_MAX       96    /* bytes of a metric or label name, NUL included */
#define TG_METRICS_HELP_MAX       256   /* bytes of HELP text, NUL included */
#define TG_METRICS_VALUE_MAX      64    /* bytes of one label value, NUL included */

typedef enum tg_metrics_kind {
    TG_METRICS_COUNTER,   /* only goes up; name ends in _total */
    TG_METRICS_GAUGE,     /* goes up and down */
    TG_METRICS_HISTOGRAM, /* observations counted into fixed buckets */
} tg_metrics_kind;

typedef struct tg_metrics tg_metrics;               /* the registry */
typedef struct tg_metrics_family tg_metrics_family; /* one metric name, HELP, TYPE */
typedef struct tg_metrics_series tg_metrics_series; /* one label set of a family */

/* A registry for at most series_max series (0 = TG_METRICS_SERIES_DEFAULT).
 * All memory is taken here. */
tg_status tg_metrics_new(size_t series_max, tg_metrics **out, tg_err *err);
void tg_metrics_free(tg_metrics *m);

/* Registers a family. name is a Prometheus metric name; a counter's name
 * gets "_total" appended when it does not end in it. labels is a
 * comma-separated list of label names ("account,symbol"), or NULL / "" for
 * none. Registering the same name twice with the same kind and labels
 * returns the first family; with a different kind or labels it is
 * TG_E_CONFLICT. Returns NULL and fills err on bad input or a full registry. */
tg_metrics_family *tg_metrics_counter(tg_metrics *m, const char *name, const char *help,
                                      const char *labels, tg_err *err);
tg_metrics_family *tg_metrics_gauge(tg_metrics *m, const char *name, const char *help,
                                    const char *labels, tg_err *err);
/* bounds: bounds_count strictly increasing finite upper bounds, in base
 * units (seconds, bytes); the +Inf bucket is implied. "le" may not be a
 * label name. */
tg_metrics_family *tg_metrics_histogram(tg_metrics *m, const char *name, const char *help,
                                        const char *labels, const double *bounds,
                                        size_t bounds_count, tg_err *err);

/* The series of family f with the given label values, one per label name
 * in the order registered (NULL for a family without labels). Values are
 * copied; each at most TG_METRICS_VALUE_MAX - 1 bytes. The same values give
 * the same handle. NULL when f is NULL, a value is too long, or the registry
 * is full (counted in tg_metrics_refused). Not for the hot path: look the
 * handle up once and keep it. */
tg_metrics_series *tg_metrics_series_get(tg_metrics_family *f, const char *const *values);

/* Hot path. s may be NULL (a refused series): nothing happens. */
void tg_metrics_inc(tg_metrics_series *s);               /* counter or gauge: +1 */
void tg_metrics_add(tg_metrics_series *s, double v);     /* counter: v >= 0; gauge: any */
void tg_metrics_set(tg_metrics_series *s, double v);     /* gauge only */
void tg_metrics_observe(tg_metrics_series *s, double v); /* histogram only */
double tg_metrics_value(const tg_metrics_series *s);     /* counter/gauge value; histogram sum */
uint64_t tg_metrics_count(const tg_metrics_series *s);   /* histogram observations */

/* Series refused because the registry was full. */
uint64_t tg_metrics_refused(const tg_metrics *m);
size_t tg_metrics_series_count(const tg_metrics *m);

/* Writes the exposition (text format 0.0.4, Content-Type
 * TG_METRICS_CONTENT_TYPE) into buf, NUL-terminated, at most cap - 1 bytes.
 * Returns the length of the whole exposition, like snprintf: when it is
 * >= cap the output was cut and the caller retries with a larger buffer.
 * buf may be NULL when cap is 0 (to measure). */
size_t tg_metrics_render(const tg_metrics *m, char *buf, size_t cap);

#define TG_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
