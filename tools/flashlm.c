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
    "  plan        predicted generation speed and memory under --mem-budget (measured cost model)\n"
    "  calibrate   activation-sparsity thresholds from a text, written into a new model file\n"
    "  convert     rewrite a model file (--bundle: row-column bundles for sparse FFN reads)\n"
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
    "      --sparsity LEVEL    skip FFN neurons under the model's LEVEL thresholds (e.g. 50 or 0.5;\n"
    "                          the model must come from 'flashlm calibrate'; default: dense)\n"
    "      --sparse-window N   with --sparsity: a neuron stays cached only while live in one of the\n"
    "                          last N tokens (windowing; the --mem-budget neuron cache; default:\n"
    "                          as long as the cache has room); also reports the FFN bytes such a\n"
    "                          cache would read\n"
    "      --mem-budget SIZE   keep peak memory (page cache of the model included) under SIZE\n"
    "                          (e.g. 512M, 1.5G): weights that do not fit are streamed from the\n"
    "                          file with direct reads; refused up front when SIZE is too small;\n"
    "                          the default context is then 1024 tokens. With --sparsity and a file\n"
    "                          from 'flashlm convert --bundle', streamed FFN layers read only the\n"
    "                          live neurons' bundles, through a neuron cache (all contexts of the\n"
    "                          model then use that level); without bundles they read the whole FFN\n";

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
               "<|im_start|> are recognised)\n  -f, --file FILE         read the prompt from FILE\n%s%s%s",
               usage_common, usage_sampling, cli_usage_spec);
    } else if (!strcmp(cmd, "chat")) {
        printf("usage: flashlm chat -m FILE [options]\n\nInteractive chat: type a message and press enter; an empty "
               "line or end of input quits.\n\n      --system TEXT       system message\n%s%s%s",
               usage_common, usage_sampling, cli_usage_spec);
    } else if (!strcmp(cmd, "perplexity")) {
        printf("usage: flashlm perplexity -m FILE -f TEXTFILE [-c CTX] [-t THREADS] [--chunks N]\n\nPerplexity "
               "measured like llama.cpp's perplexity tool: chunks of CTX tokens (default 512),\nthe second half of "
               "each scored.\n\n      --chunks N          stop after the first N chunks (default: all)\n%s",
               usage_common);
    } else if (!strcmp(cmd, "bench")) {
        printf("usage: flashlm bench -m FILE [-t THREADS] [-p 128] [-n 64] [-r 5] [--json]\n\nFor each repetition "
               "a fresh context evaluates -p prompt tokens in one pass, then\ngenerates -n tokens one at a time; "
               "prints the median and range of tokens/s,\nthe peak resident memory and the weight bandwidth of "
               "generation. Under\n--mem-budget also, per generated token, the bytes read from the file and the "
               "time\nwaiting for reads versus computing; with --sparsity on a bundled file the neuron\ncache's hit "
               "rate and reads.\n\n  -p, --n-prompt N        prompt tokens (default 128)\n  -n, --n-gen N           "
               "generated tokens (default 64)\n  -r, --reps N            repetitions (default 5)\n      --json        "
               "      one JSON object on stdout\n%s\nWith --spec, generation (-n tokens, greedy, from the prompt in -f FILE or -p "
               "tokens\nof synthetic text) runs with and without speculation, alternating, and the\nacceptance "
               "rate, mean accepted length and both tokens/s are printed.\n\n  -f, --file FILE         prompt text "
               "for --spec\n%s",
               usage_common, cli_usage_spec);
    } else if (!strcmp(cmd, "plan")) {
        printf("usage: flashlm plan -m FILE [--mem-budget SIZE] [-t THREADS] [-c CTX] [-b BATCH] [--json]\n\n"
               "Predicts generation tokens/s for the model on this machine without running it:\n"
               "the weight store's own residency choice for the budget (what is pinned, the\n"
               "stream buffers, the bytes read per token; computed as a dry run, no weights\n"
               "loaded), then measurements of this machine (about two seconds): O_DIRECT reads\n"
               "of the model file by chunk size (4 KiB and 64 KiB random, 1 MiB and 4 MiB\n"
               "sequential, and 1 MiB reads a stream unit deep through io_uring), memory read\n"
               "bandwidth by footprint, and the one-token matmul kernels on the file's layer-0\n"
               "and LM-head weights, alone and while reads stream. Prints the memory breakdown,\n"
               "the disk table, a roofline row per layer (bytes from memory and from flash,\n"
               "compute and read time, which bounds it) and the token time from a simulation of\n"
               "the store's read-ahead window.\n"
               "A budget too small is refused with the minimum, as run refuses it.\n"
               "Dense FFN only (no --sparsity).\n\n"
               "  -m, --model FILE        GGUF model file (required)\n"
               "      --mem-budget SIZE   the budget to plan for (e.g. 512M); default: in memory\n"
               "  -t, --threads N         threads (default: all cores)\n"
               "  -c, --ctx N             context in tokens (default 1024 under a budget, as run)\n"
               "  -b, --batch N           tokens per prompt pass (sizes the scratch; default 64)\n"
               "      --json              one JSON object on stdout\n");
    } else if (!strcmp(cmd, "quantize")) {
        cli_quantize_usage();
    } else if (!strcmp(cmd, "serve")) {
        printf("usage: flashlm serve -m FILE [--host 127.0.0.1] [--port 8080] [--parallel 4] [-c CTX] [--api-key KEY] [--mem-budget SIZE]\n"
               "                     [--spec lookup [--draft-max N]]\n\n"
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
               "      --mem-budget SIZE   keep peak memory (page cache of the model included) under SIZE: weights\n"
               "                          beyond it stream from the file (default -c then 1024)\n"
               "  -c, --ctx N             context size per request in tokens (default: min(training context, 4096))\n"
               "  -t, --threads N         threads (default: all cores)\n"
               "  -b, --batch N           tokens per forward pass over all requests (default 64)\n"
               "      --no-mmap           read the model into memory instead of mapping it\n"
               "      --spec lookup       speculative decoding per request: each slot drafts the continuation of\n"
               "                          an earlier match of its last n-gram (prompt lookup; good for code and\n"
               "                          edits) and verifies it in the step's forward pass; greedy output is\n"
               "                          unchanged. /metrics reports drafted and accepted tokens. (self and\n"
               "                          draft modes are not supported by the server.)\n"
               "      --draft-max N       most tokens drafted per slot and step (default 8, at most 32)\n"
               "      --ngram A-B         n-gram sizes matched, longest first (default 2-4)\n"
               "      --no-adapt          always draft up to --draft-max (default: each slot adapts its draft\n"
               "                          length to its acceptance and pauses drafting, longer each time,\n"
               "                          while its drafts are mostly rejected)\n"
               "\nRequests' sampling defaults: temperature 0.8, top_p 0.95, top_k 40, min_p 0.05.\n");
    } else if (!strcmp(cmd, "calibrate")) {
        printf("usage: flashlm calibrate -m FILE -f TEXTFILE [-o OUT] [--levels L,...] [--tokens N] [--method M]\n\n"
               "Runs the model on TEXTFILE and computes, for each FFN neuron of every layer, the\nthreshold under "
               "which its activation is skipped, at sparsity levels (default 30, 40, 50,\n60 and 70%%): the "
               "fraction of neurons skipped per token. Writes OUT (default FILE\nwith .sparse.gguf): FILE's keys "
               "and tensors unchanged plus the thresholds, through\na temporary file renamed into place on "
               "success; never overwrites FILE. Use the\nresult with --sparsity LEVEL.\n\n"
               "  -m, --model FILE        GGUF model file (required)\n  -f, --file FILE         calibration "
               "text (use a text other than the one you evaluate on)\n  -o, --out FILE          output model "
               "file\n      --levels L,L,...    sparsity levels in percent, ascending (default 30,40,50,60,70)\n"
               "      --tokens N          calibration tokens at most (default 8192)\n  -c, --ctx N             "
               "tokens per pass, each from an empty cache (default 512)\n"
               "      --method M          how thresholds are set (default chess-cond):\n"
               "                            chess-cond  |act(gate)| x mean |up| where |act| is under its median,\n"
               "                                        each layer skips the level (CHESS, conditioned)\n"
               "                            chess       |act(gate)| x mean |up|, each layer skips the level (CHESS)\n"
               "                            chess-down  as chess, times the down column's norm\n"
               "                            global      as chess-cond, with one threshold scale for all layers\n"
               "                                        weighted by each layer's measured effect on the logits\n"
               "                                        (layers skip different fractions; slower: one pass per layer)\n"
               "                            cats        |act(gate)| alone, one threshold per layer (CATS)\n"
               "      --per-layer         the same as --method cats\n"
               "  -t, --threads N         threads (default: all cores)\n");
    } else if (!strcmp(cmd, "convert")) {
        printf("usage: flashlm convert --bundle IN OUT [--bundle-type TYPE]\n\nWrites OUT: IN's keys and tensors "
               "unchanged plus, per layer, a tensor blk.N.ffn_bundle\nwhose row i is FFN neuron i's up row followed "
               "by its down column (requantized\nto TYPE, default q8_0), so that with --sparsity one live neuron is "
               "one contiguous\nread. Written through a temporary file renamed into place; never overwrites IN.\n"
               "llama.cpp refuses files with tensors it does not know, so it cannot load OUT\n"
               "(a calibrated file, whose thresholds are metadata, it loads).\n\n"
               "      --bundle            add row-column bundles (required)\n      --bundle-type TYPE  type of the "
               "down columns: q8_0 (default), q4_0, q4_1, q5_0, q5_1, f16\n");
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
        if (!strcmp(a, "--per-layer")) { o->method = "cats"; continue; }
        if (!strcmp(a, "--bundle")) { o->bundle = true; continue; }
        if (a[0] != '-' && !strcmp(cmd, "convert")) {
            if (!o->model) o->model = a;
            else if (!o->out) o->out = a;
            else { fprintf(stderr, "flashlm convert: unexpected argument '%s'\n", a); return EXIT_USAGE; }
            continue;
        }
        if (a[0] != '-' && !o->model && !strcmp(cmd, "inspect")) { o->model = a; continue; }
        if (strcmp(cmd, "inspect") && strcmp(cmd, "perplexity")) {
            bool took;
            const int r = cli_parse_spec(cmd, a, v, o, &took);
            if (r < 0) return EXIT_USAGE;
            if (r > 0) {
                i += took;
                continue;
            }
        }
        if (!v) {
            fprintf(stderr, "flashlm %s: option '%s' %s\n", cmd, a, a[0] == '-' ? "needs a value" : "is not an option");
            return EXIT_USAGE;
        }
        if (!strcmp(cmd, "bench") && (!strcmp(a, "-p") || !strcmp(a, "--n-prompt"))) ok = parse_int(v, &o->bench_p, 0, 1 << 16);
        else if (!strcmp(a, "-m") || !strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) o->file = v;
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "--mem-budget") && strcmp(cmd, "inspect")) ok = cli_parse_size(v, &o->mem_budget);
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
        else if (!strcmp(a, "--sparsity")) ok = parse_float(v, &o->sparsity) && o->sparsity > 0 && o->sparsity < 100;
        else if (!strcmp(a, "--sparse-window")) ok = parse_int(v, &o->sparse_window, 1, 1 << 20);
        else if (!strcmp(cmd, "calibrate") && (!strcmp(a, "-o") || !strcmp(a, "--out"))) o->out = v;
        else if (!strcmp(cmd, "perplexity") && !strcmp(a, "--chunks")) ok = parse_int(v, &o->ppl_chunks, 1, 1 << 20);
        else if (!strcmp(cmd, "calibrate") && !strcmp(a, "--levels")) o->levels = v;
        else if (!strcmp(cmd, "calibrate") && !strcmp(a, "--method")) o->method = v;
        else if (!strcmp(cmd, "convert") && !strcmp(a, "--bundle-type")) o->bundle_type = v;
        else if (!strcmp(cmd, "calibrate") && !strcmp(a, "--tokens")) ok = parse_int(v, &o->calib_tokens, 2, 1 << 24);
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
    if ((o->spec.mode == FLM_SPEC_DRAFT) != (o->draft_file != NULL)) {
        fprintf(stderr, "flashlm %s: %s\n", cmd, o->draft_file ? "--draft needs --spec draft" : "--spec draft needs --draft FILE");
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
    flm_spec_free(e->spec);
    flm_model_free(e->draft);
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
    cp.sparsity = o->sparsity;
    cp.sparse_window = o->sparse_window;
    if (o->n_batch) cp.n_batch = o->n_batch;
    // plain generation under a budget reads the last row only: a 1-row logits buffer
    // (speculation verifies drafts with all their logits)
    if (o->mem_budget && !o->all_logits && o->spec.mode == FLM_SPEC_NONE) cp.n_logits = 1;
    if (flm_context_init(&e->ctx, e->model, &cp, &err)) goto fail;
    if (sampler && flm_sampler_init(&e->smp, &o->sp, e->model, &err)) goto fail;
    if (o->draft_file && flm_model_open(&e->draft, o->draft_file, &mp, &err)) goto fail;
    if (o->spec.mode != FLM_SPEC_NONE) {
        struct flm_spec_params sp = o->spec;
        sp.draft_model = e->draft;
        if (flm_spec_init(&e->spec, e->ctx, &sp, &err)) goto fail;
    }
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
        if (mi.neuron_layers)
            fprintf(stderr,
                    "flashlm: neuron cache: %d FFN layers read live neurons' bundles on demand, %d neurons cached "
                    "per layer (%.1f MiB)\n",
                    mi.neuron_layers, mi.neuron_capacity, mi.neuron_cache_bytes / 1048576.0);
    }
    return 0;
