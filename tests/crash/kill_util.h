/*
 * kill_util.h — what the kill tests share.
 *
 * All three (crash_test, daemon_kill_test, failover_test): the monotonic
 * clock, the seeded random lives and pauses, and the command line they have
 * in common:
 *
 *   --kills N --seed S --dir DIR --min-ms A --max-ms B --keep
 *
 * Each program parses its own options through a callback and prints its
 * own usage line.
 *
 * The two that run the real daemon (daemon_kill_test, failover_test), each
 * with its own directory and account table: the key, secret and emulator
 * accounts files, the [account] sections of a configuration, a free
 * loopback port, spawning and stopping `trailguard run`, an HTTP GET of the
 * daemon's API, and emulator control calls that say what went wrong.
 */
#ifndef TG_TEST_KILL_UTIL_H
#define TG_TEST_KILL_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>
#include <curl/curl.h>

#include "trailguard/sim.h"

#define KILL_PATH_BYTES 512 /* bytes of a directory path these tests build */

/* The options both tests take. */
typedef struct kill_options {
    uint32_t kills;  /* rounds */
    uint64_t seed;   /* the run's seed */
    const char *dir; /* where the run's files go */
    int64_t min_ms;  /* shortest life of the killed process */
    int64_t max_ms;  /* longest */
    bool keep;       /* leave the files behind */
} kill_options;

static inline int64_t kill_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* splitmix64: the next number of the sequence state seeds. */
static inline uint64_t kill_random(uint64_t *state) {
    uint64_t x = (*state += 0x9e3779b97f4a7c15ull);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* A seeded random lo..hi, both included. */
static inline int64_t kill_random_range(uint64_t *state, int64_t lo, int64_t hi) {
    return lo + (int64_t)(kill_random(state) % (uint64_t)(hi - lo + 1));
}

/* A decimal 0..max, nothing else around it. */
static inline bool kill_number(const char *text, uint64_t max, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* The program's own option NAME VALUE: true when it took it. */
typedef bool (*kill_option_fn)(void *ctx, const char *name, const char *value);

/* Parses argv into o (which holds the defaults) and, through own, the
 * program's options; kills_max bounds --kills. Returns 0, or usage's
 * answer to what was wrong. */
static inline int kill_parse_args(int argc, char **argv, kill_options *o, uint64_t kills_max,
                                  kill_option_fn own, void *ctx, int (*usage)(const char *why)) {
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i];
        if (strcmp(name, "--keep") == 0) {
            o->keep = true;
            continue;
        }
        if (i + 1 >= argc) {
            return usage("every option but --keep takes a value");
        }
        const char *value = argv[++i];
        uint64_t v = 0;
        if (strcmp(name, "--dir") == 0) {
            o->dir = value;
        } else if (strcmp(name, "--kills") == 0 && kill_number(value, kills_max, &v) && v > 0) {
            o->kills = (uint32_t)v;
        } else if (strcmp(name, "--seed") == 0 && kill_number(value, UINT64_MAX, &v)) {
            o->seed = v;
        } else if (strcmp(name, "--min-ms") == 0 && kill_number(value, 60000, &v)) {
            o->min_ms = (int64_t)v;
        } else if (strcmp(name, "--max-ms") == 0 && kill_number(value, 60000, &v)) {
            o->max_ms = (int64_t)v;
        } else if (!own(ctx, name, value)) {
            return usage("unknown option or bad value");
        }
    }
    return o->min_ms <= o->max_ms ? 0 : usage("--min-ms must not exceed --max-ms");
}

/* ---- the daemon tests' harness ------------------------------------------ */

/* One account, in the emulator and in the daemon's configuration. */
typedef struct kill_account {
    const char *name;   /* account name */
    const char *venue;  /* binance / bybit */
    const char *key;    /* api key */
    const char *secret; /* api secret */
} kill_account;

static inline void kill_sleep_ms(int64_t ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static inline bool kill_write_file(const char *path, const char *text, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) {
        fprintf(stderr, "kill test: cannot write %s: %s\n", path, strerror(errno));
        return false;
    }
    size_t len = strlen(text);
    bool ok = write(fd, text, len) == (ssize_t)len;
    ok = fchmod(fd, mode) == 0 && ok;
    return close(fd) == 0 && ok;
}

static inline bool kill_write_in_dir(const char *dir, const char *name, const char *text,
                                     mode_t mode) {
    char path[KILL_PATH_BYTES * 2];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    return n > 0 && (size_t)n < sizeof path && kill_write_file(path, text, mode);
}

/* The directory holds only files the test or the daemon made. */
static inline void kill_remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            char path[KILL_PATH_BYTES * 2];
            int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (n > 0 && (size_t)n < sizeof path) {
                unlink(path);
            }
        }
    }
    closedir(d);
    rmdir(dir);
}

/* dir/accounts.json for the emulator (it replaces the built-in accounts, so
 * the table lists those it uses too) and dir/NAME.key, dir/NAME.secret for
 * the daemon, all 0600. */
