/* Store URIs and libpq conninfo strings: where their passwords are, and the
 * one mask every message that names a store goes through. */
#include <assert.h>
#include <string.h>

#include "store/uri.h"
#include "trailguard/store.h"

#define VALUE_URI_MAX                                                                              \
    1024                  /* bytes of a URI inside a conninfo value; a longer one is hidden whole */
#define KEY_FOLDED_MAX 40 /* bytes of a decoded, lower-cased keyword; longer is none of libpq's */

/* libpq's connection keywords (PostgreSQL 17). */
static const char *const keywords[] = {
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcertmode",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "service",
    "target_session_attrs",
    "load_balance_hosts",
};

typedef struct mask_out {
    char *buf;  /* the caller's buffer */
    size_t cap; /* its size */
    size_t len; /* bytes written, NUL excluded */
} mask_out;

static void put(mask_out *o, const char *s, size_t n) {
    assert(o != NULL && o->buf != NULL && s != NULL);
    assert(o->cap > 0 && o->len < o->cap);
    size_t room = o->cap - 1 - o->len;
    n = n < room ? n : room;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
    assert(o->len < o->cap);
}

static bool is_ws(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static size_t span_ws(const char *p) {
    assert(p != NULL);
    return strspn(p, " \t\n\r\f\v");
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

bool tg_uri_decode(const char *s, size_t n, char *out) {
    assert(s != NULL && out != NULL);
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = s[i] == '%' && i + 2 < n ? hex_digit(s[i + 1]) : -1;
        int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
        if (lo >= 0) {
            out[d++] = (char)(hi * 16 + lo);
            i += 2;
            if (out[d - 1] == '\0') {
                return false;
            }
        } else {
            out[d++] = s[i];
        }
    }
    out[d] = '\0';
    assert(d <= n);
    return true;
}

/* n bytes of key, percent-decoded and lower-cased into folded; false when
 * too long to be a keyword. A mask errs on the side of hiding: libpq itself
 * matches keywords exactly, but "PASSWORD" is hidden as well. */
static bool fold_key(const char *key, size_t n, char folded[KEY_FOLDED_MAX]) {
    assert(key != NULL && folded != NULL);
    if (n >= KEY_FOLDED_MAX || !tg_uri_decode(key, n, folded)) {
        return false;
    }
    for (char *c = folded; *c != '\0'; c++) {
        *c = *c >= 'A' && *c <= 'Z' ? (char)(*c - 'A' + 'a') : *c;
    }
    assert(strlen(folded) <= n && strlen(folded) < KEY_FOLDED_MAX);
    return true;
}

static bool is_keyword(const char *key, size_t n, bool exact) {
    assert(key != NULL);
    char folded[KEY_FOLDED_MAX];
    if (!exact && !fold_key(key, n, folded)) {
        return false;
    }
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++) {
        const char *k = exact ? key : folded;
        size_t len = exact ? n : strlen(folded);
        if (strlen(keywords[i]) == len && memcmp(keywords[i], k, len) == 0) {
            return true;
        }
    }
    return false;
}

static bool is_secret_key(const char *key, size_t n) {
    assert(key != NULL);
    char folded[KEY_FOLDED_MAX];
    return fold_key(key, n, folded) &&
           (strcmp(folded, "password") == 0 || strcmp(folded, "sslpassword") == 0);
}

