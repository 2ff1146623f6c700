// flashlm.c - the command-line tool: run, chat, perplexity, inspect, bench,
// quantize, serve.
//
// The only place that prints usage or turns a status into an exit code:
// 0 success, 1 runtime failure (bad file, context full, ...), 2 bad usage.
#include "flashlm.h"

#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


// ---------------------------------------------------------------- options

static const char *usage_main =
    "usage: flashlm <command> [options]\n"
    "\n"
    "commands:\n"
    "  run         generate text from a prompt\n"
    "  chat        interactive multi-turn chat with the model's chat template\n"
    "  perplexity  perplexity of a text file\n"
    "  inspect     metadata, tensors, types, sizes and memory needed of a GGUF file\n"
    "  bench       prompt-processing and generation speed, peak memory, bandwidth\n"
    "  quantize    write a model quantized to Q4_K_M, Q8_0, ... (as llama.cpp's quantize)\n"
    "  serve       OpenAI-compatible HTTP server with continuous batching and a chat page\n"
    "\n"
    "Run 'flashlm <command> --help' for the options of a command.\n";

static const char *usage_common =
    "  -m, --model FILE        GGUF model file (required)\n"
    "  -c, --ctx N             context size in tokens (default: min(training context, 4096))\n"
    "  -t, --threads N         threads (default: all cores)\n"
    "  -b, --batch N           tokens per forward pass in prompt processing (default 64)\n"
    "      --no-mmap           read the model into memory instead of mapping it\n"
    "      --mem-budget SIZE   keep peak memory (page cache of the model included) under SIZE\n"
    "                          (e.g. 512M, 1.5G): weights that do not fit are streamed from the\n"
    "                          file with direct reads; refused up front when SIZE is too small;\n"
    "                          the default context is then 1024 tokens\n";

static const char *usage_sampling =
    "  -n, --n-predict N       tokens to generate (default 128 for run; -1: until end of text)\n"
    "      --temp T            temperature; 0 = greedy (default 0.8)\n"
    "      --top-k K           keep the K most likely tokens (default 40; 0 = off)\n"
    "      --top-p P           nucleus sampling (default 0.95; 1 = off)\n"
    "      --min-p P           drop tokens below P x the top probability (default 0.05; 0 = off)\n"
    "      --repeat-penalty R  penalty for repeated tokens (default 1.0 = off)\n"
    "      --repeat-last-n N   tokens the penalties look back over (default 64)\n"
    "      --frequency-penalty F, --presence-penalty P   OpenAI-style penalties (default 0)\n"
    "  -s, --seed S            random seed (default 0xF1A5)\n";

