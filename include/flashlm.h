// flashlm.h - the public API of flashlm, a C11 LLM inference engine for GGUF
// models on small devices. This is the only header that is installed.
//
// Usage:
//
//     struct flm_err err;
//     struct flm_model *model;
//     struct flm_model_params mp = flm_model_params_default();
//     if (flm_model_open(&model, "models/smollm2.gguf", &mp, &err) != FLM_OK) {
//         fprintf(stderr, "%s\n", err.msg);
//         return 1;
//     }
//     struct flm_context *ctx;
//     struct flm_context_params cp = flm_context_params_default();
//     flm_context_init(&ctx, model, &cp, &err);
//     struct flm_sampler *smp;
//     struct flm_sampler_params sp = flm_sampler_params_default();
//     sp.temperature = 0;                                              // greedy
//     flm_sampler_init(&smp, &sp, model, &err);
//     flm_generate(ctx, smp, "Once upon a time", 64, print_piece, NULL, NULL, &err);
//     flm_sampler_free(smp);
//     flm_context_free(ctx);
//     flm_model_free(model);
//
// Rules: every call that can fail returns flm_status (FLM_OK == 0, errors < 0)
// and fills the caller's struct flm_err with a message naming the file,
// offset, tensor or field at fault. The library never exits, aborts on bad
// input, or prints; it keeps no mutable global state. A model is read-only
// after open and may serve many contexts (one per conversation), each used by
// one thread at a time. Whoever calls _open/_init calls _free; _free(NULL) is
// a no-op.
#ifndef FLASHLM_H
#define FLASHLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// ---------------------------------------------------------------- status

typedef enum flm_status {
    FLM_OK              = 0,
    FLM_ERR_IO          = -1,  // file missing, unreadable, short read
    FLM_ERR_FORMAT      = -2,  // malformed or inconsistent file
    FLM_ERR_NOMEM       = -3,  // allocation failed or over budget
    FLM_ERR_INVALID     = -4,  // bad argument from the caller
    FLM_ERR_UNSUPPORTED = -5,  // valid input flashlm cannot handle (arch, type, template)
    FLM_ERR_CONTEXT     = -6,  // tokens do not fit in the context
    FLM_ERR_CANCELLED   = -7,  // a callback asked to stop
} flm_status;

struct flm_err {
    flm_status status;
    char       msg[512];
};

const char *flm_status_str(flm_status s);

// ---------------------------------------------------------------- model

struct flm_model;

// How streamed weights are read (only with a memory budget).
enum flm_io_kind { FLM_IO_AUTO = 0, FLM_IO_URING = 1, FLM_IO_POSIX = 2 };

struct flm_model_params {
    bool             use_mmap;    // map the file read-only (default); false reads it into memory
    // Hard limit in bytes on the process's peak resident memory for this
    // model and its contexts, page cache of the model file included; 0 = no
    // limit. With a budget the file is never mapped: the metadata is read,
    // the weights that pay most per byte are pinned in memory and the rest
    // are streamed from the file with direct reads (O_DIRECT) into a fixed
    // pool of buffers, the next layers read while one computes. A budget too
    // small to run at all is refused by flm_context_init (FLM_ERR_NOMEM,
    // with the minimum in the message). A model file truncated, rewritten or
    // replaced while in use makes evaluation fail with FLM_ERR_IO.
    uint64_t         mem_budget;
    enum flm_io_kind io;          // FLM_IO_AUTO: io_uring where it works, else pread
};
struct flm_model_params flm_model_params_default(void);

flm_status flm_model_open(struct flm_model **out, const char *path, const struct flm_model_params *params,
                          struct flm_err *err);
void       flm_model_free(struct flm_model *model);

struct flm_model_info {
    const char *arch;        // "llama", "gemma3", ...; valid while the model lives
    const char *name;        // general.name or ""
    int32_t     n_vocab;
    int32_t     n_ctx_train;
    int32_t     n_embd;
    int32_t     n_layer;
    int32_t     n_head;
    int32_t     n_head_kv;
    int64_t     n_params;
    uint64_t    weight_bytes;  // bytes of all tensors
    uint64_t    token_bytes;   // weight bytes one generated token reads (all but unused embedding rows)
    uint64_t    file_size;
};
void flm_model_get_info(const struct flm_model *model, struct flm_model_info *out);

