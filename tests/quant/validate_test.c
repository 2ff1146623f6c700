// validate_test.c - flm_quant_find_nonfinite: finds a NaN or infinity in
// F32/F16/BF16 rows and in the f16 scales and minimums of every block
// format (where ggml_validate_row_data looks), and nothing in finite data.
#include "test_util.h"

#include "core/fp16.h"
#include "quant/blocks.h"
#include "quant/quant.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

static void test_floats(void **state) {
    float f[64];
    uint16_t h[64], b[64];
    for (int i = 0; i < 64; i++) f[i] = (float)i - 30.5f;
    for (int i = 0; i < 64; i++) h[i] = flm_f32_to_f16(f[i]), b[i] = flm_f32_to_bf16(f[i]);
    assert_int_equal(flm_quant_find_nonfinite(FLM_TYPE_F32, f, 64), -1);
    assert_int_equal(flm_quant_find_nonfinite(FLM_TYPE_F16, h, 64), -1);
    assert_int_equal(flm_quant_find_nonfinite(FLM_TYPE_BF16, b, 64), -1);
    f[40] = NAN, h[41] = 0x7C00, b[42] = 0xFF80;
    assert_int_equal(flm_quant_find_nonfinite(FLM_TYPE_F32, f, 64), 40);
    assert_int_equal(flm_quant_find_nonfinite(FLM_TYPE_F16, h, 64), 41);
    assert_int_equal(flm_quant_find_nonfinite(FLM_TYPE_BF16, b, 64), 42);
    h[41] = 0x7BFF;  // the largest finite half
    assert_int_equal(flm_quant_find_nonfinite(FLM_TYPE_F16, h, 64), -1);
}

// Quantizes finite data, then breaks one f16 field of block 2.
static void check_blocks(enum flm_type t, size_t field) {
    const struct flm_type_traits *tr = flm_quant_traits(t);
    const struct flm_type_layout *l = flm_type_layout(t);
    const int64_t n = 4 * l->blck_size;
    float x[4 * 256];
    uint8_t q[4 * 300];
    for (int64_t i = 0; i < n; i++) x[i] = sinf((float)i);
    tr->from_float(x, q, n);
    assert_int_equal(flm_quant_find_nonfinite(t, q, n), -1);
    const uint16_t nan = 0x7E00;
    memcpy(q + 2 * l->type_size + field, &nan, 2);
    assert_int_equal(flm_quant_find_nonfinite(t, q, n), 2 * l->blck_size);
}

static void test_blocks(void **state) {
    check_blocks(FLM_TYPE_Q4_0, offsetof(struct flm_block_q4_0, d));
    check_blocks(FLM_TYPE_Q4_1, offsetof(struct flm_block_q4_1, m));
    check_blocks(FLM_TYPE_Q5_0, offsetof(struct flm_block_q5_0, d));
    check_blocks(FLM_TYPE_Q5_1, offsetof(struct flm_block_q5_1, m));
    check_blocks(FLM_TYPE_Q8_0, offsetof(struct flm_block_q8_0, d));
    check_blocks(FLM_TYPE_Q2_K, offsetof(struct flm_block_q2_K, dmin));
    check_blocks(FLM_TYPE_Q3_K, offsetof(struct flm_block_q3_K, d));
    check_blocks(FLM_TYPE_Q4_K, offsetof(struct flm_block_q4_K, dmin));
    check_blocks(FLM_TYPE_Q5_K, offsetof(struct flm_block_q5_K, d));
    check_blocks(FLM_TYPE_Q6_K, offsetof(struct flm_block_q6_K, d));
}

static void test_integers(void **state) {
    const int32_t v[4] = {-1, 0x7F800000, 0x7FC00000, 3};  // float NaN bit patterns are just integers here
    assert_int_equal(flm_quant_find_nonfinite(FLM_TYPE_I32, v, 4), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_blocks),
        cmocka_unit_test(test_integers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
