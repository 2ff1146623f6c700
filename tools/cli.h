// cli.h - what the subcommands of the flashlm tool share: parsed options,
// opening model + context + sampler, streaming output, small file helpers.
#ifndef FLM_TOOLS_CLI_H
#define FLM_TOOLS_CLI_H

#include "flashlm.h"

#include <stdbool.h>
#include <stddef.h>

#define EXIT_USAGE 2

struct opts {
    const char *model;
    const char *prompt;
    const char *file;
    const char *system;
    int32_t     n_predict;
    int32_t     n_ctx;
    int32_t     n_threads;
    int32_t     n_batch;
    bool        no_mmap;
    bool        all_logits;  // the command evaluates with all logits (perplexity)
    uint64_t    mem_budget;  // --mem-budget, bytes (0 = none)
    bool        show_tensors;
    bool        json;
    int32_t     bench_p, bench_n, bench_reps;
    float       sparsity;      // --sparsity LEVEL (0: dense)
    int32_t     sparse_window; // --sparse-window N
    const char *out;           // calibrate -o
    int32_t     calib_tokens;  // calibrate --tokens
    const char *method;        // calibrate --method (--per-layer: "cats")
    const char *levels;        // calibrate --levels "30,40,50"
    int32_t     ppl_chunks;    // perplexity --chunks (0: all)
    bool        bundle;        // convert --bundle
    const char *bundle_type;   // convert --bundle-type
    const char *host, *api_key;              // serve
    int32_t     port, parallel, queue;       // serve
    struct flm_sampler_params sp;
    struct flm_spec_params    spec;        // mode NONE unless --spec
    const char               *draft_file;  // --draft FILE
};

struct engine {
    struct flm_model   *model;
    struct flm_context *ctx;
    struct flm_sampler *smp;
    struct flm_model   *draft;  // --spec draft
    struct flm_spec    *spec;   // NULL without --spec
};

// Opens what o names; prints the error and returns 1 on failure.
int  cli_engine_open(struct engine *e, const struct opts *o, bool sampler);
void cli_engine_free(struct engine *e);
// Prints a failure to open a model or context; a budget refusal names the --mem-budget given.
void cli_print_open_error(const struct opts *o, const struct flm_err *err);
bool cli_print_piece(void *user, int32_t token, const char *text, size_t len);
void cli_print_stats(const struct flm_gen_stats *st);
void cli_print_spec_stats(const struct flm_spec *spec);
// Parses the speculation options (--spec, --draft, --draft-max, --spec-layers,
// --ngram, --no-adapt); 1 when a was one (v consumed if *used_value), 0 when
// not, -1 after printing what is wrong with v.
int  cli_parse_spec(const char *cmd, const char *a, const char *v, struct opts *o, bool *used_value);
extern const char *cli_usage_spec;
double cli_now(void);
// "512M", "1.5G", "300000K", "123456789" (bytes); K/M/G are powers of 1024.
bool cli_parse_size(const char *s, uint64_t *out);
// Whole file, NUL-terminated; NULL after printing why.
char *cli_read_file(const char *path, size_t *len);

int cmd_chat(const struct opts *o);
int cmd_inspect(const struct opts *o);
int cmd_bench(const struct opts *o);
int cmd_calibrate(const struct opts *o);
int cmd_convert(const struct opts *o);
// Prints the FFN sparsity figures of a context (nothing when it is dense).
void cli_print_sparse(const struct flm_context *ctx);
// `flashlm quantize` parses its own arguments (IN OUT, no model option).
int  cmd_quantize(int argc, char **argv);
void cli_quantize_usage(void);
int cmd_serve(const struct opts *o);
int cmd_plan(const struct opts *o);

#endif
