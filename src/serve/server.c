// server.c - libmicrohttpd daemon, request bodies, API key, routing.
//
// Endpoints:
//   GET  /                     the chat page
//   GET  /health               {"status":"ok"} (open even with an API key)
//   GET  /metrics              Prometheus text
//   GET  /v1/models            the one model
//   POST /v1/chat/completions  chat, streamed (SSE) or not
//   POST /v1/completions       raw prompt, streamed or not
//   POST /tokenize, /detokenize
// Everything else is 404 (405 for a known path with the wrong method), in
// OpenAI's error shape. Client mistakes are 4xx; 503 (queue full, shutting
// down) carries Retry-After.
#include "serve/http.h"

#include "core/status.h"
#include "serve/textout.h"

#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

struct flm_serve_params flm_serve_params_default(void) {
    return (struct flm_serve_params){
        .host = "127.0.0.1",
        .port = 8080,
        .model_id = "flashlm",
        .max_body = 1 << 20,
        .max_conns = 256,
        .sched = {.n_parallel = 4, .n_queue = 64},
    };
}

// ---------------------------------------------------------------- answers

enum MHD_Result flm_http_send(struct flm_server *srv, struct MHD_Connection *c, unsigned status, const char *type,
                              char *body) {
    if (!body) {  // out of memory while building the answer
        status = 500;
        body = NULL;
    }
    struct MHD_Response *r = body ? MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE)
                                  : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == 503) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    atomic_fetch_add(&srv->n_http[status / 100 < 6 ? status / 100 : 5], 1);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result flm_http_json(struct flm_server *srv, struct MHD_Connection *c, unsigned status, char *json) {
    return flm_http_send(srv, c, status, "application/json", json);
}

enum MHD_Result flm_http_error(struct flm_server *srv, struct MHD_Connection *c, const struct flm_serve_error *e) {
    return flm_http_json(srv, c, (unsigned)e->status, flm_reply_error(e));
}

bool flm_http_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return true;
    struct pollfd pfd = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static enum MHD_Result fail(struct flm_server *srv, struct MHD_Connection *c, int status, const char *code,
                            const char *fmt, const char *arg) {
    struct flm_serve_error e;
    flm_serve_error_set(&e, status, NULL, code, fmt, arg);
    return flm_http_error(srv, c, &e);
}

// ---------------------------------------------------------------- requests

struct body {
    char  *data;
    size_t len, cap;
    bool   too_large;
};

static bool authorized(const struct flm_server *srv, struct MHD_Connection *c) {
    if (!srv->api_key) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7)) return false;
    const char *k = h + 7, *want = srv->api_key;
    size_t nk = strlen(k), nw = strlen(want);
    unsigned diff = (unsigned)(nk != nw);
    for (size_t i = 0; i < nw; i++) diff |= (unsigned)(want[i] ^ (i < nk ? k[i] : 0));  // constant time in the key
    return diff == 0;
}

