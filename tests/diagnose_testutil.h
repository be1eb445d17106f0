/*
 * diagnose_testutil.h — `trailguard diagnose` as a child process against the
 * daemon harness of daemon_testutil.h: run it (to the end, or started and
 * awaited while the test makes faults), read its console, log and JSON
 * report, validate the report against docs/diagnose.schema.json, and find
 * issues in it. The includer defines PREFIX first (see daemon_testutil.h).
 */
#ifndef TG_TEST_DIAGNOSE_TESTUTIL_H
#define TG_TEST_DIAGNOSE_TESTUTIL_H

#include "daemon_testutil.h"

#include <dirent.h>
#include <stdarg.h>

/* ---- the command ------------------------------------------------------- */

#define DIAG_ARGS_MAX 32
#define DIAG_WAIT_MS  60000

/* One `trailguard diagnose` run: its exit status and outputs. */
typedef struct diag {
    int rc;                        /* exit status */
    char out[TU_PATH_MAX];         /* --out */
    char stdout_path[TU_PATH_MAX]; /* its stdout and stderr */
    char json_path[TU_PATH_MAX];   /* the report */
    char log_path[TU_PATH_MAX];    /* the log */
    char *console;                 /* stdout and stderr text */
    char *log;                     /* the log text */
    cJSON *report;                 /* the JSON report; NULL if none */
} diag;

static int diag_runs; /* numbers the --out directories */

/* Finds DIR/<prefix>*<suffix>. */
static inline bool find_file(const char *dir, const char *prefix, const char *suffix, char *out) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        return false;
    }
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && !found) {
        size_t n = strlen(e->d_name), s = strlen(suffix);
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && n > s &&
            strcmp(e->d_name + n - s, suffix) == 0) {
            int len = snprintf(out, TU_PATH_MAX, "%s/%s", dir, e->d_name);
            found = len > 0 && len < TU_PATH_MAX;
        }
    }
    closedir(d);
    return found;
}

/* The report validated by docs/diagnose.schema.json (JSON Schema 2020-12)
 * with python3's jsonschema; skipped with a note when it is not installed
 * (scripts/deps.sh installs python3-jsonschema). */
static const char *const diag_validate_py =
    "import json,sys,jsonschema\n"
    "s=json.load(open(sys.argv[1],encoding=\"utf-8\"))\n"
    "V=jsonschema.Draft202012Validator\n"
    "V.check_schema(s)\n"
    "d=json.load(open(sys.argv[2],encoding=\"utf-8\"))\n"
    "errs=list(V(s,format_checker=jsonschema.FormatChecker()).iter_errors(d))\n"
    "[print(sys.argv[2],list(e.absolute_path),e.message,file=sys.stderr) for e in errs]\n"
    "sys.exit(1 if errs else 0)\n";

static inline void diag_validate(const char *json_path) {
    static int have = -1; /* python3 with jsonschema: unknown, no, yes */
    if (have < 0) {
        have = system("python3 -c 'import jsonschema' >/dev/null 2>&1") == 0 ? 1 : 0;
        if (have == 0) {
            print_message("schema validation skipped: python3 with jsonschema not found\n");
        }
    }
    if (have == 0) {
        return;
    }
    char script[TU_PATH_MAX + 8], cmd[3 * TU_PATH_MAX + 64];
    snprintf(script, sizeof script, "%s.py", json_path);
    write_mode(script, diag_validate_py, 0644);
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s/docs/diagnose.schema.json' '%s'", script,
             TG_SOURCE_DIR, json_path);
    int rc = system(cmd);
    unlink(script);
    if (rc != 0) {
        fail_msg("%s does not match docs/diagnose.schema.json", json_path);
    }
}

/* Starts `trailguard diagnose --config E.ini --out DIR <args...>` (args end
 * with NULL) in the background; diag_wait() collects it. */
