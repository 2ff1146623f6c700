// reply.c - OpenAI response objects.
#include "serve/reply.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Serializes and frees o; NULL when o is NULL or out of memory.
static char *dump(json_t *o) {
    if (!o) return NULL;
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static char *sse(char *json) {
    if (!json) return NULL;
    const size_t n = strlen(json);
    char *s = malloc(n + 9);
    if (s) {
        memcpy(s, "data: ", 6);
        memcpy(s + 6, json, n);
        memcpy(s + 6 + n, "\n\n", 3);
    }
    free(json);
    return s;
}

char *flm_reply_error(const struct flm_serve_error *e) {
    json_t *err = json_pack("{s:s, s:s, s:o, s:o}", "message", e->message, "type", e->type ? e->type : "invalid_request_error",
                            "param", e->param[0] ? json_string(e->param) : json_null(), "code",
                            e->code ? json_string(e->code) : json_null());
    return dump(err ? json_pack("{s:o}", "error", err) : NULL);
}

const char *flm_reply_finish_reason(enum flm_finish f) {
    switch (f) {
    case FLM_FINISH_STOP:   return "stop";
    case FLM_FINISH_LENGTH: return "length";
    case FLM_FINISH_ABORT:  return "stop";
    default:                return NULL;
    }
}

static json_t *finish_json(enum flm_finish f) {
    const char *r = flm_reply_finish_reason(f);
    return r ? json_string(r) : json_null();
}

static json_t *usage(int32_t n_prompt, int32_t n_gen) {
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", n_prompt, "completion_tokens", n_gen, "total_tokens",
                     n_prompt + n_gen);
}

static json_t *head(const struct flm_reply_head *h, const char *object) {
    return json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", h->id, "object", object, "created", (json_int_t)h->created,
                     "model", h->model, "system_fingerprint", "flashlm");
}

static json_t *spec_json(const struct flm_reply_spec *sp) {
    return json_pack("{s:i, s:i, s:i, s:f, s:f}", "verify_steps", sp->n_steps, "drafted_tokens", sp->n_drafted,
                     "accepted_tokens", sp->n_accepted, "acceptance_rate",
                     sp->n_drafted ? (double)sp->n_accepted / sp->n_drafted : 0.0, "mean_accepted_length",
                     sp->n_steps ? (double)sp->n_accepted / sp->n_steps : 0.0);
}

char *flm_reply_completion(const struct flm_reply_head *h, const char *text, enum flm_finish f, int32_t n_prompt,
                           int32_t n_gen, const struct flm_reply_spec *spec) {
    const bool chat = h->kind == FLM_SERVE_CHAT;
    json_t *o = head(h, chat ? "chat.completion" : "text_completion");
    json_t *choice = chat ? json_pack("{s:i, s:{s:s, s:s}, s:n, s:o}", "index", 0, "message", "role", "assistant",
                                      "content", text, "logprobs", "finish_reason", finish_json(f))
                          : json_pack("{s:i, s:s, s:n, s:o}", "index", 0, "text", text, "logprobs", "finish_reason",
                                      finish_json(f));
    if (!o || !choice || json_object_set_new(o, "choices", json_pack("[o]", choice)) ||
        json_object_set_new(o, "usage", usage(n_prompt, n_gen)) ||
        (spec && json_object_set_new(o, "speculation", spec_json(spec)))) {
        json_decref(o);
        return NULL;
    }
    return dump(o);
}

char *flm_reply_chunk(const struct flm_reply_head *h, const char *text, bool role, enum flm_finish f) {
    const bool chat = h->kind == FLM_SERVE_CHAT;
    json_t *o = head(h, chat ? "chat.completion.chunk" : "text_completion");
    json_t *choice = json_pack("{s:i, s:n, s:o}", "index", 0, "logprobs", "finish_reason", finish_json(f));
    if (!o || !choice) {
        json_decref(o);
        json_decref(choice);
        return NULL;
    }
    if (chat) {
        json_t *delta = json_object();
        if (role) json_object_set_new(delta, "role", json_string("assistant"));
        if (text) json_object_set_new(delta, "content", json_string(text));
        json_object_set_new(choice, "delta", delta);
    } else {
        json_object_set_new(choice, "text", json_string(text ? text : ""));
    }
    json_object_set_new(o, "choices", json_pack("[o]", choice));
    return sse(dump(o));
}

char *flm_reply_usage_chunk(const struct flm_reply_head *h, int32_t n_prompt, int32_t n_gen) {
    json_t *o = head(h, h->kind == FLM_SERVE_CHAT ? "chat.completion.chunk" : "text_completion");
    if (!o) return NULL;
    json_object_set_new(o, "choices", json_array());
    json_object_set_new(o, "usage", usage(n_prompt, n_gen));
    return sse(dump(o));
}
