// chat.c - known chat-template families, recognised from their Jinja source
// and rendered by hand. See chat.h for the families and the BOS rule.
#include "text/chat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------- names

static const char *const family_names[FLM_CHAT_COUNT] = {
    [FLM_CHAT_UNKNOWN]          = "unknown",
    [FLM_CHAT_CHATML]           = "chatml",
    [FLM_CHAT_GEMMA]            = "gemma",
    [FLM_CHAT_LLAMA3]           = "llama3",
    [FLM_CHAT_LLAMA2]           = "llama2",
    [FLM_CHAT_LLAMA2_SYS]       = "llama2-sys",
    [FLM_CHAT_LLAMA2_SYS_BOS]   = "llama2-sys-bos",
    [FLM_CHAT_LLAMA2_SYS_STRIP] = "llama2-sys-strip",
    [FLM_CHAT_MISTRAL_V7]       = "mistral-v7",
    [FLM_CHAT_PHI3]             = "phi3",
    [FLM_CHAT_ZEPHYR]           = "zephyr",
};

const char *flm_chat_family_name(enum flm_chat_family f) {
    return (unsigned)f < FLM_CHAT_COUNT ? family_names[f] : "unknown";
}

// ---------------------------------------------------------------- detection

static bool has(const char *s, const char *needle) { return strstr(s, needle) != NULL; }

static enum flm_chat_family detect_llama2(const char *t) {
    if (has(t, "content.strip()")) return FLM_CHAT_LLAMA2_SYS_STRIP;
    if (has(t, "bos_token + '[INST]")) return FLM_CHAT_LLAMA2_SYS_BOS;
    if (has(t, "<<SYS>>")) return FLM_CHAT_LLAMA2_SYS;
    return FLM_CHAT_LLAMA2;
}

// The substring tests and their order are llama.cpp's, so the same template
// lands in the same family; families we do not render are named, not guessed.
static enum flm_chat_family detect_source(const char *t, const char **unsupported) {
    for (int f = FLM_CHAT_UNKNOWN + 1; f < FLM_CHAT_COUNT; f++) {
        if (strcmp(t, family_names[f]) == 0) return (enum flm_chat_family)f;
    }
    if (has(t, "<|im_start|>")) {
        if (has(t, "<|im_sep|>")) return *unsupported = "phi4", FLM_CHAT_UNKNOWN;
        if (has(t, "<end_of_utterance>")) return *unsupported = "smolvlm", FLM_CHAT_UNKNOWN;
        return FLM_CHAT_CHATML;
    }
    if (strncmp(t, "mistral", 7) == 0 || has(t, "[INST]")) {
        if (has(t, "[SYSTEM_PROMPT]")) return FLM_CHAT_MISTRAL_V7;
        if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]"))
            return *unsupported = "mistral-v1/v3", FLM_CHAT_UNKNOWN;
        return detect_llama2(t);
    }
    if (has(t, "<|assistant|>") && has(t, "<|end|>")) return FLM_CHAT_PHI3;
    if (has(t, "[gMASK]<sop>")) return *unsupported = "chatglm4", FLM_CHAT_UNKNOWN;
    if (has(t, "<|assistant|>") && has(t, "<|user|>")) return *unsupported = "falcon3/glmedge", FLM_CHAT_UNKNOWN;
    if (has(t, "<|user|>") && has(t, "<|endoftext|>")) return FLM_CHAT_ZEPHYR;
    if (has(t, "bos_token + message['role']")) return *unsupported = "monarch", FLM_CHAT_UNKNOWN;
    if (has(t, "<start_of_turn>")) return FLM_CHAT_GEMMA;
    if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>")) return FLM_CHAT_LLAMA3;
    return FLM_CHAT_UNKNOWN;
}

enum flm_chat_family flm_chat_detect(const char *template_src, const char *arch, const char **unsupported_name) {
    const char *unsupported = NULL;
    enum flm_chat_family f = FLM_CHAT_UNKNOWN;
    if (template_src && template_src[0]) {
        f = detect_source(template_src, &unsupported);
    } else if (arch && strncmp(arch, "gemma", 5) == 0) {  // gemma, gemma2, gemma3, gemma3n
        f = FLM_CHAT_GEMMA;
    }
    if (unsupported_name) *unsupported_name = unsupported;
    return f;
}

