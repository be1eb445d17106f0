/*
 * The configuration file: libinih splits it into sections and key = value
 * pairs; this file checks every pair, reads the secrets it names and
 * resolves the parameter layers.
 *
 * Line numbers: Debian's libinih (55) is built without INI_HANDLER_LINENO,
 * so the handler is not told the line. libinih reads through our own
 * fgets-style reader, one line per call, and calls the handler for a line
 * before it reads the next; the reader counts lines and the handler uses
 * that count. The reader also sees section headers, so a section without
 * keys (which libinih never reports) is still checked.
 */
#define _DEFAULT_SOURCE /* explicit_bzero */

#include "trailguard/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trailguard/store.h"

#define FILE_BYTES_MAX     (1024 * 1024) /* a larger configuration file is a mistake */
#define TITLE_MAX          64            /* bytes of a section title, NUL included */
#define KEYS_SEEN_MAX      32            /* distinct valid keys of one section */
#define KEY_NAME_MAX       48            /* bytes of a key name kept for messages */
#define ECHO_MAX           40            /* bytes of a value quoted in a message */
#define ENV_NAME_MAX       64            /* bytes of an environment variable's name */
#define RECV_WINDOW_MS_MAX 60000         /* the exchanges' own limit */
#define LIMIT_PER_MIN_MAX  1000000       /* largest order or weight budget per minute */
#define SECONDS_MAX        86400         /* a guard setting of more than a day is a typo */
#define HINT_DISTANCE_MAX  2             /* edits for a "did you mean" */
#define MS_PER_S           1000

typedef enum section_kind {
    SEC_NONE, /* before the first header */
    SEC_BAD,  /* a header already reported as wrong: its keys are skipped */
    SEC_STORE,
    SEC_ACCOUNT,
    SEC_DEFAULTS,
    SEC_SYMBOL,
    SEC_HTTP,
    SEC_NOTIFY,
    SEC_LOG,
    SEC_DIAGNOSE,
    SEC_CLUSTER,
} section_kind;

/* Where an account's key or secret comes from. */
typedef struct secret_source {
    char env[ENV_NAME_MAX];        /* *_env: variable name */
    char file[TG_CONFIG_PATH_MAX]; /* *_file: path */
    int line;                      /* line of the key that named it; 0 = none */
    bool from_file;                /* which of the two */
} secret_source;

/* An [account] section while it is read; resolved after the whole file. */
typedef struct account_draft {
    bool has_venue;                  /* venue given and valid */
    bool venue_given;                /* venue given, valid or not */
    bool has_close_position;         /* close_position given */
    int close_position_line;         /* its line */
    char rest_url[TG_VENUE_URL_MAX]; /* "" = the venue's default */
    char ws_url[TG_VENUE_URL_MAX];   /* "" = the venue's default */
    secret_source key;               /* API key */
    secret_source secret;            /* API secret */
} account_draft;

typedef struct parser {
    tg_config *cfg;                                   /* being filled */
    tg_config_errors errors;                          /* every error so far */
    int error_lines[TG_CONFIG_ERRORS_MAX];            /* line of each kept error, for sorting */
    const char *name;                                 /* file name for messages */
    const char *text;                                 /* the whole file */
    size_t len, pos;                                  /* its length, reader position */
    int line;                                         /* line the reader returned last */
    const char *raw;                                  /* that line, leading blanks skipped */
    section_kind kind;                                /* section being read */
    char title[TITLE_MAX];                            /* its title, for messages */
    int section_line;                                 /* its header line */
    char seen[KEYS_SEEN_MAX][KEY_NAME_MAX];           /* valid keys of the section so far */
    int seen_line[KEYS_SEEN_MAX];                     /* their lines */
    size_t seen_count;                                /* entries used */
    int store_line, http_line, notify_line, log_line; /* headers seen; 0 = not yet */
    int diagnose_line;                                /* [diagnose] header; 0 = not yet */
    bool node_id_given;                               /* [cluster] node_id, valid or not */
    bool token_file_given;                            /* [http] token_file */
    char token_file[TG_CONFIG_PATH_MAX];              /* its path */
    int token_line;                                   /* its line */
    tg_config_layer *layer;                           /* [defaults] or [symbol] being read */
    account_draft drafts[TG_CONFIG_ACCOUNTS_MAX];     /* one per cfg->accounts entry */
} parser;

/* ---- errors ---- */

static void add_error(parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void add_error(parser *p, int line, const char *fmt, ...) {
    if (p->errors.count == TG_CONFIG_ERRORS_MAX) {
        p->errors.dropped++;
        return;
    }
    char sentence[TG_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sentence, sizeof sentence, fmt, ap);
    va_end(ap);
    tg_err *e = &p->errors.items[p->errors.count];
    tg_err_set(e, TG_E_INVALID, "%s:%d: %s", p->name, line, sentence);
    p->error_lines[p->errors.count] = line;
    p->errors.count++;
}

/* An error about key in the current section. */
#define KEY_ERROR(p, key, fmt, ...)                                                                \
    add_error((p), (p)->line, "[%s] %s: " fmt, (p)->title, (key), __VA_ARGS__)

static bool has_error_at(const parser *p, int line) {
    for (size_t i = 0; i < p->errors.count; i++) {
        if (p->error_lines[i] == line) {
            return true;
        }
    }
    return false;
}

/* Errors in line order; stable, so one line's errors keep their order. */
static void sort_errors(parser *p) {
    for (size_t i = 1; i < p->errors.count; i++) {
        tg_err e = p->errors.items[i];
        int line = p->error_lines[i];
        size_t j = i;
        for (; j > 0 && p->error_lines[j - 1] > line; j--) {
            p->errors.items[j] = p->errors.items[j - 1];
            p->error_lines[j] = p->error_lines[j - 1];
        }
        p->errors.items[j] = e;
        p->error_lines[j] = line;
    }
}

/* ---- small parsers of values ---- */

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la >= KEY_NAME_MAX || lb >= KEY_NAME_MAX) {
        return SIZE_MAX;
    }
    size_t row[KEY_NAME_MAX];
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diag + cost;
            if (row[j] + 1 < best) {
                best = row[j] + 1;
            }
            if (row[j - 1] + 1 < best) {
                best = row[j - 1] + 1;
            }
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The candidate nearest to given, or NULL when none is obviously meant. */
static const char *nearest(const char *given, const char *const *candidates) {
    char norm[KEY_NAME_MAX];
    snprintf(norm, sizeof norm, "%s", given);
    for (char *c = norm; *c != '\0'; c++) {
        *c = *c == '-' ? '_' : (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    }
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; candidates[i] != NULL; i++) {
        size_t d = edit_distance(norm, candidates[i]);
        if (d < best_d) {
            best_d = d;
            best = candidates[i];
        }
    }
    size_t len = strlen(norm);
    return best_d <= HINT_DISTANCE_MAX && best_d * 3 <= len ? best : NULL;
}

static bool parse_bool(const char *value, bool *out) {
    if (strcmp(value, "true") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(value, "false") == 0) {
        *out = false;
        return true;
    }
    return false;
}

