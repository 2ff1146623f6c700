// quant_mix_test.c - llama.cpp's per-tensor type rules (convert/quant_mix.c):
// the mixes of the two real models (their files were written by llama.cpp's
// quantize tool, so planning their tensor lists must give their types), the
// per-layer pattern of the K-quant mixes on 32 layers, the row-length
// fallbacks, tensors that are never quantized, expert and 70B rules, the
// tensor order and the file type names.
#include "test_util.h"

#include "convert/quant_mix.h"
#include "format/gguf.h"

#include <stdlib.h>
#include <string.h>

static enum flm_type plan_one(const struct flm_mix_model *m, enum flm_ftype f, const char *name, int64_t ne0,
                              int64_t ne1) {
    struct flm_mix_tensor t = {.name = name, .n_dims = ne1 > 1 ? 2 : 1, .ne = {ne0, ne1, 1, 1},
                               .type = FLM_TYPE_F16};
    enum flm_type out;
    struct flm_err err;
    assert_int_equal(flm_mix_plan(m, f, &t, 1, &out, &err), FLM_OK);
    return out;
}

// Plans a real model's tensor list with its own file type: llama.cpp's
// quantize tool wrote it, so every type must come out as in the file.
static void check_real(const char *file, enum flm_ftype f, int32_t n_head, int32_t n_head_kv, const char *arch) {
    const char *path = flm_test_model(file);
    if (!path) skip();
    struct flm_gguf *g;
    struct flm_err err;
    assert_int_equal(flm_gguf_open(&g, path, 0, &err), FLM_OK);
    const int64_t n = flm_gguf_n_tensors(g);
    struct flm_mix_tensor *t = calloc((size_t)n, sizeof *t);
    char (*names)[64] = calloc((size_t)n, 64);
    enum flm_type *out = calloc((size_t)n, sizeof *out);
    assert_non_null(t);
    assert_non_null(names);
    assert_non_null(out);
    uint32_t n_layer;
    char key[64];
    snprintf(key, sizeof key, "%s.block_count", arch);
    assert_int_equal(flm_gguf_get_u32(g, key, &n_layer, &err), FLM_OK);
    for (int64_t i = 0; i < n; i++) {
        const struct flm_gguf_tensor *x = flm_gguf_tensor(g, i);
        memcpy(names[i], x->name.ptr, x->name.len);
        t[i] = (struct flm_mix_tensor){.name = names[i], .n_dims = x->n_dims, .type = x->type};
        memcpy(t[i].ne, x->ne, sizeof t[i].ne);
    }
    // llama.cpp visits them in its order; sort a copy of the indices
    for (int64_t i = 1; i < n; i++)
        for (int64_t j = i; j > 0 && flm_mix_name_cmp(t[j - 1].name, t[j].name) > 0; j--) {
            struct flm_mix_tensor tmp = t[j];
            t[j] = t[j - 1];
            t[j - 1] = tmp;
        }
    struct flm_mix_model m = {arch, (int32_t)n_layer, n_head, n_head_kv, 0};
    assert_int_equal(flm_mix_plan(&m, f, t, n, out, &err), FLM_OK);
    for (int64_t i = 0; i < n; i++)
        if (out[i] != t[i].type)
            fail_msg("%s: %s planned %s, the file has %s", file, t[i].name, flm_type_layout(out[i])->name,
                     flm_type_layout(t[i].type)->name);
    free(out);
    free(names);
    free(t);
    flm_gguf_close(g);
}

static void test_gemma3_q4_k_m(void **state) { check_real("gemma-3-270m-q4_k_m.gguf", FLM_FTYPE_Q4_K_M, 4, 1, "gemma3"); }

static void test_smollm2_q4_1(void **state) { check_real("SmolLM2-135M-Instruct.Q4_1.gguf", FLM_FTYPE_Q4_1, 9, 3, "llama"); }

