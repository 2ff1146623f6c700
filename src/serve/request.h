// request.h - parses and validates the JSON body of an OpenAI request.
//
// Pure: no model, no network. Every fault becomes a struct flm_serve_error
// with the HTTP status (400, or 413/404 from the HTTP layer), OpenAI's error
// type and code, and the parameter at fault ("messages[2].content",
// "temperature"), so the client sees which field to fix. Unknown fields are
// ignored, as OpenAI's own server and llama-server do; fields flashlm cannot
// honour (n > 1, tools, logprobs) are refused rather than silently dropped.
#ifndef FLM_SERVE_REQUEST_H
#define FLM_SERVE_REQUEST_H

#include "flashlm.h"
#include "serve/textout.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flm_serve_error {
    int         status;   // HTTP status
    const char *type;     // "invalid_request_error", "authentication_error", ...
    const char *code;     // OpenAI code or NULL
    char        param[96];
    char        message[512];
};

// Fills e and returns false, so parsers can `return serve_fail(...)`.
bool flm_serve_error_set(struct flm_serve_error *e, int status, const char *param, const char *code, const char *fmt,
                         ...) __attribute__((format(printf, 5, 6)));

enum flm_serve_kind {
    FLM_SERVE_CHAT,        // POST /v1/chat/completions
    FLM_SERVE_COMPLETION,  // POST /v1/completions
};

struct flm_serve_req {
    enum flm_serve_kind       kind;
    struct flm_chat_msg      *msgs;    // chat: roles are static strings, contents owned
    size_t                    n_msgs;
    char                     *prompt;  // completion: owned
    char                     *model;   // owned; "" when absent
    int32_t                   max_tokens;  // -1: until end of generation or the context is full
    struct flm_sampler_params sp;
    bool                      has_seed;
    bool                      stream;
    bool                      include_usage;
    char                     *stop[FLM_TEXTOUT_MAX_STOP];  // owned, non-empty
    int                       n_stop;
};

// Parses body[0..len). On failure fills e (status 400) and leaves *out empty.
bool flm_serve_req_parse(const char *body, size_t len, enum flm_serve_kind kind, struct flm_serve_req *out,
                         struct flm_serve_error *e);
void flm_serve_req_free(struct flm_serve_req *r);

#endif
