// handlers.c - the endpoints: completions (prompt -> job), tokenize,
// detokenize, models, health, metrics and the chat page.
#include "serve/http.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// ---------------------------------------------------------------- prompts

// The prompt text of a request: the chat template applied, or the raw prompt.
static bool render(struct flm_server *srv, const struct flm_serve_req *r, char **text, struct flm_serve_error *e) {
    if (r->kind == FLM_SERVE_COMPLETION) {
        *text = strdup(r->prompt);
        return *text || flm_serve_error_set(e, 500, NULL, NULL, "out of memory");
    }
    struct flm_err err = {0};
    flm_status st = flm_chat_apply(srv->model, r->msgs, r->n_msgs, true, text, &err);
    if (st == FLM_OK) return true;
    // INVALID: the messages break the template's rules (e.g. roles must alternate)
    return flm_serve_error_set(e, st == FLM_ERR_INVALID ? 400 : 500, "messages", NULL, "%s", err.msg);
}

static bool tokenize(struct flm_server *srv, const char *text, bool add_special, int32_t **toks, int32_t *n,
                     struct flm_serve_error *e) {
    struct flm_err err = {0};
    const size_t len = strlen(text);
    *toks = NULL;
    *n = 0;
    flm_status st = flm_tokenize(srv->model, text, len, add_special, true, NULL, 0, n, &err);
    if (st && st != FLM_ERR_INVALID) return flm_serve_error_set(e, 500, NULL, NULL, "%s", err.msg);
    if (!(*toks = malloc(((size_t)*n + 1) * sizeof **toks))) return flm_serve_error_set(e, 500, NULL, NULL, "out of memory");
    if (*n && flm_tokenize(srv->model, text, len, add_special, true, *toks, *n, n, &err)) {
        free(*toks);
        *toks = NULL;
        return flm_serve_error_set(e, 500, NULL, NULL, "%s", err.msg);
    }
    return true;
}

// A sampler for the request; bad values are the client's (400, field named).
static bool make_sampler(struct flm_server *srv, struct flm_serve_req *r, struct flm_sampler **smp,
                         struct flm_serve_error *e) {
    if (!r->has_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r->sp.seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ atomic_fetch_add(&srv->n_ids, 1) * 0x9E3779B97F4A7C15ull;
    }
    struct flm_err err = {0};
    flm_status st = flm_sampler_init(smp, &r->sp, srv->model, &err);
    if (st == FLM_OK) return true;
    char param[32] = "";
    sscanf(err.msg, "sampler: %31[a-z_]", param);
    return flm_serve_error_set(e, st == FLM_ERR_INVALID ? 400 : 500, param, NULL, "%s", err.msg);
}

// Prompt -> tokens -> sampler -> job. On failure *e says why.
static bool submit(struct flm_server *srv, struct flm_serve_req *r, struct flm_job **job, struct flm_serve_error *e) {
    char *text = NULL;
    struct flm_job_spec spec = {.n_max = r->max_tokens, .n_stop = r->n_stop};
    for (int i = 0; i < r->n_stop; i++) spec.stop[i] = r->stop[i];
    bool ok = render(srv, r, &text, e) && tokenize(srv, text, true, &spec.tokens, &spec.n_tokens, e);
    free(text);
    const char *what = r->kind == FLM_SERVE_CHAT ? "messages" : "prompt";
    const int32_t n_ctx = flm_sched_n_ctx(srv->sched);
    if (ok && spec.n_tokens == 0) ok = flm_serve_error_set(e, 400, what, NULL, "the prompt has no tokens");
    if (ok && spec.n_tokens > n_ctx)
        ok = flm_serve_error_set(e, 400, what, "context_length_exceeded",
                                 "the prompt has %d tokens but the context holds %d per request (-c)", spec.n_tokens, n_ctx);
    if (ok) ok = make_sampler(srv, r, &spec.smp, e);
    for (int32_t i = 0; ok && i < spec.n_tokens; i++) flm_sampler_accept(spec.smp, spec.tokens[i]);
    if (ok) {
        switch (flm_sched_submit(srv->sched, &spec, job)) {
        case FLM_SUBMIT_OK:     break;
        case FLM_SUBMIT_FULL:   ok = flm_serve_error_set(e, 503, NULL, "server_busy", "every slot and the queue are full; retry later"); break;
        case FLM_SUBMIT_CLOSED: ok = flm_serve_error_set(e, 503, NULL, "shutting_down", "the server is shutting down"); break;
        default:                ok = flm_serve_error_set(e, 500, NULL, NULL, "out of memory"); break;
        }
        if (e->status == 503) e->type = "server_error";
    }
    free(spec.tokens);  // NULL when the job took them
    flm_sampler_free(spec.smp);
    return ok;
}

