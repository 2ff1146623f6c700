// status.c - error message formatting and the status-code table.
#include "core/status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

flm_status flm_err_setv(struct flm_err *err, flm_status status, const char *fmt, va_list ap) {
    if (err) {
        err->status = status;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return status;
}

flm_status flm_err_set(struct flm_err *err, flm_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    flm_err_setv(err, status, fmt, ap);
    va_end(ap);
    return status;
}

void flm_err_prefix(struct flm_err *err, const char *fmt, ...) {
    if (!err) return;
    char head[256], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t n = strlen(head);
    if (n + 2 >= sizeof err->msg) n = sizeof err->msg - 3;
    memcpy(err->msg, head, n);
    memcpy(err->msg + n, ": ", 2);
    size_t room = sizeof err->msg - n - 3, m = strnlen(old, room);
    memcpy(err->msg + n + 2, old, m);
    err->msg[n + 2 + m] = '\0';
}

const char *flm_status_str(flm_status s) {
    switch (s) {
    case FLM_OK:              return "ok";
    case FLM_ERR_IO:          return "I/O error";
    case FLM_ERR_FORMAT:      return "malformed file";
    case FLM_ERR_NOMEM:       return "out of memory";
    case FLM_ERR_INVALID:     return "invalid argument";
    case FLM_ERR_UNSUPPORTED: return "unsupported";
    case FLM_ERR_CONTEXT:     return "context full";
    case FLM_ERR_CANCELLED:   return "cancelled";
    }
    return "unknown status";
}

_Noreturn void flm_assert_fail(const char *file, int line, const char *expr) {
    fprintf(stderr, "flashlm: internal invariant failed at %s:%d: %s\n", file, line, expr);
    abort();
}