static void print_usage(const char *cmd) {
    if (!cmd) {
        fputs(usage_main, stdout);
    } else if (!strcmp(cmd, "run")) {
        printf("usage: flashlm run -m FILE -p TEXT [options]\n\nGenerates a continuation of TEXT and streams it to "
               "stdout; statistics go to stderr.\n\n  -p, --prompt TEXT       the prompt (special tokens such as "
               "<|im_start|> are recognised)\n  -f, --file FILE         read the prompt from FILE\n%s%s",
               usage_common, usage_sampling);
    } else if (!strcmp(cmd, "chat")) {
        printf("usage: flashlm chat -m FILE [options]\n\nInteractive chat: type a message and press enter; an empty "
               "line or end of input quits.\n\n      --system TEXT       system message\n%s%s",
               usage_common, usage_sampling);
    } else if (!strcmp(cmd, "perplexity")) {
        printf("usage: flashlm perplexity -m FILE -f TEXTFILE [-c CTX] [-t THREADS]\n\nPerplexity measured like "
               "llama.cpp's perplexity tool: chunks of CTX tokens (default 512),\nthe second half of each scored.\n\n%s",
               usage_common);
    } else if (!strcmp(cmd, "bench")) {
        printf("usage: flashlm bench -m FILE [-t THREADS] [-p 128] [-n 64] [-r 5] [--json]\n\nFor each repetition "
               "a fresh context evaluates -p prompt tokens in one pass, then\ngenerates -n tokens one at a time; "
               "prints the median and range of tokens/s,\nthe peak resident memory and the weight bandwidth of "
               "generation.\n\n  -p, --n-prompt N        prompt tokens (default 128)\n  -n, --n-gen N           "
               "generated tokens (default 64)\n  -r, --reps N            repetitions (default 5)\n      --json        "
               "      one JSON object on stdout\n%s",
               usage_common);
    } else if (!strcmp(cmd, "quantize")) {
        cli_quantize_usage();
    } else if (!strcmp(cmd, "serve")) {
        printf("usage: flashlm serve -m FILE [--host 127.0.0.1] [--port 8080] [--parallel 4] [-c CTX] [--api-key KEY]\n\n"
               "Serves the model over HTTP: POST /v1/chat/completions and /v1/completions (OpenAI's API,\n"
               "streamed as server-sent events or not), GET /v1/models, /health, /metrics (Prometheus),\n"
               "POST /tokenize and /detokenize, and a chat page at /. Up to --parallel requests advance\n"
               "together, one forward pass per step; more wait in a queue, beyond which the server answers\n"
               "503 with Retry-After. SIGINT or SIGTERM ends in-flight requests and exits.\n\n"
               "      --host ADDR         address to listen on (default 127.0.0.1, loopback only)\n"
               "      --port N            TCP port (default 8080; 0 = any free port, printed at start)\n"
               "      --parallel N        requests generated at once, each with its own -c context (default 4)\n"
               "      --queue N           requests waiting beyond the busy slots (default 64)\n"
               "      --api-key KEY       require 'Authorization: Bearer KEY' (not on / and /health)\n"
               "  -c, --ctx N             context size per request in tokens (default: min(training context, 4096))\n"
               "  -t, --threads N         threads (default: all cores)\n"
               "  -b, --batch N           tokens per forward pass over all requests (default 64)\n"
               "      --no-mmap           read the model into memory instead of mapping it\n"
               "\nRequests' sampling defaults: temperature 0.8, top_p 0.95, top_k 40, min_p 0.05.\n");
    } else if (!strcmp(cmd, "inspect")) {
        printf("usage: flashlm inspect FILE [--tensors]\n\nPrints the metadata, tensor types and sizes, and the memory "
               "the model needs.\n\n      --tensors           list every tensor\n");
    }
}

static bool parse_int(const char *s, int32_t *out, int32_t lo, int32_t hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int32_t)v;
    return true;
}

bool cli_parse_size(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v <= 0) return false;
    double mul = 1;
    if (*end == 'K' || *end == 'k') mul = 1024.0, end++;
    else if (*end == 'M' || *end == 'm') mul = 1024.0 * 1024, end++;
    else if (*end == 'G' || *end == 'g') mul = 1024.0 * 1024 * 1024, end++;
    if (*end == 'i' && mul > 1) end++;
    if ((*end == 'B' || *end == 'b')) end++;
    if (*end || v * mul >= 1.8e19 || v * mul < 1) return false;
    *out = (uint64_t)(v * mul);
    return true;
}

