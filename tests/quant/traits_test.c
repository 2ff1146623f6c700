// traits_test.c - the type traits table: every implemented type has its
// functions and the vec_dot_type llama.cpp pairs it with; block structs
// agree with core/types.c; unknown ids give NULL.
#include "quant_test_util.h"

static void test_table(void **state) {
    (void)state;
    const struct {
        enum flm_type t, vdt;
        bool has_dot;
        size_t block_bytes;
    } want[] = {
        {FLM_TYPE_F32, FLM_TYPE_F32, true, 4},
        {FLM_TYPE_F16, FLM_TYPE_F16, true, 2},
        {FLM_TYPE_BF16, FLM_TYPE_BF16, true, 2},
        {FLM_TYPE_Q4_0, FLM_TYPE_Q8_0, true, sizeof(struct flm_block_q4_0)},
        {FLM_TYPE_Q4_1, FLM_TYPE_Q8_1, true, sizeof(struct flm_block_q4_1)},
        {FLM_TYPE_Q5_0, FLM_TYPE_Q8_0, true, sizeof(struct flm_block_q5_0)},
        {FLM_TYPE_Q5_1, FLM_TYPE_Q8_1, true, sizeof(struct flm_block_q5_1)},
        {FLM_TYPE_Q8_0, FLM_TYPE_Q8_0, true, sizeof(struct flm_block_q8_0)},
        {FLM_TYPE_Q8_1, FLM_TYPE_Q8_1, false, sizeof(struct flm_block_q8_1)},
        {FLM_TYPE_Q2_K, FLM_TYPE_Q8_K, true, sizeof(struct flm_block_q2_K)},
        {FLM_TYPE_Q3_K, FLM_TYPE_Q8_K, true, sizeof(struct flm_block_q3_K)},
        {FLM_TYPE_Q4_K, FLM_TYPE_Q8_K, true, sizeof(struct flm_block_q4_K)},
        {FLM_TYPE_Q5_K, FLM_TYPE_Q8_K, true, sizeof(struct flm_block_q5_K)},
        {FLM_TYPE_Q6_K, FLM_TYPE_Q8_K, true, sizeof(struct flm_block_q6_K)},
        {FLM_TYPE_Q8_K, FLM_TYPE_Q8_K, false, sizeof(struct flm_block_q8_K)},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; ++i) {
        const struct flm_type_traits *tr = flm_quant_traits(want[i].t);
        assert_non_null(tr);
        assert_int_equal(tr->type, want[i].t);
        assert_int_equal(tr->vec_dot_type, want[i].vdt);
        assert_non_null(tr->to_float);
        assert_non_null(tr->from_float);
        assert_int_equal(tr->vec_dot != NULL, want[i].has_dot);
        assert_int_equal(flm_type_layout(want[i].t)->type_size, want[i].block_bytes);
        // the activation type is itself implemented
        assert_non_null(flm_quant_traits(tr->vec_dot_type));
    }
}

static void test_unknown_types(void **state) {
    (void)state;
    static const int ids[] = {4, 5, 16, 23, FLM_TYPE_I8, FLM_TYPE_I32, FLM_TYPE_F64, 39, FLM_TYPE_COUNT, 1000, -1};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; ++i) assert_null(flm_quant_traits((enum flm_type)ids[i]));
}

static void test_activation_quantizers(void **state) {
    (void)state;
#if defined(__x86_64__)
    assert_ptr_equal(flm_quant_act_from_float(FLM_TYPE_Q8_0), flm_q8_0_quantize_x86_ref);
    assert_ptr_equal(flm_quant_act_from_float(FLM_TYPE_Q8_1), flm_q8_1_quantize_x86_ref);
#elif defined(__aarch64__)
    assert_ptr_equal(flm_quant_act_from_float(FLM_TYPE_Q8_0), flm_q8_0_quantize_arm_ref);
    assert_ptr_equal(flm_quant_act_from_float(FLM_TYPE_Q8_1), flm_q8_1_quantize_arm_ref);
#else
    assert_ptr_equal(flm_quant_act_from_float(FLM_TYPE_Q8_0), flm_q8_0_quantize_ref);
#endif
    assert_ptr_equal(flm_quant_act_from_float(FLM_TYPE_Q8_K), flm_q8_K_quantize_ref);
    assert_ptr_equal(flm_quant_act_from_float(FLM_TYPE_F16), flm_f16_quantize_ref);
    assert_null(flm_quant_act_from_float(FLM_TYPE_I8));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_unknown_types),
        cmocka_unit_test(test_activation_quantizers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
