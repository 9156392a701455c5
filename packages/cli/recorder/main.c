/*
 * mmrec [-d DIR] TRACE: records an mmtrace on this machine's Linux kernel (TRACE "-" is
 * stdin). Prints one result line per trace line on stdout.
 *
 * Before the first op, the coordinator (this process) checks the machine and sets up what
 * the spec's results assume, or refuses with the reason (exit status 4):
 *   - Linux on x86_64 with 4 KiB pages;
 *   - transparent huge pages off for the traced processes (PR_SET_THP_DISABLE, inherited
 *     by every fork): all memory in 4 KiB pages;
 *   - every traced process on one CPU: pages wait in per-CPU LRU batches until their CPU
 *     drains them, and MADV_PAGEOUT drains only its own CPU's batches;
 *   - RLIMIT_STACK 8 MiB (the growth limit of MAP_GROWSDOWN mappings), RLIMIT_DATA at its
 *     hard limit (brk);
 *   - v2 traces only: locking unlimited (root, or RLIMIT_MEMLOCK raised to infinity), no
 *     swap, vm.overcommit_memory 0, the default stack guard gap and fault-around size.
 * These are set in the coordinator and inherited by traced process 0 and its forks.
 * Kernels before 6.17 get a warning, and so do trace files on a filesystem other than ext4
 * (ops.c, at the first file): some results differ there from the reference recordings, but
 * they are this kernel's answers.
 *
 * Process hygiene: the coordinator is a child subreaper and reaps every traced process.
 * Traced processes exit when their channel closes (end of the trace, or the coordinator
 * died; process 0 also gets SIGKILL when the coordinator dies). On a failure the
 * coordinator kills the traced processes it started, by pid, and reaps them.
 *
 * Exit status: 0 done; 2 malformed trace (the message names the line) or internal error;
 * 3 an outcome mmtrace cannot express (an address the kernel chose); 4 refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmrec.h"

#ifndef __x86_64__
#error "mmrec records x86_64 behaviour: build it on Linux x86_64"
#endif
#ifndef PR_SET_THP_DISABLE
#define PR_SET_THP_DISABLE 41
#endif

#define STACK_LIMIT (8ull << 20)
/* defaults the spec assumes: stack_guard_gap in pages, fault_around_bytes */
#define GUARD_GAP_PAGES 256
#define FAULT_AROUND_BYTES 65536

struct mr_state mr = {.files_dir = "/var/tmp", .trace_name = "-"};

/* ---- failing and cleaning up --------------------------------------------------------- */

static void kill_tracees(void) {
  for (int i = 0; i < mr.nprocs; i++)
    if (mr.procs[i].chan >= 0) {
      kill(mr.procs[i].pid, SIGKILL);
      close(mr.procs[i].chan);
      mr.procs[i].chan = -1;
    }
}

/* Waits until no child is left (every traced process is ours: we are a subreaper). */
static void reap_all(void) {
  alarm(30);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
  }
  alarm(0);
}

void mr_fail(int status, const char *fmt, ...) {
  va_list ap;
  fflush(stdout);
  if (mr.line > 0) fprintf(stderr, "mmrec: %s: line %ld: ", mr.trace_name, mr.line);
  else fprintf(stderr, "mmrec: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  kill_tracees();
  reap_all();
  exit(status);
}

static void on_terminate(int sig) {
  for (int i = 0; i < mr.nprocs; i++)
    if (mr.procs[i].chan >= 0) kill(mr.procs[i].pid, SIGKILL);
  signal(sig, SIG_DFL);
  raise(sig);
}

/* ---- the machine --------------------------------------------------------------------- */

/* The first line of a /proc or /sys file, or "" when it cannot be read. */
static const char *first_line(const char *path) {
  static char buf[4096];
  buf[0] = 0;
  FILE *f = fopen(path, "re");
  if (!f) return buf;
  if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
  fclose(f);
  buf[strcspn(buf, "\n")] = 0;
  return buf;
}

static void check_machine(void) {
  struct utsname u;
  if (uname(&u) || strcmp(u.sysname, "Linux") != 0) mr_fail(MR_EXIT_REFUSED, "this is not Linux");
  if (strcmp(u.machine, "x86_64") != 0)
    mr_fail(MR_EXIT_REFUSED, "this machine is %s; mmtrace results are recorded on x86_64", u.machine);
  long page = sysconf(_SC_PAGESIZE);
  if (page != MR_PAGE) mr_fail(MR_EXIT_REFUSED, "the page size here is %ld bytes, not 4 KiB", page);
  int major = 0, minor = 0;
  if (sscanf(u.release, "%d.%d", &major, &minor) == 2 && (major < 6 || (major == 6 && minor < 17)))
    fprintf(stderr,
            "mmrec: warning: Linux %s is older than 6.17: some results (mremap moves across mappings, newer "
            "advice) differ from the spec's, which were recorded on 6.18\n",
            u.release);
}

/* What v2 results assume beyond v1; refuses when the machine differs. */
static void check_v2_conditions(void) {
  struct rlimit unlimited = {RLIM_INFINITY, RLIM_INFINITY};
  if (geteuid() != 0 && setrlimit(RLIMIT_MEMLOCK, &unlimited))
    mr_fail(MR_EXIT_REFUSED, "v2 traces lock memory without limit: run as root (RLIMIT_MEMLOCK cannot be raised)");
  FILE *swaps = fopen("/proc/swaps", "re");
  if (swaps) {
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof line, swaps)) lines++;
    fclose(swaps);
    if (lines > 1) mr_fail(MR_EXIT_REFUSED, "swap is on: v2 results (pageout, rss) assume no swap (swapoff -a)");
  }
  const char *overcommit = first_line("/proc/sys/vm/overcommit_memory");
  if (overcommit[0] && strcmp(overcommit, "0") != 0)
    mr_fail(MR_EXIT_REFUSED, "vm.overcommit_memory is %s: v2 results assume 0", overcommit);
  const char *cmdline = first_line("/proc/cmdline");
  const char *gap = strstr(cmdline, "stack_guard_gap=");
  if (gap && atol(gap + strlen("stack_guard_gap=")) != GUARD_GAP_PAGES)
    mr_fail(MR_EXIT_REFUSED, "the kernel was booted with %.40s: v2 results assume a gap of %d pages", gap,
            GUARD_GAP_PAGES);
  const char *around = first_line("/sys/kernel/debug/fault_around_bytes");
  if (around[0] && atol(around) != FAULT_AROUND_BYTES)
    mr_fail(MR_EXIT_REFUSED, "fault_around_bytes is %s: v2 results assume %d", around, FAULT_AROUND_BYTES);
}

