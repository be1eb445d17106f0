#include "store/sql.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

size_t tg_sql_put(char *buf, size_t len, const char *fmt, const char *arg) {
    assert(len < TG_SQL_MAX);
    int n = snprintf(buf + len, TG_SQL_MAX - len, fmt, arg);
    assert(n >= 0 && (size_t)n < TG_SQL_MAX - len);
    return len + (size_t)n;
}

void tg_sql_create(const tg_sql_dialect *d, char *buf, const char *table, int n,
                   tg_sql_column_fn col, const char *key) {
    assert(d != NULL && buf != NULL && table != NULL && col != NULL && key != NULL);
    assert(n > 0);
    size_t len = tg_sql_put(buf, 0, "CREATE TABLE %s (", table);
    for (int i = 0; i < n; i++) {
        const tg_col_def *c = col(i);
        len = tg_sql_put(buf, len, i ? ", \"%s\"" : "\"%s\"", c->name);
        len = tg_sql_put(buf, len, " %s", c->type == TG_COL_INT ? d->int_type : d->text_type);
        len = tg_sql_put(buf, len, "%s", c->nullable ? "" : " NOT NULL");
    }
    len = tg_sql_put(buf, len, ", PRIMARY KEY (%s))", key);
    tg_sql_put(buf, len, "%s", d->table_tail);
}

size_t tg_sql_names(char *buf, size_t len, int n, tg_sql_column_fn col) {
    assert(buf != NULL && col != NULL && n > 0);
    for (int i = 0; i < n; i++) {
        len = tg_sql_put(buf, len, i ? ", \"%s\"" : "\"%s\"", col(i)->name);
    }
    assert(len < TG_SQL_MAX && buf[len] == '\0');
    return len;
}

void tg_sql_insert(const tg_sql_dialect *d, char *buf, const char *table, int n,
                   tg_sql_column_fn col, const char *key) {
    assert(d != NULL && buf != NULL && table != NULL && col != NULL && key != NULL);
    assert(n > 0);
    size_t len = tg_sql_put(buf, 0, "INSERT INTO %s (", table);
    len = tg_sql_names(buf, len, n, col);
    len = tg_sql_put(buf, len, "%s", ") VALUES (");
    for (int i = 0; i < n; i++) {
        char param[16];
        int plen = snprintf(param, sizeof param, "%s%c%d", i ? ", " : "", d->param, i + 1);
        assert(plen > 0 && (size_t)plen < sizeof param);
        len = tg_sql_put(buf, len, "%s", param);
    }
    tg_sql_put(buf, len, ") ON CONFLICT (%s) DO NOTHING", key);
}

void tg_sql_insert_stop(const tg_sql_dialect *d, char *buf) {
    int n = tg_codec_column_count();
    tg_sql_insert(d, buf, "trailing_stop", n, tg_codec_column, "account, position_key");
    assert(strlen(buf) > strlen("DO NOTHING"));
    size_t len = strlen(buf) - strlen("DO NOTHING");
    assert(strcmp(buf + len, "DO NOTHING") == 0); /* the tail tg_sql_insert() wrote */
    len = tg_sql_put(buf, len, "%s", "DO UPDATE SET ");
    for (int i = 2; i < n; i++) { /* the key columns stay */
        const char *name = tg_codec_column(i)->name;
        char col[160];
        int clen;
        if (strcmp(name, "version") == 0) {
            clen = snprintf(col, sizeof col, "%s", "\"version\" = trailing_stop.version + 1");
        } else {
            clen = snprintf(col, sizeof col, "\"%s\" = excluded.\"%s\"", name, name);
        }
        assert(clen > 0 && (size_t)clen < sizeof col);
        len = tg_sql_put(buf, len, i > 2 ? ", %s" : "%s", col);
    }
    tg_sql_put(buf, len, "%s", " WHERE trailing_stop.state = 'closed' RETURNING version");
}

void tg_sql_update_stop(const tg_sql_dialect *d, char *buf) {
    assert(d != NULL && buf != NULL);
    size_t len = tg_sql_put(buf, 0, "%s", "UPDATE trailing_stop SET ");
    int n = tg_codec_column_count();
    for (int i = 2; i < n; i++) { /* the key columns do not change */
        char col[160];
        int clen = snprintf(col, sizeof col, "%s\"%s\" = %c%d", i > 2 ? ", " : "",
                            tg_codec_column(i)->name, d->param, i + 1);
        assert(clen > 0 && (size_t)clen < sizeof col);
        len = tg_sql_put(buf, len, "%s", col);
    }
    char where[128];
    int wlen = snprintf(where, sizeof where,
                        " WHERE account = %c1 AND position_key = %c2 AND version = %c%d", d->param,
                        d->param, d->param, n + 1);
    assert(wlen > 0 && (size_t)wlen < sizeof where);
    tg_sql_put(buf, len, "%s", where);
}

void tg_sql_select_stop(char *buf, const char *where, const char *tail) {
    assert(buf != NULL && where != NULL && tail != NULL);
    size_t len = tg_sql_put(buf, 0, "%s", "SELECT ");
    len = tg_sql_names(buf, len, tg_codec_column_count(), tg_codec_column);
    len = tg_sql_put(buf, len, " FROM trailing_stop WHERE %s", where);
    tg_sql_put(buf, len, "%s", tail);
}

static const tg_col_def journal_seq_columns[] = {
    {"account", TG_COL_TEXT, false},
    {"last_seq", TG_COL_INT, false},
};

static const tg_col_def *journal_seq_column(int i) {
    assert(i >= 0 && i < 2);
    return &journal_seq_columns[i];
}

void tg_sql_create_journal_seq(const tg_sql_dialect *d, char *buf) {
    assert(d != NULL && buf != NULL);
    tg_sql_create(d, buf, "journal_seq", 2, journal_seq_column, "account");
}
