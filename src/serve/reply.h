// reply.h - the JSON the server answers with: OpenAI's error shape,
// completion objects and stream chunks, built with jansson.
//
// Every builder returns a malloc'd NUL-terminated string (NULL when out of
// memory); text handed in must be UTF-8 (textout sanitizes generated text).
#ifndef FLM_SERVE_REPLY_H
#define FLM_SERVE_REPLY_H

#include "serve/request.h"
#include "serve/sched.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

// {"error": {"message", "type", "param", "code"}}
char *flm_reply_error(const struct flm_serve_error *e);

// What every completion object of one request shares.
struct flm_reply_head {
    enum flm_serve_kind kind;
    char                id[48];   // "chatcmpl-..." / "cmpl-..."
    long long           created;  // unix seconds
    const char         *model;
};

const char *flm_reply_finish_reason(enum flm_finish f);  // "stop", "length" or NULL (JSON null)

// This request's speculation figures (server started with --spec).
struct flm_reply_spec {
    int32_t n_steps, n_drafted, n_accepted;
};

// Non-streamed: the whole completion with usage, and with spec (NULL: none)
// a "speculation" object: verify_steps, drafted_tokens, accepted_tokens,
// acceptance_rate, mean_accepted_length.
char *flm_reply_completion(const struct flm_reply_head *h, const char *text, enum flm_finish f, int32_t n_prompt,
                           int32_t n_gen, const struct flm_reply_spec *spec);
// One stream chunk: text (may be NULL: no content key), role on the first
// chat chunk, finish reason on the last. As "data: {...}\n\n".
char *flm_reply_chunk(const struct flm_reply_head *h, const char *text, bool role, enum flm_finish f);
// The usage chunk (empty choices) of stream_options.include_usage.
char *flm_reply_usage_chunk(const struct flm_reply_head *h, int32_t n_prompt, int32_t n_gen);

#endif
