// gguf.h - validating GGUF v2/v3 reader (and a small writer for tests/tools).
//
// GGUF layout (little endian): magic "GGUF", u32 version, u64 n_tensors,
// u64 n_kv; n_kv key/value pairs (gguf string key, u32 value type, value);
// n_tensors tensor infos (string name, u32 n_dims, u64 ne[n_dims], u32 type,
// u64 offset relative to the data section); padding to general.alignment
// (default 32); the data section. A gguf string is u64 length + bytes (no NUL).
//
// flm_gguf_open validates everything before it returns: header counts against
// the file size, every string/array length, value types, tensor dims and the
// products of dims (overflow), types known with ne[0] a multiple of the block
// size, offsets aligned, each tensor's bytes inside the data section and not
// overlapping another's, unique tensor names and unique keys. After a
// successful open no getter can read out of bounds.
//
// The rules, where the spec leaves room: version 1 and big-endian files are
// refused; keys are 1..65535 bytes, tensor names 1..63 (ggml's limit); bools
// are 0 or 1; arrays of arrays are refused; general.alignment, if present, is
// a u32 power of two; n_dims is 1..4; a dim of 0 is allowed (an empty tensor,
// 0 bytes) but the product of the other dims must still fit in int64;
// tensors may sit anywhere in the data section in any order (llama.cpp also
// requires them back to back in info order; we only require no overlap).
// Without tensors, the padding after the infos may be missing.
//
// Errors: FLM_ERR_IO when the file cannot be opened, mapped or read (missing,
// a directory, not a regular file); FLM_ERR_FORMAT for malformed content (an
// empty file included), with a message "gguf: <path>: <thing>: <value or
// offset>"; FLM_ERR_NOMEM. Handles are read-only after open, so one handle
// may be used from several threads.
//
// The file is mapped read-only (or read into memory with
// FLM_GGUF_OPEN_NO_MMAP). All pointers returned are borrowed and stay valid
// until flm_gguf_close. (A mapped file truncated by someone else while open
// faults on access; nothing in a library can prevent that.)
#ifndef FLM_FORMAT_GGUF_H
#define FLM_FORMAT_GGUF_H

#include "core/status.h"
#include "core/types.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLM_GGUF_MAX_DIMS 4

enum flm_gguf_vtype {
    FLM_GGUF_UINT8   = 0,
    FLM_GGUF_INT8    = 1,
    FLM_GGUF_UINT16  = 2,
    FLM_GGUF_INT16   = 3,
    FLM_GGUF_UINT32  = 4,
    FLM_GGUF_INT32   = 5,
    FLM_GGUF_FLOAT32 = 6,
    FLM_GGUF_BOOL    = 7,
    FLM_GGUF_STRING  = 8,
    FLM_GGUF_ARRAY   = 9,
    FLM_GGUF_UINT64  = 10,
    FLM_GGUF_INT64   = 11,
    FLM_GGUF_FLOAT64 = 12,
};

struct flm_gguf_str {
    const char *ptr;  // not NUL-terminated; points into the mapping
    uint64_t    len;
};

struct flm_gguf_tensor {
    struct flm_gguf_str name;
    uint32_t            n_dims;
    int64_t             ne[FLM_GGUF_MAX_DIMS];  // ne[0] is the row length; unused dims are 1
    enum flm_type       type;
    uint64_t            offset;  // relative to the data section
    size_t              nbytes;
    const void         *data;    // into the mapping, aligned to the file's alignment
};

struct flm_gguf;

// FLM_GGUF_OPEN_HEADER reads only the metadata and tensor infos (a growing
// prefix, with plain reads whose page cache is dropped afterwards) and never
// maps the file: tensors' data pointers are NULL and their bytes are read by
// the weight store (src/store/) at data_offset + offset.
enum { FLM_GGUF_OPEN_NO_MMAP = 1, FLM_GGUF_OPEN_HEADER = 2 };