// Waits for a non-streamed job and answers with the whole completion.
static enum MHD_Result answer(struct flm_server *srv, struct MHD_Connection *c, struct flm_job *job,
                              const struct flm_reply_head *hp) {
    const struct flm_reply_head h = *hp;
    struct flm_serve_error e = {0};
    struct flm_job_out out = {0};
    while (!out.done) {
        flm_job_wait(job, 100, &out);
        if (!out.done && flm_http_gone(c)) {  // the client left: stop generating, free the slot
            flm_job_release(job);
            free(out.text);
            return MHD_NO;
        }
    }
    flm_job_release(job);
    enum MHD_Result ret;
    if (out.finish == FLM_FINISH_ABORT) {
        flm_serve_error_set(&e, 503, NULL, "generation_aborted", "%s", out.error);
        e.type = "server_error";
        ret = flm_http_error(srv, c, &e);
    } else {
        const struct flm_reply_spec sp = {out.n_spec_steps, out.n_drafted, out.n_accepted};
        ret = flm_http_json(srv, c, 200, flm_reply_completion(&h, out.text ? out.text : "", out.finish, out.n_prompt, out.n_gen,
                                                              out.spec ? &sp : NULL));
    }
    free(out.text);
    return ret;
}

enum MHD_Result flm_http_generate(struct flm_server *srv, struct MHD_Connection *c, enum flm_serve_kind kind,
                                  const char *body, size_t len) {
    struct flm_serve_req r;
    struct flm_serve_error e = {0};
    struct flm_job *job = NULL;
    if (!flm_serve_req_parse(body ? body : "", len, kind, &r, &e)) return flm_http_error(srv, c, &e);
    if (!submit(srv, &r, &job, &e)) {
        flm_serve_req_free(&r);
        return flm_http_error(srv, c, &e);
    }
    struct flm_reply_head h = {.kind = kind, .created = (long long)time(NULL), .model = srv->model_id};
    snprintf(h.id, sizeof h.id, "%s-%llx%06llx", kind == FLM_SERVE_CHAT ? "chatcmpl" : "cmpl", (unsigned long long)h.created,
             (unsigned long long)atomic_fetch_add(&srv->n_ids, 1) & 0xFFFFFF);
    const bool stream = r.stream, usage = r.include_usage;
    flm_serve_req_free(&r);
    if (stream) return flm_http_stream(srv, c, job, &h, usage);
    atomic_fetch_add(&srv->n_generating, 1);
    enum MHD_Result ret = answer(srv, c, job, &h);
    atomic_fetch_sub(&srv->n_generating, 1);
    return ret;
}

// ---------------------------------------------------------------- tokens

static json_t *load_object(const char *body, size_t len, struct flm_serve_error *e) {
    json_error_t je;
    json_t *o = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!o) flm_serve_error_set(e, 400, NULL, "invalid_json", "invalid JSON body at byte %d: %s", je.position, je.text);
    else if (!json_is_object(o)) {
        json_decref(o);
        o = NULL;
        flm_serve_error_set(e, 400, NULL, NULL, "the body must be a JSON object");
    }
    return o;
}

enum MHD_Result flm_http_tokenize(struct flm_server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    struct flm_serve_error e = {0};
    json_t *o = load_object(body, len, &e);
    if (!o) return flm_http_error(srv, c, &e);
    json_t *content = json_object_get(o, "content"), *as = json_object_get(o, "add_special");
    int32_t *toks = NULL, n = 0;
    bool ok = json_is_string(content) || flm_serve_error_set(&e, 400, "content", NULL, "'content' must be a string");
    if (ok && as && !json_is_boolean(as)) ok = flm_serve_error_set(&e, 400, "add_special", NULL, "'add_special' must be a boolean");
    if (ok && strlen(json_string_value(content)) != json_string_length(content))
        ok = flm_serve_error_set(&e, 400, "content", NULL, "'content' contains a NUL character");
    if (ok) ok = tokenize(srv, json_string_value(content), json_is_true(as), &toks, &n, &e);
    json_decref(o);
    if (!ok) return flm_http_error(srv, c, &e);
    json_t *arr = json_array();
    for (int32_t i = 0; arr && i < n; i++) json_array_append_new(arr, json_integer(toks[i]));
    free(toks);
    json_t *res = arr ? json_pack("{s:o}", "tokens", arr) : NULL;
    char *s = res ? json_dumps(res, JSON_COMPACT) : NULL;
    json_decref(res);
    return flm_http_json(srv, c, 200, s);
}

