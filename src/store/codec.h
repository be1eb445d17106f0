/*
 * codec.h — a tg_store_row as a list of columns, shared by every backend, so
 * that SQLite and PostgreSQL hold the same logical schema and a field added
 * to the engine state is added here once.
 *
 * Each column is TEXT (decimals, names, enums) or INT (64-bit). An unset
 * price is NULL, never a sentinel value.
 */
#ifndef TG_STORE_CODEC_H
#define TG_STORE_CODEC_H

#include <stdbool.h>
#include <stdint.h>

#include "trailguard/store.h"

#define TG_COL_TEXT_MAX 400 /* bytes of one text value, NUL included (fits a step table) */

typedef enum tg_col_type { TG_COL_TEXT, TG_COL_INT } tg_col_type;

typedef struct tg_col_def {
    const char *name; /* column name in the trailing_stop table */
    uint8_t type;     /* tg_col_type */
    bool nullable;    /* NULL allowed (unset price or time) */
} tg_col_def;

typedef struct tg_col_value {
    bool null;                  /* SQL NULL */
    bool bad;                   /* the database held another type (a blob, a REAL, text in an
                                   INT column) or a text longer than text: never decoded */
    int64_t i;                  /* value of an INT column */
    char text[TG_COL_TEXT_MAX]; /* value of a TEXT column */
} tg_col_value;

/* Columns of trailing_stop, in table order: (account, position_key) first,
 * they form the primary key; "version" is the last. */
int tg_codec_column_count(void);
const tg_col_def *tg_codec_column(int index);

/* Index of a column by name, or −1. */
int tg_codec_column_index(const char *name);

/* Writes every column of row into vals (tg_codec_columns() order). */
void tg_codec_encode(const tg_store_row *row, tg_col_value *vals);

/* Rebuilds row from vals; a value that cannot be read back (a bad decimal,
 * an unknown state, a NULL where the flags say set) is TG_E_STATE with a
 * sentence naming the column and the position. */
tg_status tg_codec_decode(const tg_col_value *vals, tg_store_row *row, tg_err *err);

#endif
