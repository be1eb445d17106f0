/*
 * replay_testutil.h — helpers shared by the back-tester's tests: exact
 * decimals from literals, temporary files, and running the `trailguard`
 * binary to look at its exit status and standard error.
 */
#ifndef TG_TEST_REPLAY_TESTUTIL_H
#define TG_TEST_REPLAY_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "trailguard/decimal.h"

#define TU_PATH_MAX 1024 /* bytes of a temporary path */
#define TU_CMD_MAX  8192 /* bytes of a shell command */
#define TU_BTC_CSV  TG_SHARED_DIR "/data/btc-perp-20211231-20220201_1m.csv"

/* Real market data lives beside the repository (../shared/data), never in
 * it: a checkout without it skips the tests that need it, saying why. */
#define TU_NEED_FILE(path)                                                                         \
    do {                                                                                           \
        FILE *tu_probe_ = fopen((path), "rb");                                                     \
        if (tu_probe_ == NULL) {                                                                   \
            fprintf(stderr, "skipped: %s is absent (shared market data)\n", (path));               \
            skip();                                                                                \
        }                                                                                          \
        fclose(tu_probe_);                                                                         \
    } while (0)

static inline tg_dec tu_dec(const char *text) {
    tg_dec d;
    if (tg_dec_parse_cstr(text, &d) != TG_DEC_OK) {
        fail_msg("bad decimal literal in test: %s", text);
    }
    return d;
}

static inline void tu_assert_dec(tg_dec got, const char *want) {
    char a[TG_DEC_STR_MAX], b[TG_DEC_STR_MAX];
    tg_dec_format(got, 0, a);
    tg_dec_format(tu_dec(want), 0, b);
    if (strcmp(a, b) != 0) {
        fail_msg("got %s, want %s", a, b);
    }
}

/* TG_TEST_TMPDIR/<prefix>-<name>: each test binary uses its own prefix so
 * that ctest -j never has two tests writing one file. */
static inline const char *tu_path(char *buf, const char *prefix, const char *name) {
    snprintf(buf, TU_PATH_MAX, "%s/%s-%s", TG_TEST_TMPDIR, prefix, name);
    return buf;
}

static inline void tu_write(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* The whole file, NUL-terminated; the caller frees it. */
static inline char *tu_read(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[len] = '\0';
    if (len_out != NULL) {
        *len_out = len;
    }
    return buf;
}

/* Runs `trailguard ARGS >out 2>err` and returns its exit status. */
static inline int tu_run_cli(const char *out_path, const char *err_path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int tu_run_cli(const char *out_path, const char *err_path, const char *fmt, ...) {
    char args[TU_CMD_MAX / 2], cmd[TU_CMD_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>'%s' </dev/null", TG_CLI_PATH, args, out_path,
             err_path);
    int status = system(cmd);
    if (status == -1 || !WIFEXITED(status)) {
        fail_msg("could not run: %s", cmd);
    }
    return WEXITSTATUS(status);
}

#endif