// ---------------------------------------------------------------- Jinja string literals

// Appends code point c as UTF-8.
static size_t utf8_put(char *dst, uint32_t c) {
    if (c < 0x80) return dst[0] = (char)c, 1;
    if (c < 0x800) return dst[0] = (char)(0xC0 | c >> 6), dst[1] = (char)(0x80 | (c & 0x3F)), 2;
    if (c < 0x10000) {
        dst[0] = (char)(0xE0 | c >> 12);
        dst[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | c >> 18);
    dst[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    dst[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static int hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Reads n hex digits at s; -1 if they are not all hex.
static int64_t hex_n(const char *s, int n) {
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        const int h = hex_val(s[i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

// Decodes the Jinja string literal whose opening quote is at *p, the way
// jinja2's lexer does (newlines normalised, Python escapes). Returns a
// malloc'd NUL-terminated string, or NULL when p is not a whole literal or
// uses an escape we do not know.
static char *literal_dup(const char *p) {
    const char q = *p;
    if (q != '\'' && q != '"') return NULL;
    const char *end = p + 1;
    while (*end && *end != q) end += (end[0] == '\\' && end[1]) ? 2 : 1;
    if (*end != q) return NULL;
    char *out = malloc((size_t)(end - p));  // decoding never grows the text
    if (!out) return NULL;
    size_t n = 0;
    for (const char *s = p + 1; s < end;) {
        if (s[0] == '\r') {  // \r\n and \r become \n
            out[n++] = '\n';
            s += s[1] == '\n' ? 2 : 1;
            continue;
        }
        if (s[0] != '\\') {
            out[n++] = *s++;
            continue;
        }
        const char e = s[1];
        const char *simple = strchr("\\'\"ntrabfv", e);
        if (e && simple) {
            out[n++] = "\\'\"\n\t\r\a\b\f\v"[simple - "\\'\"ntrabfv"];
            s += 2;
        } else if (e == 'x' || e == 'u' || e == 'U') {
            const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            const int64_t c = end - s >= 2 + digits ? hex_n(s + 2, digits) : -1;
            if (c < 0 || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000)) {
                free(out);
                return NULL;
            }
            // \xhh is a code point too; the UTF-8 is never longer than the escape
            n += utf8_put(out + n, (uint32_t)c);
            s += 2 + digits;
        } else if (e == '\n') {  // backslash-newline: a line continuation
            s += 2;
        } else {  // unknown escapes stay as written, as in Python
            out[n++] = *s++;
        }
    }
    out[n] = '\0';
    return out;
}

// SmolLM2 and Qwen2.5 write their default system prompt as one literal
// '<|im_start|>system\n...<|im_end|>\n'. Returns its text (malloc'd) or NULL.
static char *chatml_default_system(const char *t) {
    static const char head[] = "<|im_start|>system\n", tail[] = "<|im_end|>\n";
    for (const char *at = strstr(t, "<|im_start|>system"); at; at = strstr(at + 1, "<|im_start|>system")) {
        if (at == t || (at[-1] != '\'' && at[-1] != '"')) continue;
        char *lit = literal_dup(at - 1);
        if (!lit) continue;
        const size_t n = strlen(lit), nh = sizeof head - 1, nt = sizeof tail - 1;
        if (n >= nh + nt && memcmp(lit, head, nh) == 0 && memcmp(lit + n - nt, tail, nt) == 0) {
            memmove(lit, lit + nh, n - nh - nt);
            lit[n - nh - nt] = '\0';
            return lit;
        }
        free(lit);
    }
    return NULL;
}

// The separator Gemma 3 puts after the system text; "\n\n" when the source
// does not spell it out (or there is no source).
static char *gemma_separator(const char *t) {
    static const char key[] = "first_user_prefix = messages[0]['content'] + ";
    const char *at = t ? strstr(t, key) : NULL;
    char *sep = at ? literal_dup(at + sizeof key - 1) : NULL;
    if (!sep) {
        sep = malloc(3);
        if (sep) memcpy(sep, "\n\n", 3);
    }
    return sep;
}

// ---------------------------------------------------------------- trim

// Python's str.isspace() for one code point.
static bool uni_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Decodes the UTF-8 character at s (n bytes left); *len its size. Malformed
// input decodes as a non-space character of one byte.
static uint32_t utf8_get(const unsigned char *s, size_t n, size_t *len) {
    *len = 1;
    if (s[0] < 0x80) return s[0];
    const size_t want = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (want == 0 || want > n) return 0xFFFD;
    uint32_t c = s[0] & (0x7F >> want);
    for (size_t i = 1; i < want; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0xFFFD;
        c = c << 6 | (s[i] & 0x3F);
    }
    *len = want;
    return c;
}

// Span of s without leading and trailing whitespace.
static const char *trim(const char *s, size_t *n) {
    const unsigned char *b = (const unsigned char *)s, *e = b + strlen(s);
    size_t len;
    while (b < e && uni_space(utf8_get(b, (size_t)(e - b), &len))) b += len;
    while (e > b) {
        const unsigned char *c = e - 1;
        while (c > b && (*c & 0xC0) == 0x80 && e - c < 4) c--;
        if (!uni_space(utf8_get(c, (size_t)(e - c), &len)) || c + len != e) break;
        e = c;
    }
    *n = (size_t)(e - b);
    return (const char *)b;
}

// ---------------------------------------------------------------- writer

// Renders twice: first with buf NULL to count bytes, then into one block.
struct writer {
    char  *buf;
    size_t len;
};

static void put(struct writer *w, const char *s, size_t n) {
    if (w->buf) memcpy(w->buf + w->len, s, n);
    w->len += n;
}
static void put_s(struct writer *w, const char *s) { put(w, s, strlen(s)); }
static void put_trim(struct writer *w, const char *s) {
    size_t n;
    const char *t = trim(s, &n);
    put(w, t, n);
}

// Everything one render needs besides the messages.
struct chat_job {
    enum flm_chat_family      family;
    const char               *bos, *eos;
    const char               *default_system;  // chatml; NULL if none
    const char               *gemma_sep;       // gemma
    const struct flm_chat_msg *msgs;
    size_t                    n;
    bool                      add_assistant;
};

static bool is_role(const struct flm_chat_msg *m, const char *role) { return strcmp(m->role, role) == 0; }

// ---------------------------------------------------------------- families

static void render_chatml(struct writer *w, const struct chat_job *j) {
    if (j->default_system && !is_role(&j->msgs[0], "system")) {
        put_s(w, "<|im_start|>system\n");
        put_s(w, j->default_system);
        put_s(w, "<|im_end|>\n");
    }
    for (size_t i = 0; i < j->n; i++) {
        put_s(w, "<|im_start|>");
        put_s(w, j->msgs[i].role);
        put_s(w, "\n");
        put_s(w, j->msgs[i].content);
        put_s(w, "<|im_end|>\n");
    }
    if (j->add_assistant) put_s(w, "<|im_start|>assistant\n");
}

// Checks the official Gemma 3 template's alternation rule before rendering.
static flm_status check_gemma(const struct chat_job *j, struct flm_err *err) {
    const size_t first = is_role(&j->msgs[0], "system") ? 1 : 0;
    for (size_t i = first; i < j->n; i++) {
        const bool user = is_role(&j->msgs[i], "user");
        if (user != ((i - first) % 2 == 0))
            return flm_err_set(err, FLM_ERR_INVALID,
                               "chat: gemma template needs user/assistant turns to alternate, starting with user; "
                               "message %zu is '%s'",
                               i, j->msgs[i].role);
    }
    return FLM_OK;
}

static void render_gemma(struct writer *w, const struct chat_job *j) {
    const bool sys = is_role(&j->msgs[0], "system");
    for (size_t i = sys ? 1 : 0; i < j->n; i++) {
        const struct flm_chat_msg *m = &j->msgs[i];
        put_s(w, "<start_of_turn>");
        put_s(w, is_role(m, "assistant") ? "model" : m->role);
        put_s(w, "\n");
        if (sys && i == 1) {
            put_s(w, j->msgs[0].content);
            put_s(w, j->gemma_sep);
        }
        put_trim(w, m->content);
        put_s(w, "<end_of_turn>\n");
    }
    if (j->add_assistant) put_s(w, "<start_of_turn>model\n");
}

static void render_llama3(struct writer *w, const struct chat_job *j) {
    for (size_t i = 0; i < j->n; i++) {
        put_s(w, "<|start_header_id|>");
        put_s(w, j->msgs[i].role);
        put_s(w, "<|end_header_id|>\n\n");
        put_trim(w, j->msgs[i].content);
        put_s(w, "<|eot_id|>");
    }
    if (j->add_assistant) put_s(w, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

// llama2: the first [INST] opens without BOS (the tokenizer adds it); an
// assistant turn closes with EOS and the next message opens a new [INST].
// add_assistant changes nothing: the prompt already ends with [/INST].
static void render_llama2(struct writer *w, const struct chat_job *j) {
    const bool sys_tags = j->family != FLM_CHAT_LLAMA2;
    const bool bos_inside = j->family == FLM_CHAT_LLAMA2_SYS_BOS;
    const bool strip = j->family == FLM_CHAT_LLAMA2_SYS_STRIP;
    bool in_turn = true;
    put_s(w, "[INST] ");
    for (size_t i = 0; i < j->n; i++) {
        const struct flm_chat_msg *m = &j->msgs[i];
        if (!in_turn) {
            if (bos_inside) put_s(w, j->bos);
            put_s(w, "[INST] ");
            in_turn = true;
        }
        if (is_role(m, "system")) put_s(w, sys_tags ? "<<SYS>>\n" : "");
        if (strip) {
            put_trim(w, m->content);
        } else {
            put_s(w, m->content);
        }
        if (is_role(m, "system")) {
            put_s(w, sys_tags ? "\n<</SYS>>\n\n" : "\n");
        } else if (is_role(m, "user")) {
            put_s(w, " [/INST]");
        } else {
            put_s(w, j->eos);
            in_turn = false;
        }
    }
}

static void render_mistral_v7(struct writer *w, const struct chat_job *j) {
    for (size_t i = 0; i < j->n; i++) {
        const struct flm_chat_msg *m = &j->msgs[i];
        if (is_role(m, "system")) {
            put_s(w, "[SYSTEM_PROMPT] ");
            put_s(w, m->content);
            put_s(w, "[/SYSTEM_PROMPT]");
        } else if (is_role(m, "user")) {
            put_s(w, "[INST] ");
            put_s(w, m->content);
            put_s(w, "[/INST]");
        } else {
            put_s(w, " ");
            put_s(w, m->content);
            put_s(w, j->eos);
        }
    }
}

// phi3 and zephyr differ only in the end-of-turn marker.
static void render_pipe_roles(struct writer *w, const struct chat_job *j, const char *end) {
    for (size_t i = 0; i < j->n; i++) {
        put_s(w, "<|");
        put_s(w, j->msgs[i].role);
        put_s(w, "|>\n");
        put_s(w, j->msgs[i].content);
        put_s(w, end);
    }
    if (j->add_assistant) put_s(w, "<|assistant|>\n");
}

static void render(struct writer *w, const struct chat_job *j) {
    switch (j->family) {
    case FLM_CHAT_CHATML:           render_chatml(w, j); break;
    case FLM_CHAT_GEMMA:            render_gemma(w, j); break;
    case FLM_CHAT_LLAMA3:           render_llama3(w, j); break;
    case FLM_CHAT_LLAMA2:
    case FLM_CHAT_LLAMA2_SYS:
    case FLM_CHAT_LLAMA2_SYS_BOS:
    case FLM_CHAT_LLAMA2_SYS_STRIP: render_llama2(w, j); break;
    case FLM_CHAT_MISTRAL_V7:       render_mistral_v7(w, j); break;
    case FLM_CHAT_PHI3:             render_pipe_roles(w, j, "<|end|>\n"); break;
    case FLM_CHAT_ZEPHYR:           render_pipe_roles(w, j, "<|endoftext|>\n"); break;
    case FLM_CHAT_UNKNOWN:
    case FLM_CHAT_COUNT:            FLM_ASSERT(false); break;  // the caller checked the family
    }
}

// ---------------------------------------------------------------- entry point

static flm_status check_msgs(const struct flm_chat_msg *msgs, size_t n, struct flm_err *err) {
    if (n == 0) return flm_err_set(err, FLM_ERR_INVALID, "chat: no messages to render");
    if (!msgs) return flm_err_set(err, FLM_ERR_INVALID, "chat: %zu messages but the array is NULL", n);
    for (size_t i = 0; i < n; i++) {
        const char *r = msgs[i].role;
        if (!r) return flm_err_set(err, FLM_ERR_INVALID, "chat: message %zu has a NULL role", i);
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant"))
            return flm_err_set(err, FLM_ERR_INVALID, "chat: message %zu has role '%.40s' (want system, user or assistant)",
                               i, r);
        if (!msgs[i].content) return flm_err_set(err, FLM_ERR_INVALID, "chat: message %zu (%s) has NULL content", i, r);
    }
    return FLM_OK;
}

// The first ~60 bytes of a template for messages: whole UTF-8 characters,
// control characters shown as escapes.
static void quote_head(const char *t, char *dst, size_t cap) {
    const size_t len = strnlen(t, 61);
    size_t cut = len > 60 ? 60 : len, n = 0;
    while (cut > 0 && cut < len && ((unsigned char)t[cut] & 0xC0) == 0x80) cut--;  // no half characters
    for (size_t i = 0; i < cut && n + 6 < cap; i++) {
        const unsigned char c = (unsigned char)t[i];
        if (c == '\n' || c == '\t' || c == '\r') {
            dst[n++] = '\\';
            dst[n++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        } else {
            dst[n++] = c < 0x20 ? '?' : (char)c;
        }
    }
    if (len > cut) memcpy(dst + n, "...", 3), n += 3;
    dst[n] = '\0';
}

static flm_status unsupported_error(const char *t, const char *arch, const char *family, struct flm_err *err) {
    if (!t || !t[0])
        return flm_err_set(err, FLM_ERR_UNSUPPORTED,
                           "chat: model has no chat template and none is known for architecture '%.40s'",
                           arch ? arch : "(none)");
    char head[160];
    quote_head(t, head, sizeof head);
    if (family)
        return flm_err_set(err, FLM_ERR_UNSUPPORTED, "chat: template family '%s' is not supported: '%s'", family,
                           head);
    return flm_err_set(err, FLM_ERR_UNSUPPORTED, "chat: unknown chat template '%s'", head);
}

flm_status flm_chat_render(const char *template_src, const char *arch, const char *bos_text, const char *eos_text,
                           const struct flm_chat_msg *msgs, size_t n, bool add_assistant, char **out,
                           struct flm_err *err) {
    FLM_ASSERT(out != NULL);
    *out = NULL;
    const char *unsupported = NULL;
    const enum flm_chat_family f = flm_chat_detect(template_src, arch, &unsupported);
    if (f == FLM_CHAT_UNKNOWN) return unsupported_error(template_src, arch, unsupported, err);
    flm_status st = check_msgs(msgs, n, err);
    if (st != FLM_OK) return st;

    struct chat_job j = {
        .family = f, .bos = bos_text ? bos_text : "<s>", .eos = eos_text ? eos_text : "</s>",
        .msgs = msgs, .n = n, .add_assistant = add_assistant,
    };
    char *owned = NULL;
    if (f == FLM_CHAT_CHATML && template_src) {
        owned = chatml_default_system(template_src);
        j.default_system = owned;
    } else if (f == FLM_CHAT_GEMMA) {
        owned = gemma_separator(template_src);
        if (!owned) return flm_err_set(err, FLM_ERR_NOMEM, "chat: out of memory");
        j.gemma_sep = owned;
        st = check_gemma(&j, err);
        if (st != FLM_OK) {
            free(owned);
            return st;
        }
    }

    struct writer w = {NULL, 0};
    render(&w, &j);
    w.buf = malloc(w.len + 1);
    if (!w.buf) {
        free(owned);
        return flm_err_set(err, FLM_ERR_NOMEM, "chat: cannot allocate %zu bytes for the prompt", w.len + 1);
    }
    const size_t want = w.len;
    w.len = 0;
    render(&w, &j);
    FLM_ASSERT(w.len == want);
    w.buf[w.len] = '\0';
    free(owned);
    *out = w.buf;
    return FLM_OK;
}
