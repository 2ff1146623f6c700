// store.h - the weight store: the only code that knows where weight bytes
// live. The forward pass asks it for a view of tensor T (or of rows of T)
// and the store makes the bytes present.
//
// Without a budget every tensor is resident where the GGUF reader put it
// (the file mapping, or the copy read with --no-mmap) and acquire/release
// cost nothing. With a budget (the GGUF opened in header mode, nothing
// mapped) flm_store_commit chooses what to pin by value per byte under what
// the accountant leaves: norms always, then every layer's attention, then
// the LM head, then whole FFN layers; token-embedding rows are read one at a
// time when asked for. Pinned tensors are read once into one anonymous
// block. The rest is streamed: each layer's streamed tensors form a unit
// (the LM head is cut into units of whole rows), read with direct, aligned
// reads (O_DIRECT; never the page cache) into a fixed pool of K buffers, in
// the fixed order the forward pass uses them; acquiring unit u queues units
// u+1..u+K-1 behind it (TPI-LLM's sliding window), so the next layers are
// read while this one computes. Before every read the file's size, mtime and
// inode are checked against what was opened, after it too; a change or a
// short read is an FLM_ERR_IO naming the file, never misread bytes.
//
// In neuron mode (a sparse context, row-column bundles; last section) the
// FFN layers that stream read their live neurons' bundles through a neuron
// cache (store/neurons.h) instead of their up and down matrices.
//
// Streaming state is shared by every context of a model: flm_store_begin
// and flm_store_end bracket a forward pass and serialize passes that stream.
#ifndef FLM_STORE_STORE_H
#define FLM_STORE_STORE_H

#include "flashlm.h"

#include "core/budget.h"
#include "format/gguf.h"

#include <stdbool.h>
#include <stdint.h>

// What a tensor is, for the residency choice (in priority order).
enum flm_store_class {
    FLM_STORE_NORM = 0,  // small vectors: always pinned
    FLM_STORE_ATTN,      // attention matrices of a layer
    FLM_STORE_HEAD,      // the LM head (may also be the embedding table)
    FLM_STORE_FFN,       // FFN matrices of a layer
    FLM_STORE_EMBD,      // a separate embedding table: rows read on demand
};

// What a tensor is for, by mode: most are read in every mode; the FFN
// matrices the row-column bundles replace only without neuron mode, and the
// bundles only in it.
enum flm_store_role {
    FLM_STORE_ROLE_PLAIN = 0,
    FLM_STORE_ROLE_DENSE,   // up and down: not read in neuron mode
    FLM_STORE_ROLE_BUNDLE,  // a layer's bundles (sparse/sparse.h): read only in neuron mode
};

struct flm_store_params {
    uint64_t         budget;     // 0: everything resident where the reader put it
    enum flm_io_kind io;
    int              max_slots;  // 0: 8
    int              min_slots;  // stream buffers kept when choosing pins (prefetch depth); 0: 2
    size_t           head_chunk; // smallest part an LM head that streams alone is cut into; 0: 4 MiB
                                 // (a budget too small for that cuts it as small as a layer's unit)
};

struct flm_store;

// g (header mode when budget > 0) must outlive the store.
flm_status flm_store_open(struct flm_store **out, const struct flm_gguf *g, const struct flm_store_params *p,
                          struct flm_err *err);
void       flm_store_close(struct flm_store *s);

// Registers tensor t in group (a layer 0..n-1, or one past the last for the
// LM head; -1 for none) before the commit; returns its id. rows_align: a
// cut into row ranges keeps whole multiples of it.
int flm_store_add(struct flm_store *s, const struct flm_gguf_tensor *t, int group, enum flm_store_class cls,
                  int64_t n_rows, size_t row_bytes, int rows_align);

// Decides residency within what the accountant b has left (its limit is
// the store's budget), reads the pinned tensors, allocates the pool, and
// records the pinned and stream bytes in b. FLM_ERR_NOMEM with the minimum
// when even everything streamed does not fit. A no-op without a budget.
flm_status flm_store_commit(struct flm_store *s, struct flm_budget *b, struct flm_err *err);
bool       flm_store_committed(const struct flm_store *s);

