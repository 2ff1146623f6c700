// status.h - status codes and error messages for every flashlm module.
//
// A failing function returns a negative flm_status and, when handed a
// struct flm_err, fills it with one line that names the function, the thing
// at fault and the value or offset ("gguf: tensor 'blk.3.ffn_up' offset 9876
// beyond file size 4096"). Nothing in the library prints or exits on error.
#ifndef FLM_CORE_STATUS_H
#define FLM_CORE_STATUS_H

#include "flashlm.h"

#include <stdarg.h>

// Fills err (if non-NULL) with the formatted message and returns status, so
// callers can write `return flm_err_set(err, FLM_ERR_FORMAT, "...", ...);`.
flm_status flm_err_set(struct flm_err *err, flm_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
flm_status flm_err_setv(struct flm_err *err, flm_status status, const char *fmt, va_list ap);

// Prepends "prefix: " to an existing message (keeps the status).
void flm_err_prefix(struct flm_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Programmer invariants only; never for data from files, users or the network.
#define FLM_ASSERT(x)                                                                     \
    do {                                                                                  \
        if (!(x)) flm_assert_fail(__FILE__, __LINE__, #x);                                \
    } while (0)
_Noreturn void flm_assert_fail(const char *file, int line, const char *expr);

#endif
