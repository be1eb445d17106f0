/*
 * sql.h — the statements both SQL backends generate from the codec's column
 * list, written once. A dialect says how the two databases differ: the
 * parameter marker, the column types and a table suffix.
 */
#ifndef TG_STORE_SQL_H
#define TG_STORE_SQL_H

#include <stddef.h>

#include "store/codec.h"

#define TG_SQL_MAX 8192 /* bytes of one generated statement */

typedef struct tg_sql_dialect {
    char param;             /* parameter marker: '?' (SQLite ?N) or '$' (PostgreSQL $N) */
    const char *int_type;   /* type of INT columns */
    const char *text_type;  /* type of TEXT columns (PostgreSQL: byte-order collation) */
    const char *table_tail; /* after CREATE TABLE's closing parenthesis */
} tg_sql_dialect;

/* Column i of a table's column list. */
typedef const tg_col_def *(*tg_sql_column_fn)(int i);

/* Appends fmt (with one %s, arg) at buf + len; returns the new length.
 * Statements are fixed by the code, so overflowing TG_SQL_MAX is a bug. */
size_t tg_sql_put(char *buf, size_t len, const char *fmt, const char *arg);

/* CREATE TABLE table (n columns of col, PRIMARY KEY (key)). */
void tg_sql_create(const tg_sql_dialect *d, char *buf, const char *table, int n,
                   tg_sql_column_fn col, const char *key);

/* "a", "b", ... appended at len. */
size_t tg_sql_names(char *buf, size_t len, int n, tg_sql_column_fn col);

/* INSERT of n columns that writes nothing when key is taken. */
void tg_sql_insert(const tg_sql_dialect *d, char *buf, const char *table, int n,
                   tg_sql_column_fn col, const char *key);

/* The insert of a position: it may take over the key of a CLOSED row only,
 * continuing its version count; RETURNING gives the version written (no
 * row: a conflict). */
void tg_sql_insert_stop(const tg_sql_dialect *d, char *buf);

/* The update of a position WHERE its version is the one read (parameter
 * n + 1). */
void tg_sql_update_stop(const tg_sql_dialect *d, char *buf);

/* Schema version 2 (both backends): journal_seq keeps each account's last
 * journal number before a prune; the position index of the journal goes. */
void tg_sql_create_journal_seq(const tg_sql_dialect *d, char *buf);
#define TG_SQL_FILL_JOURNAL_SEQ                                                                    \
    "INSERT INTO journal_seq SELECT account, MAX(seq) FROM stop_event GROUP BY account"
#define TG_SQL_DROP_POSITION_INDEX "DROP INDEX IF EXISTS stop_event_position"

/* SELECT every position column FROM trailing_stop WHERE where, then tail. */
void tg_sql_select_stop(char *buf, const char *where, const char *tail);

#endif
