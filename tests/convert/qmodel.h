// qmodel.h - the small deterministic llama-shaped models of
// scripts/refs/quantize_refs.py, written byte for byte as that script writes
// them (the fixtures record their SHA-256), and a reader for the fixtures of
// tests/fixtures/quantize/.
#ifndef FLM_TESTS_CONVERT_QMODEL_H
#define FLM_TESTS_CONVERT_QMODEL_H

#include "test_util.h"

#include "core/fp16.h"
#include "format/gguf.h"
#include "sha256.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define QM_VOCAB 259

struct qm_spec {
    const char *tag;  // "smol", "wide"
    int n_layer, n_embd, n_head, n_head_kv, n_ff;
    bool tied;
};

static const struct qm_spec qm_smol = {"smol", 8, 256, 4, 1, 160, true};
static const struct qm_spec qm_wide = {"wide", 4, 288, 4, 2, 256, false};

static inline uint64_t qm_fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h;
}

// rows x cols weights as the script makes them: uniform in [-1, 1) from
// xorshift64 seeded by the name, row r scaled by 2^-(3 + r % 4), rows with
// r % 37 == 11 multiplied by zero.
static inline void qm_weight(const char *name, float *x, int rows, int cols) {
    uint64_t s = qm_fnv1a(name) | 1;
    for (int r = 0; r < rows; r++) {
        const float scale = r % 37 == 11 ? 0.0f : ldexpf(1.0f, -(3 + r % 4));
        for (int c = 0; c < cols; c++) x[(size_t)r * cols + c] = flm_test_randf(&s) * scale;
    }
}

static inline void qm_norm(const char *name, float *x, int n) {
    uint64_t s = qm_fnv1a(name) | 1;
    for (int i = 0; i < n; i++) x[i] = 1.0f + flm_test_randf(&s) * 0.25f;
}

static inline void qm_put(struct flm_gguf_writer *w, const char *name, int rows, int cols, bool norm,
                          enum flm_type type) {
    float *x = malloc(sizeof(float) * (size_t)rows * cols);
    uint16_t *h = malloc(sizeof(uint16_t) * (size_t)rows * cols);
    assert_non_null(x);
    assert_non_null(h);
    const int64_t ne[2] = {cols, rows};
    const size_t n = (size_t)rows * cols;
    if (norm) {
        qm_norm(name, x, cols);
        assert_int_equal(flm_gguf_writer_tensor(w, name, FLM_TYPE_F32, 1, ne, x, 4 * n), FLM_OK);
    } else {
        qm_weight(name, x, rows, cols);
        if (type == FLM_TYPE_F32) {
            assert_int_equal(flm_gguf_writer_tensor(w, name, type, 2, ne, x, 4 * n), FLM_OK);
        } else {
            for (size_t i = 0; i < n; i++)
                h[i] = type == FLM_TYPE_F16 ? flm_f32_to_f16(x[i]) : (uint16_t)(flm_f32_to_bits(x[i]) >> 16);
            assert_int_equal(flm_gguf_writer_tensor(w, name, type, 2, ne, h, 2 * n), FLM_OK);
        }
    }
    free(h);
    free(x);
}

