// sparse_test.c - masks, threshold calibration (quantiles, monotonicity,
// channel scaling, conditioned |up|, error energy and the global allocation
// across layers on synthetic
// activations), levels in a GGUF file, and writing a model copy
// with thresholds (byte-identical keys and tensors, refusal to overwrite the
// input, no temporary file left behind).
#include "test_util.h"

#include "format/gguf.h"
#include "sparse/sparse.h"

#include <dirent.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

static char dir[64];

// ---------------------------------------------------------------- masks

static void test_mask(void **state) {
    (void)state;
    float act[10] = {0.5f, -0.05f, 0.2f, -3.0f, 0.0f, 0.1f, 0.11f, -0.1f, 1e-9f, 2.0f};
    float thr[10];
    for (int i = 0; i < 10; i++) thr[i] = 0.1f;
    int32_t live[10];
    struct flm_neuron_mask m = {.n_ff = 10, .live = live};
    assert_int_equal(flm_sparse_mask_fill(&m, act, thr), 7);  // |act| >= thr lives
    const int32_t want[7] = {0, 2, 3, 5, 6, 7, 9};
    assert_int_equal(m.n_live, 7);
    for (int k = 0; k < 7; k++) assert_int_equal(live[k], want[k]);
    assert_true(act[1] == 0.0f && act[4] == 0.0f && act[8] == 0.0f && act[3] == -3.0f);
}

static void test_mask_blocks(void **state) {
    (void)state;
    int32_t live[4] = {0, 33, 34, 95};
    struct flm_neuron_mask m = {.n_ff = 96, .n_live = 4, .live = live};
    uint8_t bl[3];
    assert_int_equal(flm_sparse_mask_blocks(&m, 32, bl), 3);
    assert_true(bl[0] && bl[1] && bl[2]);
    m.n_live = 3;
    assert_int_equal(flm_sparse_mask_blocks(&m, 32, bl), 2);
    assert_true(bl[0] && bl[1] && !bl[2]);
}

// Neurons live in one of the last n_window tokens are cached; only the others are fresh.
static void test_window(void **state) {
    (void)state;
    int64_t last[8];
    for (int i = 0; i < 8; i++) last[i] = -1;
    struct flm_neuron_window w = {.n_ff = 8, .n_window = 2, .last = last};
    int32_t fresh[8], l0[] = {0, 1, 2}, l1[] = {2, 3}, l2[] = {0, 4}, l3[] = {0, 1, 2};
    struct flm_neuron_mask m = {.n_ff = 8, .n_live = 3, .live = l0};
    assert_int_equal(flm_sparse_window_update(&w, &m, fresh), 3);  // t0: all new
    assert_int_equal(w.n_cached, 3);
    m = (struct flm_neuron_mask){.n_ff = 8, .n_live = 2, .live = l1};
    assert_int_equal(flm_sparse_window_update(&w, &m, fresh), 1);  // t1: 2 cached, 3 fresh
    assert_int_equal(fresh[0], 3);
    assert_int_equal(w.n_cached, 4);  // 0 1 2 3
    m = (struct flm_neuron_mask){.n_ff = 8, .n_live = 2, .live = l2};
    assert_int_equal(flm_sparse_window_update(&w, &m, fresh), 1);  // t2: 0 (used at t0) cached, 4 fresh
    assert_int_equal(fresh[0], 4);
    assert_int_equal(w.n_cached, 4);  // 2 3 (t1) and 0 4 (t2); 1 (t0 only) has left the window
    m = (struct flm_neuron_mask){.n_ff = 8, .n_live = 3, .live = l3};
    assert_int_equal(flm_sparse_window_update(&w, &m, fresh), 1);  // t3: 0 and 2 cached, 1 (t0) evicted
    assert_int_equal(fresh[0], 1);
}

// ---------------------------------------------------------------- calibration