fail:
    cli_print_open_error(o, &err);
    cli_engine_free(e);
    return 1;
}

void cli_print_open_error(const struct opts *o, const struct flm_err *err) {
    if (o->mem_budget && err->status == FLM_ERR_NOMEM && strstr(err->msg, "memory budget ") == err->msg) {
        char sz[32];  // name the option the user gave
        fprintf(stderr, "flashlm: --mem-budget %s: %s\n", o->mem_budget >= (1ull << 30) ? (snprintf(sz, sizeof sz, "%.2fG", o->mem_budget / 1073741824.0), sz) : (snprintf(sz, sizeof sz, "%.0fM", o->mem_budget / 1048576.0), sz), err->msg);
        return;
    }
    fprintf(stderr, "flashlm: %s\n", err->msg);
}

bool cli_print_piece(void *user, int32_t token, const char *text, size_t len) {
    (void)user;
    (void)token;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    return true;
}

void cli_print_sparse(const struct flm_context *ctx) {
    struct flm_sparse_stats s;
    flm_context_sparse_stats(ctx, &s);
    if (s.n_token_layers == 0) return;
    struct flm_model_info mi;
    flm_model_get_info(flm_context_model(ctx), &mi);
    const double k = (double)mi.n_layer / (double)s.n_token_layers;  // -> per token, all layers
    fprintf(stderr,
            "flashlm: sparsity: %.1f%% of FFN neurons skipped; FFN weight bytes per token: dense %.0f, "
            "sparse %.0f (%.1f%%), with bundled down columns %.0f (%.1f%%)\n",
            100.0 * (double)(s.n_neurons - s.n_live) / (double)s.n_neurons, k * (double)s.bytes_dense,
            k * (double)s.bytes_sparse, 100.0 * (double)s.bytes_sparse / (double)s.bytes_dense,
            k * (double)s.bytes_bundled, 100.0 * (double)s.bytes_bundled / (double)s.bytes_dense);
    if (s.n_live > 0 && s.bytes_window > 0)
        fprintf(stderr,
                "flashlm: sparse window: %.1f%% of live neurons were in the window; FFN bytes a window cache reads "
                "per token %.0f (%.1f%% of dense), %.0f neurons in the window per layer on average\n",
                100.0 * (double)(s.n_live - s.n_fresh) / (double)s.n_live, k * (double)s.bytes_window,
                100.0 * (double)s.bytes_window / (double)s.bytes_dense, (double)s.n_cached / (double)s.n_token_layers);
}

