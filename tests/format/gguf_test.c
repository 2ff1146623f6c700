// gguf_test.c - the GGUF reader and writer: byte layout against the spec,
// round trips of every value type and several tensor types, the two real
// models against facts read with the python gguf package, file-level errors,
// the malformed-file corpus (gguf_corpus.h) and every truncation of a valid
// file.
#include "test_util.h"

#include "format/gguf.h"
#include "format/gguf_corpus.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

// ---------------------------------------------------------------- helpers

static bool str_eq(struct flm_gguf_str s, const char *c) { return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0; }

static void assert_msg(const struct flm_err *err, const char *what, const char *name) {
    if (strstr(err->msg, what) && strncmp(err->msg, "gguf: ", 6) == 0) return;
    print_error("case %s: message \"%s\" does not contain \"%s\"\n", name, err->msg, what);
    fail();
}

static struct flm_gguf *open_buf(const void *buf, size_t size) {
    struct flm_gguf *g = NULL;
    struct flm_err err = {0};
    flm_status st = flm_gguf_open_buffer(&g, buf, size, &err);
    if (st != FLM_OK) print_error("open failed: %s\n", err.msg);
    assert_int_equal(st, FLM_OK);
    return g;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// ---------------------------------------------------------------- layout against the spec

// A file with one u32 key and one 2-element F32 tensor, written out byte by
// byte from the GGUF spec.
static void test_layout_matches_spec(void **state) {
    (void)state;
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 3, 0), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_u32(w, "a.b", 0x11223344u), FLM_OK);
    const float x[2] = {1.0f, -2.0f};
    assert_int_equal(flm_gguf_writer_tensor(w, "t", FLM_TYPE_F32, 1, (int64_t[]){2}, x, 8), FLM_OK);
    void *buf;
    size_t size;
    assert_int_equal(flm_gguf_writer_to_buffer(w, &buf, &size), FLM_OK);
    flm_gguf_writer_free(w);
    static const uint8_t head[] = {
        'G', 'G', 'U', 'F', 3, 0, 0, 0,                  // magic, version 3
        1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,  // n_tensors 1, n_kv 1
        3, 0, 0, 0, 0, 0, 0, 0, 'a', '.', 'b',           // key "a.b"
        4, 0, 0, 0, 0x44, 0x33, 0x22, 0x11,              // u32 0x11223344
        1, 0, 0, 0, 0, 0, 0, 0, 't',                     // tensor name "t"
        1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,              // n_dims 1, ne[0] 2
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,              // type F32, offset 0
    };  // 68 bytes, padded to 96; then 8 bytes of data padded to 32
    assert_int_equal(size, 96 + 32);
    assert_memory_equal(buf, head, sizeof head);
    for (size_t i = sizeof head; i < 96; i++) assert_int_equal(((uint8_t *)buf)[i], 0);
    assert_memory_equal((uint8_t *)buf + 96, x, 8);

    struct flm_gguf *g = open_buf(buf, size);
    assert_int_equal(flm_gguf_data_offset(g), 96);
    assert_int_equal(flm_gguf_alignment(g), 32);
    assert_ptr_equal(flm_gguf_tensor(g, 0)->data, (uint8_t *)buf + 96);
    flm_gguf_close(g);
    free(buf);
}

// ---------------------------------------------------------------- round trip

struct arr_case {
    const char         *key;
    enum flm_gguf_vtype t;
    uint64_t            n;
};

static void fill_bytes(uint8_t *p, size_t n, enum flm_gguf_vtype t, uint64_t seed) {
    for (size_t i = 0; i < n; i++) p[i] = t == FLM_GGUF_BOOL ? (uint8_t)(flm_test_rand(&seed) & 1)
                                                             : (uint8_t)flm_test_rand(&seed);
}