static void test_calib_quantiles(void **state) {
    (void)state;
    const int32_t L = 2, F = 37, T = 3000;
    struct flm_sparse_calib *c;
    assert_int_equal(flm_sparse_calib_init(&c, L, F, NULL), FLM_OK);
    float *act = malloc(sizeof(float) * F * T), *up = malloc(sizeof(float) * F * T);
    uint64_t seed = 5;
    for (int32_t il = 0; il < L; il++) {
        for (int32_t t = 0; t < T; t++)
            for (int32_t i = 0; i < F; i++) {
                act[t * F + i] = flm_test_randf(&seed) * (1.0f + (float)i);  // channel i: uniform in +-(1 + i)
                up[t * F + i] = (float)(il + 1) * (i % 3 == 0 ? 4.0f : 1.0f) * (flm_test_randf(&seed) < 0 ? -1 : 1);
            }
        flm_sparse_calib_add(c, il, act, up, T);
    }
    float down[37];
    for (int32_t i = 0; i < F; i++) down[i] = i % 2 ? 2.0f : 1.0f;
    for (int32_t il = 0; il < L; il++) flm_sparse_calib_set_down(c, il, down);
    const float levels[3] = {0.3f, 0.5f, 0.7f};
    float *thr = malloc(sizeof(float) * L * 3 * F);
    const enum flm_sparse_method per_layer[4] = {FLM_SPARSE_CHESS, FLM_SPARSE_PER_LAYER, FLM_SPARSE_CHESS_DOWN,
                                                 FLM_SPARSE_CHESS_COND};
    for (int mi = 0; mi < 4; mi++) {
        const enum flm_sparse_method method = per_layer[mi];
        assert_int_equal(flm_sparse_calib_thresholds(c, method, levels, 3, thr, NULL), FLM_OK);
        for (int32_t il = 0; il < L; il++)
            for (int j = 0; j < 3; j++) {
                const float *t = thr + ((size_t)il * 3 + j) * F;
                // the fraction of calibration activations under their threshold is the level
                double under = 0;
                for (int32_t i = 0; i < F; i++) {
                    const double a = 1.0 + i, f = t[i] >= a ? 1.0 : t[i] / a;  // |uniform(+-a)| < t
                    under += f;
                    if (j > 0) assert_true(t[i] >= thr[((size_t)il * 3 + j - 1) * F + i]);  // monotone in level
                    if (method == FLM_SPARSE_PER_LAYER) assert_true(t[i] == t[0]);
                }
                assert_true(fabs(under / F - levels[j]) < 0.03);
                if (method == FLM_SPARSE_CHESS || method == FLM_SPARSE_CHESS_COND)  // 4x the |up|: a 4x lower threshold
                    assert_true(fabs(t[3] * 4 / t[1] - 1.0) < 1e-3 || t[1] >= 2.0f);
                if (method == FLM_SPARSE_CHESS_DOWN)  // and those with twice the down norm a 2x lower one
                    for (int32_t i = 0; i + 1 < F; i++) {
                        const double si = (i % 3 == 0 ? 4.0 : 1.0) * down[i];
                        const double sn = ((i + 1) % 3 == 0 ? 4.0 : 1.0) * down[i + 1];
                        assert_true(fabs(t[i] * si / (t[i + 1] * sn) - 1.0) < 1e-5);
                    }
            }
    }
    assert_int_equal(flm_sparse_calib_thresholds(c, (enum flm_sparse_method)7, levels, 3, thr, NULL), FLM_ERR_INVALID);
    const float bad[2] = {0.5f, 0.4f};
    assert_int_equal(flm_sparse_calib_thresholds(c, FLM_SPARSE_CHESS, bad, 2, thr, NULL), FLM_ERR_INVALID);
    free(act), free(up), free(thr);
    flm_sparse_calib_free(c);
    flm_sparse_calib_free(NULL);
}

