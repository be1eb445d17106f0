/*
 * replay/chart.h — a back-test drawn as one self-contained SVG picture.
 *
 * The picture (1200 × 600 px) shows the price from the opening of the
 * position until a while after the exit, the activation level as a dashed
 * line, the entry as a dotted one, the stop held on the exchange as a
 * staircase from the moments it was confirmed, markers where trailing
 * activated and where the position exited, price and UTC time axes, a legend
 * and a title with the result. Long paths are reduced to at most
 * TG_CHART_POINTS_MAX points, keeping the lowest and highest price of every
 * bucket so that no spike disappears.
 *
 * Prices stay exact decimals for every label; binary floating point is used
 * only to place things on the pixel grid.
 */
#ifndef TRAILGUARD_REPLAY_CHART_H
#define TRAILGUARD_REPLAY_CHART_H

#include <stdio.h>

#include "replay/pricefile.h"
#include "replay/replay.h"
#include "trailguard/error.h"

#define TG_CHART_WIDTH      1200 /* px */
#define TG_CHART_HEIGHT     600  /* px */
#define TG_CHART_POINTS_MAX 4000 /* points of the drawn price line */

typedef struct tg_chart {
    const tg_pricepoint *points;    /* the whole path that was replayed */
    size_t count;                   /* points in the path */
    const tg_replay_result *result; /* the replay's result */
    const char *source;             /* name of the data shown in the title; may be NULL */
    int dp;                         /* decimal places of price labels (the tick's), 0..8 */
    const char *title;              /* what the title calls it; NULL = "trailguard replay" */
} tg_chart;

/* Writes the SVG document to f. Fails with TG_E_IO when writing fails. */
tg_status tg_chart_write(FILE *f, const tg_chart *chart, tg_err *err);

#endif
