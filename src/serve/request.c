// request.c - OpenAI request bodies -> struct flm_serve_req, with jansson.
#include "serve/request.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool flm_serve_error_set(struct flm_serve_error *e, int status, const char *param, const char *code, const char *fmt,
                         ...) {
    e->status = status;
    e->type = status == 401 ? "authentication_error" : status >= 500 ? "server_error" : "invalid_request_error";
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

#define FAIL(param, ...) flm_serve_error_set(e, 400, param, NULL, __VA_ARGS__)

// ---------------------------------------------------------------- fields

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:  return "an object";
    case JSON_ARRAY:   return "an array";
    case JSON_STRING:  return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL:    return "a number";
    case JSON_TRUE:
    case JSON_FALSE:   return "a boolean";
    default:           return "null";
    }
}

// An optional number in [lo, hi]; absent or null leaves *out.
static bool get_num(json_t *o, const char *key, double lo, double hi, float *out, struct flm_serve_error *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v)) return FAIL(key, "'%s' must be a number, not %s", key, type_name(v));
    const double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi) return FAIL(key, "'%s' is %g; it must be between %g and %g", key, d, lo, hi);
    *out = (float)d;
    return true;
}

static bool get_bool(json_t *o, const char *key, bool *out, struct flm_serve_error *e) {
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_boolean(v)) return FAIL(key, "'%s' must be a boolean, not %s", key, type_name(v));
    *out = json_is_true(v);
    return true;
}

static char *dup_str(const json_t *s) {
    const size_t n = json_string_length(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, json_string_value(s), n + 1);
    return d;
}

static bool get_max_tokens(json_t *o, struct flm_serve_req *r, struct flm_serve_error *e) {
    static const char *const keys[] = {"max_completion_tokens", "max_tokens"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(o, keys[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_integer(v)) return FAIL(keys[i], "'%s' must be an integer, not %s", keys[i], type_name(v));
        const json_int_t n = json_integer_value(v);
        if (n < 1 || n > (1 << 30)) return FAIL(keys[i], "'%s' is %lld; it must be at least 1", keys[i], (long long)n);
        r->max_tokens = (int32_t)n;
        return true;
    }
    return true;
}

static bool get_stop(json_t *o, struct flm_serve_req *r, struct flm_serve_error *e) {
    json_t *v = json_object_get(o, "stop");
    if (!v || json_is_null(v)) return true;
    json_t *one = json_is_string(v) ? v : NULL;
    if (!one && !json_is_array(v)) return FAIL("stop", "'stop' must be a string or an array of strings, not %s", type_name(v));
    const size_t n = one ? 1 : json_array_size(v);
    if (n > FLM_TEXTOUT_MAX_STOP) return FAIL("stop", "'stop' has %zu sequences; at most %d are allowed", n, FLM_TEXTOUT_MAX_STOP);
    for (size_t i = 0; i < n; i++) {
        json_t *s = one ? one : json_array_get(v, i);
        if (!json_is_string(s)) return FAIL("stop", "'stop[%zu]' must be a string, not %s", i, type_name(s));
        if (json_string_length(s) == 0) return FAIL("stop", "'stop[%zu]' is empty", i);
        if (json_string_length(s) > 256) return FAIL("stop", "'stop[%zu]' is longer than 256 bytes", i);
        if (!(r->stop[r->n_stop] = dup_str(s))) return flm_serve_error_set(e, 500, NULL, NULL, "out of memory");
        r->n_stop++;
    }
    return true;
}

static bool get_sampling(json_t *o, struct flm_serve_req *r, struct flm_serve_error *e) {
    struct flm_sampler_params *sp = &r->sp;
    if (!get_num(o, "temperature", 0, 2, &sp->temperature, e)) return false;
    if (!get_num(o, "top_p", 0, 1, &sp->top_p, e)) return false;
    if (!get_num(o, "presence_penalty", -2, 2, &sp->presence_penalty, e)) return false;
    if (!get_num(o, "frequency_penalty", -2, 2, &sp->frequency_penalty, e)) return false;
    if (sp->top_p == 0) sp->temperature = 0;  // nothing but the best token survives
    if (sp->top_p == 0) sp->top_p = 1;
    json_t *v = json_object_get(o, "seed");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v)) return FAIL("seed", "'seed' must be an integer, not %s", type_name(v));
        sp->seed = (uint64_t)json_integer_value(v);
        r->has_seed = true;
    }
    v = json_object_get(o, "n");
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
        return FAIL("n", "only 'n' = 1 is supported");
    static const char *const refused[] = {"tools", "functions", "logprobs", "best_of", "suffix", "echo"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        v = json_object_get(o, refused[i]);
        if (v && !json_is_null(v) && !json_is_false(v) && !(json_is_array(v) && json_array_size(v) == 0) &&
            !(!strcmp(refused[i], "best_of") && json_is_integer(v) && json_integer_value(v) == 1))
            return FAIL(refused[i], "'%s' is not supported by this server", refused[i]);
    }
    return true;
}

// ---------------------------------------------------------------- messages

static const char *role_of(const char *s) {
    if (!strcmp(s, "system") || !strcmp(s, "developer")) return "system";
    if (!strcmp(s, "user")) return "user";
    if (!strcmp(s, "assistant")) return "assistant";
    return NULL;
}

