// sparse.h - activation sparsity of gated FFNs: channel-wise thresholds,
// their calibration, how they sit in a GGUF file, and the per-token neuron
// masks that say which FFN weights are needed at all.
//
// A gated FFN computes down(act(gate(x)) * up(x)). Neuron i (one row of
// gate and up, one column of down) contributes nothing when act(gate_i) is
// zero, so when |act(gate_i)| falls under a threshold t_i the neuron is
// dropped: its up row and down column are neither computed nor read.
//
// Thresholds follow CHESS (He et al., 2024, channel-wise thresholding): the
// error of dropping neuron i is about |act_i| * E|up_i|, so for a target
// sparsity s one value lambda_s per layer is chosen such that a fraction s of
// the calibration's |act_i| * E|up_i| (over all tokens and channels of the
// layer) lies under it, and each channel gets t_i = lambda_s / E|up_i|. The
// methods differ in the channel scale c_i (t_i = lambda / c_i) and in where
// lambda is chosen:
//   cats        c_i = 1, one lambda per layer (CATS: the same t for every channel)
//   chess       c_i = E|up_i|, one lambda per layer (each layer skips s)
//   chess-down  c_i = E|up_i| * ||W_down[:, i]||, one lambda per layer (the
//               error vector a dropped neuron leaves is act_i * up_i * W_down[:, i])
//   chess-cond  c_i = E[|up_i| : |act_i| under the channel's median], one
//               lambda per layer: the |up| of the tokens a neuron is dropped
//               on, rather than of all tokens (gate and up read the same
//               input, so small |act| often comes with smaller |up|)
//   global      c_i of chess-cond times a layer gain g_l, one lambda for all
//               layers such that a fraction s of all token-layer-channels lies
//               under it, so layers skip different fractions. g_l^2 is the
//               layer's measured sensitivity: the KL divergence of the logits
//               with only that layer sparse, per unit of the error energy
//               (flm_sparse_calib_energy) its thresholds leave.
// The levels of the file are the fractions s. The default of flashlm
// calibrate is chess-cond (BENCHMARKS.md, "Sparsity thresholds: methods").
//
// In a GGUF file (written by flashlm calibrate, read by the model loader),
// as metadata only, so that the file keeps its tensors and still loads in
// llama.cpp (which refuses tensors it does not expect):
//   flashlm.sparsity.levels   f32 array, the sparsity levels s (0 < s < 1, ascending, at most 16)
//   flashlm.sparsity.method   string, the method: "chess-cond", "global", "chess-down", "chess" or "cats"
//   flashlm.sparsity.tokens   u32, calibration tokens
//   flashlm.sparsity.thr.N    f32 array of n_levels * n_ff: layer N's thresholds, level j at [j * n_ff]
//
// Nothing here allocates in the decode loop: masks use memory their owner
// sized once.
#ifndef FLM_SPARSE_SPARSE_H
#define FLM_SPARSE_SPARSE_H

#include "core/status.h"
#include "format/gguf.h"

#include <stdbool.h>
#include <stdint.h>

#define FLM_SPARSE_MAX_LEVELS 16
#define FLM_SPARSE_KEY_LEVELS "flashlm.sparsity.levels"
#define FLM_SPARSE_KEY_METHOD "flashlm.sparsity.method"
#define FLM_SPARSE_KEY_TOKENS "flashlm.sparsity.tokens"
#define FLM_SPARSE_KEY_THR    "flashlm.sparsity.thr."  // + layer number

// ---------------------------------------------------------------- masks

// The live neurons of one token in one layer: what the FFN computes and what
// a weight store has to make present (up rows and down columns live[0..n_live)).
struct flm_neuron_mask {
    int32_t  n_ff;
    int32_t  n_live;
    int32_t *live;  // [n_ff] ascending neuron indices; the first n_live are valid (owned by whoever sized it)
};

// Fills m from the activations act[0..n_ff) and thresholds thr[0..n_ff): a
// neuron lives when |act_i| >= thr_i; dead activations are set to 0.
// Returns m->n_live.
int32_t flm_sparse_mask_fill(struct flm_neuron_mask *m, float *act, const float *thr);

// Marks in block_live[0..n_ff/bs) the blocks of bs neurons that hold a live
// neuron (a column block of a quantized down matrix); returns their count.
int32_t flm_sparse_mask_blocks(const struct flm_neuron_mask *m, int32_t bs, uint8_t *block_live);

// ---------------------------------------------------------------- windowing

// Which neurons of one layer were live in the last n_window tokens (LLM in a
// flash's windowing): their weights are still cached, so a new token only
// needs the neurons that are live now and not in the window. last is owned
// by whoever sized it ([n_ff] entries).
struct flm_neuron_window {
    int32_t  n_ff;
    int32_t  n_window;  // tokens a used neuron stays cached
    int64_t  t;         // tokens seen
    int64_t *last;      // [n_ff] token index of the last use, or -1 (never); set to -1 by the owner
    int32_t  n_cached;  // neurons in the window after the last update
};

// Moves the window on by one token whose live neurons are m: writes the
// indices of the live neurons not in the window before (the ones to read)
// to fresh and returns their count; updates n_cached.
int32_t flm_sparse_window_update(struct flm_neuron_window *w, const struct flm_neuron_mask *m, int32_t *fresh);

// ---------------------------------------------------------------- thresholds in a model

struct flm_sparse_levels {
    int32_t n_levels;                      // 0: the file has no thresholds
    float   levels[FLM_SPARSE_MAX_LEVELS]; // ascending fractions in (0, 1)
};