// Where the weights live and what reading them has cost so far (counters
// only grow; callers take differences). Without a budget everything is
// resident and the counters stay 0.
struct flm_model_io {
    uint64_t         mem_budget;      // 0 = none
    uint64_t         mem_planned;     // bytes the accountant has committed (<= mem_budget)
    uint64_t         pinned_bytes;    // weights kept in memory
    uint64_t         stream_bytes;    // weights read from the file for every token
    uint64_t         pool_bytes;      // stream buffers
    int32_t          pool_slots;
    enum flm_io_kind io;              // backend in use (with a budget)
    bool             direct;          // reads bypass the page cache (O_DIRECT)
    uint64_t         bytes_read;      // weight bytes read from the file
    uint64_t         n_reads;         // read requests
    double           io_wait_seconds; // time the forward pass waited for reads
    double           cache_hit_rate;  // of the neuron cache (hits / lookups so far); < 0 when there is none
    // the neuron cache of a sparse context under a budget with row-column bundles (all 0 without one);
    // its reads and waits are also in bytes_read, n_reads and io_wait_seconds
    uint64_t         neuron_lookups;     // live FFN neurons looked up
    uint64_t         neuron_hits;        // of which cached
    uint64_t         neuron_bytes_read;  // bytes read for the misses (aligned, merged ranges)
    uint64_t         neuron_reads;       // their read requests
    uint64_t         neuron_cache_bytes; // memory of the caches
    int32_t          neuron_capacity;    // neurons each streamed layer's cache holds
    int32_t          neuron_layers;      // FFN layers served by a neuron cache (the others are pinned)
};
void flm_model_get_io(const struct flm_model *model, struct flm_model_io *out);

// ---------------------------------------------------------------- tokens

int32_t flm_token_bos(const struct flm_model *model);  // -1 when the model has none
int32_t flm_token_eos(const struct flm_model *model);
bool    flm_token_is_eog(const struct flm_model *model, int32_t token);  // end of generation (EOS, EOT, ...)

// Tokenizes len bytes of text. add_special adds BOS (and EOS) as the model's
// metadata says; parse_special turns special-token strings ("<|im_start|>")
// into their ids instead of text. Writes at most n_max ids; *n_out is the
// number of tokens the text needs (FLM_ERR_INVALID when it exceeds n_max).
flm_status flm_tokenize(const struct flm_model *model, const char *text, size_t len, bool add_special,
                        bool parse_special, int32_t *tokens, int32_t n_max, int32_t *n_out, struct flm_err *err);

// Bytes of one token's text into buf (not NUL-terminated). Returns the byte
// count, or -(bytes needed) when n is too small. Control tokens render as
// empty unless special is true.
int32_t flm_token_to_piece(const struct flm_model *model, int32_t token, char *buf, int32_t n, bool special);

// Detokenizes a whole sequence into buf with a terminating NUL; returns the
// length, or -(length + 1) when n is too small.
int32_t flm_detokenize(const struct flm_model *model, const int32_t *tokens, int32_t n_tokens, char *buf,
                       int32_t n, bool special);

// ---------------------------------------------------------------- context

struct flm_context;