/* A whole number in [min, max]. */
static bool parse_int(const char *value, int64_t min, int64_t max, int64_t *out) {
    if (*value == '\0') {
        return false;
    }
    int64_t n = 0;
    for (const char *c = value; *c != '\0'; c++) {
        if (*c < '0' || *c > '9' || n > max) {
            return false;
        }
        n = n * 10 + (*c - '0');
    }
    if (n < min || n > max) {
        return false;
    }
    *out = n;
    return true;
}

/* Seconds, decimals allowed ("0.5"), to whole ms in (0, SECONDS_MAX]. */
static bool parse_seconds(const char *value, int64_t *ms) {
    tg_dec sec;
    if (tg_dec_parse_cstr(value, &sec) != TG_DEC_OK || !tg_dec_is_pos(sec)) {
        return false;
    }
    const int64_t units_per_ms = TG_DEC_SCALE / MS_PER_S;
    if (sec.units % units_per_ms != 0 || sec.units / TG_DEC_SCALE > SECONDS_MAX) {
        return false;
    }
    *ms = sec.units / units_per_ms;
    return *ms <= (int64_t)SECONDS_MAX * MS_PER_S;
}

static bool copy_text(char *dst, size_t cap, const char *value) {
    size_t len = strlen(value);
    if (len >= cap) {
        return false;
    }
    memcpy(dst, value, len + 1);
    return true;
}

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool has_blank_or_control(const char *s) {
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s <= ' ' || *s == 0x7f) {
            return true;
        }
    }
    return false;
}

static bool valid_name(const char *s, size_t cap, bool symbol) {
    size_t len = strlen(s);
    if (len == 0 || len >= cap) {
        return false;
    }
    for (; *s != '\0'; s++) {
        char c = *s;
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == '_' || c == '-' ||
                  (!symbol && ((c >= 'a' && c <= 'z') || c == '.'));
        if (!ok) {
            return false;
        }
    }
    return true;
}

static bool valid_env_name(const char *s) {
    size_t len = strlen(s);
    if (len == 0 || len >= ENV_NAME_MAX || (*s >= '0' && *s <= '9')) {
        return false;
    }
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '_')) {
            return false;
        }
    }
    return true;
}

/* A name with lower-case letters may be an API key pasted in by mistake. */
static bool env_name_printable(const char *s) {
    for (; *s != '\0'; s++) {
        if (*s >= 'a' && *s <= 'z') {
            return false;
        }
    }
    return true;
}

/* ---- key tables ---- */

static const char *const store_keys[] = {"uri", NULL};
static const char *const account_keys[] = {"venue",
                                           "rest_url",
                                           "ws_url",
                                           "api_key_env",
                                           "api_key_file",
                                           "api_secret_env",
                                           "api_secret_file",
                                           "close_position",
                                           "recv_window_ms",
                                           "order_limit_per_min",
                                           "weight_limit_per_min",
                                           NULL};
static const char *const http_keys[] = {"listen", "token_file", NULL};
static const char *const notify_keys[] = {"webhook_url", "queue_max", NULL};
static const char *const log_keys[] = {"file", "level", NULL};
static const char *const diagnose_keys[] = {
    "engine_interval_seconds",   "store_interval_seconds",
    "exchange_interval_seconds", "consistency_interval_seconds",
    "progress_interval_seconds", "price_tolerance_percent",
    "unconfirmed_seconds",       NULL};
static const char *const setting_keys[] = {"foreign_stops", "reconcile_interval_seconds",
                                           "stale_seconds", "max_update_delay_seconds", NULL};
static const char *const cluster_keys[] = {"node_id", "lease_ttl_seconds", "lease_renew_seconds",
                                           "max_accounts", NULL};
static const char *const section_names[] = {"store",  "account", "defaults", "symbol",  "http",
                                            "notify", "log",     "diagnose", "cluster", NULL};

/* Keys that would hold a secret in the file itself. */
static bool is_secret_key(const char *key) {
    static const char *const words[] = {"secret",  "password", "passwd",      "token", "passphrase",
                                        "api_key", "apikey",   "private_key", NULL};
    for (size_t i = 0; words[i] != NULL; i++) {
        if (strstr(key, words[i]) != NULL) {
            return true;
        }
    }
    return strcmp(key, "key") == 0;
}

