// budget.c - the memory accountant's arithmetic and its messages.
#include "core/budget.h"

#include <stdio.h>
#include <string.h>

static const char *const item_names[FLM_MEM_N] = {
    [FLM_MEM_RUNTIME] = "runtime",
    [FLM_MEM_META] = "metadata and vocabulary",
    [FLM_MEM_CONTEXT] = "context (KV cache, scratch, logits)",
    [FLM_MEM_PINNED] = "pinned weights",
    [FLM_MEM_STREAM] = "stream buffers",
    [FLM_MEM_NEURON] = "neuron caches",
};

uint64_t flm_budget_total(const struct flm_budget *b) {
  uint64_t t = 0;
  for (int i = 0; i < FLM_MEM_N; i++)
    t += b->item[i];
  return t;
}

uint64_t flm_budget_left(const struct flm_budget *b) {
  uint64_t t = flm_budget_total(b);
  return t < b->limit ? b->limit - t : 0;
}

const char *flm_budget_size_str(uint64_t bytes, char *buf, size_t n) {
  if (bytes >= (1ull << 30))
    snprintf(buf, n, "%.2f GiB", (double)bytes / (1ull << 30));
  else
    snprintf(buf, n, "%.1f MiB", (double)bytes / (1ull << 20));
  return buf;
}

void flm_budget_describe(const struct flm_budget *b, char *buf, size_t n) {
  size_t at = 0;
  buf[0] = '\0';
  for (int i = 0; i < FLM_MEM_N && at < n; i++) {
    if (!b->item[i])
      continue;
    char s[32];
    int k =
        snprintf(buf + at, n - at, "%s%s %s", at ? ", " : "",
                 flm_budget_size_str(b->item[i], s, sizeof s), item_names[i]);
    if (k < 0)
      break;
    at += (size_t)k;
  }
}

flm_status flm_budget_check(const struct flm_budget *b, uint64_t extra,
                            const char *what, struct flm_err *err) {
  const uint64_t need = flm_budget_total(b) + extra;
  if (!b->limit || need <= b->limit)
    return FLM_OK;
  char lim[32], nd[32], ex[32], d[300], tail[128] = "";
  flm_budget_size_str(b->limit, lim, sizeof lim);
  flm_budget_size_str(need, nd, sizeof nd);
  if (!strcmp(lim,
              nd)) { // a limit just under the need: never the same figure twice
    snprintf(lim, sizeof lim, "%llu bytes", (unsigned long long)b->limit);
    snprintf(nd, sizeof nd, "%llu bytes", (unsigned long long)need);
  }
  flm_budget_describe(b, d, sizeof d);
  if (extra)
    snprintf(tail, sizeof tail, ", %s %s",
             flm_budget_size_str(extra, ex, sizeof ex), what);
  return flm_err_set(
      err, FLM_ERR_NOMEM,
      "memory budget %s is below the %s this model needs at minimum: %s%s", lim,
      nd, d, tail);
}
