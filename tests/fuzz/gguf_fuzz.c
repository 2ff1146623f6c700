// gguf_fuzz.c - libFuzzer entry point for the GGUF reader.
//
// Opens the input with flm_gguf_open_buffer and, when it is accepted, walks
// every key (through the typed getters, by its own name), every array element
// and every tensor's bytes, so a reader that accepted something it should not
// have shows up as a sanitizer report here.
//
//     clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc \
//         tests/fuzz/gguf_fuzz.c src/format/*.c src/core/*.c -o /tmp/gguf_fuzz
//     /tmp/gguf_fuzz tests/fuzz/corpus/gguf -max_total_time=60
#include "format/gguf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

static void touch(const void *p, uint64_t n) {
    const uint8_t *b = p;
    uint64_t h = 0;
    for (uint64_t i = 0; i < n; i++) h = h * 31 + b[i];
    sink += h;
}

static size_t elem_size(enum flm_gguf_vtype t) {
    switch (t) {
    case FLM_GGUF_UINT8: case FLM_GGUF_INT8: case FLM_GGUF_BOOL: return 1;
    case FLM_GGUF_UINT16: case FLM_GGUF_INT16: return 2;
    case FLM_GGUF_UINT64: case FLM_GGUF_INT64: case FLM_GGUF_FLOAT64: return 8;
    default: return 4;
    }
}

static void walk_kv(const struct flm_gguf *g, int64_t i) {
    struct flm_gguf_str k = flm_gguf_key(g, i);
    touch(k.ptr, k.len);
    char key[256];
    if (k.len >= sizeof key) return;
    memcpy(key, k.ptr, k.len);
    key[k.len] = '\0';
    if (memchr(key, '\0', k.len)) return;  // a key with a NUL cannot be looked up by name
    struct flm_err err;
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f;
    double d;
    bool b;
    struct flm_gguf_str s;
    int64_t idx;
    uint64_t len;
    // every getter on every key: the right one succeeds, the others fail cleanly
    sink += (uint64_t)flm_gguf_get_u32(g, key, &u32, &err) + (uint64_t)flm_gguf_get_i32(g, key, &i32, &err);
    sink += (uint64_t)flm_gguf_get_u64(g, key, &u64, &err) + (uint64_t)flm_gguf_get_i64(g, key, &i64, &err);
    sink += (uint64_t)flm_gguf_get_f32(g, key, &f, &err) + (uint64_t)flm_gguf_get_f64(g, key, &d, &err);
    sink += (uint64_t)flm_gguf_get_bool(g, key, &b, &err);
    if (flm_gguf_get_str(g, key, &s, &err) == FLM_OK) touch(s.ptr, s.len);
    if (flm_gguf_find_key(g, key) != i) abort();  // keys are unique, so the lookup finds this one
    if (flm_gguf_kv_type(g, i) != FLM_GGUF_ARRAY) return;
    enum flm_gguf_vtype et = flm_gguf_arr_type(g, i);
    if (flm_gguf_get_arr(g, key, et, &idx, &len, &err) != FLM_OK || idx != i || len != flm_gguf_arr_len(g, i))
        abort();
    if (et == FLM_GGUF_STRING) {
        for (uint64_t j = 0; j < len; j++) {
            s = flm_gguf_arr_str(g, i, j);
            touch(s.ptr, s.len);
        }
    } else {
        const void *p = flm_gguf_arr_data(g, i);
        if ((uintptr_t)p % elem_size(et) != 0) abort();
        touch(p, len * elem_size(et));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct flm_gguf *g = NULL;
    struct flm_err err;
    err.msg[0] = '\0';
    if (flm_gguf_open_buffer(&g, data, size, &err) != FLM_OK) {
        if (g != NULL || err.msg[0] == '\0') abort();  // a failure always says why
        return 0;
    }
    for (int64_t i = 0; i < flm_gguf_n_kv(g); i++) walk_kv(g, i);
    for (int64_t i = 0; i < flm_gguf_n_tensors(g); i++) {
        const struct flm_gguf_tensor *t = flm_gguf_tensor(g, i);
        char name[64];
        if (t->name.len >= sizeof name) abort();
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = '\0';
        if (!memchr(name, '\0', t->name.len) && flm_gguf_find_tensor(g, name) != t) abort();
        if ((const uint8_t *)t->data < data || t->nbytes > size - (size_t)((const uint8_t *)t->data - data)) abort();
        touch(t->data, t->nbytes);
    }
    sink += flm_gguf_version(g) + flm_gguf_alignment(g) + flm_gguf_data_offset(g) + flm_gguf_file_size(g);
    flm_gguf_close(g);
    return 0;
}
