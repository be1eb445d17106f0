/*
 * diag/report_int.h — what the report writers (report.c, html.c) share: the
 * figures every output shows, computed once from the run and the issues.
 */
#ifndef TG_DIAG_REPORT_INT_H
#define TG_DIAG_REPORT_INT_H

#include "trailguard/diag.h"

#define DIAG_ISO_MAX  40 /* bytes of "2025-10-15T17:56:23.123Z" (24), with room */
#define DIAG_RECS_MAX 24 /* recommendations at most */

/* Order statistics of one probe's latency ring. */
typedef struct diag_latency {
    size_t samples;                   /* latencies in the ring */
    double min_ms, median_ms, p95_ms; /* ms */
    double max_ms, avg_ms;            /* ms */
} diag_latency;

typedef struct diag_summary {
    size_t by_severity[4];                      /* distinct issues per tg_diag_severity */
    size_t by_type[TG_DIAG_TYPE_COUNT];         /* distinct issues per tg_diag_type */
    uint64_t sightings;                         /* sum of the issues' counts */
    int worst;                                  /* tg_diag_worst() */
    const char *health;                         /* "healthy" "degraded" "unhealthy" "critical" */
    char recs[DIAG_RECS_MAX][TG_DIAG_TEXT_MAX]; /* recommendations, in order */
    size_t rec_count;                           /* entries */
} diag_summary;

void diag_summarize(const tg_diag_run *run, const tg_diag_issues *issues, diag_summary *out);
diag_latency diag_latency_of(const tg_diag_probe_stats *probe);
/* ms since the epoch as ISO 8601 UTC with milliseconds. Returns buf. */
const char *diag_iso(int64_t ms, char buf[DIAG_ISO_MAX]);
/* text with every byte that is not part of valid UTF-8 replaced by '?', cut
 * to cap − 1 bytes on a character boundary. Returns out. */
const char *diag_utf8(const char *text, char *out, size_t cap);

#endif