struct flm_context_params {
    int32_t n_ctx;      // tokens of KV cache; 0 = min(model's training context, 4096)
    int32_t n_batch;    // tokens evaluated per forward pass in prefill
    int32_t n_threads;  // 0 = all cores
    int32_t n_seq;      // independent sequences, each with n_ctx positions of KV cache (default 1)
    float   sparsity;   // 0 = dense FFN; else a sparsity level the model was calibrated for
                        // ('flashlm calibrate'), as a fraction (0.5) or percent (50): FFN neurons
                        // whose activation is under their threshold are skipped. Under a memory
                        // budget with row-column bundles the first context's level puts the weight
                        // store in neuron mode (only live neurons are read); a later context of the
                        // model at another level, or dense, then fails with FLM_ERR_INVALID
    int32_t sparse_window; // with sparsity: count reads as if neurons live in the last N tokens stayed
                           // cached (windowing; see flm_sparse_stats), 0 = off. Under a memory budget with
                           // a bundled file it is also the window of the store's neuron cache (set by the
                           // model's first context; 0: neurons stay while the cache has room)
    int32_t n_logits;   // rows of logits one eval can keep (all_logits needs that many); 0 = n_batch.
                        // Generation needs 1 per sequence: the buffer is n_logits x n_vocab floats
};
struct flm_context_params flm_context_params_default(void);

flm_status flm_context_init(struct flm_context **out, const struct flm_model *model,
                            const struct flm_context_params *params, struct flm_err *err);
void       flm_context_free(struct flm_context *ctx);

int32_t flm_context_n_ctx(const struct flm_context *ctx);
int32_t flm_context_n_batch(const struct flm_context *ctx);
size_t  flm_context_memory(const struct flm_context *ctx);  // bytes of KV cache and scratch
const struct flm_model *flm_context_model(const struct flm_context *ctx);
int32_t flm_context_pos(const struct flm_context *ctx);  // tokens already in the KV cache
// FFN activation sparsity of the context's evaluations so far (all zero for a
// dense context). Bytes are weight bytes of gate, up and down matrices, per
// token and layer, as a weight store would have to read them.
struct flm_sparse_stats {
    int64_t  n_token_layers; // FFN evaluations (tokens x layers)
    int64_t  n_neurons;      // FFN neurons evaluated (tokens x layers x n_ff)
    int64_t  n_live;         // of which computed; the rest were skipped
    uint64_t bytes_dense;    // a dense FFN: all of gate, up and down
    uint64_t bytes_sparse;   // all of gate, live up rows, down column blocks holding a live neuron
    uint64_t bytes_bundled;  // all of gate, live up rows, live down columns as Q8_0 rows (one per neuron)
    // with sparse_window: live neurons not cached from the window's tokens (the ones to read),
    // the bytes read then (all of gate plus their bundles), and the cached neurons summed over evaluations
    int64_t  n_fresh;
    uint64_t bytes_window;
    int64_t  n_cached;
};
void flm_context_sparse_stats(const struct flm_context *ctx, struct flm_sparse_stats *out);
void flm_context_sparse_stats_reset(struct flm_context *ctx);
// Drops cached tokens from position pos on (0 clears the conversation).
flm_status flm_context_truncate(struct flm_context *ctx, int32_t pos, struct flm_err *err);

// Evaluates n tokens at the next positions. With all_logits the logits of every
// token are kept, else only the last one's. FLM_ERR_CONTEXT when they do not fit.
flm_status flm_eval(struct flm_context *ctx, const int32_t *tokens, int32_t n, bool all_logits,
                    struct flm_err *err);
// Logits (n_vocab floats) of token i of the last flm_eval (i = -1: the last
// one). Valid until the next flm_eval on this context; NULL if not kept.
const float *flm_get_logits(const struct flm_context *ctx, int32_t i);

// ---------------------------------------------------------------- sequences
//
// A context made with n_seq > 1 holds that many independent sequences (say,
// the conversations of a server's slots), each with its own KV cache, and
// advances them together: one forward pass carries rows of every sequence,
// so the weights are read once per pass for all of them. flm_eval,
// flm_get_logits, flm_context_pos and flm_context_truncate act on sequence 0.

struct flm_seq_batch {
    int32_t        seq;         // 0 .. n_seq-1, at most once per call
    const int32_t *tokens;
    int32_t        n_tokens;    // >= 1
    bool           all_logits;  // keep every token's logits (else only the last one's)
};