// Reads and validates the levels key; n_levels 0 when the file has none.
flm_status flm_sparse_levels_load(struct flm_sparse_levels *out, const struct flm_gguf *g, struct flm_err *err);

// Layer il's thresholds: *thr points to n_levels rows of n_ff floats of the
// file's metadata (valid while g is open). FLM_ERR_FORMAT naming the key when
// it is missing, not an f32 array of that length, or holds a negative or NaN
// value.
flm_status flm_sparse_layer_load(const struct flm_gguf *g, int il, int64_t n_ff, int32_t n_levels,
                                 const float **thr, struct flm_err *err);

// Index of level s in lv (|s - level| < 0.005; s may also be given in percent,
// e.g. 50), or -1 with a message listing the levels the file has.
int32_t flm_sparse_level_find(const struct flm_sparse_levels *lv, float s, struct flm_err *err);

// ---------------------------------------------------------------- calibration

enum flm_sparse_method {
    FLM_SPARSE_CHESS      = 0,
    FLM_SPARSE_PER_LAYER  = 1,  // cats
    FLM_SPARSE_CHESS_DOWN = 2,
    FLM_SPARSE_GLOBAL     = 3,
    FLM_SPARSE_CHESS_COND = 4,
};

// The method's name as stored in the file ("chess", "cats", "chess-down", "global", "chess-cond").
const char *flm_sparse_method_name(enum flm_sparse_method m);
// The method named s, or -1.
int flm_sparse_method_parse(const char *s);

struct flm_sparse_calib;

flm_status flm_sparse_calib_init(struct flm_sparse_calib **out, int32_t n_layer, int32_t n_ff, struct flm_err *err);
void       flm_sparse_calib_free(struct flm_sparse_calib *c);

// Adds n_tok tokens of layer il: act[t * n_ff + i] = act(gate) and
// up[t * n_ff + i] = up(x) of channel i.
void flm_sparse_calib_add(struct flm_sparse_calib *c, int32_t il, const float *act, const float *up, int32_t n_tok);

// Layer il's down column norms: norm[i] = ||W_down[:, i]|| (1 until set).
void flm_sparse_calib_set_down(struct flm_sparse_calib *c, int32_t il, const float *norm);

// Sets layer il's gain g_l (see "global" above; 1 until set).
void flm_sparse_calib_set_gain(struct flm_sparse_calib *c, int32_t il, double gain);

// The error energy thresholds thr[0..n_ff) leave in layer il: per token, the
// sum over channels of E[(act_i * c_i)^2; |act_i| < thr_i], with c_i the
// method's channel scale without the gain.
double flm_sparse_calib_energy(const struct flm_sparse_calib *c, enum flm_sparse_method method, int32_t il,
                               const float *thr);

int64_t flm_sparse_calib_tokens(const struct flm_sparse_calib *c, int32_t il);

// Thresholds of every layer for n_levels ascending levels in (0, 1):
// thr[(il * n_levels + j) * n_ff + i]. A level is the fraction of the
// calibration's token-channels under threshold: in each layer, or over all
// layers together (global). FLM_ERR_INVALID when a layer saw no tokens, a
// level is out of range or the method is unknown.
flm_status flm_sparse_calib_thresholds(const struct flm_sparse_calib *c, enum flm_sparse_method method,
                                       const float *levels, int32_t n_levels, float *thr, struct flm_err *err);

// ---------------------------------------------------------------- writing

// FLM_ERR_INVALID when path names the file at src_path (same device and inode).
flm_status flm_sparse_check_output(const char *src_path, const char *path, struct flm_err *err);

// Writes a copy of src (every key and tensor byte for byte, minus any earlier
// flashlm.sparsity.* keys) plus the thresholds to
// path, through a temporary file renamed into place on success. Refuses a
// path that is src's own file (same device and inode).
flm_status flm_sparse_write(const struct flm_gguf *src, const char *src_path, const char *path,
                            enum flm_sparse_method method, const float *levels, int32_t n_levels, int32_t n_layer,
                            int64_t n_ff, uint32_t n_tokens, const float *thr, struct flm_err *err);

// ---------------------------------------------------------------- bundles

// Row-column bundling (LLM in a flash): per layer one tensor
//   blk.N.ffn_bundle   i8, ne = [bundle_bytes, n_ff]
// whose row i holds neuron i's up row (the bytes of ffn_up.weight row i, in
// its type) followed by its down column (column i of ffn_down.weight,
// dequantized and requantized to FLM_SPARSE_KEY_BUNDLE_TYPE, n_embd
// elements), padded to a multiple of 8 bytes; so one live neuron is one
// contiguous read. The original tensors stay for the dense path.
#define FLM_SPARSE_KEY_BUNDLE_TYPE "flashlm.bundle.down_type"
#define FLM_SPARSE_BUNDLE_TENSOR   "ffn_bundle"

// Bytes of one bundle row.
size_t flm_sparse_bundle_bytes(enum flm_type up_type, enum flm_type down_type, int64_t n_embd);

// Writes a copy of src (keys and tensors byte for byte, minus earlier
// bundles) plus the bundles of every layer, through a temporary file renamed
// into place; refuses path when it is src's own file. down_type must be a
// type with a reference quantizer whose block size divides n_embd.
flm_status flm_sparse_bundle_write(const struct flm_gguf *src, const char *src_path, const char *path,
                                   enum flm_type down_type, struct flm_err *err);

#endif