static inline pid_t diag_vstart(diag *r, const char *first, va_list ap) {
    memset(r, 0, sizeof *r);
    snprintf(r->out, sizeof r->out, "%s/diag-%d", E.dir, ++diag_runs);
    snprintf(r->stdout_path, sizeof r->stdout_path, "%s/diag-%d.stdout", E.dir, diag_runs);
    const char *argv[DIAG_ARGS_MAX] = {TG_CLI_PATH, "diagnose", "--config", E.ini, "--out", r->out};
    int argc = 6;
    for (const char *a = first; a != NULL && argc < DIAG_ARGS_MAX - 1;
         a = va_arg(ap, const char *)) {
        argv[argc++] = a;
    }
    argv[argc] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(r->stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execv(TG_CLI_PATH, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static inline pid_t diag_start(diag *r, const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    pid_t pid = diag_vstart(r, first, ap);
    va_end(ap);
    return pid;
}

/* Waits for the run started by diag_start() and reads its outputs; every
 * JSON report is validated against the schema and checked for secrets. */
static inline void diag_wait(diag *r, pid_t pid) {
    int ws = 0;
    int64_t until = mono_ms() + DIAG_WAIT_MS;
    while (waitpid(pid, &ws, WNOHANG) != pid) {
        if (mono_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &ws, 0);
            fail_msg("diagnose did not end within %d ms", DIAG_WAIT_MS);
        }
        tu_sleep_ms(20);
    }
    r->rc = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
    r->console = tu_read(r->stdout_path, NULL);
    /* under the sanitizers (make asan) the command's own reports land here */
    const char *sanitizers[] = {"AddressSanitizer", "LeakSanitizer", "runtime error:"};
    for (size_t k = 0; k < sizeof sanitizers / sizeof sanitizers[0]; k++) {
        if (r->console != NULL && strstr(r->console, sanitizers[k]) != NULL) {
            fail_msg("diagnose reported a sanitizer error:\n%s", r->console);
        }
    }
    char logs[TU_PATH_MAX + 8];
    snprintf(logs, sizeof logs, "%s/logs", r->out);
    if (find_file(logs, "trailguard-diagnose-", ".log", r->log_path)) {
        r->log = tu_read(r->log_path, NULL);
    }
    if (find_file(r->out, "trailguard-diagnose-", ".json", r->json_path)) {
        char *text = tu_read(r->json_path, NULL);
        r->report = cJSON_Parse(text);
        free(text);
        if (r->report == NULL) {
            fail_msg("%s is not JSON", r->json_path);
        }
        diag_validate(r->json_path);
    }
    assert_no_secrets_in(r->stdout_path);
    assert_no_secrets_in(r->log_path);
    assert_no_secrets_in(r->json_path);
}

/* Runs `trailguard diagnose --config E.ini --out DIR <args...> NULL` to its end. */
static inline diag run_diagnose(const char *first, ...) {
    diag r;
    va_list ap;
    va_start(ap, first);
    pid_t pid = diag_vstart(&r, first, ap);
    va_end(ap);
    diag_wait(&r, pid);
    return r;
}

static inline void diag_free(diag *r) {
    free(r->console);
    free(r->log);
    cJSON_Delete(r->report);
}

static inline const cJSON *issues_of(const diag *r) {
    if (r->report == NULL) {
        fail_msg("no JSON report; output:\n%s", r->console);
    }
    const cJSON *is = cJSON_GetObjectItemCaseSensitive(r->report, "issues");
    assert_true(cJSON_IsArray(is));
    return is;
}

/* The issue of type (for account and symbol when given), or NULL. */
static inline const cJSON *issue(const diag *r, const char *type, const char *account,
                                 const char *symbol) {
    const cJSON *o;
    cJSON_ArrayForEach(o, issues_of(r)) {
        const char *t = tu_jstr(o, "type"), *a = tu_jstr(o, "account"), *s = tu_jstr(o, "symbol");
        if (t != NULL && strcmp(t, type) == 0 &&
            (account == NULL || (a != NULL && strcmp(a, account) == 0)) &&
            (symbol == NULL || (s != NULL && strcmp(s, symbol) == 0))) {
            return o;
        }
    }
    return NULL;
}

static inline void expect_issue(const diag *r, const char *type, const char *severity,
                                const char *account, const char *symbol) {
    const cJSON *o = issue(r, type, account, symbol);
    if (o == NULL) {
        char *all = cJSON_Print(issues_of(r));
        fail_msg("no %s issue for %s %s; issues: %s\noutput:\n%s", type, account ? account : "*",
                 symbol ? symbol : "*", all, r->console);
    }
    assert_string_equal(tu_jstr(o, "severity"), severity);
}

static inline void expect_no_issue(const diag *r, const char *type, const char *account,
                                   const char *symbol) {
    if (issue(r, type, account, symbol) != NULL) {
        char *all = cJSON_Print(issues_of(r));
        fail_msg("unexpected %s issue for %s %s; issues: %s", type, account ? account : "*",
                 symbol ? symbol : "*", all);
    }
}

/* The one issue of (type, account, symbol) with severity: exactly one
 * entry (a repeated finding counts up, it is not copied). */
static inline const cJSON *expect_once(const diag *r, const char *type, const char *severity,
                                       const char *account, const char *symbol) {
    expect_issue(r, type, severity, account, symbol);
    int n = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, issues_of(r)) {
        const char *t = tu_jstr(o, "type"), *a = tu_jstr(o, "account"), *s = tu_jstr(o, "symbol");
        n += t != NULL && strcmp(t, type) == 0 && a != NULL && strcmp(a, account) == 0 &&
                     s != NULL && strcmp(s, symbol) == 0
                 ? 1
                 : 0;
    }
    if (n != 1) {
        fail_msg("%d entries of %s for %s %s, want 1", n, type, account, symbol);
    }
    return issue(r, type, account, symbol);
}

/* A stop on the exchange (the emulator's view) before going on. */
static inline void wait_stops(const char *account, const char *symbol, int want) {
    int64_t until = mono_ms() + WAIT_MS;
    while (protection(account, symbol).stops != want) {
        if (mono_ms() > until) {
            fail_msg("%s %s: never %d stop(s)", account, symbol, want);
        }
        tu_sleep_ms(POLL_MS);
    }
}

/* The daemon's /v1/positions lists n positions with a confirmed stop. */
static inline void wait_daemon_confirmed(int n) {
    int64_t until = mono_ms() + WAIT_MS;
    for (;;) {
        tu_resp r = api("GET", "/v1/positions", NULL, NULL);
        int confirmed = 0;
        const cJSON *o;
        cJSON_ArrayForEach(o, r.json) {
            confirmed += tu_jstr(o, "stop_confirmed") != NULL &&
                                 !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "in_flight"))
                             ? 1
                             : 0;
        }
        tu_resp_free(&r);
        if (confirmed == n) {
            return;
        }
        if (mono_ms() > until) {
            fail_msg("the daemon never confirmed %d stops (%d)", n, confirmed);
        }
        tu_sleep_ms(50);
    }
}

