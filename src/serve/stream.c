// stream.c - a job as server-sent events (OpenAI's streaming format).
//
// libmicrohttpd pulls bytes through read_cb on the connection's own thread;
// the callback blocks on the job (in short waits, polling the socket for a
// hang-up in between) until it has a chunk to send. The stream ends with the
// finish chunk, the usage chunk when asked for, and "data: [DONE]". When the
// client goes away, free_cb releases the job, which cancels it and frees its
// slot at the scheduler's next step.
#include "serve/http.h"

#include <stdlib.h>
#include <string.h>

struct stream {
    struct flm_server    *srv;
    struct MHD_Connection *conn;
    struct flm_job       *job;
    struct flm_reply_head h;
    bool                  include_usage;
    bool                  started, ended;
    struct flm_job_out    out;
    char                 *pend;  // formatted bytes not yet handed to MHD
    size_t                pend_len, pend_off;
};

// Appends an SSE event (taking ev); false when out of memory.
static bool put(struct stream *s, char *ev) {
    if (!ev) return false;
    const size_t n = strlen(ev), left = s->pend_len - s->pend_off;
    char *p = malloc(left + n + 1);
    if (!p) {
        free(ev);
        return false;
    }
    if (left) memcpy(p, s->pend + s->pend_off, left);
    memcpy(p + left, ev, n + 1);
    free(ev);
    free(s->pend);
    s->pend = p;
    s->pend_len = left + n;
    s->pend_off = 0;
    return true;
}

static bool put_end(struct stream *s) {
    bool ok = true;
    if (s->out.finish == FLM_FINISH_ABORT) {
        struct flm_serve_error e;
        flm_serve_error_set(&e, 503, NULL, "generation_aborted", "%s", s->out.error);
        e.type = "server_error";
        char *j = flm_reply_error(&e), *ev = j ? malloc(strlen(j) + 9) : NULL;
        if (ev) strcat(strcat(strcpy(ev, "data: "), j), "\n\n");
        free(j);
        ok = put(s, ev);
    } else {
        ok = put(s, flm_reply_chunk(&s->h, NULL, false, s->out.finish));
    }
    if (ok && s->include_usage) ok = put(s, flm_reply_usage_chunk(&s->h, s->out.n_prompt, s->out.n_gen));
    return ok && put(s, strdup("data: [DONE]\n\n"));
}

// Fills s->pend with the next event(s); false when the client left or memory ran out.
static bool produce(struct stream *s) {
    if (!s->started) {
        s->started = true;
        if (s->h.kind == FLM_SERVE_CHAT) return put(s, flm_reply_chunk(&s->h, "", true, FLM_FINISH_NONE));
    }
    for (;;) {
        flm_job_wait(s->job, 100, &s->out);
        if (s->out.len) {
            bool ok = put(s, flm_reply_chunk(&s->h, s->out.text, false, FLM_FINISH_NONE));
            s->out.len = 0;
            return ok;
        }
        if (s->out.done) {
            s->ended = true;
            return put_end(s);
        }
        if (flm_http_gone(s->conn)) return false;
    }
}

static ssize_t read_cb(void *cls, uint64_t pos, char *buf, size_t max) {
    struct stream *s = cls;
    if (s->pend_off == s->pend_len) {
        if (s->ended) return MHD_CONTENT_READER_END_OF_STREAM;
        if (!produce(s)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = s->pend_len - s->pend_off;
    if (n > max) n = max;
    memcpy(buf, s->pend + s->pend_off, n);
    s->pend_off += n;
    return (ssize_t)n;
}

static void free_cb(void *cls) {
    struct stream *s = cls;
    flm_job_release(s->job);  // cancels it if the client left early
    atomic_fetch_sub(&s->srv->n_generating, 1);
    free(s->out.text);
    free(s->pend);
    free(s);
}

enum MHD_Result flm_http_stream(struct flm_server *srv, struct MHD_Connection *c, struct flm_job *job,
                                const struct flm_reply_head *h, bool include_usage) {
    struct stream *s = calloc(1, sizeof *s);
    atomic_fetch_add(&srv->n_generating, 1);  // until free_cb
    if (!s) {
        atomic_fetch_sub(&srv->n_generating, 1);
        flm_job_release(job);
        return MHD_NO;
    }
    *s = (struct stream){.srv = srv, .conn = c, .job = job, .h = *h, .include_usage = include_usage};
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, read_cb, s, free_cb);
    if (!r) {
        free_cb(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    atomic_fetch_add(&srv->n_http[2], 1);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}