// What identified the file when it was opened, to notice it being replaced
// or changed later.
struct flm_gguf_file_id {
    uint64_t dev, ino, size;
    int64_t  mtime_ns;
};

flm_status flm_gguf_open(struct flm_gguf **out, const char *path, unsigned flags, struct flm_err *err);
// Parses a buffer the caller owns (must outlive the handle). Used by fuzzing and tests.
flm_status flm_gguf_open_buffer(struct flm_gguf **out, const void *buf, size_t size, struct flm_err *err);
void       flm_gguf_close(struct flm_gguf *g);

uint32_t flm_gguf_version(const struct flm_gguf *g);
uint64_t flm_gguf_file_size(const struct flm_gguf *g);
uint32_t flm_gguf_alignment(const struct flm_gguf *g);
uint64_t flm_gguf_data_offset(const struct flm_gguf *g);  // absolute offset of the data section
const char *flm_gguf_path(const struct flm_gguf *g);
void     flm_gguf_file_id(const struct flm_gguf *g, struct flm_gguf_file_id *out);
uint64_t flm_gguf_header_bytes(const struct flm_gguf *g);  // bytes of the file held in memory (header mode)

// ---- metadata
int64_t             flm_gguf_n_kv(const struct flm_gguf *g);
int64_t             flm_gguf_find_key(const struct flm_gguf *g, const char *key);  // -1 when absent
struct flm_gguf_str flm_gguf_key(const struct flm_gguf *g, int64_t i);
enum flm_gguf_vtype flm_gguf_kv_type(const struct flm_gguf *g, int64_t i);
enum flm_gguf_vtype flm_gguf_arr_type(const struct flm_gguf *g, int64_t i);  // element type of an array
uint64_t            flm_gguf_arr_len(const struct flm_gguf *g, int64_t i);
// Numeric arrays only: the elements, aligned for their type (a copy when the
// file has them misaligned), so they can be indexed as a C array.
const void         *flm_gguf_arr_data(const struct flm_gguf *g, int64_t i);
struct flm_gguf_str flm_gguf_arr_str(const struct flm_gguf *g, int64_t i, uint64_t j);  // O(1)
// Indices out of range and calls on the wrong kind of value are programmer
// errors (FLM_ASSERT); check kv_type / arr_type first when walking a file.

// "u8", "i32", "f32", "bool", "string", "array", ... ("unknown" otherwise).
const char *flm_gguf_vtype_name(enum flm_gguf_vtype t);

// Typed getters by key. Each returns FLM_OK, or FLM_ERR_FORMAT with a message
// naming the key when it is missing or has another type. Integer getters
// accept any integer type whose value fits; float getters accept f32/f64.
flm_status flm_gguf_get_u32(const struct flm_gguf *g, const char *key, uint32_t *out, struct flm_err *err);
flm_status flm_gguf_get_i32(const struct flm_gguf *g, const char *key, int32_t *out, struct flm_err *err);
flm_status flm_gguf_get_u64(const struct flm_gguf *g, const char *key, uint64_t *out, struct flm_err *err);
flm_status flm_gguf_get_i64(const struct flm_gguf *g, const char *key, int64_t *out, struct flm_err *err);
flm_status flm_gguf_get_f32(const struct flm_gguf *g, const char *key, float *out, struct flm_err *err);
flm_status flm_gguf_get_f64(const struct flm_gguf *g, const char *key, double *out, struct flm_err *err);
flm_status flm_gguf_get_bool(const struct flm_gguf *g, const char *key, bool *out, struct flm_err *err);
flm_status flm_gguf_get_str(const struct flm_gguf *g, const char *key, struct flm_gguf_str *out, struct flm_err *err);
// Array getter: checks the element type and returns index for arr_* calls.
flm_status flm_gguf_get_arr(const struct flm_gguf *g, const char *key, enum flm_gguf_vtype elem,
                            int64_t *idx, uint64_t *len, struct flm_err *err);

