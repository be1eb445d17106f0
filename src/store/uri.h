/*
 * uri.h — how the store reads the shape of a URI or a libpq conninfo string,
 * shared by the backend selection (store.c), the mask (tg_store_uri_mask) and
 * the PostgreSQL connection (postgres.c), so that all three agree on where a
 * password is.
 */
#ifndef TG_STORE_URI_H
#define TG_STORE_URI_H

#include <stdbool.h>
#include <stddef.h>

/* A libpq key/value conninfo string ("host=... dbname=..."): its first
 * token is one of libpq's keywords followed by '=' (spaces allowed around
 * it, as libpq allows them), and it is not a URI. */
bool tg_uri_is_conninfo(const char *s);

/* Where the user-info of a "scheme://user:password@host..." URI is:
 * [*begin, *end) with uri[*end] == '@'. Passwords may hold '@', '/' and '?'
 * unencoded, so the user-info ends at the LAST '@' before the query string,
 * and the query string begins at the first "?keyword=" or "&keyword=" with
 * keyword one of libpq's. False when uri is not a URI or has no user-info. */
bool tg_uri_userinfo(const char *uri, size_t *begin, size_t *end);

/* Percent-decodes n bytes of s into out (room for n + 1 bytes) as libpq
 * does, except that a '%' not followed by two hex digits stays as it is.
 * False when the text decodes to a NUL byte. */
bool tg_uri_decode(const char *s, size_t n, char *out);

#endif