// use_more_bits on 32 layers: the first and last 4, and 6, 9, ..., 27.
static void test_layer_pattern(void **state) {
    struct flm_mix_tensor t[64];
    char names[64][32];
    for (int l = 0; l < 32; l++) {
        snprintf(names[2 * l], 32, "blk.%d.attn_v.weight", l);
        snprintf(names[2 * l + 1], 32, "blk.%d.ffn_down.weight", l);
        t[2 * l] = (struct flm_mix_tensor){names[2 * l], 2, {4096, 1024, 1, 1}, FLM_TYPE_F16};
        t[2 * l + 1] = (struct flm_mix_tensor){names[2 * l + 1], 2, {14336, 4096, 1, 1}, FLM_TYPE_F16};
    }
    struct flm_mix_model m = {"llama", 32, 32, 8, 0};
    enum flm_type out[64];
    struct flm_err err;
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_Q4_K_M, t, 64, out, &err), FLM_OK);
    for (int l = 0; l < 32; l++) {
        const bool more = l < 4 || l >= 28 || (l - 4) % 3 == 2;
        assert_int_equal(out[2 * l], more ? FLM_TYPE_Q6_K : FLM_TYPE_Q4_K);
        assert_int_equal(out[2 * l + 1], more ? FLM_TYPE_Q6_K : FLM_TYPE_Q4_K);
    }
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_Q4_K_S, t, 64, out, &err), FLM_OK);
    for (int l = 0; l < 32; l++) {
        assert_int_equal(out[2 * l], l < 4 ? FLM_TYPE_Q5_K : FLM_TYPE_Q4_K);
        assert_int_equal(out[2 * l + 1], l < 4 ? FLM_TYPE_Q5_K : FLM_TYPE_Q4_K);
    }
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_Q3_K_M, t, 64, out, &err), FLM_OK);
    for (int l = 0; l < 32; l++) {
        assert_int_equal(out[2 * l], l < 2 ? FLM_TYPE_Q5_K : FLM_TYPE_Q4_K);
        assert_int_equal(out[2 * l + 1], l < 2 ? FLM_TYPE_Q5_K : FLM_TYPE_Q4_K);
    }
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_Q2_K, t, 64, out, &err), FLM_OK);
    assert_int_equal(out[0], FLM_TYPE_Q4_K);  // GQA 4
    assert_int_equal(out[1], FLM_TYPE_Q3_K);
}

static void test_fallbacks(void **state) {
    struct flm_mix_model m = {"llama", 1, 4, 4, 0};
    const struct {
        enum flm_ftype f;
        int64_t ne0;
        enum flm_type want;
    } cases[] = {
        {FLM_FTYPE_Q4_K_S, 96, FLM_TYPE_Q5_0}, {FLM_FTYPE_Q5_K_S, 96, FLM_TYPE_Q5_1},
        {FLM_FTYPE_Q3_K_S, 96, FLM_TYPE_Q4_0}, {FLM_FTYPE_Q2_K, 96, FLM_TYPE_Q4_0},
        {FLM_FTYPE_Q6_K, 96, FLM_TYPE_Q8_0},   {FLM_FTYPE_Q4_K_M, 48, FLM_TYPE_F16},
        {FLM_FTYPE_Q4_K_M, 512, FLM_TYPE_Q4_K}, {FLM_FTYPE_Q4_0, 96, FLM_TYPE_Q4_0},
        {FLM_FTYPE_F16, 48, FLM_TYPE_F16},     {FLM_FTYPE_BF16, 7, FLM_TYPE_BF16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(plan_one(&m, cases[i].f, "blk.0.attn_q.weight", cases[i].ne0, 8), cases[i].want);
    struct flm_mix_tensor t = {"blk.0.attn_q.weight", 2, {48, 8, 1, 1}, FLM_TYPE_F32};
    enum flm_type out;
    struct flm_err err;
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_Q5_1, &t, 1, &out, &err), FLM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "blk.0.attn_q.weight"));
}

static void test_output_and_embeddings(void **state) {
    struct flm_mix_model m = {"llama", 1, 4, 4, 0};
    struct flm_mix_tensor t[2] = {{"output.weight", 2, {512, 100, 1, 1}, FLM_TYPE_F16},
                                  {"token_embd.weight", 2, {512, 100, 1, 1}, FLM_TYPE_F16}};
    enum flm_type out[2];
    struct flm_err err;
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_Q4_0, t, 2, out, &err), FLM_OK);
    assert_int_equal(out[0], FLM_TYPE_Q6_K);  // output: Q6_K even for Q4_0
    assert_int_equal(out[1], FLM_TYPE_Q4_0);  // separate embeddings: the base type
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_Q4_0, &t[1], 1, out, &err), FLM_OK);
    assert_int_equal(out[0], FLM_TYPE_Q6_K);  // tied: treated as the output
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_Q8_0, t, 1, out, &err), FLM_OK);
    assert_int_equal(out[0], FLM_TYPE_Q8_0);
    t[0].ne[0] = 576;  // 576 % 256: Q6_K falls back to Q8_0
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_Q4_K_M, t, 1, out, &err), FLM_OK);
    assert_int_equal(out[0], FLM_TYPE_Q8_0);
    t[0].ne[0] = 48;  // not even a multiple of 32: Q8_0, which has no fallback (llama.cpp fails too)
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_Q4_K_M, t, 1, out, &err), FLM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "output.weight"));
}