static bool in_list(const char *key, const char *const *list) {
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(key, list[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Layer keys: the engine's parameter names, then the guard settings. */
static bool is_layer_key(const char *key) {
    return in_list(key, tg_params_names()) || in_list(key, setting_keys);
}

static const char *const *section_keys(section_kind kind) {
    switch (kind) {
    case SEC_STORE:
        return store_keys;
    case SEC_ACCOUNT:
        return account_keys;
    case SEC_HTTP:
        return http_keys;
    case SEC_NOTIFY:
        return notify_keys;
    case SEC_LOG:
        return log_keys;
    case SEC_DIAGNOSE:
        return diagnose_keys;
    case SEC_CLUSTER:
        return cluster_keys;
    default:
        return NULL;
    }
}

/* Which other section a key belongs to, for the hint; NULL if none. */
static const char *home_of(const char *key) {
    if (in_list(key, store_keys)) {
        return "[store]";
    }
    if (in_list(key, account_keys)) {
        return "[account NAME]";
    }
    if (is_layer_key(key)) {
        return "[defaults] or [symbol SYMBOL]";
    }
    if (in_list(key, http_keys)) {
        return "[http]";
    }
    if (in_list(key, notify_keys)) {
        return "[notify]";
    }
    if (in_list(key, log_keys)) {
        return "[log]";
    }
    if (in_list(key, cluster_keys)) {
        return "[cluster]";
    }
    if (in_list(key, diagnose_keys)) {
        return "[diagnose]";
    }
    return NULL;
}

static void unknown_key(parser *p, const char *key) {
    if (is_secret_key(key)) {
        KEY_ERROR(p, key, "%s",
                  "secrets may not be written in the configuration file (the value is not "
                  "shown); name an environment variable (api_key_env, api_secret_env) or a "
                  "0600 file (api_key_file, api_secret_file, token_file) instead");
        return;
    }
    const char *home = home_of(key);
    if (home != NULL) {
        KEY_ERROR(p, key, "this key belongs in %s, not here", home);
        return;
    }
    const char *hint = NULL;
    if (p->kind == SEC_DEFAULTS || p->kind == SEC_SYMBOL) {
        hint = nearest(key, tg_params_names());
        if (hint == NULL) {
            hint = nearest(key, setting_keys);
        }
    } else {
        hint = nearest(key, section_keys(p->kind));
    }
    if (hint != NULL) {
        KEY_ERROR(p, key, "unknown key; did you mean %s?", hint);
    } else {
        KEY_ERROR(p, key, "%s", "unknown key");
    }
}

/* Records key as given in this section; false (and an error) if it was. */
static bool first_time(parser *p, const char *key) {
    for (size_t i = 0; i < p->seen_count; i++) {
        if (strcmp(p->seen[i], key) == 0) {
            KEY_ERROR(p, key, "given twice in one section (first at line %d)", p->seen_line[i]);
            return false;
        }
    }
    assert(p->seen_count < KEYS_SEEN_MAX);
    snprintf(p->seen[p->seen_count], KEY_NAME_MAX, "%s", key);
    p->seen_line[p->seen_count] = p->line;
    p->seen_count++;
    return true;
}

static int seen_at(const parser *p, const char *key) {
    for (size_t i = 0; i < p->seen_count; i++) {
        if (strcmp(p->seen[i], key) == 0) {
            return p->seen_line[i];
        }
    }
    return 0;
}

/* ---- sections ---- */

static bool title_word(const char *title, char *word, size_t cap, const char **rest) {
    size_t n = strcspn(title, " \t");
    if (n >= cap) {
        return false;
    }
    memcpy(word, title, n);
    word[n] = '\0';
    const char *r = title + n;
    while (*r == ' ' || *r == '\t') {
        r++;
    }
    *rest = r;
    return true;
}

static bool singleton_seen(parser *p, int *line_field, const char *word) {
    if (*line_field != 0) {
        add_error(p, p->line, "[%s] appears again; the section was first at line %d", word,
                  *line_field);
        return true;
    }
    *line_field = p->line;
    return false;
}

static section_kind begin_account(parser *p, const char *name) {
    tg_config *cfg = p->cfg;
    if (!valid_name(name, TG_VENUE_KEY_MAX, false)) {
        add_error(p, p->line,
                  "[%s] the account name must be 1 to %d bytes of A-Z, a-z, 0-9, '_', '.' and "
                  "'-'",
                  p->title, TG_VENUE_KEY_MAX - 1);
        return SEC_BAD;
    }
    const tg_config_account *twin = tg_config_account_find(cfg, name);
    if (twin != NULL) {
        add_error(p, p->line, "[%s] appears again; the section was first at line %d", p->title,
                  twin->line);
        return SEC_BAD;
    }
    if (cfg->accounts_count == TG_CONFIG_ACCOUNTS_MAX) {
        add_error(p, p->line, "[%s] more than %d accounts", p->title, TG_CONFIG_ACCOUNTS_MAX);
        return SEC_BAD;
    }
    tg_config_account *a = &cfg->accounts[cfg->accounts_count++];
    snprintf(a->name, sizeof a->name, "%s", name);
    a->line = p->line;
    return SEC_ACCOUNT;
}

static section_kind begin_symbol(parser *p, const char *name) {
    tg_config *cfg = p->cfg;
    if (!valid_name(name, TG_SYMBOL_MAX, true)) {
        add_error(p, p->line,
                  "[%s] the symbol must be 1 to %d bytes of A-Z, 0-9, '_' and '-', as the "
                  "exchange writes it (BTCUSDT)",
                  p->title, TG_SYMBOL_MAX - 1);
        return SEC_BAD;
    }
    const tg_config_layer *twin = tg_config_symbol(cfg, name);
    if (twin != NULL) {
        add_error(p, p->line, "[%s] appears again; the section was first at line %d", p->title,
                  twin->line);
        return SEC_BAD;
    }
    if (cfg->symbols_count == TG_CONFIG_SYMBOLS_MAX) {
        add_error(p, p->line, "[%s] more than %d symbol sections", p->title, TG_CONFIG_SYMBOLS_MAX);
        return SEC_BAD;
    }
    tg_config_layer *l = &cfg->symbols[cfg->symbols_count++];
    snprintf(l->symbol, sizeof l->symbol, "%s", name);
    l->line = p->line;
    p->layer = l;
    return SEC_SYMBOL;
}

static section_kind classify(parser *p, const char *word, const char *rest) {
    if (strcmp(word, "account") == 0 || strcmp(word, "symbol") == 0) {
        if (*rest == '\0') {
            add_error(p, p->line, "[%s] needs a name: [%s NAME]", word, word);
            return SEC_BAD;
        }
        return word[0] == 'a' ? begin_account(p, rest) : begin_symbol(p, rest);
    }
    static const struct {
        const char *word;
        section_kind kind;
    } singles[] = {{"store", SEC_STORE},    {"defaults", SEC_DEFAULTS}, {"http", SEC_HTTP},
                   {"notify", SEC_NOTIFY},  {"log", SEC_LOG},           {"diagnose", SEC_DIAGNOSE},
                   {"cluster", SEC_CLUSTER}};
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++) {
        if (strcmp(word, singles[i].word) != 0) {
            continue;
        }
        if (*rest != '\0') {
            add_error(p, p->line, "[%s] takes no name; write [%s]", p->title, word);
            return SEC_BAD;
        }
        int *line_field = singles[i].kind == SEC_STORE      ? &p->store_line
                          : singles[i].kind == SEC_DEFAULTS ? &p->cfg->defaults.line
                          : singles[i].kind == SEC_HTTP     ? &p->http_line
                          : singles[i].kind == SEC_NOTIFY   ? &p->notify_line
                          : singles[i].kind == SEC_LOG      ? &p->log_line
                          : singles[i].kind == SEC_CLUSTER  ? &p->cfg->cluster.line
                                                            : &p->diagnose_line;
        if (singleton_seen(p, line_field, word)) {
            return SEC_BAD;
        }
        if (singles[i].kind == SEC_DEFAULTS) {
            p->layer = &p->cfg->defaults;
        }
        return singles[i].kind;
    }
    const char *hint = nearest(word, section_names);
    if (hint != NULL) {
        add_error(p, p->line, "[%s] unknown section; did you mean [%s%s%s]?", p->title, hint,
                  *rest != '\0' ? " " : "", rest);
    } else {
        add_error(p, p->line,
                  "[%s] unknown section; the sections are store, account NAME, defaults, "
                  "symbol SYMBOL, http, notify, log, diagnose and cluster",
                  p->title);
    }
    return SEC_BAD;
}

/* Called by the reader for a line that starts with '['. */
static void begin_section(parser *p, const char *line) {
    p->seen_count = 0;
    p->layer = NULL;
    p->kind = SEC_BAD;
    p->section_line = p->line;
    const char *close = strchr(line, ']');
    if (close == NULL) {
        snprintf(p->title, sizeof p->title, "?");
        add_error(p, p->line, "%s", "a section header needs a closing ']'");
        return;
    }
    size_t n = (size_t)(close - line - 1);
    char inner[TITLE_MAX];
    if (n >= sizeof inner) {
        snprintf(p->title, sizeof p->title, "?");
        add_error(p, p->line, "a section title is longer than %d bytes", TITLE_MAX - 1);
        return;
    }
    memcpy(inner, line + 1, n);
    inner[n] = '\0';
    /* trim, as libinih does */
    char *t = inner;
    while (*t == ' ' || *t == '\t') {
        t++;
    }
    size_t tl = strlen(t);
    while (tl > 0 && (t[tl - 1] == ' ' || t[tl - 1] == '\t')) {
        t[--tl] = '\0';
    }
    snprintf(p->title, sizeof p->title, "%s", t);
    char word[TITLE_MAX];
    const char *rest = NULL;
    if (!title_word(t, word, sizeof word, &rest)) {
        add_error(p, p->line, "%s", "unreadable section title");
        return;
    }
    p->kind = classify(p, word, rest);
}

/* ---- keys ---- */

static void key_store(parser *p, const char *key, const char *value) {
    tg_config *cfg = p->cfg;
    assert(strcmp(key, "uri") == 0);
    /* The URI may hold a database password: it is never quoted. */
    if (!copy_text(cfg->store_uri, sizeof cfg->store_uri, value) || *value == '\0') {
        KEY_ERROR(p, key, "must be 1 to %d bytes", TG_CONFIG_PATH_MAX - 1);
    } else if (strstr(value, "://") != NULL && !starts_with(value, "postgresql://") &&
               !starts_with(value, "postgres://")) {
        KEY_ERROR(p, key, "%s", "only a file path, sqlite:PATH or postgresql://... is supported");
    } else if (strcmp(value, "sqlite:") == 0) {
        KEY_ERROR(p, key, "%s", "sqlite: needs a path (sqlite:/var/lib/trailguard/tg.db)");
    }
}

static void set_source(parser *p, const char *key, const char *value, secret_source *src,
                       bool from_file, const char *what) {
    if (src->line != 0) {
        KEY_ERROR(p, key,
                  "the API %s already comes from line %d; give exactly one of %s_env and %s_file",
                  what, src->line, what, what);
        return;
    }
    src->line = p->line;
    src->from_file = from_file;
    if (from_file) {
        if (*value == '\0' || !copy_text(src->file, sizeof src->file, value)) {
            KEY_ERROR(p, key, "must be a path of 1 to %d bytes", TG_CONFIG_PATH_MAX - 1);
        }
    } else if (!valid_env_name(value)) {
        /* not quoted: it may be the key itself */
        KEY_ERROR(p, key,
                  "the value is not an environment variable name (letters, digits, '_'); "
                  "if it is the %s itself, move it to the environment",
                  what);
    } else {
        snprintf(src->env, sizeof src->env, "%s", value);
    }
}

static void key_url(parser *p, const char *key, const char *value, char *dst, bool ws) {
    /* URLs may carry credentials (user:pass@): not quoted. */
    bool scheme = ws ? starts_with(value, "wss://") || starts_with(value, "ws://")
                     : starts_with(value, "https://") || starts_with(value, "http://");
    if (!scheme) {
        KEY_ERROR(p, key, "must start with %s", ws ? "wss:// or ws://" : "https:// or http://");
    } else if (has_blank_or_control(value) || !copy_text(dst, TG_VENUE_URL_MAX, value)) {
        KEY_ERROR(p, key, "must be a URL of at most %d bytes without blanks", TG_VENUE_URL_MAX - 1);
    }
}

static void key_account(parser *p, const char *key, const char *value) {
    tg_config_account *a = &p->cfg->accounts[p->cfg->accounts_count - 1];
    account_draft *d = &p->drafts[p->cfg->accounts_count - 1];
    if (strcmp(key, "venue") == 0) {
        d->venue_given = true;
        if (strcmp(value, "binance") == 0) {
            a->venue.kind = TG_VENUE_BINANCE;
        } else if (strcmp(value, "bybit") == 0) {
            a->venue.kind = TG_VENUE_BYBIT;
        } else {
            KEY_ERROR(p, key, "'%.*s' is not binance or bybit", ECHO_MAX, value);
            return;
        }
        d->has_venue = true;
    } else if (strcmp(key, "rest_url") == 0) {
        key_url(p, key, value, d->rest_url, false);
    } else if (strcmp(key, "ws_url") == 0) {
        key_url(p, key, value, d->ws_url, true);
    } else if (strcmp(key, "api_key_env") == 0 || strcmp(key, "api_key_file") == 0) {
        set_source(p, key, value, &d->key, strcmp(key, "api_key_file") == 0, "key");
    } else if (strcmp(key, "api_secret_env") == 0 || strcmp(key, "api_secret_file") == 0) {
        set_source(p, key, value, &d->secret, strcmp(key, "api_secret_file") == 0, "secret");
    } else if (strcmp(key, "close_position") == 0) {
        if (!parse_bool(value, &a->venue.close_position)) {
            KEY_ERROR(p, key, "'%.*s' is not true or false", ECHO_MAX, value);
        }
        d->has_close_position = true;
        d->close_position_line = p->line;
    } else if (strcmp(key, "recv_window_ms") == 0) {
        int64_t ms = 0;
        if (!parse_int(value, 1, RECV_WINDOW_MS_MAX, &ms)) {
            KEY_ERROR(p, key, "'%.*s' is not a whole number of ms from 1 to %d", ECHO_MAX, value,
                      RECV_WINDOW_MS_MAX);
        }
        a->venue.recv_window_ms = ms;
    } else if (strcmp(key, "order_limit_per_min") == 0 ||
               strcmp(key, "weight_limit_per_min") == 0) {
        /* accounts granted higher limits by the exchange (and benchmarks) */
        int64_t n = 0;
        if (!parse_int(value, 1, LIMIT_PER_MIN_MAX, &n)) {
            KEY_ERROR(p, key, "'%.*s' is not a whole number from 1 to %d", ECHO_MAX, value,
                      LIMIT_PER_MIN_MAX);
        }
        *(key[0] == 'o' ? &a->venue.order_limit_per_min : &a->venue.weight_limit_per_min) =
            (uint32_t)n;
    }
}

static void key_setting(parser *p, tg_config_layer *l, const char *key, const char *value) {
    tg_guard_settings *s = &l->settings;
    if (strcmp(key, "foreign_stops") == 0) {
        if (strcmp(value, "leave") == 0) {
            s->foreign_stops = TG_FOREIGN_LEAVE;
        } else if (strcmp(value, "cancel") == 0) {
            s->foreign_stops = TG_FOREIGN_CANCEL;
        } else {
            KEY_ERROR(p, key, "'%.*s' is not leave or cancel", ECHO_MAX, value);
            return;
        }
        l->settings_set |= TG_S_FOREIGN_STOPS;
        return;
    }
    int64_t ms = 0;
    if (!parse_seconds(value, &ms)) {
        KEY_ERROR(p, key, "'%.*s' is not a number of seconds > 0 and ≤ %d, to the ms", ECHO_MAX,
                  value, SECONDS_MAX);
        return;
    }
    if (strcmp(key, "reconcile_interval_seconds") == 0) {
        s->reconcile_interval_ms = ms;
        l->settings_set |= TG_S_RECONCILE_INTERVAL;
    } else if (strcmp(key, "stale_seconds") == 0) {
        s->stale_ms = ms;
        l->settings_set |= TG_S_STALE;
    } else {
        assert(strcmp(key, "max_update_delay_seconds") == 0);
        s->max_update_delay_ms = ms;
        l->settings_set |= TG_S_MAX_UPDATE_DELAY;
    }
}

static void key_layer(parser *p, const char *key, const char *value) {
    tg_config_layer *l = p->layer;
    assert(l != NULL);
    if (in_list(key, setting_keys)) {
        key_setting(p, l, key, value);
        return;
    }
    static const char *const callbacks[] = {"callback_percent", "callback_ticks", "callback_price"};
    for (size_t i = 0; i < 3 && starts_with(key, "callback_"); i++) {
        int line = strcmp(key, callbacks[i]) != 0 ? seen_at(p, callbacks[i]) : 0;
        if (line != 0) {
            KEY_ERROR(p, key, "the callback is already given by %s at line %d; give one",
                      callbacks[i], line);
            return;
        }
    }
    tg_err e;
    if (tg_params_set(&l->params, key, value, &e) != TG_OK) {
        add_error(p, p->line, "[%s] %s", p->title, e.msg);
    }
}

static void key_http(parser *p, const char *key, const char *value) {
    tg_config *cfg = p->cfg;
    if (strcmp(key, "token_file") == 0) {
        if (*value == '\0' || !copy_text(p->token_file, sizeof p->token_file, value)) {
            KEY_ERROR(p, key, "must be a path of 1 to %d bytes", TG_CONFIG_PATH_MAX - 1);
            return;
        }
        p->token_file_given = true;
        p->token_line = p->line;
        return;
    }
    if (!copy_text(cfg->http_listen, sizeof cfg->http_listen, value)) {
        KEY_ERROR(p, key, "longer than %d bytes", TG_CONFIG_LISTEN_MAX - 1);
        return;
    }
    const char *colon = strrchr(value, ':');
    int64_t port = 0;
    const char *host = value;
    size_t host_len = colon != NULL ? (size_t)(colon - value) : 0;
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    bool host_ok = host_len > 0 && host_len < sizeof cfg->http_host;
    for (size_t i = 0; host_ok && i < host_len; i++) {
        char c = host[i];
        host_ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  c == '.' || c == '-' || c == ':';
    }
    if (colon == NULL || !host_ok || !parse_int(colon + 1, 0, 65535, &port)) {
        KEY_ERROR(p, key, "'%.*s' is not HOST:PORT (127.0.0.1:8427, [::1]:8427; port 0 to 65535)",
                  ECHO_MAX, value);
        return;
    }
    memcpy(cfg->http_host, host, host_len);
    cfg->http_host[host_len] = '\0';
    cfg->http_port = (uint16_t)port;
}

/* Keys whose value is one of a few plain kinds, parsed and checked the same
 * way in whichever section they are: a table instead of a handler each.
 * Keys with their own rules (listen, webhook_url, level, node_id) have
 * handlers below. */
typedef enum field_kind {
    FIELD_SECONDS, /* int64_t ms from "N seconds" (parse_seconds) */
    FIELD_COUNT,   /* uint32_t from 1 to limit */
    FIELD_PATH,    /* char[limit], 1 to limit − 1 bytes */
} field_kind;

typedef struct field {
    section_kind section; /* where the key lives */
    const char *key;      /* its name */
    field_kind kind;      /* how its value reads */
    size_t offset;        /* where it goes in tg_config */
    int limit;            /* FIELD_COUNT: largest value; FIELD_PATH: buffer size */
} field;

#define FIELD_AT(member) offsetof(tg_config, member)
#define FIELD_IS(member, type)                                                                     \
    _Static_assert(sizeof(((tg_config *)0)->member) == sizeof(type), #member " is not " #type)
FIELD_IS(notify_queue_max, uint32_t);
FIELD_IS(cluster.max_accounts, uint32_t);
FIELD_IS(cluster.lease_ttl_ms, int64_t);
FIELD_IS(diagnose.engine_interval_ms, int64_t);
FIELD_IS(log_file, char[TG_CONFIG_PATH_MAX]);

static const field fields[] = {
    {SEC_NOTIFY, "queue_max", FIELD_COUNT, FIELD_AT(notify_queue_max), TG_CONFIG_QUEUE_MAX},
    {SEC_LOG, "file", FIELD_PATH, FIELD_AT(log_file), TG_CONFIG_PATH_MAX},
    {SEC_DIAGNOSE, "engine_interval_seconds", FIELD_SECONDS, FIELD_AT(diagnose.engine_interval_ms),
     0},
    {SEC_DIAGNOSE, "store_interval_seconds", FIELD_SECONDS, FIELD_AT(diagnose.store_interval_ms),
     0},
    {SEC_DIAGNOSE, "exchange_interval_seconds", FIELD_SECONDS,
     FIELD_AT(diagnose.exchange_interval_ms), 0},
    {SEC_DIAGNOSE, "consistency_interval_seconds", FIELD_SECONDS,
     FIELD_AT(diagnose.consistency_interval_ms), 0},
    {SEC_DIAGNOSE, "progress_interval_seconds", FIELD_SECONDS,
     FIELD_AT(diagnose.progress_interval_ms), 0},
    {SEC_DIAGNOSE, "unconfirmed_seconds", FIELD_SECONDS, FIELD_AT(diagnose.unconfirmed_ms), 0},
    {SEC_CLUSTER, "lease_ttl_seconds", FIELD_SECONDS, FIELD_AT(cluster.lease_ttl_ms), 0},
    {SEC_CLUSTER, "lease_renew_seconds", FIELD_SECONDS, FIELD_AT(cluster.lease_renew_ms), 0},
    {SEC_CLUSTER, "max_accounts", FIELD_COUNT, FIELD_AT(cluster.max_accounts),
     TG_CONFIG_ACCOUNTS_MAX},
};

/* Parses key of the current section if the table has it: true when it did
 * (the value stored, or its error reported). */
static bool key_field(parser *p, const char *key, const char *value) {
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const field *f = &fields[i];
        if (f->section != p->kind || strcmp(f->key, key) != 0) {
            continue;
        }
        char *at = (char *)p->cfg + f->offset;
        int64_t n = 0;
        switch (f->kind) {
        case FIELD_SECONDS:
            if (!parse_seconds(value, &n)) {
                KEY_ERROR(p, key, "'%.*s' is not a number of seconds above 0 and at most %d",
                          ECHO_MAX, value, SECONDS_MAX);
            } else {
                memcpy(at, &n, sizeof n);
            }
            break;
        case FIELD_COUNT:
            if (!parse_int(value, 1, f->limit, &n)) {
                KEY_ERROR(p, key, "'%.*s' is not a whole number from 1 to %d", ECHO_MAX, value,
                          f->limit);
            } else {
                uint32_t u = (uint32_t)n;
                memcpy(at, &u, sizeof u);
            }
            break;
        case FIELD_PATH:
            if (*value == '\0' || !copy_text(at, (size_t)f->limit, value)) {
                KEY_ERROR(p, key, "must be a path of 1 to %d bytes", f->limit - 1);
            }
            break;
        }
        return true;
    }
    return false;
}

static void key_notify(parser *p, const char *key, const char *value) {
    tg_config *cfg = p->cfg;
    /* A webhook URL often is a secret (Slack, Discord): never quoted. */
    if (!starts_with(value, "https://") && !starts_with(value, "http://")) {
        KEY_ERROR(p, key, "%s", "must start with https:// or http:// (the value is not shown)");
    } else if (has_blank_or_control(value) ||
               !copy_text(cfg->webhook_url, sizeof cfg->webhook_url, value)) {
        KEY_ERROR(p, key, "must be a URL of at most %d bytes without blanks",
                  TG_CONFIG_PATH_MAX - 1);
    }
}

static void key_log(parser *p, const char *key, const char *value) {
    tg_config *cfg = p->cfg;
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(value, levels[i]) == 0) {
            cfg->log_level = (tg_log_level)i;
            return;
        }
    }
    KEY_ERROR(p, key, "'%.*s' is not debug, info, warn or error", ECHO_MAX, value);
}

