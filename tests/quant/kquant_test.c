// kquant_test.c - the 256-element super-block formats (q2_K ... q6_K, q8_K):
// hand-decoded blocks, the q8_K activation quantizer against hand-computed
// levels, round-trip error and dot products on awkward sizes.
#include "quant_test_util.h"

#include "quant/qround.h"

// ---------------------------------------------------------------- hand-built blocks
//
// The expected values were worked out by hand from the layouts in
// quant/blocks.h; each comment gives the fields read and the arithmetic.
// Element e splits as: g = e / 16 (or e / 32), and for the 2-bit planes
// h = e / 128, j = (e % 128) / 32, l = e % 32.

// qs bytes 0..31 = 0xE4 (planes j = 0..3 hold 0,1,2,3), bytes 32..63 = 0x1B
// (planes hold 3,2,1,0), byte 5 = 0: the 2-bit level is j for e < 128 and
// 3 - j above, except 0 where e % 32 == 5 and e < 128.
static void fill_2bit_planes(uint8_t *qs) {
    for (int b = 0; b < 64; ++b) qs[b] = b < 32 ? 0xE4 : 0x1B;
    qs[5] = 0;
}

static void test_q2_K_block(void **state) {
    (void)state;
    // d = 1, dmin = 0.5, scales[g] = g | (15 - g) << 4: x = g q - 0.5 (15 - g)
    struct flm_block_q2_K b = {.d = 0x3C00, .dmin = 0x3800};
    for (int g = 0; g < 16; ++g) b.scales[g] = (uint8_t)(g | (15 - g) << 4);
    fill_2bit_planes(b.qs);
    float y[256];
    flm_q2_K_dequantize_ref(&b, y, 256);
    static const int idx[] = {0, 37, 40, 100, 130, 165, 200, 255};
    static const float want[] = {
        -7.5f,  // g0 q0: 0 - 7.5
        -6.5f,  // g2, l = 5 (byte 5 = 0) q0: 0 - 6.5
        -4.5f,  // g2 j1 q1: 2 - 6.5
        13.5f,  // g6 j3 q3: 18 - 4.5
        20.5f,  // g8 h1 j0 q3: 24 - 3.5
        17.5f,  // g10 h1 j1 q2 (byte 37 = 0x1B): 20 - 2.5
        10.5f,  // g12 h1 j2 q1: 12 - 1.5
        0.0f,   // g15 h1 j3 q0: 0 - 0
    };
    qt_expect_at(y, idx, want, 8, "q2_K");
}

static void test_q3_K_block(void **state) {
    (void)state;
    // d = 0.5; 6-bit scales s_g = 4 g + 2 except s_5 = 0, so s_g - 32 =
    // -30 -26 -22 -18 -14 -32 -6 -2 2 6 10 14 18 22 26 30. Packed by hand:
    // low nibbles: bytes 0..7 = 22 66 AA EE 22 60 AA EE (s_5 low 0, s_13 low 6);
    // high pairs: bytes 8..11 = E4 E0 E4 E4 (byte 9 holds s_1 s_5 s_9 s_13 = 0 0 2 3).
    struct flm_block_q3_K b = {.d = 0x3800,
                               .scales = {0x22, 0x66, 0xAA, 0xEE, 0x22, 0x60, 0xAA, 0xEE, 0xE4, 0xE0, 0xE4, 0xE4}};
    fill_2bit_planes(b.qs);
    b.qs[5] = 0xE4;  // no exception in the low bits here
    // hmask[l] = 0x0F for even l, 0xF0 for odd l: the third bit is set for
    // (l even, e < 128) and (l odd, e >= 128); a clear bit subtracts 4.
    for (int l = 0; l < 32; ++l) b.hmask[l] = l % 2 ? 0xF0 : 0x0F;
    float y[256];
    flm_q3_K_dequantize_ref(&b, y, 256);
    static const int idx[] = {0, 1, 33, 80, 127, 128, 161, 200, 254, 255};
    static const float want[] = {
        0.0f,    // g0 (-30) low 0, h set: 0.5 * -30 * 0
        60.0f,   // g0, l odd h clear: q = -4: -15 * -4
        33.0f,   // g2 (-22) j1 low 1, h clear: q = -3: -11 * -3
        -32.0f,  // g5 (-32) j2 low 2, l 16 h set: -16 * 2
        1.0f,    // g7 (-2) j3 low 3, l 31 h clear: -1 * -1
        -1.0f,   // g8 (2) low 3, l 0 even, e >= 128 h clear: 1 * -1
        10.0f,   // g10 (10) j1 low 2, l 1 h set: 5 * 2
        -27.0f,  // g12 (18) j2 low 1, l 8 h clear: 9 * -3
        -60.0f,  // g15 (30) j3 low 0, l 30 h clear: 15 * -4
        0.0f,    // g15, l 31 h set: 15 * 0
    };
    qt_expect_at(y, idx, want, 10, "q3_K");
}

