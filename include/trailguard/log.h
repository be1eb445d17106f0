/*
 * trailguard/log.h — one line per event, in logfmt, for the daemon.
 *
 *   ts=2026-12-01T21:00:00.123Z level=info msg=stop_moved account=bn1 key=BTCUSDT:long stop=50100.0
 *
 * A line is built field by field into a fixed buffer (no allocation) and
 * written whole, with one write, to stderr and to the log file if one is
 * open. Values are quoted when they hold a space, a quote or '=', and every
 * control character is escaped (\n, \t, \xHH), so text that came from the
 * network or a store cannot forge a line or drive the terminal. A line that
 * does not fit is cut and ends with truncated=true.
 *
 * Secrets are never passed to the logger: callers log account names, never
 * keys (the test suite checks the daemon's whole output for them).
 */
#ifndef TRAILGUARD_LOG_H
#define TRAILGUARD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "trailguard/decimal.h"
#include "trailguard/error.h"

#define TG_LOG_LINE_MAX 1024  /* bytes of one line, newline included */
#define TG_LOG_HELD_MAX 65536 /* bytes of lines held for one write (tg_log_hold) */

typedef enum tg_log_level {
    TG_LOG_DEBUG,
    TG_LOG_INFO,
    TG_LOG_WARN,
    TG_LOG_ERROR,
} tg_log_level;

typedef struct tg_log {
    tg_log_level level; /* lines below it are not written */
    FILE *file;         /* the log file, or NULL */
    bool to_stderr;     /* also write to stderr */
    uint64_t lines;     /* lines written */
    bool holding;       /* tg_log_hold: lines wait in held for tg_log_flush */
    char *held;         /* TG_LOG_HELD_MAX bytes, allocated on first use */
    size_t held_len;    /* bytes waiting in held */
    char *path;         /* the log file's name (tg_log_reopen), or NULL */
    int err_fd;         /* where stderr's lines go (below) */
    int err_kind;       /* how they are written there: TG_LOG_SINK_* */
    bool err_cut;       /* the sink took part of a line: the next write starts a new one */
    uint64_t dropped;   /* stderr lines the sink did not take, not yet reported */
} tg_log;

/* stderr may be a pipe or a terminal whose reader stops (a paused pager,
 * Ctrl-S, a stuck supervisor). A blocking write there would stop the
 * caller's loop, and with it every stop. Such a sink gets a non-blocking
 * open file description of its own (fd 2's is shared with the parent, whose
 * flags are left alone); a socket is written with MSG_DONTWAIT. Lines it
 * does not take at once are dropped, whole, and counted; the next write that
 * goes through starts with a log_dropped line giving the count. A regular
 * file is written as before. The log file is never dropped from. */
#define TG_LOG_SINK_BLOCKING 0 /* a regular file (or no other way): plain write */
#define TG_LOG_SINK_NONBLOCK 1 /* err_fd: our own non-blocking description */
#define TG_LOG_SINK_SOCKET   2 /* err_fd is fd 2, a socket: send with MSG_DONTWAIT */

typedef struct tg_logline {
    tg_log *log;               /* where it goes; NULL when below the level */
    size_t len;                /* bytes used in buf */
    bool cut;                  /* a field did not fit */
    char buf[TG_LOG_LINE_MAX]; /* the line being built */
} tg_logline;

/* A logger to stderr at level; path opens (appends to) a log file too. */
tg_status tg_log_init(tg_log *log, tg_log_level level, const char *path, tg_err *err);
void tg_log_close(tg_log *log); /* flushes what is held */

/* Opens the log file's name again (after logrotate moved it away) and
 * writes on there; what is held goes to the old file first. When the name
 * cannot be opened the old file is kept and an error returned. Nothing to
 * do without a log file. */
tg_status tg_log_reopen(tg_log *log, tg_err *err);

/* With on, finished lines are kept (at most TG_LOG_HELD_MAX bytes, then
 * written at once) until tg_log_flush writes them in one write per sink;
 * off writes what is held. The daemon holds the lines of a loop turn so
 * that no write(2) of a log line comes between a mark and the request it
 * provokes; it flushes before the loop waits and after each turn's
 * requests have left. Lines are written as before when nothing holds. */
void tg_log_hold(tg_log *log, bool on);
void tg_log_flush(tg_log *log);

/* "debug" "info" "warn" "error" → level; false when unknown. */
bool tg_log_level_parse(const char *text, tg_log_level *out);

/* Starts a line with ts, level and msg. */
void tg_log_begin(tg_logline *l, tg_log *log, tg_log_level level, const char *msg);
void tg_log_str(tg_logline *l, const char *key, const char *value);
void tg_log_int(tg_logline *l, const char *key, int64_t value);
void tg_log_dec(tg_logline *l, const char *key, tg_dec value);
void tg_log_bool(tg_logline *l, const char *key, bool value);
/* Writes the line. */
void tg_log_end(tg_logline *l);

/* Escapes text for a terminal or a log: control characters as \n, \t, \xHH,
 * backslash doubled, and (when quote) '"' as \". Always NUL-terminates;
 * returns the length written (cut to cap − 1). */
size_t tg_log_escape(const char *text, bool quote, char *buf, size_t cap);

#endif
