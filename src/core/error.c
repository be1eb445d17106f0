#include "trailguard/error.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>

tg_status tg_err_set(tg_err *err, tg_status status, const char *fmt, ...) {
    assert(status != TG_OK);
    assert(fmt != NULL);
    if (err != NULL) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

void tg_err_clear(tg_err *err) {
    if (err != NULL) {
        err->status = TG_OK;
        err->msg[0] = '\0';
    }
}
