// arch_test.c - every architecture on the shared decoder block against a
// plain reference forward pass written here from the models' definitions:
// tiny random F32 models (llama, qwen2 with q/k/v biases, qwen3 with q/k
// norms, gemma3 with post norms, GELU, embedding scale and a sliding window
// short enough to matter) are written with the GGUF writer, run through the
// engine, and their logits compared at every position.
#include "test_util.h"

#include "core/fp16.h"
#include "flashlm.h"
#include "format/gguf.h"

#include <math.h>
#include <string.h>

enum { E = 32, H = 4, HKV = 2, HD = 8, FF = 48, L = 2, V = 259, T = 7, SWA = 3 };

struct tiny {
    const char *arch;
    bool        bias, qk_norm, gemma;
    // weights, row-major [out][in]
    float emb[V][E], attn_norm[L][E], wq[L][H * HD][E], wk[L][HKV * HD][E], wv[L][HKV * HD][E];
    float wo[L][E][H * HD], bq[L][H * HD], bk[L][HKV * HD], bv[L][HKV * HD], qn[L][HD], kn[L][HD];
    float post_attn[L][E], ffn_norm[L][E], wg[L][FF][E], wu[L][FF][E], wd[L][E][FF], post_ffn[L][E];
    float out_norm[E];
};

static void fill(float *p, size_t n, uint64_t *s, float scale, float offset) {
    for (size_t i = 0; i < n; i++) p[i] = offset + scale * flm_test_randf(s);
}

#define FILL(x, sc, off) fill((float *)(x), sizeof(x) / sizeof(float), &seed, sc, off)

static void make(struct tiny *m, uint64_t seed) {
    FILL(m->emb, 1.0f, 0);
    FILL(m->attn_norm, 0.2f, 1);
    FILL(m->wq, 0.4f, 0);
    FILL(m->wk, 0.4f, 0);
    FILL(m->wv, 0.4f, 0);
    FILL(m->wo, 0.3f, 0);
    FILL(m->bq, 0.3f, 0);
    FILL(m->bk, 0.3f, 0);
    FILL(m->bv, 0.3f, 0);
    FILL(m->qn, 0.2f, 1);
    FILL(m->kn, 0.2f, 1);
    FILL(m->post_attn, 0.2f, 1);
    FILL(m->ffn_norm, 0.2f, 1);
    FILL(m->wg, 0.3f, 0);
    FILL(m->wu, 0.3f, 0);
    FILL(m->wd, 0.3f, 0);
    FILL(m->post_ffn, 0.2f, 1);
    FILL(m->out_norm, 0.2f, 1);
}

// ---------------------------------------------------------------- GGUF

static void put(struct flm_gguf_writer *w, const char *name, const float *data, int64_t ne0, int64_t ne1) {
    int64_t ne[2] = {ne0, ne1};
    assert_int_equal(flm_gguf_writer_tensor(w, name, FLM_TYPE_F32, ne1 > 1 ? 2 : 1, ne, data,
                                            sizeof(float) * (size_t)(ne0 * ne1)), FLM_OK);
}

static void write_model(const struct tiny *m, const char *path) {
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 3, 32), FLM_OK);
    char k[96];
#define KEY(s) (snprintf(k, sizeof k, "%s.%s", m->arch, s), k)
    flm_gguf_writer_kv_str(w, "general.architecture", m->arch);
    flm_gguf_writer_kv_u32(w, KEY("block_count"), L);
    flm_gguf_writer_kv_u32(w, KEY("embedding_length"), E);
    flm_gguf_writer_kv_u32(w, KEY("feed_forward_length"), FF);
    flm_gguf_writer_kv_u32(w, KEY("attention.head_count"), H);
    flm_gguf_writer_kv_u32(w, KEY("attention.head_count_kv"), HKV);
    flm_gguf_writer_kv_u32(w, KEY("attention.key_length"), HD);
    flm_gguf_writer_kv_u32(w, KEY("attention.value_length"), HD);
    flm_gguf_writer_kv_u32(w, KEY("context_length"), 64);
    flm_gguf_writer_kv_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    flm_gguf_writer_kv_f32(w, KEY("rope.freq_base"), 10000.0f);
    if (m->gemma) flm_gguf_writer_kv_u32(w, KEY("attention.sliding_window"), SWA);
