// gguf_impl.h - the reader's handle, shared by gguf.c (parsing and
// validation), gguf_get.c (lookups and typed getters) and gguf_write.c. Not for use outside
// src/format/.
#ifndef FLM_FORMAT_GGUF_IMPL_H
#define FLM_FORMAT_GGUF_IMPL_H

#include "format/gguf.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader and writer assume a little-endian host"
#endif

// One key/value pair. Pointers point into the file's bytes.
struct gguf_kv {
    struct flm_gguf_str key;
    enum flm_gguf_vtype type;
    enum flm_gguf_vtype arr_type;  // element type when type is ARRAY
    uint64_t            arr_len;   // element count when type is ARRAY
    const uint8_t      *val;       // scalar bytes, string length prefix, or the array's first element
    const void         *arr_data;  // numeric arrays: aligned for the element type (mapping or copy)
    uint64_t           *str_off;   // string arrays: offset of each element's length prefix in the file
};

enum { GGUF_OWN_NONE, GGUF_OWN_MMAP, GGUF_OWN_MALLOC };

struct flm_gguf {
    const uint8_t *base;  // the whole file, or its first avail bytes (FLM_GGUF_OPEN_HEADER)
    uint64_t       size;  // of the file
    uint64_t       avail; // bytes at base
    bool           header_only;    // tensor data is not at base (t->data is NULL)
    bool           header_parsed;  // the infos are read: later failures are not for want of bytes
    bool           want_more;      // parsing failed before the end of a partial prefix
    uint64_t       want_avail;     // header mode: prefix to read
    struct flm_gguf_file_id id;
    int            own;   // GGUF_OWN_*: how base was obtained
    char          *name;  // path (or "buffer") for messages

    uint32_t version;
    uint32_t alignment;
    uint64_t data_offset;

    int64_t                 n_kv;
    struct gguf_kv         *kv;
    int64_t                 n_tensors;
    struct flm_gguf_tensor *tensors;

    // open-addressing hash tables of indices + 1 (0 = empty); mask + 1 slots
    int64_t *kv_hash;
    uint64_t kv_mask;
    int64_t *t_hash;
    uint64_t t_mask;

    void *arr_copy;  // one block holding copies of misaligned numeric arrays
};

// FNV-1a over len bytes.
static inline uint64_t flm_gguf_hash(const char *s, uint64_t len) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

// Bytes of one element of a scalar type; 0 for STRING, ARRAY and unknown ids.
size_t flm_gguf_vtype_size(uint32_t t);

// Copies at most cap-1 bytes of s into buf for a message, with non-printable
// bytes as '?' and "..." when cut. Returns buf.
const char *flm_gguf_printable(char *buf, size_t cap, const char *s, uint64_t len);

// strerror, without its shared buffer.
const char *flm_gguf_errstr(int e, char *buf, size_t n);

#endif
