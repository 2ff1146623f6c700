// chat_test.c - flm_chat_render against reference renderings: jinja2 running
// the real SmolLM2 and Gemma 3 templates, and llama.cpp's
// llama_chat_apply_template for the other families (tests/fixtures/chat,
// written by scripts/refs/chat.py), plus the error paths.
#include "test_util.h"

#include "text/chat.h"

#include <dirent.h>
#include <string.h>

#define FIXTURES FLM_SOURCE_DIR "/tests/fixtures/chat"

// ---------------------------------------------------------------- fixture files

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

struct cursor {
    const char *p, *end;
    const char *file;
};

// Reads "<key> <value>\n"; value points into the buffer, NUL-terminated in place.
static char *field(struct cursor *c, const char *key) {
    const size_t kl = strlen(key);
    const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
    if (!nl || (size_t)(nl - c->p) < kl + 1 || memcmp(c->p, key, kl) != 0 || c->p[kl] != ' ')
        fail_msg("%s: expected field '%s' at '%.20s'", c->file, key, c->p);
    char *v = (char *)c->p + kl + 1;
    *(char *)nl = '\0';
    c->p = nl + 1;
    return v;
}

// Reads "<key> <len>\n<len bytes>\n" and returns a NUL-terminated copy.
static char *blob(struct cursor *c, const char *key, size_t *len_out) {
    const size_t len = strtoul(field(c, key), NULL, 10);
    if ((size_t)(c->end - c->p) < len + 1 || c->p[len] != '\n') fail_msg("%s: bad %s length %zu", c->file, key, len);
    char *s = malloc(len + 1);
    memcpy(s, c->p, len);
    s[len] = '\0';
    c->p += len + 1;
    if (len_out) *len_out = len;
    return s;
}

// Runs one fixture; returns 1 so the caller can count them.
static int run_case(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FIXTURES, name);
    size_t n_file;
    char *buf = read_all(path, &n_file);
    assert_non_null(buf);
    struct cursor c = {buf, buf + n_file, name};
    while (c.p < c.end && *c.p == '#') c.p = strchr(c.p, '\n') + 1;

    const char *tspec = field(&c, "template");
    char *tmpl = NULL;
    if (strncmp(tspec, "file:", 5) == 0) {
        snprintf(path, sizeof path, "%s/%s", FIXTURES, tspec + 5);
        tmpl = read_all(path, NULL);
        assert_non_null(tmpl);
    } else if (strncmp(tspec, "name:", 5) == 0) {
        tmpl = strdup(tspec + 5);
    } else {
        assert_string_equal(tspec, "-");
    }
    const char *arch = field(&c, "arch");
    const bool add = strcmp(field(&c, "add_assistant"), "1") == 0;
    const size_t n = strtoul(field(&c, "messages"), NULL, 10);
    struct flm_chat_msg msgs[16];
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        msgs[i].role = strdup(field(&c, "role"));
        msgs[i].content = blob(&c, "content", NULL);
    }
    size_t n_want;
    char *want = blob(&c, "expected", &n_want);

    char *got = NULL;
    struct flm_err err = {0};
    const flm_status st = flm_chat_render(tmpl, arch, "<s>", "</s>", msgs, n, add, &got, &err);
    if (st != FLM_OK) fail_msg("%s: %s", name, err.msg);
    if (strlen(got) != n_want || memcmp(got, want, n_want) != 0)
        fail_msg("%s: rendering differs\n--- want (%zu bytes)\n%s\n--- got (%zu bytes)\n%s", name, n_want, want,
                 strlen(got), got);
    free(got);
    free(want);
    for (size_t i = 0; i < n; i++) {
        free((char *)msgs[i].role);
        free((char *)msgs[i].content);
    }
    free(tmpl);
    free(buf);
    return 1;
}

static int run_prefix(const char *prefix) {
    DIR *d = opendir(FIXTURES);
    assert_non_null(d);
    int count = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strstr(e->d_name, ".txt")) count += run_case(e->d_name);
    }
    closedir(d);
    return count;
}

static void test_smollm2_fixtures(void **state) {
    (void)state;
    assert_int_equal(run_prefix("smollm2_"), 16);
    assert_int_equal(run_prefix("chatmlesc_"), 6);
}

static void test_gemma3_fixtures(void **state) {
    (void)state;
    assert_int_equal(run_prefix("gemma3_"), 16);     // no template in the GGUF: by architecture
    assert_int_equal(run_prefix("gemma3src_"), 16);  // the official template's source
    assert_int_equal(run_prefix("gemma3nl_"), 6);    // a source with a different separator
}

