#define _POSIX_C_SOURCE 200809L
#include "trailguard/log.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};

_Static_assert(TG_LOG_LINE_MAX + 1 <= PIPE_BUF,
               "a line (and a cut one's newline) fits one pipe write");

/* How stderr is written (TG_LOG_SINK_* in log.h). */
static void stderr_sink(tg_log *log) {
    assert(log != NULL);
    log->err_fd = STDERR_FILENO;
    log->err_kind = TG_LOG_SINK_BLOCKING;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0 || S_ISREG(st.st_mode)) {
        return;
    }
    if (S_ISSOCK(st.st_mode)) {
        log->err_kind = TG_LOG_SINK_SOCKET;
        return;
    }
    /* a pipe, FIFO or terminal opened again: a description of our own */
    int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd >= 0) {
        log->err_fd = fd;
        log->err_kind = TG_LOG_SINK_NONBLOCK;
    }
}

tg_status tg_log_init(tg_log *log, tg_log_level level, const char *path, tg_err *err) {
    assert((size_t)level < sizeof level_names / sizeof level_names[0]);
    assert(log != NULL);
    memset(log, 0, sizeof *log);
    log->level = level;
    log->to_stderr = true;
    log->err_fd = STDERR_FILENO;
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
    stderr_sink(log); /* last: a failure above leaves no descriptor open */
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

static size_t count_lines(const char *text, size_t len) {
    size_t n = 0;
    for (const char *p = text; (p = memchr(p, '\n', len - (size_t)(p - text))) != NULL; p++) {
        n++;
    }
    return n;
}

/* One write to a non-blocking sink: the bytes it took, -1 when none. */
static ssize_t sink_write(tg_log *log, const char *text, size_t len) {
    assert(log->err_kind != TG_LOG_SINK_BLOCKING);
    for (;;) {
        ssize_t w = log->err_kind == TG_LOG_SINK_SOCKET
                        ? send(log->err_fd, text, len, MSG_DONTWAIT | MSG_NOSIGNAL)
                        : write(log->err_fd, text, len);
        if (w >= 0 || errno != EINTR) {
            return w > 0 ? w : -1;
        }
    }
}

static void line_finish(tg_logline *l);

/* Before the first line after drops: a line with their count, started on
 * a line of its own. False when the sink does not take it. */
static bool tell_dropped(tg_log *log) {
    if (log->dropped == 0 && !log->err_cut) {
        return true;
    }
    tg_logline l;
    tg_log_begin(&l, log, TG_LOG_ERROR, "log_dropped"); /* error: written at every level */
    tg_log_str(&l, "sink", "stderr");
    tg_log_int(&l, "lines", (int64_t)log->dropped);
    tg_log_str(&l, "detail", "the reader of stderr did not keep up; the log file has every line");
    line_finish(&l);
    char text[TG_LOG_LINE_MAX + 1];
    size_t n = 0;
    if (log->err_cut) {
        text[n++] = '\n';
    }
    memcpy(text + n, l.buf, l.len);
    n += l.len;
    ssize_t w = sink_write(log, text, n);
    if (w < 0) {
        return false;
    }
    log->err_cut = (size_t)w < n;
    if (log->err_cut) {
        return false;
    }
    log->dropped = 0;
    return true;
}

/* Whole lines, at most PIPE_BUF bytes a write (a pipe takes such a write
 * whole or not at all), while the sink takes them. */
static void write_stderr(tg_log *log, const char *text, size_t len) {
    assert(log != NULL && text != NULL);
    if (log->err_kind == TG_LOG_SINK_BLOCKING) {
        ssize_t w = write(log->err_fd, text, len);
        (void)w;
        return;
    }
    size_t off = 0;
    while (off < len) {
        size_t n = len - off;
        if (n > PIPE_BUF) {
            n = PIPE_BUF;
            while (n > 0 && text[off + n - 1] != '\n') {
                n--;
            }
            n = n > 0 ? n : PIPE_BUF; /* no line end: lines are shorter than PIPE_BUF */
        }
        ssize_t w = tell_dropped(log) ? sink_write(log, text + off, n) : -1;
        if (w < 0) {
            break;
        }
        off += (size_t)w;
        if ((size_t)w < n) {
            log->err_cut = true; /* a terminal or socket took part of a line */
            break;
        }
    }
    if (off < len) {
        log->dropped += count_lines(text + off, len - off);
    }
}

static void write_out(tg_log *log, const char *text, size_t len) {
    assert(log != NULL && text != NULL);
    if (log->to_stderr) {
        write_stderr(log, text, len);
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
    if (log->err_kind == TG_LOG_SINK_NONBLOCK) {
        close(log->err_fd);
    }
    log->err_fd = STDERR_FILENO;
    log->err_kind = TG_LOG_SINK_BLOCKING;
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

/* The truncation mark if a field was cut, and the newline. */
static void line_finish(tg_logline *l) {
    assert(l != NULL && l->log != NULL);
    assert(l->len <= sizeof l->buf - 32);
    if (l->cut) {
        static const char mark[] = " truncated=true";
        memcpy(l->buf + l->len, mark, sizeof mark - 1);
        l->len += sizeof mark - 1;
    }
    l->buf[l->len++] = '\n';
    assert(l->len <= sizeof l->buf);
}

void tg_log_end(tg_logline *l) {
    assert(l != NULL);
    if (l->log == NULL) {
        return;
    }
    line_finish(l);
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
