// neurons_test.c - the neuron cache (store/neurons.h) on a file of
// numbered bundles: misses read exactly the file's bytes (both readers,
// O_DIRECT where the file system has it), hits read nothing, the least
// recently used neuron not live now is evicted, a window forgets neurons
// older than W tokens, misses are read as aligned, merged requests; and the
// store's neuron mode on a small GGUF: gate in the unit, up and bundles
// never streamed, bundles from the cache equal to the file's, a file cut or
// replaced while in use an FLM_ERR_IO.
#include "test_util.h"

#include "format/gguf.h"
#include "store/neurons.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define NFF 300   // neurons
#define BB  1000  // bytes per bundle (not a divisor of a page)
#define OFF 777   // file offset of neuron 0

static char dir[256], raw[300], gguf[300];

static uint8_t byte_of(int layer, int n, int i) { return (uint8_t)((layer * 1000003u + n * 7919u + i * 31u) >> 3); }

static void write_raw(const char *p) {
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    for (int i = 0; i < OFF; i++) fputc(0xEE, f);
    for (int n = 0; n < NFF; n++)
        for (int i = 0; i < BB; i++) fputc(byte_of(0, n, i), f);
    assert_int_equal(fclose(f), 0);
}

struct rig {
    struct flm_neurons   *nc;
    struct flm_io        *io;
    int                   fd;
    struct flm_neurons_io rd;
    int32_t               slot[NFF];
};

static void rig_open(struct rig *r, enum flm_io_kind kind, int32_t capacity, int32_t window, size_t gap) {
    memset(r, 0, sizeof *r);
    r->fd = open(raw, O_RDONLY | O_DIRECT);
    const bool direct = r->fd >= 0;
    if (r->fd < 0) r->fd = open(raw, O_RDONLY);
    assert_true(r->fd >= 0);
    struct flm_err err = {0};
    flm_status st = flm_io_open(&r->io, r->fd, raw, kind, 1, 64, &err);
    if (st == FLM_ERR_UNSUPPORTED) st = flm_io_open(&r->io, r->fd, raw, FLM_IO_POSIX, 1, 64, &err);
    assert_int_equal(st, FLM_OK);
    struct flm_neurons_params p = {.n_layers = 1, .n_ff = NFF, .bundle_bytes = BB, .capacity = capacity,
                                   .window = window, .staging = 4 * FLM_IO_ALIGN, .max_gap = gap, .max_reqs = 64};
    assert_int_equal(flm_neurons_init(&r->nc, &p, &err), FLM_OK);
    flm_neurons_set_layer(r->nc, 0, OFF, BB);
    struct stat sb;
    assert_int_equal(fstat(r->fd, &sb), 0);
    r->rd = (struct flm_neurons_io){.io = r->io, .tag = 0, .fd = r->fd, .path = raw, .file_size = (uint64_t)sb.st_size,
                                    .direct = direct};
}

static void rig_close(struct rig *r) {
    flm_neurons_free(r->nc);
    flm_io_close(r->io);
    close(r->fd);
}

// Fetches live (one token) and checks every bundle against the file.
static void fetch(struct rig *r, const int32_t *live, int32_t n) {
    struct flm_err err = {0};
    assert_int_equal(flm_neurons_fetch(r->nc, 0, live, n, true, r->slot, &r->rd, &err), FLM_OK);
    const uint8_t *base = flm_neurons_base(r->nc, 0);
    for (int32_t k = 0; k < n; k++)
        for (int i = 0; i < BB; i++)
            if (base[(size_t)r->slot[k] * flm_neurons_stride(r->nc) + i] != byte_of(0, live[k], i))
                fail_msg("neuron %d byte %d wrong in slot %d", live[k], i, r->slot[k]);
}

static struct flm_neurons_stats stats(const struct rig *r) {
    struct flm_neurons_stats s;
    flm_neurons_get_stats(r->nc, &s);
    return s;
}

static void test_bytes(enum flm_io_kind kind) {
    write_raw(raw);
    struct rig r;
    rig_open(&r, kind, 64, 0, 0);
    uint64_t seed = 7;
    for (int t = 0; t < 40; t++) {  // random sets, then the last neuron (its pages end the file)
        int32_t live[64], n = 0;
        for (int32_t i = 0; i < NFF && n < 64; i++)
            if (flm_test_rand(&seed) % 8 == 0 || (t == 39 && i == NFF - 1)) live[n++] = i;
        fetch(&r, live, n);
    }
    const struct flm_neurons_stats s = stats(&r);
    assert_true(s.hits > 0 && s.hits < s.lookups && s.n_reads > 0);
    assert_int_equal(s.bytes_read % FLM_IO_ALIGN, 0);
    rig_close(&r);
}

