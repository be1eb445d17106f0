/* trailguard state — read the durable state: guarded positions and journal. */
#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "trailguard/store.h"

#define JOURNAL_SHOWN_MAX 20 /* journal entries `state show` prints per position */

static const char state_usage[] =
    "usage: trailguard state list [--all] [options]\n"
    "       trailguard state show SYMBOL|POSITION_KEY [options]\n"
    "       trailguard state export --format jsonl [--journal] [options]\n"
    "\n"
    "Reads what trailguard keeps in its store: one row per guarded position\n"
    "(the whole engine state) and the journal of every event and command.\n"
    "\n"
    "  --store URI        the store: a SQLite file, sqlite:PATH or postgresql://...\n"
    "                     (default " TG_STORE_DEFAULT_URI ")\n"
    "  --account NAME     whose positions (default " TG_STORE_DEFAULT_ACCOUNT ")\n"
    "  --all              list: closed positions too\n"
    "  --format jsonl     export: one JSON object per line (the only format)\n"
    "  --journal          export: the journal entries too, after the positions\n";

typedef struct state_args {
    const char *verb;    /* list, show or export */
    const char *target;  /* show: symbol or position key */
    const char *uri;     /* --store */
    const char *account; /* --account */
    bool all;            /* --all */
    bool journal;        /* --journal */
} state_args;

static int parse_args(int argc, char **argv, state_args *a) {
    assert(argc >= 1 && argv != NULL && argv[argc] == NULL);
    assert(a != NULL && a->uri != NULL && a->account != NULL);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(state_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? TG_EXIT_USAGE : TG_EXIT_OK;
    }
    a->verb = argv[1];
    if (strcmp(a->verb, "list") != 0 && strcmp(a->verb, "show") != 0 &&
        strcmp(a->verb, "export") != 0) {
        tg_cli_error("state: unknown action '%s' (list, show or export)", a->verb);
        return TG_EXIT_USAGE;
    }
    const char *format = NULL;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(arg, "--all") == 0) {
            a->all = true;
        } else if (strcmp(arg, "--journal") == 0) {
            a->journal = true;
        } else if (strcmp(arg, "--store") == 0 && has_value) {
            a->uri = argv[++i];
        } else if (strcmp(arg, "--account") == 0 && has_value) {
            a->account = argv[++i];
        } else if (strcmp(arg, "--format") == 0 && has_value) {
            format = argv[++i];
        } else if (arg[0] != '-' && a->target == NULL && strcmp(a->verb, "show") == 0) {
            a->target = arg;
        } else {
            tg_cli_error("state %s: unexpected argument '%s' (see trailguard state --help)",
                         a->verb, arg);
            return TG_EXIT_USAGE;
        }
    }
    if (strcmp(a->verb, "show") == 0 && a->target == NULL) {
        tg_cli_error("state show: name a symbol or a position key");
        return TG_EXIT_USAGE;
    }
    if (strcmp(a->verb, "export") == 0 && (format == NULL || strcmp(format, "jsonl") != 0)) {
        tg_cli_error("state export: --format jsonl is required (the only format)");
        return TG_EXIT_USAGE;
    }
    assert(a->verb != NULL && (a->target != NULL || strcmp(a->verb, "show") != 0));
    return -1;
}

/* Text from the store, safe for the terminal (tg_store_escape). */
typedef struct safe_text {
    char s[TG_STORE_KEY_MAX * 6]; /* escaped; a key of control characters grows sixfold */
} safe_text;

static const char *safe(const char *text, safe_text *buf) {
    assert(text != NULL && buf != NULL);
    size_t len = tg_store_escape(text, buf->s, sizeof buf->s);
    assert(len < sizeof buf->s);
    return buf->s;
}

static void format_price(bool set, tg_dec price, char *buf) {
    assert(buf != NULL);
    if (set) {
        tg_dec_format(price, 0, buf);
    } else {
        snprintf(buf, TG_DEC_STR_MAX, "%s", "-");
    }
}