static void roundtrip(uint32_t version, uint32_t alignment) {
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, version, alignment), FLM_OK);
    // scalars of every type, one per key (the odd-length key shifts what follows)
    const uint8_t u8 = 200;
    const int8_t i8 = -100;
    const uint16_t u16 = 60000;
    const int16_t i16 = -30000;
    const int64_t i64 = -5000000000ll;
    const uint64_t u64 = 18000000000000000000ull;
    const double f64 = 3.141592653589793;
    assert_int_equal(flm_gguf_writer_kv_scalar(w, "s.u8", FLM_GGUF_UINT8, &u8), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_scalar(w, "s.i8", FLM_GGUF_INT8, &i8), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_scalar(w, "s.u16", FLM_GGUF_UINT16, &u16), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_scalar(w, "s.i16", FLM_GGUF_INT16, &i16), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_u32(w, "s.u32", 4000000000u), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_i32(w, "s.i32", -2000000000), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_f32(w, "s.f32", 1.5e-5f), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_bool(w, "s.bool", true), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_str(w, "s.str", "h\xc3\xa9llo"), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_str(w, "s.empty", ""), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_scalar(w, "s.u64", FLM_GGUF_UINT64, &u64), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_scalar(w, "s.i64", FLM_GGUF_INT64, &i64), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_scalar(w, "s.f64", FLM_GGUF_FLOAT64, &f64), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_scalar(w, "s.i32small", FLM_GGUF_INT32, &(int32_t){7}), FLM_OK);
    // arrays of every numeric type at awkward lengths, each after an odd number
    // of bytes so most land misaligned in the file
    static const struct arr_case arrs[] = {
        {"a.u8", FLM_GGUF_UINT8, 7},    {"a.i8", FLM_GGUF_INT8, 1},       {"a.u16", FLM_GGUF_UINT16, 3},
        {"a.i16", FLM_GGUF_INT16, 5},   {"a.u32", FLM_GGUF_UINT32, 9},    {"a.i32", FLM_GGUF_INT32, 33},
        {"a.f32", FLM_GGUF_FLOAT32, 2}, {"a.bool", FLM_GGUF_BOOL, 11},    {"a.u64", FLM_GGUF_UINT64, 4},
        {"a.i64", FLM_GGUF_INT64, 3},   {"a.f64", FLM_GGUF_FLOAT64, 6},   {"a.empty", FLM_GGUF_INT32, 0},
    };
    enum { N_ARR = sizeof arrs / sizeof arrs[0] };
    uint8_t data[N_ARR][33 * 8];
    for (size_t i = 0; i < N_ARR; i++) {
        fill_bytes(data[i], sizeof data[i], arrs[i].t, 1000 + i);
        assert_int_equal(flm_gguf_writer_kv_arr(w, arrs[i].key, arrs[i].t, data[i], arrs[i].n), FLM_OK);
        assert_int_equal(flm_gguf_writer_kv_scalar(w, arrs[i].key + 1, FLM_GGUF_UINT8, &u8), FLM_OK);  // shift
    }
    const char *strs[] = {"", "a", "\xe2\x96\x81hello", "with\nnewline", "<0x0A>"};
    assert_int_equal(flm_gguf_writer_kv_arr_str(w, "a.str", strs, 5), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_arr_str(w, "a.str0", NULL, 0), FLM_OK);

    // tensors of several types and shapes, one of them empty
    struct { const char *name; enum flm_type t; uint32_t n_dims; int64_t ne[4]; } ts[] = {
        {"f32", FLM_TYPE_F32, 2, {5, 3}},          {"f16", FLM_TYPE_F16, 1, {7}},
        {"q4_0", FLM_TYPE_Q4_0, 2, {64, 3}},       {"q8_0", FLM_TYPE_Q8_0, 3, {32, 1, 2}},
        {"q4_k", FLM_TYPE_Q4_K, 2, {256, 2}},      {"q6_k", FLM_TYPE_Q6_K, 1, {512}},
        {"bf16", FLM_TYPE_BF16, 4, {3, 2, 2, 2}},  {"empty", FLM_TYPE_F32, 2, {0, 4}},
        {"i32", FLM_TYPE_I32, 1, {1}},             {"q5_0", FLM_TYPE_Q5_0, 2, {32, 5}},
    };
    // hand-computed sizes: blocks * bytes per block
    const size_t sizes[] = {60, 14, 2 * 3 * 18, 2 * 34, 2 * 144, 2 * 210, 24 * 2, 0, 4, 5 * 22};
    enum { N_T = sizeof ts / sizeof ts[0] };
    uint8_t *tdata[N_T];
    for (size_t i = 0; i < N_T; i++) {
        tdata[i] = malloc(sizes[i] + 1);
        fill_bytes(tdata[i], sizes[i], FLM_GGUF_UINT8, 77 + i);
        assert_int_equal(flm_gguf_writer_tensor(w, ts[i].name, ts[i].t, ts[i].n_dims, ts[i].ne, tdata[i], sizes[i]),
                         FLM_OK);
    }
    void *buf;
    size_t size;
    assert_int_equal(flm_gguf_writer_to_buffer(w, &buf, &size), FLM_OK);
    flm_gguf_writer_free(w);

    struct flm_gguf *g = open_buf(buf, size);
    const uint32_t align = alignment ? alignment : 32;
    assert_int_equal(flm_gguf_version(g), version);
    assert_int_equal(flm_gguf_alignment(g), align);
    assert_int_equal(flm_gguf_file_size(g), size);
    assert_int_equal(flm_gguf_data_offset(g) % align, 0);
    assert_int_equal(flm_gguf_n_kv(g), 14 + 2 * N_ARR + 2 + (alignment ? 1 : 0));
    struct flm_err err = {0};
    uint32_t vu32;
    int32_t vi32;
    uint64_t vu64;
    int64_t vi64;
    float vf;
    double vd;
    bool vb;
    struct flm_gguf_str vs;
    assert_int_equal(flm_gguf_get_u32(g, "s.u8", &vu32, &err), FLM_OK), assert_int_equal(vu32, 200);
    assert_int_equal(flm_gguf_get_i32(g, "s.i8", &vi32, &err), FLM_OK), assert_int_equal(vi32, -100);
    assert_int_equal(flm_gguf_get_u32(g, "s.u16", &vu32, &err), FLM_OK), assert_int_equal(vu32, 60000);
    assert_int_equal(flm_gguf_get_i32(g, "s.i16", &vi32, &err), FLM_OK), assert_int_equal(vi32, -30000);
    assert_int_equal(flm_gguf_get_u32(g, "s.u32", &vu32, &err), FLM_OK), assert_int_equal(vu32, 4000000000u);
    assert_int_equal(flm_gguf_get_i32(g, "s.i32", &vi32, &err), FLM_OK), assert_int_equal(vi32, -2000000000);
    assert_int_equal(flm_gguf_get_i64(g, "s.i32", &vi64, &err), FLM_OK), assert_int_equal(vi64, -2000000000);
    assert_int_equal(flm_gguf_get_u32(g, "s.i32small", &vu32, &err), FLM_OK), assert_int_equal(vu32, 7);
    assert_int_equal(flm_gguf_get_f32(g, "s.f32", &vf, &err), FLM_OK), assert_true(vf == 1.5e-5f);
    assert_int_equal(flm_gguf_get_bool(g, "s.bool", &vb, &err), FLM_OK), assert_true(vb);
    assert_int_equal(flm_gguf_get_str(g, "s.str", &vs, &err), FLM_OK), assert_true(str_eq(vs, "h\xc3\xa9llo"));
    assert_int_equal(flm_gguf_get_str(g, "s.empty", &vs, &err), FLM_OK), assert_int_equal(vs.len, 0);
    assert_int_equal(flm_gguf_get_u64(g, "s.u64", &vu64, &err), FLM_OK), assert_true(vu64 == u64);
    assert_int_equal(flm_gguf_get_i64(g, "s.i64", &vi64, &err), FLM_OK), assert_true(vi64 == i64);
    assert_int_equal(flm_gguf_get_f64(g, "s.f64", &vd, &err), FLM_OK), assert_true(vd == f64);
    assert_int_equal(flm_gguf_get_f32(g, "s.f64", &vf, &err), FLM_OK), assert_true(vf == (float)f64);
    assert_int_equal(flm_gguf_kv_type(g, flm_gguf_find_key(g, "s.i16")), FLM_GGUF_INT16);

    for (size_t i = 0; i < N_ARR; i++) {
        int64_t idx;
        uint64_t len;
        assert_int_equal(flm_gguf_get_arr(g, arrs[i].key, arrs[i].t, &idx, &len, &err), FLM_OK);
        assert_int_equal(len, arrs[i].n);
        assert_int_equal(flm_gguf_arr_type(g, idx), arrs[i].t);
        assert_int_equal(flm_gguf_arr_len(g, idx), arrs[i].n);
        const void *p = flm_gguf_arr_data(g, idx);
        size_t esz = arrs[i].t == FLM_GGUF_UINT8 || arrs[i].t == FLM_GGUF_INT8 || arrs[i].t == FLM_GGUF_BOOL ? 1
                     : arrs[i].t == FLM_GGUF_UINT16 || arrs[i].t == FLM_GGUF_INT16                     ? 2
                     : arrs[i].t == FLM_GGUF_UINT64 || arrs[i].t == FLM_GGUF_INT64 ||
                               arrs[i].t == FLM_GGUF_FLOAT64 ? 8 : 4;
        assert_int_equal((uintptr_t)p % esz, 0);
        if (arrs[i].n) assert_memory_equal(p, data[i], arrs[i].n * esz);
    }
    {  // element values through the aligned pointer, by type
        int64_t idx;
        uint64_t len;
        assert_int_equal(flm_gguf_get_arr(g, "a.i32", FLM_GGUF_INT32, &idx, &len, &err), FLM_OK);
        const int32_t *a = flm_gguf_arr_data(g, idx);
        int32_t want;
        memcpy(&want, data[5] + 4 * 32, 4);
        assert_int_equal(a[32], want);
        int64_t si;
        assert_int_equal(flm_gguf_get_arr(g, "a.str", FLM_GGUF_STRING, &si, &len, &err), FLM_OK);
        assert_int_equal(len, 5);
        for (uint64_t j = 0; j < 5; j++) assert_true(str_eq(flm_gguf_arr_str(g, si, j), strs[j]));
        assert_int_equal(flm_gguf_get_arr(g, "a.str0", FLM_GGUF_STRING, &si, &len, &err), FLM_OK);
        assert_int_equal(len, 0);
    }

    assert_int_equal(flm_gguf_n_tensors(g), N_T);
    uint64_t prev_end = 0;
    for (size_t i = 0; i < N_T; i++) {
        const struct flm_gguf_tensor *t = flm_gguf_tensor(g, (int64_t)i);
        assert_ptr_equal(flm_gguf_find_tensor(g, ts[i].name), t);
        assert_true(str_eq(t->name, ts[i].name));
        assert_int_equal(t->type, ts[i].t);
        assert_int_equal(t->n_dims, ts[i].n_dims);
        for (uint32_t j = 0; j < 4; j++) assert_int_equal(t->ne[j], j < ts[i].n_dims ? ts[i].ne[j] : 1);
        assert_int_equal(t->nbytes, sizes[i]);
        assert_int_equal(t->offset % align, 0);
        assert_true(t->offset >= prev_end);
        prev_end = t->offset + t->nbytes;
        assert_ptr_equal(t->data, (const uint8_t *)buf + flm_gguf_data_offset(g) + t->offset);
        assert_int_equal((uintptr_t)t->data % align, (uintptr_t)buf % align);
        if (sizes[i]) assert_memory_equal(t->data, tdata[i], sizes[i]);
        free(tdata[i]);
    }
    assert_null(flm_gguf_find_tensor(g, "missing"));
    assert_null(flm_gguf_find_tensor(g, "f3"));
    assert_int_equal(flm_gguf_find_key(g, "s.u3"), -1);
    flm_gguf_close(g);
    free(buf);
}