static void test_bytes_posix(void **state) { (void)state; test_bytes(FLM_IO_POSIX); }
static void test_bytes_uring(void **state) { (void)state; test_bytes(FLM_IO_URING); }

static void test_lru(void **state) {
    (void)state;
    write_raw(raw);
    struct rig r;
    rig_open(&r, FLM_IO_AUTO, 4, 0, 0);
    const int32_t a[] = {0, 1, 2, 3}, b[] = {4}, c[] = {1, 2, 3}, d[] = {0};
    fetch(&r, a, 4);
    assert_int_equal(stats(&r).hits, 0);
    fetch(&r, c, 3);  // 0 is now the least recently used
    assert_int_equal(stats(&r).hits, 3);
    fetch(&r, b, 1);  // evicts 0
    assert_int_equal(flm_neurons_cached(r.nc, 0), 4);
    fetch(&r, d, 1);  // a miss again; evicts 1
    assert_int_equal(stats(&r).hits, 3);
    fetch(&r, c + 1, 2);  // 2 and 3 still cached
    assert_int_equal(stats(&r).hits, 5);
    assert_int_equal(stats(&r).lookups, 11);
    // a token with as many live neurons as slots evicts none of them while reading
    const int32_t e[] = {10, 11, 12, 13};
    fetch(&r, e, 4);
    fetch(&r, e, 4);
    assert_int_equal(stats(&r).hits, 9);
    rig_close(&r);
}

static void test_window(void **state) {
    (void)state;
    write_raw(raw);
    struct rig r;
    rig_open(&r, FLM_IO_AUTO, 8, 2, 0);  // kept while used in one of the last 2 tokens
    const int32_t n0[] = {0}, n1[] = {1}, n2[] = {2};
    fetch(&r, n0, 1);  // token 1
    fetch(&r, n1, 1);  // token 2
    fetch(&r, n0, 1);  // token 3: 0 used at token 1, within 2: a hit
    assert_int_equal(stats(&r).hits, 1);
    fetch(&r, n2, 1);  // token 4
    fetch(&r, n2, 1);  // token 5
    fetch(&r, n1, 1);  // token 6: 1 last used at token 2, 4 tokens ago: read again
    assert_int_equal(stats(&r).hits, 2);
    assert_int_equal(flm_neurons_cached(r.nc, 0), 2);  // 1 and 2 (used at tokens 6 and 5) for token 7
    rig_close(&r);
}

static void test_coalescing(void **state) {
    (void)state;
    write_raw(raw);
    struct rig r;
    rig_open(&r, FLM_IO_AUTO, 64, 0, 0);
    const int32_t near[] = {0, 1, 2, 3};  // bytes 777..4777: pages 0 and 1, one request
    fetch(&r, near, 4);
    assert_int_equal(stats(&r).n_reads, 1);
    assert_int_equal(stats(&r).bytes_read, 2 * FLM_IO_ALIGN);
    const int32_t far[] = {100, 200};  // pages apart: two requests of one page each
    fetch(&r, far, 2);
    assert_int_equal(stats(&r).n_reads, 3);
    assert_int_equal(stats(&r).bytes_read, 4 * FLM_IO_ALIGN);
    rig_close(&r);
    rig_open(&r, FLM_IO_AUTO, 64, 0, 64 << 10);  // a gap of up to 64 KiB is read through
    fetch(&r, far, 2);  // 100: 100777..101777, 200: 200777..201777: 97 pages apart
    assert_int_equal(stats(&r).n_reads, 2);
    const int32_t mid[] = {150, 160};  // 10000 bytes apart: one request
    fetch(&r, mid, 2);
    assert_int_equal(stats(&r).n_reads, 3);
    rig_close(&r);
    rig_open(&r, FLM_IO_AUTO, 64, 0, 1 << 20);  // staging of 4 pages: a long merge is cut into batches
    int32_t many[40];
    for (int i = 0; i < 40; i++) many[i] = 5 * i;
    fetch(&r, many, 40);
    assert_true(stats(&r).n_reads >= 10);
    rig_close(&r);
}

static void test_truncated_raw(void **state) {
    (void)state;
    write_raw(raw);
    struct rig r;
    rig_open(&r, FLM_IO_AUTO, 16, 0, 0);
    const int32_t a[] = {0, 250, 299};
    assert_int_equal(truncate(raw, OFF + 200 * BB), 0);
    struct flm_err err = {0};
    assert_int_equal(flm_neurons_fetch(r.nc, 0, a, 3, true, r.slot, &r.rd, &err), FLM_ERR_IO);
    assert_non_null(strstr(err.msg, raw));
    assert_int_equal(flm_neurons_cached(r.nc, 0), 0);  // nothing kept from the failed read
    rig_close(&r);
}

// ---------------------------------------------------------------- the store in neuron mode