// Evaluates each item's tokens at its sequence's next positions, all items
// together in passes of at most n_batch rows. The logits rows kept over all
// items must not exceed n_batch (FLM_ERR_INVALID); FLM_ERR_CONTEXT names the
// sequence whose tokens do not fit. On error nothing is evaluated.
flm_status flm_eval_seqs(struct flm_context *ctx, const struct flm_seq_batch *items, int32_t n_items,
                         struct flm_err *err);
// Logits of token i of sequence seq in the last flm_eval_seqs (i = -1: its
// last kept one); NULL when that call kept none for it.
const float *flm_get_logits_seq(const struct flm_context *ctx, int32_t seq, int32_t i);
int32_t      flm_context_n_seq(const struct flm_context *ctx);
int32_t      flm_seq_pos(const struct flm_context *ctx, int32_t seq);  // -1 for a bad seq
// Drops sequence seq's cached tokens from position pos on.
flm_status   flm_seq_truncate(struct flm_context *ctx, int32_t seq, int32_t pos, struct flm_err *err);

// ---------------------------------------------------------------- sampling

struct flm_sampler;

struct flm_sampler_params {
    float    temperature;       // <= 0: greedy
    int32_t  top_k;             // 0: off
    float    top_p;             // 1: off
    float    min_p;             // 0: off
    float    repeat_penalty;    // 1: off
    int32_t  repeat_last_n;     // tokens the penalties look back over
    float    frequency_penalty; // 0: off
    float    presence_penalty;  // 0: off
    uint64_t seed;
};
// temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, penalties off, seed 0xF1A5.
// Out-of-range values are refused by flm_sampler_init with the field named.
struct flm_sampler_params flm_sampler_params_default(void);

flm_status flm_sampler_init(struct flm_sampler **out, const struct flm_sampler_params *params,
                            const struct flm_model *model, struct flm_err *err);
void       flm_sampler_free(struct flm_sampler *s);
// Picks the next token from logits (not modified) and remembers it for penalties.
int32_t flm_sampler_sample(struct flm_sampler *s, const float *logits);
// Tells the sampler about tokens it did not pick (the prompt) for penalties.
void flm_sampler_accept(struct flm_sampler *s, int32_t token);
void flm_sampler_reset(struct flm_sampler *s);

// ---------------------------------------------------------------- generation

// Called once per generated token with its text (may be empty while a UTF-8
// character is incomplete; never a broken character). Return false to stop.
typedef bool (*flm_token_fn)(void *user, int32_t token, const char *text, size_t len);

struct flm_gen_stats {
    int32_t n_prompt;
    int32_t n_generated;
    double  prompt_seconds;
    double  gen_seconds;
    bool    stopped_by_eog;
};

// Tokenizes prompt (with special tokens parsed, BOS per metadata unless the
// context already holds tokens), evaluates it, then samples up to n_predict
// tokens, stopping at end-of-generation. n_predict < 0: until EOG or context end.
flm_status flm_generate(struct flm_context *ctx, struct flm_sampler *smp, const char *prompt, int32_t n_predict,
                        flm_token_fn on_token, void *user, struct flm_gen_stats *stats, struct flm_err *err);

// Like flm_generate from prompt tokens (at least one): evaluates them after
// what the context holds, then samples. Used by chat to add only a new turn.
flm_status flm_generate_tokens(struct flm_context *ctx, struct flm_sampler *smp, const int32_t *prompt,
                               int32_t n_prompt, int32_t n_predict, flm_token_fn on_token, void *user,
                               struct flm_gen_stats *stats, struct flm_err *err);

// ---------------------------------------------------------------- speculative decoding
//
// A drafter proposes the next few tokens cheaply; the target model checks all
// of them in one batched forward pass and keeps the longest acceptable prefix
// plus one token of its own, so one pass can yield several tokens. Greedy
// output is identical, token for token, to flm_generate_tokens': the verify
// pass computes every row in the float order of a one-token pass. With
// sampling, drafted tokens are accepted with probability min(1, p/q) and a
// rejection is replaced by a draw from norm(max(0, p - q)), so the output
// follows the target's distribution (p and q: the sampler chain's final
// probabilities for the target and the drafter). The draft length adapts to
// the measured acceptance rate and pass times, falling back to plain decoding
// while speculation does not pay.
//
//     struct flm_spec_params sp = flm_spec_params_default();
//     sp.mode = FLM_SPEC_LOOKUP;
//     struct flm_spec *spec;
//     flm_spec_init(&spec, ctx, &sp, &err);
//     flm_generate_spec(spec, smp, tokens, n_tokens, 128, print_piece, NULL, NULL, &err);
//     flm_spec_free(spec);

