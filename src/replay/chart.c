#include "replay/chart.h"

#include <assert.h>
#include <string.h>

#include "replay/utc.h"

__extension__ typedef __int128 i128;

#define PANEL_Y0       78.0   /* px: top of the panels, below title and legend */
#define PANEL_Y1       540.0  /* px: bottom of the panels, above the time labels */
#define MAIN_X0        86.0   /* px: left edge of the main panel, room for price labels */
#define MAIN_X1        1170.0 /* px: right edge of the main panel when it is alone */
#define MAIN_X1_ZOOMED 780.0  /* px: right edge of the main panel beside a zoom */
#define ZOOM_X0        858.0  /* px: left edge of the zoom panel */
#define ZOOM_SHARE     4      /* zoom when trailing spans < 1/ZOOM_SHARE of the window */
#define TAIL_SHARE     5      /* after the exit show 1/TAIL_SHARE of the time before it */
#define MS_PER_MIN     60000LL
#define MS_PER_DAY     86400000LL
#define CHAR_PX        6.6 /* px: rough width of one character at 12 px, for the legend */

#define COLOR_PRICE      "#1f5fa8"
#define COLOR_STOP       "#d62728"
#define COLOR_ACTIVATION "#e07b00"
#define COLOR_ENTRY      "#6b6b6b"
#define COLOR_EXIT       "#7a0019"
#define COLOR_GRID       "#e4e4e4"
#define COLOR_TEXT       "#222222"

/* One panel: a time and price window mapped onto a rectangle. */
typedef struct frame {
    int64_t t0, t1;        /* time window, ms */
    tg_dec lo, hi;         /* price window */
    size_t first, last;    /* indexes of the points inside the time window */
    double x0, x1, y0, y1; /* the rectangle, px */
    int price_lines_max;   /* horizontal grid lines at most */
    int time_lines_max;    /* vertical grid lines at most */
    int id;                /* clip path number */
    bool labels;           /* name the markers (the zoom does it when there is one) */
} frame;

static double px_x(const frame *f, int64_t t) {
    assert(f != NULL && f->t1 > f->t0);
    return f->x0 + (double)(t - f->t0) / (double)(f->t1 - f->t0) * (f->x1 - f->x0);
}

static double px_y(const frame *f, tg_dec p) {
    assert(f != NULL && f->hi.units > f->lo.units); /* frame_prices() */
    return f->y1 -
           (double)(p.units - f->lo.units) / (double)(f->hi.units - f->lo.units) * (f->y1 - f->y0);
}

static void widen(tg_dec *lo, tg_dec *hi, tg_dec v) {
    assert(lo != NULL && hi != NULL && tg_dec_le(*lo, *hi));
    if (tg_dec_is_pos(v)) {
        *lo = tg_dec_min(*lo, v);
        *hi = tg_dec_max(*hi, v);
    }
}

/* Points first..last: those whose time is inside [t0, t1]. */
static void frame_points(frame *f, const tg_chart *c) {
    assert(f->t1 > f->t0);
    f->first = 0;
    while (f->first + 1 < c->count && c->points[f->first].ts_ms < f->t0) {
        f->first++;
    }
    f->last = f->first;
    while (f->last + 1 < c->count && c->points[f->last + 1].ts_ms <= f->t1) {
        f->last++;
    }
    assert(f->first <= f->last && f->last < c->count);
}

/* The main window: the whole position and a fifth as much after the exit,
 * ending on a whole minute. */
static void main_window(frame *f, const tg_chart *c) {
    assert(f != NULL && c != NULL && c->result != NULL && c->count > 0);
    const tg_replay_result *r = c->result;
    f->t0 = c->points[0].ts_ms;
    f->t1 = c->points[c->count - 1].ts_ms;
    if (r->outcome != TG_REPLAY_OPEN) {
        int64_t tail = (r->exit_ms - f->t0) / TAIL_SHARE;
        int64_t end = r->exit_ms + (tail < MS_PER_MIN ? MS_PER_MIN : tail);
        end += (MS_PER_MIN - end % MS_PER_MIN) % MS_PER_MIN;
        if (end < f->t1) {
            f->t1 = end;
        }
    }
    if (f->t1 <= f->t0) {
        f->t1 = f->t0 + MS_PER_MIN;
    }
    assert(f->t1 > f->t0);
}

