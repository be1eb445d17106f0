/* A Prometheus registry in one allocation: families in a fixed array, series
 * in a pool taken at creation; updates touch one series through its handle. */
#define _POSIX_C_SOURCE 200809L

#include "trailguard/metrics.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tg_metrics_series {
    tg_metrics_family *family;                                /* owner */
    char values[TG_METRICS_LABELS_MAX][TG_METRICS_VALUE_MAX]; /* label values */
    double value;                                             /* counter/gauge; histogram sum */
    uint64_t count;                                           /* histogram observations */
    uint64_t buckets[TG_METRICS_BUCKETS_MAX + 1]; /* per bucket, not cumulative; last = +Inf */
    tg_metrics_series *next;                      /* next series of the family */
};

struct tg_metrics_family {
    tg_metrics *registry;                                    /* owner */
    tg_metrics_kind kind;                                    /* counter, gauge, histogram */
    char name[TG_METRICS_NAME_MAX];                          /* metric name */
    char help[TG_METRICS_HELP_MAX];                          /* HELP text */
    char labels[TG_METRICS_LABELS_MAX][TG_METRICS_NAME_MAX]; /* label names */
    size_t labels_count;                                     /* used entries of labels */
    double bounds[TG_METRICS_BUCKETS_MAX];                   /* histogram upper bounds */
    size_t bounds_count;                                     /* used entries of bounds */
    tg_metrics_series *first;                                /* series, registration order */
    tg_metrics_series *last;                                 /* tail of that list */
};

struct tg_metrics {
    tg_metrics_family families[TG_METRICS_FAMILIES_MAX]; /* registered families */
    size_t families_count;                               /* used entries */
    tg_metrics_series *pool;                             /* series_max series */
    size_t series_max;                                   /* pool size */
    size_t series_count;                                 /* used entries of pool */
    uint64_t refused;                                    /* series refused: pool full */
};

tg_status tg_metrics_new(size_t series_max, tg_metrics **out, tg_err *err) {
    assert(out != NULL);
    series_max = series_max == 0 ? TG_METRICS_SERIES_DEFAULT : series_max;
    if (series_max > TG_METRICS_SERIES_MAX) {
        return tg_err_set(err, TG_E_INVALID, "metrics: %zu series is over the bound of %d",
                          series_max, TG_METRICS_SERIES_MAX);
    }
    tg_metrics *m = calloc(1, sizeof *m);
    if (m == NULL || (m->pool = calloc(series_max, sizeof *m->pool)) == NULL) {
        free(m);
        return tg_err_set(err, TG_E_NOMEM, "metrics: out of memory for %zu series", series_max);
    }
    m->series_max = series_max;
    assert(m->series_max >= 1 && m->series_max <= TG_METRICS_SERIES_MAX);
    *out = m;
    return TG_OK;
}

void tg_metrics_free(tg_metrics *m) {
    assert(m == NULL || m->series_count <= m->series_max);
    if (m != NULL) {
        free(m->pool);
        free(m);
    }
}