enum flm_spec_mode {
    FLM_SPEC_NONE   = 0,  // plain decoding through the same loop
    FLM_SPEC_LOOKUP = 1,  // prompt lookup: continue the latest earlier match of the last n-gram
    FLM_SPEC_SELF   = 2,  // self-speculation: a subset of the target's own layers + its final norm and head
    FLM_SPEC_DRAFT  = 3,  // a separate (smaller) model with the same vocabulary
};

struct flm_spec_params {
    enum flm_spec_mode      mode;
    int32_t                 draft_max;    // most tokens drafted per pass (default 8; at most n_batch - 1 and 32)
    bool                    adaptive;     // adapt the draft length, fall back to plain decoding (default true)
    const char             *self_layers;  // SELF: "N" = the first N layers, "a-b,c,..." = those layers;
                                          //   NULL = all but the middle third
    const struct flm_model *draft_model;  // DRAFT: borrowed, must outlive the flm_spec
    int32_t                 ngram_min;    // LOOKUP: shortest n-gram matched (default 2)
    int32_t                 ngram_max;    // LOOKUP: longest n-gram matched, tried first (default 4)
};
// mode NONE, draft_max 8, adaptive, ngrams 2..4.
struct flm_spec_params flm_spec_params_default(void);

struct flm_spec_stats {
    int32_t n_passes;       // verification passes
    int32_t n_drafted;      // drafted tokens verified
    int32_t n_accepted;     // drafted tokens accepted
    int32_t n_plain;        // tokens decoded one at a time (no draft, or fallback)
    double  draft_seconds;  // time spent drafting
    double  verify_seconds; // time spent in verification passes
};

struct flm_spec;

// Speculative decoding on ctx (borrowed: the spec handle must be freed before
// it). DRAFT opens a context for the draft model (same n_ctx and threads);
// a draft model whose vocabulary or special tokens differ from the target's is
// refused with FLM_ERR_INVALID saying how (size, first differing token, BOS/EOS).
flm_status flm_spec_init(struct flm_spec **out, struct flm_context *ctx, const struct flm_spec_params *params,
                         struct flm_err *err);
void       flm_spec_free(struct flm_spec *spec);
void       flm_spec_get_stats(const struct flm_spec *spec, struct flm_spec_stats *out);
void       flm_spec_reset_stats(struct flm_spec *spec);

// flm_generate_tokens with speculation, on spec's context. The drafter knows
// the tokens this function evaluated; between calls the caller may only
// truncate the context (as chat does), not evaluate other tokens into it.
flm_status flm_generate_spec(struct flm_spec *spec, struct flm_sampler *smp, const int32_t *prompt, int32_t n_prompt,
                             int32_t n_predict, flm_token_fn on_token, void *user, struct flm_gen_stats *stats,
                             struct flm_err *err);

// ---------------------------------------------------------------- perplexity

struct flm_ppl_result {
    double  ppl;       // exp(nll / n_scored)
    double  nll;       // summed negative log-likelihood (natural log)
    int64_t n_scored;  // tokens scored
    int32_t n_chunks;
};

// Called after each chunk with the running perplexity; return false to stop.
typedef bool (*flm_ppl_fn)(void *user, int32_t chunk, int32_t n_chunks, double ppl);

// Perplexity the way llama.cpp's perplexity tool measures it: the tokens are
// cut into n_tokens / chunk_len chunks, each evaluated from an empty cache
// (its first token replaced by BOS when the model adds one), and the second
// half of each chunk is scored. chunk_len must not exceed the context size.
flm_status flm_perplexity(struct flm_context *ctx, const int32_t *tokens, int32_t n_tokens, int32_t chunk_len,
                          flm_ppl_fn on_chunk, void *user, struct flm_ppl_result *out, struct flm_err *err);