static void test_llamacpp_fixtures(void **state) {
    (void)state;
    const int n = run_prefix("llamacpp_");
    if (n == 0) skip();  // written only where llama_cpp was importable
    assert_int_equal(n, 9 * 5 * 2);
}

// ---------------------------------------------------------------- detection

static void test_detect(void **state) {
    (void)state;
    char *smol = read_all(FIXTURES "/template_smollm2.txt", NULL);
    char *gemma = read_all(FIXTURES "/template_gemma3.txt", NULL);
    assert_non_null(smol);
    assert_non_null(gemma);
    const char *uns = "x";
    assert_int_equal(flm_chat_detect(smol, "llama", &uns), FLM_CHAT_CHATML);
    assert_null(uns);
    assert_int_equal(flm_chat_detect(gemma, "gemma3", NULL), FLM_CHAT_GEMMA);
    assert_int_equal(flm_chat_detect(NULL, "gemma3", NULL), FLM_CHAT_GEMMA);
    assert_int_equal(flm_chat_detect("", "gemma2", NULL), FLM_CHAT_GEMMA);
    assert_int_equal(flm_chat_detect(NULL, "llama", NULL), FLM_CHAT_UNKNOWN);
    assert_int_equal(flm_chat_detect(NULL, NULL, NULL), FLM_CHAT_UNKNOWN);
    assert_int_equal(flm_chat_detect("{{ '<|start_header_id|>' }}x<|end_header_id|>", NULL, NULL), FLM_CHAT_LLAMA3);
    assert_int_equal(flm_chat_detect("[INST] <<SYS>> x", NULL, NULL), FLM_CHAT_LLAMA2_SYS);
    assert_int_equal(flm_chat_detect("[INST] content.strip() <<SYS>>", NULL, NULL), FLM_CHAT_LLAMA2_SYS_STRIP);
    assert_int_equal(flm_chat_detect("[SYSTEM_PROMPT] [INST]", NULL, NULL), FLM_CHAT_MISTRAL_V7);
    assert_int_equal(flm_chat_detect("<|user|> <|assistant|> <|end|>", NULL, NULL), FLM_CHAT_PHI3);
    assert_int_equal(flm_chat_detect("<|user|> <|endoftext|>", NULL, NULL), FLM_CHAT_ZEPHYR);
    assert_int_equal(flm_chat_detect("<|im_start|> <|im_sep|>", NULL, &uns), FLM_CHAT_UNKNOWN);
    assert_string_equal(uns, "phi4");
    for (int f = FLM_CHAT_UNKNOWN + 1; f < FLM_CHAT_COUNT; f++) {  // every family by name
        assert_int_equal(flm_chat_detect(flm_chat_family_name((enum flm_chat_family)f), NULL, NULL), f);
    }
    assert_string_equal(flm_chat_family_name(FLM_CHAT_UNKNOWN), "unknown");
    free(smol);
    free(gemma);
}

// ---------------------------------------------------------------- errors

static void expect_error(const char *tmpl, const char *arch, const struct flm_chat_msg *m, size_t n, flm_status want,
                         const char *needle) {
    char *out = (char *)"not touched";
    struct flm_err err = {0};
    assert_int_equal(flm_chat_render(tmpl, arch, NULL, NULL, m, n, true, &out, &err), want);
    assert_null(out);
    assert_int_equal(err.status, want);
    if (!strstr(err.msg, needle)) fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_unknown_template(void **state) {
    (void)state;
    const struct flm_chat_msg m[] = {{"user", "hi"}};
    expect_error("{% for m in messages %}{{ m.content }}{% endfor %}", "llama", m, 1, FLM_ERR_UNSUPPORTED,
                 "unknown chat template '{% for m in messages %}{{ m.content }}{% endfor %}'");
    // long sources are cut at ~60 bytes, whole characters only, newlines escaped
    const char *longt = "{#\n comment \xc3\xa9\xc3\xa9\xc3\xa9 #}{% for message in messages %}{{ message['content'] }}"
                        "{% endfor %}";
    char *out = NULL;
    struct flm_err err = {0};
    assert_int_equal(flm_chat_render(longt, NULL, NULL, NULL, m, 1, true, &out, &err), FLM_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "'{#\\n comment \xc3\xa9\xc3\xa9\xc3\xa9 #}{% for"));
    assert_non_null(strstr(err.msg, "...'"));
    assert_null(strstr(err.msg, "endfor"));
    expect_error("<|im_start|>{{ x }}<|im_sep|>", NULL, m, 1, FLM_ERR_UNSUPPORTED, "'phi4'");
    expect_error(NULL, "llama", m, 1, FLM_ERR_UNSUPPORTED, "architecture 'llama'");
    expect_error("", NULL, m, 1, FLM_ERR_UNSUPPORTED, "no chat template");
}

