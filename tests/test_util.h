// test_util.h - helpers shared by the cmocka tests.
#ifndef FLM_TEST_UTIL_H
#define FLM_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

// Path of a default model under models/, or NULL (and a skip) when missing.
static inline const char *flm_test_model(const char *file) {
    static char path[400];
    snprintf(path, sizeof path, "%s/%s", FLM_MODELS_DIR, file);
    if (access(path, R_OK) != 0) return NULL;
    return path;
}

// Deterministic xorshift for random test data.
static inline uint64_t flm_test_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}
static inline float flm_test_randf(uint64_t *s) {  // uniform in [-1, 1)
    return (float)((flm_test_rand(s) >> 40) * (1.0 / (1ull << 23)) - 1.0);
}

#endif