static void test_roundtrip_v3(void **state) { (void)state; roundtrip(3, 0); }
static void test_roundtrip_v2_align64(void **state) { (void)state; roundtrip(2, 64); }
static void test_roundtrip_align8(void **state) { (void)state; roundtrip(3, 8); }

static void test_getter_messages(void **state) {
    (void)state;
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 3, 0), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_str(w, "x.name", "abc"), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_i32(w, "x.neg", -1), FLM_OK);
    const uint64_t big = 1ull << 32;
    assert_int_equal(flm_gguf_writer_kv_scalar(w, "x.big", FLM_GGUF_UINT64, &big), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_arr(w, "x.arr", FLM_GGUF_INT32, (int32_t[]){1, 2}, 2), FLM_OK);
    void *buf;
    size_t size;
    assert_int_equal(flm_gguf_writer_to_buffer(w, &buf, &size), FLM_OK);
    flm_gguf_writer_free(w);
    struct flm_gguf *g = open_buf(buf, size);
    struct flm_err err = {0};
    uint32_t u = 12345;
    int32_t i;
    float f;
    bool b;
    struct flm_gguf_str s;
    int64_t idx;
    uint64_t len;
    assert_int_equal(flm_gguf_get_u32(g, "x.missing", &u, &err), FLM_ERR_FORMAT);
    assert_string_equal(err.msg, "gguf: buffer: missing key 'x.missing'");
    assert_int_equal(u, 12345);
    assert_int_equal(flm_gguf_get_u32(g, "x.name", &u, &err), FLM_ERR_FORMAT);
    assert_string_equal(err.msg, "gguf: buffer: key 'x.name' has type string, expected u32");
    assert_int_equal(flm_gguf_get_u32(g, "x.neg", &u, &err), FLM_ERR_FORMAT);
    assert_string_equal(err.msg, "gguf: buffer: key 'x.neg' = -1 (i32) does not fit in u32");
    assert_int_equal(flm_gguf_get_i32(g, "x.big", &i, &err), FLM_ERR_FORMAT);
    assert_string_equal(err.msg, "gguf: buffer: key 'x.big' = 4294967296 (u64) does not fit in i32");
    assert_int_equal(flm_gguf_get_f32(g, "x.neg", &f, &err), FLM_ERR_FORMAT);
    assert_string_equal(err.msg, "gguf: buffer: key 'x.neg' has type i32, expected f32");
    assert_int_equal(flm_gguf_get_bool(g, "x.arr", &b, &err), FLM_ERR_FORMAT);
    assert_string_equal(err.msg, "gguf: buffer: key 'x.arr' has type array of i32, expected bool");
    assert_int_equal(flm_gguf_get_str(g, "x.big", &s, &err), FLM_ERR_FORMAT);
    assert_string_equal(err.msg, "gguf: buffer: key 'x.big' has type u64, expected string");
    assert_int_equal(flm_gguf_get_arr(g, "x.arr", FLM_GGUF_STRING, &idx, &len, &err), FLM_ERR_FORMAT);
    assert_string_equal(err.msg, "gguf: buffer: key 'x.arr' has type array of i32, expected array of string");
    assert_int_equal(flm_gguf_get_arr(g, "x.name", FLM_GGUF_INT32, &idx, &len, &err), FLM_ERR_FORMAT);
    assert_string_equal(err.msg, "gguf: buffer: key 'x.name' has type string, expected array of i32");
    flm_gguf_close(g);
    free(buf);
}

