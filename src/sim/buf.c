/* Response text: a growable buffer with a hard ceiling, and JSON helpers. */
#define _POSIX_C_SOURCE 200809L /* pthread types through uv.h, strcasecmp */

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sim/sim_int.h"

#define BUF_INITIAL 1024 /* bytes allocated at the first write */

void sim_buf_init(sim_buf *b) {
    assert(b != NULL);
    memset(b, 0, sizeof *b);
}

void sim_buf_free(sim_buf *b) {
    assert(b != NULL);
    free(b->p);
    memset(b, 0, sizeof *b);
}

void sim_buf_reset(sim_buf *b) {
    assert(b != NULL);
    b->len = 0;
    b->overflow = false;
    if (b->p != NULL) {
        b->p[0] = '\0';
    }
}

/* Makes room for n more bytes plus the NUL; false when past the ceiling. */
static bool buf_reserve(sim_buf *b, size_t n) {
    assert(b != NULL);
    if (b->overflow) {
        return false;
    }
    if (b->len + n + 1 > SIM_RESP_MAX) {
        b->overflow = true;
        return false;
    }
    if (b->len + n + 1 <= b->cap) {
        assert(b->p != NULL);
        return true;
    }
    size_t cap = b->cap == 0 ? BUF_INITIAL : b->cap;
    while (cap < b->len + n + 1) {
        cap *= 2;
    }
    if (cap > SIM_RESP_MAX) {
        cap = SIM_RESP_MAX;
    }
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->overflow = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    assert(b->len + n + 1 <= b->cap && b->cap <= SIM_RESP_MAX);
    return true;
}

void sim_buf_add(sim_buf *b, const char *s, size_t n) {
    assert(b != NULL && (s != NULL || n == 0));
    if (!buf_reserve(b, n)) {
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    assert(b->len < b->cap && b->cap <= SIM_RESP_MAX);
    b->p[b->len] = '\0';
}

void sim_buf_puts(sim_buf *b, const char *s) {
    assert(b != NULL);
    sim_buf_add(b, s, strlen(s));
}

void sim_buf_printf(sim_buf *b, const char *fmt, ...) {
    assert(b != NULL && fmt != NULL);
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n < sizeof small) {
        sim_buf_add(b, small, (size_t)n);
        return;
    }
    if (!buf_reserve(b, (size_t)n)) {
        return;
    }
    va_start(ap, fmt);
    int m = vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    assert(m == n);
    b->len += (size_t)n;
    assert(b->len < b->cap);
}

void sim_buf_jstr(sim_buf *b, const char *s) {
    assert(b != NULL);
    assert(s != NULL);
    sim_buf_add(b, "\"", 1);
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sim_buf_add(b, esc, 2);
        } else if (c < 0x20) {
            sim_buf_printf(b, "\\u%04x", c);
        } else {
            sim_buf_add(b, p, 1);
        }
    }
    sim_buf_add(b, "\"", 1);
}

void sim_buf_jdec(sim_buf *b, tg_dec v, int dp) {
    assert(b != NULL);
    char text[TG_DEC_STR_MAX];
    size_t n = tg_dec_format(v, dp, text);
    sim_buf_add(b, "\"", 1);
    sim_buf_add(b, text, n);
    sim_buf_add(b, "\"", 1);
}

void sim_resp_header(sim_resp *r, const char *fmt, ...) {
    assert(r != NULL && fmt != NULL);
    size_t room = sizeof r->headers - r->headers_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->headers + r->headers_len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 2 >= room) {
        r->headers[r->headers_len] = '\0'; /* a header that does not fit is left out */
        return;
    }
    r->headers_len += (size_t)n;
    memcpy(r->headers + r->headers_len, "\r\n", 3);
    r->headers_len += 2;
}

void sim_strlcpy(char *dst, const char *src, size_t cap) {
    assert(dst != NULL && src != NULL && cap > 0);
    size_t n = strlen(src);
    n = n < cap - 1 ? n : cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

bool sim_json_int(const cJSON *v, int64_t min, int64_t max, int64_t *out) {
    assert(min <= max && out != NULL);
    assert(min >= -SIM_JSON_INT_MAX && max <= SIM_JSON_INT_MAX);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
        return false;
    }
    double d = v->valuedouble;
    if (d < (double)min || d > (double)max || d != floor(d)) {
        return false;
    }
    *out = (int64_t)d;
    return true;
}

bool sim_text_int(const char *s, int64_t min, int64_t max, int64_t *out) {
    assert(min <= max && out != NULL);
    if (s == NULL) {
        return false;
    }
    bool neg = *s == '-';
    const char *p = neg ? s + 1 : s;
    if (*p == '\0' || (neg && min >= 0)) {
        return false;
    }
    int64_t n = 0;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        int d = *p - '0';
        if (n > (INT64_MAX - d) / 10) {
            return false; /* would overflow: out of any range we accept */
        }
        n = n * 10 + d;
    }
    n = neg ? -n : n;
    if (n < min || n > max) {
        return false;
    }
    *out = n;
    return true;
}
