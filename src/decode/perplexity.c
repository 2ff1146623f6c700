// perplexity.c - chunked perplexity, scored like llama.cpp's perplexity tool.
#include "flashlm.h"

#include "core/status.h"

#include <math.h>

// -log softmax(logits)[tok], with the sum of exponentials in double.
static double nll_of(const float *logits, int32_t n_vocab, int32_t tok) {
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; i++) max = logits[i] > max ? logits[i] : max;
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - max));
    return -((double)(logits[tok] - max) - log(sum));
}

flm_status flm_perplexity(struct flm_context *ctx, const int32_t *tokens, int32_t n_tokens, int32_t chunk_len,
                          flm_ppl_fn on_chunk, void *user, struct flm_ppl_result *out, struct flm_err *err) {
    if (!ctx || !tokens || !out) return flm_err_set(err, FLM_ERR_INVALID, "perplexity: NULL argument");
    *out = (struct flm_ppl_result){0};
    if (chunk_len < 4 || chunk_len > flm_context_n_ctx(ctx))
        return flm_err_set(err, FLM_ERR_INVALID, "perplexity: chunk length %d must be in [4, context size %d]", chunk_len,
                           flm_context_n_ctx(ctx));
    const int32_t n_chunks = n_tokens / chunk_len;
    if (n_chunks == 0)
        return flm_err_set(err, FLM_ERR_INVALID, "perplexity: %d tokens are fewer than one chunk of %d", n_tokens,
                           chunk_len);
    const struct flm_model *model = flm_context_model(ctx);
    struct flm_model_info info;
    flm_model_get_info(model, &info);
    const int32_t bos = flm_token_bos(model);
    int32_t tmp = 0;
    // Whether the model adds BOS: tokenizing "" with add_special tells.
    const bool add_bos = bos >= 0 && flm_tokenize(model, "", 0, true, false, &tmp, 1, &tmp, NULL) == FLM_OK && tmp == 1;
    const int32_t first = chunk_len / 2;
    // logits are kept for one batch at a time
    const int32_t n_batch = flm_context_n_batch(ctx) < 64 ? flm_context_n_batch(ctx) : 64;
    flm_status s = FLM_OK;
    for (int32_t c = 0; c < n_chunks; c++) {
        const int32_t *chunk = tokens + (size_t)c * chunk_len;
        if ((s = flm_context_truncate(ctx, 0, err))) return s;
        for (int32_t b = 0; b < chunk_len; b += n_batch) {
            int32_t nb = chunk_len - b < n_batch ? chunk_len - b : n_batch;
            int32_t batch[64];
            for (int32_t i = 0; i < nb; i++) batch[i] = chunk[b + i];
            if (b == 0 && add_bos) batch[0] = bos;
            const bool need = b + nb > first;
            s = flm_eval(ctx, batch, nb, need, err);
            if (s) return s;
            for (int32_t i = 0; need && i < nb; i++) {
                const int32_t j = b + i;
                if (j < first || j >= chunk_len - 1) continue;
                out->nll += nll_of(flm_get_logits(ctx, i), info.n_vocab, chunk[j + 1]);
                out->n_scored++;
            }
        }
        out->n_chunks = c + 1;
        out->ppl = exp(out->nll / (double)out->n_scored);
        if (on_chunk && !on_chunk(user, c, n_chunks, out->ppl)) break;
    }
    return FLM_OK;
}
