// serve.h - the OpenAI-compatible HTTP server behind `flashlm serve`.
//
// flm_serve_start binds the address, starts the scheduler (continuous
// batching over --parallel slots, sched.h) and libmicrohttpd's threads, and
// returns; requests are served until flm_serve_stop, which stops listening,
// ends every in-flight request (streams get an error event and [DONE]) and
// frees everything. Endpoints and error shapes are listed in server.c.
#ifndef FLM_SERVE_SERVE_H
#define FLM_SERVE_SERVE_H

#include "flashlm.h"
#include "serve/sched.h"

#include <stddef.h>
#include <stdint.h>

struct flm_server;

struct flm_serve_params {
    const char             *host;        // address to bind (default loopback)
    uint16_t                port;        // 0: any free port (see flm_serve_port)
    const char             *api_key;     // NULL: no key; else "Authorization: Bearer KEY" on all but /health and /
    const char             *model_id;    // the name /v1/models reports and responses carry
    size_t                  max_body;    // bytes; larger request bodies get 413
    int32_t                 max_conns;   // open connections at most (each has a thread)
    struct flm_sched_params sched;
};
struct flm_serve_params flm_serve_params_default(void);

flm_status flm_serve_start(struct flm_server **out, const struct flm_model *model, const struct flm_serve_params *p,
                           struct flm_err *err);
uint16_t   flm_serve_port(const struct flm_server *srv);
void       flm_serve_stop(struct flm_server *srv);  // NULL: no-op

#endif