/* Settings inherited by every traced process (they are made before process 0 forks). */
static void set_conditions(void) {
  if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
    mr_fail(MR_EXIT_REFUSED, "cannot turn transparent huge pages off (PR_SET_THP_DISABLE): %s", strerror(errno));
  cpu_set_t allowed, one;
  if (sched_getaffinity(0, sizeof allowed, &allowed))
    mr_fail(MR_EXIT_REFUSED, "cannot read the CPU affinity: %s", strerror(errno));
  int cpu = 0;
  while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &allowed)) cpu++;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  if (cpu == CPU_SETSIZE || sched_setaffinity(0, sizeof one, &one))
    mr_fail(MR_EXIT_REFUSED, "cannot pin the traced processes to one CPU: %s", strerror(errno));
  struct rlimit rl;
  if (getrlimit(RLIMIT_STACK, &rl) || (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < STACK_LIMIT))
    mr_fail(MR_EXIT_REFUSED, "the stack limit cannot be 8 MiB (hard RLIMIT_STACK is lower)");
  rl.rlim_cur = STACK_LIMIT;
  if (setrlimit(RLIMIT_STACK, &rl)) mr_fail(MR_EXIT_REFUSED, "cannot set RLIMIT_STACK: %s", strerror(errno));
  if (getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_DATA, &rl);
  }
}

static void check_files_dir(void) {
  struct stat st;
  if (stat(mr.files_dir, &st) || !S_ISDIR(st.st_mode))
    mr_fail(MR_EXIT_TRACE, "%s is not a directory (for the trace's files)", mr.files_dir);
}

/* ---- traced process 0 ---------------------------------------------------------------- */

static void start_process0(void) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair))
    mr_fail(MR_EXIT_TRACE, "socketpair: %s", strerror(errno));
  pid_t coordinator = getpid();
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) mr_fail(MR_EXIT_TRACE, "fork: %s", strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != coordinator) _exit(1);
    close(pair[0]);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
    }
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    tracee_serve(pair[1]);
  }
  close(pair[1]);
  ops_set_reply_timeout(pair[0]);
  mr.procs[0].pid = pid;
  mr.procs[0].chan = pair[0];
  mr.nprocs = 1;
}

/* Process 0's break, page aligned: brk deltas and results are relative to it. */
static void align_break(void) {
  struct mr_request req = {.kind = MR_SYSCALL, .args = {SYS_brk, 0}};
  struct mr_reply rep;
  ops_call(0, &req, NULL, -1, &rep, NULL, 0);
  uint64_t aligned = ((uint64_t)rep.value + MR_PAGE - 1) & ~(uint64_t)(MR_PAGE - 1);
  if (aligned != (uint64_t)rep.value) {
    req.args[1] = aligned;
    ops_call(0, &req, NULL, -1, &rep, NULL, 0);
    if ((uint64_t)rep.value != aligned) mr_fail(MR_EXIT_TRACE, "cannot page-align the break of process 0");
  }
  mr.brk_base = aligned;
}

