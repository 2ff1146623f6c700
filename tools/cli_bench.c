// cli_bench.c - `flashlm bench`: prompt processing and generation speed, like
// llama-bench: for each repetition, a fresh context evaluates p prompt tokens
// in one pass, then generates n tokens one at a time (greedy, no stop). It
// reports the median and the spread (min..max) of tokens/s, the peak resident
// memory of the process, and the effective bandwidth of generation (weight
// bytes one token reads / time per token). Under --mem-budget it also
// reports, per generated token, the bytes read from the file, the time the
// forward pass waited for reads and the time left for computing, and, with
// --sparsity on a bundled file, the neuron cache's hit rate and reads over
// the generated tokens (null without a neuron cache).
//
// With --spec it measures speculative decoding instead: each repetition
// generates -n tokens greedily from the same prompt (-f FILE, else -p tokens
// of synthetic text) once plainly and once with speculation, alternating
// which goes first, and reports both tokens/s (median), their ratio, the
// acceptance rate, the mean accepted length and whether the outputs agree.
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct stat3 {
    double median, min, max;
};

static struct stat3 summarize(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return (struct stat3){n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
}

struct io_sum {
    double bytes, wait, seconds;        // over the generation phases
    double lookups, hits, neuron_bytes; // of the neuron cache, over the same
    int    tokens;
};

// One repetition: returns 0 and the two rates, or 1 after printing the error.
static int bench_once(struct engine *e, const struct opts *o, const int32_t *prompt, double *pp, double *tg,
                      struct io_sum *io) {
    struct flm_err err = {0};
    if (flm_context_truncate(e->ctx, 0, &err)) goto fail;
    double t0 = cli_now();
    if (o->bench_p > 0 && flm_eval(e->ctx, prompt, o->bench_p, false, &err)) goto fail;
    double t1 = cli_now();
    struct flm_model_io a, b;
    flm_model_get_io(e->model, &a);
    int32_t tok = flm_token_bos(e->model) >= 0 ? flm_token_bos(e->model) : 1;
    for (int i = 0; i < o->bench_n; i++) {
        if (flm_eval(e->ctx, &tok, 1, false, &err)) goto fail;
        tok = flm_sampler_sample(e->smp, flm_get_logits(e->ctx, -1));
    }
    double t2 = cli_now();
    flm_model_get_io(e->model, &b);
    if (io) {
        io->bytes += (double)(b.bytes_read - a.bytes_read);
        io->wait += b.io_wait_seconds - a.io_wait_seconds;
        io->seconds += t2 - t1;
        io->lookups += (double)(b.neuron_lookups - a.neuron_lookups);
        io->hits += (double)(b.neuron_hits - a.neuron_hits);
        io->neuron_bytes += (double)(b.neuron_bytes_read - a.neuron_bytes_read);
        io->tokens += o->bench_n;
    }
    *pp = o->bench_p > 0 ? o->bench_p / (t1 - t0) : 0;
    *tg = o->bench_n > 0 ? o->bench_n / (t2 - t1) : 0;
    return 0;
fail:
    fprintf(stderr, "flashlm bench: %s\n", err.msg);
    return 1;
}

// ---------------------------------------------------------------- speculation

struct spec_run {
    int32_t toks[4096];
    int32_t n;
};

static bool keep_tok(void *user, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    struct spec_run *r = user;
    if (r->n < 4096) r->toks[r->n++] = token;
    return true;
}

// One generation from prompt on a cleared context; the tokens/s of its decoding.
static int spec_once(struct engine *e, const struct opts *o, bool spec, const int32_t *prompt, int32_t n_prompt,
                     struct spec_run *out, double *tok_s) {
    struct flm_err err = {0};
    struct flm_gen_stats st = {0};
    out->n = 0;
    flm_sampler_reset(e->smp);
    flm_status s = flm_context_truncate(e->ctx, 0, &err);
    if (!s)
        s = spec ? flm_generate_spec(e->spec, e->smp, prompt, n_prompt, o->bench_n, keep_tok, out, &st, &err)
                 : flm_generate_tokens(e->ctx, e->smp, prompt, n_prompt, o->bench_n, keep_tok, out, &st, &err);
    if (s) {
        fprintf(stderr, "flashlm bench: %s\n", err.msg);
        return 1;
    }
    *tok_s = st.gen_seconds > 0 ? st.n_generated / st.gen_seconds : 0;
    return 0;
}

static int32_t *spec_prompt(struct engine *e, const struct opts *o, int32_t n_vocab, int32_t *n) {
    size_t len = 0;
    char *text = o->file ? cli_read_file(o->file, &len) : NULL;
    if (o->file && !text) return NULL;
    int32_t *toks = NULL;
    *n = text ? 0 : o->bench_p;
    struct flm_err err = {0};
    if (text) {
        flm_status s = flm_tokenize(e->model, text, len, true, true, NULL, 0, n, &err);
        if ((!s || s == FLM_ERR_INVALID) && *n > 0 && (toks = malloc(sizeof(int32_t) * (size_t)*n)))
            flm_tokenize(e->model, text, len, true, true, toks, *n, n, &err);
        free(text);
    } else if ((toks = malloc(sizeof(int32_t) * (size_t)(*n > 0 ? *n : 1)))) {
        for (int32_t i = 0; i < *n; i++) toks[i] = (int32_t)(((uint32_t)i * 2654435761u) % (uint32_t)n_vocab);
    }
    if (!toks || *n <= 0) {
        fprintf(stderr, "flashlm bench: %s\n", *n <= 0 ? "the prompt is empty" : "out of memory");
        free(toks);
        return NULL;
    }
    return toks;
}

static int bench_spec(struct engine *e, const struct opts *o) {
    struct flm_model_info mi;
    flm_model_get_info(e->model, &mi);
    int32_t n_prompt = 0;
    int32_t *prompt = spec_prompt(e, o, mi.n_vocab, &n_prompt);
    double *plain = malloc(sizeof(double) * (size_t)o->bench_reps), *spec = malloc(sizeof(double) * (size_t)o->bench_reps);
    struct spec_run *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    int rc = !prompt || !plain || !spec || !a || !b;
    bool same = true;
    double warm;
    if (!rc) rc = spec_once(e, o, false, prompt, n_prompt, a, &warm);  // warms caches, as bench_once
    flm_spec_reset_stats(e->spec);
    for (int r = 0; !rc && r < o->bench_reps; r++) {
        const bool spec_first = r % 2;
        rc = spec_once(e, o, spec_first, prompt, n_prompt, spec_first ? b : a, spec_first ? &spec[r] : &plain[r]);
        if (!rc) rc = spec_once(e, o, !spec_first, prompt, n_prompt, spec_first ? a : b, spec_first ? &plain[r] : &spec[r]);
        same &= a->n == b->n && !memcmp(a->toks, b->toks, sizeof(int32_t) * (size_t)a->n);
    }
    if (!rc) {
        struct flm_spec_stats st;
        flm_spec_get_stats(e->spec, &st);
        const struct stat3 p = summarize(plain, o->bench_reps), s = summarize(spec, o->bench_reps);
        const double acc = st.n_drafted ? (double)st.n_accepted / st.n_drafted : 0.0;
        const double mal = st.n_passes ? (double)st.n_accepted / st.n_passes : 0.0;
        if (o->json) {
            printf("{\"model\": \"%s\", \"prompt_tokens\": %d, \"gen_tokens\": %d, \"reps\": %d,\n"
                   " \"plain_tok_s\": %.2f, \"spec_tok_s\": %.2f, \"ratio\": %.3f,\n"
                   " \"passes\": %d, \"drafted\": %d, \"accepted\": %d, \"plain_steps\": %d,\n"
                   " \"acceptance\": %.4f, \"mean_accepted_length\": %.3f, \"identical\": %s}\n",
                   o->model, n_prompt, a->n, o->bench_reps, p.median, s.median, s.median / p.median, st.n_passes,
                   st.n_drafted, st.n_accepted, st.n_plain, acc, mal, same ? "true" : "false");
        } else {
            printf("model %s, prompt %d tokens, %d generated, %d repetitions (alternating)\n", o->model, n_prompt, a->n,
                   o->bench_reps);
            printf("plain        %9.2f tok/s  (min %.2f, max %.2f)\n", p.median, p.min, p.max);
            printf("speculative  %9.2f tok/s  (min %.2f, max %.2f)  %.2fx\n", s.median, s.min, s.max,
                   s.median / p.median);
            printf("acceptance %.1f%% of %d drafted, mean accepted length %.2f per pass (%d passes, %d plain steps); "
                   "outputs %s\n",
                   100 * acc, st.n_drafted, mal, st.n_passes, st.n_plain, same ? "identical" : "DIFFER");
        }
    }
    free(prompt), free(plain), free(spec), free(a), free(b);
    return rc;
}

int cmd_bench(const struct opts *o) {
    if (o->spec.mode != FLM_SPEC_NONE) {
        struct opts oo = *o;
        oo.sp.temperature = 0;
        struct engine e = {0};
        if (cli_engine_open(&e, &oo, true)) return 1;
        const int rc = bench_spec(&e, &oo);
        cli_engine_free(&e);
        return rc;
    }
    struct opts oo = *o;
    oo.sp.temperature = 0;
    if (!oo.n_ctx) oo.n_ctx = oo.bench_p + oo.bench_n + 1;
    if (!oo.n_batch) oo.n_batch = oo.bench_p > 0 ? oo.bench_p : 1;
    struct engine e = {0};
    if (cli_engine_open(&e, &oo, true)) return 1;
    struct flm_model_info mi;
    flm_model_get_info(e.model, &mi);
    int32_t *prompt = malloc(sizeof(int32_t) * (size_t)(oo.bench_p > 0 ? oo.bench_p : 1));
    double *pp = malloc(sizeof(double) * (size_t)oo.bench_reps), *tg = malloc(sizeof(double) * (size_t)oo.bench_reps);
    int rc = !prompt || !pp || !tg;
    for (int i = 0; i < oo.bench_p; i++) prompt[i] = (int32_t)(((uint32_t)i * 2654435761u) % (uint32_t)mi.n_vocab);
    double warm_pp, warm_tg;  // one untimed run warms caches and page tables
    struct io_sum io = {0};
    if (!rc) rc = bench_once(&e, &oo, prompt, &warm_pp, &warm_tg, NULL);
    for (int r = 0; !rc && r < oo.bench_reps; r++) rc = bench_once(&e, &oo, prompt, &pp[r], &tg[r], &io);
    if (!rc) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        const struct stat3 p = summarize(pp, oo.bench_reps), g = summarize(tg, oo.bench_reps);
        const double gbps = g.median * (double)mi.token_bytes / 1e9;
        const int threads = oo.n_threads ? oo.n_threads : 0;
        struct flm_model_io mio;
        flm_model_get_io(e.model, &mio);
        const double nt = io.tokens ? io.tokens : 1;
        const double rd = io.bytes / nt, wait = io.wait / nt, comp = (io.seconds - io.wait) / nt;
        const double rate = io.seconds > 0 ? io.bytes / io.seconds / 1e9 : 0;
        char hit[32];
        if (mio.cache_hit_rate < 0) snprintf(hit, sizeof hit, "null");
        else snprintf(hit, sizeof hit, "%.4f", io.lookups > 0 ? io.hits / io.lookups : 0.0);
        const double nrd = io.neuron_bytes / nt;
        if (oo.json) {
            printf("{\"model\": \"%s\", \"arch\": \"%s\", \"file_bytes\": %llu, \"threads\": %d, \"reps\": %d,\n"
                   " \"pp\": {\"tokens\": %d, \"tok_s_median\": %.2f, \"tok_s_min\": %.2f, \"tok_s_max\": %.2f},\n"
                   " \"tg\": {\"tokens\": %d, \"tok_s_median\": %.2f, \"tok_s_min\": %.2f, \"tok_s_max\": %.2f},\n"
                   " \"peak_rss_bytes\": %lld, \"token_bytes\": %llu, \"tg_bandwidth_gb_s\": %.2f,\n"
                   " \"mem_budget\": %llu, \"pinned_bytes\": %llu, \"stream_bytes\": %llu, \"pool_slots\": %d,"
                   " \"io\": \"%s\", \"direct\": %s,\n"
                   " \"tg_read_bytes_per_token\": %.0f, \"tg_io_wait_s_per_token\": %.6f,"
                   " \"tg_compute_s_per_token\": %.6f, \"tg_read_gb_s\": %.3f, \"cache_hit_rate\": %s,\n"
                   " \"neuron_layers\": %d, \"neuron_capacity\": %d, \"neuron_cache_bytes\": %llu,"
                   " \"tg_neuron_read_bytes_per_token\": %.0f}\n",
                   oo.model, mi.arch, (unsigned long long)mi.file_size, threads, oo.bench_reps, oo.bench_p, p.median,
                   p.min, p.max, oo.bench_n, g.median, g.min, g.max, (long long)ru.ru_maxrss * 1024,
                   (unsigned long long)mi.token_bytes, gbps, (unsigned long long)mio.mem_budget,
                   (unsigned long long)mio.pinned_bytes, (unsigned long long)mio.stream_bytes, mio.pool_slots,
                   !mio.mem_budget ? "none" : mio.io == FLM_IO_URING ? "io_uring" : "pread", mio.direct ? "true" : "false",
                   rd, wait, comp, rate, hit, mio.neuron_layers, mio.neuron_capacity,
                   (unsigned long long)mio.neuron_cache_bytes, nrd);
        } else {
            printf("model %s (%s, %.1f MiB), threads %s, %d repetitions\n", oo.model, mi.arch, mi.file_size / 1048576.0,
                   threads ? "set" : "all", oo.bench_reps);
            printf("pp%-5d %9.2f tok/s  (min %.2f, max %.2f)\n", oo.bench_p, p.median, p.min, p.max);
            printf("tg%-5d %9.2f tok/s  (min %.2f, max %.2f)  %.2f GB/s of weights\n", oo.bench_n, g.median, g.min,
                   g.max, gbps);
            printf("peak RSS %.1f MiB (model file %.1f MiB)\n", ru.ru_maxrss / 1024.0, mi.file_size / 1048576.0);
            if (mio.mem_budget)
                printf("budget %.1f MiB: per token %.1f MiB read from the file (%.2f GB/s), %.1f ms waiting for I/O, "
                       "%.1f ms computing; cache hit rate %s\n",
                       mio.mem_budget / 1048576.0, rd / 1048576.0, rate, wait * 1e3, comp * 1e3,
                       mio.cache_hit_rate < 0 ? "n/a (no neuron cache)" : hit);
            if (mio.neuron_layers)
                printf("neuron cache: %d layers x %d neurons (%.1f MiB); per token %.1f MiB of neuron reads\n",
                       mio.neuron_layers, mio.neuron_capacity, mio.neuron_cache_bytes / 1048576.0, nrd / 1048576.0);
        }
    }
    if (!rc) cli_print_sparse(e.ctx);
    free(prompt), free(pp), free(tg);
    cli_engine_free(&e);
    return rc;
}