// The choice flm_store_commit makes, computed by the same code without
// reading or allocating weights (a dry run: `flashlm plan`). On a committed
// store (or without a budget) it describes the store as it is.
struct flm_store_tensor_plan {
    int                  group;
    enum flm_store_class cls;
    uint64_t             off;        // absolute file offset of its first byte
    uint64_t             bytes;      // read from the file: its aligned span (with a budget), else its size
    size_t               row_bytes;
    bool                 pinned;     // in memory (always without a budget)
    int                  n_parts;    // units it streams in (1: with its group's unit, or pinned)
    bool                 skip;       // never read in the mode chosen (bundles when dense; up and down
                                     // in neuron mode, where unpinned bundles are read neuron by neuron)
};
struct flm_store_unit_plan {
    int      group, part;
    uint64_t bytes;                  // read per pass
};
struct flm_store_plan {
    uint64_t                      budget;
    uint64_t                      pinned_bytes;  // as commit records them in FLM_MEM_PINNED
    uint64_t                      stream_bytes;  // all units: read per token
    size_t                        slot_bytes;    // one stream buffer
    int                           n_slots;       // buffers in the pool (prefetch depth)
    int                           min_slots;
    size_t                        rowbuf_bytes;  // on-demand row buffer (FLM_MEM_STREAM adds it)
    uint64_t                      neuron_bytes;  // neuron caches (FLM_MEM_NEURON), neuron mode only
    int                           n_groups;
    int                           n_tensors;
    struct flm_store_tensor_plan *t;             // [n_tensors], by store id
    int                           n_units;
    struct flm_store_unit_plan   *units;         // [n_units], in the order a pass acquires them
};
// b: the accountant as commit would see it (runtime, metadata, context); not
// changed. FLM_ERR_NOMEM with commit's message when the budget is too small.
// The store is left as it was. Free out with flm_store_plan_free.
flm_status flm_store_plan(struct flm_store *s, const struct flm_budget *b, struct flm_store_plan *out,
                          struct flm_err *err);
void       flm_store_plan_free(struct flm_store_plan *p);

// Resident bytes of tensor id, or NULL when it streams (use parts).
const void *flm_store_resident(const struct flm_store *s, int id);
// Units (row ranges) tensor id streams in; 1 when resident or read whole.
int flm_store_n_parts(const struct flm_store *s, int id);
bool flm_store_group_streams(const struct flm_store *s, int group);

void       flm_store_begin(struct flm_store *s);
void       flm_store_end(struct flm_store *s);
// Makes part `part` of group's streamed tensors present (waiting for its
// read) and queues the next units. Until the matching release, the views
// below point into the pool.
flm_status flm_store_acquire(struct flm_store *s, int group, int part, struct flm_err *err);
void       flm_store_release(struct flm_store *s, int group, int part);
// The bytes of rows [*r0, *r0 + *n_rows) of tensor id in part (the whole
// tensor when it is resident or not cut), valid while acquired.
const void *flm_store_view(const struct flm_store *s, int id, int part, int64_t *r0, int64_t *n_rows);
// Row r of tensor id: resident bytes, or read now into a buffer of the
// store (valid until the next call). NULL with err set on failure.
const void *flm_store_row(struct flm_store *s, int id, int64_t r, struct flm_err *err);

void flm_store_get_io(const struct flm_store *s, struct flm_model_io *out);

// ---- neuron mode (store/neurons.h): asked for before the commit, when a
// sparse context commits a budgeted store whose file has bundles. FFN layers
// that are not pinned then stream their gate (and attention) in their unit
// and serve the live neurons' bundles from a neuron cache of the same
// capacity for every layer: at least min_capacity slots (fewer, down to one,
// only when that much does not fit even with nothing else pinned), more when
// the budget leaves room. window: tokens a neuron stays cached after its last
// use (0: as long as the capacity allows). Pinned FFN layers pin their
// bundles (not up and down).
int  flm_store_add_role(struct flm_store *s, const struct flm_gguf_tensor *t, int group, enum flm_store_class cls,
                        int64_t n_rows, size_t row_bytes, enum flm_store_role role);
void flm_store_set_role(struct flm_store *s, int id, enum flm_store_role role);
void flm_store_neuron_mode(struct flm_store *s, int32_t min_capacity, int32_t window);
// Committed with a neuron cache in use (some FFN layer streams with bundles).
bool    flm_store_neuron_active(const struct flm_store *s);
bool    flm_store_neuron_group(const struct flm_store *s, int group);  // group's bundles come from the cache
int32_t flm_store_neuron_capacity(const struct flm_store *s);          // slots per layer (0: no cache)
// Makes the bundles of neurons live[0..n) of group present (n <= capacity,
// live ascending): returns the cache base, with neuron live[i]'s bundle at
// base + slot[i] * *stride, valid until the next call. new_token: the first
// call of a token (a token with more live neurons than slots takes several).
// NULL with err set (FLM_ERR_IO naming the file) when a read fails.
const void *flm_store_neurons(struct flm_store *s, int group, const int32_t *live, int32_t n, bool new_token,
                              int32_t *slot, size_t *stride, struct flm_err *err);

#endif