#define LAYERS 4
#define COLS   64  // f32: 256-byte rows

struct fx {
    struct flm_gguf  *g;
    struct flm_store *s;
    int               attn[LAYERS], gate[LAYERS], up[LAYERS], bundle[LAYERS];
};

static void write_gguf(const char *p) {
    struct flm_gguf_writer *w;
    assert_int_equal(flm_gguf_writer_init(&w, 3, 0), FLM_OK);
    float *f = calloc(COLS * NFF, sizeof(float));
    uint8_t *b = malloc((size_t)NFF * BB);
    char nm[64];
    for (int l = 0; l < LAYERS; l++) {
        const char *names[] = {"attn", "gate", "up"};
        for (int k = 0; k < 3; k++) {
            for (int i = 0; i < COLS * NFF; i++) f[i] = (float)(l * 10 + k) * 1e5f + (float)i;
            snprintf(nm, sizeof nm, "blk.%d.%s", l, names[k]);
            int64_t ne[2] = {COLS, NFF};
            assert_int_equal(flm_gguf_writer_tensor(w, nm, FLM_TYPE_F32, 2, ne, f, sizeof(float) * COLS * NFF), FLM_OK);
        }
        for (int n = 0; n < NFF; n++)
            for (int i = 0; i < BB; i++) b[(size_t)n * BB + i] = byte_of(l, n, i);
        snprintf(nm, sizeof nm, "blk.%d.ffn_bundle", l);
        int64_t ne[2] = {BB, NFF};
        assert_int_equal(flm_gguf_writer_tensor(w, nm, FLM_TYPE_I8, 2, ne, b, (size_t)NFF * BB), FLM_OK);
    }
    free(f), free(b);
    struct flm_err err = {0};
    assert_int_equal(flm_gguf_writer_to_file(w, p, &err), FLM_OK);
    flm_gguf_writer_free(w);
}

// A budget of 1 MiB: room for attention pinned and little else (no FFN layer).
static flm_status fx_open(struct fx *x, bool neuron, struct flm_err *err) {
    memset(x, 0, sizeof *x);
    assert_int_equal(flm_gguf_open(&x->g, gguf, FLM_GGUF_OPEN_HEADER, err), FLM_OK);
    struct flm_store_params p = {.budget = 1u << 20, .io = FLM_IO_AUTO, .min_slots = 2, .max_slots = 2};
    assert_int_equal(flm_store_open(&x->s, x->g, &p, err), FLM_OK);
    char nm[64];
    for (int l = 0; l < LAYERS; l++) {
#define T(s) (snprintf(nm, sizeof nm, "blk.%d.%s", l, s), flm_gguf_find_tensor(x->g, nm))
        x->attn[l] = flm_store_add(x->s, T("attn"), l, FLM_STORE_ATTN, NFF, COLS * 4, 1);
        x->gate[l] = flm_store_add(x->s, T("gate"), l, FLM_STORE_FFN, NFF, COLS * 4, 1);
        x->up[l] = flm_store_add_role(x->s, T("up"), l, FLM_STORE_FFN, NFF, COLS * 4, FLM_STORE_ROLE_DENSE);
        x->bundle[l] = flm_store_add_role(x->s, T("ffn_bundle"), l, FLM_STORE_FFN, NFF, BB, FLM_STORE_ROLE_BUNDLE);
#undef T
    }
    flm_store_neuron_mode(x->s, neuron ? 40 : 0, 0);
    struct flm_budget b = {.limit = 1u << 20};
    return flm_store_commit(x->s, &b, err);
}

static void fx_close(struct fx *x) {
    flm_store_close(x->s);
    flm_gguf_close(x->g);
}

// One pass over the layers; live neurons of layer l: every (l + 3)-th.
static flm_status fx_pass(struct fx *x, bool check, struct flm_err *err) {
    for (int l = 0; l < LAYERS; l++) {
        flm_status st = flm_store_acquire(x->s, l, 0, err);
        if (st) return st;
        int64_t r0, n;
        const float *g = flm_store_view(x->s, x->gate[l], 0, &r0, &n);
        assert_non_null(g);
        assert_true(g[5] == (float)(l * 10 + 1) * 1e5f + 5.0f);
        assert_null(flm_store_view(x->s, x->up[l], 0, &r0, &n));      // never read in neuron mode
        assert_null(flm_store_view(x->s, x->bundle[l], 0, &r0, &n));  // read neuron by neuron
        int32_t live[NFF], slot[NFF], nl = 0;
        for (int i = 0; i < NFF && nl < 40; i += l + 3) live[nl++] = i;
        size_t stride;
        const uint8_t *base = flm_store_neurons(x->s, l, live, nl, true, slot, &stride, err);
        flm_store_release(x->s, l, 0);
        if (!base) return err->status;
        for (int k = 0; check && k < nl; k++)
            for (int i = 0; i < BB; i += 7)
                assert_int_equal(base[(size_t)slot[k] * stride + i], byte_of(l, live[k], i));
    }
    return FLM_OK;
}

