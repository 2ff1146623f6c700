// probe.c - the machine's side of the cost model, measured: disk reads of
// the model file as the store makes them, memory read bandwidth by
// footprint, and the one-token matmul kernels on the file's own weights.
// Every probe is bounded in time (a fraction of a second each) and in
// memory (the largest buffer is the memory sweep's).
#include "plan/plan.h"

#include "core/threads.h"
#include "kernels/ops.h"
#include "store/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIB (1u << 20)
#define MAX_BATCHES  8   // batches of deep reads in flight at most (the store's buffers)
#define MAX_INFLIGHT 64  // MiB of deep reads in flight at most

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

static flm_status open_direct(const char *path, int *fd, uint64_t *size, struct flm_err *err) {
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
    if (*fd < 0 && errno == EINVAL) *fd = open(path, O_RDONLY | O_CLOEXEC);  // no O_DIRECT here: as the store
    struct stat st;
    if (*fd < 0 || fstat(*fd, &st) != 0) {
        const int e = errno;
        if (*fd >= 0) close(*fd);
        return flm_err_set(err, FLM_ERR_IO, "plan: %s: cannot open for reading: %s", path, strerror(e));
    }
    *size = (uint64_t)st.st_size;
    return FLM_OK;
}

// ---------------------------------------------------------------- disk

// Walks a region in 1 MiB requests, wrapping at its end or limit.
struct cursor {
    const struct flm_plan_region *r;
    uint64_t                      size;  // of the file
    int                           i;
    uint64_t                      at, used;
};

static struct flm_io_req next_req(struct cursor *c, void *buf) {
    uint64_t off;
    if (!c->r || c->r->n == 0) {
        if (c->at + MIB > c->size) c->at = 0;
        off = c->at;
        c->at += MIB;
    } else {
        for (int guard = 0; guard <= c->r->n; guard++) {
            if (c->used >= c->r->limit || c->i >= c->r->n) c->i = 0, c->at = 0, c->used = 0;
            if (c->at < c->r->spans[c->i].len) break;
            c->i++, c->at = 0;
        }
        off = (c->r->spans[c->i].off + c->at) & ~(uint64_t)(FLM_IO_ALIGN - 1);
        c->at += MIB, c->used += MIB;
    }
    if (off >= c->size) off = 0;
    const uint64_t need = c->size - off < MIB ? c->size - off : MIB;
    return (struct flm_io_req){buf, MIB, off, (size_t)need};
}

// One request at a time for about seconds; bytes/s.
static flm_status disk_qd1(int fd, const char *path, uint64_t size, size_t chunk, bool random, double seconds,
                           uint8_t *buf, double *bps, struct flm_err *err) {
    const uint64_t n_blocks = size / chunk;
    uint64_t rng = 0x9E3779B97F4A7C15ull ^ chunk, off = 0, done = 0;
    const double t0 = now_s();
    double t = t0;
    for (int k = 0; k < 4 || t - t0 < seconds; k++) {
        if (random) off = (next_rand(&rng) % n_blocks) * chunk;
        else if (off + chunk > size) off = 0;
        flm_status st = flm_io_pread(fd, path, buf, chunk, chunk, off, err);
        if (st) return st;
        if (!random) off += chunk;
        done += chunk;
        t = now_s();
    }
    *bps = (double)done / (t - t0);
    return FLM_OK;
}

// Batches in flight (the store's buffers, 2 to MAX_BATCHES) and requests per
// batch (a unit's), at most MAX_INFLIGHT MiB in all and within the file.
static void size_deep(const struct flm_plan_region *reg, uint64_t size, int *depth, int *nb) {
    *nb = reg && reg->n_batches > 2 ? reg->n_batches : 2;
    if (*nb > MAX_BATCHES) *nb = MAX_BATCHES;
    if (*depth < 1) *depth = 1;
    while (*nb > 2 && *nb * *depth > MAX_INFLIGHT) (*nb)--;
    if (*depth * *nb > MAX_INFLIGHT) *depth = MAX_INFLIGHT / *nb;
    if ((uint64_t)*depth * (uint64_t)*nb * MIB > size) *depth = (int)(size / ((uint64_t)*nb * MIB));
}

