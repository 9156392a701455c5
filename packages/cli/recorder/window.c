/*
 * The trace's window as /proc shows it for one process.
 *
 * `maps` results are page-level: VMA boundaries are invisible, so adjacent VMAs with equal
 * perms (prot and p/s) form one run. `rss` sums smaps' Rss and Anonymous over the VMAs
 * inside the window only; shared anonymous memory (smaps names it "/dev/zero (deleted)")
 * is shmem, any other named VMA is a file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mmrec.h"

static struct mr_run *runs;
static size_t runs_cap;

/* Appends [start, end) with perms, merging it into the previous run when they touch. */
static int add_run(size_t *n, uint64_t start, uint64_t end, const char *perms) {
  if (*n > 0 && runs[*n - 1].end == start && strcmp(runs[*n - 1].perms, perms) == 0) {
    runs[*n - 1].end = end;
    return 0;
  }
  if (*n == runs_cap) {
    size_t cap = runs_cap ? runs_cap * 2 : 64;
    struct mr_run *grown = realloc(runs, cap * sizeof *grown);
    if (!grown) return -1;
    runs = grown;
    runs_cap = cap;
  }
  runs[*n].start = start;
  runs[*n].end = end;
  snprintf(runs[*n].perms, sizeof runs[*n].perms, "%s", perms);
  (*n)++;
  return 0;
}

/* Parses the "start-end perms" head of a maps/smaps VMA line; 1 if it is one. */
static int vma_head(const char *line, uint64_t *start, uint64_t *end, char perms[5]) {
  unsigned long long s, e;
  char p[8];
  if (sscanf(line, "%llx-%llx %7s", &s, &e, p) != 3 || strlen(p) != 4) return 0;
  *start = s;
  *end = e;
  memcpy(perms, p, 5);
  return 1;
}

long window_runs(pid_t pid, uint64_t lo, uint64_t hi, struct mr_run **out) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  size_t n = 0;
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, f) > 0) {
    uint64_t s, e;
    char perms[5];
    if (!vma_head(line, &s, &e, perms)) {
      errno = EPROTO;
      n = (size_t)-1;
      break;
    }
    if (e <= lo || s >= hi) continue;
    if (add_run(&n, s < lo ? lo : s, e > hi ? hi : e, perms)) {
      n = (size_t)-1;
      break;
    }
  }
  free(line);
  fclose(f);
  *out = runs;
  return (long)n;
}

int window_rss(pid_t pid, uint64_t lo, uint64_t hi, struct mr_rss *out, char *why, size_t why_len) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) {
    snprintf(why, why_len, "cannot read %s: %s", path, strerror(errno));
    return -1;
  }
  enum { OUTSIDE, ANON, SHMEM, FILEBACKED } kind = OUTSIDE;
  uint64_t rss_kb = 0, anon_kb = 0, kb_anon = 0, kb_file = 0, kb_shmem = 0;
  int status = 0;
  char *line = NULL;
  size_t cap = 0;
  /* a VMA's counters are added when the next VMA (or the end) is reached */
#define CLOSE_VMA()                                                                        \
  do {                                                                                     \
    if (kind != OUTSIDE) {                                                                 \
      kb_anon += anon_kb;                                                                  \
      if (kind == SHMEM) kb_shmem += rss_kb - anon_kb;                                     \
      else if (kind == FILEBACKED) kb_file += rss_kb - anon_kb;                            \
    }                                                                                      \
  } while (0)
  while (status == 0 && getline(&line, &cap, f) > 0) {
    uint64_t s, e;
    char perms[5];
    unsigned long long kb;
    if (vma_head(line, &s, &e, perms)) {
      CLOSE_VMA();
      rss_kb = anon_kb = 0;
      kind = OUTSIDE;
      if (e <= lo || s >= hi) continue;
      if (s < lo || e > hi) {
        snprintf(why, why_len, "a VMA crosses the window's edge: %.60s", line);
        status = -1;
        break;
      }
      /* fields: range perms offset dev inode [name] */
      char name[256] = "";
      sscanf(line, "%*s %*s %*s %*s %*s %255[^\n]", name);
      kind = name[0] == 0 ? ANON : strcmp(name, "/dev/zero (deleted)") == 0 ? SHMEM : FILEBACKED;
    } else if (sscanf(line, "Rss: %llu kB", &kb) == 1) {
      rss_kb = kb;
    } else if (sscanf(line, "Anonymous: %llu kB", &kb) == 1) {
      anon_kb = kb;
      if (anon_kb > rss_kb || (kind == ANON && anon_kb != rss_kb)) {
        snprintf(why, why_len, "unexpected smaps counters (Rss %llu kB, Anonymous %llu kB)",
                 (unsigned long long)rss_kb, kb);
        status = -1;
      }
    }
  }
  if (status == 0) CLOSE_VMA();
#undef CLOSE_VMA
  free(line);
  fclose(f);
  out->anon = kb_anon / (MR_PAGE / 1024);
  out->file = kb_file / (MR_PAGE / 1024);
  out->shmem = kb_shmem / (MR_PAGE / 1024);
  return status;
}
