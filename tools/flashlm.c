// flashlm.c - the command-line tool (placeholder until the engine lands).
#include "flashlm.h"

#include <stdio.h>

int main(void) {
    fprintf(stderr, "flashlm: not built yet\n");
    return 1;
}
