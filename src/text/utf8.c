// utf8.c - UTF-8 tail detection and validation.
#include "text/utf8.h"

#include <stdint.h>

// Bytes a lead byte announces; 0 for continuation bytes and F8..FF.
static int lead_len(uint8_t b) {
    if (b < 0x80) return 1;
    if (b < 0xC0) return 0;
    if (b < 0xE0) return 2;
    if (b < 0xF0) return 3;
    if (b < 0xF8) return 4;
    return 0;
}

size_t flm_utf8_incomplete_tail(const char *buf, size_t len) {
    const uint8_t *s = (const uint8_t *)buf;
    // The last non-continuation byte within the last 4 bytes starts the tail.
    for (size_t k = 1; k <= 4 && k <= len; k++) {
        uint8_t b = s[len - k];
        if ((b & 0xC0) == 0x80) continue;
        int need = lead_len(b);
        return (need > 1 && (size_t)need > k) ? k : 0;
    }
    return 0;
}

bool flm_utf8_valid(const char *buf, size_t len) {
    const uint8_t *s = (const uint8_t *)buf;
    size_t i = 0;
    while (i < len) {
        uint8_t b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        int n = lead_len(b);
        if (n < 2 || b == 0xC0 || b == 0xC1 || b > 0xF4 || len - i < (size_t)n) return false;
        for (int k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80) return false;
        uint8_t c = s[i + 1];
        if (b == 0xE0 && c < 0xA0) return false;  // overlong 3-byte
        if (b == 0xED && c > 0x9F) return false;  // surrogates
        if (b == 0xF0 && c < 0x90) return false;  // overlong 4-byte
        if (b == 0xF4 && c > 0x8F) return false;  // above U+10FFFF
        i += (size_t)n;
    }
    return true;
}
