// cli_plan.c - `flashlm plan`: the cost model's prediction for generating
// with a model under --mem-budget (or in memory) on this machine: the
// memory breakdown, the residency the weight store would choose, the disk,
// memory and kernel measurements, a roofline row per layer and the
// predicted tokens/s. Nothing is generated; the weights are not loaded.
#include "cli.h"

#include "plan/plan.h"

#include <stdio.h>

static double mib(uint64_t b) { return (double)b / 1048576.0; }

static const char *where_str(enum flm_plan_where w) {
    static const char *const s[] = {"-", "pinned", "streamed", "on demand"};
    return s[w];
}

static void print_json(const struct opts *o, const struct flm_plan *pl) {
    static const char *const items[FLM_MEM_N] = {[FLM_MEM_RUNTIME] = "runtime", [FLM_MEM_META] = "metadata",
                                                 [FLM_MEM_CONTEXT] = "context", [FLM_MEM_PINNED] = "pinned",
                                                 [FLM_MEM_STREAM] = "stream", [FLM_MEM_NEURON] = "neuron"};
    _Static_assert(FLM_MEM_N == 6, "a name for every accountant item");
    printf("{\"model\": \"%s\", \"file_bytes\": %llu, \"weight_bytes\": %llu, \"mem_budget\": %llu, \"threads\": %d, "
           "\"n_ctx\": %d,\n \"memory\": {",
           o->model, (unsigned long long)pl->file_bytes, (unsigned long long)pl->weight_bytes,
           (unsigned long long)pl->mem.limit, pl->n_threads, pl->n_ctx);
    for (int i = 0; i < FLM_MEM_N; i++) printf("\"%s\": %llu, ", items[i], (unsigned long long)pl->mem.item[i]);
    printf("\"total\": %llu},\n", (unsigned long long)flm_budget_total(&pl->mem));
    printf(" \"pinned_bytes\": %llu, \"stream_bytes\": %llu, \"slot_bytes\": %llu, \"pool_slots\": %d, \"units\": %d,\n",
           (unsigned long long)pl->pinned_bytes, (unsigned long long)pl->stream_bytes,
           (unsigned long long)pl->slot_bytes, pl->n_slots, pl->n_units);
    printf(" \"disk\": [");
    for (int i = 0; i < pl->disk.n; i++)
        printf("%s{\"chunk\": %zu, \"depth\": %d, \"random\": %s, \"bytes_per_s\": %.0f}", i ? ", " : "",
               pl->disk.row[i].chunk, pl->disk.row[i].depth, pl->disk.row[i].random ? "true" : "false",
               pl->disk.row[i].bytes_per_s);
    printf("],\n \"memory_bandwidth\": [");
    for (int i = 0; i < pl->memory.n; i++)
        printf("%s{\"bytes\": %zu, \"bytes_per_s\": %.0f}", i ? ", " : "", pl->memory.row[i].bytes,
               pl->memory.row[i].bytes_per_s);
    printf("],\n \"kernels\": [");
    for (int i = 0; i < pl->compute.n; i++)
        printf("%s{\"type\": \"%s\", \"bytes_per_s\": %.0f}", i ? ", " : "",
               flm_type_layout(pl->compute.k[i].type)->name, pl->compute.k[i].bytes_per_s);
    printf("], \"region_s\": %.9f, \"wake_s\": %.9f, \"float_ns\": %.4f, \"io_slowdown\": %.3f, \"io_read_bytes_per_s\": %.0f,\n",
           pl->compute.region_s, pl->compute.wake_s, pl->compute.float_ns, pl->compute.io_slowdown, pl->compute.io_read_bps);
    printf(" \"footprint_bytes\": %llu, \"mem_bytes_per_s\": %.0f, \"read_bytes_per_s\": %.0f, \"read_depth\": %d, "
           "\"row_read_s\": %.6f, \"other_s\": %.6f,\n \"layers\": [",
           (unsigned long long)pl->footprint, pl->mem_bps, pl->read_bps, pl->read_depth, pl->row_read_s, pl->other_s);
    for (int g = 0; g < pl->n_rows; g++) {
        const struct flm_plan_row *r = &pl->rows[g];
        printf("%s\n  {\"group\": %d, \"name\": \"%s\", \"attn\": \"%s\", \"ffn\": \"%s\", \"head\": \"%s\", "
               "\"mem_bytes\": %llu, \"flash_bytes\": %llu, \"compute_s\": %.6f, \"io_s\": %.6f, \"bound\": \"%s\"}",
               g ? "," : "", r->group, g < pl->n_layer ? "layer" : "lm_head", where_str(r->attn), where_str(r->ffn),
               where_str(r->head), (unsigned long long)r->mem_bytes, (unsigned long long)r->flash_bytes, r->compute_s,
               r->io_s, r->io_bound ? "io" : "compute");
    }
    printf("],\n \"predicted\": {\"tok_s\": %.3f, \"token_s\": %.6f, \"io_wait_s\": %.6f, \"compute_s\": %.6f, "
           "\"io_s\": %.6f, \"read_bytes_per_token\": %llu}}\n",
           pl->tok_s, pl->pipe.token_s, pl->pipe.io_wait_s, pl->pipe.compute_s, pl->pipe.io_s,
           (unsigned long long)pl->stream_bytes);
}