// Scales and mins of the q4_K/q5_K hand blocks: sc = 3 13 23 33 43 53 63 37,
// mn = 1 62 17 40 5 50 31 60, packed by hand (see blocks.h for the rule):
// bytes 0..3: sc_j | (sc_{j+4} >> 4) << 6 = 83 CD D7 A1
// bytes 4..7: mn_j | (mn_{j+4} >> 4) << 6 = 01 FE 51 E8
// bytes 8..11: (sc_{j+4} & 15) | (mn_{j+4} & 15) << 4 = 5B 25 FF C5
static const uint8_t k4_scales[12] = {0x83, 0xCD, 0xD7, 0xA1, 0x01, 0xFE, 0x51, 0xE8, 0x5B, 0x25, 0xFF, 0xC5};

static void test_q4_K_block(void **state) {
    (void)state;
    // d = 1, dmin = 0.25; qs[b] = 7 b mod 256. Element e reads byte
    // 32 (e / 64) + e % 32, low nibble when e % 64 < 32; group g = e / 32.
    struct flm_block_q4_K b = {.d = 0x3C00, .dmin = 0x3400};
    memcpy(b.scales, k4_scales, 12);
    for (int i = 0; i < 128; ++i) b.qs[i] = (uint8_t)(7 * i);
    float y[256];
    flm_q4_K_dequantize_ref(&b, y, 256);
    static const int idx[] = {0, 5, 40, 100, 130, 191, 200, 255};
    static const float want[] = {
        -0.25f,  // byte 0 = 0x00 low 0; g0: 3 * 0 - 0.25 * 1
        8.75f,   // byte 5 = 0x23 low 3; g0: 9 - 0.25
        23.5f,   // byte 8 = 0x38 high 3; g1: 13 * 3 - 0.25 * 62
        485.0f,  // byte 36 = 0xFC high 15; g3: 33 * 15 - 10
        600.75f, // byte 66 = 0xCE low 14; g4: 43 * 14 - 1.25
        464.5f,  // byte 95 = 0x99 high 9; g5: 53 * 9 - 12.5
        496.25f, // byte 104 = 0xD8 low 8; g6: 63 * 8 - 7.75
        244.0f,  // byte 127 = 0x79 high 7; g7: 37 * 7 - 15
    };
    qt_expect_at(y, idx, want, 8, "q4_K");
}

static void test_q5_K_block(void **state) {
    (void)state;
    // As the q4_K block, plus qh[l] = 0x81 except qh[4] = 0xFF and
    // qh[31] = 0: bit g of qh[e % 32] adds 16 to the level.
    struct flm_block_q5_K b = {.d = 0x3C00, .dmin = 0x3400};
    memcpy(b.scales, k4_scales, 12);
    for (int i = 0; i < 128; ++i) b.qs[i] = (uint8_t)(7 * i);
    for (int l = 0; l < 32; ++l) b.qh[l] = 0x81;
    b.qh[4] = 0xFF, b.qh[31] = 0;
    float y[256];
    flm_q5_K_dequantize_ref(&b, y, 256);
    static const int idx[] = {0, 5, 40, 100, 130, 191, 224, 255};
    static const float want[] = {
        47.75f,   // level 0 + 16 (qh[0] bit 0); g0: 3 * 16 - 0.25
        56.75f,   // 3 + 16; g0: 57 - 0.25
        23.5f,    // 3, qh[8] bit 1 clear; g1: 39 - 15.5
        1013.0f,  // 15 + 16 (qh[4] = FF); g3: 33 * 31 - 10
        600.75f,  // 14, qh[2] bit 4 clear; g4
        464.5f,   // 9, qh[31] = 0; g5
        947.0f,   // byte 96 = 0xA0 high 10, + 16 (qh[0] bit 7); g7: 37 * 26 - 15
        244.0f,   // 7, qh[31] = 0; g7
    };
    qt_expect_at(y, idx, want, 8, "q5_K");
}