static void test_writer_refuses(void **state) {
    (void)state;
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 1, 0), FLM_ERR_INVALID);
    assert_int_equal(flm_gguf_writer_init(&w, 3, 48), FLM_ERR_INVALID);
    assert_int_equal(flm_gguf_writer_init(&w, 3, 0), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_u32(w, "k", 1), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_i32(w, "k", 1), FLM_ERR_INVALID);           // duplicate
    assert_int_equal(flm_gguf_writer_kv_u32(w, "", 1), FLM_ERR_INVALID);            // empty key
    assert_int_equal(flm_gguf_writer_kv_u32(w, "general.alignment", 3), FLM_ERR_INVALID);
    assert_int_equal(flm_gguf_writer_kv_str(w, "general.alignment", "32"), FLM_ERR_INVALID);
    assert_int_equal(flm_gguf_writer_kv_arr(w, "a", FLM_GGUF_STRING, "x", 1), FLM_ERR_INVALID);
    assert_int_equal(flm_gguf_writer_kv_arr(w, "a", FLM_GGUF_BOOL, (uint8_t[]){0, 2}, 2), FLM_ERR_INVALID);
    assert_int_equal(flm_gguf_writer_kv_scalar(w, "a", FLM_GGUF_STRING, "x"), FLM_ERR_INVALID);
    int64_t ne[4] = {33, 2, 1, 1};
    assert_int_equal(flm_gguf_writer_tensor(w, "t", FLM_TYPE_Q8_0, 2, ne, NULL, 68), FLM_ERR_INVALID);
    ne[0] = 32;
    assert_int_equal(flm_gguf_writer_tensor(w, "t", FLM_TYPE_Q8_0, 2, ne, NULL, 67), FLM_ERR_INVALID);
    assert_int_equal(flm_gguf_writer_tensor(w, "t", FLM_TYPE_Q8_0, 5, ne, NULL, 68), FLM_ERR_INVALID);
    assert_int_equal(flm_gguf_writer_tensor(w, "t", (enum flm_type)4, 2, ne, NULL, 68), FLM_ERR_INVALID);
    assert_int_equal(flm_gguf_writer_tensor(w, "", FLM_TYPE_Q8_0, 2, ne, NULL, 68), FLM_ERR_INVALID);
    char longname[80];
    memset(longname, 'x', 64), longname[64] = '\0';
    assert_int_equal(flm_gguf_writer_tensor(w, longname, FLM_TYPE_Q8_0, 2, ne, NULL, 68), FLM_ERR_INVALID);
    longname[63] = '\0';  // 63 bytes is the longest name
    assert_int_equal(flm_gguf_writer_tensor(w, longname, FLM_TYPE_Q8_0, 2, ne, NULL, 68), FLM_OK);
    assert_int_equal(flm_gguf_writer_tensor(w, longname, FLM_TYPE_Q8_0, 2, ne, NULL, 68), FLM_ERR_INVALID);
    ne[1] = -1;
    assert_int_equal(flm_gguf_writer_tensor(w, "n", FLM_TYPE_F32, 2, ne, NULL, 0), FLM_ERR_INVALID);
    void *buf;
    size_t size;
    assert_int_equal(flm_gguf_writer_to_buffer(w, &buf, &size), FLM_OK);
    flm_gguf_writer_free(w);
    struct flm_gguf *g = open_buf(buf, size);
    assert_int_equal(flm_gguf_n_tensors(g), 1);
    assert_int_equal(flm_gguf_n_kv(g), 1);
    flm_gguf_close(g);
    free(buf);
    flm_gguf_writer_free(NULL);
    flm_gguf_close(NULL);
}