// ---- tensors
int64_t                       flm_gguf_n_tensors(const struct flm_gguf *g);
const struct flm_gguf_tensor *flm_gguf_tensor(const struct flm_gguf *g, int64_t i);
const struct flm_gguf_tensor *flm_gguf_find_tensor(const struct flm_gguf *g, const char *name);  // NULL if absent

// ---- writer (tests, tools): builds a GGUF file in memory.
// Calls return FLM_ERR_INVALID for what would make an invalid file (duplicate
// key or tensor name, empty or too long name, n_dims not in 1..4, negative
// dim, unknown type, ne[0] not a multiple of the block size, nbytes not the
// tensor's size, version not 2 or 3, alignment not a power of two) and
// FLM_ERR_NOMEM when out of memory. alignment 0 means the default 32; any
// other value is also written as general.alignment. Tensor data is copied
// (data NULL means zeros) and laid out in call order, each at an aligned
// offset.
struct flm_gguf_writer;
flm_status flm_gguf_writer_init(struct flm_gguf_writer **out, uint32_t version, uint32_t alignment);
void       flm_gguf_writer_free(struct flm_gguf_writer *w);
flm_status flm_gguf_writer_kv_u32(struct flm_gguf_writer *w, const char *key, uint32_t v);
flm_status flm_gguf_writer_kv_i32(struct flm_gguf_writer *w, const char *key, int32_t v);
flm_status flm_gguf_writer_kv_f32(struct flm_gguf_writer *w, const char *key, float v);
flm_status flm_gguf_writer_kv_bool(struct flm_gguf_writer *w, const char *key, bool v);
flm_status flm_gguf_writer_kv_str(struct flm_gguf_writer *w, const char *key, const char *v);
// Any scalar type but STRING and ARRAY; v points to one value of that type.
flm_status flm_gguf_writer_kv_scalar(struct flm_gguf_writer *w, const char *key, enum flm_gguf_vtype type,
                                     const void *v);
flm_status flm_gguf_writer_kv_arr(struct flm_gguf_writer *w, const char *key, enum flm_gguf_vtype elem,
                                  const void *data, uint64_t n);  // numeric elements
flm_status flm_gguf_writer_kv_arr_str(struct flm_gguf_writer *w, const char *key, const char *const *v, uint64_t n);
flm_status flm_gguf_writer_tensor(struct flm_gguf_writer *w, const char *name, enum flm_type type,
                                  uint32_t n_dims, const int64_t *ne, const void *data, size_t nbytes);
// Copies key/value pair i of an open file (same key, type and value bytes);
// general.alignment, when copied, sets this file's alignment.
flm_status flm_gguf_writer_kv_copy(struct flm_gguf_writer *w, const struct flm_gguf *g, int64_t i);
// Streaming large files: declares a tensor without its bytes. After
// flm_gguf_writer_meta_to_buffer (header, metadata, tensor infos and the
// padding up to the data section) the caller writes each declared tensor's
// bytes in declaration order, each followed by zeros up to a multiple of
// flm_gguf_writer_alignment. (to_buffer/to_file write zeros for them.)
flm_status flm_gguf_writer_tensor_info(struct flm_gguf_writer *w, const char *name, enum flm_type type,
                                       uint32_t n_dims, const int64_t *ne);
flm_status flm_gguf_writer_meta_to_buffer(struct flm_gguf_writer *w, void **buf, size_t *size);
uint32_t   flm_gguf_writer_alignment(const struct flm_gguf_writer *w);
// Serializes to a malloc'd buffer (caller frees) or to a file. The file is
// written to a temporary file beside path (path.tmp.XXXXXX), synced, and
// renamed over path only when complete; on failure the temporary file is
// removed and path is untouched.
flm_status flm_gguf_writer_to_buffer(struct flm_gguf_writer *w, void **buf, size_t *size);
flm_status flm_gguf_writer_to_file(struct flm_gguf_writer *w, const char *path, struct flm_err *err);

#endif
