// cli_convert.c - `flashlm convert --bundle IN OUT`: a copy of a model with
// row-column bundles (each FFN neuron's up row and down column together), so
// a sparse FFN reads one contiguous bundle per live neuron.
#include "cli.h"

#include "core/types.h"
#include "format/gguf.h"
#include "sparse/sparse.h"

#include <stdio.h>
#include <string.h>

static bool type_by_name(const char *s, enum flm_type *out) {
    for (uint32_t t = 0; t < FLM_TYPE_COUNT; t++) {
        const struct flm_type_layout *l = flm_type_layout(t);
        if (l && l->name && !strcmp(l->name, s)) {
            *out = (enum flm_type)t;
            return true;
        }
    }
    return false;
}

int cmd_convert(const struct opts *o) {
    if (!o->bundle || !o->out) {
        fprintf(stderr, "flashlm convert: usage: flashlm convert --bundle IN OUT (see --help)\n");
        return EXIT_USAGE;
    }
    enum flm_type dt = FLM_TYPE_Q8_0;
    if (o->bundle_type && !type_by_name(o->bundle_type, &dt)) {
        fprintf(stderr, "flashlm convert: unknown type '%s' for --bundle-type\n", o->bundle_type);
        return EXIT_USAGE;
    }
    struct flm_err err = {0};
    struct flm_gguf *g = NULL;
    double t0 = cli_now();
    flm_status s = flm_gguf_open(&g, o->model, 0, &err);
    if (s == FLM_OK) s = flm_sparse_bundle_write(g, o->model, o->out, dt, &err);
    flm_gguf_close(g);
    if (s) {
        fprintf(stderr, "flashlm: %s\n", err.msg);
        return 1;
    }
    printf("wrote %s: FFN up rows and %s down columns bundled per neuron (%.1f s)\n", o->out,
           flm_type_layout(dt)->name, cli_now() - t0);
    return 0;
}