static void test_kept_tensors(void **state) {
    struct flm_mix_model m = {"llama", 1, 4, 4, 0};
    struct flm_mix_tensor t[] = {
        {"blk.0.attn_norm.weight", 1, {512, 1, 1, 1}, FLM_TYPE_F32},
        {"blk.0.attn_q.weight", 1, {512, 1, 1, 1}, FLM_TYPE_F16},  // 1-D: kept
        {"blk.0.ffn_gate_inp.weight", 2, {512, 8, 1, 1}, FLM_TYPE_F32},
        {"blk.0.attn_q.bias", 2, {512, 8, 1, 1}, FLM_TYPE_F32},  // not a weight
        {"blk.0.attn_q_norm.weight", 2, {512, 8, 1, 1}, FLM_TYPE_F32},
        {"position_embd.weight", 2, {512, 8, 1, 1}, FLM_TYPE_F32},
        {"blk.0.ssm_conv1d.weight", 2, {512, 8, 1, 1}, FLM_TYPE_F32},
        {"blk.0.attn_k.weight", 2, {512, 8, 1, 1}, FLM_TYPE_BF16},  // converted
    };
    const int n = (int)(sizeof t / sizeof t[0]);
    enum flm_type out[8];
    struct flm_err err;
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_Q4_K_M, t, n, out, &err), FLM_OK);
    for (int i = 0; i < n - 1; i++) assert_int_equal(out[i], t[i].type);
    assert_int_equal(out[n - 1], FLM_TYPE_Q4_K);
    assert_int_equal(flm_mix_plan(&m, FLM_FTYPE_F16, t, n, out, &err), FLM_OK);
    assert_int_equal(out[n - 1], FLM_TYPE_F16);
    assert_int_equal(out[0], FLM_TYPE_F32);
}

static void test_experts_and_70b(void **state) {
    struct flm_mix_model moe = {"llama", 2, 32, 8, 8};
    assert_int_equal(plan_one(&moe, FLM_FTYPE_Q4_K_M, "blk.1.attn_v.weight", 4096, 1024), FLM_TYPE_Q8_0);
    assert_int_equal(plan_one(&moe, FLM_FTYPE_Q4_K_M, "blk.1.attn_k.weight", 4096, 1024), FLM_TYPE_Q8_0);
    assert_int_equal(plan_one(&moe, FLM_FTYPE_Q4_K_M, "blk.1.attn_output.weight", 4096, 4096), FLM_TYPE_Q5_K);
    // with experts the layer comes from the name: blk.1 of 2 is the last eighth
    assert_int_equal(plan_one(&moe, FLM_FTYPE_Q4_K_M, "blk.1.ffn_down_exps.weight", 14336, 4096), FLM_TYPE_Q6_K);
    struct flm_mix_tensor t = {"ffn_down.weight", 2, {512, 8, 1, 1}, FLM_TYPE_F16};
    enum flm_type out;
    struct flm_err err;
    assert_int_equal(flm_mix_plan(&moe, FLM_FTYPE_Q4_K_M, &t, 1, &out, &err), FLM_ERR_FORMAT);
    t.name = "blk.7.ffn_down.weight";
    assert_int_equal(flm_mix_plan(&moe, FLM_FTYPE_Q4_K_M, &t, 1, &out, &err), FLM_ERR_FORMAT);
    struct flm_mix_model l70 = {"llama", 80, 64, 8, 0};
    assert_int_equal(plan_one(&l70, FLM_FTYPE_Q3_K_S, "blk.0.attn_v.weight", 8192, 1024), FLM_TYPE_Q5_K);
    assert_int_equal(plan_one(&l70, FLM_FTYPE_Q3_K_S, "blk.0.attn_q.weight", 8192, 8192), FLM_TYPE_Q3_K);
}

static void test_order(void **state) {
    assert_true(flm_mix_name_cmp("output.weight", "blk.0.attn_q.weight") < 0);
    assert_true(flm_mix_name_cmp("blk.9.ffn_up.weight", "blk.10.attn_k.weight") < 0);
    assert_true(flm_mix_name_cmp("blk.2.attn_k.weight", "blk.2.attn_norm.weight") < 0);
    assert_true(flm_mix_name_cmp("output_norm.weight", "token_embd.weight") < 0);
    assert_int_equal(flm_mix_name_cmp("blk.3.x", "blk.3.x"), 0);
}

static void test_names(void **state) {
    assert_int_equal(flm_ftype_find("q4_k_m")->ftype, FLM_FTYPE_Q4_K_M);
    assert_int_equal(flm_ftype_find("Q4_K")->ftype, FLM_FTYPE_Q4_K_M);
    assert_int_equal(flm_ftype_find("bf16")->base, FLM_TYPE_BF16);
    assert_null(flm_ftype_find("Q4_2"));
    assert_null(flm_ftype_find(NULL));
    int n = 0;
    while (flm_ftype_at(n)) n++;
    assert_int_equal(n, 17);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemma3_q4_k_m),  cmocka_unit_test(test_smollm2_q4_1),
        cmocka_unit_test(test_layer_pattern),  cmocka_unit_test(test_fallbacks),
        cmocka_unit_test(test_output_and_embeddings), cmocka_unit_test(test_kept_tensors),
        cmocka_unit_test(test_experts_and_70b), cmocka_unit_test(test_order),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