#undef KEY
    // SentencePiece vocabulary: <unk> <s> </s> and the 256 byte tokens
    static char names[V][8];
    const char *toks[V];
    float scores[V];
    int32_t types[V];
    for (int i = 0; i < V; i++) {
        if (i < 3) snprintf(names[i], sizeof names[i], "%s", (const char *[]){"<unk>", "<s>", "</s>"}[i]);
        else snprintf(names[i], sizeof names[i], "<0x%02X>", i - 3);
        toks[i] = names[i];
        scores[i] = 0;
        types[i] = i == 0 ? 2 : i < 3 ? 3 : 6;
    }
    flm_gguf_writer_kv_str(w, "tokenizer.ggml.model", "llama");
    flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", toks, V);
    flm_gguf_writer_kv_arr(w, "tokenizer.ggml.scores", FLM_GGUF_FLOAT32, scores, V);
    flm_gguf_writer_kv_arr(w, "tokenizer.ggml.token_type", FLM_GGUF_INT32, types, V);
    put(w, "token_embd.weight", &m->emb[0][0], E, V);
    put(w, "output_norm.weight", m->out_norm, E, 1);
    for (int l = 0; l < L; l++) {
        char nm[64];
#define T_(s, p, a, b) (snprintf(nm, sizeof nm, "blk.%d.%s", l, s), put(w, nm, p, a, b))
        T_("attn_norm.weight", m->attn_norm[l], E, 1);
        T_("attn_q.weight", &m->wq[l][0][0], E, H * HD);
        T_("attn_k.weight", &m->wk[l][0][0], E, HKV * HD);
        T_("attn_v.weight", &m->wv[l][0][0], E, HKV * HD);
        T_("attn_output.weight", &m->wo[l][0][0], H * HD, E);
        T_("ffn_norm.weight", m->ffn_norm[l], E, 1);
        T_("ffn_gate.weight", &m->wg[l][0][0], E, FF);
        T_("ffn_up.weight", &m->wu[l][0][0], E, FF);
        T_("ffn_down.weight", &m->wd[l][0][0], FF, E);
        if (m->bias) {
            T_("attn_q.bias", m->bq[l], H * HD, 1);
            T_("attn_k.bias", m->bk[l], HKV * HD, 1);
            T_("attn_v.bias", m->bv[l], HKV * HD, 1);
        }
        if (m->qk_norm) {
            T_("attn_q_norm.weight", m->qn[l], HD, 1);
            T_("attn_k_norm.weight", m->kn[l], HD, 1);
        }
        if (m->gemma) {
            T_("post_attention_norm.weight", m->post_attn[l], E, 1);
            T_("post_ffw_norm.weight", m->post_ffn[l], E, 1);
        }
#undef T_
    }
    struct flm_err err;
    assert_int_equal(flm_gguf_writer_to_file(w, path, &err), FLM_OK);
    flm_gguf_writer_free(w);
}

// ---------------------------------------------------------------- reference

static void rms(double *y, const double *x, const float *w, int n) {
    double ss = 0;
    for (int i = 0; i < n; i++) ss += x[i] * x[i];
    const double r = 1.0 / sqrt(ss / n + 1e-5);
    for (int i = 0; i < n; i++) y[i] = x[i] * r * (w ? w[i] : 1.0);
}

static void matvec(double *y, const float *w, const double *x, int rows, int cols, const float *b) {
    for (int r = 0; r < rows; r++) {
        double s = b ? b[r] : 0;
        for (int c = 0; c < cols; c++) s += (double)w[r * cols + c] * x[c];
        y[r] = s;
    }
}

static void rope(double *v, int pos, bool neox) {
    for (int i = 0; i < HD; i += 2) {
        const double th = pos * pow(10000.0, -(double)i / HD);
        const int a = neox ? i / 2 : i, b = neox ? i / 2 + HD / 2 : i + 1;
        const double x0 = v[a], x1 = v[b];
        v[a] = x0 * cos(th) - x1 * sin(th);
        v[b] = x0 * sin(th) + x1 * cos(th);
    }
}

static double half(double x) { return flm_f16_to_f32(flm_f32_to_f16((float)x)); }

