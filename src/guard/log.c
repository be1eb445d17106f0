#define _POSIX_C_SOURCE 200809L
#include "trailguard/log.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};

tg_status tg_log_init(tg_log *log, tg_log_level level, const char *path, tg_err *err) {
    assert((size_t)level < sizeof level_names / sizeof level_names[0]);
    assert(log != NULL);
    memset(log, 0, sizeof *log);
    log->level = level;
    log->to_stderr = true;
    if (path != NULL && path[0] != '\0') {
        log->file = fopen(path, "a");
        if (log->file == NULL) {
            return tg_err_set(err, TG_E_IO, "cannot open log file '%s': %s", path, strerror(errno));
        }
        log->path = strdup(path);
        if (log->path == NULL) {
            fclose(log->file);
            log->file = NULL;
            return tg_err_set(err, TG_E_NOMEM, "out of memory for the log file's name");
        }
    }
    return TG_OK;
}

tg_status tg_log_reopen(tg_log *log, tg_err *err) {
    assert(log != NULL);
    assert((log->file == NULL) == (log->path == NULL));
    if (log->path == NULL) {
        return TG_OK;
    }
    FILE *next = fopen(log->path, "a");
    if (next == NULL) {
        return tg_err_set(err, TG_E_IO, "cannot open log file '%s' again: %s", log->path,
                          strerror(errno));
    }
    tg_log_flush(log);
    fclose(log->file);
    log->file = next;
    return TG_OK;
}

static void write_out(tg_log *log, const char *text, size_t len) {
    assert(log != NULL && text != NULL);
    if (log->to_stderr) {
        ssize_t w = write(STDERR_FILENO, text, len);
        (void)w;
    }
    if (log->file != NULL) {
        fwrite(text, 1, len, log->file);
        fflush(log->file);
    }
}

void tg_log_flush(tg_log *log) {
    assert(log != NULL);
    assert(log->held_len <= TG_LOG_HELD_MAX);
    if (log->held_len > 0) {
        write_out(log, log->held, log->held_len);
        log->held_len = 0;
    }
}

void tg_log_hold(tg_log *log, bool on) {
    assert(log != NULL);
    if (!on) {
        tg_log_flush(log);
    }
    log->holding = on;
}

void tg_log_close(tg_log *log) {
    if (log == NULL) {
        return;
    }
    tg_log_flush(log);
    free(log->held);
    log->held = NULL;
    log->holding = false;
    if (log->file != NULL) {
        fclose(log->file);
        log->file = NULL;
    }
    free(log->path);
    log->path = NULL;
}

bool tg_log_level_parse(const char *text, tg_log_level *out) {
    assert(text != NULL && out != NULL);
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (tg_log_level)i;
            return true;
        }
    }
    return false;
}

size_t tg_log_escape(const char *text, bool quote, char *buf, size_t cap) {
    assert(text != NULL && buf != NULL && cap > 0);
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        char esc[5];
        size_t len = 0;
        if (*p == '\n' || *p == '\t' || *p == '\r') {
            esc[0] = '\\';
            esc[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
            len = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[*p >> 4];
            esc[3] = hex[*p & 15];
            len = 4;
        } else if (*p == '\\' || (quote && *p == '"')) {
            esc[0] = '\\';
            esc[1] = (char)*p;
            len = 2;
        } else {
            esc[0] = (char)*p;
            len = 1;
        }
        if (n + len >= cap) {
            break;
        }
        memcpy(buf + n, esc, len);
        n += len;
    }
    buf[n] = '\0';
    assert(n < cap);
    return n;
}

static void put(tg_logline *l, const char *text, size_t len) {
    assert(l != NULL && text != NULL);
    assert(l->len <= sizeof l->buf - 32);
    /* room is kept for the truncation mark and the newline */
    size_t room = sizeof l->buf - 32;
    if (l->len + len > room) {
        l->cut = true;
        return;
    }
    memcpy(l->buf + l->len, text, len);
    l->len += len;
    assert(l->len <= room);
}

void tg_log_begin(tg_logline *l, tg_log *log, tg_log_level level, const char *msg) {
    assert(l != NULL && msg != NULL);
    l->len = 0;
    l->cut = false;
    l->log = log != NULL && level >= log->level ? log : NULL;
    if (l->log == NULL) {
        return;
    }
    assert((size_t)level < sizeof level_names / sizeof level_names[0]);
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t secs = tv.tv_sec;
    gmtime_r(&secs, &tm);
    char head[64];
    int n = snprintf(head, sizeof head, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(tv.tv_usec / 1000), level_names[level]);
    assert(n > 0 && (size_t)n < sizeof head);
    put(l, head, (size_t)n);
    tg_log_str(l, "msg", msg);
}

void tg_log_str(tg_logline *l, const char *key, const char *value) {
    assert(l != NULL && key != NULL);
    if (l->log == NULL) {
        return;
    }
    if (value == NULL) {
        value = "";
    }
    bool quote = value[0] == '\0' || strpbrk(value, " \"=") != NULL;
    char esc[512];
    size_t len = tg_log_escape(value, quote, esc, sizeof esc);
    put(l, " ", 1);
    put(l, key, strlen(key));
    put(l, "=", 1);
    if (quote) {
        put(l, "\"", 1);
    }
    put(l, esc, len);
    if (quote) {
        put(l, "\"", 1);
    }
}

void tg_log_int(tg_logline *l, const char *key, int64_t value) {
    assert(l != NULL && key != NULL);
    char text[24];
    int n = snprintf(text, sizeof text, "%" PRId64, value);
    assert(n > 0 && (size_t)n < sizeof text);
    tg_log_str(l, key, text);
}

void tg_log_dec(tg_logline *l, const char *key, tg_dec value) {
    assert(l != NULL && key != NULL);
    char text[TG_DEC_STR_MAX];
    size_t n = tg_dec_format(value, 0, text);
    assert(n > 0 && n < sizeof text);
    tg_log_str(l, key, text);
}

void tg_log_bool(tg_logline *l, const char *key, bool value) {
    assert(l != NULL && key != NULL);
    tg_log_str(l, key, value ? "true" : "false");
}

void tg_log_end(tg_logline *l) {
    assert(l != NULL);
    if (l->log == NULL) {
        return;
    }
    assert(l->len <= sizeof l->buf - 32);
    if (l->cut) {
        static const char mark[] = " truncated=true";
        memcpy(l->buf + l->len, mark, sizeof mark - 1);
        l->len += sizeof mark - 1;
    }
    l->buf[l->len++] = '\n';
    assert(l->len <= sizeof l->buf);
    tg_log *log = l->log;
    log->lines++;
    if (log->holding && log->held == NULL) {
        log->held = malloc(TG_LOG_HELD_MAX); /* without it, lines go out one by one */
    }
    if (!log->holding || log->held == NULL) {
        /* one write per line: lines of concurrent processes never interleave */
        write_out(log, l->buf, l->len);
        return;
    }
    if (log->held_len + l->len > TG_LOG_HELD_MAX) {
        tg_log_flush(log);
    }
    memcpy(log->held + log->held_len, l->buf, l->len);
    log->held_len += l->len;
}
