#include "replay/pricefile.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay/utc.h"

#define FIELDS_MAX     12    /* columns of the widest layout (kline) */
#define PROGRESS_LINES 65536 /* lines between two progress reports */
#define KLINE_US_FROM                                                                              \
    100000000000000LL            /* 1e14: a larger open_time is in µs (year > 5000 in ms)         \
                                  */
#define TS_DIGITS_MAX 18         /* digits of an integer timestamp; fits int64 */
#define READ_CHUNK    (1u << 20) /* bytes per fread in tg_pricefile_load */

/* The fields of one CSV line, trimmed of blanks and surrounding quotes. */
typedef struct fields {
    const char *s[FIELDS_MAX]; /* start of each field */
    size_t n[FIELDS_MAX];      /* length of each field */
    size_t count;              /* fields on the line; FIELDS_MAX + 1 means "more" */
} fields;

/* One bar as read, before it becomes a walk of points. */
typedef struct bar {
    int64_t ts_ms;                 /* bar open time, ms */
    tg_dec open, high, low, close; /* prices */
} bar;

/* State of one parse. */
typedef struct parser {
    const char *data;            /* whole input */
    size_t len;                  /* bytes of input */
    size_t pos;                  /* next byte to read */
    size_t line_no;              /* 1-based number of the line last read */
    tg_pricefile *pf;            /* result being built */
    size_t points_cap;           /* points allocated in pf->points */
    bar *bars;                   /* bars read so far (bar formats) */
    size_t bars_cap;             /* bars allocated */
    int64_t prev_ts;             /* timestamp of the previous row, ms */
    size_t prev_line;            /* line of the previous row; 0 = none yet */
    const tg_progress *progress; /* may be NULL */
} parser;

const char *tg_pricefile_format_str(tg_pricefile_format format) {
    switch (format) {
    case TG_PRICEFILE_TICKS:
        return "ticks";
    case TG_PRICEFILE_KLINE:
        return "kline";
    case TG_PRICEFILE_OHLCV:
        return "ohlcv";
    }
    return "unknown";
}

static bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

/* The next non-blank line, without its line ending; false at the end. */
static bool next_line(parser *p, const char **line, size_t *line_len) {
    assert(p != NULL && line != NULL && line_len != NULL);
    while (p->pos < p->len) {
        const char *start = p->data + p->pos;
        const char *nl = memchr(start, '\n', p->len - p->pos);
        size_t n = nl != NULL ? (size_t)(nl - start) : p->len - p->pos;
        p->pos += n + (nl != NULL);
        p->line_no++;
        while (n > 0 && is_blank(start[n - 1])) {
            n--;
        }
        if (n > 0) {
            assert(p->pos <= p->len && *start != '\n');
            *line = start;
            *line_len = n;
            return true;
        }
    }
    assert(p->pos == p->len);
    return false;
}

static void split_fields(const char *line, size_t len, fields *f) {
    assert(line != NULL);
    assert(f != NULL);
    f->count = 0;
    size_t at = 0;
    for (;;) {
        const char *comma = memchr(line + at, ',', len - at);
        size_t end = comma != NULL ? (size_t)(comma - line) : len;
        if (f->count == FIELDS_MAX) {
            f->count = FIELDS_MAX + 1;
            return;
        }
        assert(at <= end && end <= len);
        const char *s = line + at;
        size_t n = end - at;
        while (n > 0 && is_blank(*s)) {
            s++;
            n--;
        }
        while (n > 0 && is_blank(s[n - 1])) {
            n--;
        }
        if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
            s++;
            n -= 2;
        }
        f->s[f->count] = s;
        f->n[f->count] = n;
        f->count++;
        if (comma == NULL) {
            return;
        }
        at = end + 1;
    }
}

static bool field_is(const fields *f, size_t i, const char *name) {
    assert(f != NULL && name != NULL);
    assert(i < f->count && i < FIELDS_MAX); /* callers know the field count first */
    size_t n = strlen(name);
    if (f->n[i] != n) {
        return false;
    }
    for (size_t k = 0; k < n; k++) {
        char c = f->s[i][k];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != name[k]) {
            return false;
        }
    }
    return true;
}