static void test_store_mode(void **state) {
    (void)state;
    write_gguf(gguf);
    struct fx x;
    struct flm_err err = {0};
    assert_int_equal(fx_open(&x, true, &err), FLM_OK);
    assert_true(flm_store_neuron_active(x.s));
    struct flm_model_io io;
    flm_store_get_io(x.s, &io);
    // each layer's unit is its gate (and attention, when it is not pinned): up and bundles are not streamed
    const uint64_t mat = NFF * COLS * 4 + 2 * FLM_IO_ALIGN;  // one matrix's aligned span, at most
    assert_true(io.stream_bytes >= (uint64_t)LAYERS * NFF * COLS * 4 && io.stream_bytes <= LAYERS * 2 * mat);
    assert_true(io.pinned_bytes <= LAYERS * mat);  // at most attention
    assert_true(io.neuron_capacity >= 40 && io.neuron_layers == LAYERS && io.cache_hit_rate == 0);
    for (int l = 0; l < LAYERS; l++) assert_true(flm_store_neuron_group(x.s, l));
    assert_int_equal(fx_pass(&x, true, &err), FLM_OK);
    assert_int_equal(fx_pass(&x, true, &err), FLM_OK);
    flm_store_get_io(x.s, &io);
    assert_true(io.cache_hit_rate == 0.5);  // the second pass finds all of the first's neurons
    fx_close(&x);
    // dense: the bundles are never read (neither pinned nor streamed), up is
    assert_int_equal(fx_open(&x, false, &err), FLM_OK);
    assert_false(flm_store_neuron_active(x.s));
    flm_store_get_io(x.s, &io);
    assert_int_equal(io.pinned_bytes + io.stream_bytes >= (uint64_t)LAYERS * 3 * NFF * COLS * 4, 1);
    assert_true(io.pinned_bytes + io.stream_bytes <= LAYERS * 3 * mat);
    assert_true(io.cache_hit_rate < 0 && io.neuron_layers == 0);
    int64_t r0, n;
    assert_null(flm_store_resident(x.s, x.bundle[0]));
    assert_null(flm_store_view(x.s, x.bundle[0], 0, &r0, &n));
    fx_close(&x);
}

static void store_changed(bool replace) {
    write_gguf(gguf);
    struct fx x;
    struct flm_err err = {0};
    assert_int_equal(fx_open(&x, true, &err), FLM_OK);
    assert_int_equal(fx_pass(&x, true, &err), FLM_OK);
    assert_int_equal(flm_store_acquire(x.s, 0, 0, &err), FLM_OK);
    if (replace) {
        char other[320];
        snprintf(other, sizeof other, "%s.new", gguf);
        write_gguf(other);
        assert_int_equal(rename(other, gguf), 0);
    } else {
        struct stat sb;
        assert_int_equal(stat(gguf, &sb), 0);
        assert_int_equal(truncate(gguf, sb.st_size - 100000), 0);
    }
    // neurons not cached yet: read now, and refused
    const int32_t live[] = {1, 2};
    int32_t slot[2];
    size_t stride;
    assert_null(flm_store_neurons(x.s, 0, live, 2, true, slot, &stride, &err));
    assert_int_equal(err.status, FLM_ERR_IO);
    assert_non_null(strstr(err.msg, gguf));
    assert_non_null(strstr(err.msg, replace ? "replaced" : "changed while in use"));
    flm_store_release(x.s, 0, 0);
    flm_status st = FLM_OK;
    for (int k = 0; k < 3 && st == FLM_OK; k++) st = fx_pass(&x, false, &err);
    assert_int_equal(st, FLM_ERR_IO);
    fx_close(&x);
}

static void test_store_truncated(void **state) { (void)state; store_changed(false); }
static void test_store_replaced(void **state) { (void)state; store_changed(true); }

static int setup(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "neurons_test_XXXXXX");  // in the build folder: a disk file system (O_DIRECT)
    if (!mkdtemp(dir)) return -1;
    snprintf(raw, sizeof raw, "%s/bundles.bin", dir);
    snprintf(gguf, sizeof gguf, "%s/model.gguf", dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_posix),     cmocka_unit_test(test_bytes_uring),
        cmocka_unit_test(test_lru),             cmocka_unit_test(test_window),
        cmocka_unit_test(test_coalescing),      cmocka_unit_test(test_truncated_raw),
        cmocka_unit_test(test_store_mode),      cmocka_unit_test(test_store_truncated),
        cmocka_unit_test(test_store_replaced),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