static bool parse_float(const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

// Returns 0 on success, EXIT_USAGE after printing what is wrong, -1 for --help.
static int parse_opts(const char *cmd, int argc, char **argv, struct opts *o) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true, used = true;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return -1;
        if (!strcmp(a, "--no-mmap")) { o->no_mmap = true; continue; }
        if (!strcmp(a, "--tensors")) { o->show_tensors = true; continue; }
        if (!strcmp(a, "--json")) { o->json = true; continue; }
        if (a[0] != '-' && !o->model && !strcmp(cmd, "inspect")) { o->model = a; continue; }
        if (!v) {
            fprintf(stderr, "flashlm %s: option '%s' %s\n", cmd, a, a[0] == '-' ? "needs a value" : "is not an option");
            return EXIT_USAGE;
        }
        if (!strcmp(cmd, "bench") && (!strcmp(a, "-p") || !strcmp(a, "--n-prompt"))) ok = parse_int(v, &o->bench_p, 0, 1 << 16);
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) o->file = v;
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "--mem-budget") && strcmp(cmd, "inspect") && strcmp(cmd, "serve")) ok = cli_parse_size(v, &o->mem_budget);
        else if (!strcmp(cmd, "serve") && !strcmp(a, "--host")) o->host = v;
        else if (!strcmp(cmd, "serve") && !strcmp(a, "--api-key")) o->api_key = v;
        else if (!strcmp(cmd, "serve") && !strcmp(a, "--port")) ok = parse_int(v, &o->port, 0, 65535);
        else if (!strcmp(cmd, "serve") && !strcmp(a, "--parallel")) ok = parse_int(v, &o->parallel, 1, 256);
        else if (!strcmp(cmd, "serve") && !strcmp(a, "--queue")) ok = parse_int(v, &o->queue, 0, 1 << 16);
        else if (!strcmp(cmd, "bench") && (!strcmp(a, "-n") || !strcmp(a, "--n-gen"))) ok = parse_int(v, &o->bench_n, 0, 1 << 16);
        else if (!strcmp(cmd, "bench") && (!strcmp(a, "-r") || !strcmp(a, "--reps"))) ok = parse_int(v, &o->bench_reps, 1, 1000);
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) ok = parse_int(v, &o->n_predict, -1, 1 << 30);
        else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) ok = parse_int(v, &o->n_ctx, 1, 1 << 24);
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) ok = parse_int(v, &o->n_threads, 1, 256);
        else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) ok = parse_int(v, &o->n_batch, 1, 4096);
        else if (!strcmp(a, "--temp")) ok = parse_float(v, &o->sp.temperature);
        else if (!strcmp(a, "--top-k")) ok = parse_int(v, &o->sp.top_k, 0, 1 << 30);
        else if (!strcmp(a, "--top-p")) ok = parse_float(v, &o->sp.top_p);
        else if (!strcmp(a, "--min-p")) ok = parse_float(v, &o->sp.min_p);
        else if (!strcmp(a, "--repeat-penalty")) ok = parse_float(v, &o->sp.repeat_penalty);
        else if (!strcmp(a, "--repeat-last-n")) ok = parse_int(v, &o->sp.repeat_last_n, 0, 1 << 20);
        else if (!strcmp(a, "--frequency-penalty")) ok = parse_float(v, &o->sp.frequency_penalty);
        else if (!strcmp(a, "--presence-penalty")) ok = parse_float(v, &o->sp.presence_penalty);
        else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            o->sp.seed = strtoull(v, &end, 0);
            ok = !errno && end != v && !*end;
        } else used = false;
        if (!used) {
            fprintf(stderr, "flashlm %s: unknown option '%s' (see 'flashlm %s --help')\n", cmd, a, cmd);
            return EXIT_USAGE;
        }
        if (!ok) {
            fprintf(stderr, "flashlm %s: invalid value '%s' for %s\n", cmd, v, a);
            return EXIT_USAGE;
        }
        i++;
    }
    if (!o->model) {
        fprintf(stderr, "flashlm %s: no model given (-m FILE)\n", cmd);
        return EXIT_USAGE;
    }
    return 0;
}

// ---------------------------------------------------------------- helpers

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