/* A header starts with a name; every data row starts with a digit. */
static bool looks_like_header(const fields *f) {
    assert(f != NULL && f->count >= 1); /* split_fields() always yields a field */
    char c = f->n[0] > 0 ? f->s[0][0] : '\0';
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ohlcv_header(const fields *f) {
    static const char *const names[6] = {"timestamp", "open", "high", "low", "close", "volume"};
    assert(f != NULL && f->count == 6);
    for (size_t i = 0; i < 6; i++) {
        if (!field_is(f, i, names[i])) {
            return false;
        }
    }
    return true;
}

/* Chooses the layout from the first line. */
static tg_status detect(parser *p, const fields *f, tg_err *err) {
    assert(p != NULL && p->pf != NULL && f != NULL);
    tg_pricefile *pf = p->pf;
    pf->has_header = looks_like_header(f);
    if (f->count == 2) {
        pf->format = TG_PRICEFILE_TICKS;
    } else if (f->count == 12 && (!pf->has_header || field_is(f, 0, "open_time"))) {
        pf->format = TG_PRICEFILE_KLINE;
    } else if (f->count == 6 && (!pf->has_header || is_ohlcv_header(f))) {
        pf->format = TG_PRICEFILE_OHLCV;
    } else if (pf->has_header) {
        return tg_err_set(err, TG_E_INVALID,
                          "line %zu: unknown format: the header is neither timestamp_ms,price "
                          "(ticks), a Binance kline header (open_time,...; 12 columns) nor "
                          "timestamp,open,high,low,close,volume",
                          p->line_no);
    } else {
        return tg_err_set(err, TG_E_INVALID,
                          "line %zu: unknown format: a row of %s%zu fields; expected 2 (ticks), "
                          "6 (OHLCV) or 12 (Binance kline)",
                          p->line_no, f->count > FIELDS_MAX ? "more than " : "",
                          f->count > FIELDS_MAX ? (size_t)FIELDS_MAX : f->count);
    }
    pf->walk_len = pf->format == TG_PRICEFILE_TICKS ? 1 : TG_PRICEFILE_WALK_BARS;
    assert(pf->format <= TG_PRICEFILE_OHLCV);
    return TG_OK;
}

static bool parse_ms(const char *s, size_t n, int64_t *out) {
    assert(s != NULL && out != NULL);
    if (n == 0 || n > TS_DIGITS_MAX) {
        return false;
    }
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    assert(v >= 0); /* TS_DIGITS_MAX digits fit an int64_t */
    *out = v;
    return true;
}

static tg_status parse_timestamp(parser *p, const fields *f, int64_t *ts, tg_err *err) {
    assert(p != NULL && p->pf != NULL && f != NULL && ts != NULL);
    assert(f->count >= 2 && f->count <= FIELDS_MAX);
    const char *s = f->s[0];
    size_t n = f->n[0];
    bool ok = parse_ms(s, n, ts);
    if (ok && p->pf->format == TG_PRICEFILE_KLINE && *ts >= KLINE_US_FROM) {
        *ts /= 1000; /* Binance writes µs in its kline files since 2025 */
    }
    if (!ok && p->pf->format == TG_PRICEFILE_OHLCV) {
        ok = tg_utc_parse(s, n, ts);
    }
    if (!ok) {
        return tg_err_set(err, TG_E_INVALID, "line %zu: timestamp '%.*s' is not %s", p->line_no,
                          (int)(n > 40 ? 40 : n), s,
                          p->pf->format == TG_PRICEFILE_OHLCV
                              ? "an ISO-8601 UTC time (2021-12-31 23:01:00) or whole milliseconds"
                              : "a whole number of milliseconds since the epoch");
    }
    return TG_OK;
}

static tg_status parse_price(parser *p, const fields *f, size_t i, const char *name, tg_dec *out,
                             tg_err *err) {
    assert(p != NULL && f != NULL && name != NULL && out != NULL);
    assert(i < f->count && i < FIELDS_MAX);
    tg_dec_status st = tg_dec_parse(f->s[i], f->n[i], out, NULL);
    int shown = (int)(f->n[i] > 40 ? 40 : f->n[i]);
    if (st != TG_DEC_OK) {
        return tg_err_set(err, TG_E_INVALID, "line %zu: %s '%.*s': %s", p->line_no, name, shown,
                          f->s[i], tg_dec_status_str(st));
    }
    if (!tg_dec_is_pos(*out)) {
        return tg_err_set(err, TG_E_INVALID, "line %zu: %s %.*s is not a positive price",
                          p->line_no, name, shown, f->s[i]);
    }
    int dp = tg_dec_places(*out);
    if (dp > p->pf->dp_max) {
        p->pf->dp_max = dp;
    }
    assert(p->pf->dp_max >= 0 && p->pf->dp_max <= TG_DEC_DP);
    return TG_OK;
}

/* Rows must move forward in time: ticks may share a timestamp, bars may not. */
static tg_status check_order(parser *p, int64_t ts, tg_err *err) {
    assert(p != NULL && p->pf != NULL && p->line_no > 0);
    bool bars = p->pf->format != TG_PRICEFILE_TICKS;
    if (p->prev_line != 0 && (ts < p->prev_ts || (bars && ts == p->prev_ts))) {
        char a[TG_UTC_STR_MAX], b[TG_UTC_STR_MAX];
        tg_utc_format(ts, a);
        tg_utc_format(p->prev_ts, b);
        return tg_err_set(err, TG_E_INVALID,
                          "line %zu: timestamps out of order: %s %s %s on line %zu; rows must be "
                          "sorted by time%s",
                          p->line_no, a, ts == p->prev_ts ? "repeats" : "comes before", b,
                          p->prev_line, bars ? ", one bar per time" : "");
    }
    p->prev_ts = ts;
    p->prev_line = p->line_no;
    assert(p->prev_line > 0);
    return TG_OK;
}

static tg_status grow(void **buf, size_t *cap, size_t need, size_t elem, tg_err *err) {
    assert(buf != NULL && cap != NULL && elem > 0);
    assert(*cap <= TG_PRICEFILE_POINTS_MAX);
    if (need <= *cap) {
        return TG_OK;
    }
    if (need > TG_PRICEFILE_POINTS_MAX) {
        return tg_err_set(err, TG_E_CAPACITY, "the file holds more than %llu price points",
                          (unsigned long long)TG_PRICEFILE_POINTS_MAX);
    }
    size_t cap_new = *cap == 0 ? 4096 : *cap;
    while (cap_new < need) {
        cap_new *= 2;
    }
    if (cap_new > TG_PRICEFILE_POINTS_MAX) {
        cap_new = TG_PRICEFILE_POINTS_MAX;
    }
    void *p = realloc(*buf, cap_new * elem);
    if (p == NULL) {
        return tg_err_set(err, TG_E_NOMEM, "out of memory holding %zu price points", cap_new);
    }
    *buf = p;
    *cap = cap_new;
    assert(*cap >= need && *cap <= TG_PRICEFILE_POINTS_MAX);
    return TG_OK;
}

static tg_status parse_tick_row(parser *p, const fields *f, tg_err *err) {
    assert(p->pf->format == TG_PRICEFILE_TICKS);
    tg_pricepoint pt;
    tg_status st = parse_timestamp(p, f, &pt.ts_ms, err);
    if (st == TG_OK)
        st = parse_price(p, f, 1, "price", &pt.price, err);
    if (st == TG_OK)
        st = check_order(p, pt.ts_ms, err);
    if (st == TG_OK)
        st = grow((void **)&p->pf->points, &p->points_cap, p->pf->count + 1, sizeof pt, err);
    if (st != TG_OK) {
        return st;
    }
    p->pf->points[p->pf->count++] = pt;
    assert(p->pf->count <= p->points_cap);
    return TG_OK;
}

static tg_status check_bar(const parser *p, const bar *b, tg_err *err) {
    assert(p != NULL && b != NULL);
    char h[TG_DEC_STR_MAX], l[TG_DEC_STR_MAX], x[TG_DEC_STR_MAX];
    tg_dec top = tg_dec_max(b->open, b->close);
    tg_dec bottom = tg_dec_min(b->open, b->close);
    tg_dec_format(b->high, 0, h);
    tg_dec_format(b->low, 0, l);
    if (tg_dec_lt(b->high, top)) {
        tg_dec_format(top, 0, x);
        return tg_err_set(err, TG_E_INVALID,
                          "line %zu: high %s is below the bar's open or close %s", p->line_no, h,
                          x);
    }
    if (tg_dec_gt(b->low, bottom)) {
        tg_dec_format(bottom, 0, x);
        return tg_err_set(err, TG_E_INVALID, "line %zu: low %s is above the bar's open or close %s",
                          p->line_no, l, x);
    }
    return TG_OK;
}

static tg_status parse_bar_row(parser *p, const fields *f, tg_err *err) {
    assert(p->pf->format != TG_PRICEFILE_TICKS);
    bar b;
    tg_status st = parse_timestamp(p, f, &b.ts_ms, err);
    if (st == TG_OK)
        st = parse_price(p, f, 1, "open", &b.open, err);
    if (st == TG_OK)
        st = parse_price(p, f, 2, "high", &b.high, err);
    if (st == TG_OK)
        st = parse_price(p, f, 3, "low", &b.low, err);
    if (st == TG_OK)
        st = parse_price(p, f, 4, "close", &b.close, err);
    if (st == TG_OK)
        st = check_bar(p, &b, err);
    if (st == TG_OK)
        st = check_order(p, b.ts_ms, err);
    if (st == TG_OK)
        st = grow((void **)&p->bars, &p->bars_cap, p->pf->rows + 1, sizeof b, err);
    if (st != TG_OK) {
        return st;
    }
    assert(p->pf->rows < p->bars_cap);
    p->bars[p->pf->rows] = b;
    return TG_OK;
}

static tg_status parse_row(parser *p, const char *line, size_t len, tg_err *err) {
    assert(p != NULL && p->pf != NULL && line != NULL);
    assert(len > 0 && len <= TG_PRICEFILE_LINE_MAX);
    fields f;
    split_fields(line, len, &f);
    size_t want = p->pf->format == TG_PRICEFILE_TICKS   ? 2
                  : p->pf->format == TG_PRICEFILE_KLINE ? 12
                                                        : 6;
    if (f.count != want) {
        return tg_err_set(err, TG_E_INVALID,
                          "line %zu: expected %zu fields like the first %s, "
                          "found %s%zu",
                          p->line_no, want, p->pf->has_header ? "line" : "row",
                          f.count > FIELDS_MAX ? "more than " : "",
                          f.count > FIELDS_MAX ? (size_t)FIELDS_MAX : f.count);
    }
    tg_status st = p->pf->format == TG_PRICEFILE_TICKS ? parse_tick_row(p, &f, err)
                                                       : parse_bar_row(p, &f, err);
    if (st == TG_OK) {
        p->pf->rows++;
    }
    return st;
}

/* The walk of one bar: open, the extreme nearer to the open, the other
 * extreme, close. On a tie the bar is taken to go against its body first
 * (an up bar dips before it rises), the common convention. */
static void walk_bar(const bar *b, int64_t span_ms, tg_pricepoint out[TG_PRICEFILE_WALK_BARS]) {
    assert(span_ms > 0);
    int64_t up = b->high.units - b->open.units;  /* ≥ 0 */
    int64_t down = b->open.units - b->low.units; /* ≥ 0 */
    bool high_first = up < down || (up == down && tg_dec_lt(b->close, b->open));
    const tg_dec path[TG_PRICEFILE_WALK_BARS] = {b->open, high_first ? b->high : b->low,
                                                 high_first ? b->low : b->high, b->close};
    for (int k = 0; k < TG_PRICEFILE_WALK_BARS; k++) {
        out[k].ts_ms = b->ts_ms + span_ms * k / TG_PRICEFILE_WALK_BARS;
        out[k].price = path[k];
    }
    /* the walk stays inside the bar's span, so the path never goes back */
    assert(out[0].ts_ms == b->ts_ms);
    assert(out[TG_PRICEFILE_WALK_BARS - 1].ts_ms < b->ts_ms + span_ms);
}

/* Turns the bars into points. The interval is the distance of the first two
 * bars; a bar followed sooner than that walks within its own span so that
 * the path never goes back in time. */
static tg_status expand_bars(parser *p, tg_err *err) {
    tg_pricefile *pf = p->pf;
    size_t n = pf->rows;
    assert(n > 0 && p->bars != NULL);
    pf->interval_ms =
        n > 1 ? p->bars[1].ts_ms - p->bars[0].ts_ms : TG_PRICEFILE_INTERVAL_DEFAULT_MS;
    assert(pf->interval_ms > 0);
    tg_status st = grow((void **)&pf->points, &p->points_cap, n * TG_PRICEFILE_WALK_BARS,
                        sizeof pf->points[0], err);
    if (st != TG_OK) {
        return st;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t span = pf->interval_ms;
        if (i + 1 < n && p->bars[i + 1].ts_ms - p->bars[i].ts_ms < span) {
            span = p->bars[i + 1].ts_ms - p->bars[i].ts_ms;
        }
        walk_bar(&p->bars[i], span, &pf->points[i * TG_PRICEFILE_WALK_BARS]);
    }
    pf->count = n * TG_PRICEFILE_WALK_BARS;
    assert(pf->count <= p->points_cap);
    return TG_OK;
}

static void report_progress(const parser *p) {
    assert(p != NULL && p->pos <= p->len);
    if (p->progress != NULL && p->progress->fn != NULL) {
        p->progress->fn(p->progress->ctx, (uint64_t)p->pos, (uint64_t)p->len);
    }
}

static tg_status parse_all(parser *p, tg_err *err) {
    assert(p != NULL && p->pf != NULL);
    const char *line;
    size_t len;
    if (!next_line(p, &line, &len)) {
        return tg_err_set(err, TG_E_INVALID, "the file is empty: no price rows");
    }
    if (len > TG_PRICEFILE_LINE_MAX) {
        return tg_err_set(err, TG_E_INVALID, "line %zu: longer than %d bytes", p->line_no,
                          TG_PRICEFILE_LINE_MAX);
    }
    fields f;
    split_fields(line, len, &f);
    tg_status st = detect(p, &f, err);
    if (st == TG_OK && !p->pf->has_header) {
        st = parse_row(p, line, len, err);
    }
    while (st == TG_OK && next_line(p, &line, &len)) {
        if (len > TG_PRICEFILE_LINE_MAX) {
            return tg_err_set(err, TG_E_INVALID, "line %zu: longer than %d bytes", p->line_no,
                              TG_PRICEFILE_LINE_MAX);
        }
        st = parse_row(p, line, len, err);
        if (p->line_no % PROGRESS_LINES == 0) {
            report_progress(p);
        }
    }
    if (st == TG_OK && p->pf->rows == 0) {
        return tg_err_set(err, TG_E_INVALID, "the file has a header but no price rows");
    }
    if (st == TG_OK && p->pf->format != TG_PRICEFILE_TICKS) {
        st = expand_bars(p, err);
    }
    return st;
}

tg_status tg_pricefile_parse(const char *data, size_t len, tg_pricefile *out,
                             const tg_progress *progress, tg_err *err) {
    assert(data != NULL || len == 0);
    assert(out != NULL);
    memset(out, 0, sizeof *out);
    parser p;
    memset(&p, 0, sizeof p);
    p.data = data;
    p.len = len;
    p.pf = out;
    p.progress = progress;
    if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) {
        p.pos = 3; /* UTF-8 byte order mark, as spreadsheet exports write it */
    }
    tg_status st = parse_all(&p, err);
    free(p.bars);
    if (st != TG_OK) {
        tg_pricefile_free(out);
        return st;
    }
    report_progress(&p);
    assert(out->count == out->rows * out->walk_len);
    return TG_OK;
}