// depth 1 MiB reads per batch, two batches in flight, through the store's
// reader, for about seconds or (timed false) until limit bytes were read.
static flm_status disk_deep(struct flm_io *io, struct cursor *cur, int depth, int nb, double seconds, uint64_t limit,
                            uint8_t *buf, double *bps, struct flm_err *err) {
    struct flm_io_req reqs[64];
    uint64_t done = 0;
    flm_status st = FLM_OK;
    const double t0 = now_s();
    double t = t0;
    bool inflight[MAX_BATCHES] = {false};
    for (int k = 0; !st && (k < 2 * nb || (limit ? done < limit : t - t0 < seconds)); k++) {
        const int tag = k % nb;
        if (inflight[tag]) {
            st = flm_io_wait(io, tag, err);
            inflight[tag] = false;
            done += (uint64_t)depth * MIB;
            t = now_s();
            if (st || (k >= 2 * nb && (limit ? done >= limit : t - t0 >= seconds))) break;
        }
        for (int i = 0; i < depth; i++) reqs[i] = next_req(cur, buf + ((size_t)tag * depth + i) * MIB);
        if (!(st = flm_io_submit(io, tag, reqs, depth, err))) inflight[tag] = true;
    }
    for (int tag = 0; tag < nb; tag++)
        if (inflight[tag]) {
            flm_status s2 = flm_io_wait(io, tag, st ? NULL : err);
            if (!st) st = s2;
            done += (uint64_t)depth * MIB;
        }
    t = now_s();
    *bps = (double)done / (t - t0);
    return st;
}

flm_status flm_plan_probe_disk(const char *path, const struct flm_plan_region *reg, int depth, double seconds,
                               struct flm_plan_disk *out, struct flm_err *err) {
    memset(out, 0, sizeof *out);
    int fd;
    uint64_t size;
    flm_status st = open_direct(path, &fd, &size, err);
    if (st) return st;
    if (size < 4096) {
        close(fd);
        return flm_err_set(err, FLM_ERR_INVALID, "plan: %s: %llu bytes is too small to measure reads on", path,
                           (unsigned long long)size);
    }
    int nb;
    size_deep(reg, size, &depth, &nb);
    const size_t buf_bytes = (size_t)depth * nb * MIB > 4 * MIB ? (size_t)depth * nb * MIB : 4 * MIB;
    uint8_t *buf = NULL;
    if (posix_memalign((void **)&buf, FLM_IO_ALIGN, buf_bytes)) {
        close(fd);
        return flm_err_set(err, FLM_ERR_NOMEM, "plan: out of memory for a %zu-byte read buffer", buf_bytes);
    }
    static const struct { size_t chunk; bool random; } qd1[] = {
        {4096, true}, {64 << 10, true}, {MIB, false}, {4 * MIB, false}};
    const double each = seconds / 8;  // the store's own pattern (the last row) gets half
    for (size_t i = 0; i < sizeof qd1 / sizeof qd1[0] && !st; i++) {
        if (qd1[i].chunk > size) continue;  // a small file: the chunks it holds
        struct flm_plan_disk_row *r = &out->row[out->n++];
        *r = (struct flm_plan_disk_row){qd1[i].chunk, 1, qd1[i].random, 0};
        st = disk_qd1(fd, path, size, qd1[i].chunk, qd1[i].random, each, buf, &r->bytes_per_s, err);
    }
    struct flm_io *io = NULL;
    if (!st && depth > 0) st = flm_io_open(&io, fd, path, FLM_IO_AUTO, nb, nb * depth, err);
    if (!st && io) {
        struct flm_plan_disk_row *r = &out->row[out->n++];
        *r = (struct flm_plan_disk_row){MIB, depth * nb, false, 0};
        struct cursor cur = {reg, size, 0, 0, 0};
        double first;
        const uint64_t pass = reg && reg->n ? reg->limit : 0;
        if (pass) st = disk_deep(io, &cur, depth, nb, 0, pass, buf, &first, err);  // once over, untimed
        if (!st) st = disk_deep(io, &cur, depth, nb, 4 * each, 0, buf, &r->bytes_per_s, err);
    }
    flm_io_close(io);
    free(buf);
    close(fd);
    return st;
}

double flm_plan_disk_rate(const struct flm_plan_disk *d, size_t chunk, int depth, bool random) {
    double best = 0, score = 1e300;
    for (int i = 0; i < d->n; i++) {
        const struct flm_plan_disk_row *r = &d->row[i];
        const double c = (double)(r->chunk > chunk ? r->chunk / chunk : chunk / r->chunk),
                     q = (double)(r->depth > depth ? r->depth / depth : depth / r->depth);
        const double s = c * q * (r->random == random ? 1 : 4);
        if (s < score) score = s, best = r->bytes_per_s;
    }
    return best;
}

// ---------------------------------------------------------------- memory

struct sweep {
    const uint64_t *p;
    size_t          n;
    uint64_t        sum[256];
};

