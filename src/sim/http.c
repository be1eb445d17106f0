/* The emulator's byte parsers: HTTP/1.1 requests, query strings and form
 * bodies, WebSocket frame headers. Everything is bounded; see sim/http.h. */
#define _POSIX_C_SOURCE 200809L /* pthread types through uv.h, strcasecmp */

#include "sim/http.h"

#include <assert.h>
#include <string.h>

#define CONTENT_LENGTH_DIGITS_MAX 9 /* digits of a Content-Length we accept */

static bool is_token_char(char c) {
    if (c >= 'a' && c <= 'z') {
        return true;
    }
    if (c >= 'A' && c <= 'Z') {
        return true;
    }
    if (c >= '0' && c <= '9') {
        return true;
    }
    return strchr("!#$%&'*+-.^_`|~", c) != NULL && c != '\0';
}

static char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive: does the comma-separated header value contain token? */
static bool value_has_token(const char *value, const char *token) {
    size_t tlen = strlen(token);
    const char *p = value;
    while (*p != '\0') {
        while (*p == ' ' || *p == ',' || *p == '\t') {
            p++;
        }
        const char *start = p;
        while (*p != '\0' && *p != ',') {
            p++;
        }
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
            end--;
        }
        if ((size_t)(end - start) == tlen) {
            size_t i = 0;
            while (i < tlen && lower(start[i]) == lower(token[i])) {
                i++;
            }
            if (i == tlen) {
                return true;
            }
        }
    }
    return false;
}

/* Parses "METHOD SP target SP HTTP/1.x" in line[0..len). */
static sim_parse parse_request_line(const char *line, size_t len, sim_http_req *req, bool *http11) {
    assert(req != NULL);
    size_t i = 0;
    while (i < len && line[i] >= 'A' && line[i] <= 'Z') {
        i++;
    }
    if (i == 0 || i >= SIM_METHOD_MAX || i >= len || line[i] != ' ') {
        return SIM_PARSE_BAD;
    }
    memcpy(req->method, line, i);
    req->method[i] = '\0';
    size_t t = ++i;
    while (i < len && line[i] != ' ') {
        if ((unsigned char)line[i] <= 0x20 || (unsigned char)line[i] >= 0x7f) {
            return SIM_PARSE_BAD;
        }
        i++;
    }
    if (i == t || i >= len || line[t] != '/') {
        return SIM_PARSE_BAD;
    }
    const char *target = line + t;
    size_t tlen = i - t;
    const char *q = memchr(target, '?', tlen);
    size_t plen = q != NULL ? (size_t)(q - target) : tlen;
    size_t qlen = q != NULL ? tlen - plen - 1 : 0;
    if (plen >= SIM_PATH_MAX || qlen >= SIM_QUERY_MAX) {
        return SIM_PARSE_TOO_BIG;
    }
    memcpy(req->path, target, plen);
    req->path[plen] = '\0';
    if (q != NULL) {
        memcpy(req->query, q + 1, qlen);
    }
    req->query[qlen] = '\0';
    const char *ver = line + i + 1;
    size_t vlen = len - i - 1;
    if (vlen != 8 || memcmp(ver, "HTTP/1.", 7) != 0 || (ver[7] != '0' && ver[7] != '1')) {
        return SIM_PARSE_BAD;
    }
    *http11 = ver[7] == '1';
    return SIM_PARSE_DONE;
}

/* Parses "Name: value" in line[0..len) into the next header slot. */
static sim_parse parse_header_line(const char *line, size_t len, sim_http_req *req) {
    assert(req != NULL);
    size_t i = 0;
    while (i < len && is_token_char(line[i])) {
        i++;
    }
    if (i == 0 || i >= len || line[i] != ':') {
        return SIM_PARSE_BAD;
    }
    if (req->header_count >= SIM_HEADERS_MAX || i >= SIM_HNAME_MAX) {
        return SIM_PARSE_TOO_BIG;
    }
    size_t h = req->header_count++;
    for (size_t k = 0; k < i; k++) {
        req->hname[h][k] = lower(line[k]);
    }
    req->hname[h][i] = '\0';
    size_t v = i + 1;
    while (v < len && (line[v] == ' ' || line[v] == '\t')) {
        v++;
    }
    size_t end = len;
    while (end > v && (line[end - 1] == ' ' || line[end - 1] == '\t')) {
        end--;
    }
    if (end - v >= SIM_HVALUE_MAX) {
        return SIM_PARSE_TOO_BIG;
    }
    for (size_t k = v; k < end; k++) {
        unsigned char c = (unsigned char)line[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return SIM_PARSE_BAD;
        }
    }
    memcpy(req->hvalue[h], line + v, end - v);
    req->hvalue[h][end - v] = '\0';
    return SIM_PARSE_DONE;
}