static void key_diagnose(parser *p, const char *key, const char *value) {
    tg_config_diagnose *d = &p->cfg->diagnose;
    assert(strcmp(key, "price_tolerance_percent") == 0); /* the rest are fields */
    tg_dec pct;
    if (tg_dec_parse_cstr(value, &pct) != TG_DEC_OK || tg_dec_is_neg(pct) ||
        tg_dec_cmp(pct, tg_dec_from_units(100 * TG_DEC_SCALE)) > 0) {
        KEY_ERROR(p, key, "'%.*s' is not a percent from 0 to 100", ECHO_MAX, value);
        return;
    }
    d->price_tolerance_percent = pct;
}

static bool valid_node_id(const char *value) {
    size_t n = strlen(value);
    if (n == 0 || n >= TG_CONFIG_NODE_ID_MAX) {
        return false;
    }
    for (const char *c = value; *c != '\0'; c++) {
        if (!isalnum((unsigned char)*c) && strchr("_.:-", *c) == NULL) {
            return false;
        }
    }
    return true;
}

static void key_cluster(parser *p, const char *key, const char *value) {
    assert(strcmp(key, "node_id") == 0); /* the rest are fields */
    p->node_id_given = true;
    if (!valid_node_id(value)) {
        KEY_ERROR(p, key, "'%.*s' is not 1 to %d bytes of letters, digits and _.:-", ECHO_MAX,
                  value, TG_CONFIG_NODE_ID_MAX - 1);
        return;
    }
    snprintf(p->cfg->cluster.node_id, sizeof p->cfg->cluster.node_id, "%s", value);
}