/* A stop that trailguard did not place: a signed Binance algo order with
 * the client id of a person or another bot. */
static inline void foreign_algo_stop(const char *symbol, const char *trigger) {
    char params[512];
    snprintf(params, sizeof params,
             "algoType=CONDITIONAL&symbol=%s&side=SELL&type=STOP_MARKET&triggerPrice=%s&"
             "closePosition=true&workingType=MARK_PRICE&clientAlgoId=manual-sl-1",
             symbol, trigger);
    tu_resp r = tu_bn_full(&E.sim, "POST", "/fapi/v1/algoOrder", params, false, BN_KEY, BN_SECRET,
                           tu_now_ms());
    if (r.status != 200) {
        fail_msg("foreign algo stop: HTTP %ld %s", r.status, r.body);
    }
    tu_resp_free(&r);
}

/* Bybit's position-level stop-loss (trading-stop), set by hand. */
static inline void bybit_position_sl(const char *symbol, const char *price) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"category\":\"linear\",\"symbol\":\"%s\",\"tpslMode\":\"Full\",\"positionIdx\":0,"
             "\"stopLoss\":\"%s\",\"slTriggerBy\":\"MarkPrice\"}",
             symbol, price);
    tu_resp r = tu_by_full(&E.sim, "POST", "/v5/position/trading-stop", body, BY_KEY, BY_SECRET,
                           tu_now_ms());
    if (r.status != 200 || tu_retcode(&r) != 0) {
        fail_msg("bybit trading-stop: HTTP %ld %s", r.status, r.body);
    }
    tu_resp_free(&r);
}

#endif