void tg_pricefile_free(tg_pricefile *pf) {
    if (pf != NULL) {
        free(pf->points);
        memset(pf, 0, sizeof *pf);
    }
}

tg_dec tg_pricefile_tick(const tg_pricefile *pf) {
    assert(pf != NULL);
    assert(pf->dp_max >= 0 && pf->dp_max <= TG_DEC_DP);
    int64_t units = TG_DEC_SCALE;
    for (int i = 0; i < pf->dp_max; i++) {
        units /= 10;
    }
    return tg_dec_from_units(units);
}

/* The complete lines of the first chunk are parsed before the rest is
 * read: a file that is not prices at all (a binary, /dev/urandom) fails on
 * its first bad line instead of after gigabytes. */
static tg_status check_start(const char *buf, size_t len, bool eof, tg_err *err) {
    assert(buf != NULL && len > 0);
    const char *nl = NULL;
    for (size_t i = len; i > 0 && nl == NULL; i--) {
        nl = buf[i - 1] == '\n' ? buf + i - 1 : NULL;
    }
    if (nl == NULL) {
        return len > TG_PRICEFILE_LINE_MAX && !eof
                   ? tg_err_set(err, TG_E_INVALID, "line 1: longer than %d bytes",
                                TG_PRICEFILE_LINE_MAX)
                   : TG_OK;
    }
    tg_pricefile head;
    tg_status st = tg_pricefile_parse(buf, (size_t)(nl - buf) + 1, &head, NULL, err);
    tg_pricefile_free(&head);
    return st;
}

