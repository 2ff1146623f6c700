// unicode.c - llama.cpp-compatible lenient UTF-8 decoding and encoding.
#include "text/unicode.h"

uint32_t flm_unicode_decode(const char *str, size_t len, size_t *pos) {
    const uint8_t *s = (const uint8_t *)str + *pos;
    size_t         left = len - *pos;
    uint8_t        b = s[0];
    if (b < 0x80) {
        *pos += 1;
        return b;
    }
    // Only the lead's length bits and the continuations' top bits are checked.
    int n = (b & 0x40) == 0 ? 0 : (b & 0x20) == 0 ? 2 : (b & 0x10) == 0 ? 3 : (b & 0x08) == 0 ? 4 : 0;
    if (n == 0 || left < (size_t)n) {
        *pos += 1;
        return 0xFFFD;
    }
    for (int k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) {
            *pos += 1;
            return 0xFFFD;
        }
    }
    uint32_t cp = n == 2 ? (uint32_t)(b & 0x1F) : n == 3 ? (uint32_t)(b & 0x0F) : (uint32_t)(b & 0x07);
    for (int k = 1; k < n; k++) cp = (cp << 6) | (uint32_t)(s[k] & 0x3F);
    *pos += (size_t)n;
    return cp;
}

int flm_unicode_encode(uint32_t cp, char out[4]) {
    if (cp > 0x10FFFF) cp = 0xFFFD;
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
