// stream.c - memory read bandwidth of this machine, STREAM-like: threads sum
// disjoint parts of a buffer far larger than the caches, several times; the
// best time gives GB/s. The reference for "share of the memory bandwidth" in
// BENCHMARKS.md. Usage: flashlm-stream [MiB=2048] [threads=1,2]
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct part {
    const uint64_t *p;
    size_t          n;
    uint64_t        sum;
};

static void *reader(void *arg) {
    struct part *pt = arg;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= pt->n; i += 4) {
        s0 += pt->p[i], s1 += pt->p[i + 1], s2 += pt->p[i + 2], s3 += pt->p[i + 3];
    }
    pt->sum = s0 + s1 + s2 + s3;
    return NULL;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 2048;
    const size_t n = mib * 1048576 / 8;
    uint64_t *buf = malloc(n * 8);
    if (!buf) {
        fprintf(stderr, "stream: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < n; i++) buf[i] = i;
    const char *list = argc > 2 ? argv[2] : "1,2";
    for (const char *c = list; *c;) {
        int nt = atoi(c);
        if (nt < 1 || nt > 64) break;
        double best = 1e30;
        uint64_t check = 0;
        for (int rep = 0; rep < 5; rep++) {
            pthread_t tid[64];
            struct part pt[64];
            double t0 = now();
            for (int t = 0; t < nt; t++) {
                pt[t] = (struct part){buf + n / nt * t, n / nt, 0};
                pthread_create(&tid[t], NULL, reader, &pt[t]);
            }
            for (int t = 0; t < nt; t++) {
                pthread_join(tid[t], NULL);
                check += pt[t].sum;
            }
            double dt = now() - t0;
            best = dt < best ? dt : best;
        }
        printf("threads %d: read %.1f GB/s (%zu MiB, best of 5; checksum %llu)\n", nt, (double)n * 8 / best / 1e9, mib,
               (unsigned long long)(check & 0xffff));
        while (*c && *c != ',') c++;
        if (*c == ',') c++;
    }
    free(buf);
    return 0;
}