static bool name_ok(const char *s, bool colon) {
    if (s == NULL || s[0] == '\0' || (s[0] >= '0' && s[0] <= '9')) {
        return false;
    }
    for (const char *p = s; *p != '\0'; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || (colon && c == ':');
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix) {
    assert(s != NULL && suffix != NULL);
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "a,b" → f->labels; false with err on a bad or duplicate name. */
static bool parse_labels(tg_metrics_family *f, const char *labels, tg_err *err) {
    assert(f != NULL);
    f->labels_count = 0;
    if (labels == NULL || labels[0] == '\0') {
        return true;
    }
    const char *p = labels;
    while (true) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (f->labels_count == TG_METRICS_LABELS_MAX || len == 0 || len >= TG_METRICS_NAME_MAX) {
            tg_err_set(err, TG_E_INVALID,
                       "metrics: labels \"%s\" of %s: empty, too long or over %d", labels, f->name,
                       TG_METRICS_LABELS_MAX);
            return false;
        }
        char *dst = f->labels[f->labels_count];
        memcpy(dst, p, len);
        dst[len] = '\0';
        bool reserved = strncmp(dst, "__", 2) == 0 ||
                        (f->kind == TG_METRICS_HISTOGRAM && strcmp(dst, "le") == 0);
        bool dup = false;
        for (size_t i = 0; i < f->labels_count; i++) {
            dup = dup || strcmp(f->labels[i], dst) == 0;
        }
        if (!name_ok(dst, false) || reserved || dup) {
            tg_err_set(err, TG_E_INVALID, "metrics: label name \"%s\" of %s is invalid", dst,
                       f->name);
            return false;
        }
        f->labels_count++;
        if (end == NULL) {
            return true;
        }
        p = end + 1;
    }
}

static bool same_shape(const tg_metrics_family *a, const tg_metrics_family *b) {
    assert(a != NULL && b != NULL);
    assert(a->labels_count <= TG_METRICS_LABELS_MAX && b->labels_count <= TG_METRICS_LABELS_MAX);
    if (a->kind != b->kind || a->labels_count != b->labels_count ||
        a->bounds_count != b->bounds_count) {
        return false;
    }
    for (size_t i = 0; i < a->labels_count; i++) {
        if (strcmp(a->labels[i], b->labels[i]) != 0) {
            return false;
        }
    }
    for (size_t i = 0; i < a->bounds_count; i++) {
        if (a->bounds[i] != b->bounds[i]) {
            return false;
        }
    }
    return true;
}

static tg_metrics_family *add_family(tg_metrics *m, tg_metrics_kind kind, const char *name,
                                     const char *help, const char *labels, const double *bounds,
                                     size_t bounds_count, tg_err *err) {
    assert(m != NULL && m->families_count <= TG_METRICS_FAMILIES_MAX);
    tg_metrics_family f;
    memset(&f, 0, sizeof f);
    f.registry = m;
    f.kind = kind;
    const char *suffix =
        kind == TG_METRICS_COUNTER && name != NULL && !ends_with(name, "_total") ? "_total" : "";
    if (!name_ok(name, true) || strlen(name) + strlen(suffix) >= TG_METRICS_NAME_MAX) {
        tg_err_set(err, TG_E_INVALID, "metrics: \"%s\" is not a valid metric name",
                   name != NULL ? name : "(null)");
        return NULL;
    }
    size_t name_len = strlen(name);
    memcpy(f.name, name, name_len);
    memcpy(f.name + name_len, suffix, strlen(suffix) + 1);
    if (help == NULL || strlen(help) >= TG_METRICS_HELP_MAX) {
        tg_err_set(err, TG_E_INVALID, "metrics: HELP of %s is missing or too long", f.name);
        return NULL;
    }
    int help_len = snprintf(f.help, sizeof f.help, "%s", help);
    assert(help_len >= 0 && (size_t)help_len < sizeof f.help);
    if (!parse_labels(&f, labels, err)) {
        return NULL;
    }
    if (kind == TG_METRICS_HISTOGRAM) {
        if (bounds == NULL || bounds_count == 0 || bounds_count > TG_METRICS_BUCKETS_MAX) {
            tg_err_set(err, TG_E_INVALID, "metrics: %s needs 1..%d bucket bounds", f.name,
                       TG_METRICS_BUCKETS_MAX);
            return NULL;
        }
        for (size_t i = 0; i < bounds_count; i++) {
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
                tg_err_set(err, TG_E_INVALID,
                           "metrics: bucket bounds of %s must be finite and increasing", f.name);
                return NULL;
            }
            f.bounds[i] = bounds[i];
        }
        f.bounds_count = bounds_count;
    }
    for (size_t i = 0; i < m->families_count; i++) {
        tg_metrics_family *old = &m->families[i];
        if (strcmp(old->name, f.name) == 0) {
            if (same_shape(old, &f)) {
                return old;
            }
            tg_err_set(err, TG_E_CONFLICT,
                       "metrics: %s is already registered with another type or labels", f.name);
            return NULL;
        }
    }
    if (m->families_count == TG_METRICS_FAMILIES_MAX) {
        tg_err_set(err, TG_E_CAPACITY, "metrics: %d families already registered, %s refused",
                   TG_METRICS_FAMILIES_MAX, f.name);
        return NULL;
    }
    m->families[m->families_count] = f;
    tg_metrics_family *added = &m->families[m->families_count++];
    assert(m->families_count <= TG_METRICS_FAMILIES_MAX);
    if (added->labels_count == 0) {
        (void)tg_metrics_series_get(added, NULL); /* rendered as 0 from the start */
    }
    return added;
}

tg_metrics_family *tg_metrics_counter(tg_metrics *m, const char *name, const char *help,
                                      const char *labels, tg_err *err) {
    assert(m != NULL);
    return add_family(m, TG_METRICS_COUNTER, name, help, labels, NULL, 0, err);
}

tg_metrics_family *tg_metrics_gauge(tg_metrics *m, const char *name, const char *help,
                                    const char *labels, tg_err *err) {
    assert(m != NULL);
    return add_family(m, TG_METRICS_GAUGE, name, help, labels, NULL, 0, err);
}

