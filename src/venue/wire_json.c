#include "venue/wire_json.h"

#include "venue/wire.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(offsetof(tg_wire_frame, events) == 0, "the events come first in a frame");

void tg_wire_frame_reset(tg_wire_frame *out) {
    assert(out != NULL);
    memset((char *)out + offsetof(tg_wire_frame, count), 0,
           sizeof *out - offsetof(tg_wire_frame, count));
    assert(out->count == 0 && !out->ack && out->msg[0] == '\0');
}

cJSON *tg_wire_json_parse(const char *body, size_t len, const char *what, tg_err *err) {
    assert(what != NULL);
    if (body == NULL || len == 0) {
        tg_err_set(err, TG_E_INVALID, "%s: empty response body", what);
        return NULL;
    }
    if (len > TG_WIRE_BODY_MAX) {
        tg_err_set(err, TG_E_CAPACITY, "%s: response body of %zu bytes is over the limit", what,
                   len);
        return NULL;
    }
    assert(len <= TG_WIRE_BODY_MAX);
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (root == NULL) {
        tg_err_set(err, TG_E_INVALID, "%s: response is not JSON", what);
    }
    return root;
}

const char *tg_wire_json_str(const cJSON *obj, const char *name) {
    assert(name != NULL);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(it) ? it->valuestring : NULL;
}

bool tg_wire_json_copy(const cJSON *obj, const char *name, char *buf, size_t size) {
    assert(buf != NULL && size > 0);
    const char *s = tg_wire_json_str(obj, name);
    if (s == NULL) {
        return false;
    }
    size_t n = strlen(s);
    if (n >= size) {
        return false;
    }
    memcpy(buf, s, n + 1);
    assert(strlen(buf) < size);
    return true;
}

bool tg_wire_symbol_ok(const char *s, size_t n) {
    assert(s != NULL || n == 0);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            return false;
        }
    }
    return n > 0;
}

bool tg_wire_json_symbol(const cJSON *obj, const char *name, char *buf, size_t size) {
    assert(buf != NULL && size > 0);
    if (!tg_wire_json_copy(obj, name, buf, size) || !tg_wire_symbol_ok(buf, strlen(buf))) {
        buf[0] = '\0';
        return false;
    }
    return true;
}

bool tg_wire_json_ident(const cJSON *obj, const char *name, char *buf, size_t size) {
    assert(buf != NULL && size > 0);
    if (!tg_wire_json_copy(obj, name, buf, size)) {
        return false;
    }
    for (const char *p = buf; *p != '\0'; p++) {
        if (*p <= ' ' || *p > '~') {
            buf[0] = '\0';
            return false;
        }
    }
    return true;
}

bool tg_wire_json_dec(const cJSON *obj, const char *name, tg_dec *out) {
    assert(name != NULL);
    assert(out != NULL);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsString(it)) {
        const char *s = it->valuestring;
        return s[0] != '\0' && tg_dec_parse(s, strlen(s), out, NULL) == TG_DEC_OK;
    }
    if (cJSON_IsNumber(it)) {
        /* Only whole numbers are taken from a JSON number: the digits of a
         * fraction would already have passed through a double. */
        double d = it->valuedouble;
        if (!(d >= -9.0e10 && d <= 9.0e10) || d != floor(d)) {
            return false;
        }
        return tg_dec_from_int((int64_t)d, out) == TG_DEC_OK;
    }
    return false;
}

bool tg_wire_json_i64(const cJSON *obj, const char *name, int64_t *out) {
    assert(name != NULL);
    assert(out != NULL);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsNumber(it)) {
        double d = it->valuedouble;
        if (!(d >= -9.0e15 && d <= 9.0e15)) {
            return false;
        }
        *out = (int64_t)d;
        return true;
    }
    if (cJSON_IsString(it)) {
        const char *s = it->valuestring;
        char *end = NULL;
        if (s[0] == '\0' || strlen(s) > 20) {
            return false;
        }
        long long v = strtoll(s, &end, 10);
        if (*end != '\0') {
            return false;
        }
        *out = (int64_t)v;
        return true;
    }
    return false;
}

bool tg_wire_json_bool(const cJSON *obj, const char *name, bool *out) {
    assert(name != NULL);
    assert(out != NULL);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsBool(it)) {
        *out = cJSON_IsTrue(it);
        return true;
    }
    if (cJSON_IsString(it)) {
        *out = strcmp(it->valuestring, "true") == 0 || strcmp(it->valuestring, "TRUE") == 0;
        return true;
    }
    return false;
}

bool tg_wire_json_id(const cJSON *obj, const char *name, char *buf, size_t size) {
    assert(name != NULL);
    assert(buf != NULL && size > 0);
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (cJSON_IsNumber(it)) {
        double d = it->valuedouble;
        if (!(d >= 0 && d <= 9.0e15) || d != floor(d)) {
            return false;
        }
        int n = snprintf(buf, size, "%" PRId64, (int64_t)d);
        return n > 0 && (size_t)n < size;
    }
    return tg_wire_json_ident(obj, name, buf, size) && buf[0] != '\0';
}