/* After the whole file: [store] may come after [cluster]. */
static void validate_cluster(parser *p) {
    tg_config_cluster *c = &p->cfg->cluster;
    if (c->line == 0) {
        return;
    }
    const char *uri = p->cfg->store_uri;
    bool postgres = starts_with(uri, "postgresql://") || starts_with(uri, "postgres://") ||
                    (strchr(uri, '=') != NULL && !starts_with(uri, "sqlite:"));
    if (!postgres) {
        add_error(p, c->line,
                  "[cluster] needs a PostgreSQL store ([store] uri = postgresql://...): a SQLite "
                  "store serves one process");
    }
    if (!p->node_id_given) {
        add_error(p, c->line,
                  "[cluster] node_id is missing; give each process its own (e.g. node_id = %s)",
                  "tg-1");
    }
    if (c->lease_renew_ms * 2 > c->lease_ttl_ms) {
        add_error(p, c->line,
                  "[cluster] lease_renew_seconds (%" PRId64 " ms) must be at most half of "
                  "lease_ttl_seconds (%" PRId64 " ms): a lease must survive one failed renewal",
                  c->lease_renew_ms, c->lease_ttl_ms);
    }
    c->enabled = postgres;
}

static int on_pair(void *user, const char *section, const char *key, const char *value) {
    parser *p = user;
    (void)section; /* the reader tracked it, with its line */
    if (key == NULL) {
        return 1;
    }
    /* libinih continues a value on an indented line; the line then does not
     * start with the key. */
    if (!starts_with(p->raw, key)) {
        add_error(p, p->line,
                  "[%s] an indented line continues the value of %s; multi-line "
                  "values are not supported",
                  p->title, key);
        return 1;
    }
    if (p->kind == SEC_NONE) {
        add_error(p, p->line, "%s: the key is outside any section", key);
        return 1;
    }
    if (p->kind == SEC_BAD) {
        return 1;
    }
    const char *const *keys = section_keys(p->kind);
    bool known = keys != NULL ? in_list(key, keys) : is_layer_key(key);
    if (!known) {
        unknown_key(p, key);
        return 1;
    }
    if (!first_time(p, key)) {
        return 1;
    }
    if (key_field(p, key, value)) {
        return 1;
    }
    switch (p->kind) {
    case SEC_STORE:
        key_store(p, key, value);
        break;
    case SEC_ACCOUNT:
        key_account(p, key, value);
        break;
    case SEC_DEFAULTS:
    case SEC_SYMBOL:
        key_layer(p, key, value);
        break;
    case SEC_HTTP:
        key_http(p, key, value);
        break;
    case SEC_NOTIFY:
        key_notify(p, key, value);
        break;
    case SEC_LOG:
        key_log(p, key, value);
        break;
    case SEC_DIAGNOSE:
        key_diagnose(p, key, value);
        break;
    case SEC_CLUSTER:
        key_cluster(p, key, value);
        break;
    case SEC_NONE:
    case SEC_BAD:
        assert(false);
    }
    return 1;
}