// ---------------------------------------------------------------- real models

static void check_tensor(struct flm_gguf *g, const char *name, enum flm_type t, int64_t ne0, int64_t ne1,
                         uint64_t abs_offset, size_t nbytes, uint32_t first4) {
    const struct flm_gguf_tensor *x = flm_gguf_find_tensor(g, name);
    assert_non_null(x);
    assert_int_equal(x->type, t);
    assert_int_equal(x->n_dims, ne1 ? 2 : 1);
    assert_int_equal(x->ne[0], ne0);
    assert_int_equal(x->ne[1], ne1 ? ne1 : 1);
    assert_int_equal(flm_gguf_data_offset(g) + x->offset, abs_offset);
    assert_int_equal(x->nbytes, nbytes);
    uint8_t b[4] = {first4 >> 24, first4 >> 16, first4 >> 8, first4};
    if (first4) assert_memory_equal(x->data, b, 4);
}

// Facts below were read with the python gguf package (GGUFReader).
static void test_real_smollm(void **state) {
    (void)state;
    const char *path = flm_test_model("SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!path) skip();
    for (unsigned flags = 0; flags <= FLM_GGUF_OPEN_NO_MMAP; flags += FLM_GGUF_OPEN_NO_MMAP) {
        struct flm_gguf *g;
        struct flm_err err = {0};
        assert_int_equal(flm_gguf_open(&g, path, flags, &err), FLM_OK);
        assert_int_equal(flm_gguf_version(g), 3);
        assert_int_equal(flm_gguf_n_tensors(g), 272);
        assert_int_equal(flm_gguf_n_kv(g), 33);
        assert_int_equal(flm_gguf_data_offset(g), 1785664);
        struct flm_gguf_str s;
        assert_int_equal(flm_gguf_get_str(g, "general.architecture", &s, &err), FLM_OK);
        assert_true(str_eq(s, "llama"));
        assert_int_equal(flm_gguf_get_str(g, "tokenizer.ggml.pre", &s, &err), FLM_OK);
        assert_true(str_eq(s, "smollm"));
        uint32_t u;
        assert_int_equal(flm_gguf_get_u32(g, "llama.block_count", &u, &err), FLM_OK), assert_int_equal(u, 30);
        assert_int_equal(flm_gguf_get_u32(g, "llama.attention.head_count_kv", &u, &err), FLM_OK);
        assert_int_equal(u, 3);
        float f;
        assert_int_equal(flm_gguf_get_f32(g, "llama.rope.freq_base", &f, &err), FLM_OK);
        assert_true(f == 100000.0f);
        bool b;
        assert_int_equal(flm_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, &err), FLM_OK);
        assert_false(b);
        int64_t idx;
        uint64_t len;
        assert_int_equal(flm_gguf_get_arr(g, "tokenizer.ggml.tokens", FLM_GGUF_STRING, &idx, &len, &err), FLM_OK);
        assert_int_equal(len, 49152);
        assert_true(str_eq(flm_gguf_arr_str(g, idx, 0), "<|endoftext|>"));
        assert_true(str_eq(flm_gguf_arr_str(g, idx, 1), "<|im_start|>"));
        assert_true(str_eq(flm_gguf_arr_str(g, idx, 49151), "ectable"));
        assert_int_equal(flm_gguf_get_arr(g, "tokenizer.ggml.merges", FLM_GGUF_STRING, &idx, &len, &err), FLM_OK);
        assert_int_equal(len, 48900);
        assert_true(str_eq(flm_gguf_arr_str(g, idx, 0), "\xc4\xa0 t"));
        assert_true(str_eq(flm_gguf_arr_str(g, idx, 48899), "ect able"));
        assert_int_equal(flm_gguf_get_arr(g, "tokenizer.ggml.token_type", FLM_GGUF_INT32, &idx, &len, &err), FLM_OK);
        const int32_t *tt = flm_gguf_arr_data(g, idx);
        assert_int_equal(tt[0], 3), assert_int_equal(tt[49151], 1);
        check_tensor(g, "token_embd.weight", FLM_TYPE_Q8_0, 576, 49152, 1785664, 30081024, 0);
        check_tensor(g, "blk.0.attn_q.weight", FLM_TYPE_Q4_1, 576, 576, 33806656, 207360, 0x0f30d8b9);
        check_tensor(g, "blk.0.ffn_down.weight", FLM_TYPE_Q4_1, 1536, 576, 31868992, 552960, 0x5530d0b8);
        check_tensor(g, "blk.0.attn_norm.weight", FLM_TYPE_F32, 576, 0, 31866688, 2304, 0);
        assert_null(flm_gguf_find_tensor(g, "output.weight"));
        flm_gguf_close(g);
    }
}

