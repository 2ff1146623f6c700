// cli_inspect.c - `flashlm inspect`: what a GGUF file holds and what running
// it costs in memory.
#include "cli.h"

#include "format/gguf.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void print_value(const struct flm_gguf *g, int64_t i) {
    const enum flm_gguf_vtype t = flm_gguf_kv_type(g, i);
    struct flm_gguf_str key = flm_gguf_key(g, i);
    char k[256];
    snprintf(k, sizeof k, "%.*s", (int)(key.len > 200 ? 200 : key.len), key.ptr);
    union { uint32_t u; int32_t i; float f; bool b; } v;
    struct flm_gguf_str s;
    switch (t) {
    case FLM_GGUF_STRING:
        flm_gguf_get_str(g, k, &s, NULL);
        printf("  %-44s = \"%.*s%s\"\n", k, (int)(s.len > 60 ? 60 : s.len), s.ptr, s.len > 60 ? "..." : "");
        return;
    case FLM_GGUF_ARRAY:
        printf("  %-44s = array of %" PRIu64 "\n", k, flm_gguf_arr_len(g, i));
        return;
    case FLM_GGUF_FLOAT32:
    case FLM_GGUF_FLOAT64:
        if (flm_gguf_get_f32(g, k, &v.f, NULL) == FLM_OK) printf("  %-44s = %g\n", k, v.f);
        return;
    case FLM_GGUF_BOOL:
        if (flm_gguf_get_bool(g, k, &v.b, NULL) == FLM_OK) printf("  %-44s = %s\n", k, v.b ? "true" : "false");
        return;
    case FLM_GGUF_INT8:
    case FLM_GGUF_INT16:
    case FLM_GGUF_INT32:
    case FLM_GGUF_INT64:
        if (flm_gguf_get_i32(g, k, &v.i, NULL) == FLM_OK) printf("  %-44s = %d\n", k, v.i);
        else printf("  %-44s = (64-bit value)\n", k);
        return;
    default:
        if (flm_gguf_get_u32(g, k, &v.u, NULL) == FLM_OK) printf("  %-44s = %u\n", k, v.u);
        else printf("  %-44s = (64-bit value)\n", k);
        return;
    }
}

static void print_tensors(const struct flm_gguf *g, bool all) {
    uint64_t by_type[FLM_TYPE_COUNT] = {0}, count[FLM_TYPE_COUNT] = {0}, total = 0;
    for (int64_t i = 0; i < flm_gguf_n_tensors(g); i++) {
        const struct flm_gguf_tensor *t = flm_gguf_tensor(g, i);
        by_type[t->type] += t->nbytes;
        count[t->type]++;
        total += t->nbytes;
        if (all)
            printf("  %-36.*s %-5s [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "] %zu bytes\n",
                   (int)t->name.len, t->name.ptr, flm_type_layout(t->type)->name, t->ne[0], t->ne[1], t->ne[2],
                   t->ne[3], t->nbytes);
    }
    printf("tensors: %" PRId64 ", %.1f MiB\n", flm_gguf_n_tensors(g), total / 1048576.0);
    for (int t = 0; t < FLM_TYPE_COUNT; t++)
        if (count[t]) printf("  %-5s %4" PRIu64 " tensors  %8.1f MiB\n", flm_type_layout((uint32_t)t)->name, count[t],
                             by_type[t] / 1048576.0);
}

int cmd_inspect(const struct opts *o) {
    struct flm_err err = {0};
    struct flm_gguf *g = NULL;
    if (flm_gguf_open(&g, o->model, 0, &err)) {
        fprintf(stderr, "flashlm: %s\n", err.msg);
        return 1;
    }
    printf("file: %s\nGGUF version %u, %" PRIu64 " bytes, alignment %u\nmetadata: %" PRId64 " keys\n", o->model,
           flm_gguf_version(g), flm_gguf_file_size(g), flm_gguf_alignment(g), flm_gguf_n_kv(g));
    for (int64_t i = 0; i < flm_gguf_n_kv(g); i++) print_value(g, i);
    print_tensors(g, o->show_tensors);
    flm_gguf_close(g);

    // Memory to run it: open it as a model (this validates it fully).
    struct flm_model *m = NULL;
    if (flm_model_open(&m, o->model, NULL, &err)) {
        fprintf(stderr, "flashlm: not runnable: %s\n", err.msg);
        return 1;
    }
    struct flm_model_info mi;
    flm_model_get_info(m, &mi);
    const int32_t n_ctx = o->n_ctx ? o->n_ctx : (mi.n_ctx_train < 4096 ? mi.n_ctx_train : 4096);
    struct flm_context *ctx = NULL;
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = n_ctx;
    cp.n_threads = 1;
    size_t kv = 0;
    if (flm_context_init(&ctx, m, &cp, &err) == FLM_OK) kv = flm_context_memory(ctx);
    printf("model: %s \"%s\", %.1f M parameters, %d layers, %d heads (%d kv), embedding %d, vocabulary %d\n",
           mi.arch, mi.name, mi.n_params / 1e6, mi.n_layer, mi.n_head, mi.n_head_kv, mi.n_embd, mi.n_vocab);
    printf("memory: weights %.1f MiB (mapped) + context of %d tokens %.1f MiB = %.1f MiB\n", mi.weight_bytes / 1048576.0,
           n_ctx, kv / 1048576.0, (mi.weight_bytes + kv) / 1048576.0);
    flm_context_free(ctx);
    flm_model_free(m);
    return 0;
}
