// budget.h - the memory accountant: one ledger of every large allocation of
// a model and its contexts (runtime, metadata and vocabulary, KV cache and
// scratch, pinned weights, stream buffers), checked against a hard limit.
//
// The ledger only adds up what the owners declare before they allocate; the
// promise it backs (peak resident memory, page cache included, stays under
// the limit) is checked from outside under a real memory cgroup
// (tests/e2e/cgroup_test.c).
#ifndef FLM_CORE_BUDGET_H
#define FLM_CORE_BUDGET_H

#include "core/status.h"

#include <stdint.h>

enum flm_mem_item {
    FLM_MEM_RUNTIME = 0,  // code, libc, thread stacks, small allocations
    FLM_MEM_META,         // metadata, vocabulary, tables
    FLM_MEM_CONTEXT,      // KV cache, scratch, logits
    FLM_MEM_PINNED,       // weights kept in memory
    FLM_MEM_STREAM,       // buffers weights are streamed through
    FLM_MEM_NEURON,       // neuron caches of sparse FFN layers (slots, maps, staging)
    FLM_MEM_N,
};

struct flm_budget {
    uint64_t limit;  // 0 = none
    uint64_t item[FLM_MEM_N];
};

uint64_t flm_budget_total(const struct flm_budget *b);
// Bytes left under the limit (0 when over).
uint64_t flm_budget_left(const struct flm_budget *b);
// "12.0 MiB context (KV cache, scratch), 3.1 MiB metadata and vocabulary, ..."
// (items that are 0 are left out).
void flm_budget_describe(const struct flm_budget *b, char *buf, size_t n);
// FLM_ERR_NOMEM unless total + extra fits: "memory budget X is below the Y
// this model needs at minimum: <what> (<describe>)"; what names extra.
flm_status flm_budget_check(const struct flm_budget *b, uint64_t extra, const char *what, struct flm_err *err);
// Human size: "512.0 MiB", "1.50 GiB".
const char *flm_budget_size_str(uint64_t bytes, char *buf, size_t n);

#endif