/* The zoom window: from a little before activation to a little after the
 * exit, when that is too short to read in the main window. */
static bool zoom_window(const frame *main, const tg_chart *c, frame *z) {
    const tg_replay_result *r = c->result;
    if (!r->activated) {
        return false;
    }
    int64_t end = r->outcome == TG_REPLAY_OPEN ? main->t1 : r->exit_ms;
    int64_t span = end - r->activated_ms;
    if (span * ZOOM_SHARE >= main->t1 - main->t0) {
        return false;
    }
    int64_t pad = span / 2 > 2 * MS_PER_MIN ? span / 2 : 2 * MS_PER_MIN;
    z->t0 = r->activated_ms - pad > main->t0 ? r->activated_ms - pad : main->t0;
    z->t1 = end + pad < main->t1 ? end + pad : main->t1;
    return z->t1 > z->t0;
}

/* Price window: every price and stop in the time window and the levels that
 * matter, with a margin. The entry counts only in the main panel. */
static void frame_prices(frame *f, const tg_chart *c, bool with_entry) {
    const tg_replay_result *r = c->result;
    assert(f->first <= f->last && f->last < c->count); /* frame_points() ran first */
    tg_dec lo = c->points[f->first].price, hi = lo;
    for (size_t i = f->first; i <= f->last; i++) {
        widen(&lo, &hi, c->points[i].price);
    }
    for (size_t k = 0; k < r->n_stops; k++) {
        bool in_window =
            r->stops[k].ts_ms <= f->t1 && (k + 1 == r->n_stops || r->stops[k + 1].ts_ms >= f->t0);
        if (in_window) {
            widen(&lo, &hi, r->stops[k].price);
        }
    }
    widen(&lo, &hi, r->activation_price);
    if (with_entry) {
        widen(&lo, &hi, r->entry);
    }
    if (r->exit_ms >= f->t0 && r->exit_ms <= f->t1) {
        widen(&lo, &hi, r->exit_price);
    }
    int64_t margin = (hi.units - lo.units) / 20;
    margin = margin < r->tick.units ? r->tick.units : margin;
    f->lo = tg_dec_from_units(lo.units - margin > 0 ? lo.units - margin : 0);
    f->hi = tg_dec_from_units(hi.units + margin);
    assert(f->hi.units > f->lo.units);
}

/* Writes text with the five XML specials escaped. */
static void put_text(FILE *out, const char *s) {
    assert(out != NULL && s != NULL);
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&apos;", out);
            break;
        default:
            fputc(*s, out);
            break;
        }
    }
}

static void text_at(FILE *out, double x, double y, const char *anchor, const char *style,
                    const char *s) {
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" %s>", x, y, anchor, style);
    put_text(out, s);
    fputs("</text>\n", out);
}

/* Text over a plot: a white halo keeps it legible above the lines. */
static void label_at(FILE *out, double x, double y, const char *anchor, const char *style,
                     const char *s) {
    fprintf(out,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" stroke=\"white\" "
            "stroke-width=\"3.5\" stroke-linejoin=\"round\" paint-order=\"stroke\" %s>",
            x, y, anchor, style);
    put_text(out, s);
    fputs("</text>\n", out);
}

static void grid_line(FILE *out, double x1, double y1, double x2, double y2) {
    fprintf(out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" COLOR_GRID "\"/>\n",
            x1, y1, x2, y2);
}

