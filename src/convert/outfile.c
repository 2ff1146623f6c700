// outfile.c - all-or-nothing output files (see outfile.h), POSIX.
#include "convert/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct flm_outfile {
    int      fd;
    char    *tmp;   // temporary path
    char    *dest;  // final path
    uint64_t size;
};

static const char *why(int e, char *buf, size_t n) {
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, buf, n);
#else
    return strerror_r(e, buf, n) == 0 ? buf : "unknown error";
#endif
}

// The folder part of path ("." when it has none), malloc'd.
static char *folder_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

void flm_outfile_abort(struct flm_outfile *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    free(f->dest);
    free(f);
}

flm_status flm_outfile_open(struct flm_outfile **out, const char *dest, struct flm_err *err) {
    *out = NULL;
    struct flm_outfile *f = calloc(1, sizeof *f);
    size_t n = strlen(dest) + 64;
    if (!f || !(f->dest = strdup(dest)) || !(f->tmp = malloc(n))) {
        if (f) free(f->dest);
        free(f);
        return flm_err_set(err, FLM_ERR_NOMEM, "quantize: no memory for the output path");
    }
    f->fd = -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned salt = (unsigned)ts.tv_nsec;
    for (int attempt = 0; attempt < 100 && f->fd < 0; attempt++) {
        snprintf(f->tmp, n, "%s.%ld-%u.tmp", dest, (long)getpid(), salt + (unsigned)attempt);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (f->fd < 0 && errno != EEXIST) break;
    }
    if (f->fd < 0) {
        char e[128], *dir = folder_of(dest);
        int code = errno;
        flm_err_set(err, FLM_ERR_IO, "quantize: cannot create a temporary file in '%s' for '%s': %s",
                    dir ? dir : "?", dest, why(code, e, sizeof e));
        free(dir);
        free(f->tmp);
        f->tmp = NULL;  // nothing to remove
        flm_outfile_abort(f);
        return FLM_ERR_IO;
    }
    *out = f;
    return FLM_OK;
}

flm_status flm_outfile_write(struct flm_outfile *f, const void *data, size_t n, struct flm_err *err) {
    static const uint8_t zeros[4096];
    const uint8_t *p = data;
    while (n > 0) {
        size_t k = p ? n : (n < sizeof zeros ? n : sizeof zeros);
        ssize_t w = write(f->fd, p ? (const void *)p : zeros, k);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            char e[128];
            return flm_err_set(err, FLM_ERR_IO, "quantize: %s: write failed at offset %llu: %s", f->tmp,
                               (unsigned long long)f->size, w < 0 ? why(errno, e, sizeof e) : "no progress");
        }
        f->size += (uint64_t)w;
        n -= (size_t)w;
        if (p) p += w;
    }
    return FLM_OK;
}

uint64_t flm_outfile_size(const struct flm_outfile *f) { return f->size; }

// Makes the rename itself durable (best effort: some file systems refuse
// fsync on folders).
static void sync_folder(const char *dest) {
    char *dir = folder_of(dest);
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

flm_status flm_outfile_commit(struct flm_outfile *f, struct flm_err *err) {
    char e[128];
    const char *step = "fsync";
    int rc = fsync(f->fd);
    if (rc == 0) {
        step = "close";
        rc = close(f->fd);
        f->fd = -1;
    }
    if (rc == 0) {
        step = "rename";
        rc = rename(f->tmp, f->dest);
    }
    if (rc != 0) {
        flm_err_set(err, FLM_ERR_IO, "quantize: %s of '%s' failed: %s", step, step[0] == 'r' ? f->dest : f->tmp,
                    why(errno, e, sizeof e));
        flm_outfile_abort(f);
        return FLM_ERR_IO;
    }
    sync_folder(f->dest);
    free(f->tmp);
    f->tmp = NULL;
    flm_outfile_abort(f);  // frees what is left
    return FLM_OK;
}
