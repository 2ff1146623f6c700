// cli_chat.c - `flashlm chat`: interactive multi-turn chat.
//
// Each turn renders the whole conversation with the model's template,
// tokenizes it, keeps the longest prefix the context already holds and
// evaluates only the rest, so earlier turns are never recomputed.
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct chat {
    struct flm_chat_msg *msgs;
    size_t               n, cap;
    int32_t             *hist;   // tokens in the KV cache, in order
    int32_t              n_hist;
    char                *reply;  // assistant text being generated
    size_t               reply_len, reply_cap;
};

static bool add_msg(struct chat *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct flm_chat_msg *m = realloc(c->msgs, cap * sizeof *m);
        if (!m) return false;
        c->msgs = m;
        c->cap = cap;
    }
    char *dup = strdup(content);
    if (!dup) return false;
    c->msgs[c->n++] = (struct flm_chat_msg){role, dup};
    return true;
}

static bool collect(void *user, int32_t token, const char *text, size_t len) {
    struct chat *c = user;
    if (c->reply_len + len + 1 > c->reply_cap) {
        size_t cap = (c->reply_len + len + 1) * 2;
        char *r = realloc(c->reply, cap);
        if (!r) return false;
        c->reply = r;
        c->reply_cap = cap;
    }
    memcpy(c->reply + c->reply_len, text, len);
    c->reply_len += len;
    c->reply[c->reply_len] = '\0';
    int32_t *h = realloc(c->hist, (size_t)(c->n_hist + 1) * sizeof *h);
    if (!h) return false;
    c->hist = h;
    c->hist[c->n_hist++] = token;
    return cli_print_piece(NULL, token, text, len);
}

// Renders and evaluates the conversation, then streams the reply.
static int chat_turn(struct engine *e, struct chat *c, const struct opts *o) {
    struct flm_err err = {0};
    char *text = NULL;
    int32_t n = 0, *toks = NULL;
    flm_status s = flm_chat_apply(e->model, c->msgs, c->n, true, &text, &err);
    if (!s) s = flm_tokenize(e->model, text, strlen(text), true, true, NULL, 0, &n, &err);
    if ((!s || s == FLM_ERR_INVALID) && n > 0 && (toks = malloc((size_t)n * sizeof *toks)))
        s = flm_tokenize(e->model, text, strlen(text), true, true, toks, n, &n, &err);
    flm_free(text);
    if (s || !toks) {
        fprintf(stderr, "flashlm: %s\n", s ? err.msg : "out of memory");
        free(toks);
        return 1;
    }
    int32_t keep = 0;
    const int32_t cached = flm_context_pos(e->ctx);  // the last reply token may not be evaluated
    while (keep < c->n_hist && keep < cached && keep < n - 1 && c->hist[keep] == toks[keep]) keep++;
    flm_context_truncate(e->ctx, keep, NULL);
    int32_t *h = realloc(c->hist, (size_t)n * sizeof *h);
    if (!h) {
        free(toks);
        return 1;
    }
    c->hist = h;
    memcpy(c->hist, toks, (size_t)n * sizeof *toks);
    c->n_hist = n;
    c->reply_len = 0;
    if (c->reply) c->reply[0] = '\0';
    struct flm_gen_stats st = {0};
    s = e->spec ? flm_generate_spec(e->spec, e->smp, toks + keep, n - keep, o->n_predict, collect, c, &st, &err)
                : flm_generate_tokens(e->ctx, e->smp, toks + keep, n - keep, o->n_predict, collect, c, &st, &err);
    free(toks);
    if (s) {
        fprintf(stderr, "\nflashlm: %s\n", err.msg);
        return 1;
    }
    printf("\n");
    return add_msg(c, "assistant", c->reply ? c->reply : "") ? 0 : 1;
}

int cmd_chat(const struct opts *o) {
    struct engine e = {0};
    if (cli_engine_open(&e, o, true)) return 1;
    struct chat c = {0};
    int rc = 0;
    if (o->system && !add_msg(&c, "system", o->system)) rc = 1;
    const bool tty = isatty(0);
    char *line = NULL;
    size_t cap = 0;
    while (!rc) {
        if (tty) fputs("> ", stderr);
        ssize_t k = getline(&line, &cap, stdin);
        if (k <= 0) break;
        while (k > 0 && (line[k - 1] == '\n' || line[k - 1] == '\r')) line[--k] = '\0';
        if (k == 0) break;
        if (!add_msg(&c, "user", line)) rc = 1;
        if (!rc) rc = chat_turn(&e, &c, o);
    }
    free(line);
    for (size_t i = 0; i < c.n; i++) free((void *)c.msgs[i].content);
    free(c.msgs);
    free(c.hist);
    free(c.reply);
    cli_print_sparse(e.ctx);
    cli_engine_free(&e);
    return rc;
}