// content: a string, null (assistant), or an array of {"type":"text","text":...} parts.
static bool get_content(json_t *c, size_t i, const char *role, char **out, struct flm_serve_error *e) {
    char param[64];
    snprintf(param, sizeof param, "messages[%zu].content", i);
    if (json_is_string(c)) return (*out = dup_str(c)) != NULL || flm_serve_error_set(e, 500, NULL, NULL, "out of memory");
    if ((!c || json_is_null(c)) && !strcmp(role, "assistant")) return (*out = strdup("")) != NULL;
    if (!c) return FAIL(param, "'%s' is missing", param);
    if (!json_is_array(c)) return FAIL(param, "'%s' must be a string or an array of text parts, not %s", param, type_name(c));
    size_t len = 0, k;
    json_t *part;
    json_array_foreach(c, k, part) {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_object(part) || !json_is_string(type) || strcmp(json_string_value(type), "text") || !json_is_string(text))
            return FAIL(param, "'%s[%zu]' must be {\"type\": \"text\", \"text\": \"...\"} (only text is supported)", param, k);
        len += json_string_length(text);
    }
    if (!(*out = malloc(len + 1))) return flm_serve_error_set(e, 500, NULL, NULL, "out of memory");
    len = 0;
    json_array_foreach(c, k, part) {
        json_t *text = json_object_get(part, "text");
        memcpy(*out + len, json_string_value(text), json_string_length(text));
        len += json_string_length(text);
    }
    (*out)[len] = '\0';
    return true;
}

static bool get_messages(json_t *o, struct flm_serve_req *r, struct flm_serve_error *e) {
    json_t *m = json_object_get(o, "messages");
    if (!m) return FAIL("messages", "'messages' is missing");
    if (!json_is_array(m)) return FAIL("messages", "'messages' must be an array, not %s", type_name(m));
    const size_t n = json_array_size(m);
    if (n == 0) return FAIL("messages", "'messages' is empty; it needs at least one message");
    if (!(r->msgs = calloc(n, sizeof *r->msgs))) return flm_serve_error_set(e, 500, NULL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_array_get(m, i), *role = json_object_get(msg, "role");
        char param[64];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(msg)) return FAIL(param, "'%s' must be an object, not %s", param, type_name(msg));
        snprintf(param, sizeof param, "messages[%zu].role", i);
        if (!json_is_string(role)) return FAIL(param, "'%s' must be a string", param);
        const char *rs = role_of(json_string_value(role));
        if (!rs)
            return FAIL(param, "'%s' is '%.40s'; it must be system, developer, user or assistant", param,
                        json_string_value(role));
        r->msgs[i].role = rs;
        char *content = NULL;
        if (!get_content(json_object_get(msg, "content"), i, rs, &content, e)) return false;
        r->msgs[i].content = content;
        r->n_msgs = i + 1;
    }
    return true;
}

static bool get_prompt(json_t *o, struct flm_serve_req *r, struct flm_serve_error *e) {
    json_t *p = json_object_get(o, "prompt");
    if (!p) return FAIL("prompt", "'prompt' is missing");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0))) p = json_array_get(p, 0);
    if (!json_is_string(p)) return FAIL("prompt", "'prompt' must be a string (or an array of one string), not %s", type_name(p));
    if (json_string_length(p) == 0) return FAIL("prompt", "'prompt' is empty");
    return (r->prompt = dup_str(p)) != NULL || flm_serve_error_set(e, 500, NULL, NULL, "out of memory");
}

// ---------------------------------------------------------------- request

static bool parse_obj(json_t *o, enum flm_serve_kind kind, struct flm_serve_req *r, struct flm_serve_error *e) {
    json_t *model = json_object_get(o, "model");
    if (model && !json_is_null(model) && !json_is_string(model))
        return FAIL("model", "'model' must be a string, not %s", type_name(model));
    if (!(r->model = model && json_is_string(model) ? dup_str(model) : strdup("")))
        return flm_serve_error_set(e, 500, NULL, NULL, "out of memory");
    if (!(kind == FLM_SERVE_CHAT ? get_messages(o, r, e) : get_prompt(o, r, e))) return false;
    if (!get_max_tokens(o, r, e) || !get_stop(o, r, e) || !get_sampling(o, r, e)) return false;
    if (!get_bool(o, "stream", &r->stream, e)) return false;
    json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) return FAIL("stream_options", "'stream_options' must be an object, not %s", type_name(so));
        if (!r->stream) return FAIL("stream_options", "'stream_options' is only allowed when 'stream' is true");
        json_t *iu = json_object_get(so, "include_usage");
        if (iu && !json_is_null(iu) && !json_is_boolean(iu))
            return FAIL("stream_options.include_usage", "'stream_options.include_usage' must be a boolean, not %s", type_name(iu));
        r->include_usage = json_is_true(iu);
    }
    return true;
}

bool flm_serve_req_parse(const char *body, size_t len, enum flm_serve_kind kind, struct flm_serve_req *out,
                         struct flm_serve_error *e) {
    memset(out, 0, sizeof *out);
    out->kind = kind;
    out->max_tokens = -1;
    out->sp = flm_sampler_params_default();
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) return flm_serve_error_set(e, 400, NULL, "invalid_json", "invalid JSON body at byte %d: %s", je.position, je.text);
    bool ok = json_is_object(o) ? parse_obj(o, kind, out, e) : FAIL(NULL, "the body must be a JSON object, not %s", type_name(o));
    json_decref(o);
    if (!ok) flm_serve_req_free(out);
    return ok;
}

void flm_serve_req_free(struct flm_serve_req *r) {
    for (size_t i = 0; i < r->n_msgs; i++) free((void *)r->msgs[i].content);
    free(r->msgs);
    free(r->prompt);
    free(r->model);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    memset(r, 0, sizeof *r);
}