void cli_print_stats(const struct flm_gen_stats *st) {
    fprintf(stderr, "\nflashlm: prompt %d tokens in %.2f s (%.1f tok/s), generated %d tokens in %.2f s (%.1f tok/s)\n",
            st->n_prompt, st->prompt_seconds, st->prompt_seconds > 0 ? st->n_prompt / st->prompt_seconds : 0.0,
            st->n_generated, st->gen_seconds, st->gen_seconds > 0 ? st->n_generated / st->gen_seconds : 0.0);
}

// ---------------------------------------------------------------- commands

static flm_status set_err(struct flm_err *err, const char *msg) {
    snprintf(err->msg, sizeof err->msg, "%s", msg);
    return err->status = FLM_ERR_INVALID;
}

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
    const char *text = prompt ? prompt : o->prompt;
    flm_status s;
    if (e.spec) {
        int32_t n = 0, *toks = NULL;
        s = flm_tokenize(e.model, text, strlen(text), true, true, NULL, 0, &n, &err);
        if ((!s || s == FLM_ERR_INVALID) && n > 0 && (toks = malloc((size_t)n * sizeof *toks)))
            s = flm_tokenize(e.model, text, strlen(text), true, true, toks, n, &n, &err);
        else if (!s || s == FLM_ERR_INVALID)
            s = set_err(&err, n == 0 ? "the prompt is empty" : "out of memory");
        if (!s) s = flm_generate_spec(e.spec, e.smp, toks, n, o->n_predict, cli_print_piece, NULL, &st, &err);
        free(toks);
    } else {
        s = flm_generate(e.ctx, e.smp, text, o->n_predict, cli_print_piece, NULL, &st, &err);
    }
    free(prompt);
    if (s == FLM_OK) cli_print_sparse(e.ctx);
    if (s) {
        cli_engine_free(&e);
        fprintf(stderr, "flashlm: %s\n", err.msg);
        return 1;
    }
    cli_print_stats(&st);
    cli_print_spec_stats(e.spec);
    cli_engine_free(&e);
    return 0;
}