static void test_q6_K_block(void **state) {
    (void)state;
    // d = 0.5; scales[g] = 9 g - 70; ql[b] = 5 b + 1; qh[b] = 3 b (bytes mod 256).
    // Element e: h = e / 128, k = (e % 128) / 32, l = e % 32: low 4 bits from
    // ql[64 h + l + 32 (k & 1)] (high nibble for k >= 2), top 2 bits from
    // bits 2k of qh[32 h + l]; x = 0.5 * scale * (q - 32).
    struct flm_block_q6_K b = {.d = 0x3800};
    for (int g = 0; g < 16; ++g) b.scales[g] = (int8_t)(9 * g - 70);
    for (int i = 0; i < 128; ++i) b.ql[i] = (uint8_t)(5 * i + 1);
    for (int i = 0; i < 64; ++i) b.qh[i] = (uint8_t)(3 * i);
    float y[256];
    flm_q6_K_dequantize_ref(&b, y, 256);
    static const int idx[] = {0, 33, 70, 100, 127, 128, 200, 255};
    static const float want[] = {
        1085.0f,  // ql[0] = 0x01 low 1, qh[0] = 0: q = -31; g0 -70: -35 * -31
        676.0f,   // ql[33] = 0xA6 low 6, qh[1] = 3 bits 2-3 = 0: q = -26; g2 -52
        255.0f,   // ql[6] = 0x1F high 1, qh[6] = 0x12 bits 4-5 = 1: q = 17 - 32; g4 -34
        168.0f,   // ql[36] = 0xB5 high 11, qh[4] = 0x0C bits 6-7 = 0: q = -21; g6 -16
        45.5f,    // ql[63] = 0x3C high 3, qh[31] = 0x5D bits 6-7 = 1: q = -13; g7 -7
        -31.0f,   // ql[64] = 0x41 low 1, qh[32] = 0x60 bits 0-1 = 0: q = -31; g8 2
        418.0f,   // ql[72] = 0x69 high 6, qh[40] = 0x78 bits 4-5 = 3: q = 22; g12 38
        227.5f,   // ql[127] = 0x7C high 7, qh[63] = 0xBD bits 6-7 = 2: q = 7; g15 65
    };
    qt_expect_at(y, idx, want, 8, "q6_K");
}

static void test_q8_K_block(void **state) {
    (void)state;
    static struct flm_block_q8_K b = {.d = 0.25f};
    for (int j = 0; j < 256; ++j) b.qs[j] = (int8_t)(j - 128);
    float y[256];
    flm_q8_K_dequantize_ref(&b, y, 256);
    for (int j = 0; j < 256; ++j) assert_true(y[j] == (j - 128) * 0.25f);
}

// ---------------------------------------------------------------- q8_K quantizer

static void test_q8_K_quantize(void **state) {
    (void)state;
    // The element of largest magnitude is +2: iscale = -127 / 2 = -63.5,
    // d = 1 / iscale, levels round(-63.5 x), halves to even.
    static float x[512];
    memset(x, 0, sizeof x);
    x[5] = 2.0f;       // -127
    x[6] = -1.0f;      // 63.5 -> 64 (even)
    x[17] = 0.5f;      // -31.75 -> -32
    x[18] = -0.25f;    // 15.875 -> 16
    x[40] = 1.5f;      // -95.25 -> -95
    x[41] = 0.1f;      // -6.35 -> -6
    x[42] = 0.0078125f;  // -0.496 -> 0
    x[43] = 3.0f / 127;  // -1.5 (as rounded in float) -> -2 (even)
    // second block all zeros: d = 0, levels and bsums 0
    static struct flm_block_q8_K b[2];
    memset(b, 0x55, sizeof b);  // garbage the quantizer must overwrite
    flm_q8_K_quantize_ref(x, b, 512);
    assert_true(b[0].d == 1 / (-127.f / 2.0f));
    assert_int_equal(b[0].qs[5], -127);
    assert_int_equal(b[0].qs[6], 64);
    assert_int_equal(b[0].qs[17], -32);
    assert_int_equal(b[0].qs[18], 16);
    assert_int_equal(b[0].qs[40], -95);
    assert_int_equal(b[0].qs[41], -6);
    assert_int_equal(b[0].qs[42], 0);
    assert_int_equal(b[0].qs[43], flm_nearest_int(-63.5f * (3.0f / 127)));
    assert_int_equal(b[0].bsums[0], -127 + 64);
    assert_int_equal(b[0].bsums[1], -32 + 16);
    assert_int_equal(b[0].bsums[2], -95 - 6 + 0 + b[0].qs[43]);
    for (int g = 3; g < 16; ++g) assert_int_equal(b[0].bsums[g], 0);
    assert_true(b[1].d == 0.0f);
    for (int j = 0; j < 256; ++j) assert_int_equal(b[1].qs[j], 0);
    for (int g = 0; g < 16; ++g) assert_int_equal(b[1].bsums[g], 0);
}

// ---------------------------------------------------------------- round trip

