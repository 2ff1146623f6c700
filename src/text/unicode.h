// unicode.h - code point classes and UTF-8 decoding as llama.cpp's tokenizer sees them.
//
// flm_unicode_flags gives a code point's general category (one FLM_UNICODE_*
// category bit; unassigned code points are UNDEFINED) plus the WHITESPACE bit
// for the Unicode White_Space property. The table follows Unicode 15.1, the
// version llama.cpp's tables follow, so the pre-tokenizers split text exactly
// where llama.cpp does.
//
// flm_unicode_decode is the lenient decoder llama.cpp applies before
// pre-tokenizing: it checks lead and continuation bits only (no overlong,
// surrogate or range checks), and turns each byte it cannot decode into U+FFFD.
#ifndef FLM_TEXT_UNICODE_H
#define FLM_TEXT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
    FLM_UNICODE_UNDEFINED   = 0x001,
    FLM_UNICODE_NUMBER      = 0x002,  // \p{N}
    FLM_UNICODE_LETTER      = 0x004,  // \p{L}
    FLM_UNICODE_SEPARATOR   = 0x008,  // \p{Z}
    FLM_UNICODE_MARK        = 0x010,  // \p{M}
    FLM_UNICODE_PUNCTUATION = 0x020,  // \p{P}
    FLM_UNICODE_SYMBOL      = 0x040,  // \p{S}
    FLM_UNICODE_CONTROL     = 0x080,  // \p{C}
    FLM_UNICODE_CATEGORIES  = 0x0FF,
    FLM_UNICODE_WHITESPACE  = 0x100,  // \s
};

uint16_t flm_unicode_flags(uint32_t cp);

// Decodes one code point at s[*pos] (pos < len) and advances *pos (by 1 on an
// invalid byte, which decodes as U+FFFD). May return values above U+10FFFF
// (lead bytes F5..F7), exactly like llama.cpp's decoder.
uint32_t flm_unicode_decode(const char *s, size_t len, size_t *pos);

// Writes cp as UTF-8 into out[4]; returns the byte count (1..4). Code points
// above U+10FFFF are written as U+FFFD.
int flm_unicode_encode(uint32_t cp, char out[4]);

#endif