static bool stop_after(void *user, int32_t chunk, int32_t n_chunks, double ppl) {
    (void)n_chunks, (void)ppl;
    return chunk + 1 < *(const int32_t *)user;
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
    if (s == FLM_OK) s = flm_perplexity(e.ctx, toks, n, oo.n_ctx, o->ppl_chunks ? stop_after : NULL,
                                        (void *)&o->ppl_chunks, &r, &err);
    if (s == FLM_OK) cli_print_sparse(e.ctx);
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
    static const char *const known[] = {"run",      "chat",  "perplexity", "inspect", "bench",
                                        "quantize", "serve", "calibrate",  "convert", "plan"};
    bool found = false;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) found |= !strcmp(cmd, known[i]);
    if (!found) {
        fprintf(stderr, "flashlm: unknown command '%s'\n\n%s", cmd, usage_main);
        return EXIT_USAGE;
    }
    if (!strcmp(cmd, "quantize")) return cmd_quantize(argc - 2, argv + 2);
    struct opts o = {.n_predict = -2, .sp = flm_sampler_params_default(), .spec = flm_spec_params_default(),
                     .bench_p = 128, .bench_n = 64, .bench_reps = 5, .port = 8080, .parallel = 4, .queue = 64};
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
    if (!strcmp(cmd, "calibrate")) return cmd_calibrate(&o);
    if (!strcmp(cmd, "convert")) return cmd_convert(&o);
    if (!strcmp(cmd, "plan")) return cmd_plan(&o);
    return cmd_inspect(&o);
}