// Relative RMS error of quantize -> dequantize on random rows, per format;
// about 20% above the errors measured when they were set.
#define TOL_RT_Q2_K 0.43
#define TOL_RT_Q3_K 0.235
#define TOL_RT_Q4_K 0.103
#define TOL_RT_Q5_K 0.057
#define TOL_RT_Q6_K 0.031
#define TOL_RT_Q8_K 0.021

static void test_kquant_round_trip(void **state) {
    (void)state;
    const struct {
        enum flm_type t;
        double tol;
    } cases[] = {{FLM_TYPE_Q2_K, TOL_RT_Q2_K}, {FLM_TYPE_Q3_K, TOL_RT_Q3_K}, {FLM_TYPE_Q4_K, TOL_RT_Q4_K},
                 {FLM_TYPE_Q5_K, TOL_RT_Q5_K}, {FLM_TYPE_Q6_K, TOL_RT_Q6_K}, {FLM_TYPE_Q8_K, TOL_RT_Q8_K}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        for (int64_t n = 256; n <= 256 * 65; n += 256 * 16) {
            const double err = qt_round_trip(cases[c].t, n, 1000 + (uint64_t)n);
            if (!(err <= cases[c].tol)) {
                print_error("type %d n %lld: round-trip error %.4f > %.4f\n", cases[c].t, (long long)n, err,
                            cases[c].tol);
                fail();
            }
        }
    }
}

// All-zero and constant rows must not produce NaN or garbage.
static void test_kquant_degenerate_rows(void **state) {
    (void)state;
    static const enum flm_type types[] = {FLM_TYPE_Q2_K, FLM_TYPE_Q3_K, FLM_TYPE_Q4_K,
                                          FLM_TYPE_Q5_K, FLM_TYPE_Q6_K, FLM_TYPE_Q8_K};
    static float x[512], y[512];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; ++t) {
        const struct flm_type_traits *tr = flm_quant_traits(types[t]);
        void *q = qt_alloc_row(types[t], 512);
        for (int j = 0; j < 512; ++j) x[j] = j < 256 ? 0.0f : 0.75f;
        tr->from_float(x, q, 512);
        tr->to_float(q, y, 512);
        for (int j = 0; j < 512; ++j) assert_true(fabsf(y[j] - x[j]) <= 0.75f * 0.02f);
        free(q);
    }
}

// ---------------------------------------------------------------- dot products

#define TOL_DOT_KQUANT 1e-5  // float accumulation over <= 8 super-blocks, relative to sum |x y|

static void test_kquant_dots(void **state) {
    (void)state;
    static const enum flm_type types[] = {FLM_TYPE_Q2_K, FLM_TYPE_Q3_K, FLM_TYPE_Q4_K, FLM_TYPE_Q5_K, FLM_TYPE_Q6_K};
    static const int64_t sizes[] = {256, 768, 256 * 7, 256 * 8};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; ++t) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; ++s) {
            qt_check_dot(types[t], sizes[s], 99 + s, TOL_DOT_KQUANT);
        }
    }
}

// The q6_K hand block against q8_K levels all 1 with d = 0.5: the dot is
// 0.5 times the sum of the dequantized elements, and every term is a
// multiple of 0.25 well inside float range, so both sides are exact.
static void test_q6_K_dot_by_hand(void **state) {
    (void)state;
    struct flm_block_q6_K x = {.d = 0x3800};
    for (int g = 0; g < 16; ++g) x.scales[g] = (int8_t)(9 * g - 70);
    for (int i = 0; i < 128; ++i) x.ql[i] = (uint8_t)(5 * i + 1);
    for (int i = 0; i < 64; ++i) x.qh[i] = (uint8_t)(3 * i);
    static struct flm_block_q8_K y = {.d = 0.5f};
    for (int j = 0; j < 256; ++j) y.qs[j] = 1;
    for (int g = 0; g < 16; ++g) y.bsums[g] = 16;
    float xd[256], s = 0;
    flm_q6_K_dequantize_ref(&x, xd, 256);
    double want = 0;
    for (int j = 0; j < 256; ++j) want += 0.5 * xd[j];  // every term is a multiple of 0.25: exact
    flm_q6_K_vec_dot_ref(256, &s, &x, &y);
    assert_true(s == (float)want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q2_K_block),
        cmocka_unit_test(test_q3_K_block),
        cmocka_unit_test(test_q4_K_block),
        cmocka_unit_test(test_q5_K_block),
        cmocka_unit_test(test_q6_K_block),
        cmocka_unit_test(test_q8_K_block),
        cmocka_unit_test(test_q8_K_quantize),
        cmocka_unit_test(test_kquant_round_trip),
        cmocka_unit_test(test_kquant_degenerate_rows),
        cmocka_unit_test(test_kquant_dots),
        cmocka_unit_test(test_q6_K_dot_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