// Reads a whole file; NULL with a message on failure.
char *cli_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "flashlm: cannot open '%s': %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (size_t k; buf && (k = fread(buf + n, 1, cap - n, f)) > 0;) {
        n += k;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
            cap *= 2;
        }
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        fprintf(stderr, "flashlm: cannot read '%s'\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

void cli_engine_free(struct engine *e) {
    flm_sampler_free(e->smp);
    flm_context_free(e->ctx);
    flm_model_free(e->model);
}

int cli_engine_open(struct engine *e, const struct opts *o, bool sampler) {
    struct flm_err err = {0};
    struct flm_model_params mp = flm_model_params_default();
    mp.use_mmap = !o->no_mmap;
    mp.mem_budget = o->mem_budget;
    const char *io = getenv("FLM_IO");  // testing: force a read backend
    if (io && !strcmp(io, "posix")) mp.io = FLM_IO_POSIX;
    if (io && !strcmp(io, "uring")) mp.io = FLM_IO_URING;
    double t0 = cli_now();
    if (flm_model_open(&e->model, o->model, &mp, &err)) goto fail;
    struct flm_context_params cp = flm_context_params_default();
    cp.n_ctx = o->n_ctx;
    if (o->mem_budget && !cp.n_ctx) cp.n_ctx = 1024;  // under a budget the KV cache is sized, not maximal
    cp.n_threads = o->n_threads;
    if (o->n_batch) cp.n_batch = o->n_batch;
    if (!o->all_logits) cp.n_logits = 1;  // generation reads the last row only
    if (flm_context_init(&e->ctx, e->model, &cp, &err)) goto fail;
    if (sampler && flm_sampler_init(&e->smp, &o->sp, e->model, &err)) goto fail;
    fprintf(stderr, "flashlm: loaded %s in %.2f s (context %d tokens)\n", o->model, cli_now() - t0,
            flm_context_n_ctx(e->ctx));
    if (o->mem_budget) {
        struct flm_model_io mi;
        flm_model_get_io(e->model, &mi);
        fprintf(stderr,
                "flashlm: memory budget %.1f MiB: %.1f MiB planned, %.1f MiB of weights pinned, %.1f MiB streamed per "
                "token through %d buffers of %.1f MiB (%s%s)\n",
                mi.mem_budget / 1048576.0, mi.mem_planned / 1048576.0, mi.pinned_bytes / 1048576.0,
                mi.stream_bytes / 1048576.0, mi.pool_slots, mi.pool_slots ? mi.pool_bytes / 1048576.0 / mi.pool_slots : 0.0,
                mi.io == FLM_IO_URING ? "io_uring" : "pread", mi.direct ? ", O_DIRECT" : ", page cache dropped");
    }
    return 0;
fail:
    if (o->mem_budget && err.status == FLM_ERR_NOMEM && strstr(err.msg, "memory budget ") == err.msg) {
        char sz[32];  // name the option the user gave
        fprintf(stderr, "flashlm: --mem-budget %s: %s\n", o->mem_budget >= (1ull << 30) ? (snprintf(sz, sizeof sz, "%.2fG", o->mem_budget / 1073741824.0), sz) : (snprintf(sz, sizeof sz, "%.0fM", o->mem_budget / 1048576.0), sz), err.msg);
        cli_engine_free(e);
        return 1;
    }
    fprintf(stderr, "flashlm: %s\n", err.msg);
    cli_engine_free(e);
    return 1;
}

bool cli_print_piece(void *user, int32_t token, const char *text, size_t len) {
    (void)user;
    (void)token;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

void cli_print_stats(const struct flm_gen_stats *st) {
    fprintf(stderr, "\nflashlm: prompt %d tokens in %.2f s (%.1f tok/s), generated %d tokens in %.2f s (%.1f tok/s)\n",
            st->n_prompt, st->prompt_seconds, st->prompt_seconds > 0 ? st->n_prompt / st->prompt_seconds : 0.0,
            st->n_generated, st->gen_seconds, st->gen_seconds > 0 ? st->n_generated / st->gen_seconds : 0.0);
}

// ---------------------------------------------------------------- commands

static int cmd_run(const struct opts *o) {
    size_t len = 0;
    char *prompt = NULL;
    if (o->file && !(prompt = cli_read_file(o->file, &len))) return 1;
    if (!prompt && !o->prompt) {
        fprintf(stderr, "flashlm run: no prompt given (-p TEXT or -f FILE)\n");
        return EXIT_USAGE;
    }
    struct engine e = {0};
    if (cli_engine_open(&e, o, true)) {
        free(prompt);
        return 1;
    }
    struct flm_err err = {0};
    struct flm_gen_stats st = {0};
    flm_status s = flm_generate(e.ctx, e.smp, prompt ? prompt : o->prompt, o->n_predict, cli_print_piece, NULL, &st, &err);
    free(prompt);
    cli_engine_free(&e);
    if (s) {
        fprintf(stderr, "flashlm: %s\n", err.msg);
        return 1;
    }
    cli_print_stats(&st);
    return 0;
}


static int cmd_perplexity(const struct opts *o) {
    if (!o->file) {
        fprintf(stderr, "flashlm perplexity: no text file given (-f FILE)\n");
        return EXIT_USAGE;
    }
    size_t len = 0;
    char *text = cli_read_file(o->file, &len);
    if (!text) return 1;
    struct opts oo = *o;
    oo.all_logits = true;
    if (!oo.n_ctx) oo.n_ctx = 512;
    struct engine e = {0};
    if (cli_engine_open(&e, &oo, false)) {
        free(text);
        return 1;
    }
    struct flm_err err = {0};
    int32_t n = 0;
    flm_status s = flm_tokenize(e.model, text, len, true, false, NULL, 0, &n, &err);
    int32_t *toks = n > 0 ? malloc((size_t)n * sizeof *toks) : NULL;
    if (toks) s = flm_tokenize(e.model, text, len, true, false, toks, n, &n, &err);
    free(text);
    struct flm_ppl_result r = {0};
    double t0 = cli_now();
    if (!toks) {
        fprintf(stderr, "flashlm: %s\n", n == 0 ? "the text is empty" : err.msg);
        cli_engine_free(&e);
        return 1;
    }
    fprintf(stderr, "flashlm: %d tokens, %d chunks of %d\n", n, n / oo.n_ctx, oo.n_ctx);
    if (s == FLM_OK) s = flm_perplexity(e.ctx, toks, n, oo.n_ctx, NULL, NULL, &r, &err);
    free(toks);
    cli_engine_free(&e);
    if (s) {
        fprintf(stderr, "flashlm: %s\n", err.msg);
        return 1;
    }
    printf("perplexity: %.4f (%d chunks of %d tokens, %lld scored)\n", r.ppl, r.n_chunks, oo.n_ctx,
           (long long)r.n_scored);
    fprintf(stderr, "flashlm: %.2f s (%.1f tok/s)\n", cli_now() - t0, r.n_chunks * oo.n_ctx / (cli_now() - t0));
    return 0;
}

// ---------------------------------------------------------------- main

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        print_usage(argc > 2 ? argv[2] : NULL);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    const char *cmd = argv[1];
    static const char *const known[] = {"run", "chat", "perplexity", "inspect", "bench", "quantize", "serve"};
    bool found = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) found |= !strcmp(cmd, known[i]);
    if (!found) {
        fprintf(stderr, "flashlm: unknown command '%s'\n\n%s", cmd, usage_main);
        return EXIT_USAGE;
    }
    if (!strcmp(cmd, "quantize")) return cmd_quantize(argc - 2, argv + 2);
    struct opts o = {.n_predict = -2, .sp = flm_sampler_params_default(), .bench_p = 128, .bench_n = 64, .bench_reps = 5,
                  .port = 8080, .parallel = 4, .queue = 64};
    int r = parse_opts(cmd, argc - 2, argv + 2, &o);
    if (r == -1) {
        print_usage(cmd);
        return 0;
    }
    if (r) return r;
    if (!strcmp(cmd, "run")) {
        if (o.n_predict == -2) o.n_predict = 128;
        return cmd_run(&o);
    }
    if (o.n_predict == -2) o.n_predict = -1;
    if (!strcmp(cmd, "chat")) return cmd_chat(&o);
    if (!strcmp(cmd, "perplexity")) return cmd_perplexity(&o);
    if (!strcmp(cmd, "bench")) return cmd_bench(&o);
    if (!strcmp(cmd, "serve")) return cmd_serve(&o);
    return cmd_inspect(&o);
}
