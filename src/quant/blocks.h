// blocks.h - on-disk block layouts of the GGUF/ggml quantization formats.
//
// A row of a quantized tensor is an array of blocks; each block encodes a fixed
// number of consecutive elements (32 for the "legacy" formats, QK_K = 256 for
// the K-quants). Layouts are byte-for-byte those of ggml, so a block pointer
// may be taken straight from a mapped GGUF file. Half floats are stored as raw
// uint16_t bits (convert with core/fp16.h); all multi-byte fields are little
// endian, which is the only byte order flashlm supports.
//
// Every struct carries a _Static_assert on its size, matching core/types.c.
#ifndef FLM_QUANT_BLOCKS_H
#define FLM_QUANT_BLOCKS_H

#include <stdint.h>

#define FLM_QK4_0 32
#define FLM_QK4_1 32
#define FLM_QK5_0 32
#define FLM_QK5_1 32
#define FLM_QK8_0 32
#define FLM_QK8_1 32
#define FLM_QK_K  256  // elements per K-quant super-block

// ---------------------------------------------------------------- 32-element blocks

// x[i] = (q[i] - 8) * d; q[i] is 4 bits. Element i < 16 sits in the low nibble
// of qs[i], element i + 16 in the high nibble of qs[i].
struct flm_block_q4_0 {
    uint16_t d;                   // f16 scale
    uint8_t  qs[FLM_QK4_0 / 2];   // nibbles
};
_Static_assert(sizeof(struct flm_block_q4_0) == 2 + 16, "q4_0 block size");

// x[i] = q[i] * d + m; nibble order as in q4_0.
struct flm_block_q4_1 {
    uint16_t d;                   // f16 scale
    uint16_t m;                   // f16 minimum
    uint8_t  qs[FLM_QK4_1 / 2];   // nibbles
};
_Static_assert(sizeof(struct flm_block_q4_1) == 2 + 2 + 16, "q4_1 block size");

// x[i] = (q[i] - 16) * d; q[i] is 5 bits: low 4 bits as in q4_0, bit 4 is bit
// i of qh read as a little-endian uint32.
struct flm_block_q5_0 {
    uint16_t d;                   // f16 scale
    uint8_t  qh[4];               // fifth bits, element i -> bit i
    uint8_t  qs[FLM_QK5_0 / 2];   // low nibbles
};
_Static_assert(sizeof(struct flm_block_q5_0) == 2 + 4 + 16, "q5_0 block size");

// x[i] = q[i] * d + m; q[i] 5 bits packed as in q5_0.
struct flm_block_q5_1 {
    uint16_t d;                   // f16 scale
    uint16_t m;                   // f16 minimum
    uint8_t  qh[4];               // fifth bits
    uint8_t  qs[FLM_QK5_1 / 2];   // low nibbles
};
_Static_assert(sizeof(struct flm_block_q5_1) == 2 + 2 + 4 + 16, "q5_1 block size");

// x[i] = qs[i] * d.
struct flm_block_q8_0 {
    uint16_t d;                   // f16 scale
    int8_t   qs[FLM_QK8_0];
};
_Static_assert(sizeof(struct flm_block_q8_0) == 2 + 32, "q8_0 block size");

// Activation-side block for q4_1/q5_1: x[i] = qs[i] * d, and s = d * sum(qs)
// so the weight's minimum can be applied once per block.
struct flm_block_q8_1 {
    uint16_t d;                   // f16 scale
    uint16_t s;                   // f16 of d * sum(qs)
    int8_t   qs[FLM_QK8_1];
};
_Static_assert(sizeof(struct flm_block_q8_1) == 2 + 2 + 32, "q8_1 block size");

// ---------------------------------------------------------------- 256-element super-blocks
//
// Common picture: a super-block of 256 elements is cut into sub-blocks of 16
// (Q2_K, Q3_K, Q6_K) or 32 (Q4_K, Q5_K) elements, each with its own small
// integer scale (and min), which are themselves multiplied by the f16 super
// scales d (and dmin).

