// neurons.h - the neuron cache of the weight store (LLM in a flash's
// windowing over row-column bundles): for each FFN layer that streams, a
// fixed number of slots, each holding one neuron's bundle (its up row and
// down column, bundle_bytes contiguous bytes of the file). A token's live
// neurons are looked up; the ones not cached (misses) are read: their file
// ranges are sorted, rounded out to FLM_IO_ALIGN and merged with neighbours
// when the gap between them is small (reading a little extra beats another
// request), submitted as one batch through the store's reader (io.h), into
// a staging buffer, and each bundle is copied into a slot taken from the
// least recently used neuron that is not live now.
//
// Windowing: with window W > 0 a neuron stays cached only while it was live
// in one of the last W tokens of its layer; an older one is a miss again
// (as flm_sparse_window_update counts it). With W = 0 a neuron stays as long
// as the capacity allows (LRU).
//
// All memory is allocated at init (flm_neurons_bytes says how much, for the
// accountant); a lookup never allocates. Used by one thread at a time (the
// store's pass lock). Nothing here knows where the file came from: the
// caller hands the reader, the descriptor and a check of the file, which
// runs before and after every batch.
#ifndef FLM_STORE_NEURONS_H
#define FLM_STORE_NEURONS_H

#include "store/io.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct flm_neurons_params {
    int      n_layers;      // caches (the caller maps its layers to 0..n_layers-1)
    int32_t  n_ff;          // neurons per layer
    size_t   bundle_bytes;  // bytes of one slot: the largest neuron bundle of the layers
    int32_t  capacity;      // slots per layer, 1..n_ff
    int32_t  window;        // tokens a neuron stays cached after its last use; 0: LRU only
    size_t   staging;       // bytes of the staging buffer (a multiple of FLM_IO_ALIGN, >= bundle_bytes + 2 pages)
    size_t   max_gap;       // ranges whose gap is at most this many bytes are read as one
    int      max_reqs;      // reads per batch
};

// Where and how misses are read (borrowed; valid for each call).
struct flm_neurons_io {
    struct flm_io *io;
    int            tag;        // the batch tag reserved for neuron reads
    int            fd;
    const char    *path;
    uint64_t       file_size;
    bool           direct;     // O_DIRECT: else the read pages are dropped from the page cache
    flm_status   (*check)(void *user, struct flm_err *err);  // the file is still the one opened
    void          *check_user;
};

struct flm_neurons_stats {
    uint64_t lookups;     // live neurons looked up
    uint64_t hits;        // of which cached
    uint64_t bytes_read;  // bytes read for misses (aligned, merged ranges)
    uint64_t n_reads;     // read requests
    uint64_t wait_ns;     // time spent waiting for them
};

struct flm_neurons;

// Bytes flm_neurons_init allocates for p (slots, maps, staging).
uint64_t   flm_neurons_bytes(const struct flm_neurons_params *p);
flm_status flm_neurons_init(struct flm_neurons **out, const struct flm_neurons_params *p, struct flm_err *err);
void       flm_neurons_free(struct flm_neurons *nc);

// Sets cache k's file offset of neuron 0's bundle (absolute) and its bundles'
// size in the file (<= bundle_bytes, the slot stride).
void flm_neurons_set_layer(struct flm_neurons *nc, int k, uint64_t off, size_t row_bytes);

// Makes the bundles of neurons live[0..n) of cache k present: slot[i] is
// the slot holding live[i] (bytes at flm_neurons_base(nc, k) + slot[i] *
// bundle_bytes) until the next call for k. live ascending, distinct, n <=
// capacity. new_token advances k's token clock (the first call of a token;
// a token with more live neurons than slots is fetched in several calls,
// each of which keeps only its own neurons safe from eviction). On a failed
// read FLM_ERR_IO (err names the file and offset) and the misses of the call
// are forgotten.
flm_status flm_neurons_fetch(struct flm_neurons *nc, int k, const int32_t *live, int32_t n, bool new_token,
                             int32_t *slot, const struct flm_neurons_io *rd, struct flm_err *err);
const uint8_t *flm_neurons_base(const struct flm_neurons *nc, int k);
size_t         flm_neurons_stride(const struct flm_neurons *nc);  // bytes from one slot to the next
int32_t        flm_neurons_capacity(const struct flm_neurons *nc);
int            flm_neurons_n_layers(const struct flm_neurons *nc);
// Neurons cached in k now (within the window, when there is one).
int32_t flm_neurons_cached(const struct flm_neurons *nc, int k);
void    flm_neurons_get_stats(const struct flm_neurons *nc, struct flm_neurons_stats *out);

#endif