/* Reads a whole stream into a buffer that the caller frees. */
static tg_status read_all(FILE *f, const char *path, char **buf_out, size_t *len_out, tg_err *err) {
    assert(f != NULL && path != NULL && buf_out != NULL && len_out != NULL);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < READ_CHUNK) {
            size_t cap_new = cap == 0 ? READ_CHUNK : cap * 2;
            char *p = cap_new <= TG_PRICEFILE_BYTES_MAX ? realloc(buf, cap_new) : NULL;
            if (p == NULL) {
                free(buf);
                return tg_err_set(err,
                                  cap_new > TG_PRICEFILE_BYTES_MAX ? TG_E_CAPACITY : TG_E_NOMEM,
                                  "%s: the file is too large to read into memory", path);
            }
            buf = p;
            cap = cap_new;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        bool first = len == 0;
        len += n;
        if (first && n > 0) {
            tg_err why;
            tg_err_clear(&why);
            if (check_start(buf, len, n < cap, &why) != TG_OK) {
                free(buf);
                return tg_err_set(err, TG_E_INVALID, "%s: %s", path, why.msg);
            }
        }
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        int errnum = errno;
        free(buf);
        return tg_err_set(err, TG_E_IO, "%s: cannot read: %s", path, strerror(errnum));
    }
    assert(buf != NULL && len <= cap && cap <= TG_PRICEFILE_BYTES_MAX);
    *buf_out = buf;
    *len_out = len;
    return TG_OK;
}

tg_status tg_pricefile_load(const char *path, tg_pricefile *out, const tg_progress *progress,
                            tg_err *err) {
    assert(path != NULL);
    assert(out != NULL);
    memset(out, 0, sizeof *out);
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL) {
        return tg_err_set(err, TG_E_IO, "cannot open %s: %s", path, strerror(errno));
    }
    char *buf = NULL;
    size_t len = 0;
    tg_status st = read_all(f, path, &buf, &len, err);
    if (!is_stdin) {
        fclose(f);
    }
    if (st != TG_OK) {
        return st;
    }
    tg_err inner;
    tg_err_clear(&inner);
    st = tg_pricefile_parse(buf, len, out, progress, &inner);
    free(buf);
    if (st != TG_OK) {
        return tg_err_set(err, st, "%s: %s", path, inner.msg);
    }
    return TG_OK;
}