// Global: three layers with the same activations but gains 4, 1 and 1/4.
// One lambda for all: the overall fraction under threshold is the level, the
// layer whose errors weigh least skips most, and every threshold is
// lambda / (E|up_i| * gain) (|up| does not depend on act here).
static void test_calib_global(void **state) {
    (void)state;
    const int32_t L = 3, F = 24, T = 2000;
    const float gains[3] = {4.0f, 1.0f, 0.25f};
    struct flm_sparse_calib *c;
    assert_int_equal(flm_sparse_calib_init(&c, L, F, NULL), FLM_OK);
    float *act = malloc(sizeof(float) * F * T), *up = malloc(sizeof(float) * F * T);
    float down[24];
    for (int32_t i = 0; i < F; i++) down[i] = 1.0f + (float)(i % 4);
    uint64_t seed = 9;
    for (int32_t il = 0; il < L; il++) {
        for (int32_t t = 0; t < T; t++)
            for (int32_t i = 0; i < F; i++) {
                act[t * F + i] = flm_test_randf(&seed);  // uniform in +-1
                up[t * F + i] = (i % 3 == 0 ? 2.0f : 1.0f) * (flm_test_randf(&seed) < 0 ? -1 : 1);
            }
        flm_sparse_calib_add(c, il, act, up, T);
        flm_sparse_calib_set_gain(c, il, gains[il]);
        flm_sparse_calib_set_down(c, il, down);
    }
    const float levels[2] = {0.3f, 0.5f};
    float *thr = malloc(sizeof(float) * L * 2 * F);
    assert_int_equal(flm_sparse_calib_thresholds(c, FLM_SPARSE_GLOBAL, levels, 2, thr, NULL), FLM_OK);
    for (int j = 0; j < 2; j++) {
        double frac[3], all = 0, lam = 0;
        for (int32_t il = 0; il < L; il++) {
            const float *t = thr + ((size_t)il * 2 + j) * F;
            frac[il] = 0;
            for (int32_t i = 0; i < F; i++) {
                frac[il] += (t[i] < 1.0f ? t[i] : 1.0) / F;  // |uniform(+-1)| < t
                const double li = (double)t[i] * (i % 3 == 0 ? 2.0 : 1.0) * gains[il];
                if (il == 0 && i == 0) lam = li;
                assert_true(fabs(li / lam - 1.0) < 1e-4);  // one lambda over the scaled thresholds
                if (j > 0) assert_true(t[i] >= thr[((size_t)il * 2 + j - 1) * F + i]);
            }
            all += frac[il] / L;
        }
        if (fabs(all - levels[j]) > 0.02) fail_msg("level %g: %.3f under threshold overall", (double)levels[j], all);
        assert_true(frac[0] < frac[1] - 0.05 && frac[1] < frac[2] - 0.05);
    }
    // without gains every layer counts the same: the global allocation gives each layer the level
    struct flm_sparse_calib *c2;
    assert_int_equal(flm_sparse_calib_init(&c2, 2, F, NULL), FLM_OK);
    for (int32_t il = 0; il < 2; il++) flm_sparse_calib_add(c2, il, act, up, T);
    assert_int_equal(flm_sparse_calib_thresholds(c2, FLM_SPARSE_GLOBAL, levels, 2, thr, NULL), FLM_OK);
    for (int32_t il = 0; il < 2; il++) {
        double f = 0;
        const float *t = thr + (size_t)il * 2 * F;
        for (int32_t i = 0; i < F; i++) f += (t[i] < 1.0f ? t[i] : 1.0) / F;
        assert_true(fabs(f - levels[0]) < 0.03);
    }
    flm_sparse_calib_free(c2);
    // the error energy thresholds leave: E[(act_i c_i)^2; |act_i| < t] = c_i^2 t^3 / 3 for act uniform in +-1
    float t3[24];
    for (int32_t i = 0; i < F; i++) t3[i] = 0.25f + 0.5f * (float)(i % 2);
    double want = 0, want_down = 0;
    for (int32_t i = 0; i < F; i++) {
        const double up_i = i % 3 == 0 ? 2.0 : 1.0, e = (double)t3[i] * t3[i] * t3[i] / 3.0;
        want += up_i * up_i * e;
        want_down += up_i * up_i * down[i] * down[i] * e;
    }
    const double e = flm_sparse_calib_energy(c, FLM_SPARSE_CHESS, 1, t3);
    const double ed = flm_sparse_calib_energy(c, FLM_SPARSE_CHESS_DOWN, 1, t3);
    assert_true(fabs(flm_sparse_calib_energy(c, FLM_SPARSE_GLOBAL, 1, t3) / e - 1.0) < 1e-9);  // without the gain
    if (fabs(e / want - 1.0) > 0.05 || fabs(ed / want_down - 1.0) > 0.05)
        fail_msg("energy %g (want %g), with down norms %g (want %g)", e, want, ed, want_down);
    free(act), free(up), free(thr);
    flm_sparse_calib_free(c);
}

