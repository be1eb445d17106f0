/*
 * daemon_util.h — what the benchmarks of the real daemon process share: an
 * in-process emulator, a configuration with 0600 key files, `trailguard run`
 * spawned from TG_CLI_PATH, and reads of its HTTP API (/metrics) and of the
 * emulator's control endpoint. Header-only: every bench/<name>.c is its own
 * program.
 */
#ifndef TG_BENCH_DAEMON_UTIL_H
#define TG_BENCH_DAEMON_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "trailguard/sim.h"

#define DU_ANSWER_MAX (32u << 20) /* bytes of one control or HTTP answer */

static inline void du_die(const char *what, const char *msg) {
    fprintf(stderr, "bench: %s: %s\n", what, msg);
    exit(1);
}

static inline void du_sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline void du_write_file(const char *path, const char *text, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) {
        du_die("cannot write", path);
    }
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len && fchmod(fd, mode) == 0;
    if (close(fd) != 0 || !ok) {
        du_die("cannot write", path);
    }
}

static inline uint16_t du_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        port = ntohs(sa.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

/* A control call that must answer 200; the answer is in out. */
static inline void du_sim(tg_sim *sim, const char *method, const char *target, const char *body,
                          char *out, size_t cap) {
    int status = tg_sim_call(sim, method, target, body, out, cap);
    if (status != 200) {
        fprintf(stderr, "bench: emulator %s %s: %d %.300s\n", method, target, status, out);
        exit(1);
    }
}

/* A number of the emulator's GET /sim/state (open_positions,
 * unprotected_now, ...); −1 when absent. out holds DU_ANSWER_MAX bytes. */
static inline double du_sim_state(tg_sim *sim, char *out, const char *field) {
    du_sim(sim, "GET", "/sim/state", NULL, out, DU_ANSWER_MAX);
    cJSON *st = cJSON_Parse(out);
    const cJSON *v = cJSON_GetObjectItem(st, field);
    double n = cJSON_IsNumber(v) ? v->valuedouble : -1;
    cJSON_Delete(st);
    return n;
}

/* The daemon, its HTTP port and one kept-alive connection to it. */
typedef struct du_daemon {
    pid_t pid;          /* `trailguard run` */
    uint16_t port;      /* its HTTP API */
    CURL *curl;         /* kept alive between reads */
    char *answer;       /* last answer, DU_ANSWER_MAX */
    size_t len;         /* bytes in answer */
    const char *option; /* one more option of `trailguard run` (--busy-poll), or NULL */
} du_daemon;

static inline size_t du_on_body(char *data, size_t size, size_t n, void *ctx) {
    du_daemon *d = ctx;
    size_t len = size * n;
    if (d->len + len + 1 > DU_ANSWER_MAX) {
        return 0;
    }
    memcpy(d->answer + d->len, data, len);
    d->len += len;
    d->answer[d->len] = '\0';
    return len;
}

/* GET path from the daemon; the HTTP status, 0 when it did not answer. */
static inline long du_get(du_daemon *d, const char *path) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", d->port, path);
    d->len = 0;
    d->answer[0] = '\0';
    curl_easy_setopt(d->curl, CURLOPT_URL, url);
    long status = 0;
    if (curl_easy_perform(d->curl) == CURLE_OK) {
        curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &status);
    }
    return status;
}

static inline void du_start(du_daemon *d, const char *config, const char *log_file) {
    d->answer = malloc(DU_ANSWER_MAX);
    d->curl = curl_easy_init();
    if (d->answer == NULL || d->curl == NULL) {
        du_die("memory", "out of memory");
    }
    curl_easy_setopt(d->curl, CURLOPT_WRITEFUNCTION, du_on_body);
    curl_easy_setopt(d->curl, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(d->curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(d->curl, CURLOPT_NOSIGNAL, 1L);
    pid_t pid = fork();
    if (pid < 0) {
        du_die("fork", strerror(errno));
    }
    if (pid == 0) {
        /* stderr beside the log: an assertion of the daemon shows there */
        char err_path[1024];
        snprintf(err_path, sizeof err_path, "%s.stderr", log_file);
        int null = open("/dev/null", O_WRONLY);
        int errf = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
        }
        if (errf >= 0) {
            dup2(errf, STDERR_FILENO);
        }
        execl(TG_CLI_PATH, TG_CLI_PATH, "run", "--config", config, "--log-file", log_file,
              d->option, (char *)NULL);
        _exit(127);
    }
    d->pid = pid;
}

static inline void du_stop(du_daemon *d) {
    if (d->pid > 0) {
        kill(d->pid, SIGTERM);
        int status;
        waitpid(d->pid, &status, 0);
        d->pid = 0;
    }
    curl_easy_cleanup(d->curl);
    free(d->answer);
}

/* The value of the first /metrics sample line that starts with prefix
 * (name and labels, e.g. `trailguard_ticks_total{account="a"}`), summed over
 * every line that starts with it; -1 when there is none. */
static inline double du_metric(const char *text, const char *prefix) {
    double sum = -1;
    size_t n = strlen(prefix);
    for (const char *l = text; l != NULL && *l != '\0';) {
        if (strncmp(l, prefix, n) == 0) {
            const char *sp = strchr(l + n, ' ');
            if (sp != NULL) {
                sum = (sum < 0 ? 0 : sum) + strtod(sp + 1, NULL);
            }
        }
        l = strchr(l, '\n');
        l = l != NULL ? l + 1 : NULL;
    }
    return sum;
}

#define DU_BUCKETS_MAX 32 /* buckets of one histogram read from /metrics */

/* The cumulative buckets of histogram name (one series) into le/count;
 * returns how many. */
static inline size_t du_hist_read(const char *text, const char *name, double *le, double *count) {
    char prefix[160];
    snprintf(prefix, sizeof prefix, "%s_bucket{", name);
    size_t n = 0, plen = strlen(prefix);
    for (const char *l = text; l != NULL && *l != '\0' && n < DU_BUCKETS_MAX;) {
        if (strncmp(l, prefix, plen) == 0) {
            const char *q = strstr(l, "le=\"");
            const char *sp = q != NULL ? strchr(q, ' ') : NULL;
            if (sp != NULL) {
                le[n] = strtod(q + 4, NULL);
                count[n++] = strtod(sp + 1, NULL);
            }
        }
        l = strchr(l, '\n');
        l = l != NULL ? l + 1 : NULL;
    }
    return n;
}

/* The p-th percentile of a Prometheus histogram (cumulative buckets with
 * bounds le), linear within its bucket, from the bucket counts of two
 * scrapes (after minus before). */
static inline double du_hist_percentile(const double *le, const double *after, const double *before,
                                        size_t buckets, double p) {
    double total = after[buckets - 1] - before[buckets - 1];
    if (total <= 0) {
        return 0;
    }
    double rank = p / 100.0 * total;
    double prev_count = 0, prev_le = 0;
    for (size_t i = 0; i < buckets; i++) {
        double c = after[i] - before[i];
        if (c >= rank) {
            double width = c - prev_count;
            double frac = width > 0 ? (rank - prev_count) / width : 1;
            if (i == buckets - 1 && i > 0) {
                return le[i - 1]; /* the +Inf bucket: at least its lower bound */
            }
            return prev_le + frac * (le[i] - prev_le);
        }
        prev_count = c;
        prev_le = le[i];
    }
    return le[buckets - 1];
}

#endif