static void sweep_worker(void *arg, int ith, int nth) {
    struct sweep *sw = arg;
    long lo, hi;
    flm_split((long)(sw->n / 8), ith, nth, &lo, &hi);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = (size_t)lo * 8; i < (size_t)hi * 8; i += 8) {
        s0 += sw->p[i] ^ sw->p[i + 4], s1 += sw->p[i + 1] ^ sw->p[i + 5];
        s2 += sw->p[i + 2] ^ sw->p[i + 6], s3 += sw->p[i + 3] ^ sw->p[i + 7];
    }
    sw->sum[ith & 255] += s0 + s1 + s2 + s3;
}

flm_status flm_plan_probe_mem(size_t max_bytes, int n_threads, double seconds, struct flm_plan_mem *out,
                              struct flm_err *err) {
    memset(out, 0, sizeof *out);
    if (max_bytes < 4 * MIB) max_bytes = 4 * MIB;
    struct flm_pool *pool;
    flm_status st = flm_pool_init(&pool, n_threads, err);
    if (st) return st;
    uint64_t *buf = NULL;
    if (posix_memalign((void **)&buf, 64, max_bytes)) {
        flm_pool_free(pool);
        return flm_err_set(err, FLM_ERR_NOMEM, "plan: out of memory for a %zu-byte memory sweep", max_bytes);
    }
    memset(buf, 1, max_bytes);
    int n_sizes = 0;
    for (size_t b = 4 * MIB; b <= max_bytes && n_sizes < FLM_PLAN_MAX_ROWS; b *= 4) n_sizes++;
    struct sweep sw = {buf, 0, {0}};
    for (size_t b = 4 * MIB; b <= max_bytes && out->n < FLM_PLAN_MAX_ROWS; b *= 4) {
        sw.n = b / sizeof *buf;
        double best = 1e300;
        flm_pool_run(pool, sweep_worker, &sw);  // warm
        const double t0 = now_s();
        for (int k = 0; k < 3 || now_s() - t0 < seconds / n_sizes; k++) {
            const double a = now_s();
            flm_pool_run(pool, sweep_worker, &sw);
            const double d = now_s() - a;
            best = d < best ? d : best;
        }
        out->row[out->n++] = (struct flm_plan_mem_row){b, (double)b / best};
    }
    free(buf);
    flm_pool_free(pool);
    return FLM_OK;
}

double flm_plan_mem_rate(const struct flm_plan_mem *m, uint64_t footprint) {
    for (int i = 0; i < m->n; i++)
        if (m->row[i].bytes >= footprint) return m->row[i].bytes_per_s;
    return m->n ? m->row[m->n - 1].bytes_per_s : 0;
}

// ---------------------------------------------------------------- compute

static void empty_region(void *arg, int ith, int nth) { (void)arg, (void)ith, (void)nth; }

// Mean time of one empty parallel region.
static double time_region(struct flm_pool *pool) {
    flm_pool_run(pool, empty_region, NULL);
    double best = 1e300;
    for (int r = 0; r < 5; r++) {
        const double t0 = now_s();
        for (int k = 0; k < 200; k++) flm_pool_run(pool, empty_region, NULL);
        const double d = (now_s() - t0) / 200;
        best = d < best ? d : best;
    }
    return best;
}

// The first region after the workers went to sleep (they spin for a while
// after each region, then block): the median of a few.
static double time_wake(struct flm_pool *pool) {
    double v[5];
    for (int r = 0; r < 5; r++) {
        const struct timespec nap = {0, 3000000};  // 3 ms: well past the spin
        nanosleep(&nap, NULL);
        const double t0 = now_s();
        flm_pool_run(pool, empty_region, NULL);
        v[r] = now_s() - t0;
    }
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (v[j] < v[i]) { const double x = v[i]; v[i] = v[j]; v[j] = x; }
    return v[2];
}

// Time per float of the element-wise work of a layer (norm, activation).
static double time_floats(void) {
    enum { N = 8192 };
    static float x[N], g[N], y[N], w[N];
    for (int i = 0; i < N; i++) x[i] = (float)(i % 97) * 0.01f, g[i] = 0.5f, w[i] = 1.0f;
    double best = 1e300;
    for (int r = 0; r < 20; r++) {
        const double t0 = now_s();
        flm_rmsnorm(y, x, w, N, 1e-6f);
        flm_swiglu(y, x, g, N);
        const double d = now_s() - t0;
        best = d < best ? d : best;
    }
    return best / (2.0 * N) * 1e9;
}

struct timed {
    struct flm_mat w;
    uint8_t       *buf;
    double         best_s;
};