/* libinih's fgets: one line per call, counted; section headers noted. */
static char *read_line(char *str, int num, void *stream) {
    parser *p = stream;
    assert(num > 2);
    if (p->pos >= p->len) {
        return NULL;
    }
    const char *start = p->text + p->pos;
    const char *nl = memchr(start, '\n', p->len - p->pos);
    size_t n = nl != NULL ? (size_t)(nl - start) + 1 : p->len - p->pos;
    p->pos += n;
    p->line++;
    if (n > (size_t)num - 1) {
        add_error(p, p->line, "the line is longer than %d bytes", num - 2);
        memcpy(str, "\n", 2);
    } else {
        memcpy(str, start, n);
        str[n] = '\0';
    }
    const char *raw = str;
    if (p->line == 1 && starts_with(raw, "\xEF\xBB\xBF")) {
        raw += 3;
    }
    while (*raw == ' ' || *raw == '\t') {
        raw++;
    }
    p->raw = raw;
    if (*raw == '[') {
        begin_section(p, raw);
    }
    return str;
}

/* ---- secrets ---- */

/* Checks and trims a secret read from outside; nothing of it is quoted. */
static bool secret_ok(parser *p, int line, const char *what, char *buf, size_t len) {
    if (len > 0 && buf[len - 1] == '\n') {
        buf[--len] = '\0';
        if (len > 0 && buf[len - 1] == '\r') {
            buf[--len] = '\0';
        }
    }
    if (len == 0) {
        add_error(p, line, "%s is empty", what);
        return false;
    }
    if (memchr(buf, '\0', len) != NULL || has_blank_or_control(buf)) {
        add_error(p, line, "%s contains a blank, a control character or a second line", what);
        return false;
    }
    return true;
}