tg_metrics_family *tg_metrics_histogram(tg_metrics *m, const char *name, const char *help,
                                        const char *labels, const double *bounds,
                                        size_t bounds_count, tg_err *err) {
    assert(m != NULL);
    return add_family(m, TG_METRICS_HISTOGRAM, name, help, labels, bounds, bounds_count, err);
}

tg_metrics_series *tg_metrics_series_get(tg_metrics_family *f, const char *const *values) {
    if (f == NULL) {
        return NULL;
    }
    assert(f->labels_count == 0 || values != NULL);
    for (size_t i = 0; i < f->labels_count; i++) {
        if (values[i] == NULL || strlen(values[i]) >= TG_METRICS_VALUE_MAX) {
            return NULL;
        }
    }
    for (tg_metrics_series *s = f->first; s != NULL; s = s->next) {
        size_t i = 0;
        while (i < f->labels_count && strcmp(s->values[i], values[i]) == 0) {
            i++;
        }
        if (i == f->labels_count) {
            return s;
        }
    }
    tg_metrics *m = f->registry;
    if (m->series_count == m->series_max) {
        m->refused++;
        return NULL;
    }
    assert(m->series_count < m->series_max);
    tg_metrics_series *s = &m->pool[m->series_count++];
    assert(s->family == NULL && s->next == NULL);
    s->family = f;
    for (size_t i = 0; i < f->labels_count; i++) {
        int n = snprintf(s->values[i], sizeof s->values[i], "%s", values[i]);
        assert(n >= 0 && (size_t)n < sizeof s->values[i]);
    }
    if (f->last != NULL) {
        f->last->next = s;
    } else {
        f->first = s;
    }
    f->last = s;
    return s;
}

void tg_metrics_inc(tg_metrics_series *s) {
    assert(s == NULL || s->family->kind == TG_METRICS_COUNTER ||
           s->family->kind == TG_METRICS_GAUGE);
    tg_metrics_add(s, 1.0);
}

void tg_metrics_add(tg_metrics_series *s, double v) {
    if (s == NULL) {
        return;
    }
    assert(s->family->kind != TG_METRICS_HISTOGRAM);
    assert(s->family->kind == TG_METRICS_GAUGE || v >= 0.0);
    s->value += v;
}

void tg_metrics_set(tg_metrics_series *s, double v) {
    if (s == NULL) {
        return;
    }
    assert(s->family->kind == TG_METRICS_GAUGE);
    s->value = v;
}

void tg_metrics_observe(tg_metrics_series *s, double v) {
    if (s == NULL) {
        return;
    }
    const tg_metrics_family *f = s->family;
    assert(f->kind == TG_METRICS_HISTOGRAM && f->bounds_count <= TG_METRICS_BUCKETS_MAX);
    size_t i = 0;
    while (i < f->bounds_count && !(v <= f->bounds[i])) {
        i++;
    }
    assert(i <= f->bounds_count);
    s->buckets[i]++;
    s->count++;
    s->value += v;
}

double tg_metrics_value(const tg_metrics_series *s) {
    return s != NULL ? s->value : 0.0;
}

uint64_t tg_metrics_count(const tg_metrics_series *s) {
    return s != NULL ? s->count : 0;
}

uint64_t tg_metrics_refused(const tg_metrics *m) {
    assert(m != NULL);
    return m->refused;
}

size_t tg_metrics_series_count(const tg_metrics *m) {
    assert(m != NULL);
    assert(m->series_count <= m->series_max);
    return m->series_count;
}

/* ---- rendering ---------------------------------------------------------- */

typedef struct out {
    char *buf;  /* destination; may be NULL when cap is 0 */
    size_t cap; /* bytes of buf */
    size_t len; /* bytes the whole output needs, NUL excluded */
} out;