/* The smallest 1, 2 or 5 × 10^k units that gives at most max_lines lines. */
static int64_t price_step(int64_t span_units, int max_lines) {
    assert(span_units > 0 && max_lines > 0);
    int64_t want = span_units / max_lines + 1;
    static const int64_t mult[3] = {1, 2, 5};
    for (int64_t decade = 1;; decade *= 10) {
        for (int i = 0; i < 3; i++) {
            if (mult[i] * decade >= want) {
                return mult[i] * decade;
            }
        }
    }
}

static void draw_price_axis(FILE *out, const frame *f) {
    int64_t step = price_step(f->hi.units - f->lo.units, f->price_lines_max);
    assert(step > 0);
    int places = tg_dec_places(tg_dec_from_units(step));
    for (int64_t v = (f->lo.units / step + 1) * step; v < f->hi.units; v += step) {
        tg_dec p = tg_dec_from_units(v);
        double y = px_y(f, p);
        grid_line(out, f->x0, y, f->x1, y);
        char label[TG_DEC_STR_MAX];
        tg_dec_format(p, places, label);
        text_at(out, f->x0 - 6, y + 4, "end", "font-size=\"11\"", label);
    }
}

/* The smallest round time step that gives at most max_lines lines. */
static int64_t time_step(int64_t span_ms, int max_lines) {
    assert(span_ms > 0 && max_lines > 0);
    static const int64_t steps[] = {1000,
                                    2000,
                                    5000,
                                    10000,
                                    15000,
                                    30000,
                                    MS_PER_MIN,
                                    2 * MS_PER_MIN,
                                    5 * MS_PER_MIN,
                                    10 * MS_PER_MIN,
                                    15 * MS_PER_MIN,
                                    30 * MS_PER_MIN,
                                    60 * MS_PER_MIN,
                                    120 * MS_PER_MIN,
                                    180 * MS_PER_MIN,
                                    360 * MS_PER_MIN,
                                    720 * MS_PER_MIN,
                                    MS_PER_DAY,
                                    2 * MS_PER_DAY,
                                    7 * MS_PER_DAY,
                                    14 * MS_PER_DAY,
                                    28 * MS_PER_DAY,
                                    91 * MS_PER_DAY,
                                    364 * MS_PER_DAY};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        if (span_ms / steps[i] <= max_lines) {
            return steps[i];
        }
    }
    return span_ms / max_lines + 1;
}

static void time_label(int64_t t, int64_t step, int64_t span, char *buf, size_t cap) {
    assert(buf != NULL && cap > 0 && step > 0);
    tg_utc u = tg_utc_split(t);
    if (step >= MS_PER_DAY) {
        snprintf(buf, cap, "%04d-%02d-%02d", u.year, u.month, u.day);
    } else if (span >= MS_PER_DAY) {
        snprintf(buf, cap, "%02d-%02d %02d:%02d", u.month, u.day, u.hour, u.min);
    } else if (step < MS_PER_MIN) {
        snprintf(buf, cap, "%02d:%02d:%02d", u.hour, u.min, u.sec);
    } else {
        snprintf(buf, cap, "%02d:%02d", u.hour, u.min);
    }
}

/* Time grid and labels; the caption names the window, or only its day when
 * the panel is narrow. */
static void draw_time_axis(FILE *out, const frame *f, bool narrow) {
    int64_t span = f->t1 - f->t0;
    int64_t step = time_step(span, f->time_lines_max);
    for (int64_t t = (f->t0 / step + (f->t0 % step != 0)) * step; t <= f->t1; t += step) {
        double x = px_x(f, t);
        grid_line(out, x, f->y0, x, f->y1);
        char label[TG_UTC_STR_MAX];
        time_label(t, step, span, label, sizeof label);
        text_at(out, x, f->y1 + 16, "middle", "font-size=\"11\"", label);
    }
    char a[TG_UTC_STR_MAX], b[TG_UTC_STR_MAX], caption[2 * TG_UTC_STR_MAX + 64];
    tg_utc_format(f->t0, a);
    tg_utc_format(f->t1, b);
    if (narrow) {
        snprintf(caption, sizeof caption, "UTC, %.10s", a);
    } else {
        snprintf(caption, sizeof caption, "time (UTC), %s to %s", a, b);
    }
    text_at(out, (f->x0 + f->x1) / 2, f->y1 + 36, "middle", "font-size=\"12\"", caption);
}