// chess-cond: two channels with the same |act| and mean |up|, but in the
// second |up| is small (0.25) where |act| is under 0.5 and large (1.75)
// above: it is dropped at a 4x higher threshold than the first (|up| 1
// always); chess treats both alike.
static void test_calib_cond(void **state) {
    (void)state;
    const int32_t F = 2, T = 4000;
    struct flm_sparse_calib *c;
    assert_int_equal(flm_sparse_calib_init(&c, 1, F, NULL), FLM_OK);
    float act[2 * 4000], up[2 * 4000];
    uint64_t seed = 3;
    for (int32_t t = 0; t < T; t++) {
        const float a = flm_test_randf(&seed);
        act[t * F] = act[t * F + 1] = a;
        up[t * F] = 1.0f;
        up[t * F + 1] = fabsf(a) < 0.5f ? 0.25f : 1.75f;
    }
    flm_sparse_calib_add(c, 0, act, up, T);
    const float level = 0.3f;
    float thr[2];
    assert_int_equal(flm_sparse_calib_thresholds(c, FLM_SPARSE_CHESS, &level, 1, thr, NULL), FLM_OK);
    assert_true(fabs(thr[1] / thr[0] - 1.0) < 0.05);
    assert_int_equal(flm_sparse_calib_thresholds(c, FLM_SPARSE_CHESS_COND, &level, 1, thr, NULL), FLM_OK);
    if (fabs(thr[1] / thr[0] - 4.0) > 0.1) fail_msg("chess-cond thresholds %g %g: ratio not 4", thr[0], thr[1]);
    const double under = (thr[0] < 1 ? thr[0] : 1.0) + (thr[1] < 1 ? thr[1] : 1.0);
    assert_true(fabs(under / 2 - level) < 0.02);
    flm_sparse_calib_free(c);
}

static void test_method_names(void **state) {
    (void)state;
    const char *names[] = {"chess", "cats", "chess-down", "global", "chess-cond"};
    for (int m = 0; m < 5; m++) {
        assert_string_equal(flm_sparse_method_name((enum flm_sparse_method)m), names[m]);
        assert_int_equal(flm_sparse_method_parse(names[m]), m);
    }
    assert_int_equal(flm_sparse_method_parse("teal"), -1);
    assert_int_equal(flm_sparse_method_parse(NULL), -1);
}

// ---------------------------------------------------------------- files

