// merge_queue.h - the priority queue of candidate merges that both
// tokenizers drain: BPE (lowest merge rank first) and SentencePiece (highest
// score first). A candidate is a pair of adjacent symbols; ties go to the
// leftmost pair, as llama.cpp breaks them. Candidates that went stale (a
// side merged away since) are recognised by the caller from `size`.
#ifndef FLM_TEXT_MERGE_QUEUE_H
#define FLM_TEXT_MERGE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flm_merge {
    double   prio;         // higher first: -rank for BPE, the score for SPM (both exact in double)
    int32_t  left, right;  // symbol indices
    uint32_t size;         // bytes of the two symbols when queued
};

struct flm_merge_queue {
    struct flm_merge *heap;
    size_t            n, cap;
};

bool             flm_merge_push(struct flm_merge_queue *q, struct flm_merge m);  // false: out of memory
struct flm_merge flm_merge_pop(struct flm_merge_queue *q);                       // q->n > 0
void             flm_merge_queue_free(struct flm_merge_queue *q);

#endif
