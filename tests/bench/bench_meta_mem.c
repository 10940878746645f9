/* bench_meta_mem: what metad's in-memory state costs per file and per chunk, measured
 * with glibc's own accounting (mallinfo2: bytes in use, malloc overhead included) while
 * building the search benchmark's namespace through the same ns/chunks code metad
 * runs. It separates what `scripts/bench search`'s RSS number mixes together: the
 * namespace (+ search index) per file, the chunk table per chunk, and (by difference
 * with the RSS) the raft log and buffers.
 *   bench_meta_mem [FILES (1000000)] [DIRS (10000)] [LOCATIONS per chunk (2)]
 * Prints one line: "state: X bytes per file (namespace Y incl. search index Z), W bytes
 * per chunk (L locations)". Exit 1 on any error. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "metad/chunks.h"
#include "metad/ns.h"

static size_t heap_in_use(void) {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd; /* arena chunks in use + mmap'd blocks */
}

int main(int argc, char **argv) {
  long files = argc > 1 ? atol(argv[1]) : 1000000;
  long dirs = argc > 2 ? atol(argv[2]) : 10000;
  long locs = argc > 3 ? atol(argv[3]) : 2;
  if (files < 1 || dirs < 1 || dirs > 99999 || locs < 0 || locs > 16) {
    fprintf(stderr, "usage: bench_meta_mem [FILES] [DIRS 1..99999] [LOCATIONS 0..16]\n");
    return 1;
  }
  char msg[256], path[64];
  ns_t *ns = ns_new();
  chunks_t ct;
  chunks_init(&ct);
  if (!ns) return 1;
  for (long d = 0; d < dirs; d++) {
    snprintf(path, sizeof path, "/d%05ld", d);
    if (ns_mkdir(ns, path, 0, 0755, "alice", 1, msg, sizeof msg)) goto fail;
  }
  size_t before = heap_in_use();
  for (long i = 0; i < files; i++) { /* the names `scripts/bench search` creates */
    snprintf(path, sizeof path, "/d%05ld/file-%07ld.dat", i % dirs, i);
    uint64_t *ids = malloc(sizeof *ids);
    if (!ids) return 1;
    ids[0] = (uint64_t)i + 1;
    if (ns_put_file(ns, path, 0, 0644, "alice", 1, 4096, 2, ids, 1, NULL, NULL, msg,
                    sizeof msg))
      goto fail;
  }
  size_t after_ns = heap_in_use();
  for (long i = 0; i < files; i++) {
    if (chunks_add(&ct, (uint64_t)i + 1, 1, 4096, 7)) return 1;
    for (long k = 0; k < locs; k++)
      if (chunks_add_loc(&ct, (uint64_t)i + 1, (uint64_t)k + 1)) return 1;
  }
  size_t after_chunks = heap_in_use();
  double per_file = (double)(after_ns - before) / (double)files;
  printf("state: %.0f bytes per file (namespace and search index; the index holds %.0f of "
         "them), %.0f bytes per chunk (%ld locations)\n",
         per_file, (double)search_mem(&ns->idx) / (double)files,
         (double)(after_chunks - after_ns) / (double)files, locs);
  chunks_free(&ct);
  ns_free(ns);
  return 0;
fail:
  fprintf(stderr, "bench_meta_mem: %s\n", msg);
  return 1;
}