typedef struct list_ctx {
    const state_args *args; /* the command line */
    int rows;               /* rows printed */
} list_ctx;

static bool list_one(void *ctx, const tg_store_row *row) {
    list_ctx *lc = ctx;
    assert(lc != NULL && lc->args != NULL && row != NULL);
    const tg_stop *s = &row->stop;
    /* tg_codec_decode() refused every row that is not a valid state */
    assert(s->side <= TG_SIDE_SHORT && s->state <= TG_STATE_CLOSED);
    char entry[TG_DEC_STR_MAX], stop[TG_DEC_STR_MAX], intended[TG_DEC_STR_MAX],
        extreme[TG_DEC_STR_MAX];
    tg_dec_format(s->entry, 0, entry);
    format_price(s->flags & TG_F_CONFIRMED, s->stop_confirmed, stop);
    format_price(s->flags & TG_F_INTENDED, s->stop_intended, intended);
    bool is_long = s->side == TG_SIDE_LONG;
    format_price(s->flags & (is_long ? TG_F_HIGH : TG_F_LOW), is_long ? s->highest : s->lowest,
                 extreme);
    if (lc->rows++ == 0) {
        printf("%-20s %-12s %-5s %-9s %14s %14s %14s %14s %7s %s\n", "POSITION", "SYMBOL", "SIDE",
               "STATE", "ENTRY", "STOP", "INTENDED", "BEST", "UPDATES", "FLAGS");
    }
    safe_text key, symbol;
    printf("%-20s %-12s %-5s %-9s %14s %14s %14s %14s %7u %s\n", safe(row->position_key, &key),
           safe(row->symbol, &symbol), tg_side_str((tg_side)s->side),
           tg_state_str((tg_state)s->state), entry, stop, intended, extreme, s->update_count,
           row->needs_reconcile ? "reconcile" : "");
    return true;
}

typedef struct show_ctx {
    const char *target;                           /* symbol or position key */
    int rows;                                     /* rows matched */
    char keys[8][TG_STORE_KEY_MAX];               /* matched position keys, for the journal */
    int n_keys;                                   /* entries in keys */
    tg_journal_entry ring[JOURNAL_SHOWN_MAX * 8]; /* last entries of the matched keys */
    int ring_n;                                   /* entries kept (≤ size) */
    int ring_at;                                  /* next slot */
} show_ctx;

static void show_field(void *ctx, const char *name, const char *value, bool is_int) {
    (void)ctx;
    (void)is_int;
    assert(name != NULL);
    char esc[TG_STORE_KEY_MAX * 6 * 8];
    tg_store_escape(value != NULL ? value : "-", esc, sizeof esc);
    printf("  %-28s %s\n", name, esc);
}

static bool show_one(void *ctx, const tg_store_row *row) {
    show_ctx *sc = ctx;
    assert(sc != NULL && sc->target != NULL && row != NULL);
    if (strcmp(row->symbol, sc->target) != 0 && strcmp(row->position_key, sc->target) != 0) {
        return true;
    }
    if (sc->rows++ > 0) {
        putchar('\n');
    }
    tg_err err;
    tg_err_clear(&err);
    if (tg_store_row_fields(row, show_field, NULL, &err) != TG_OK) {
        return false;
    }
    printf("  %-28s %s\n", "needs_reconcile", row->needs_reconcile ? "yes" : "no");
    if (sc->n_keys < (int)(sizeof sc->keys / sizeof sc->keys[0])) {
        snprintf(sc->keys[sc->n_keys++], TG_STORE_KEY_MAX, "%s", row->position_key);
    }
    assert(sc->n_keys <= (int)(sizeof sc->keys / sizeof sc->keys[0]));
    return true;
}

static bool keep_matching(void *ctx, const tg_journal_entry *e) {
    show_ctx *sc = ctx;
    assert(sc != NULL && e != NULL);
    int size = (int)(sizeof sc->ring / sizeof sc->ring[0]);
    assert(sc->ring_n <= size && sc->ring_at >= 0 && sc->ring_at < size);
    for (int i = 0; i < sc->n_keys; i++) {
        if (strcmp(e->position_key, sc->keys[i]) == 0) {
            sc->ring[sc->ring_at] = *e;
            sc->ring_at = (sc->ring_at + 1) % size;
            sc->ring_n += sc->ring_n < size;
            break;
        }
    }
    return true;
}