static void put_point(FILE *out, const frame *f, tg_pricepoint p) {
    fprintf(out, "%.1f,%.1f ", px_x(f, p.ts_ms), px_y(f, p.price));
}

/* The price line. Past TG_CHART_POINTS_MAX points, the window is cut into
 * TG_CHART_POINTS_MAX / 2 equal time buckets and each keeps its lowest and
 * highest point, in time order, so that no spike disappears. */
static void draw_price(FILE *out, const frame *f, const tg_chart *c) {
    const tg_pricepoint *pts = c->points;
    fputs("<polyline fill=\"none\" stroke=\"" COLOR_PRICE "\" stroke-width=\"1.2\" "
          "stroke-linejoin=\"round\" points=\"",
          out);
    if (f->last - f->first + 1 <= TG_CHART_POINTS_MAX) {
        for (size_t i = f->first; i <= f->last; i++) {
            put_point(out, f, pts[i]);
        }
    } else {
        const i128 buckets = TG_CHART_POINTS_MAX / 2;
        const i128 span = (i128)(f->t1 - f->t0) + 1;
        size_t lo = f->first, hi = f->first;
        i128 bucket = (i128)(pts[f->first].ts_ms - f->t0) * buckets / span;
        for (size_t i = f->first + 1; i <= f->last + 1; i++) {
            i128 b = i <= f->last ? (i128)(pts[i].ts_ms - f->t0) * buckets / span : -1;
            if (b == bucket) {
                lo = tg_dec_lt(pts[i].price, pts[lo].price) ? i : lo;
                hi = tg_dec_gt(pts[i].price, pts[hi].price) ? i : hi;
                continue;
            }
            put_point(out, f, pts[lo < hi ? lo : hi]);
            if (lo != hi) {
                put_point(out, f, pts[lo < hi ? hi : lo]);
            }
            lo = hi = i;
            bucket = b;
        }
    }
    fputs("\"/>\n", out);
}

/* A horizontal level across a panel, labelled at its right end. */
typedef struct level {
    tg_dec price;      /* where */
    const char *color; /* stroke and label colour */
    const char *dash;  /* stroke-dasharray */
    const char *name;  /* label before the price */
} level;

/* Draws the line, or its label: labels go on top of everything else. */
static void draw_level(FILE *out, const frame *f, const level *lv, int dp, bool label) {
    if (tg_dec_lt(lv->price, f->lo) || tg_dec_gt(lv->price, f->hi)) {
        return;
    }
    double y = px_y(f, lv->price);
    if (!label) {
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"1.2\" stroke-dasharray=\"%s\"/>\n",
                f->x0, y, f->x1, y, lv->color, lv->dash);
        return;
    }
    char num[TG_DEC_STR_MAX], text[TG_DEC_STR_MAX + 32], style[64];
    tg_dec_format(lv->price, dp, num);
    snprintf(text, sizeof text, "%s %s", lv->name, num);
    snprintf(style, sizeof style, "font-size=\"11\" fill=\"%s\"", lv->color);
    label_at(out, f->x1 - 4, y - 4, "end", style, text);
}

/* The stop on the exchange: flat while held, a vertical step at each move,
 * nothing while none is held. */
