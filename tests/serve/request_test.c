// request_test.c - OpenAI request bodies: what is accepted, and that every
// fault is a 400 naming the parameter.
#include "test_util.h"

#include "serve/request.h"

#include <string.h>

static bool parse(const char *body, enum flm_serve_kind kind, struct flm_serve_req *r, struct flm_serve_error *e) {
    memset(e, 0, sizeof *e);
    return flm_serve_req_parse(body, strlen(body), kind, r, e);
}

static void test_chat_fields(void **state) {
    (void)state;
    struct flm_serve_req r;
    struct flm_serve_error e;
    assert_true(parse("{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"be brief\"},"
                      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\",\"text\":\"b\"}]},"
                      "{\"role\":\"assistant\",\"content\":null}],\"max_completion_tokens\":7,\"temperature\":0,"
                      "\"top_p\":0.5,\"seed\":42,\"stop\":\"\\n\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                      "\"presence_penalty\":1,\"frequency_penalty\":-1,\"user\":\"ignored\",\"n\":1}",
                      FLM_SERVE_CHAT, &r, &e));
    assert_int_equal(r.n_msgs, 3);
    assert_string_equal(r.msgs[0].role, "system");
    assert_string_equal(r.msgs[1].content, "ab");
    assert_string_equal(r.msgs[2].content, "");
    assert_int_equal(r.max_tokens, 7);
    assert_true(r.sp.temperature == 0.0f && r.sp.top_p == 0.5f && r.sp.seed == 42 && r.has_seed);
    assert_true(r.sp.presence_penalty == 1.0f && r.sp.frequency_penalty == -1.0f);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "\n");
    assert_true(r.stream && r.include_usage);
    assert_string_equal(r.model, "m");
    flm_serve_req_free(&r);
}

static void test_completion_fields(void **state) {
    (void)state;
    struct flm_serve_req r;
    struct flm_serve_error e;
    assert_true(parse("{\"prompt\":[\"Once\"],\"max_tokens\":3}", FLM_SERVE_COMPLETION, &r, &e));
    assert_string_equal(r.prompt, "Once");
    assert_int_equal(r.max_tokens, 3);
    assert_false(r.stream);
    flm_serve_req_free(&r);
    assert_true(parse("{\"prompt\":\"x\"}", FLM_SERVE_COMPLETION, &r, &e));
    assert_int_equal(r.max_tokens, -1);  // until end of generation
    flm_serve_req_free(&r);
}

// Each bad body is refused with status 400 and the parameter named.
static void test_errors(void **state) {
    (void)state;
    static const struct {
        const char *body, *param;
        enum flm_serve_kind kind;
    } cases[] = {
        {"{", "", FLM_SERVE_CHAT},
        {"\"str\"", "", FLM_SERVE_CHAT},
        {"{\"messages\":{}}", "messages", FLM_SERVE_CHAT},
        {"{\"messages\":[]}", "messages", FLM_SERVE_CHAT},
        {"{\"messages\":[{\"role\":1,\"content\":\"x\"}]}", "messages[0].role", FLM_SERVE_CHAT},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"tool\",\"content\":\"x\"}]}", "messages[1].role", FLM_SERVE_CHAT},
        {"{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content", FLM_SERVE_CHAT},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", "messages[0].content", FLM_SERVE_CHAT},
        {"{\"prompt\":\"x\",\"temperature\":2.5}", "temperature", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"temperature\":true}", "temperature", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"top_p\":-0.1}", "top_p", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"max_tokens\":-1}", "max_tokens", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"max_completion_tokens\":\"5\"}", "max_completion_tokens", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"stop\":\"\"}", "stop", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"stop\":{}}", "stop", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"stream_options\":{\"include_usage\":true}}", "stream_options", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"stream\":true,\"stream_options\":{\"include_usage\":1}}", "stream_options.include_usage", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"n\":2}", "n", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"logprobs\":true}", "logprobs", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"model\":5}", "model", FLM_SERVE_COMPLETION},
        {"{\"prompt\":[1,2]}", "prompt", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"seed\":1.5}", "seed", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"prompt\":\"y\"}", "", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"x\",\"max_tokens\":1e999}", "", FLM_SERVE_COMPLETION},
        {"{\"prompt\":\"\xc3\x28\"}", "", FLM_SERVE_COMPLETION},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct flm_serve_req r;
        struct flm_serve_error e;
        bool ok = parse(cases[i].body, cases[i].kind, &r, &e);
        if (ok || e.status != 400 || strcmp(e.param, cases[i].param) || !e.message[0])
            fail_msg("case %zu (%s): ok=%d status=%d param='%s' message='%s'", i, cases[i].body, ok, e.status, e.param,
                     e.message);
        assert_string_equal(e.type, "invalid_request_error");
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_fields),
        cmocka_unit_test(test_completion_fields),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