static void reference(const struct tiny *m, const int32_t *tok, double logits[T][V]) {
    static double x[T][E], K[L][T][HKV * HD], Vv[L][T][HKV * HD];
    const bool neox = strcmp(m->arch, "llama") != 0;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < E; i++) x[t][i] = m->emb[tok[t]][i] * (m->gemma ? sqrt((double)E) : 1.0);
    for (int l = 0; l < L; l++)
        for (int t = 0; t < T; t++) {
            double h[E], q[H * HD], att[H * HD], o[E], g[FF], u[FF], d[E];
            rms(h, x[t], m->attn_norm[l], E);
            matvec(q, &m->wq[l][0][0], h, H * HD, E, m->bias ? m->bq[l] : NULL);
            matvec(K[l][t], &m->wk[l][0][0], h, HKV * HD, E, m->bias ? m->bk[l] : NULL);
            matvec(Vv[l][t], &m->wv[l][0][0], h, HKV * HD, E, m->bias ? m->bv[l] : NULL);
            for (int hh = 0; hh < H; hh++) {
                if (m->qk_norm) rms(q + hh * HD, q + hh * HD, m->qn[l], HD);
                rope(q + hh * HD, t, neox);
            }
            for (int hh = 0; hh < HKV; hh++) {
                if (m->qk_norm) rms(K[l][t] + hh * HD, K[l][t] + hh * HD, m->kn[l], HD);
                rope(K[l][t] + hh * HD, t, neox);
            }
            for (int hh = 0; hh < H; hh++) {
                const int kh = hh / (H / HKV), j0 = m->gemma && t >= SWA ? t - SWA + 1 : 0;
                double s[T], mx = -1e300, sum = 0;
                for (int j = j0; j <= t; j++) {
                    s[j] = 0;
                    for (int i = 0; i < HD; i++) s[j] += q[hh * HD + i] * half(K[l][j][kh * HD + i]);
                    s[j] /= sqrt((double)HD);
                    mx = fmax(mx, s[j]);
                }
                for (int j = j0; j <= t; j++) sum += (s[j] = exp(s[j] - mx));
                for (int i = 0; i < HD; i++) {
                    double a = 0;
                    for (int j = j0; j <= t; j++) a += s[j] / sum * half(Vv[l][j][kh * HD + i]);
                    att[hh * HD + i] = a;
                }
            }
            matvec(o, &m->wo[l][0][0], att, E, H * HD, NULL);
            if (m->gemma) rms(o, o, m->post_attn[l], E);
            for (int i = 0; i < E; i++) x[t][i] += o[i];
            rms(h, x[t], m->ffn_norm[l], E);
            matvec(g, &m->wg[l][0][0], h, FF, E, NULL);
            matvec(u, &m->wu[l][0][0], h, FF, E, NULL);
            for (int i = 0; i < FF; i++) {
                const double a = g[i];
                g[i] = (m->gemma ? 0.5 * a * (1 + tanh(sqrt(2 / M_PI) * (a + 0.044715 * a * a * a))) : a / (1 + exp(-a))) * u[i];
            }
            matvec(d, &m->wd[l][0][0], g, E, FF, NULL);
            if (m->gemma) rms(d, d, m->post_ffn[l], E);
            for (int i = 0; i < E; i++) x[t][i] += d[i];
        }
    for (int t = 0; t < T; t++) {
        double h[E];
        rms(h, x[t], m->out_norm, E);
        matvec(logits[t], &m->emb[0][0], h, V, E, NULL);
    }
}

// ---------------------------------------------------------------- test

static void run_arch(const char *arch, bool bias, bool qk_norm, bool gemma) {
    static struct tiny m;
    memset(&m, 0, sizeof m);
    m.arch = arch, m.bias = bias, m.qk_norm = qk_norm, m.gemma = gemma;
    make(&m, 1234 + (uint64_t)strlen(arch) * 77 + bias + 2 * qk_norm);
    char path[] = "/tmp/flm_arch_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_model(&m, path);
    struct flm_err err = {0};
    struct flm_model *model;
    if (flm_model_open(&model, path, NULL, &err)) fail_msg("%s: %s", arch, err.msg);
    struct flm_context *ctx;
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = 32;
    cp.n_threads = 2;
    assert_int_equal(flm_context_init(&ctx, model, &cp, &err), FLM_OK);
    const int32_t tok[T] = {1, 70, 200, 3, 45, 258, 100};
    static double ref[T][V];
    reference(&m, tok, ref);
    // the prompt in one pass, then the same tokens one at a time
    for (int mode = 0; mode < 2; mode++) {
        assert_int_equal(flm_context_truncate(ctx, 0, &err), FLM_OK);
        double worst = 0;
        for (int t = 0; t < T;) {
            const int n = mode == 0 ? T : 1;
            assert_int_equal(flm_eval(ctx, tok + t, n, true, &err), FLM_OK);
            for (int i = 0; i < n; i++) {
                const float *lg = flm_get_logits(ctx, i);
                double mx = 0, d = 0;
                for (int v = 0; v < V; v++) {
                    mx = fmax(mx, fabs(ref[t + i][v]));
                    d = fmax(d, fabs(lg[v] - ref[t + i][v]));
                }
                worst = fmax(worst, d / mx);
            }
            t += n;
        }
        print_message("%-6s %s: worst |logit - reference| / max|logit| = %.2e\n", arch, mode ? "one by one" : "batched",
                      worst);
        // half-precision K/V, q and probabilities bound the agreement
        assert_true(worst < 5e-3);
    }
    flm_context_free(ctx);
    flm_model_free(model);
    unlink(path);
}

static void test_llama(void **state) { run_arch("llama", false, false, false); }
static void test_qwen2(void **state) { run_arch("qwen2", true, false, false); }
static void test_qwen3(void **state) { run_arch("qwen3", false, true, false); }
static void test_gemma3(void **state) { run_arch("gemma3", false, true, true); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama),
        cmocka_unit_test(test_qwen2),
        cmocka_unit_test(test_qwen3),
        cmocka_unit_test(test_gemma3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