/* Reads a file that only its owner may read into buf (cap bytes). */
static bool read_secret_file(parser *p, int line, const char *what, const char *path, char *buf,
                             size_t cap) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        add_error(p, line, "%s: cannot open '%s': %s", what, path, strerror(errno));
        return false;
    }
    struct stat st;
    bool ok = false;
    if (fstat(fd, &st) != 0) {
        add_error(p, line, "%s: cannot stat '%s': %s", what, path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        add_error(p, line, "%s: '%s' is not a regular file", what, path);
    } else if (st.st_uid != geteuid()) {
        add_error(p, line, "%s: '%s' is owned by uid %u, not by this user (uid %u)", what, path,
                  (unsigned)st.st_uid, (unsigned)geteuid());
    } else if ((st.st_mode & 077) != 0) {
        add_error(p, line,
                  "%s: '%s' has mode %04o; it must be 0600 or stricter (chmod 600 the file)", what,
                  path, (unsigned)(st.st_mode & 07777));
    } else {
        ssize_t n = read(fd, buf, cap);
        if (n < 0) {
            add_error(p, line, "%s: cannot read '%s': %s", what, path, strerror(errno));
        } else if ((size_t)n == cap && !(buf[cap - 1] == '\n' && cap >= 2)) {
            add_error(p, line, "%s in '%s' is longer than %zu bytes", what, path, cap - 1);
        } else {
            size_t len = (size_t)n < cap ? (size_t)n : cap - 1;
            buf[len] = '\0';
            ok = secret_ok(p, line, what, buf, (size_t)n);
        }
    }
    close(fd);
    if (!ok) {
        explicit_bzero(buf, cap);
    }
    return ok;
}

static bool read_secret(parser *p, const secret_source *src, const char *what, char *buf,
                        size_t cap) {
    if (src->from_file) {
        return read_secret_file(p, src->line, what, src->file, buf, cap);
    }
    const char *v = getenv(src->env);
    if (v == NULL) {
        if (env_name_printable(src->env)) {
            add_error(p, src->line, "%s: the environment variable %s is not set", what, src->env);
        } else {
            add_error(p, src->line,
                      "%s: the environment variable it names is not set (a name with lower-case "
                      "letters is not shown: it may be a pasted key)",
                      what);
        }
        return false;
    }
    size_t len = strlen(v);
    if (len >= cap) {
        add_error(p, src->line, "%s from the environment is longer than %zu bytes", what, cap - 1);
        return false;
    }
    memcpy(buf, v, len + 1);
    bool ok = secret_ok(p, src->line, what, buf, len);
    if (!ok) {
        explicit_bzero(buf, cap);
    }
    return ok;
}

/* ---- after the whole file ---- */

static void resolve_account(parser *p, size_t i) {
    tg_config_account *a = &p->cfg->accounts[i];
    const account_draft *d = &p->drafts[i];
    if (!d->has_venue) {
        if (d->venue_given) {
            return; /* reported at its line */
        }
        add_error(p, a->line, "[account %s] venue is missing; give venue = binance or bybit",
                  a->name);
        return;
    }
    tg_venue_config given = a->venue;
    a->venue = tg_venue_config_default(given.kind);
    _Static_assert(sizeof a->venue.account == sizeof a->name, "account name sizes");
    memcpy(a->venue.account, a->name, sizeof a->name);
    if (d->rest_url[0] != '\0') {
        snprintf(a->venue.rest_url, sizeof a->venue.rest_url, "%s", d->rest_url);
    }
    if (d->ws_url[0] != '\0') {
        snprintf(a->venue.ws_url, sizeof a->venue.ws_url, "%s", d->ws_url);
    }
    if (given.recv_window_ms != 0) {
        a->venue.recv_window_ms = given.recv_window_ms;
    }
    if (given.order_limit_per_min != 0) {
        a->venue.order_limit_per_min = given.order_limit_per_min;
    }
    if (given.weight_limit_per_min != 0) {
        a->venue.weight_limit_per_min = given.weight_limit_per_min;
    }
    if (d->has_close_position && given.kind != TG_VENUE_BINANCE) {
        add_error(p, d->close_position_line,
                  "[account %s] close_position: is a Binance setting; Bybit's position stop "
                  "always closes the whole position",
                  a->name);
    }
    a->venue.close_position = given.kind == TG_VENUE_BINANCE && given.close_position;
    char what[TG_VENUE_KEY_MAX + 32];
    const secret_source *srcs[2] = {&d->key, &d->secret};
    char *dsts[2] = {a->venue.api_key, a->venue.api_secret};
    for (int k = 0; k < 2; k++) {
        const char *noun = k == 0 ? "key" : "secret";
        snprintf(what, sizeof what, "[account %s] the API %s", a->name, noun);
        if (srcs[k]->line == 0) {
            add_error(p, a->line, "%s is missing; give api_%s_env or api_%s_file", what, noun,
                      noun);
        } else if (srcs[k]->env[0] != '\0' || srcs[k]->from_file) {
            read_secret(p, srcs[k], what, dsts[k], TG_VENUE_SECRET_MAX);
        }
    }
}

static void validate_layers(parser *p) {
    tg_config *cfg = p->cfg;
    tg_err e;
    tg_params d = tg_config_params(cfg, NULL);
    int line = cfg->defaults.line != 0 ? cfg->defaults.line : 1;
    if (tg_params_validate(&d, &e) != TG_OK) {
        add_error(p, line, "[defaults] %s", e.msg);
        return; /* every symbol would repeat it */
    }
    for (size_t i = 0; i < cfg->symbols_count; i++) {
        const tg_config_layer *l = &cfg->symbols[i];
        tg_params sp = tg_config_params(cfg, l->symbol);
        if (tg_params_validate(&sp, &e) != TG_OK) {
            add_error(p, l->line, "[symbol %s] %s (with [defaults] under it)", l->symbol, e.msg);
        }
    }
}

static void resolve(parser *p) {
    tg_config *cfg = p->cfg;
    if (cfg->accounts_count == 0 && !has_error_at(p, p->line)) {
        add_error(p, p->line > 0 ? p->line : 1,
                  "no [account NAME] section; give at least one with its venue and API key");
    }
    for (size_t i = 0; i < cfg->accounts_count; i++) {
        resolve_account(p, i);
    }
    if (p->token_file_given) {
        cfg->has_token = read_secret_file(p, p->token_line, "[http] token_file", p->token_file,
                                          cfg->http_token, sizeof cfg->http_token);
    }
    validate_layers(p);
    validate_cluster(p);
}

static void config_defaults(tg_config *cfg, const char *name) {
    snprintf(cfg->path, sizeof cfg->path, "%s", name);
    snprintf(cfg->store_uri, sizeof cfg->store_uri, "%s", TG_STORE_DEFAULT_URI);
    snprintf(cfg->http_listen, sizeof cfg->http_listen, "%s", TG_CONFIG_LISTEN_DEF);
    snprintf(cfg->http_host, sizeof cfg->http_host, "127.0.0.1");
    cfg->http_port = 8427;
    cfg->notify_queue_max = TG_CONFIG_QUEUE_DEF;
    cfg->log_level = TG_LOG_INFO;
    cfg->diagnose = (tg_config_diagnose){
        .engine_interval_ms = 5 * MS_PER_S,
        .store_interval_ms = 30 * MS_PER_S,
        .exchange_interval_ms = 60 * MS_PER_S,
        .consistency_interval_ms = 120 * MS_PER_S,
        .progress_interval_ms = 60 * MS_PER_S,
        .price_tolerance_percent = tg_dec_from_units(TG_DEC_SCALE / 10),
        .unconfirmed_ms = 30 * MS_PER_S,
    };
    cfg->cluster.lease_ttl_ms = 10 * MS_PER_S;
    cfg->cluster.lease_renew_ms = 3 * MS_PER_S;
}