static void test_real_gemma(void **state) {
    (void)state;
    const char *path = flm_test_model("gemma-3-270m-q4_k_m.gguf");
    if (!path) skip();
    struct flm_gguf *g;
    struct flm_err err = {0};
    double t0 = now_ms();
    assert_int_equal(flm_gguf_open(&g, path, 0, &err), FLM_OK);
    double ms = now_ms() - t0;
    print_message("gemma-3-270m open (mmap, 262144-token vocab): %.2f ms\n", ms);
    assert_true(ms < 1000);  // milliseconds in a normal build; generous for sanitizers
    assert_int_equal(flm_gguf_n_tensors(g), 236);
    assert_int_equal(flm_gguf_n_kv(g), 33);
    struct flm_gguf_str s;
    assert_int_equal(flm_gguf_get_str(g, "general.architecture", &s, &err), FLM_OK);
    assert_true(str_eq(s, "gemma3"));
    assert_int_equal(flm_gguf_get_str(g, "tokenizer.ggml.model", &s, &err), FLM_OK);
    assert_true(str_eq(s, "llama"));
    uint32_t u;
    assert_int_equal(flm_gguf_get_u32(g, "gemma3.attention.sliding_window", &u, &err), FLM_OK);
    assert_int_equal(u, 512);
    int64_t idx;
    uint64_t len;
    assert_int_equal(flm_gguf_get_arr(g, "tokenizer.ggml.tokens", FLM_GGUF_STRING, &idx, &len, &err), FLM_OK);
    assert_int_equal(len, 262144);
    assert_true(str_eq(flm_gguf_arr_str(g, idx, 2), "<bos>"));
    assert_true(str_eq(flm_gguf_arr_str(g, idx, 262143), "<unused6241>"));
    assert_int_equal(flm_gguf_get_arr(g, "tokenizer.ggml.scores", FLM_GGUF_FLOAT32, &idx, &len, &err), FLM_OK);
    const float *sc = flm_gguf_arr_data(g, idx);
    assert_true(sc[0] == -1000.0f && sc[1000] == -506.0f);
    check_tensor(g, "token_embd.weight", FLM_TYPE_Q8_0, 640, 262144, 6527680, 178257920, 0);
    check_tensor(g, "blk.0.attn_q.weight", FLM_TYPE_Q5_0, 640, 1024, 185270464, 450560, 0xc017720b);
    check_tensor(g, "blk.0.ffn_down.weight", FLM_TYPE_Q6_K, 2048, 640, 185896128, 1075200, 0xda277d90);
    check_tensor(g, "blk.0.attn_v.weight", FLM_TYPE_Q8_0, 640, 256, 185722048, 174080, 0x281406d9);
    assert_int_equal(flm_gguf_file_size(g), 253113024);
    flm_gguf_close(g);
}

