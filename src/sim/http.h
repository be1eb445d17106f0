/*
 * sim/http.h — the emulator's HTTP/1.1 and WebSocket wire parsers.
 *
 * Pure functions over bytes received from a socket: no allocation, no I/O.
 * Every buffer has a fixed bound and anything that does not fit, or does not
 * follow the grammar, is rejected so the server can answer 400 (or 413/431)
 * and close. These are the functions fuzz/fuzz_sim_http.c exercises.
 */
#ifndef TG_SIM_HTTP_H
#define TG_SIM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_METHOD_MAX     8     /* bytes of a method, including the NUL */
#define SIM_PATH_MAX       256   /* bytes of a path */
#define SIM_QUERY_MAX      4096  /* bytes of a raw query string */
#define SIM_HEADERS_MAX    32    /* header lines per request */
#define SIM_HNAME_MAX      64    /* bytes of a header name */
#define SIM_HVALUE_MAX     512   /* bytes of a header value */
#define SIM_HEAD_BYTES_MAX 16384 /* bytes of the request line plus headers */
#define SIM_BODY_MAX       65536 /* bytes of a request body */
#define SIM_PARAMS_MAX     64    /* parameters in a query or form body */
#define SIM_PNAME_MAX      48    /* bytes of a decoded parameter name */
#define SIM_PVALUE_MAX     512   /* bytes of a decoded parameter value */

typedef enum sim_parse {
    SIM_PARSE_MORE = 0,     /* the request is not complete yet */
    SIM_PARSE_DONE = 1,     /* a whole request was parsed */
    SIM_PARSE_BAD = -1,     /* malformed: answer 400 and close */
    SIM_PARSE_TOO_BIG = -2, /* a bound was exceeded: answer 413/431 and close */
} sim_parse;

typedef struct sim_http_req {
    char method[SIM_METHOD_MAX];                  /* "GET", "POST", "PUT", "DELETE" */
    char path[SIM_PATH_MAX];                      /* raw path, before '?' */
    char query[SIM_QUERY_MAX];                    /* raw query after '?', "" if none */
    size_t header_count;                          /* headers kept */
    char hname[SIM_HEADERS_MAX][SIM_HNAME_MAX];   /* header names, lower-cased */
    char hvalue[SIM_HEADERS_MAX][SIM_HVALUE_MAX]; /* header values, trimmed */
    const char *body;                             /* points into the parsed buffer */
    size_t body_len;                              /* bytes of body (Content-Length) */
    bool keep_alive;                              /* HTTP/1.1 without "Connection: close" */
    bool upgrade;                                 /* "Upgrade: websocket" was asked */
} sim_http_req;

/* Parses one request from buf[0..len). On SIM_PARSE_DONE, *consumed is the
 * number of bytes it used (head and body); req->body points into buf. */
sim_parse sim_http_parse(const char *buf, size_t len, sim_http_req *req, size_t *consumed);

/* The value of a header (name in lower case), or NULL. */
const char *sim_http_header(const sim_http_req *req, const char *name);

/* Decoded name=value pairs of a query string or form body. */
typedef struct sim_params {
    size_t count;                               /* pairs kept */
    char name[SIM_PARAMS_MAX][SIM_PNAME_MAX];   /* decoded names */
    char value[SIM_PARAMS_MAX][SIM_PVALUE_MAX]; /* decoded values */
} sim_params;

/* Adds the pairs of s[0..len) (percent- and '+'-decoded) to p. A name that is
 * already present keeps its first value, so parsing the query before the body
 * makes the query win as on Binance. Returns false on bad escapes or when a
 * bound is exceeded. */
bool sim_params_parse(const char *s, size_t len, sim_params *p);

/* The value of a parameter, or NULL. */
const char *sim_param(const sim_params *p, const char *name);

/* One WebSocket frame from a client. */
typedef struct sim_ws_frame {
    bool fin;             /* last fragment */
    uint8_t opcode;       /* 1 text, 2 binary, 8 close, 9 ping, 10 pong, 0 continuation */
    bool masked;          /* clients must mask (RFC 6455 5.1) */
    uint8_t mask[4];      /* masking key */
    size_t header_len;    /* bytes before the payload */
    uint64_t payload_len; /* bytes of payload */
} sim_ws_frame;

/* Reads a frame header; payload bytes follow at buf + header_len. Frames
 * larger than max_payload are SIM_PARSE_TOO_BIG. */
sim_parse sim_ws_frame_parse(const uint8_t *buf, size_t len, size_t max_payload, sim_ws_frame *f);

/* Is s[0..len) well-formed UTF-8 (no overlong forms, no surrogates, nothing
 * above U+10FFFF)? */
bool sim_utf8_valid(const uint8_t *s, size_t len);

/* Unmasks payload in place. */
void sim_ws_unmask(uint8_t *payload, size_t len, const uint8_t mask[4]);

/* Writes a server (unmasked) frame header for a payload of len bytes;
 * returns its size (2, 4 or 10). hdr must hold 10 bytes. */
size_t sim_ws_frame_header(uint8_t opcode, uint64_t len, uint8_t hdr[10]);

#endif