static tg_status read_file(const char *path, char **text, size_t *len, tg_err *err) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return tg_err_set(err, TG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    char *buf = malloc(FILE_BYTES_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return tg_err_set(err, TG_E_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, FILE_BYTES_MAX + 1, f);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        free(buf);
        return tg_err_set(err, TG_E_IO, "%s: cannot read", path);
    }
    if (n > FILE_BYTES_MAX) {
        free(buf);
        return tg_err_set(err, TG_E_INVALID, "%s: larger than %d bytes", path, FILE_BYTES_MAX);
    }
    if (memchr(buf, '\0', n) != NULL) {
        free(buf);
        return tg_err_set(err, TG_E_INVALID, "%s: contains a NUL byte; is it a text file?", path);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return TG_OK;
}

/* ---- public ---- */

static tg_status fail_alone(tg_config_errors *errors, tg_status st, const tg_err *e) {
    if (errors != NULL) {
        memset(errors, 0, sizeof *errors);
        errors->items[0] = *e;
        errors->count = 1;
    }
    return st;
}

tg_status tg_config_load_all(const char *name, const char *text, tg_config **out,
                             tg_config_errors *errors) {
    assert(name != NULL && out != NULL);
    *out = NULL;
    tg_err e;
    tg_err_clear(&e);
    char *owned = NULL;
    size_t len = 0;
    if (text == NULL) {
        tg_status st = read_file(name, &owned, &len, &e);
        if (st != TG_OK) {
            return fail_alone(errors, st, &e);
        }
        text = owned;
    } else {
        len = strlen(text);
    }
    tg_config *cfg = calloc(1, sizeof *cfg);
    parser *p = calloc(1, sizeof *p);
    if (cfg == NULL || p == NULL) {
        free(cfg);
        free(p);
        free(owned);
        tg_err_set(&e, TG_E_NOMEM, "%s: out of memory", name);
        return fail_alone(errors, TG_E_NOMEM, &e);
    }
    config_defaults(cfg, name);
    p->cfg = cfg;
    p->name = name;
    p->text = text;
    p->len = len;
    p->raw = "";
    int rc = ini_parse_stream(read_line, p, on_pair, p);
    if (rc > 0 && !has_error_at(p, rc)) {
        add_error(p, rc, "%s", "not a [section], a key = value line or a comment");
    } else if (rc < 0) {
        add_error(p, 1, "%s", "the parser ran out of memory");
    }
    resolve(p);
    sort_errors(p);
    free(owned);
    tg_status st = p->errors.count > 0 ? TG_E_INVALID : TG_OK;
    if (errors != NULL) {
        *errors = p->errors;
    }
    explicit_bzero(p, sizeof *p);
    free(p);
    if (st != TG_OK) {
        tg_config_free(cfg);
        return st;
    }
    *out = cfg;
    return TG_OK;
}

static tg_status load_first(const char *name, const char *text, tg_config **out, tg_err *err) {
    tg_config_errors *errors = malloc(sizeof *errors);
    if (errors == NULL) {
        *out = NULL;
        return tg_err_set(err, TG_E_NOMEM, "%s: out of memory", name);
    }
    tg_status st = tg_config_load_all(name, text, out, errors);
    if (st != TG_OK && err != NULL) {
        assert(errors->count > 0);
        *err = errors->items[0];
        err->status = st;
    } else if (err != NULL) {
        tg_err_clear(err);
    }
    free(errors);
    return st;
}

tg_status tg_config_load(const char *path, tg_config **out, tg_err *err) {
    assert(path != NULL);
    return load_first(path, NULL, out, err);
}

tg_status tg_config_load_string(const char *text, const char *name, tg_config **out, tg_err *err) {
    assert(text != NULL);
    return load_first(name != NULL ? name : "(string)", text, out, err);
}

void tg_config_free(tg_config *cfg) {
    if (cfg == NULL) {
        return;
    }
    explicit_bzero(cfg, sizeof *cfg);
    free(cfg);
}

const tg_config_layer *tg_config_symbol(const tg_config *cfg, const char *symbol) {
    assert(cfg != NULL);
    if (symbol == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < cfg->symbols_count; i++) {
        if (strcmp(cfg->symbols[i].symbol, symbol) == 0) {
            return &cfg->symbols[i];
        }
    }
    return NULL;
}

const tg_config_account *tg_config_account_find(const tg_config *cfg, const char *name) {
    assert(cfg != NULL && name != NULL);
    for (size_t i = 0; i < cfg->accounts_count; i++) {
        if (strcmp(cfg->accounts[i].name, name) == 0) {
            return &cfg->accounts[i];
        }
    }
    return NULL;
}

tg_params tg_config_params(const tg_config *cfg, const char *symbol) {
    assert(cfg != NULL);
    tg_params p = tg_params_default();
    tg_params_apply(&p, &cfg->defaults.params);
    const tg_config_layer *l = tg_config_symbol(cfg, symbol);
    if (l != NULL) {
        tg_params_apply(&p, &l->params);
    }
    return p;
}

static void apply_settings(tg_guard_settings *s, const tg_config_layer *l) {
    if (l->settings_set & TG_S_FOREIGN_STOPS) {
        s->foreign_stops = l->settings.foreign_stops;
    }
    if (l->settings_set & TG_S_RECONCILE_INTERVAL) {
        s->reconcile_interval_ms = l->settings.reconcile_interval_ms;
    }
    if (l->settings_set & TG_S_STALE) {
        s->stale_ms = l->settings.stale_ms;
    }
    if (l->settings_set & TG_S_MAX_UPDATE_DELAY) {
        s->max_update_delay_ms = l->settings.max_update_delay_ms;
    }
}

tg_guard_settings tg_config_settings(const tg_config *cfg, const char *symbol) {
    assert(cfg != NULL);
    tg_guard_settings s = {
        .foreign_stops = TG_FOREIGN_LEAVE,
        .reconcile_interval_ms = 60 * MS_PER_S,
        .stale_ms = 10 * MS_PER_S,
        .max_update_delay_ms = 10 * MS_PER_S,
    };
    apply_settings(&s, &cfg->defaults);
    const tg_config_layer *l = tg_config_symbol(cfg, symbol);
    if (l != NULL) {
        apply_settings(&s, l);
    }
    assert(s.reconcile_interval_ms > 0 && s.stale_ms > 0);
    return s;
}

const char *tg_foreign_stops_str(tg_foreign_stops f) {
    return f == TG_FOREIGN_CANCEL ? "cancel" : "leave";
}

const char *tg_log_level_str(tg_log_level level) {
    static const char *const names[] = {"debug", "info", "warn", "error"};
    return (unsigned)level < 4 ? names[level] : "info";
}
