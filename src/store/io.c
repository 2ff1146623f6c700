// io.c - the one place that chooses the read backend (io_uring or pread).
#include "store/io.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

flm_status flm_io_open(struct flm_io **out, int fd, const char *path, enum flm_io_kind kind, int n_tags,
                       int max_reqs, struct flm_err *err) {
    *out = NULL;
    if (n_tags <= 0 || max_reqs <= 0) return flm_err_set(err, FLM_ERR_INVALID, "io: %d tags, %d reads", n_tags, max_reqs);
    if (kind == FLM_IO_AUTO || kind == FLM_IO_URING) {
        flm_status st = flm_io_uring_open(out, fd, path, n_tags, max_reqs, err);
        if (st == FLM_OK || kind == FLM_IO_URING) return st;
    }
    return flm_io_posix_open(out, fd, path, n_tags, max_reqs, err);
}

void flm_io_close(struct flm_io *io) {
    if (io) io->ops->close(io);
}

enum flm_io_kind flm_io_kind_of(const struct flm_io *io) { return io->kind; }

flm_status flm_io_submit(struct flm_io *io, int tag, const struct flm_io_req *reqs, int n, struct flm_err *err) {
    return io->ops->submit(io, tag, reqs, n, err);
}

flm_status flm_io_wait(struct flm_io *io, int tag, struct flm_err *err) { return io->ops->wait(io, tag, err); }

bool flm_io_busy(const struct flm_io *io, int tag) { return io->ops->busy(io, tag); }

flm_status flm_io_pread(int fd, const char *path, void *buf, size_t len, size_t need, uint64_t off,
                        struct flm_err *err) {
    size_t got = 0;
    while (got < need) {
        ssize_t r = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0)
            return flm_err_set(err, FLM_ERR_IO, "io: %s: read of %zu bytes at offset %llu failed: %s", path, len - got,
                               (unsigned long long)(off + got), strerror(errno));
        if (r == 0)
            return flm_err_set(err, FLM_ERR_IO,
                               "io: %s: short read at offset %llu: the file ends before byte %llu (truncated while in use?)",
                               path, (unsigned long long)(off + got), (unsigned long long)(off + need));
        got += (size_t)r;
    }
    return FLM_OK;
}
