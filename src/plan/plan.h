// plan.h - the inference cost model behind `flashlm plan`: what one
// generated token costs on this machine for a model under a memory budget,
// predicted from measurements rather than run (a roofline per layer, as in
// LLM-Viewer, plus a model of the weight store's read pipeline).
//
// Three probes measure the machine (probe.c): the disk as the store reads it
// (O_DIRECT reads of the model file itself by chunk size, at queue depth 1
// and, over the tensors the store streams, at its depth through io_uring),
// memory read bandwidth by footprint, and the real matmul kernels on the
// file's own layer-0 and LM-head weights (time per shape, bytes/s per type),
// also while reads stream (their slowdown, the read rate meanwhile). The residency is the store's own
// choice, computed as a dry run (flm_store_plan: nothing read or allocated).
// The cost arithmetic (cost.c) turns these into a row per layer (bytes from
// memory and from flash, compute and read time, which bounds it) and a
// token time from a simulation of the store's sliding window: K stream
// buffers, reads queued ahead of compute and across the token boundary, one
// disk serving them in order. plan.c puts the pieces together for a model
// file. Nothing below this module uses it.
#ifndef FLM_PLAN_PLAN_H
#define FLM_PLAN_PLAN_H

#include "flashlm.h"

#include "core/budget.h"
#include "core/types.h"
#include "kernels/matmul.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// ---------------------------------------------------------------- measurements (probe.c)

#define FLM_PLAN_MAX_ROWS 8

struct flm_plan_disk_row {
    size_t chunk;        // bytes per request
    int    depth;        // requests in flight
    bool   random;       // random offsets (else sequential)
    double bytes_per_s;
};
struct flm_plan_disk {
    int                      n;
    struct flm_plan_disk_row row[FLM_PLAN_MAX_ROWS];
};

struct flm_plan_mem_row {
    size_t bytes;        // buffer swept
    double bytes_per_s;
};
struct flm_plan_mem {
    int                     n;
    struct flm_plan_mem_row row[FLM_PLAN_MAX_ROWS];  // ascending sizes
};

struct flm_plan_kernel {
    enum flm_type type;
    double        bytes_per_s;  // weight bytes per second of one-token matmuls, region overhead excluded
    uint64_t      bytes;        // weight bytes timed
};
struct flm_plan_timed {
    enum flm_type type;
    int64_t       n_rows, n_cols;
    double        seconds;      // best one-token flm_matmul call, weights hot in cache
};
#define FLM_PLAN_MAX_TIMED 32
struct flm_plan_compute {
    int                    n;
    struct flm_plan_kernel k[FLM_PLAN_MAX_ROWS];
    int                    n_timed;
    struct flm_plan_timed  timed[FLM_PLAN_MAX_TIMED];  // each matrix timed
    double                 region_s;   // one parallel region of the thread pool (a barrier)
    double                 wake_s;     // the first region after the pool's threads went to sleep
    double                 float_ns;   // per float of the element-wise ops (norms, activations)
    int                    n_threads;
    // the same matmuls while 1 MiB reads stream through the store's reader
    // (depth at a time, two batches): how much slower they run, and the
    // read rate meanwhile (0 when not measured)
    double                 io_slowdown;
    double                 io_read_bps;
};

// Parts of the file the deep reads cycle over: what the store streams (its
// units' tensors), up to limit bytes, so that they meet the storage in the
// state the store's reads do (read once per token); n 0: the file.
struct flm_plan_span {
    uint64_t off, len;
};
struct flm_plan_region {
    int                         n;
    const struct flm_plan_span *spans;
    uint64_t                    limit;
    int                         n_batches;  // a unit's reads each, in flight together (the store's buffers; >= 2)
};

// A weight matrix to time: its shape and type (data NULL) and where its
// bytes lie in the file.
struct flm_plan_mat {
    struct flm_mat w;
    uint64_t       off;
};

// O_DIRECT reads of the file at path: 4 KiB and 64 KiB at random offsets and
// 1 MiB and 4 MiB sequentially, one at a time (pread), then batches of depth
// 1 MiB reads, reg->n_batches of them in flight (64 MiB at most), through the
// store's reader (io_uring where it works) over reg (NULL: the file), timed
// after one untimed pass over it; about seconds in all.
flm_status flm_plan_probe_disk(const char *path, const struct flm_plan_region *reg, int depth, double seconds,
                               struct flm_plan_disk *out, struct flm_err *err);
// Read bandwidth of n_threads threads sweeping buffers from 4 MiB up to
// max_bytes (powers of 4).
flm_status flm_plan_probe_mem(size_t max_bytes, int n_threads, double seconds, struct flm_plan_mem *out,
                              struct flm_err *err);