static flm_status read_mat(int fd, const char *path, uint64_t size, const struct flm_plan_mat *pm, struct timed *t,
                           struct flm_err *err) {
    const uint64_t nbytes = (uint64_t)pm->w.n_rows * pm->w.row_bytes;
    const uint64_t a = pm->off & ~(uint64_t)(FLM_IO_ALIGN - 1);
    const uint64_t end = (pm->off + nbytes + FLM_IO_ALIGN - 1) & ~(uint64_t)(FLM_IO_ALIGN - 1);
    if (pm->off + nbytes > size)
        return flm_err_set(err, FLM_ERR_FORMAT, "plan: %s: tensor bytes [%llu, %llu) beyond the file's %llu", path,
                           (unsigned long long)pm->off, (unsigned long long)(pm->off + nbytes), (unsigned long long)size);
    if (posix_memalign((void **)&t->buf, FLM_IO_ALIGN, (size_t)(end - a)))
        return flm_err_set(err, FLM_ERR_NOMEM, "plan: out of memory for %llu bytes of weights",
                           (unsigned long long)(end - a));
    const size_t need = (size_t)((end > size ? size : end) - a);
    flm_status st = flm_io_pread(fd, path, t->buf, (size_t)(end - a), need, a, err);
    t->w = pm->w;
    t->w.data = t->buf + (pm->off - a);
    return st;
}

// Rounds of the n matmuls for about seconds, with 1 MiB reads depth at a
// time kept in flight when io (submitted between matmuls, as the store
// queues units between layers); mean seconds per round, bytes read.
static flm_status rounds(struct flm_pool *pool, struct timed *t, int n, const float *x, float *y, void *scratch,
                         struct flm_io *io, struct cursor *cur, int depth, int nb, uint8_t *rbuf, double seconds,
                         double *per_round, double *read_bps, struct flm_err *err) {
    struct flm_io_req reqs[64];
    bool inflight[MAX_BATCHES] = {false};
    uint64_t done = 0;
    int n_rounds = 0;
    flm_status st = FLM_OK;
    const double t0 = now_s();
    double el = 0;
    while (!st && (n_rounds < 2 || (el = now_s() - t0) < seconds)) {
        for (int i = 0; i < n && !st; i++) {
            for (int tag = 0; io && tag < nb && !st; tag++) {
                if (inflight[tag] && flm_io_busy(io, tag)) continue;
                if (inflight[tag]) {
                    st = flm_io_wait(io, tag, err);
                    done += (uint64_t)depth * MIB;
                    inflight[tag] = false;
                }
                for (int r = 0; r < depth; r++) reqs[r] = next_req(cur, rbuf + ((size_t)tag * depth + r) * MIB);
                if (!st && !(st = flm_io_submit(io, tag, reqs, depth, err))) inflight[tag] = true;
            }
            flm_matmul(pool, &t[i].w, x, 1, y, scratch);
        }
        n_rounds++;
    }
    el = now_s() - t0;
    for (int tag = 0; io && tag < nb; tag++)
        if (inflight[tag]) {
            flm_status s2 = flm_io_wait(io, tag, st ? NULL : err);
            if (!st) st = s2;
        }
    *per_round = el / n_rounds;
    *read_bps = (double)done / el;
    return st;
}

// The matmuls' slowdown while reads stream, and the read rate meanwhile.
static flm_status probe_overlap(int fd, const char *path, uint64_t size, struct flm_pool *pool, struct timed *t, int n,
                                const float *x, float *y, void *scratch, const struct flm_plan_region *reg, int depth,
                                double seconds, struct flm_plan_compute *out, struct flm_err *err) {
    int nb;
    size_deep(reg, size, &depth, &nb);
    if (depth < 1) return FLM_OK;
    struct flm_io *io;
    flm_status st = flm_io_open(&io, fd, path, FLM_IO_AUTO, nb, nb * depth, err);
    if (st) return st;
    uint8_t *rbuf = NULL;
    if (posix_memalign((void **)&rbuf, FLM_IO_ALIGN, (size_t)depth * nb * MIB)) {
        flm_io_close(io);
        return flm_err_set(err, FLM_ERR_NOMEM, "plan: out of memory for the read buffers");
    }
    double alone, under, none, bps;
    st = rounds(pool, t, n, x, y, scratch, NULL, NULL, 0, 0, NULL, seconds / 3, &alone, &none, err);
    struct cursor cur = {reg, size, 0, 0, 0};
    if (!st) st = rounds(pool, t, n, x, y, scratch, io, &cur, depth, nb, rbuf, seconds / 3, &under, &bps, err);
    if (!st) {
        double again;  // alone once more, after: the machine may have changed meanwhile
        st = rounds(pool, t, n, x, y, scratch, NULL, NULL, 0, 0, NULL, seconds / 3, &again, &none, err);
        alone = 0.5 * (alone + again);
        out->io_slowdown = under / alone;
        out->io_read_bps = bps;
    }
    flm_io_close(io);
    free(rbuf);
    return st;
}

