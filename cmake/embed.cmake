# embed.cmake - writes a C file holding a file's bytes (cmake -P, no other tools):
#   cmake -DIN=page.html -DOUT=page.c -DNAME=flm_serve_page -P embed.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" n)
math(EXPR n "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}" "// generated from ${IN} by cmake/embed.cmake; do not edit\n#include <stddef.h>\n"
  "const char ${NAME}[] = {\n${bytes}0x00};\nconst size_t ${NAME}_len = ${n};\n")
