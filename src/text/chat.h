// chat.h - chat templates: turns a list of messages into the prompt text the
// model was trained on.
//
// There is no Jinja engine here. As in llama.cpp, a template is recognised
// from distinctive substrings of its Jinja source (tokenizer.chat_template)
// and rendered by hand-written code for its family; a model without a
// template is matched by architecture (gemma*). The source may also be a
// family name ("chatml", "gemma", "llama3", ...). Families:
//
//   chatml      <|im_start|>role\ncontent<|im_end|>\n ...; add_assistant:
//               <|im_start|>assistant\n. When the source holds a literal
//               '<|im_start|>system\n...<|im_end|>\n' (a default system
//               prompt, as SmolLM2's and Qwen2.5's templates do), it is
//               rendered first whenever messages[0] is not a system message.
//   gemma       the official Gemma 3 template: a leading system message is
//               dropped from the turns and its content (untrimmed) + "\n\n"
//               (or the separator the source spells out) opens the first
//               turn; turns are <start_of_turn>role\n + trim(content) +
//               <end_of_turn>\n with assistant written "model"; roles after
//               the system message must alternate user/assistant
//               (FLM_ERR_INVALID otherwise); add_assistant: <start_of_turn>model\n.
//   llama3      <|start_header_id|>role<|end_header_id|>\n\n + trim(content) + <|eot_id|>
//   llama2      [INST] ... [/INST] and its -sys, -sys-bos, -sys-strip variants
//   mistral-v7  [SYSTEM_PROMPT] ..[/SYSTEM_PROMPT][INST] ..[/INST] .. eos
//   phi3        <|role|>\ncontent<|end|>\n
//   zephyr      <|role|>\ncontent<|endoftext|>\n
// The non-default families follow llama.cpp's llm_chat_apply_template.
// Recognised templates of other families (phi4, mistral v1/v3, ...) and
// unrecognised ones give FLM_ERR_UNSUPPORTED.
//
// BOS: the generation code tokenizes the rendered text with add_special, so
// the tokenizer adds BOS. Templates that begin with {{ bos_token }} (Gemma 3)
// are therefore rendered WITHOUT it; a leading BOS would be doubled.
// bos_text/eos_text are only used where a family writes them inside the
// conversation (llama2-sys-bos: BOS before each later turn; llama2 and
// mistral-v7: EOS after each assistant turn); NULL means "<s>" and "</s>".
//
// trim means Python's str.strip() (what Jinja's |trim does): Unicode
// whitespace (U+0009-000D, U+001C-001F, space, U+0085, U+00A0, U+1680,
// U+2000-200A, U+2028, U+2029, U+202F, U+205F, U+3000) at both ends.
//
// Messages: role must be "system", "user" or "assistant" and content
// non-NULL; an empty list is FLM_ERR_INVALID.
#ifndef FLM_TEXT_CHAT_H
#define FLM_TEXT_CHAT_H

#include "core/status.h"

#include <stdbool.h>
#include <stddef.h>

enum flm_chat_family {
    FLM_CHAT_UNKNOWN = 0,
    FLM_CHAT_CHATML,
    FLM_CHAT_GEMMA,
    FLM_CHAT_LLAMA3,
    FLM_CHAT_LLAMA2,
    FLM_CHAT_LLAMA2_SYS,
    FLM_CHAT_LLAMA2_SYS_BOS,
    FLM_CHAT_LLAMA2_SYS_STRIP,
    FLM_CHAT_MISTRAL_V7,
    FLM_CHAT_PHI3,
    FLM_CHAT_ZEPHYR,
    FLM_CHAT_COUNT,
};

// The family of a template source, else of arch when the source is NULL or
// empty. *unsupported_name (when given) is set to the family's name when the
// source is recognised as a family flashlm does not render, else NULL.
enum flm_chat_family flm_chat_detect(const char *template_src, const char *arch, const char **unsupported_name);

// "chatml", "gemma", ...; "unknown" for FLM_CHAT_UNKNOWN.
const char *flm_chat_family_name(enum flm_chat_family f);

// Renders msgs[0..n) (see above). *out is malloc'd and NUL-terminated; the
// caller frees it (flm_free). On error *out is NULL.
flm_status flm_chat_render(const char *template_src, const char *arch, const char *bos_text, const char *eos_text,
                           const struct flm_chat_msg *msgs, size_t n, bool add_assistant, char **out,
                           struct flm_err *err);

#endif
