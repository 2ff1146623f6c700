// merge_queue.c - a binary heap of merge candidates.
#include "text/merge_queue.h"

#include <stdlib.h>

static bool before(const struct flm_merge *a, const struct flm_merge *b) {
    return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

bool flm_merge_push(struct flm_merge_queue *q, struct flm_merge m) {
    if (q->n == q->cap) {
        size_t            cap = q->cap ? 2 * q->cap : 64;
        struct flm_merge *h = realloc(q->heap, cap * sizeof *h);
        if (!h) return false;
        q->heap = h, q->cap = cap;
    }
    size_t i = q->n++;
    while (i > 0 && before(&m, &q->heap[(i - 1) / 2])) {
        q->heap[i] = q->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->heap[i] = m;
    return true;
}

struct flm_merge flm_merge_pop(struct flm_merge_queue *q) {
    struct flm_merge top = q->heap[0], last = q->heap[--q->n];
    size_t           i = 0, n = q->n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&q->heap[c + 1], &q->heap[c])) c++;
        if (!before(&q->heap[c], &last)) break;
        q->heap[i] = q->heap[c];
        i = c;
    }
    if (n) q->heap[i] = last;
    return top;
}

void flm_merge_queue_free(struct flm_merge_queue *q) {
    free(q->heap);
    *q = (struct flm_merge_queue){0};
}