enum MHD_Result flm_http_detokenize(struct flm_server *srv, struct MHD_Connection *c, const char *body, size_t len) {
    struct flm_serve_error e = {0};
    json_t *o = load_object(body, len, &e);
    if (!o) return flm_http_error(srv, c, &e);
    json_t *arr = json_object_get(o, "tokens");
    struct flm_model_info info;
    flm_model_get_info(srv->model, &info);
    bool ok = json_is_array(arr) || flm_serve_error_set(&e, 400, "tokens", NULL, "'tokens' must be an array of token ids");
    const size_t n = ok ? json_array_size(arr) : 0;
    int32_t *toks = malloc((n + 1) * sizeof *toks);
    if (ok && !toks) ok = flm_serve_error_set(&e, 500, NULL, NULL, "out of memory");
    for (size_t i = 0; ok && i < n; i++) {
        json_t *t = json_array_get(arr, i);
        if (!json_is_integer(t) || json_integer_value(t) < 0 || json_integer_value(t) >= info.n_vocab)
            ok = flm_serve_error_set(&e, 400, "tokens", NULL, "'tokens[%zu]' must be a token id in [0, %d)", i, info.n_vocab);
        else toks[i] = (int32_t)json_integer_value(t);
    }
    json_decref(o);
    char *text = NULL, *clean = NULL;
    size_t clen = 0, ccap = 0;
    if (ok) {
        int32_t need = -flm_detokenize(srv->model, toks, (int32_t)n, NULL, 0, false);
        text = need > 0 ? malloc((size_t)need) : NULL;
        if (!text || flm_detokenize(srv->model, toks, (int32_t)n, text, need, false) < 0 ||
            !flm_textout_sanitize(&clean, &clen, &ccap, text, strlen(text)))
            ok = flm_serve_error_set(&e, 500, NULL, NULL, "out of memory");
    }
    free(toks);
    free(text);
    if (!ok) {
        free(clean);
        return flm_http_error(srv, c, &e);
    }
    json_t *res = json_pack("{s:s}", "content", clean ? clean : "");
    free(clean);
    char *s = res ? json_dumps(res, JSON_COMPACT) : NULL;
    json_decref(res);
    return flm_http_json(srv, c, 200, s);
}

// ---------------------------------------------------------------- info

enum MHD_Result flm_http_models(struct flm_server *srv, struct MHD_Connection *c) {
    json_t *o = json_pack("{s:s, s:[{s:s, s:s, s:I, s:s}]}", "object", "list", "data", "id", srv->model_id, "object",
                          "model", "created", (json_int_t)time(NULL), "owned_by", "flashlm");
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return flm_http_json(srv, c, 200, s);
}

enum MHD_Result flm_http_health(struct flm_server *srv, struct MHD_Connection *c) {
    return flm_http_json(srv, c, 200, strdup("{\"status\":\"ok\"}"));
}

enum MHD_Result flm_http_metrics(struct flm_server *srv, struct MHD_Connection *c) {
    struct flm_sched_stats st;
    flm_sched_stats(srv->sched, &st);
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f) return flm_http_send(srv, c, 500, "text/plain", NULL);
    const struct {
        const char *name, *type, *help;
        double      v;
    } m[] = {
        {"flashlm_http_responses_2xx_total", "counter", "HTTP answers with status 2xx", (double)atomic_load(&srv->n_http[2])},
        {"flashlm_http_responses_4xx_total", "counter", "HTTP answers with status 4xx", (double)atomic_load(&srv->n_http[4])},
        {"flashlm_http_responses_5xx_total", "counter", "HTTP answers with status 5xx", (double)atomic_load(&srv->n_http[5])},
        {"flashlm_http_aborted_total", "counter", "requests whose connection closed early", (double)atomic_load(&srv->n_disconnects)},
        {"flashlm_requests_total", "counter", "completion requests admitted to the queue", (double)st.n_jobs},
        {"flashlm_prompt_tokens_total", "counter", "prompt tokens evaluated", (double)st.n_prompt_tokens},
        {"flashlm_prompt_tokens_cached_total", "counter", "prompt tokens reused from a slot's cache", (double)st.n_cached_tokens},
        {"flashlm_generated_tokens_total", "counter", "tokens generated", (double)st.n_gen_tokens},
        {"flashlm_busy_seconds_total", "counter", "seconds spent in forward passes", st.busy_seconds},
        {"flashlm_tokens_per_second", "gauge", "generated tokens per busy second since start",
         st.busy_seconds > 0 ? (double)st.n_gen_tokens / st.busy_seconds : 0},
        {"flashlm_spec_verify_steps_total", "counter", "slot steps that verified a drafted continuation (--spec)", (double)st.n_spec_passes},
        {"flashlm_spec_drafted_tokens_total", "counter", "drafted tokens verified (--spec)", (double)st.n_drafted},
        {"flashlm_spec_accepted_tokens_total", "counter", "drafted tokens accepted (--spec)", (double)st.n_accepted},
        {"flashlm_spec_acceptance_rate", "gauge", "accepted / drafted tokens since start (--spec)",
         st.n_drafted ? (double)st.n_accepted / (double)st.n_drafted : 0},
        {"flashlm_spec_mean_accepted_length", "gauge", "accepted drafted tokens per verify step since start (--spec)",
         st.n_spec_passes ? (double)st.n_accepted / (double)st.n_spec_passes : 0},
        {"flashlm_queue_length", "gauge", "requests waiting for a slot", st.n_queued},
        {"flashlm_slots_busy", "gauge", "slots generating or reading a prompt", st.n_busy},
        {"flashlm_slots_total", "gauge", "slots (--parallel)", st.n_parallel},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", m[i].name, m[i].help, m[i].name, m[i].type, m[i].name, m[i].v);
    fclose(f);
    return flm_http_send(srv, c, 200, "text/plain; version=0.0.4", s);
}

enum MHD_Result flm_http_page(struct flm_server *srv, struct MHD_Connection *c) {
    struct MHD_Response *r = MHD_create_response_from_buffer(flm_serve_page_len, (void *)flm_serve_page, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
    atomic_fetch_add(&srv->n_http[2], 1);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}
