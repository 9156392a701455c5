/*
 * linux-bench: the workloads of `mmkit bench` run on the real kernel of this machine.
 * Compiled at run time by `mmkit bench --vs-linux` with `cc -O2`; prints one JSON object:
 *   {"note": "...", "results": [{"workload","metric","unit","runs":[...]}]}
 * Usage: linux-bench SIZE_BYTES RUNS WARMUP SPLIT_MAX_PAGES CORTENMM_REQUESTS
 *
 * Anonymous memory has transparent huge pages off (madvise(MADV_NOHUGEPAGE)), so every
 * fault and PTE is a 4 KiB one, as in mmkit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL

static size_t g_size, g_pages, g_split_pages, g_requests;
static int g_runs, g_warmup;
static int g_first = 1;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void die(const char *what) {
  fprintf(stderr, "linux-bench: %s: %s\n", what, strerror(errno));
  exit(1);
}

static char *anon(size_t len, int populate) {
  char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap");
  if (madvise(p, len, MADV_NOHUGEPAGE) != 0) die("madvise(MADV_NOHUGEPAGE)");
  if (populate)
    for (size_t off = 0; off < len; off += PAGE) p[off] = 1;
  return p;
}

/* One measured repetition: returns the value of the metric. */
typedef double (*bench_fn)(void);

static void emit(const char *workload, const char *metric, const char *unit, bench_fn f) {
  for (int i = 0; i < g_warmup; i++) f();
  printf("%s\n    {\"workload\": \"%s\", \"metric\": \"%s\", \"unit\": \"%s\", \"runs\": [", g_first ? "" : ",",
         workload, metric, unit);
  g_first = 0;
  for (int i = 0; i < g_runs; i++) printf("%s%.6g", i ? ", " : "", f());
  printf("]}");
  fflush(stdout);
}