static void draw_stops(FILE *out, const frame *f, const tg_chart *c) {
    const tg_replay_result *r = c->result;
    fputs("<path fill=\"none\" stroke=\"" COLOR_STOP "\" stroke-width=\"1.8\" d=\"", out);
    bool pen_down = false;
    for (size_t k = 0; k < r->n_stops && r->stops[k].ts_ms <= f->t1; k++) {
        const tg_replay_stop *st = &r->stops[k];
        int64_t until = k + 1 < r->n_stops ? r->stops[k + 1].ts_ms : f->t1;
        if (tg_dec_is_zero(st->price) || until < f->t0) {
            pen_down = false;
            continue;
        }
        int64_t from = st->ts_ms < f->t0 ? f->t0 : st->ts_ms;
        until = until > f->t1 ? f->t1 : until;
        double y = px_y(f, st->price);
        if (pen_down) {
            fprintf(out, "V%.1f ", y);
        } else {
            fprintf(out, "M%.1f,%.1f ", px_x(f, from), y);
        }
        fprintf(out, "H%.1f ", px_x(f, until));
        pen_down = true;
    }
    fputs("\"/>\n", out);
}

static void draw_marker(FILE *out, const frame *f, int64_t t, tg_dec p, const char *color,
                        const char *label) {
    if (t < f->t0 || t > f->t1) {
        return;
    }
    double x = px_x(f, t), y = px_y(f, p);
    fprintf(out,
            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5.5\" fill=\"%s\" stroke=\"white\" "
            "stroke-width=\"1.5\"/>\n",
            x, y, color);
    if (!f->labels) {
        return;
    }
    char style[80];
    snprintf(style, sizeof style, "font-size=\"12\" font-weight=\"bold\" fill=\"%s\"", color);
    bool right_half = x > (f->x0 + f->x1) / 2;
    label_at(out, right_half ? x - 9 : x + 9, y - 9, right_half ? "end" : "start", style, label);
}

static void draw_markers(FILE *out, const frame *f, const tg_chart *c) {
    const tg_replay_result *r = c->result;
    char num[TG_DEC_STR_MAX], label[TG_DEC_STR_MAX + 48];
    if (r->activated) {
        tg_dec_format(r->activated_price, c->dp, num);
        snprintf(label, sizeof label, "activated %s", num);
        draw_marker(out, f, r->activated_ms, r->activated_price, COLOR_ACTIVATION, label);
    }
    if (r->outcome != TG_REPLAY_OPEN) {
        tg_dec_format(r->exit_price, c->dp, num);
        snprintf(label, sizeof label, "exit %s (%s)", num,
                 r->outcome == TG_REPLAY_STOPPED ? "stop" : "closed at market");
        draw_marker(out, f, r->exit_ms, r->exit_price, COLOR_EXIT, label);
    }
}

/* Greys [from, f->t1]: the time after the exit, shown for context only. */
static void draw_after_exit(FILE *out, const frame *f, const tg_replay_result *r) {
    if (r->outcome == TG_REPLAY_OPEN || r->exit_ms >= f->t1) {
        return;
    }
    double x = px_x(f, r->exit_ms < f->t0 ? f->t0 : r->exit_ms);
    fprintf(out,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#000\" "
            "fill-opacity=\"0.05\"/>\n",
            x, f->y0, f->x1 - x, f->y1 - f->y0);
    if (f->x1 - x > 60) {
        text_at(out, (x + f->x1) / 2, f->y0 + 16, "middle", "font-size=\"11\" fill=\"#777\"",
                "after exit");
    }
}

/* One legend entry: a sample of the mark, then its name. */
typedef struct legend_item {
    const char *svg;  /* sample drawn at the origin, 24 px wide */
    const char *name; /* text after it */
} legend_item;