static void test_bad_messages(void **state) {
    (void)state;
    const struct flm_chat_msg ok[] = {{"user", "hi"}};
    expect_error("chatml", NULL, ok, 0, FLM_ERR_INVALID, "no messages");
    expect_error("chatml", NULL, NULL, 2, FLM_ERR_INVALID, "NULL");
    const struct flm_chat_msg null_content[] = {{"user", "hi"}, {"assistant", NULL}};
    expect_error("chatml", NULL, null_content, 2, FLM_ERR_INVALID, "message 1 (assistant) has NULL content");
    const struct flm_chat_msg null_role[] = {{NULL, "x"}};
    expect_error(NULL, "gemma3", null_role, 1, FLM_ERR_INVALID, "message 0 has a NULL role");
    const struct flm_chat_msg bad_role[] = {{"system", "s"}, {"bot", "x"}};
    expect_error("llama3", NULL, bad_role, 2, FLM_ERR_INVALID, "role 'bot'");
    // Gemma 3's template raises when turns do not alternate user/assistant
    const struct flm_chat_msg two_users[] = {{"user", "a"}, {"user", "b"}};
    expect_error(NULL, "gemma3", two_users, 2, FLM_ERR_INVALID, "message 1 is 'user'");
    const struct flm_chat_msg starts_assistant[] = {{"system", "s"}, {"assistant", "a"}};
    expect_error(NULL, "gemma3", starts_assistant, 2, FLM_ERR_INVALID, "message 1 is 'assistant'");
    // chatml has no such rule
    char *out = NULL;
    assert_int_equal(flm_chat_render("chatml", NULL, NULL, NULL, two_users, 2, false, &out, NULL), FLM_OK);
    assert_string_equal(out, "<|im_start|>user\na<|im_end|>\n<|im_start|>user\nb<|im_end|>\n");
    free(out);
}

// Hand-written expectations for what the fixtures do not pin down.
static void test_hand_written(void **state) {
    (void)state;
    char *out = NULL;
    // the name "chatml" carries no default system prompt
    const struct flm_chat_msg one[] = {{"user", "hi"}};
    assert_int_equal(flm_chat_render("chatml", "llama", NULL, NULL, one, 1, true, &out, NULL), FLM_OK);
    assert_string_equal(out, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    free(out);
    // gemma: trim is Unicode-aware (U+3000, U+00A0, U+2028) and leaves inner text alone
    const struct flm_chat_msg ws[] = {{"user", "\xe3\x80\x80 a\xc2\xa0 b \xe2\x80\xa8\xc2\xa0"}};
    assert_int_equal(flm_chat_render(NULL, "gemma3", NULL, NULL, ws, 1, false, &out, NULL), FLM_OK);
    assert_string_equal(out, "<start_of_turn>user\na\xc2\xa0 b<end_of_turn>\n");
    free(out);
    // an all-whitespace message trims to nothing; a non-space multibyte character survives
    const struct flm_chat_msg ws2[] = {{"user", " \t\n"}, {"assistant", "\xe4\xb8\x96"}};
    assert_int_equal(flm_chat_render("gemma", NULL, NULL, NULL, ws2, 2, false, &out, NULL), FLM_OK);
    assert_string_equal(out, "<start_of_turn>user\n<end_of_turn>\n<start_of_turn>model\n\xe4\xb8\x96<end_of_turn>\n");
    free(out);
    // bos/eos text where llama2-sys-bos writes them inside the history
    const struct flm_chat_msg hist[] = {{"user", "a"}, {"assistant", "b"}, {"user", "c"}};
    assert_int_equal(flm_chat_render("llama2-sys-bos", NULL, "<B>", "<E>", hist, 3, true, &out, NULL), FLM_OK);
    assert_string_equal(out, "[INST] a [/INST]b<E><B>[INST] c [/INST]");
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_smollm2_fixtures),  cmocka_unit_test(test_gemma3_fixtures),
        cmocka_unit_test(test_llamacpp_fixtures), cmocka_unit_test(test_detect),
        cmocka_unit_test(test_unknown_template),  cmocka_unit_test(test_bad_messages),
        cmocka_unit_test(test_hand_written),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
