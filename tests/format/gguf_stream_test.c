// gguf_stream_test.c - the writer's copying and streaming calls
// (flm_gguf_writer_kv_copy, flm_gguf_writer_tensor_info,
// flm_gguf_writer_meta_to_buffer): a file rebuilt from another by copying
// every key and streaming its tensors after the metadata is the same bytes
// as the original, for every value type, with and without general.alignment.
#include "test_util.h"

#include "format/gguf.h"

#include <string.h>

// A file with one key of every kind and two tensors.
static void *make_file(uint32_t alignment, size_t *size) {
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 3, alignment), FLM_OK);
    const uint8_t u8 = 7;
    const int16_t i16 = -3;
    const uint64_t u64 = 1ull << 40;
    const double f64 = 0.125;
    const int32_t arr[5] = {1, -2, 3, -4, 5};
    const uint8_t bools[3] = {1, 0, 1};
    const char *strs[3] = {"a", "", "three"};
    flm_gguf_writer_kv_str(w, "general.architecture", "llama");
    flm_gguf_writer_kv_scalar(w, "k.u8", FLM_GGUF_UINT8, &u8);
    flm_gguf_writer_kv_scalar(w, "k.i16", FLM_GGUF_INT16, &i16);
    flm_gguf_writer_kv_scalar(w, "k.u64", FLM_GGUF_UINT64, &u64);
    flm_gguf_writer_kv_scalar(w, "k.f64", FLM_GGUF_FLOAT64, &f64);
    flm_gguf_writer_kv_bool(w, "k.bool", true);
    flm_gguf_writer_kv_f32(w, "k.f32", 1.5f);
    flm_gguf_writer_kv_str(w, "k.str", "hello");
    flm_gguf_writer_kv_arr(w, "k.arr", FLM_GGUF_INT32, arr, 5);
    flm_gguf_writer_kv_arr(w, "k.bools", FLM_GGUF_BOOL, bools, 3);
    flm_gguf_writer_kv_arr(w, "k.empty", FLM_GGUF_FLOAT32, NULL, 0);
    flm_gguf_writer_kv_arr_str(w, "k.strs", strs, 3);
    flm_gguf_writer_kv_arr_str(w, "k.nostrs", NULL, 0);
    float a[3 * 32], b[7];
    for (int i = 0; i < 3 * 32; i++) a[i] = (float)i;
    for (int i = 0; i < 7; i++) b[i] = -(float)i;
    const int64_t ne_a[2] = {32, 3}, ne_b[1] = {7};
    assert_int_equal(flm_gguf_writer_tensor(w, "a.weight", FLM_TYPE_F32, 2, ne_a, a, sizeof a), FLM_OK);
    assert_int_equal(flm_gguf_writer_tensor(w, "b.weight", FLM_TYPE_F32, 1, ne_b, b, sizeof b), FLM_OK);
    void *buf;
    assert_int_equal(flm_gguf_writer_to_buffer(w, &buf, size), FLM_OK);
    flm_gguf_writer_free(w);
    return buf;
}

// Rebuilds the file from g: keys copied, tensors declared and streamed.
static void *rebuild(const struct flm_gguf *g, size_t *size) {
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 3, 0), FLM_OK);
    for (int64_t i = 0; i < flm_gguf_n_kv(g); i++) assert_int_equal(flm_gguf_writer_kv_copy(w, g, i), FLM_OK);
    assert_int_equal(flm_gguf_writer_alignment(w), flm_gguf_alignment(g));
    for (int64_t i = 0; i < flm_gguf_n_tensors(g); i++) {
        const struct flm_gguf_tensor *t = flm_gguf_tensor(g, i);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        assert_int_equal(flm_gguf_writer_tensor_info(w, name, t->type, t->n_dims, t->ne), FLM_OK);
    }
    void *meta;
    size_t meta_size;
    assert_int_equal(flm_gguf_writer_meta_to_buffer(w, &meta, &meta_size), FLM_OK);
    assert_int_equal(meta_size % flm_gguf_writer_alignment(w), 0);
    size_t total = meta_size, a = flm_gguf_writer_alignment(w);
    for (int64_t i = 0; i < flm_gguf_n_tensors(g); i++) total += (flm_gguf_tensor(g, i)->nbytes + a - 1) / a * a;
    uint8_t *out = calloc(1, total);
    assert_non_null(out);
    memcpy(out, meta, meta_size);
    size_t off = meta_size;
    for (int64_t i = 0; i < flm_gguf_n_tensors(g); i++) {
        const struct flm_gguf_tensor *t = flm_gguf_tensor(g, i);
        memcpy(out + off, t->data, t->nbytes);
        off += (t->nbytes + a - 1) / a * a;
    }
    free(meta);
    flm_gguf_writer_free(w);
    *size = total;
    return out;
}

static void round_trip(uint32_t alignment) {
    size_t n0, n1;
    void *orig = make_file(alignment, &n0);
    struct flm_gguf *g;
    struct flm_err err;
    assert_int_equal(flm_gguf_open_buffer(&g, orig, n0, &err), FLM_OK);
    void *copy = rebuild(g, &n1);
    assert_int_equal(n1, n0);
    assert_memory_equal(copy, orig, n0);
    flm_gguf_close(g);
    free(copy);
    free(orig);
}

static void test_copy_default_alignment(void **state) { round_trip(0); }
static void test_copy_alignment_64(void **state) { round_trip(64); }

static void test_refusals(void **state) {
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 3, 0), FLM_OK);
    const int64_t odd[2] = {33, 2}, ok[2] = {32, 2};
    assert_int_equal(flm_gguf_writer_tensor_info(w, "x", FLM_TYPE_Q4_0, 2, odd), FLM_ERR_INVALID);
    assert_int_equal(flm_gguf_writer_tensor_info(w, "x", FLM_TYPE_Q4_0, 2, ok), FLM_OK);
    assert_int_equal(flm_gguf_writer_tensor_info(w, "x", FLM_TYPE_Q4_0, 2, ok), FLM_ERR_INVALID);  // duplicate
    assert_int_equal(flm_gguf_writer_kv_copy(w, NULL, 0), FLM_ERR_INVALID);
    size_t n;
    void *orig = make_file(0, &n);
    struct flm_gguf *g;
    struct flm_err err;
    assert_int_equal(flm_gguf_open_buffer(&g, orig, n, &err), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_copy(w, g, flm_gguf_n_kv(g)), FLM_ERR_INVALID);
    assert_int_equal(flm_gguf_writer_kv_copy(w, g, 0), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_copy(w, g, 0), FLM_ERR_INVALID);  // duplicate key
    flm_gguf_close(g);
    free(orig);
    flm_gguf_writer_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_default_alignment),
        cmocka_unit_test(test_copy_alignment_64),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
