/*
 * trailguard/error.h — errors are values.
 *
 * A function that can fail returns a tg_status and fills a tg_err with one
 * human sentence saying what was wrong and with which input. Library code
 * never prints; the caller decides where the sentence goes.
 */
#ifndef TRAILGUARD_ERROR_H
#define TRAILGUARD_ERROR_H

#define TG_ERR_MSG_MAX 256 /* bytes, including the terminating NUL */

typedef enum tg_status {
    TG_OK = 0,
    TG_E_INVALID,     /* bad input: a parameter, a file row, a command-line flag */
    TG_E_STATE,       /* the request does not fit the current state */
    TG_E_CAPACITY,    /* a fixed bound was reached (positions, symbols, buffer) */
    TG_E_IO,          /* reading or writing outside the process failed */
    TG_E_NOMEM,       /* allocation failed at set-up time */
    TG_E_CONFLICT,    /* another writer changed the row first (optimistic concurrency) */
    TG_E_UNAVAILABLE, /* a service is down, full, locked or corrupt; retry later */
} tg_status;

typedef struct tg_err {
    tg_status status;         /* TG_OK when nothing went wrong */
    char msg[TG_ERR_MSG_MAX]; /* one sentence, no trailing newline */
} tg_err;

/* Fills err (if not NULL) and returns status, so a failing path can read
 * `return tg_err_set(err, TG_E_INVALID, "...", ...);`. */
tg_status tg_err_set(tg_err *err, tg_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Resets err to TG_OK with an empty message. */
void tg_err_clear(tg_err *err);

#endif