static void print_text(const struct opts *o, const struct flm_plan *pl) {
    char d[400], sz[32];
    printf("model %s (%.1f MiB), %d threads, context %d tokens\n", o->model, mib(pl->file_bytes), pl->n_threads,
           pl->n_ctx);
    if (pl->mem.limit) {
        flm_budget_describe(&pl->mem, d, sizeof d);
        printf("memory: budget %s, planned %.1f MiB: %s\n", flm_budget_size_str(pl->mem.limit, sz, sizeof sz),
               mib(flm_budget_total(&pl->mem)), d);
        printf("residency: %.1f MiB pinned, %.1f MiB streamed per token in %d units through %d buffers of %.1f MiB\n",
               mib(pl->pinned_bytes), mib(pl->stream_bytes), pl->n_units, pl->n_slots, mib(pl->slot_bytes));
    } else {
        printf("memory: no budget: every weight in memory (%.1f MiB touched per token)\n", mib(pl->footprint));
    }
    printf("\ndisk (O_DIRECT reads of the model file):\n");
    for (int i = 0; i < pl->disk.n; i++) {
        const struct flm_plan_disk_row *r = &pl->disk.row[i];
        printf("  %6zu KiB  depth %2d  %-10s  %8.1f MB/s\n", r->chunk >> 10, r->depth,
               r->random ? "random" : "sequential", r->bytes_per_s / 1e6);
    }
    printf("memory read bandwidth (%d threads):", pl->n_threads);
    for (int i = 0; i < pl->memory.n; i++)
        printf(" %.0f MiB %.1f GB/s%s", mib(pl->memory.row[i].bytes), pl->memory.row[i].bytes_per_s / 1e9,
               i + 1 < pl->memory.n ? "," : "\n");
    printf("kernels (one-token matmul, %d threads):", pl->n_threads);
    for (int i = 0; i < pl->compute.n; i++)
        printf(" %s %.1f GB/s%s", flm_type_layout(pl->compute.k[i].type)->name, pl->compute.k[i].bytes_per_s / 1e9,
               i + 1 < pl->compute.n ? "," : "");
    printf("; %.1f us per parallel region, %.1f us to wake the pool\n", pl->compute.region_s * 1e6,
           pl->compute.wake_s * 1e6);
    if (pl->compute.io_slowdown > 0)
        printf("kernels while reads stream: %.2fx the time; reads meanwhile %.1f MB/s\n", pl->compute.io_slowdown,
               pl->compute.io_read_bps / 1e6);
    printf("weights in memory: %.1f MiB touched per token, read at %.1f GB/s", mib(pl->footprint), pl->mem_bps / 1e9);
    if (pl->n_units)
        printf("; streamed at %.1f MB/s (1 MiB reads, %d per unit, %d units in flight)", pl->read_bps / 1e6,
               pl->read_depth, pl->n_slots);
    printf("\n");
    printf("\n%-8s %-9s %-9s %-9s %9s %9s %10s %8s  %s\n", "layer", "attn", "ffn", "head", "mem MiB", "flash MiB",
           "compute ms", "read ms", "bound");
    for (int g = 0; g < pl->n_rows; g++) {
        const struct flm_plan_row *r = &pl->rows[g];
        char name[16];
        if (g < pl->n_layer) snprintf(name, sizeof name, "%d", g);
        else snprintf(name, sizeof name, "lm_head");
        printf("%-8s %-9s %-9s %-9s %9.2f %9.2f %10.3f %8.3f  %s\n", name, where_str(r->attn), where_str(r->ffn),
               where_str(r->head), mib(r->mem_bytes), mib(r->flash_bytes), r->compute_s * 1e3, r->io_s * 1e3,
               r->io_bound ? "I/O" : "compute");
    }
    if (pl->row_read_s > 0) printf("embedding row read on demand: %.3f ms per token\n", pl->row_read_s * 1e3);
    printf("\npredicted: %.2f tok/s (%.1f ms per token: %.1f ms computing, %.1f ms waiting for reads; disk busy %.1f ms, "
           "%.1f MiB read per token)\n",
           pl->tok_s, pl->pipe.token_s * 1e3, pl->pipe.compute_s * 1e3, pl->pipe.io_wait_s * 1e3, pl->pipe.io_s * 1e3,
           mib(pl->stream_bytes));
}

int cmd_plan(const struct opts *o) {
    if (o->sparsity != 0 || o->sparse_window || o->spec.mode != FLM_SPEC_NONE) {
        fprintf(stderr, "flashlm plan: %s is not modelled (plan predicts dense, plain generation)\n",
                o->spec.mode != FLM_SPEC_NONE ? "--spec" : "--sparsity");
        return EXIT_USAGE;
    }
    struct flm_plan_params p = flm_plan_params_default();
    p.mem_budget = o->mem_budget;
    p.n_threads = o->n_threads;
    p.n_ctx = o->n_ctx;
    p.n_batch = o->n_batch;
    struct flm_plan pl;
    struct flm_err err = {0};
    if (flm_plan_model(o->model, &p, &pl, &err)) {
        cli_print_open_error(o, &err);
        return 1;
    }
    if (o->json) print_json(o, &pl);
    else print_text(o, &pl);
    flm_plan_free(&pl);
    return 0;
}