static enum MHD_Result route(struct flm_server *srv, struct MHD_Connection *c, const char *url, const char *method,
                             const struct body *b) {
    const bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), post = !strcmp(method, "POST");
    static const struct {
        const char *path;
        bool        post;
    } known[] = {{"/", false},          {"/health", false},   {"/metrics", false},   {"/v1/models", false},
                 {"/v1/chat/completions", true}, {"/v1/completions", true}, {"/tokenize", true}, {"/detokenize", true}};
    int k = -1;
    for (int i = 0; i < (int)(sizeof known / sizeof known[0]); i++)
        if (!strcmp(url, known[i].path)) k = i;
    if (k < 0) return fail(srv, c, 404, "not_found", "unknown path '%.200s'", url);
    if (known[k].post ? !post : !get) return fail(srv, c, 405, "method_not_allowed", "method %.20s not allowed here", method);
    if (k > 1 && !authorized(srv, c))
        return fail(srv, c, 401, "invalid_api_key", "%s", "missing or wrong API key (Authorization: Bearer KEY)");
    switch (k) {
    case 0:  return flm_http_page(srv, c);
    case 1:  return flm_http_health(srv, c);
    case 2:  return flm_http_metrics(srv, c);
    case 3:  return flm_http_models(srv, c);
    case 4:  return flm_http_generate(srv, c, FLM_SERVE_CHAT, b->data, b->len);
    case 5:  return flm_http_generate(srv, c, FLM_SERVE_COMPLETION, b->data, b->len);
    case 6:  return flm_http_tokenize(srv, c, b->data, b->len);
    default: return flm_http_detokenize(srv, c, b->data, b->len);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state) {
    struct flm_server *srv = cls;
    struct body *b = *state;
    if (!b) {  // headers are in; the body (if any) follows in later calls
        if (!(b = calloc(1, sizeof *b))) return MHD_NO;
        *state = b;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > srv->p.max_body) {
            b->too_large = true;
            char msg[128];
            snprintf(msg, sizeof msg, "the request body (%.20s bytes) is larger than the limit of %zu bytes", cl,
                     srv->p.max_body);
            return fail(srv, c, 413, "request_too_large", "%s", msg);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!b->too_large && b->len + *upload_size > srv->p.max_body) b->too_large = true;
        if (!b->too_large) {
            if (b->len + *upload_size + 1 > b->cap) {
                size_t cap = (b->len + *upload_size + 1) * 2;
                if (cap > srv->p.max_body + 1) cap = srv->p.max_body + 1;
                char *d = realloc(b->data, cap);
                if (!d) return MHD_NO;
                b->data = d;
                b->cap = cap;
            }
            memcpy(b->data + b->len, upload, *upload_size);
            b->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (b->too_large) return fail(srv, c, 413, "request_too_large", "%s", "the request body is larger than the limit");
    return route(srv, c, url, method, b);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode why) {
    struct flm_server *srv = cls;
    struct body *b = *state;
    if (why != MHD_REQUEST_TERMINATED_COMPLETED_OK) atomic_fetch_add(&srv->n_disconnects, 1);
    if (b) free(b->data);
    free(b);
    *state = NULL;
}

static void no_log(void *cls, const char *fmt, va_list ap) {}  // the library never prints

// ---------------------------------------------------------------- lifetime

static char *model_id_utf8(const char *id) {
    char *out = NULL;
    size_t len = 0, cap = 0;
    if (!flm_textout_sanitize(&out, &len, &cap, id ? id : "flashlm", strlen(id ? id : "flashlm"))) return NULL;
    return out;
}

flm_status flm_serve_start(struct flm_server **out, const struct flm_model *model, const struct flm_serve_params *p,
                           struct flm_err *err) {
    *out = NULL;
    struct flm_server *srv = calloc(1, sizeof *srv);
    if (!srv) return flm_err_set(err, FLM_ERR_NOMEM, "serve: out of memory");
    srv->model = model;
    srv->p = *p;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    srv->t_start = (double)ts.tv_sec + ts.tv_nsec * 1e-9;
    srv->model_id = model_id_utf8(p->model_id);
    srv->api_key = p->api_key && p->api_key[0] ? strdup(p->api_key) : NULL;
    if (!srv->model_id || (p->api_key && p->api_key[0] && !srv->api_key)) {
        flm_serve_stop(srv);
        return flm_err_set(err, FLM_ERR_NOMEM, "serve: out of memory");
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", p->port);
    int gai = getaddrinfo(p->host, port, &hints, &ai);
    if (gai) {
        flm_serve_stop(srv);
        return flm_err_set(err, FLM_ERR_INVALID, "serve: cannot resolve host '%s': %s", p->host, gai_strerror(gai));
    }
    flm_status st = flm_sched_init(&srv->sched, model, &p->sched, err);
    if (st) {
        freeaddrinfo(ai);
        flm_serve_stop(srv);
        return st;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    srv->daemon = MHD_start_daemon(flags, p->port, NULL, NULL, on_request, srv,
                                   MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                   MHD_OPTION_EXTERNAL_LOGGER, no_log, NULL,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                   MHD_OPTION_CONNECTION_LIMIT, (unsigned)p->max_conns,
                                   MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                                   MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
                                   MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                                   MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!srv->daemon) {
        flm_serve_stop(srv);
        return flm_err_set(err, FLM_ERR_IO, "serve: cannot listen on %s:%u (in use, or no permission)", p->host, p->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : p->port;
    *out = srv;
    return FLM_OK;
}

uint16_t flm_serve_port(const struct flm_server *srv) { return srv->port; }

void flm_serve_stop(struct flm_server *srv) {
    if (!srv) return;
    if (srv->daemon) MHD_quiesce_daemon(srv->daemon);  // no new connections
    flm_sched_shutdown(srv->sched);                     // in-flight jobs end; their streams finish
    for (int i = 0; i < 500 && atomic_load(&srv->n_generating) > 0; i++) nanosleep(&(struct timespec){0, 10000000}, NULL);
    if (srv->daemon) MHD_stop_daemon(srv->daemon);      // joins the connection threads
    flm_sched_free(srv->sched);
    free(srv->api_key);
    free(srv->model_id);
    free(srv);
}