/* map: MAP_POPULATE of the whole range (allocates, zeroes and maps every page). */
static double b_map(void) {
  double t = now_ms();
  char *p = mmap(NULL, g_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  double ms = now_ms() - t;
  if (p == MAP_FAILED) die("mmap(MAP_POPULATE)");
  munmap(p, g_size);
  return g_pages / ms * 1e3;
}

/* query: mincore over a populated range. */
static double b_query(void) {
  char *p = anon(g_size, 1);
  unsigned char *vec = malloc(g_pages);
  double t = now_ms();
  if (mincore(p, g_size, vec) != 0) die("mincore");
  double ms = now_ms() - t;
  free(vec);
  munmap(p, g_size);
  return g_pages / ms * 1e3;
}

/* unmap: munmap of a populated range. */
static double b_unmap(void) {
  char *p = anon(g_size, 1);
  double t = now_ms();
  if (munmap(p, g_size) != 0) die("munmap");
  return g_pages / (now_ms() - t) * 1e3;
}

/* protect: mprotect of a whole populated range (RW -> R). */
static double b_protect(void) {
  char *p = anon(g_size, 1);
  double t = now_ms();
  if (mprotect(p, g_size, PROT_READ) != 0) die("mprotect");
  double ms = now_ms() - t;
  munmap(p, g_size);
  return g_pages / ms * 1e3;
}

/* protect-split: mprotect every other page of a populated range (each call splits the VMA). */
static double b_protect_split(void) {
  size_t pages = g_pages < g_split_pages ? g_pages : g_split_pages;
  size_t len = pages * PAGE;
  char *p = anon(len, 1);
  size_t calls = 0;
  double t = now_ms();
  for (size_t off = 0; off < len; off += 2 * PAGE, calls++)
    if (mprotect(p + off, PAGE, PROT_READ) != 0) die("mprotect(page)");
  double ms = now_ms() - t;
  munmap(p, len);
  return calls / ms * 1e3;
}

/* fault: write faults over a fresh anonymous mapping. */
static double b_fault(void) {
  char *p = anon(g_size, 0);
  double t = now_ms();
  for (size_t off = 0; off < g_size; off += PAGE) p[off] = 1;
  double ms = now_ms() - t;
  munmap(p, g_size);
  return g_pages / ms * 1e3;
}

/* fork: fork() of a process with the populated range (the child exits at once). */
static double b_fork(void) {
  char *p = anon(g_size, 1);
  double t = now_ms();
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  double ms = now_ms() - t;
  if (pid < 0) die("fork");
  waitpid(pid, NULL, 0);
  munmap(p, g_size);
  return ms * (double)(1UL << 30) / g_size;
}

/* cow-break: after fork, the child writes every page; timed in the child. */
static double b_cow_break(void) {
  char *p = anon(g_size, 1);
  int fds[2];
  if (pipe(fds) != 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    double t = now_ms();
    for (size_t off = 0; off < g_size; off += PAGE) p[off] = 2;
    double rate = g_pages / (now_ms() - t) * 1e3;
    if (write(fds[1], &rate, sizeof rate) != sizeof rate) _exit(1);
    _exit(0);
  }
  double rate = 0;
  if (read(fds[0], &rate, sizeof rate) != sizeof rate) die("read(pipe)");
  waitpid(pid, NULL, 0);
  close(fds[0]);
  close(fds[1]);
  munmap(p, g_size);
  return rate;
}

/* mremap: moving a populated range to a new address (PTEs move, pages stay). */
static double b_mremap(void) {
  char *p = anon(g_size, 1);
  /* The target is one page off the source's alignment, so that every PTE moves (aligned
   * ranges let Linux move whole page-table pages instead). */
  char *dst = mmap(NULL, g_size + 2 * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (dst == MAP_FAILED) die("mmap(dst)");
  char *to = dst + ((((unsigned long)dst + PAGE - (unsigned long)p) & (2 * 1024 * 1024 - 1)) ? PAGE : 2 * PAGE);
  double t = now_ms();
  char *q = mremap(p, g_size, g_size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  double ms = now_ms() - t;
  if (q == MAP_FAILED) die("mremap");
  munmap(dst, g_size + 2 * PAGE);
  return g_pages / ms * 1e3;
}

/* A PROT_NONE reservation of len bytes plus 2 MiB; *start is its first 2 MiB-aligned byte. */
static char *reserve_aligned(size_t len, char **start) {
  const unsigned long huge = 2 * 1024 * 1024;
  char *r = mmap(NULL, len + huge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r == MAP_FAILED) die("mmap(reserve)");
  *start = (char *)(((unsigned long)r + huge - 1) & ~(huge - 1));
  return r;
}

/* mremap between 2 MiB-aligned addresses: Linux moves whole page-table pages (PMD entries). */
static double b_mremap_aligned(void) {
  const size_t huge = 2 * 1024 * 1024;
  char *p, *to;
  char *src = reserve_aligned(g_size, &p);
  char *dst = reserve_aligned(g_size, &to);
  if (mmap(p, g_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
    die("mmap(src)");
  if (madvise(p, g_size, MADV_NOHUGEPAGE) != 0) die("madvise(MADV_NOHUGEPAGE)");
  for (size_t off = 0; off < g_size; off += PAGE) p[off] = 1;
  double t = now_ms();
  char *q = mremap(p, g_size, g_size, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  double ms = now_ms() - t;
  if (q == MAP_FAILED) die("mremap");
  munmap(src, g_size + huge);
  munmap(dst, g_size + huge);
  return g_pages / ms * 1e3;
}

static char g_path[] = "/tmp/mmkit-linux-bench-XXXXXX";
static int g_fd = -1;
static double g_load_rate;

/* pagecache-removal: the file's pages are brought into the page cache (read(), untimed);
 * timed: faults on every page through a shared mapping (minor faults on cached pages), then
 * removal of all its clean pages with posix_fadvise(DONTNEED). */
static double pagecache_once(void) {
  static char buf[1 << 16];
  if (lseek(g_fd, 0, SEEK_SET) != 0) die("lseek");
  while (read(g_fd, buf, sizeof buf) > 0) {
  }
  char *p = mmap(NULL, g_size, PROT_READ, MAP_SHARED, g_fd, 0);
  if (p == MAP_FAILED) die("mmap(file)");
  madvise(p, g_size, MADV_RANDOM); /* no fault-around: one fault per page */
  volatile char sink = 0;
  double t = now_ms();
  for (size_t off = 0; off < g_size; off += PAGE) sink += p[off];
  g_load_rate = g_pages / (now_ms() - t) * 1e3;
  munmap(p, g_size);
  t = now_ms();
  if (posix_fadvise(g_fd, 0, g_size, POSIX_FADV_DONTNEED) != 0) die("fadvise");
  return g_pages / (now_ms() - t) * 1e3;
}
static double b_pagecache_removal(void) { return pagecache_once(); }
/* Pages made accessible per second by read faults on the cached file (Linux maps up to 16
 * cached pages per fault: fault-around). */
static double b_pagecache_load(void) {
  pagecache_once();
  return g_load_rate;
}

static void make_file(void) {
  g_fd = mkstemp(g_path);
  if (g_fd < 0) die("mkstemp");
  unlink(g_path);
  char *buf = malloc(1 << 20);
  memset(buf, 0x5a, 1 << 20);
  for (size_t off = 0; off < g_size; off += 1 << 20) {
    size_t n = g_size - off < (1 << 20) ? g_size - off : (1 << 20);
    if (write(g_fd, buf, n) != (ssize_t)n) die("write(file)");
  }
  free(buf);
  if (fsync(g_fd) != 0) die("fsync");
}

/* The five single-thread CortenMM microbenchmarks (one thread, g_requests requests). */
static double b_cmm_mmap(void) {
  char **addrs = malloc(g_requests * sizeof *addrs);
  double t = now_ms();
  for (size_t i = 0; i < g_requests; i++) {
    addrs[i] = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (addrs[i] == MAP_FAILED) die("mmap(4 pages)");
  }
  double ms = now_ms() - t;
  for (size_t i = 0; i < g_requests; i++) munmap(addrs[i], 4 * PAGE);
  free(addrs);
  return g_requests / ms * 1e3;
}
static double b_cmm_mmap_pf(void) {
  char **addrs = malloc(g_requests * sizeof *addrs);
  double t = now_ms();
  for (size_t i = 0; i < g_requests; i++) {
    addrs[i] = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (addrs[i] == MAP_FAILED) die("mmap(1 page)");
    addrs[i][0] = 1;
  }
  double ms = now_ms() - t;
  for (size_t i = 0; i < g_requests; i++) munmap(addrs[i], PAGE);
  free(addrs);
  return g_requests / ms * 1e3;
}
static double b_cmm_pf(void) {
  char *p = anon(g_requests * PAGE, 0);
  double t = now_ms();
  for (size_t i = 0; i < g_requests; i++) p[i * PAGE] = 1;
  double ms = now_ms() - t;
  munmap(p, g_requests * PAGE);
  return g_requests / ms * 1e3;
}
static double cmm_unmap(int touched) {
  char *p = anon(g_requests * PAGE, touched);
  double t = now_ms();
  for (size_t i = 0; i < g_requests; i++)
    if (munmap(p + i * PAGE, PAGE) != 0) die("munmap(page)");
  return g_requests / (now_ms() - t) * 1e3;
}
static double b_cmm_unmap_virt(void) { return cmm_unmap(0); }
static double b_cmm_unmap(void) { return cmm_unmap(1); }

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s SIZE_BYTES RUNS WARMUP SPLIT_MAX_PAGES CORTENMM_REQUESTS\n", argv[0]);
    return 2;
  }
  g_size = strtoull(argv[1], NULL, 10) / PAGE * PAGE;
  g_pages = g_size / PAGE;
  g_runs = atoi(argv[2]);
  g_warmup = atoi(argv[3]);
  g_split_pages = strtoull(argv[4], NULL, 10);
  g_requests = strtoull(argv[5], NULL, 10);
  if (g_pages == 0 || g_runs < 1 || g_requests == 0) return 2;
  make_file();
  printf("{\"note\": \"THP off by madvise, %zu pages\", \"results\": [", g_pages);
  emit("map", "pages_per_s", "pages/s", b_map);
  emit("query", "pages_per_s", "pages/s", b_query);
  emit("unmap", "pages_per_s", "pages/s", b_unmap);
  emit("protect", "pages_per_s", "pages/s", b_protect);
  emit("protect-split", "calls_per_s", "calls/s", b_protect_split);
  emit("fault", "faults_per_s", "faults/s", b_fault);
  emit("fork", "ms_per_gib", "ms/GiB", b_fork);
  emit("cow-break", "faults_per_s", "faults/s", b_cow_break);
  emit("mremap", "pages_per_s", "pages/s", b_mremap);
  emit("mremap", "aligned_pages_per_s", "pages/s", b_mremap_aligned);
  emit("pagecache-removal", "load_pages_per_s", "pages/s", b_pagecache_load);
  emit("pagecache-removal", "pages_per_s", "pages/s", b_pagecache_removal);
  emit("cortenmm-mmap", "ops_per_s", "ops/s", b_cmm_mmap);
  emit("cortenmm-mmap-pf", "ops_per_s", "ops/s", b_cmm_mmap_pf);
  emit("cortenmm-pf", "ops_per_s", "ops/s", b_cmm_pf);
  emit("cortenmm-unmap-virt", "ops_per_s", "ops/s", b_cmm_unmap_virt);
  emit("cortenmm-unmap", "ops_per_s", "ops/s", b_cmm_unmap);
  printf("\n]}\n");
  close(g_fd);
  return 0;
}