static void draw_legend(FILE *out, const tg_replay_result *r) {
    const legend_item items[] = {
        {"<line x1=\"0\" y1=\"0\" x2=\"24\" y2=\"0\" stroke=\"" COLOR_PRICE
         "\" stroke-width=\"1.5\"/>",
         "price"},
        {"<path d=\"M0,4 H10 V-4 H24\" fill=\"none\" stroke=\"" COLOR_STOP
         "\" stroke-width=\"1.8\"/>",
         "stop on the exchange"},
        {"<line x1=\"0\" y1=\"0\" x2=\"24\" y2=\"0\" stroke=\"" COLOR_ACTIVATION
         "\" stroke-width=\"1.2\" stroke-dasharray=\"6 4\"/>",
         "activation level"},
        {"<line x1=\"0\" y1=\"0\" x2=\"24\" y2=\"0\" stroke=\"" COLOR_ENTRY
         "\" stroke-width=\"1.2\" stroke-dasharray=\"2 3\"/>",
         "entry"},
        {"<circle cx=\"12\" cy=\"0\" r=\"5\" fill=\"" COLOR_ACTIVATION "\"/>",
         r->activated ? "activation" : "activation (never reached)"},
        {"<circle cx=\"12\" cy=\"0\" r=\"5\" fill=\"" COLOR_EXIT "\"/>",
         r->outcome == TG_REPLAY_OPEN ? "exit (none: still open)" : "exit"},
    };
    double x = MAIN_X0;
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        fprintf(out, "<g transform=\"translate(%.1f,62)\">%s", x, items[i].svg);
        text_at(out, 30, 4, "start", "font-size=\"12\"", items[i].name);
        fputs("</g>\n", out);
        x += 30 + CHAR_PX * (double)strlen(items[i].name) + 22;
    }
}

/* A percent with its sign: "+1.5000", "-0.2500". buf holds TG_DEC_STR_MAX + 1. */
static void format_pct(tg_dec v, int dp, char *buf) {
    char num[TG_DEC_STR_MAX];
    tg_dec_format(v, dp, num);
    snprintf(buf, TG_DEC_STR_MAX + 1, "%s%s", tg_dec_is_pos(v) ? "+" : "", num);
}

static void draw_title(FILE *out, const tg_chart *c) {
    const tg_replay_result *r = c->result;
    char exit_px[TG_DEC_STR_MAX], entry[TG_DEC_STR_MAX], act[TG_DEC_STR_MAX];
    char pct[TG_DEC_STR_MAX + 1], mfe[TG_DEC_STR_MAX + 1], cap[TG_DEC_STR_MAX + 1];
    char when[TG_UTC_STR_MAX], line[512];
    tg_dec_format(r->exit_price, c->dp, exit_px);
    tg_dec_format(r->entry, c->dp, entry);
    tg_dec_format(r->activation_price, c->dp, act);
    format_pct(r->result_pct, 4, pct);
    format_pct(r->mfe_pct, 4, mfe);
    if (!r->has_numbers) {
        snprintf(pct, sizeof pct, "n/a");
        snprintf(mfe, sizeof mfe, "n/a");
    }
    format_pct(r->captured_pct, 2, cap);
    const char *how = r->outcome == TG_REPLAY_STOPPED  ? "stopped out at"
                      : r->outcome == TG_REPLAY_CLOSED ? "closed at market at"
                                                       : "still open at the end, last";
    snprintf(line, sizeof line, "%s: %s, %s %s, result %s %%",
             c->title != NULL ? c->title : "trailguard replay",
             r->side == TG_SIDE_LONG ? "long" : "short", how, exit_px, pct);
    text_at(out, MAIN_X0, 24, "start", "font-size=\"17\" font-weight=\"bold\"", line);
    char reached[TG_UTC_STR_MAX + 16] = "never reached";
    if (r->activated) {
        tg_utc_format(r->activated_ms, when);
        snprintf(reached, sizeof reached, "reached %s", when);
    }
    snprintf(line, sizeof line,
             "entry %s · activation %s %s · %u stop move%s · max favourable %s %% · "
             "captured %s%s%s%s",
             entry, act, reached, (unsigned)r->n_moves, r->n_moves == 1 ? "" : "s", mfe,
             r->has_captured ? cap : "n/a", r->has_captured ? " %" : "",
             c->source != NULL ? " · " : "", c->source != NULL ? c->source : "");
    text_at(out, MAIN_X0, 44, "start", "font-size=\"12\" fill=\"#444\"", line);
}