// Reads the n matrices from path and times one-token flm_matmul on each with
// n_threads threads (about seconds in all); rates per type. With depth > 0
// also the same calls with reads of the file in flight (io_slowdown).
flm_status flm_plan_probe_compute(const char *path, const struct flm_plan_mat *mats, int n, int n_threads,
                                  const struct flm_plan_region *reg, int depth, double seconds,
                                  struct flm_plan_compute *out, struct flm_err *err);

// Bytes/s of the disk row nearest to chunk and depth; of the memory level a
// footprint lives in (the smallest swept buffer at least as large, else the
// largest); of the kernel for type t (0 when not measured).
double flm_plan_disk_rate(const struct flm_plan_disk *d, size_t chunk, int depth, bool random);
double flm_plan_mem_rate(const struct flm_plan_mem *m, uint64_t footprint);
double flm_plan_kernel_rate(const struct flm_plan_compute *c, enum flm_type t);

// ---------------------------------------------------------------- cost arithmetic (cost.c)

// Time of matrix w in a one-token pass: the probe's time for a matrix of
// its type and shape (else a parallel region plus its bytes at its type's
// kernel rate), and no less than a region plus its bytes at the memory
// level's rate mem_bps (weights the cache cannot hold come from DRAM).
double flm_plan_matmul_s(const struct flm_plan_compute *c, const struct flm_mat *w, double mem_bps);

// One step of a token: compute_s of work that first needs stream unit
// `unit` present (-1: nothing streamed).
struct flm_plan_step {
    double compute_s;
    int    unit;
};
struct flm_plan_pipe {
    int                         n_steps;
    const struct flm_plan_step *steps;      // one token, in order
    int                         n_units;
    const double               *unit_io_s;  // [n_units] read time of each unit
    int                         n_slots;    // stream buffers (K)
    double                      token_s;    // per token outside the steps, not overlapped (row reads, sampling)
    double                      wake_s;     // added to a step that waited for its unit (the pool fell asleep)
};
struct flm_plan_pipe_result {
    double token_s;    // steady-state time per token
    double io_wait_s;  // of which waiting for reads
    double compute_s;  // of which computing
    double io_s;       // read time per token (disk busy)
};
// Simulates the store's window (store.c: acquire queues the next K-1 units,
// release hands the freed buffer to the unit K ahead; one disk serves reads
// in order) over a few tokens; the last token's figures.
void flm_plan_pipeline(const struct flm_plan_pipe *p, struct flm_plan_pipe_result *out);

// ---------------------------------------------------------------- a model's plan (plan.c)

struct flm_plan_params {
    uint64_t mem_budget;  // 0: in memory
    int32_t  n_threads;   // 0: all cores
    int32_t  n_ctx;       // 0: as the tools (1024 under a budget)
    int32_t  n_batch;     // 0: 64
    double   probe_seconds;   // time for the probes, about (default 2)
    size_t   probe_mem_max;   // largest buffer of the memory sweep (default 256 MiB)
};
struct flm_plan_params flm_plan_params_default(void);

enum flm_plan_where { FLM_PLAN_NONE = 0, FLM_PLAN_PINNED, FLM_PLAN_STREAMED, FLM_PLAN_ON_DEMAND };

// A row of the roofline: one layer, or the LM head (group n_layer).
struct flm_plan_row {
    int                 group;
    enum flm_plan_where attn, ffn, head;  // where the class's weights are
    uint64_t            mem_bytes;        // read from memory (pinned, or the stream buffer) per token
    uint64_t            flash_bytes;      // read from the file per token
    double              compute_s;        // kernels at their memory level
    double              io_s;             // flash_bytes at the store's read rate
    bool                io_bound;
};

struct flm_plan {
    uint64_t             file_bytes, weight_bytes;
    int                  n_layer, n_threads, n_ctx;
    struct flm_budget    mem;              // the accountant's items (limit: the budget)
    uint64_t             pinned_bytes, stream_bytes, slot_bytes;
    int                  n_slots, n_units;
    uint64_t             footprint;        // weight bytes touched per token in memory
    double               mem_bps;          // memory rate at that footprint
    double               read_bps;         // read rate of the store's units: the disk alone and under the
                                           // kernels, mixed by the time the pass spends waiting and computing
    int                  read_depth;       // 1 MiB requests per unit read
    double               row_read_s;       // on-demand embedding row per token (0: resident)
    double               other_s;          // per token: output norm, sampling
    struct flm_plan_disk    disk;
    struct flm_plan_mem     memory;
    struct flm_plan_compute compute;
    int                  n_rows;
    struct flm_plan_row *rows;             // [n_layer + 1]
    struct flm_plan_pipe_result pipe;
    double               tok_s;            // predicted generation tokens/s
};

// Opens the model (header only under a budget), asks the store for its
// residency as a dry run, runs the probes and predicts. A budget too small
// is refused with the store's message (FLM_ERR_NOMEM, the minimum named).
flm_status flm_plan_model(const char *path, const struct flm_plan_params *p, struct flm_plan *out,
                          struct flm_err *err);
void       flm_plan_free(struct flm_plan *plan);

#endif
