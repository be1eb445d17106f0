/* TEMPORARY stand-in for the colleague's src/diag/report.c, so that the
 * command builds and tests before the merge. Deleted before the branch's
 * last commit. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "trailguard/diag.h"

const char *tg_diag_probe_str(tg_diag_probe p) {
    static const char *const n[] = {"engine", "store", "exchange", "consistency"};
    return (unsigned)p < 4 ? n[p] : "unknown";
}
tg_status tg_diag_report_json(FILE *f, const tg_diag_run *run, const tg_diag_issues *is,
                              tg_err *err) {
    (void)err;
    fprintf(f, "{\"summary\":{\"issues_found\":%zu,\"errors\":%" PRIu64 "},\"issues\":[", is->count,
            run->errors);
    for (size_t i = 0; i < is->count; i++) {
        const tg_diag_issue *x = &is->items[i];
        fprintf(f,
                "%s{\"type\":\"%s\",\"severity\":\"%s\",\"account\":\"%s\",\"symbol\":\"%s\","
                "\"count\":%u}",
                i ? "," : "", tg_diag_type_str(x->type), tg_diag_severity_str(x->severity),
                x->account, x->symbol, x->count);
    }
    fputs("]}\n", f);
    return TG_OK;
}

void tg_diag_report_console(FILE *f, const tg_diag_run *run, const tg_diag_issues *is) {
    fprintf(f, "DIAGNOSTIC REPORT SUMMARY\nIssues Found: %zu\nErrors: %" PRIu64 "\n", is->count,
            run->errors);
}

tg_status tg_diag_report_html(FILE *f, const tg_diag_run *run, const tg_diag_issues *is,
                              tg_err *err) {
    (void)err;
    fprintf(f, "<!doctype html><title>trailguard diagnose</title><p>%zu issues, %zu timelines\n",
            is->count, run->timelines_count);
    return TG_OK;
}

void tg_diag_log_issue(FILE *f, const tg_diag_issue *x) {
    fprintf(f, "msg=issue type=%s severity=%s account=%s symbol=%s count=%u\n",
            tg_diag_type_str(x->type), tg_diag_severity_str(x->severity), x->account, x->symbol,
            x->count);
}
