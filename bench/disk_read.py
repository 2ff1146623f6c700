#!/usr/bin/env python3
"""disk_read.py - the disk's read throughput, as the weight store reads it:
O_DIRECT (no page cache), sequential reads of 1 MiB and 4 MiB at queue depth
1, 1 MiB reads at queue depth 8 (eight threads over consecutive chunks, as
the store queues a layer's 1 MiB reads), and random reads of 64 KiB and
4 KiB at queue depth 1, over a large existing file.

Usage: python3 bench/disk_read.py FILE [seconds per test]
Prints one JSON object: MB/s per test (MB = 1e6 bytes)."""
import json
import mmap
import os
import random
import sys
import threading
import time


def run(fd, size, block, sequential, seconds):
    buf = mmap.mmap(-1, block)  # page-aligned, as O_DIRECT needs
    n_blocks = size // block
    rng = random.Random(1)
    done, off, t0 = 0, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        if sequential:
            if off + block > size:
                off = 0
            pos = off
            off += block
        else:
            pos = rng.randrange(n_blocks) * block
        done += os.preadv(fd, [buf], pos)
    return done / (time.perf_counter() - t0) / 1e6


def run_qd(fd, size, block, depth, seconds):
    total = [0] * depth
    stop = time.perf_counter() + seconds

    def worker(k):
        buf = mmap.mmap(-1, block)
        off = k * block
        while time.perf_counter() < stop:
            if off + block > size:
                off = k * block
            total[k] += os.preadv(fd, [buf], off)
            off += depth * block
    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(depth)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sum(total) / (time.perf_counter() - t0) / 1e6


def main():
    path = sys.argv[1]
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    size = os.fstat(fd).st_size
    out = {"file": path, "file_bytes": size}
    for name, block, seq in [("seq_1m", 1 << 20, True), ("seq_4m", 4 << 20, True),
                             ("rand_64k_qd1", 64 << 10, False), ("rand_4k_qd1", 4 << 10, False)]:
        out[name + "_mb_s"] = round(run(fd, size, block, seq, secs), 1)
    out["seq_1m_qd8_mb_s"] = round(run_qd(fd, size, 1 << 20, 8, secs), 1)
    os.close(fd)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