/* Axes, levels, price, stop and markers of one panel. */
static void draw_panel(FILE *out, const frame *f, const tg_chart *c, bool narrow) {
    const tg_replay_result *r = c->result;
    fprintf(out,
            "<clipPath id=\"panel%d\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
            "height=\"%.1f\"/></clipPath>\n",
            f->id, f->x0, f->y0, f->x1 - f->x0, f->y1 - f->y0);
    draw_price_axis(out, f);
    draw_time_axis(out, f, narrow);
    fprintf(out, "<g clip-path=\"url(#panel%d)\">\n", f->id);
    draw_after_exit(out, f, r);
    const level levels[2] = {{r->entry, COLOR_ENTRY, "2 3", "entry"},
                             {r->activation_price, COLOR_ACTIVATION, "6 4", "activation"}};
    draw_level(out, f, &levels[0], c->dp, false);
    draw_level(out, f, &levels[1], c->dp, false);
    draw_price(out, f, c);
    draw_stops(out, f, c);
    fputs("</g>\n", out);
    draw_level(out, f, &levels[0], c->dp, true);
    draw_level(out, f, &levels[1], c->dp, true);
    draw_markers(out, f, c);
    fprintf(out,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#999\"/>\n",
            f->x0, f->y0, f->x1 - f->x0, f->y1 - f->y0);
}

/* Outlines on the main panel the span that the zoom panel shows. */
static void draw_zoom_span(FILE *out, const frame *main, const frame *zoom) {
    double xa = px_x(main, zoom->t0), xb = px_x(main, zoom->t1);
    if (xb - xa < 4) {
        xa -= 2;
        xb += 2;
    }
    fprintf(out,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"" COLOR_ACTIVATION
            "\" fill-opacity=\"0.10\" stroke=\"" COLOR_ACTIVATION "\" stroke-dasharray=\"3 3\"/>\n",
            xa, main->y0, xb - xa, main->y1 - main->y0);
    text_at(out, (zoom->x0 + zoom->x1) / 2, zoom->y0 - 4, "middle",
            "font-size=\"12\" font-weight=\"bold\" fill=\"" COLOR_ACTIVATION "\"",
            "zoom: activation to exit");
}

tg_status tg_chart_write(FILE *out, const tg_chart *c, tg_err *err) {
    assert(out != NULL && c != NULL && c->result != NULL);
    assert(c->points != NULL && c->count > 0 && c->dp >= 0 && c->dp <= TG_DEC_DP);
    frame m = {.x0 = MAIN_X0,
               .x1 = MAIN_X1,
               .y0 = PANEL_Y0,
               .y1 = PANEL_Y1,
               .price_lines_max = 10,
               .time_lines_max = 9,
               .id = 0,
               .labels = true};
    main_window(&m, c);
    frame z = m;
    bool zoomed = zoom_window(&m, c, &z);
    if (zoomed) {
        m.x1 = MAIN_X1_ZOOMED;
        m.time_lines_max = 6;
        m.labels = false;
        z.x0 = ZOOM_X0;
        z.time_lines_max = 3;
        z.id = 1;
        frame_points(&z, c);
        frame_prices(&z, c, false);
    }
    frame_points(&m, c);
    frame_prices(&m, c, true);
    fprintf(out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" "
            "fill=\"" COLOR_TEXT "\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            TG_CHART_WIDTH, TG_CHART_HEIGHT, TG_CHART_WIDTH, TG_CHART_HEIGHT);
    draw_title(out, c);
    draw_legend(out, c->result);
    draw_panel(out, &m, c, false);
    if (zoomed) {
        draw_zoom_span(out, &m, &z);
        draw_panel(out, &z, c, true);
    }
    fputs("</svg>\n", out);
    if (fflush(out) != 0 || ferror(out)) {
        return tg_err_set(err, TG_E_IO, "writing the chart failed");
    }
    return TG_OK;
}