// Writes the model with its weights as type (F32, F16 or BF16 truncated).
static inline void qm_write(const struct qm_spec *p, enum flm_type type, const char *path) {
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 3, 0), FLM_OK);
    char name[96];
    snprintf(name, sizeof name, "flashlm quantize test %s", p->tag);
    flm_gguf_writer_kv_str(w, "general.architecture", "llama");
    flm_gguf_writer_kv_str(w, "general.name", name);
    flm_gguf_writer_kv_u32(w, "llama.block_count", (uint32_t)p->n_layer);
    flm_gguf_writer_kv_u32(w, "llama.context_length", 256);
    flm_gguf_writer_kv_u32(w, "llama.embedding_length", (uint32_t)p->n_embd);
    flm_gguf_writer_kv_u32(w, "llama.feed_forward_length", (uint32_t)p->n_ff);
    flm_gguf_writer_kv_u32(w, "llama.attention.head_count", (uint32_t)p->n_head);
    flm_gguf_writer_kv_u32(w, "llama.attention.head_count_kv", (uint32_t)p->n_head_kv);
    flm_gguf_writer_kv_f32(w, "llama.rope.freq_base", 10000.0f);
    flm_gguf_writer_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    flm_gguf_writer_kv_u32(w, "general.file_type", type == FLM_TYPE_F32 ? 0 : type == FLM_TYPE_F16 ? 1 : 32);
    static char names[QM_VOCAB][8];
    const char *toks[QM_VOCAB];
    float scores[QM_VOCAB];
    int32_t types[QM_VOCAB];
    for (int i = 0; i < QM_VOCAB; i++) {
        if (i < 3) snprintf(names[i], sizeof names[i], "%s", (const char *[]){"<unk>", "<s>", "</s>"}[i]);
        else snprintf(names[i], sizeof names[i], "<0x%02X>", i - 3);
        toks[i] = names[i];
        scores[i] = 0;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : 6;
    }
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.model", "llama");
    flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", toks, QM_VOCAB);
    flm_gguf_writer_kv_arr(w, "tokenizer.ggml.scores", FLM_GGUF_FLOAT32, scores, QM_VOCAB);
    flm_gguf_writer_kv_arr(w, "tokenizer.ggml.token_type", FLM_GGUF_INT32, types, QM_VOCAB);
    flm_gguf_writer_kv_u32(w, "tokenizer.ggml.bos_token_id", 1);
    flm_gguf_writer_kv_u32(w, "tokenizer.ggml.eos_token_id", 2);
    const int e = p->n_embd, hd = p->n_embd / p->n_head;
    qm_put(w, "token_embd.weight", QM_VOCAB, e, false, type);
    for (int l = 0; l < p->n_layer; l++) {
        char t[64];
#define QM_T(s, rows, cols, nrm) (snprintf(t, sizeof t, "blk.%d.%s", l, s), qm_put(w, t, rows, cols, nrm, type))
        QM_T("attn_norm.weight", 1, e, true);
        QM_T("attn_q.weight", p->n_head * hd, e, false);
        QM_T("attn_k.weight", p->n_head_kv * hd, e, false);
        QM_T("attn_v.weight", p->n_head_kv * hd, e, false);
        QM_T("attn_output.weight", e, p->n_head * hd, false);
        QM_T("ffn_norm.weight", 1, e, true);
        QM_T("ffn_gate.weight", p->n_ff, e, false);
        QM_T("ffn_up.weight", p->n_ff, e, false);
        QM_T("ffn_down.weight", e, p->n_ff, false);
#undef QM_T
    }
    qm_put(w, "output_norm.weight", 1, e, true, type);
    if (!p->tied) qm_put(w, "output.weight", QM_VOCAB, e, false, type);
    struct flm_err err;
    assert_int_equal(flm_gguf_writer_to_file(w, path, &err), FLM_OK);
    flm_gguf_writer_free(w);
}

// ---------------------------------------------------------------- fixtures

#define QM_MAX_TENSORS 128

struct qm_tensor_ref {
    char name[64], type[16], sha[65];
};

struct qm_case {
    char type[16];
    int  ftype;
    char file_sha[65];
    int  n_tensors;
    struct qm_tensor_ref t[QM_MAX_TENSORS];
};

struct qm_fixture {
    char            input[32];
    char            input_sha[65];
    int             n_cases;
    struct qm_case *cases;
};

// Reads tests/fixtures/quantize/<tag>.txt (fails the test when missing).
static inline void qm_fixture_read(const char *tag, struct qm_fixture *fx) {
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/quantize/%s.txt", FLM_SOURCE_DIR, tag);
    FILE *f = fopen(path, "r");
    if (!f) fail_msg("cannot open fixture %s", path);
    memset(fx, 0, sizeof *fx);
    struct qm_case *c = NULL;
    while (fgets(line, sizeof line, f)) {
        char a[64], b[65], d[65];
        int x, y;
        if (sscanf(line, "input_sha256 %64s", fx->input_sha) == 1) continue;
        if (!strncmp(line, "input ", 6) && sscanf(line + 6, "%31s", fx->input) == 1) continue;
        if (sscanf(line, "n_cases %d", &x) == 1) {
            assert_true(x > 0 && x < 100);
            fx->cases = calloc((size_t)x, sizeof *fx->cases);
            assert_non_null(fx->cases);
        } else if (sscanf(line, "case %15s %d %64s %d", a, &x, b, &y) == 4) {
            assert_non_null(fx->cases);
            c = &fx->cases[fx->n_cases++];
            snprintf(c->type, sizeof c->type, "%.15s", a);
            c->ftype = x;
            memcpy(c->file_sha, b, sizeof c->file_sha);
        } else if (sscanf(line, "t %63s %15s %64s", a, b, d) == 3) {
            assert_non_null(c);
            assert_true(c->n_tensors < QM_MAX_TENSORS);
            struct qm_tensor_ref *t = &c->t[c->n_tensors++];
            memcpy(t->name, a, sizeof t->name);
            snprintf(t->type, sizeof t->type, "%.15s", b);
            memcpy(t->sha, d, sizeof t->sha);
        }
    }
    fclose(f);
    assert_true(fx->n_cases > 0);
}

static inline void qm_fixture_free(struct qm_fixture *fx) {
    free(fx->cases);
    memset(fx, 0, sizeof *fx);
}

#endif
