// io.h - asynchronous reads of a model file into caller buffers, in batches.
//
// A batch (identified by a small integer tag, one batch per tag in flight)
// is a list of reads; flm_io_submit starts them and returns at once,
// flm_io_wait blocks until every read of the batch is done and returns its
// status. Two backends do the work: io_uring through liburing where the
// kernel and build have it, and a reader thread calling pread otherwise; one
// function (flm_io_open, io.c) chooses. Reads run in submission order as far
// as the backend allows; a read that comes back short (the file was cut
// while in use) or fails is reported with the file offset, never retried
// into garbage. With an O_DIRECT descriptor buffers, offsets and lengths
// must be multiples of FLM_IO_ALIGN. Used by one thread at a time.
#ifndef FLM_STORE_IO_H
#define FLM_STORE_IO_H

#include "flashlm.h"

#include "core/status.h"

#include <stddef.h>
#include <stdint.h>

#define FLM_IO_ALIGN 4096u

struct flm_io_req {
    void    *buf;
    size_t   len;   // asked for (aligned)
    uint64_t off;
    size_t   need;  // must arrive: len, less what lies past the end of the file
};

struct flm_io;

// Opens a backend on fd (borrowed) for tags 0..n_tags-1 with at most
// max_reqs reads in flight in total. kind FLM_IO_AUTO tries io_uring first.
flm_status flm_io_open(struct flm_io **out, int fd, const char *path, enum flm_io_kind kind, int n_tags,
                       int max_reqs, struct flm_err *err);
void       flm_io_close(struct flm_io *io);  // waits for reads in flight
enum flm_io_kind flm_io_kind_of(const struct flm_io *io);

flm_status flm_io_submit(struct flm_io *io, int tag, const struct flm_io_req *reqs, int n, struct flm_err *err);
flm_status flm_io_wait(struct flm_io *io, int tag, struct flm_err *err);
bool       flm_io_busy(const struct flm_io *io, int tag);  // reads of the batch still in flight (a hint)

// Synchronous read of len bytes (EINTR and partial reads resumed) of which
// the first need must arrive; FLM_ERR_IO naming path and offset on failure
// or an end of file before need.
flm_status flm_io_pread(int fd, const char *path, void *buf, size_t len, size_t need, uint64_t off,
                        struct flm_err *err);

// ---- backends (io.c calls these; each returns FLM_ERR_UNSUPPORTED when it cannot run here)
struct flm_io_ops {
    flm_status (*submit)(struct flm_io *io, int tag, const struct flm_io_req *reqs, int n, struct flm_err *err);
    flm_status (*wait)(struct flm_io *io, int tag, struct flm_err *err);
    bool (*busy)(const struct flm_io *io, int tag);
    void (*close)(struct flm_io *io);
};

struct flm_io {
    const struct flm_io_ops *ops;
    enum flm_io_kind         kind;
};

flm_status flm_io_uring_open(struct flm_io **out, int fd, const char *path, int n_tags, int max_reqs,
                             struct flm_err *err);
flm_status flm_io_posix_open(struct flm_io **out, int fd, const char *path, int n_tags, int max_reqs,
                             struct flm_err *err);

#endif