static void path_in(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static int n_tmp_files(void) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

// A small model-like file: a few keys of every kind and two tensors.
static void write_src(const char *path) {
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 3, 64), FLM_OK);
    const char *strs[3] = {"a", "", "ccc"};
    const int32_t ints[4] = {1, -2, 3, 4};
    assert_int_equal(flm_gguf_writer_kv_str(w, "general.architecture", "llama"), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_arr_str(w, "tokenizer.ggml.tokens", strs, 3), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_arr(w, "x.ints", FLM_GGUF_INT32, ints, 4), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_f32(w, "x.f", 1.5f), FLM_OK);
    assert_int_equal(flm_gguf_writer_kv_bool(w, "x.b", true), FLM_OK);
    float data[64];
    for (int i = 0; i < 64; i++) data[i] = (float)i;
    const int64_t ne[2] = {32, 2};
    assert_int_equal(flm_gguf_writer_tensor(w, "t.a", FLM_TYPE_F32, 2, ne, data, sizeof data), FLM_OK);
    assert_int_equal(flm_gguf_writer_tensor(w, "t.b", FLM_TYPE_F32, 1, ne, data, 128), FLM_OK);
    assert_int_equal(flm_gguf_writer_to_file(w, path, NULL), FLM_OK);
    flm_gguf_writer_free(w);
}

static void test_write_roundtrip(void **state) {
    (void)state;
    char src[128], out[128], out2[128];
    path_in(src, sizeof src, "src.gguf");
    path_in(out, sizeof out, "out.gguf");
    path_in(out2, sizeof out2, "out2.gguf");
    write_src(src);
    struct flm_gguf *g, *o;
    struct flm_err err;
    assert_int_equal(flm_gguf_open(&g, src, 0, &err), FLM_OK);
    const int L = 2, F = 32;
    const float levels[2] = {0.4f, 0.6f};
    float thr[2 * 2 * 32];
    for (int i = 0; i < 128; i++) thr[i] = (float)i * 0.01f;
    assert_int_equal(flm_sparse_write(g, src, out, FLM_SPARSE_CHESS, levels, 2, L, F, 100, thr, &err), FLM_OK);
    assert_int_equal(flm_gguf_open(&o, out, 0, &err), FLM_OK);
    // every original key and tensor, byte for byte
    for (int64_t i = 0; i < flm_gguf_n_kv(g); i++) {
        struct flm_gguf_str k = flm_gguf_key(g, i);
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)k.len, k.ptr);
        int64_t j = flm_gguf_find_key(o, key);
        assert_true(j >= 0);
        assert_int_equal(flm_gguf_kv_type(o, j), flm_gguf_kv_type(g, i));
    }
    assert_int_equal(flm_gguf_alignment(o), 64);
    uint64_t n;
    int64_t idx;
    assert_int_equal(flm_gguf_get_arr(o, "tokenizer.ggml.tokens", FLM_GGUF_STRING, &idx, &n, NULL), FLM_OK);
    assert_int_equal(n, 3);
    assert_int_equal(flm_gguf_arr_str(o, idx, 2).len, 3);
    assert_memory_equal(flm_gguf_arr_str(o, idx, 2).ptr, "ccc", 3);
    for (int64_t i = 0; i < flm_gguf_n_tensors(g); i++) {
        const struct flm_gguf_tensor *a = flm_gguf_tensor(g, i);
        char nm[64];
        snprintf(nm, sizeof nm, "%.*s", (int)a->name.len, a->name.ptr);
        const struct flm_gguf_tensor *b = flm_gguf_find_tensor(o, nm);
        assert_non_null(b);
        assert_int_equal(a->nbytes, b->nbytes);
        assert_memory_equal(a->data, b->data, a->nbytes);
    }
    // the thresholds
    struct flm_sparse_levels lv;
    assert_int_equal(flm_sparse_levels_load(&lv, o, &err), FLM_OK);
    assert_int_equal(lv.n_levels, 2);
    const float *t;
    assert_int_equal(flm_sparse_layer_load(o, 1, F, 2, &t, &err), FLM_OK);
    assert_memory_equal(t, thr + 64, 64 * sizeof(float));
    assert_int_equal(flm_sparse_layer_load(o, 2, F, 2, &t, &err), FLM_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "flashlm.sparsity.thr.2"));
    assert_int_equal(flm_sparse_layer_load(o, 0, F + 32, 2, &t, &err), FLM_ERR_FORMAT);
    assert_int_equal(flm_sparse_level_find(&lv, 60, &err), 1);
    assert_int_equal(flm_sparse_level_find(&lv, 0.4f, &err), 0);
    assert_int_equal(flm_sparse_level_find(&lv, 50, &err), -1);
    assert_non_null(strstr(err.msg, "not in the model"));
    assert_non_null(strstr(err.msg, "40, 60"));
    // recalibrating a calibrated file replaces the thresholds instead of adding a second set
    assert_int_equal(flm_sparse_write(o, out, out2, FLM_SPARSE_PER_LAYER, levels, 1, L, F, 7, thr, &err), FLM_OK);
    struct flm_gguf *o2;
    assert_int_equal(flm_gguf_open(&o2, out2, 0, &err), FLM_OK);
    assert_int_equal(flm_gguf_n_tensors(o), flm_gguf_n_tensors(g));  // metadata only: llama.cpp still loads it
    assert_int_equal(flm_gguf_n_tensors(o2), flm_gguf_n_tensors(g));
    assert_int_equal(flm_gguf_n_kv(o), flm_gguf_n_kv(g) + 3 + L);
    assert_int_equal(flm_gguf_n_kv(o2), flm_gguf_n_kv(o));
    flm_gguf_close(o2);
    // no thresholds in the source file
    assert_int_equal(flm_sparse_levels_load(&lv, g, &err), FLM_OK);
    assert_int_equal(lv.n_levels, 0);
    assert_int_equal(flm_sparse_level_find(&lv, 50, &err), -1);
    assert_non_null(strstr(err.msg, "flashlm calibrate"));
    flm_gguf_close(o);
    flm_gguf_close(g);
    assert_int_equal(n_tmp_files(), 0);
}