static void put(out *o, const char *s, size_t n) {
    assert(o != NULL && s != NULL);
    assert(o->buf != NULL || o->cap == 0);
    if (o->len < o->cap) {
        size_t room = o->cap - 1 - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void puts_(out *o, const char *s) {
    assert(s != NULL);
    put(o, s, strlen(s));
}

static void putf(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(out *o, const char *fmt, ...) {
    assert(o != NULL && fmt != NULL);
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert(n >= 0 && (size_t)n < sizeof tmp);
    put(o, tmp, (size_t)n);
}

/* Shortest of %.15g / %.17g that reads back as v; Prometheus spellings of
 * the non-finite values. */
static void put_double(out *o, double v) {
    assert(o != NULL);
    if (isnan(v)) {
        puts_(o, "NaN");
    } else if (isinf(v)) {
        puts_(o, v > 0 ? "+Inf" : "-Inf");
    } else {
        char tmp[40];
        int n = snprintf(tmp, sizeof tmp, "%.15g", v);
        assert(n > 0 && (size_t)n < sizeof tmp);
        if (strtod(tmp, NULL) != v) {
            n = snprintf(tmp, sizeof tmp, "%.17g", v);
            assert(n > 0 && (size_t)n < sizeof tmp);
        }
        puts_(o, tmp);
    }
}

/* HELP escapes backslash and newline; label values also the double quote. */
static void put_escaped(out *o, const char *s, bool quote) {
    assert(o != NULL && s != NULL);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '\\') {
            puts_(o, "\\\\");
        } else if (*p == '\n') {
            puts_(o, "\\n");
        } else if (quote && *p == '"') {
            puts_(o, "\\\"");
        } else {
            put(o, p, 1);
        }
    }
}

/* {a="x",b="y"[,le="0.5"]}; nothing when there are no labels at all. */
static void put_labels(out *o, const tg_metrics_series *s, const char *le) {
    assert(o != NULL && s != NULL && s->family != NULL);
    assert(s->family->labels_count <= TG_METRICS_LABELS_MAX);
    const tg_metrics_family *f = s->family;
    if (f->labels_count == 0 && le == NULL) {
        return;
    }
    puts_(o, "{");
    for (size_t i = 0; i < f->labels_count; i++) {
        putf(o, "%s%s=\"", i > 0 ? "," : "", f->labels[i]);
        put_escaped(o, s->values[i], true);
        puts_(o, "\"");
    }
    if (le != NULL) {
        putf(o, "%sle=\"%s\"", f->labels_count > 0 ? "," : "", le);
    }
    puts_(o, "}");
}

static void put_histogram(out *o, const tg_metrics_series *s) {
    assert(o != NULL && s != NULL);
    assert(s->family->kind == TG_METRICS_HISTOGRAM &&
           s->family->bounds_count <= TG_METRICS_BUCKETS_MAX);
    const tg_metrics_family *f = s->family;
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= f->bounds_count; i++) {
        char le[40];
        if (i < f->bounds_count) {
            out tmp = {le, sizeof le, 0};
            put_double(&tmp, f->bounds[i]);
            le[tmp.len < sizeof le ? tmp.len : sizeof le - 1] = '\0';
        } else {
            snprintf(le, sizeof le, "+Inf");
        }
        cumulative += s->buckets[i];
        putf(o, "%s_bucket", f->name);
        put_labels(o, s, le);
        putf(o, " %llu\n", (unsigned long long)cumulative);
    }
    assert(cumulative == s->count);
    putf(o, "%s_sum", f->name);
    put_labels(o, s, NULL);
    puts_(o, " ");
    put_double(o, s->value);
    putf(o, "\n%s_count", f->name);
    put_labels(o, s, NULL);
    putf(o, " %llu\n", (unsigned long long)s->count);
}

static void put_family(out *o, const tg_metrics_family *f) {
    assert(o != NULL && f != NULL);
    assert(f->kind == TG_METRICS_COUNTER || f->kind == TG_METRICS_GAUGE ||
           f->kind == TG_METRICS_HISTOGRAM);
    static const char *const types[] = {"counter", "gauge", "histogram"};
    putf(o, "# HELP %s ", f->name);
    put_escaped(o, f->help, false);
    putf(o, "\n# TYPE %s %s\n", f->name, types[f->kind]);
    for (const tg_metrics_series *s = f->first; s != NULL; s = s->next) {
        if (f->kind == TG_METRICS_HISTOGRAM) {
            put_histogram(o, s);
            continue;
        }
        puts_(o, f->name);
        put_labels(o, s, NULL);
        puts_(o, " ");
        put_double(o, s->value);
        puts_(o, "\n");
    }
}

size_t tg_metrics_render(const tg_metrics *m, char *buf, size_t cap) {
    assert(m != NULL && (buf != NULL || cap == 0));
    out o = {buf, cap, 0};
    for (size_t i = 0; i < m->families_count; i++) {
        if (m->families[i].first != NULL) {
            put_family(&o, &m->families[i]);
        }
    }
    puts_(&o, "# HELP trailguard_metrics_series_refused_total Metric series refused because the "
              "registry was full.\n"
              "# TYPE trailguard_metrics_series_refused_total counter\n");
    putf(&o, "trailguard_metrics_series_refused_total %llu\n", (unsigned long long)m->refused);
    assert(m->families_count <= TG_METRICS_FAMILIES_MAX);
    if (cap > 0) {
        buf[o.len < cap ? o.len : cap - 1] = '\0';
    }
    return o.len;
}