static sim_parse parse_content_length(const char *text, size_t *out) {
    size_t n = 0;
    size_t digits = 0;
    for (const char *p = text; *p != '\0'; p++, digits++) {
        if (*p < '0' || *p > '9' || digits >= CONTENT_LENGTH_DIGITS_MAX) {
            return digits >= CONTENT_LENGTH_DIGITS_MAX ? SIM_PARSE_TOO_BIG : SIM_PARSE_BAD;
        }
        n = n * 10 + (size_t)(*p - '0');
    }
    if (digits == 0) {
        return SIM_PARSE_BAD;
    }
    *out = n;
    return n > SIM_BODY_MAX ? SIM_PARSE_TOO_BIG : SIM_PARSE_DONE;
}

/* Applies what the headers mean for framing and the connection. */
static sim_parse interpret_headers(sim_http_req *req, bool http11, size_t *body_len) {
    assert(req != NULL);
    *body_len = 0;
    if (sim_http_header(req, "transfer-encoding") != NULL) {
        return SIM_PARSE_BAD; /* chunked bodies are not accepted: clients send Content-Length */
    }
    /* Every Content-Length line must agree: two different ones make the
     * body's end ambiguous (request smuggling), RFC 9112 6.3. */
    bool have_length = false;
    for (size_t i = 0; i < req->header_count; i++) {
        if (strcmp(req->hname[i], "content-length") != 0) {
            continue;
        }
        size_t n = 0;
        sim_parse r = parse_content_length(req->hvalue[i], &n);
        if (r != SIM_PARSE_DONE) {
            return r;
        }
        if (have_length && n != *body_len) {
            return SIM_PARSE_BAD;
        }
        have_length = true;
        *body_len = n;
    }
    const char *conn = sim_http_header(req, "connection");
    req->keep_alive = http11;
    if (conn != NULL && value_has_token(conn, "close")) {
        req->keep_alive = false;
    }
    if (conn != NULL && value_has_token(conn, "keep-alive")) {
        req->keep_alive = true;
    }
    const char *up = sim_http_header(req, "upgrade");
    req->upgrade = up != NULL && value_has_token(up, "websocket") && conn != NULL &&
                   value_has_token(conn, "upgrade");
    return SIM_PARSE_DONE;
}

sim_parse sim_http_parse(const char *buf, size_t len, sim_http_req *req, size_t *consumed) {
    assert(buf != NULL || len == 0);
    assert(req != NULL && consumed != NULL);
    memset(req, 0, offsetof(sim_http_req, hname));
    size_t scan = len < SIM_HEAD_BYTES_MAX ? len : SIM_HEAD_BYTES_MAX;
    const char *end = NULL;
    for (size_t i = 0; i < scan; i++) {
        if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')) {
            return SIM_PARSE_BAD; /* a bare LF would never end the head: answer, not hang */
        }
        if (i + 3 < scan && buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' &&
            buf[i + 3] == '\n') {
            end = buf + i;
            break;
        }
    }
    if (end == NULL) {
        return len >= SIM_HEAD_BYTES_MAX ? SIM_PARSE_TOO_BIG : SIM_PARSE_MORE;
    }
    bool http11 = false;
    const char *line = buf;
    bool first = true;
    while (line < end) {
        const char *eol = line;
        while (eol < end && !(eol[0] == '\r' && eol[1] == '\n')) {
            if (*eol == '\n' || *eol == '\r' || *eol == '\0') {
                return SIM_PARSE_BAD;
            }
            eol++;
        }
        size_t llen = (size_t)(eol - line);
        sim_parse r = first ? parse_request_line(line, llen, req, &http11)
                            : parse_header_line(line, llen, req);
        if (r != SIM_PARSE_DONE) {
            return r;
        }
        first = false;
        line = eol + 2;
    }
    if (first) {
        return SIM_PARSE_BAD;
    }
    size_t body_len = 0;
    sim_parse r = interpret_headers(req, http11, &body_len);
    if (r != SIM_PARSE_DONE) {
        return r;
    }
    size_t head = (size_t)(end - buf) + 4;
    if (len - head < body_len) {
        return SIM_PARSE_MORE;
    }
    req->body = buf + head;
    req->body_len = body_len;
    *consumed = head + body_len;
    assert(*consumed <= len);
    return SIM_PARSE_DONE;
}

