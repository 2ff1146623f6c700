// cli_serve.c - `flashlm serve`: opens the model, starts the server, waits
// for SIGINT or SIGTERM, then shuts it down cleanly.
#include "cli.h"

#include "serve/serve.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

// The model's file name without folders and ".gguf": what /v1/models lists.
static void model_id(const char *path, char *out, size_t n) {
    const char *base = strrchr(path, '/');
    snprintf(out, n, "%s", base ? base + 1 : path);
    size_t len = strlen(out);
    if (len > 5 && !strcmp(out + len - 5, ".gguf")) out[len - 5] = '\0';
}

int cmd_serve(const struct opts *o) {
    // Every thread the server starts inherits this mask, so the signals
    // reach only sigwait below; a closed socket must not kill the process.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct flm_err err = {0};
    struct flm_model *model = NULL;
    struct flm_model_params mp = flm_model_params_default();
    mp.use_mmap = !o->no_mmap;
    mp.mem_budget = o->mem_budget;  // weights beyond it stream from the file (src/store/)
    if (flm_model_open(&model, o->model, &mp, &err)) {
        fprintf(stderr, "flashlm: %s\n", err.msg);
        return 1;
    }
    char id[256];
    model_id(o->model, id, sizeof id);
    struct flm_serve_params p = flm_serve_params_default();
    if (o->host) p.host = o->host;
    p.port = (uint16_t)o->port;
    p.api_key = o->api_key;
    p.model_id = id;
    p.sched.n_parallel = o->parallel;
    p.sched.n_queue = o->queue;
    p.sched.n_ctx = o->n_ctx;
    if (o->mem_budget && !p.sched.n_ctx) p.sched.n_ctx = 1024;  // under a budget the KV caches are sized, not maximal
    p.sched.n_batch = o->n_batch;
    p.sched.n_threads = o->n_threads;
    p.sched.spec = o->spec;
    struct flm_server *srv = NULL;
    if (flm_serve_start(&srv, model, &p, &err)) {
        fprintf(stderr, "flashlm: %s\n", err.msg);
        flm_model_free(model);
        return 1;
    }
    fprintf(stderr, "flashlm: serving %s on http://%s:%u/ (%d slots%s%s)\n", id, p.host, flm_serve_port(srv),
            p.sched.n_parallel, p.api_key ? ", API key required" : "",
            p.sched.spec.mode == FLM_SPEC_LOOKUP ? ", prompt-lookup speculation" : "");
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "flashlm: %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    flm_serve_stop(srv);
    flm_model_free(model);
    fprintf(stderr, "flashlm: stopped\n");
    return 0;
}