static void test_write_refusals(void **state) {
    (void)state;
    char src[128], hard[128], sub[128], bad[160];
    path_in(src, sizeof src, "src.gguf");
    path_in(hard, sizeof hard, "hard.gguf");
    path_in(sub, sizeof sub, "adir");
    write_src(src);
    struct flm_gguf *g;
    struct flm_err err;
    assert_int_equal(flm_gguf_open(&g, src, 0, &err), FLM_OK);
    float thr[64] = {0};
    const float lv[1] = {0.5f};
    struct stat before, after;
    assert_int_equal(stat(src, &before), 0);
    // the input itself, and another name of the same file
    assert_int_equal(flm_sparse_write(g, src, src, FLM_SPARSE_CHESS, lv, 1, 2, 32, 1, thr, &err), FLM_ERR_INVALID);
    assert_non_null(strstr(err.msg, "refusing to overwrite"));
    assert_int_equal(link(src, hard), 0);
    assert_int_equal(flm_sparse_write(g, src, hard, FLM_SPARSE_CHESS, lv, 1, 2, 32, 1, thr, &err), FLM_ERR_INVALID);
    assert_int_equal(stat(src, &after), 0);
    assert_true(before.st_size == after.st_size && before.st_mtime == after.st_mtime);
    // a target that cannot be replaced (a directory): the error, and no temporary file left
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(flm_sparse_write(g, src, sub, FLM_SPARSE_CHESS, lv, 1, 2, 32, 1, thr, &err), FLM_ERR_IO);
    assert_non_null(strstr(err.msg, "rename"));
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.gguf", dir);
    assert_int_equal(flm_sparse_write(g, src, bad, FLM_SPARSE_CHESS, lv, 1, 2, 32, 1, thr, &err), FLM_ERR_IO);
    assert_int_equal(n_tmp_files(), 0);
    flm_gguf_close(g);
}

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/flm_sparse_test_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask),
        cmocka_unit_test(test_mask_blocks),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_calib_quantiles),
        cmocka_unit_test(test_calib_global),
        cmocka_unit_test(test_calib_cond),
        cmocka_unit_test(test_method_names),
        cmocka_unit_test(test_write_roundtrip),
        cmocka_unit_test(test_write_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