flm_status flm_plan_probe_compute(const char *path, const struct flm_plan_mat *mats, int n, int n_threads,
                                  const struct flm_plan_region *reg, int depth, double seconds,
                                  struct flm_plan_compute *out, struct flm_err *err) {
    memset(out, 0, sizeof *out);
    int fd;
    uint64_t size;
    flm_status st = open_direct(path, &fd, &size, err);
    if (st) return st;
    struct flm_pool *pool = NULL;
    struct timed *t = calloc((size_t)(n > 0 ? n : 1), sizeof *t);
    size_t scratch_bytes = 0, x_n = 1, y_n = 1;
    for (int i = 0; i < n; i++) {
        const size_t sb = flm_matmul_scratch_bytes(mats[i].w.type, mats[i].w.n_cols, 1);
        scratch_bytes = sb > scratch_bytes ? sb : scratch_bytes;
        x_n = (size_t)mats[i].w.n_cols > x_n ? (size_t)mats[i].w.n_cols : x_n;
        y_n = (size_t)mats[i].w.n_rows > y_n ? (size_t)mats[i].w.n_rows : y_n;
    }
    float *x = malloc(sizeof *x * x_n), *y = malloc(sizeof *y * y_n);
    void *scratch = malloc(scratch_bytes ? scratch_bytes : 1);
    if (!t || !x || !y || !scratch) st = flm_err_set(err, FLM_ERR_NOMEM, "plan: out of memory");
    if (!st) st = flm_pool_init(&pool, n_threads, err);
    for (int i = 0; i < n && !st; i++) st = read_mat(fd, path, size, &mats[i], &t[i], err);
    if (!st) {
        uint64_t rng = 42;
        for (size_t i = 0; i < x_n; i++) x[i] = (float)((int)(next_rand(&rng) % 2001) - 1000) * 1e-3f;
        out->n_threads = flm_pool_size(pool);
        out->region_s = time_region(pool);
        out->wake_s = time_wake(pool);
        out->float_ns = time_floats();
        for (int i = 0; i < n; i++) {
            flm_matmul(pool, &t[i].w, x, 1, y, scratch);  // warm
            t[i].best_s = 1e300;
            const double t0 = now_s();
            for (int k = 0; k < 3 || now_s() - t0 < 0.5 * seconds / n; k++) {
                const double a = now_s();
                flm_matmul(pool, &t[i].w, x, 1, y, scratch);
                const double d = now_s() - a;
                t[i].best_s = d < t[i].best_s ? d : t[i].best_s;
            }
        }
        for (int i = 0; i < n && out->n_timed < FLM_PLAN_MAX_TIMED; i++)
            out->timed[out->n_timed++] =
                (struct flm_plan_timed){t[i].w.type, t[i].w.n_rows, t[i].w.n_cols, t[i].best_s};
        for (int i = 0; i < n; i++) {  // per type: bytes over time less the region overhead
            int k = 0;
            while (k < out->n && out->k[k].type != t[i].w.type) k++;
            if (k == out->n && out->n == FLM_PLAN_MAX_ROWS) continue;
            if (k == out->n) out->k[out->n++] = (struct flm_plan_kernel){t[i].w.type, 0, 0};
            out->k[k].bytes += (uint64_t)t[i].w.n_rows * t[i].w.row_bytes;
            const double d = t[i].best_s - out->region_s;
            out->k[k].bytes_per_s += d > 0.5 * t[i].best_s ? d : 0.5 * t[i].best_s;  // seconds, for now
        }
        for (int k = 0; k < out->n; k++) out->k[k].bytes_per_s = (double)out->k[k].bytes / out->k[k].bytes_per_s;
        if (depth > 0) st = probe_overlap(fd, path, size, pool, t, n, x, y, scratch, reg, depth, seconds, out, err);
    }
    for (int i = 0; t && i < n; i++) free(t[i].buf);
    free(t), free(x), free(y), free(scratch);
    flm_pool_free(pool);
    close(fd);
    return st;
}

double flm_plan_kernel_rate(const struct flm_plan_compute *c, enum flm_type type) {
    for (int k = 0; k < c->n; k++)
        if (c->k[k].type == type) return c->k[k].bytes_per_s;
    return 0;
}