static inline bool kill_write_accounts(const char *dir, const kill_account *accounts, size_t n) {
    cJSON *arr = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "venue", accounts[i].venue);
        cJSON_AddStringToObject(o, "name", accounts[i].name);
        cJSON_AddStringToObject(o, "api_key", accounts[i].key);
        cJSON_AddStringToObject(o, "api_secret", accounts[i].secret);
        cJSON_AddItemToArray(arr, o);
    }
    char *text = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    bool ok = text != NULL && kill_write_in_dir(dir, "accounts.json", text, 0600);
    free(text);
    for (size_t i = 0; ok && i < n; i++) {
        char name[96], line[160];
        snprintf(name, sizeof name, "%s.key", accounts[i].name);
        snprintf(line, sizeof line, "%s\n", accounts[i].key);
        ok = kill_write_in_dir(dir, name, line, 0600);
        snprintf(name, sizeof name, "%s.secret", accounts[i].name);
        snprintf(line, sizeof line, "%s\n", accounts[i].secret);
        ok = ok && kill_write_in_dir(dir, name, line, 0600);
    }
    return ok;
}

/* The [account] sections of a configuration for the table, pointed at the
 * emulator's ports and the key files in dir, with binance_extra (lines, or
 * "") in the Binance ones, written at ini + len; the new length, or -1 when
 * they do not fit. */
static inline int kill_account_sections(char *ini, size_t cap, int len, const char *dir,
                                        const kill_account *accounts, size_t n, tg_sim_ports ports,
                                        const char *binance_extra) {
    for (size_t i = 0; i < n && len >= 0 && (size_t)len < cap; i++) {
        bool bn = strcmp(accounts[i].venue, "binance") == 0;
        uint16_t port = bn ? ports.binance : ports.bybit;
        int add = snprintf(ini + len, cap - (size_t)len,
                           "[account %s]\nvenue = %s\nrest_url = http://127.0.0.1:%u\n"
                           "ws_url = ws://127.0.0.1:%u\napi_key_file = %s/%s.key\n"
                           "api_secret_file = %s/%s.secret\n%s\n",
                           accounts[i].name, accounts[i].venue, port, port, dir, accounts[i].name,
                           dir, accounts[i].name, bn ? binance_extra : "");
        len = add < 0 ? -1 : len + add;
    }
    return len >= 0 && (size_t)len < cap ? len : -1;
}

/* A loopback TCP port nobody listens on now; 0 when none was found. */
static inline uint16_t kill_free_port(void) {
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

/* `cli run --config ini --log-file log`, its output to /dev/null; the pid,
 * 0 when fork failed. */
static inline pid_t kill_daemon_spawn(const char *cli, const char *ini, const char *log) {
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "kill test: fork: %s\n", strerror(errno));
        return 0;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
            dup2(null, STDERR_FILENO);
        }
        execl(cli, cli, "run", "--config", ini, "--log-file", log, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Sends sig to *pid, reaps it and sets *pid to 0; nothing when it is 0. */
static inline void kill_daemon_stop(pid_t *pid, int sig) {
    if (*pid > 0) {
        kill(*pid, sig);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

/* An answer buffer of fixed capacity. */
typedef struct kill_answer {
    char *text; /* NUL-terminated body */
    size_t len; /* bytes in text */
    size_t cap; /* bytes allocated */
} kill_answer;

static inline size_t kill_on_body(char *data, size_t size, size_t n, void *ctx) {
    kill_answer *a = ctx;
    size_t len = size * n;
    if (a->len + len + 1 > a->cap) {
        return 0; /* larger than the test expects: the GET fails */
    }
    memcpy(a->text + a->len, data, len);
    a->len += len;
    a->text[a->len] = '\0';
    return len;
}

/* GET http://127.0.0.1:port/path into a: the HTTP status, 0 when it did
 * not answer (within 2 s) or the answer did not fit. */
static inline long kill_http_get(uint16_t port, const char *path, kill_answer *a) {
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    a->len = 0;
    a->text[0] = '\0';
    CURL *c = curl_easy_init();
    long status = 0;
    if (c == NULL) {
        return 0;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, kill_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(c);
    return status;
}

/* One emulator control call that must answer 200; otherwise says which on
 * stderr (prog: ...) and returns false. */
static inline bool kill_sim_ok(tg_sim *sim, const char *prog, const char *method,
                               const char *target, const char *body, char *out, size_t cap) {
    int status = tg_sim_call(sim, method, target, body, out, cap);
    if (status != 200) {
        fprintf(stderr, "%s: emulator %s %s: %d %.300s\n", prog, method, target, status, out);
        return false;
    }
    return true;
}

/* trailguard's stops: a client id it made, or Bybit's position stop loss. */
static inline bool kill_stop_is_ours(const cJSON *stop) {
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(stop, "client_id");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(stop, "type");
    return (cJSON_IsString(id) && strncmp(id->valuestring, "tg-", 3) == 0) ||
           (cJSON_IsString(type) && strcmp(type->valuestring, "POSITION_SL") == 0);
}

#endif