// ---------------------------------------------------------------- file-level errors

static void expect_open_fails(const char *path, unsigned flags, flm_status st, const char *what) {
    struct flm_gguf *g = (struct flm_gguf *)&g;
    struct flm_err err = {0};
    assert_int_equal(flm_gguf_open(&g, path, flags, &err), st);
    assert_null(g);
    assert_msg(&err, what, path);
    assert_non_null(strstr(err.msg, path));
}

static void test_file_errors(void **state) {
    (void)state;
    char dir[] = "/tmp/flm_gguf_test_XXXXXX", path[256];
    assert_non_null(mkdtemp(dir));
    for (unsigned flags = 0; flags <= FLM_GGUF_OPEN_NO_MMAP; flags += FLM_GGUF_OPEN_NO_MMAP) {
        snprintf(path, sizeof path, "%s/nope.gguf", dir);
        expect_open_fails(path, flags, FLM_ERR_IO, "cannot open");
        expect_open_fails(dir, flags, FLM_ERR_IO, "directory");
        snprintf(path, sizeof path, "%s/empty.gguf", dir);
        fclose(fopen(path, "wb"));
        expect_open_fails(path, flags, FLM_ERR_FORMAT, "empty");
        FILE *f = fopen(path, "wb");
        fwrite("GGUF\3\0\0\0\0\0", 1, 10, f);
        fclose(f);
        expect_open_fails(path, flags, FLM_ERR_FORMAT, "shorter than the 24-byte GGUF header");
        f = fopen(path, "wb");
        fwrite("PK\3\4 this is a zip file not a model", 1, 36, f);
        fclose(f);
        expect_open_fails(path, flags, FLM_ERR_FORMAT, "not a GGUF file");
        remove(path);
    }
    rmdir(dir);
    struct flm_gguf *g;
    struct flm_err err = {0};
    assert_int_equal(flm_gguf_open_buffer(&g, "", 0, &err), FLM_ERR_FORMAT);
    assert_int_equal(flm_gguf_open(&g, NULL, 0, &err), FLM_ERR_INVALID);
}