static void check_window_free(void) {
  struct mr_run *runs;
  long n = window_runs(mr.procs[0].pid, mr.win_lo, mr.win_hi, &runs);
  if (n < 0) mr_fail(MR_EXIT_TRACE, "cannot read /proc/%d/maps: %s", (int)mr.procs[0].pid, strerror(errno));
  if (n > 0)
    mr_fail(MR_EXIT_REFUSED, "the window is not free here: 0x%" PRIx64 "-0x%" PRIx64 " is mapped in process 0",
            runs[0].start, runs[0].end);
}

/* ---- the trace ----------------------------------------------------------------------- */

static void read_header(char *text) {
  static struct jl_object obj;
  char why[160];
  if (jl_parse(text, &obj, why, sizeof why)) mr_fail(MR_EXIT_TRACE, "header: %s", why);
  for (int i = 0; i < obj.count; i++)
    if (strcmp(obj.keys[i], "mmtrace") && strcmp(obj.keys[i], "page_size") && strcmp(obj.keys[i], "window"))
      mr_fail(MR_EXIT_TRACE, "header has no field \"%s\"", obj.keys[i]);
  const struct jl_value *v = jl_get(&obj, "mmtrace");
  if (!v || v->type != JL_INTEGER || (v->integer != 1 && v->integer != 2))
    mr_fail(MR_EXIT_TRACE, "not an mmtrace header: {\"mmtrace\":1 or 2,...} expected");
  mr.version = (int)v->integer;
  v = jl_get(&obj, "page_size");
  if (!v || v->type != JL_INTEGER) mr_fail(MR_EXIT_TRACE, "the header needs \"page_size\"");
  if (v->integer != MR_PAGE)
    mr_fail(MR_EXIT_REFUSED, "the trace is for %lld-byte pages; this machine has 4 KiB pages", v->integer);
  v = jl_get(&obj, "window");
  if (!v || v->type != JL_LIST || v->count != 2) mr_fail(MR_EXIT_TRACE, "the header needs \"window\": [lo, hi]");
  mr.win_lo = ops_parse_hex(v->items[0], "window");
  mr.win_hi = ops_parse_hex(v->items[1], "window");
  if (mr.win_lo >= mr.win_hi || (mr.win_lo | mr.win_hi) % MR_PAGE || mr.win_lo < 0x10000 ||
      mr.win_hi > 0x7ffffffff000ull)
    mr_fail(MR_EXIT_TRACE, "the window must be page aligned, non-empty, and inside user space");
}

int main(int argc, char **argv) {
  int opt;
  while ((opt = getopt(argc, argv, "d:")) != -1) {
    if (opt == 'd') mr.files_dir = optarg;
    else mr_fail(MR_EXIT_TRACE, "usage: mmrec [-d DIR] TRACE");
  }
  if (optind != argc - 1) mr_fail(MR_EXIT_TRACE, "usage: mmrec [-d DIR] TRACE");
  mr.trace_name = argv[optind];
  FILE *in = strcmp(mr.trace_name, "-") ? fopen(mr.trace_name, "re") : stdin;
  if (!in) mr_fail(MR_EXIT_TRACE, "cannot open %s: %s", mr.trace_name, strerror(errno));
  mr.cap_procs = 64;
  mr.procs = calloc((size_t)mr.cap_procs, sizeof *mr.procs);
  if (!mr.procs) mr_fail(MR_EXIT_TRACE, "out of memory");

  check_machine();
  char *text = NULL;
  size_t cap = 0;
  ssize_t len = getline(&text, &cap, in);
  mr.line = 1;
  if (len <= 0) mr_fail(MR_EXIT_TRACE, "the trace is empty");
  if (text[len - 1] == '\n') text[--len] = 0;
  read_header(text);
  if (mr.version >= 2) check_v2_conditions();
  check_files_dir();
  set_conditions();

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_terminate;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGPIPE, &sa, NULL); /* the reader of the results went away */
  prctl(PR_SET_CHILD_SUBREAPER, 1);

  start_process0();
  align_break();
  check_window_free();
  printf("{\"mmtrace\":%d}\n", mr.version);

  while ((len = getline(&text, &cap, in)) > 0) {
    mr.line++;
    if (text[len - 1] == '\n') text[--len] = 0;
    if (len == 0) mr_fail(MR_EXIT_TRACE, "empty line");
    ops_line(text);
  }
  free(text);
  if (in != stdin) fclose(in);

  int write_error = fflush(stdout) || ferror(stdout) ? errno : 0;
  for (int i = 0; i < mr.nprocs; i++)
    if (mr.procs[i].chan >= 0) {
      close(mr.procs[i].chan);
      mr.procs[i].chan = -1;
    }
  reap_all();
  if (write_error) {
    fprintf(stderr, "mmrec: cannot write the results: %s\n", strerror(write_error));
    return MR_EXIT_TRACE;
  }
  return MR_EXIT_OK;
}
