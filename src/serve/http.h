// http.h - what the server's files share: the server handle, the answer
// helpers over libmicrohttpd, and the endpoint handlers.
//
// Threads: libmicrohttpd runs one thread per connection; a handler may block
// (it waits on its job), and it notices a client that went away by polling
// the connection's socket for a hang-up between waits.
#ifndef FLM_SERVE_HTTP_H
#define FLM_SERVE_HTTP_H

#include "serve/reply.h"
#include "serve/request.h"
#include "serve/sched.h"
#include "serve/serve.h"

#include <microhttpd.h>
#include <stdatomic.h>
#include <stdbool.h>

struct flm_server {
    const struct flm_model *model;
    struct flm_sched       *sched;
    struct MHD_Daemon      *daemon;
    struct flm_serve_params p;
    char                   *api_key;   // owned copy
    char                   *model_id;  // owned, UTF-8
    uint16_t                port;
    double                  t_start;
    atomic_uint_least64_t   n_ids;      // completion ids handed out
    atomic_uint_least64_t   n_http[6];  // answers by status class: [2] 2xx, [4] 4xx, [5] 5xx
    atomic_uint_least64_t   n_disconnects;
    atomic_int              n_generating;  // completion requests not yet answered in full
};

// ---- answers (server.c). Each queues a response and returns MHD's result.
enum MHD_Result flm_http_send(struct flm_server *srv, struct MHD_Connection *c, unsigned status, const char *type,
                              char *body);  // takes body (malloc'd)
enum MHD_Result flm_http_json(struct flm_server *srv, struct MHD_Connection *c, unsigned status, char *json);
enum MHD_Result flm_http_error(struct flm_server *srv, struct MHD_Connection *c, const struct flm_serve_error *e);
// True when the client closed its side of the connection.
bool flm_http_gone(struct MHD_Connection *c);

// ---- endpoints (handlers.c, stream.c)
enum MHD_Result flm_http_generate(struct flm_server *srv, struct MHD_Connection *c, enum flm_serve_kind kind,
                                  const char *body, size_t len);
enum MHD_Result flm_http_tokenize(struct flm_server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result flm_http_detokenize(struct flm_server *srv, struct MHD_Connection *c, const char *body, size_t len);
enum MHD_Result flm_http_models(struct flm_server *srv, struct MHD_Connection *c);
enum MHD_Result flm_http_health(struct flm_server *srv, struct MHD_Connection *c);
enum MHD_Result flm_http_metrics(struct flm_server *srv, struct MHD_Connection *c);
enum MHD_Result flm_http_page(struct flm_server *srv, struct MHD_Connection *c);

// Streams a submitted job as server-sent events; takes the job.
enum MHD_Result flm_http_stream(struct flm_server *srv, struct MHD_Connection *c, struct flm_job *job,
                                const struct flm_reply_head *h, bool include_usage);

// The chat page (generated from page.html at build time).
extern const char   flm_serve_page[];
extern const size_t flm_serve_page_len;

#endif
