// utf8.h - small UTF-8 helpers for streaming text out of the tokenizer.
//
// A token's piece can end in the middle of a UTF-8 character (byte-fallback
// tokens, byte-level BPE). The generation loop appends pieces to a buffer and
// asks flm_utf8_incomplete_tail how many bytes at the end are the beginning
// of a character still waiting for its continuation bytes; it emits the rest
// and holds those back until the next piece arrives, so a stream never shows
// a broken character. Bytes that can never become valid are not held back.
#ifndef FLM_TEXT_UTF8_H
#define FLM_TEXT_UTF8_H

#include <stdbool.h>
#include <stddef.h>

// Number of trailing bytes of buf[0..len) (0..3) that form an unfinished
// multi-byte character: a lead byte followed by fewer continuation bytes than
// it announces. 0 when the buffer ends on a complete character, or when the
// tail is invalid anyway (stray continuation bytes, a lead byte F8..FF, or a
// lead whose announced length is already exceeded).
size_t flm_utf8_incomplete_tail(const char *buf, size_t len);

// True when buf[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
bool flm_utf8_valid(const char *buf, size_t len);

#endif