// ---------------------------------------------------------------- calibration

struct flm_calib_params {
    int32_t     n_tokens;   // calibration tokens to use at most (default 8192)
    int32_t     chunk_len;  // tokens per pass, each from an empty cache (default 512)
    int32_t     n_threads;  // 0 = all cores
    const char *method;     // "chess-cond" (default; also for NULL), "global", "chess-down", "chess" or "cats":
                            // see src/sparse/sparse.h
    int32_t     n_levels;   // sparsity levels to store (default 5: 0.3 0.4 0.5 0.6 0.7)
    float       levels[16]; // ascending fractions in (0, 1)
};
struct flm_calib_params flm_calib_params_default(void);

// Runs the model at model_path over len bytes of text, computes activation
// thresholds of its gated FFNs for each level (see src/sparse/sparse.h) and
// writes a new model file out_path: the input's keys and tensors unchanged
// plus the thresholds, through a temporary file renamed into place only on
// success. Refuses out_path when it is model_path's own file. *n_used is the
// number of tokens the statistics came from.
flm_status flm_calibrate(const char *model_path, const char *text, size_t len, const char *out_path,
                         const struct flm_calib_params *params, int32_t *n_used, struct flm_err *err);

// ---------------------------------------------------------------- chat

struct flm_chat_msg {
    const char *role;     // "system", "user", "assistant"
    const char *content;
};

// Renders messages with the model's chat template (known-template table keyed
// by the metadata's template or architecture). With add_assistant, ends with
// the opening of the assistant's turn. *out is malloc'd; free with flm_free.
// FLM_ERR_UNSUPPORTED names the template when it is not known.
flm_status flm_chat_apply(const struct flm_model *model, const struct flm_chat_msg *msgs, size_t n_msgs,
                          bool add_assistant, char **out, struct flm_err *err);

// ---------------------------------------------------------------- quantize

// Called as the work advances: tensor i_tensor of n_tensors (file order) is
// being written, and bytes_done of the input's bytes_total tensor bytes are
// done. Return false to cancel (flm_quantize then returns FLM_ERR_CANCELLED).
typedef bool (*flm_quantize_fn)(void *user, int64_t i_tensor, int64_t n_tensors, uint64_t bytes_done,
                                uint64_t bytes_total);

struct flm_quantize_params {
    const char     *type;       // target file type, llama.cpp's names: "Q4_K_M", "Q8_0", "F16", ...
    int32_t         n_threads;  // 0 = all cores
    flm_quantize_fn on_progress;
    void           *user;
};
// type "Q8_0", all cores, no progress callback.
struct flm_quantize_params flm_quantize_params_default(void);

// Writes the GGUF model in_path quantized to params->type at out_path, the
// way llama.cpp's llama_model_quantize does (same per-tensor types, same
// bytes, same metadata with general.file_type and
// general.quantization_version set). Inputs of any type flashlm reads are
// accepted; quantized tensors are dequantized first (llama.cpp's
// allow_requantize), and tensors already of their target type are copied.
// The output is written to a temporary file beside out_path, flushed to
// disk and renamed over out_path only when complete: on any failure or
// cancellation out_path is left as it was and the temporary file removed.
// FLM_ERR_UNSUPPORTED: unknown type; FLM_ERR_INVALID: out_path is in_path
// (also through links) or a directory; FLM_ERR_FORMAT: a malformed input or a
// tensor with non-finite values; FLM_ERR_IO: reading or writing failed.
flm_status flm_quantize(const char *in_path, const char *out_path, const struct flm_quantize_params *params,
                        struct flm_err *err);

// The file types flm_quantize offers, i = 0, 1, ...: the name, and in *desc
// (if non-NULL) a one-line description. NULL past the end.
const char *flm_quantize_type_name(int i, const char **desc);

void flm_free(void *p);

#ifdef __cplusplus
}
#endif

#endif