static int show(tg_store *st, const state_args *a) {
    assert(st != NULL && a != NULL && a->target != NULL);
    show_ctx *sc = calloc(1, sizeof *sc);
    if (sc == NULL) {
        tg_cli_error("state show: out of memory");
        return TG_EXIT_FAILURE;
    }
    sc->target = a->target;
    tg_err err;
    tg_err_clear(&err);
    tg_status s = tg_store_load(st, true, show_one, sc, &err);
    if (s == TG_OK && sc->rows > 0) {
        s = tg_store_journal(st, 0, keep_matching, sc, &err);
    }
    int rc = TG_EXIT_OK;
    if (s != TG_OK) {
        tg_cli_error("state show: %s", err.msg);
        rc = TG_EXIT_FAILURE;
    } else if (sc->rows == 0) {
        tg_cli_error("state show: no position with symbol or key '%s' for account '%s'", a->target,
                     a->account);
        rc = TG_EXIT_USAGE;
    } else {
        int size = (int)(sizeof sc->ring / sizeof sc->ring[0]);
        int shown = sc->ring_n < JOURNAL_SHOWN_MAX ? sc->ring_n : JOURNAL_SHOWN_MAX;
        assert(shown >= 0 && shown <= size);
        printf("\nlast %d journal entries:\n", shown);
        for (int i = shown; i > 0; i--) {
            tg_store_entry_json(stdout, &sc->ring[(sc->ring_at - i + size) % size], &err);
        }
    }
    free(sc);
    return rc;
}

static bool export_row(void *ctx, const tg_store_row *row) {
    assert(ctx != NULL && row != NULL);
    tg_err err;
    return tg_store_row_json(ctx, row, &err) == TG_OK;
}

static bool export_entry(void *ctx, const tg_journal_entry *e) {
    assert(ctx != NULL && e != NULL);
    tg_err err;
    return tg_store_entry_json(ctx, e, &err) == TG_OK;
}

static int run(tg_store *st, const state_args *a) {
    assert(st != NULL && a != NULL && a->verb != NULL);
    tg_err err;
    tg_err_clear(&err);
    tg_status s = TG_OK;
    if (strcmp(a->verb, "show") == 0) {
        return show(st, a);
    }
    if (strcmp(a->verb, "list") == 0) {
        list_ctx lc = {a, 0};
        s = tg_store_load(st, a->all, list_one, &lc, &err);
        if (s == TG_OK && lc.rows == 0) {
            printf("no %spositions for account '%s'\n", a->all ? "" : "open ", a->account);
        }
    } else {
        s = tg_store_load(st, true, export_row, stdout, &err);
        if (s == TG_OK && a->journal) {
            s = tg_store_journal(st, 0, export_entry, stdout, &err);
        }
    }
    if (s != TG_OK) {
        tg_cli_error("state %s: %s", a->verb, err.msg);
        return TG_EXIT_FAILURE;
    }
    if (fflush(stdout) != 0) {
        tg_cli_error("state %s: writing the output failed", a->verb);
        return TG_EXIT_FAILURE;
    }
    return TG_EXIT_OK;
}

int tg_cli_state(int argc, char **argv) {
    state_args a = {.uri = TG_STORE_DEFAULT_URI, .account = TG_STORE_DEFAULT_ACCOUNT};
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) {
        return rc;
    }
    tg_store *st = NULL;
    tg_err err;
    tg_err_clear(&err);
    if (tg_store_open_readonly(a.uri, a.account, &st, &err) != TG_OK) {
        tg_cli_error("state: %s", err.msg);
        return TG_EXIT_FAILURE;
    }
    assert(st != NULL);
    rc = run(st, &a);
    tg_store_close(st);
    return rc;
}