// x = d * (sc & 15) * q - dmin * (sc >> 4), sc = scales[e / 16], q 2 bits.
// Element e: byte qs[32 * (e / 128) + e % 32], bits 2 * ((e % 128) / 32).
struct flm_block_q2_K {
    uint8_t  scales[FLM_QK_K / 16];  // low nibble: scale, high nibble: min
    uint8_t  qs[FLM_QK_K / 4];       // 2-bit quants
    uint16_t d;                      // f16 super-scale of the scales
    uint16_t dmin;                   // f16 super-scale of the mins
};
_Static_assert(sizeof(struct flm_block_q2_K) == 16 + 64 + 2 + 2, "q2_K block size");

// x = d * (s - 32) * (q - 4 * !h), q the 2 low bits placed as in q2_K, h bit
// (e / 32) of hmask[e % 32], s the 6-bit scale of sub-block e / 16. Scale j:
// low 4 bits from scales[j % 8] (low nibble for j < 8, high nibble for j >= 8),
// high 2 bits from scales[8 + j % 4] at bit 2 * (j / 4).
struct flm_block_q3_K {
    uint8_t  hmask[FLM_QK_K / 8];    // third bits
    uint8_t  qs[FLM_QK_K / 4];       // 2 low bits
    uint8_t  scales[12];             // 16 6-bit scales
    uint16_t d;                      // f16 super-scale
};
_Static_assert(sizeof(struct flm_block_q3_K) == 32 + 64 + 12 + 2, "q3_K block size");

// x = d * sc[j] * q - dmin * mn[j], j = e / 32, q 4 bits: qs[32 * (e / 64) + e % 32],
// low nibble when (e % 64) < 32. The 8 6-bit (sc, mn) pairs are packed in
// scales[12]: for j < 4, sc = scales[j] & 63, mn = scales[j + 4] & 63; for
// j >= 4, sc = (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4 and
// mn = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4.
struct flm_block_q4_K {
    uint16_t d;                      // f16 super-scale of the scales
    uint16_t dmin;                   // f16 super-scale of the mins
    uint8_t  scales[12];             // 6-bit scales and mins
    uint8_t  qs[FLM_QK_K / 2];       // 4-bit quants
};
_Static_assert(sizeof(struct flm_block_q4_K) == 2 + 2 + 12 + 128, "q4_K block size");

// As q4_K with a fifth bit: bit (e / 32) of qh[e % 32] adds 16 to q.
struct flm_block_q5_K {
    uint16_t d;                      // f16 super-scale of the scales
    uint16_t dmin;                   // f16 super-scale of the mins
    uint8_t  scales[12];             // 6-bit scales and mins, packed as q4_K
    uint8_t  qh[FLM_QK_K / 8];       // fifth bits
    uint8_t  qs[FLM_QK_K / 2];       // low 4 bits
};
_Static_assert(sizeof(struct flm_block_q5_K) == 2 + 2 + 12 + 32 + 128, "q5_K block size");

// x = d * scales[e / 16] * (q - 32), q 6 bits. With h = e / 128, r = e % 128,
// k = r / 32, l = r % 32: the low nibble is ql[64 h + l + 32 (k & 1)], low half
// for k < 2, high half for k >= 2; the top 2 bits are bits 2k..2k+1 of qh[32 h + l].
struct flm_block_q6_K {
    uint8_t  ql[FLM_QK_K / 2];       // low 4 bits
    uint8_t  qh[FLM_QK_K / 4];       // high 2 bits
    int8_t   scales[FLM_QK_K / 16];  // 8-bit signed scales
    uint16_t d;                      // f16 super-scale
};
_Static_assert(sizeof(struct flm_block_q6_K) == 128 + 64 + 16 + 2, "q6_K block size");

// Activation-side block for the K-quants: x = d * qs, with bsums[g] the sum
// of qs over the 16-element group g (so mins cost one product per group).
struct flm_block_q8_K {
    float   d;                       // f32 scale (not f16)
    int8_t  qs[FLM_QK_K];
    int16_t bsums[FLM_QK_K / 16];
};
_Static_assert(sizeof(struct flm_block_q8_K) == 4 + 256 + 32, "q8_K block size");

#endif
