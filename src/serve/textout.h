// textout.h - turns the pieces of generated tokens into text that is safe to
// send: never a broken UTF-8 character, never part of a stop sequence.
//
// The scheduler pushes each token's piece; push returns how many bytes at the
// front of the pending buffer may go out now. Bytes that could still become a
// stop sequence (a suffix that is a prefix of one) or that end in an
// unfinished UTF-8 character are held back. When a stop sequence appears the
// text is cut before it and `stopped` is set. What goes out is sanitized with
// flm_textout_sanitize, so malformed bytes become U+FFFD (JSON needs UTF-8).
#ifndef FLM_SERVE_TEXTOUT_H
#define FLM_SERVE_TEXTOUT_H

#include <stdbool.h>
#include <stddef.h>

#define FLM_TEXTOUT_MAX_STOP 4

struct flm_textout {
    char  *buf;   // pending bytes [0, len)
    size_t len, cap;
    const char *stop[FLM_TEXTOUT_MAX_STOP];  // borrowed; valid while the textout is used
    int    n_stop;
    bool   stopped;  // a stop sequence was found; buf ends where it began
};

// stop: n_stop (<= FLM_TEXTOUT_MAX_STOP) non-empty strings, borrowed.
void flm_textout_init(struct flm_textout *t, const char *const *stop, int n_stop);
void flm_textout_free(struct flm_textout *t);

// Appends len bytes; returns the number of bytes at the front of t->buf that
// are ready. false from *ok when memory ran out.
size_t flm_textout_push(struct flm_textout *t, const char *piece, size_t len, bool *ok);
// At the end of generation everything pending is ready (stop prefixes are
// text after all); returns t->len.
size_t flm_textout_finish(struct flm_textout *t);
// Drops the first n bytes (after the caller sent them).
void flm_textout_consume(struct flm_textout *t, size_t n);

// Appends s[0..len) to *dst (grown with realloc, NUL-terminated) with every
// malformed UTF-8 sequence replaced by U+FFFD. false when out of memory.
bool flm_textout_sanitize(char **dst, size_t *dst_len, size_t *dst_cap, const char *s, size_t len);

#endif