const char *sim_http_header(const sim_http_req *req, const char *name) {
    assert(req != NULL && name != NULL);
    for (size_t i = 0; i < req->header_count; i++) {
        if (strcmp(req->hname[i], name) == 0) {
            return req->hvalue[i];
        }
    }
    return NULL;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Percent-decodes s[0..len) into out (cap bytes with the NUL). */
static bool decode_component(const char *s, size_t len, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len) {
                return false;
            }
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) {
                return false;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= cap) {
            return false;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

bool sim_params_parse(const char *s, size_t len, sim_params *p) {
    assert(p != NULL);
    assert(s != NULL || len == 0);
    size_t i = 0;
    while (i < len) {
        size_t start = i;
        while (i < len && s[i] != '&') {
            i++;
        }
        size_t plen = i - start;
        i++; /* skip '&' */
        if (plen == 0) {
            continue;
        }
        const char *pair = s + start;
        const char *eq = memchr(pair, '=', plen);
        size_t nlen = eq != NULL ? (size_t)(eq - pair) : plen;
        char name[SIM_PNAME_MAX];
        char value[SIM_PVALUE_MAX];
        if (!decode_component(pair, nlen, name, sizeof name)) {
            return false;
        }
        size_t vlen = eq != NULL ? plen - nlen - 1 : 0;
        if (!decode_component(eq != NULL ? eq + 1 : pair, vlen, value, sizeof value)) {
            return false;
        }
        if (sim_param(p, name) != NULL) {
            continue;
        }
        if (p->count >= SIM_PARAMS_MAX) {
            return false;
        }
        memcpy(p->name[p->count], name, sizeof name);
        memcpy(p->value[p->count], value, sizeof value);
        p->count++;
    }
    return true;
}

const char *sim_param(const sim_params *p, const char *name) {
    assert(p != NULL && name != NULL);
    for (size_t i = 0; i < p->count; i++) {
        if (strcmp(p->name[i], name) == 0) {
            return p->value[i];
        }
    }
    return NULL;
}

sim_parse sim_ws_frame_parse(const uint8_t *buf, size_t len, size_t max_payload, sim_ws_frame *f) {
    assert(buf != NULL || len == 0);
    assert(f != NULL);
    memset(f, 0, sizeof *f);
    if (len < 2) {
        return SIM_PARSE_MORE;
    }
    if ((buf[0] & 0x70) != 0) {
        return SIM_PARSE_BAD; /* no extension was negotiated, so RSV bits must be 0 */
    }
    f->fin = (buf[0] & 0x80) != 0;
    f->opcode = buf[0] & 0x0f;
    f->masked = (buf[1] & 0x80) != 0;
    uint64_t plen = buf[1] & 0x7f;
    size_t h = 2;
    if (plen == 126) {
        if (len < 4) {
            return SIM_PARSE_MORE;
        }
        plen = ((uint64_t)buf[2] << 8) | buf[3];
        h = 4;
    } else if (plen == 127) {
        if (len < 10) {
            return SIM_PARSE_MORE;
        }
        plen = 0;
        for (int i = 0; i < 8; i++) {
            plen = (plen << 8) | buf[2 + i];
        }
        h = 10;
    }
    if (f->opcode >= 8 && (plen > 125 || !f->fin)) {
        return SIM_PARSE_BAD; /* control frames are short and never fragmented */
    }
    if (plen > max_payload) {
        return SIM_PARSE_TOO_BIG;
    }
    if (f->masked) {
        if (len < h + 4) {
            return SIM_PARSE_MORE;
        }
        memcpy(f->mask, buf + h, 4);
        h += 4;
    }
    f->header_len = h;
    f->payload_len = plen;
    return len - h >= plen ? SIM_PARSE_DONE : SIM_PARSE_MORE;
}

bool sim_utf8_valid(const uint8_t *s, size_t len) {
    assert(s != NULL || len == 0);
    size_t i = 0;
    while (i < len) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t n = b >= 0xf0 ? 3 : (b >= 0xe0 ? 2 : 1);
        /* lead bytes: C2..DF (2), E0..EF (3), F0..F4 (4) */
        if (b < 0xc2 || b > 0xf4 || len - i <= n) {
            return false;
        }
        uint8_t lo = 0x80, hi = 0xbf;
        if (b == 0xe0) {
            lo = 0xa0; /* overlong */
        } else if (b == 0xed) {
            hi = 0x9f; /* surrogates */
        } else if (b == 0xf0) {
            lo = 0x90; /* overlong */
        } else if (b == 0xf4) {
            hi = 0x8f; /* above U+10FFFF */
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
        }
        i += n + 1;
    }
    return true;
}

void sim_ws_unmask(uint8_t *payload, size_t len, const uint8_t mask[4]) {
    assert(payload != NULL || len == 0);
    for (size_t i = 0; i < len; i++) {
        payload[i] ^= mask[i % 4];
    }
}

size_t sim_ws_frame_header(uint8_t opcode, uint64_t len, uint8_t hdr[10]) {
    assert(opcode <= 0x0f);
    hdr[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        hdr[1] = (uint8_t)len;
        return 2;
    }
    if (len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (uint8_t)(len >> 8);
        hdr[3] = (uint8_t)len;
        return 4;
    }
    hdr[1] = 127;
    for (int i = 0; i < 8; i++) {
        hdr[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    }
    return 10;
}
