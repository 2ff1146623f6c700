// api_text.c - the public token, chat and sampler entry points: thin
// wrappers that route a model handle to its vocabulary and template.
#include "model/model.h"

#include "decode/sampler.h"
#include "text/chat.h"
#include "text/vocab.h"

#include <stdlib.h>
#include <string.h>

int32_t flm_token_bos(const struct flm_model *m) { return flm_vocab_bos(m->vocab); }
int32_t flm_token_eos(const struct flm_model *m) { return flm_vocab_eos(m->vocab); }
bool    flm_token_is_eog(const struct flm_model *m, int32_t t) { return flm_vocab_is_eog(m->vocab, t); }

flm_status flm_tokenize(const struct flm_model *m, const char *text, size_t len, bool add_special, bool parse_special,
                        int32_t *tokens, int32_t n_max, int32_t *n_out, struct flm_err *err) {
    if (!m || (!text && len > 0) || !n_out || (n_max > 0 && !tokens) || n_max < 0)
        return flm_err_set(err, FLM_ERR_INVALID, "tokenize: invalid arguments");
    return flm_vocab_tokenize(m->vocab, text ? text : "", len, add_special, parse_special, tokens, n_max, n_out, err);
}

int32_t flm_token_to_piece(const struct flm_model *m, int32_t token, char *buf, int32_t n, bool special) {
    return flm_vocab_piece(m->vocab, token, buf, n, special);
}

int32_t flm_detokenize(const struct flm_model *m, const int32_t *tokens, int32_t n_tokens, char *buf, int32_t n,
                       bool special) {
    int32_t total = 0;
    char piece[256];
    for (int32_t i = 0; i < n_tokens; i++) {
        int32_t k = flm_vocab_piece(m->vocab, tokens[i], piece, (int32_t)sizeof piece, special);
        if (k < 0) k = 0;  // pieces longer than 256 bytes do not occur in real vocabularies
        if (buf && total + k < n) memcpy(buf + total, piece, (size_t)k);
        total += k;
    }
    if (total + 1 > n) return -(total + 1);
    buf[total] = '\0';
    return total;
}

flm_status flm_chat_apply(const struct flm_model *m, const struct flm_chat_msg *msgs, size_t n_msgs, bool add_assistant,
                          char **out, struct flm_err *err) {
    size_t bl = 0, el = 0;
    const char *bos = m->vocab && flm_vocab_bos(m->vocab) >= 0 ? flm_vocab_text(m->vocab, flm_vocab_bos(m->vocab), &bl) : NULL;
    const char *eos = m->vocab && flm_vocab_eos(m->vocab) >= 0 ? flm_vocab_text(m->vocab, flm_vocab_eos(m->vocab), &el) : NULL;
    char bos_s[64] = "", eos_s[64] = "";
    if (bos && bl < sizeof bos_s) memcpy(bos_s, bos, bl);
    if (eos && el < sizeof eos_s) memcpy(eos_s, eos, el);
    return flm_chat_render(m->chat_template, m->arch->name, bos_s, eos_s, msgs, n_msgs, add_assistant, out, err);
}

flm_status flm_sampler_init(struct flm_sampler **out, const struct flm_sampler_params *params,
                            const struct flm_model *model, struct flm_err *err) {
    if (!model) return flm_err_set(err, FLM_ERR_INVALID, "sampler: NULL model");
    return flm_sampler_init_n_vocab(out, params, model->hp.n_vocab, err);
}

void flm_free(void *p) { free(p); }
