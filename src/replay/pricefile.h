/*
 * replay/pricefile.h — historical prices for a back-test, read from CSV.
 *
 * Three layouts are recognised from the first line, never from the file name:
 *
 *   ticks   timestamp_ms,price                      (header optional)
 *   kline   Binance kline, 12 columns open_time,open,high,low,close,volume,
 *           close_time,quote_volume,count,taker_buy_volume,
 *           taker_buy_quote_volume,ignore           (header optional)
 *   ohlcv   timestamp,open,high,low,close,volume    (header expected; the
 *           timestamp is ISO-8601 UTC or integer ms)
 *
 * The result is one price path: a tick is one point; a bar becomes the four
 * points of a walk open → nearer extreme → farther extreme → close, at
 * bar_ts + 0, ¼, ½ and ¾ of the bar interval. Inside one walk the price is
 * taken to move continuously, so a stop between two of its points is crossed
 * exactly at the stop price; between walks (and between ticks) it jumps.
 *
 * Every price is an exact tg_dec. A file is accepted whole or not at all: the
 * first bad row fails the parse with a sentence that names its line.
 */
#ifndef TRAILGUARD_REPLAY_PRICEFILE_H
#define TRAILGUARD_REPLAY_PRICEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "trailguard/decimal.h"
#include "trailguard/error.h"
#include "trailguard/replay.h" /* tg_pricepoint, tg_progress */

#define TG_PRICEFILE_LINE_MAX            1024          /* bytes in one CSV line */
#define TG_PRICEFILE_POINTS_MAX          (1ull << 28)  /* path points: 4 GiB of memory */
#define TG_PRICEFILE_BYTES_MAX           (16ull << 30) /* size of a file read by tg_pricefile_load */
#define TG_PRICEFILE_WALK_BARS           4             /* points per bar */
#define TG_PRICEFILE_INTERVAL_DEFAULT_MS 60000         /* bar interval when there is one bar */

typedef enum tg_pricefile_format {
    TG_PRICEFILE_TICKS, /* timestamp_ms,price */
    TG_PRICEFILE_KLINE, /* Binance kline, 12 columns */
    TG_PRICEFILE_OHLCV, /* timestamp,open,high,low,close,volume */
} tg_pricefile_format;

/* A parsed price file. */
typedef struct tg_pricefile {
    tg_pricepoint *points; /* the path, timestamps never decreasing; owned */
    size_t count;          /* points in the path */
    size_t rows;           /* data rows read (ticks or bars) */
    uint8_t format;        /* tg_pricefile_format */
    uint8_t walk_len;      /* points per row: 1 for ticks, TG_PRICEFILE_WALK_BARS for bars */
    uint8_t has_header;    /* 1 when the first line was a header */
    int dp_max;            /* most decimal places any price needs (tg_dec_places) */
    int64_t interval_ms;   /* bar interval (first two bars apart); 0 for ticks */
} tg_pricefile;

/* Parses a whole file held in memory. On success fills *out, which the
 * caller releases with tg_pricefile_free(). On failure *out holds nothing
 * and err says what was wrong, naming the line ("line 7: ..."). progress
 * may be NULL. */
tg_status tg_pricefile_parse(const char *data, size_t len, tg_pricefile *out,
                             const tg_progress *progress, tg_err *err);

/* Reads the file at path ("-" for standard input) and parses it; errors name
 * the path. */
tg_status tg_pricefile_load(const char *path, tg_pricefile *out, const tg_progress *progress,
                            tg_err *err);

void tg_pricefile_free(tg_pricefile *pf);

/* The smallest tick that puts every price of the file on tick:
 * 10^-dp_max (1 when every price is whole). */
tg_dec tg_pricefile_tick(const tg_pricefile *pf);

/* "ticks", "kline" or "ohlcv". */
const char *tg_pricefile_format_str(tg_pricefile_format format);

#endif