// ---------------------------------------------------------------- the corpus

static void test_corpus_buffers(void **state) {
    (void)state;
    struct gguf_corpus c;
    assert_int_equal(gguf_corpus_build(&c), FLM_OK);
    struct flm_gguf *g = open_buf(c.base, c.base_size);  // the valid model opens
    assert_int_equal(flm_gguf_n_tensors(g), 2 + 9 * GC_N_LAYER);
    flm_gguf_close(g);
    size_t n_bad = 0;
    for (size_t i = 0; i < c.n; i++) {
        const struct gguf_corpus_case *k = &c.cases[i];
        struct flm_err err = {0};
        g = NULL;
        flm_status st = flm_gguf_open_buffer(&g, k->buf, k->size, &err);
        if (st != k->status) print_error("case %s: status %d, expected %d (%s)\n", k->name, st, k->status, err.msg);
        assert_int_equal(st, k->status);
        if (k->model_level) {
            assert_non_null(g);
            flm_gguf_close(g);
            continue;
        }
        assert_null(g);
        assert_msg(&err, k->expect, k->name);
        n_bad++;
    }
    print_message("%zu malformed cases, %zu model-level cases\n", n_bad, c.n - n_bad);
    assert_true(n_bad >= 25);
    assert_true(c.n - n_bad >= 3);
    gguf_corpus_free(&c);
}

static void test_corpus_files(void **state) {
    (void)state;
    struct gguf_corpus c;
    assert_int_equal(gguf_corpus_build(&c), FLM_OK);
    char dir[] = "/tmp/flm_gguf_corpus_XXXXXX", path[512];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(gguf_corpus_write_dir(&c, dir), 0);
    for (size_t i = 0; i <= c.n; i++) {
        const char *name = i < c.n ? c.cases[i].name : "valid";
        snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
        for (unsigned flags = 0; flags <= FLM_GGUF_OPEN_NO_MMAP; flags += FLM_GGUF_OPEN_NO_MMAP) {
            struct flm_gguf *g = NULL;
            struct flm_err err = {0};
            flm_status st = flm_gguf_open(&g, path, flags, &err);
            if (i == c.n || c.cases[i].model_level) {
                assert_int_equal(st, FLM_OK);
                flm_gguf_close(g);
                continue;
            }
            assert_int_equal(st, c.cases[i].status);
            assert_msg(&err, c.cases[i].expect, name);
            assert_non_null(strstr(err.msg, path));
        }
        remove(path);
    }
    rmdir(dir);
    gguf_corpus_free(&c);
}

// Every proper prefix of the valid model fails cleanly (its last tensor's data
// ends the file).
static void test_every_truncation(void **state) {
    (void)state;
    struct gguf_corpus c;
    assert_int_equal(gguf_corpus_build(&c), FLM_OK);
    for (size_t n = 0; n < c.base_size; n++) {
        struct flm_gguf *g = NULL;
        struct flm_err err = {0};
        uint8_t *copy = malloc(n ? n : 1);  // exactly n bytes, so ASan sees any overread
        memcpy(copy, c.base, n);
        flm_status st = flm_gguf_open_buffer(&g, copy, n, &err);
        if (st != FLM_ERR_FORMAT) print_error("prefix of %zu bytes: status %d\n", n, st);
        assert_int_equal(st, FLM_ERR_FORMAT);
        assert_null(g);
        assert_true(strlen(err.msg) > 10);
        free(copy);
    }
    gguf_corpus_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_matches_spec),
        cmocka_unit_test(test_roundtrip_v3),
        cmocka_unit_test(test_roundtrip_v2_align64),
        cmocka_unit_test(test_roundtrip_align8),
        cmocka_unit_test(test_getter_messages),
        cmocka_unit_test(test_writer_refuses),
        cmocka_unit_test(test_real_smollm),
        cmocka_unit_test(test_real_gemma),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_corpus_buffers),
        cmocka_unit_test(test_corpus_files),
        cmocka_unit_test(test_every_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