/* Bytes of "scheme://" at the start of s, 0 when s is not a URI. */
static size_t scheme_len(const char *s) {
    assert(s != NULL);
    size_t n = 0;
    bool alpha = (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z');
    if (alpha) {
        n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    }
    assert(n <= strlen(s));
    return n > 0 && strncmp(s + n, "://", 3) == 0 ? n + 3 : 0;
}

/* A URI query parameter "keyword=" starts at p. */
static bool uri_assign_at(const char *p) {
    assert(p != NULL);
    size_t key = strcspn(p, "=&?/@");
    return p[key] == '=' && is_keyword(p, key, false);
}

/* A conninfo "keyword =" starts at p; exact as libpq reads it, or folded as
 * the mask does. */
static bool conninfo_assign_at(const char *p, bool exact) {
    assert(p != NULL);
    size_t key = strcspn(p, " \t\n\r\f\v=");
    return key > 0 && is_keyword(p, key, exact) && p[key + span_ws(p + key)] == '=';
}

bool tg_uri_is_conninfo(const char *s) {
    assert(s != NULL);
    return scheme_len(s) == 0 && conninfo_assign_at(s + span_ws(s), true);
}

/* Offset of the query string: the first "?keyword=" or "&keyword=" at or
 * after from; strlen(uri) when there is none. */
static size_t query_start(const char *uri, size_t from) {
    assert(uri != NULL && from <= strlen(uri));
    size_t i = from;
    for (; uri[i] != '\0'; i++) {
        if ((uri[i] == '?' || uri[i] == '&') && uri_assign_at(uri + i + 1)) {
            break;
        }
    }
    return i;
}

bool tg_uri_userinfo(const char *uri, size_t *begin, size_t *end) {
    assert(uri != NULL && begin != NULL && end != NULL);
    size_t body = scheme_len(uri);
    if (body == 0) {
        return false;
    }
    size_t q = query_start(uri, body);
    for (size_t i = q; i > body; i--) {
        if (uri[i - 1] == '@') {
            *begin = body;
            *end = i - 1;
            assert(*begin <= *end && uri[*end] == '@');
            return true;
        }
    }
    return false;
}

static void mask_uri(const char *uri, mask_out *o) {
    assert(uri != NULL && o != NULL);
    size_t begin = 0, end = 0;
    const char *p = uri + scheme_len(uri);
    put(o, uri, (size_t)(p - uri));
    if (tg_uri_userinfo(uri, &begin, &end)) {
        put(o, "***@", 4);
        p = uri + end + 1;
    }
    size_t path = strcspn(p, "?");
    put(o, p, path);
    p += path;
    while (*p != '\0') { /* at '?' first, then at each '&' */
        put(o, p, 1);
        p++;
        size_t key = strcspn(p, "=&");
        if (p[key] == '=' && is_secret_key(p, key)) {
            put(o, p, key + 1);
            put(o, "***", 3);
            p += key + 1;
            /* an unencoded '&' may be the password's: hide up to the next
             * parameter libpq knows */
            while (*p != '\0' && !(*p == '&' && uri_assign_at(p + 1))) {
                p++;
            }
        } else {
            size_t param = strcspn(p, "&");
            put(o, p, param);
            p += param;
        }
    }
}

/* The end of a conninfo value at p, quoted ('a b\' c') or not, as libpq
 * reads it; an unterminated quote runs to the end. */
static const char *value_end(const char *p) {
    assert(p != NULL);
    const char *start = p;
    bool quoted = *p == '\'';
    p += quoted ? 1 : 0;
    while (*p != '\0' && (quoted ? *p != '\'' : !is_ws(*p))) {
        p += p[0] == '\\' && p[1] != '\0' ? 2 : 1;
    }
    const char *end = quoted && *p == '\'' ? p + 1 : p;
    assert(end >= start && (size_t)(end - start) <= strlen(start));
    return end;
}

/* A conninfo value; a URI in it (dbname=postgresql://...) is masked too.
 * One that does not fit VALUE_URI_MAX, before or after its mask, is hidden
 * whole. The bound is applied to the mask as well because a mask can be
 * longer than its input ("a@" becomes "***@"): a value just under the
 * bound would otherwise be shown masked once and hidden whole when that
 * mask is masked again, and the mask would not be idempotent. */
static void put_value(mask_out *o, const char *value, size_t n) {
    assert(o != NULL && value != NULL);
    char uri[VALUE_URI_MAX], masked[VALUE_URI_MAX];
    if (scheme_len(value) == 0 || scheme_len(value) > n) {
        put(o, value, n);
        return;
    }
    mask_out m = {.buf = masked, .cap = sizeof masked, .len = 0};
    if (n < sizeof uri) {
        memcpy(uri, value, n);
        uri[n] = '\0';
        masked[0] = '\0';
        mask_uri(uri, &m);
    }
    if (n >= sizeof uri || m.len >= sizeof masked - 1) {
        put(o, "***", 3);
        return;
    }
    put(o, masked, m.len);
}

static void mask_conninfo(const char *s, mask_out *o) {
    assert(s != NULL && o != NULL);
    const char *p = s;
    while (*p != '\0') {
        size_t n = span_ws(p);
        put(o, p, n);
        p += n;
        const char *key = p;
        size_t key_len = strcspn(p, " \t\n\r\f\v=");
        n = key_len + span_ws(p + key_len);
        put(o, p, n);
        p += n;
        if (*p != '=') {
            continue; /* libpq refuses it; nothing to hide */
        }
        n = 1 + span_ws(p + 1);
        put(o, p, n);
        p += n;
        const char *value = p;
        p = value_end(p);
        if (!is_secret_key(key, key_len)) {
            put_value(o, value, (size_t)(p - value));
            continue;
        }
        put(o, "***", 3);
        /* what follows up to the next keyword may be the password's too
         * (an unquoted space, text after the closing quote) */
        while (*p != '\0') {
            n = span_ws(p);
            if (n > 0 && conninfo_assign_at(p + n, false)) {
                break;
            }
            p += n > 0 ? n : 1;
        }
    }
}

size_t tg_store_uri_mask(const char *uri, char *buf, size_t cap) {
    assert(uri != NULL && buf != NULL && cap > 0);
    mask_out o = {.buf = buf, .cap = cap, .len = 0};
    buf[0] = '\0';
    if (scheme_len(uri) > 0) {
        mask_uri(uri, &o);
    } else {
        mask_conninfo(uri, &o); /* a plain path comes through unchanged */
    }
    assert(o.len < cap && buf[o.len] == '\0');
    return o.len;
}
