/*
 * venue/wire_json.h — small cJSON readers shared by the decoders: bounded
 * string copies, decimals from strings, integers from numbers or strings.
 */
#ifndef TG_VENUE_WIRE_JSON_H
#define TG_VENUE_WIRE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "trailguard/decimal.h"
#include "trailguard/error.h"

#define TG_WIRE_BODY_MAX (16u << 20) /* bytes of a body the decoders accept */

/* Parses len bytes (not NUL-terminated); NULL with err set on failure. */
cJSON *tg_wire_json_parse(const char *body, size_t len, const char *what, tg_err *err);

/* The string value of obj.name, or NULL. */
const char *tg_wire_json_str(const cJSON *obj, const char *name);
/* Copies obj.name into buf; false when absent, not a string or too long. */
bool tg_wire_json_copy(const cJSON *obj, const char *name, char *buf, size_t size);
/* True when s[0..n) is a symbol as the exchanges write them: letters and
 * digits, at least one. */
bool tg_wire_symbol_ok(const char *s, size_t n);
/* A symbol: 1.. size-1 letters and digits. */
bool tg_wire_json_symbol(const cJSON *obj, const char *name, char *buf, size_t size);
/* An id or client id: printable ASCII without spaces (may be empty). */
bool tg_wire_json_ident(const cJSON *obj, const char *name, char *buf, size_t size);
/* obj.name as a decimal: a string (the exchanges' form) or, for plain
 * integers only, a number. Absent or "" gives false. */
bool tg_wire_json_dec(const cJSON *obj, const char *name, tg_dec *out);
/* obj.name as an integer, from a number or a string of digits. */
bool tg_wire_json_i64(const cJSON *obj, const char *name, int64_t *out);
bool tg_wire_json_bool(const cJSON *obj, const char *name, bool *out);
/* An id that may be a number (Binance algoId) or a string, as text. */
bool tg_wire_json_id(const cJSON *obj, const char *name, char *buf, size_t size);

#endif
