/*
 * One trace line → requests to a traced process → one result line on stdout.
 *
 * Every op is a row of `OPS`: its name, whether it needs a v2 header, the fields it may
 * have, and its handler. Handlers validate the line first (a malformed line stops the
 * recording with exit status 2 and the line number, before anything is executed), then
 * execute it. Values the spec gives as hex strings must be hex strings ("0x" and lower-case
 * digits); pids are plain numbers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mmrec.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
/* advice newer than some C libraries' headers (values from the Linux uapi) */
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#define MADV_KEEPONFORK 19
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif
#ifndef SYS_mlock2
#define SYS_mlock2 325
#endif

/* statfs f_type of ext4 */
#define EXT4_MAGIC 0xEF53
/* seconds to wait for a traced process's reply before giving up */
#define REPLY_TIMEOUT_S 60
/* the highest user address with 5-level paging: a mincore range ending above it is
 * rejected by the kernel before the vector is written */
#define USER_END_LA57 0x00fffffffffff000ull

/* ---- names --------------------------------------------------------------------------- */

struct named_flag {
  const char *name;
  uint64_t value;
  int v2; /* only in a v2 trace */
};

static const struct named_flag MMAP_FLAGS[] = {
    {"private", MAP_PRIVATE, 0},
    {"shared", MAP_SHARED, 0},
    {"anonymous", MAP_ANONYMOUS, 0},
    {"fixed", MAP_FIXED, 0},
    {"fixed_noreplace", MAP_FIXED_NOREPLACE, 0},
    {"shared_validate", MAP_SHARED_VALIDATE, 1},
    {"locked", MAP_LOCKED, 1},
    {"populate", MAP_POPULATE, 1},
    {"noreserve", MAP_NORESERVE, 1},
    {"stack", MAP_STACK, 1},
    {"growsdown", MAP_GROWSDOWN, 1},
    {"32bit", MAP_32BIT, 1},
    {"sync", MAP_SYNC, 1},
    {NULL, 0, 0},
};

static const struct named_flag MREMAP_FLAGS[] = {
    {"maymove", MREMAP_MAYMOVE, 0},
    {"fixed", MREMAP_FIXED, 0},
    {"dontunmap", MREMAP_DONTUNMAP, 1},
    {NULL, 0, 0},
};

static const struct named_flag ADVICE[] = {
    {"dontneed", MADV_DONTNEED, 0},
    {"free", MADV_FREE, 1},
    {"willneed", MADV_WILLNEED, 1},
    {"normal", MADV_NORMAL, 1},
    {"random", MADV_RANDOM, 1},
    {"sequential", MADV_SEQUENTIAL, 1},
    {"dontfork", MADV_DONTFORK, 1},
    {"dofork", MADV_DOFORK, 1},
    {"wipeonfork", MADV_WIPEONFORK, 1},
    {"keeponfork", MADV_KEEPONFORK, 1},
    {"remove", MADV_REMOVE, 1},
    {"cold", MADV_COLD, 1},
    {"pageout", MADV_PAGEOUT, 1},
    {"populate_read", MADV_POPULATE_READ, 1},
    {"populate_write", MADV_POPULATE_WRITE, 1},
    {"hugepage", MADV_HUGEPAGE, 1},
    {"nohugepage", MADV_NOHUGEPAGE, 1},
    {"dontdump", MADV_DONTDUMP, 1},
    {"dodump", MADV_DODUMP, 1},
    {NULL, 0, 0},
};

static const struct named_flag MLOCKALL_FLAGS[] = {
    {"current", MCL_CURRENT, 1},
    {"future", MCL_FUTURE, 1},
    {"onfault", MCL_ONFAULT, 1},
    {NULL, 0, 0},
};

static const struct named_flag MLOCK_FLAGS[] = {
    {"onfault", MLOCK_ONFAULT, 1},
    {NULL, 0, 0},
};

/* Linux errno names (the values are the same on every Linux architecture mmkit models) */
static const struct {
  int value;
  const char *name;
} ERRNO_NAMES[] = {
    {EPERM, "EPERM"},   {ENOENT, "ENOENT"}, {EINTR, "EINTR"},   {EIO, "EIO"},
    {ENXIO, "ENXIO"},   {EBADF, "EBADF"},   {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"}, {EFAULT, "EFAULT"}, {EBUSY, "EBUSY"},   {EEXIST, "EEXIST"},
    {ENODEV, "ENODEV"}, {EINVAL, "EINVAL"}, {ETXTBSY, "ETXTBSY"}, {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"}, {ESPIPE, "ESPIPE"}, {EROFS, "EROFS"},   {ENOSYS, "ENOSYS"},
    {EOVERFLOW, "EOVERFLOW"}, {EOPNOTSUPP, "EOPNOTSUPP"},
};

static const char *errno_name(int e) {
  for (size_t i = 0; i < sizeof ERRNO_NAMES / sizeof ERRNO_NAMES[0]; i++)
    if (ERRNO_NAMES[i].value == e) return ERRNO_NAMES[i].name;
  mr_fail(MR_EXIT_TRACE, "the kernel returned errno %d, which has no name here", e);
}

/* ---- fields -------------------------------------------------------------------------- */

static const struct jl_object *line_obj;

/* The value of a lower-case hex digit, or -1. */
static int hex_digit(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; }

uint64_t ops_parse_hex(const char *s, const char *key) {
  if (strncmp(s, "0x", 2) != 0 || s[2] == 0 || strlen(s) > 18)
    mr_fail(MR_EXIT_TRACE, "\"%s\" must be a hex string of at most 64 bits like \"0x1000\", not \"%s\"", key, s);
  uint64_t v = 0;
  for (const char *p = s + 2; *p; p++) {
    int d = hex_digit(*p);
    if (d < 0) mr_fail(MR_EXIT_TRACE, "\"%s\": \"%s\" is not lower-case hex", key, s);
    v = v << 4 | (uint64_t)d;
  }
  return v;
}

static int has(const char *key) { return jl_get(line_obj, key) != NULL; }

static const char *field_string(const char *key) {
  const struct jl_value *v = jl_get(line_obj, key);
  if (!v) mr_fail(MR_EXIT_TRACE, "missing field \"%s\"", key);
  if (v->type != JL_STRING) mr_fail(MR_EXIT_TRACE, "field \"%s\" must be a string", key);
  return v->str;
}

static uint64_t field_hex(const char *key) { return ops_parse_hex(field_string(key), key); }

static const struct jl_value *field_list(const char *key) {
  const struct jl_value *v = jl_get(line_obj, key);
  if (!v) mr_fail(MR_EXIT_TRACE, "missing field \"%s\"", key);
  if (v->type != JL_LIST) mr_fail(MR_EXIT_TRACE, "field \"%s\" must be a list of strings", key);
  return v;
}

/*
 * ORs the values of the names in list `key`, v2 names only in v2. A name given twice counts
 * once, as the bits of the system call's argument would (the replayer reads lists the same way).
 */
static uint64_t field_flags(const char *key, const struct named_flag *table, const char *what) {
  const struct jl_value *v = field_list(key);
  uint64_t flags = 0;
  for (int i = 0; i < v->count; i++) {
    const struct named_flag *f = table;
    while (f->name && strcmp(f->name, v->items[i]) != 0) f++;
    if (!f->name) mr_fail(MR_EXIT_TRACE, "unknown %s \"%s\"", what, v->items[i]);
    if (f->v2 && mr.version < 2) mr_fail(MR_EXIT_TRACE, "%s \"%s\" needs an mmtrace 2 header", what, f->name);
    flags |= f->value;
  }
  return flags;
}

static int in_list(const struct jl_value *list, const char *name) {
  for (int i = 0; i < list->count; i++)
    if (strcmp(list->items[i], name) == 0) return 1;
  return 0;
}

/* The trace pid of the line (default 0): a process that exists. */
static int field_pid(void) {
  const struct jl_value *v = jl_get(line_obj, "pid");
  if (!v) return 0;
  if (v->type != JL_INTEGER || v->integer < 0) mr_fail(MR_EXIT_TRACE, "\"pid\" must be a process number");
  if (v->integer >= mr.nprocs) mr_fail(MR_EXIT_TRACE, "pid %lld does not exist", v->integer);
  if (mr.procs[v->integer].chan < 0) mr_fail(MR_EXIT_TRACE, "pid %lld has exited", v->integer);
  return (int)v->integer;
}

static uint64_t field_prot(void) {
  const char *s = field_string("prot");
  if (strlen(s) != 3 || (s[0] != 'r' && s[0] != '-') || (s[1] != 'w' && s[1] != '-') ||
      (s[2] != 'x' && s[2] != '-'))
    mr_fail(MR_EXIT_TRACE, "\"prot\" must be three characters like \"rw-\", not \"%s\"", s);
  return (s[0] == 'r' ? PROT_READ : 0) | (s[1] == 'w' ? PROT_WRITE : 0) | (s[2] == 'x' ? PROT_EXEC : 0);
}

/* Decodes hex data (no "0x") into a new buffer; *len gets its length in bytes. */
static unsigned char *field_data(const char *key, size_t *len) {
  const char *s = field_string(key);
  size_t n = strlen(s);
  if (n % 2) mr_fail(MR_EXIT_TRACE, "\"%s\" must have an even number of hex digits", key);
  unsigned char *buf = malloc(n / 2 + 1);
  if (!buf) mr_fail(MR_EXIT_TRACE, "out of memory");
  for (size_t i = 0; i < n; i++) {
    int d = hex_digit(s[i]);
    if (d < 0) mr_fail(MR_EXIT_TRACE, "\"%s\" must be lower-case hex digits", key);
    if (i % 2 == 0) buf[i / 2] = (unsigned char)(d << 4);
    else buf[i / 2] |= (unsigned char)d;
  }
  *len = n / 2;
  return buf;
}

/* ---- results ------------------------------------------------------------------------- */

static void print_hex(const unsigned char *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    putchar(digits[p[i] >> 4]);
    putchar(digits[p[i] & 15]);
  }
}

static void print_status(const struct mr_reply *rep) {
  if (rep->error) printf("{\"errno\":\"%s\"}\n", errno_name(rep->error));
  else printf("{\"ret\":%" PRId64 "}\n", rep->value);
}

/* mmap and mremap: the address, which must lie in the window (maps, mincore and rss see
 * only the window; an address the kernel picks elsewhere is not reproducible). */
static void print_address(const struct mr_reply *rep, uint64_t len, const char *what) {
  if (rep->error) {
    printf("{\"errno\":\"%s\"}\n", errno_name(rep->error));
    return;
  }
  uint64_t a = (uint64_t)rep->value, pages_len = (len + MR_PAGE - 1) & ~(uint64_t)(MR_PAGE - 1);
  if (a < mr.win_lo || a > mr.win_hi || pages_len > mr.win_hi - a)
    mr_fail(MR_EXIT_OUTCOME,
            "%s returned 0x%" PRIx64 ", outside the trace's window: give a fixed address or a free hint "
            "inside the window (an address the kernel picks is not reproducible)",
            what, a);
  printf("{\"ret\":\"0x%" PRIx64 "\"}\n", a);
}

static void print_fault(int sig) {
  if (sig == SIGSEGV) printf("{\"fault\":\"SIGSEGV\"}\n");
  else if (sig == SIGBUS) printf("{\"fault\":\"SIGBUS\"}\n");
  else mr_fail(MR_EXIT_TRACE, "an access raised signal %d", sig);
}

/* ---- talking to traced processes ----------------------------------------------------- */

void ops_call(int p, struct mr_request *req, const void *out, int fd, struct mr_reply *rep, void *in,
              size_t in_cap) {
  int chan = mr.procs[p].chan;
  if (mr_send(chan, req, sizeof *req, fd, out, req->payload))
    mr_fail(MR_EXIT_TRACE, "cannot send to process %d: %s", p, strerror(errno));
  int got = mr_recv_header(chan, rep, sizeof *rep, NULL);
  if (got == 0) mr_fail(MR_EXIT_TRACE, "process %d ended unexpectedly", p);
  if (got < 0)
    mr_fail(MR_EXIT_TRACE, "no reply from process %d: %s", p,
            errno == EAGAIN ? "timed out" : strerror(errno));
  if (rep->payload > in_cap) mr_fail(MR_EXIT_TRACE, "reply of process %d is too long", p);
  if (rep->payload && mr_recv_exact(chan, in, rep->payload))
    mr_fail(MR_EXIT_TRACE, "short reply from process %d", p);
}

static void call_syscall(int p, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                         struct mr_reply *rep) {
  struct mr_request req = {.kind = MR_SYSCALL, .args = {(uint64_t)nr, a1, a2, a3, a4, a5, 0}};
  ops_call(p, &req, NULL, -1, rep, NULL, 0);
}

void ops_set_reply_timeout(int chan) {
  struct timeval tv = {.tv_sec = REPLY_TIMEOUT_S, .tv_usec = 0};
  setsockopt(chan, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

/* ---- files --------------------------------------------------------------------------- */

struct trace_file {
  char *name;
  int fd;
};
static struct trace_file *files;
static size_t nfiles;

/* The descriptor of a trace file, or -1 when no `file` op created it. */
static int file_fd(const char *name) {
  for (size_t i = 0; i < nfiles; i++)
    if (strcmp(files[i].name, name) == 0) return files[i].fd;
  return -1;
}

/* A regular file without a name, on the filesystem of mr.files_dir: nothing stays on disk.
 * The first one warns when that filesystem is not ext4, the one the spec's results assume. */
static int unnamed_file(void) {
  struct statfs fs;
  if (nfiles == 0 && statfs(mr.files_dir, &fs) == 0 && fs.f_type != EXT4_MAGIC)
    fprintf(stderr, "mmrec: warning: %s is not on ext4: results of file ops may differ from the spec's\n",
            mr.files_dir);
  int fd = open(mr.files_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/mmrec-XXXXXX", mr.files_dir);
  fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0) mr_fail(MR_EXIT_TRACE, "cannot create a file in %s: %s", mr.files_dir, strerror(errno));
  unlink(path);
  return fd;
}

static void print_errno_or_zero(int e) {
  if (e) printf("{\"errno\":\"%s\"}\n", errno_name(e));
  else printf("{\"ret\":0}\n");
}

/* ---- handlers ------------------------------------------------------------------------ */

static void op_mmap(void) {
  int p = field_pid();
  uint64_t addr = field_hex("addr"), len = field_hex("len"), prot = field_prot();
  uint64_t flags = field_flags("flags", MMAP_FLAGS, "mmap flag");
  const struct jl_value *names = field_list("flags");
  int sharing = in_list(names, "private") + in_list(names, "shared") + in_list(names, "shared_validate");
  if (sharing != 1) mr_fail(MR_EXIT_TRACE, "mmap needs exactly one of \"private\", \"shared\", \"shared_validate\"");
  if (in_list(names, "fixed") && in_list(names, "fixed_noreplace"))
    mr_fail(MR_EXIT_TRACE, "mmap takes at most one of \"fixed\", \"fixed_noreplace\"");
  int fd = -1;
  uint64_t offset = has("offset") ? field_hex("offset") : 0;
  if (has("file")) {
    if (in_list(names, "anonymous")) mr_fail(MR_EXIT_TRACE, "a file mapping cannot be \"anonymous\"");
    fd = file_fd(field_string("file"));
    if (fd < 0) {
      printf("{\"errno\":\"ENOENT\"}\n");
      return;
    }
  } else if (!in_list(names, "anonymous")) {
    mr_fail(MR_EXIT_TRACE, "mmap needs \"anonymous\" or a \"file\"");
  }
  /* args: nr, addr, len, prot, flags, fd, offset; the file's descriptor goes to slot 5 */
  struct mr_request req = {.kind = MR_SYSCALL,
                           .fd_slot = fd >= 0 ? 5 : MR_FD_SLOT_NONE,
                           .args = {SYS_mmap, addr, len, prot, flags, (uint64_t)-1, offset}};
  struct mr_reply rep;
  ops_call(p, &req, NULL, fd, &rep, NULL, 0);
  print_address(&rep, len, "mmap");
}

static void op_munmap(void) {
  int p = field_pid();
  struct mr_reply rep;
  call_syscall(p, SYS_munmap, field_hex("addr"), field_hex("len"), 0, 0, 0, &rep);
  print_status(&rep);
}

static void op_msync(void) {
  int p = field_pid();
  struct mr_reply rep;
  call_syscall(p, SYS_msync, field_hex("addr"), field_hex("len"), MS_SYNC, 0, 0, &rep);
  print_status(&rep);
}

static void op_mprotect(void) {
  int p = field_pid();
  uint64_t addr = field_hex("addr"), len = field_hex("len");
  struct mr_reply rep;
  call_syscall(p, SYS_mprotect, addr, len, field_prot(), 0, 0, &rep);
  print_status(&rep);
}

static void op_madvise(void) {
  int p = field_pid();
  uint64_t addr = field_hex("addr"), len = field_hex("len");
  const char *name = field_string("advice");
  const struct named_flag *a = ADVICE;
  while (a->name && strcmp(a->name, name) != 0) a++;
  if (!a->name) mr_fail(MR_EXIT_TRACE, "unknown advice \"%s\"", name);
  if (a->v2 && mr.version < 2) mr_fail(MR_EXIT_TRACE, "advice \"%s\" needs an mmtrace 2 header", name);
  struct mr_reply rep;
  call_syscall(p, SYS_madvise, addr, len, a->value, 0, 0, &rep);
  print_status(&rep);
}

static void op_mremap(void) {
  int p = field_pid();
  uint64_t addr = field_hex("addr"), old_len = field_hex("old_len"), new_len = field_hex("new_len");
  uint64_t flags = has("flags") ? field_flags("flags", MREMAP_FLAGS, "mremap flag") : 0;
  uint64_t new_addr = has("new_addr") ? field_hex("new_addr") : 0;
  if ((flags & (MREMAP_FIXED | MREMAP_DONTUNMAP)) && !has("new_addr"))
    mr_fail(MR_EXIT_TRACE, "mremap with \"fixed\" or \"dontunmap\" needs \"new_addr\"");
  struct mr_reply rep;
  call_syscall(p, SYS_mremap, addr, old_len, new_len, flags, new_addr, &rep);
  print_address(&rep, new_len, "mremap");
}

static void check_one_page(uint64_t addr, uint64_t len, const char *what) {
  if (len > MR_MAX_DATA || (len > 0 && addr / MR_PAGE != (addr + len - 1) / MR_PAGE))
    mr_fail(MR_EXIT_TRACE, "a %s must not cross a page boundary", what);
}

static void op_write(void) {
  int p = field_pid();
  uint64_t addr = field_hex("addr");
  size_t len;
  unsigned char *data = field_data("data", &len);
  check_one_page(addr, len, "write");
  struct mr_request req = {.kind = MR_STORE, .payload = (uint32_t)len, .args = {addr}};
  struct mr_reply rep;
  ops_call(p, &req, data, -1, &rep, NULL, 0);
  free(data);
  if (rep.signal) print_fault(rep.signal);
  else printf("{\"ret\":0}\n");
}

static void op_read(void) {
  static unsigned char data[MR_MAX_DATA];
  int p = field_pid();
  uint64_t addr = field_hex("addr"), len = field_hex("len");
  check_one_page(addr, len, "read");
  struct mr_request req = {.kind = MR_LOAD, .args = {addr, len}};
  struct mr_reply rep;
  ops_call(p, &req, NULL, -1, &rep, data, sizeof data);
  if (rep.signal) {
    print_fault(rep.signal);
    return;
  }
  printf("{\"data\":\"");
  print_hex(data, rep.payload);
  printf("\"}\n");
}

static void op_fork(void) {
  int p = field_pid();
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair))
    mr_fail(MR_EXIT_TRACE, "socketpair: %s", strerror(errno));
  if (mr.nprocs == mr.cap_procs) {
    int cap = mr.cap_procs * 2;
    struct mr_proc *grown = realloc(mr.procs, (size_t)cap * sizeof *grown);
    if (!grown) mr_fail(MR_EXIT_TRACE, "out of memory");
    mr.procs = grown;
    mr.cap_procs = cap;
  }
  struct mr_request req = {.kind = MR_FORK};
  struct mr_reply rep;
  ops_call(p, &req, NULL, pair[1], &rep, NULL, 0);
  close(pair[1]);
  if (rep.error) mr_fail(MR_EXIT_TRACE, "fork in process %d failed: %s", p, strerror(rep.error));
  ops_set_reply_timeout(pair[0]);
  int child = mr.nprocs++;
  mr.procs[child].pid = (pid_t)rep.value;
  mr.procs[child].chan = pair[0];
  printf("{\"ret\":%d}\n", child);
}

static void op_exit(void) {
  int p = field_pid();
  struct mr_request req = {.kind = MR_EXIT};
  struct mr_reply rep;
  ops_call(p, &req, NULL, -1, &rep, NULL, 0);
  /* the process is gone once its end of the channel is closed */
  char byte;
  ssize_t n;
  do n = recv(mr.procs[p].chan, &byte, 1, 0);
  while (n < 0 && errno == EINTR);
  if (n != 0) mr_fail(MR_EXIT_TRACE, "process %d did not exit", p);
  close(mr.procs[p].chan);
  mr.procs[p].chan = -1;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  printf("{\"ret\":0}\n");
}

static void op_maps(void) {
  int p = field_pid();
  struct mr_run *runs;
  long n = window_runs(mr.procs[p].pid, mr.win_lo, mr.win_hi, &runs);
  if (n < 0) mr_fail(MR_EXIT_TRACE, "cannot read the maps of process %d: %s", p, strerror(errno));
  printf("{\"maps\":[");
  for (long i = 0; i < n; i++)
    printf("%s[\"0x%" PRIx64 "\",\"0x%" PRIx64 "\",\"%s\"]", i ? "," : "", runs[i].start, runs[i].end,
           runs[i].perms);
  printf("]}\n");
}

static void op_file(void) {
  const char *name = field_string("name");
  uint64_t size = field_hex("size");
  if (name[0] == 0) mr_fail(MR_EXIT_TRACE, "a file needs a non-empty name");
  if (size > (uint64_t)INT64_MAX) mr_fail(MR_EXIT_TRACE, "file size too large");
  int fd = file_fd(name), e = 0;
  if (fd >= 0) {
    /* an existing name: the same file, truncated to 0 and then grown, as live mappings see */
    if (ftruncate(fd, 0)) e = errno;
  } else {
    struct trace_file *grown = realloc(files, (nfiles + 1) * sizeof *grown);
    if (!grown) mr_fail(MR_EXIT_TRACE, "out of memory");
    files = grown;
    fd = unnamed_file();
    files[nfiles].name = strdup(name);
    files[nfiles].fd = fd;
    nfiles++;
  }
  if (!e && ftruncate(fd, (off_t)size)) e = errno;
  print_errno_or_zero(e);
}

static void op_pwrite(void) {
  int fd = file_fd(field_string("name"));
  uint64_t offset = field_hex("offset");
  size_t len;
  unsigned char *data = field_data("data", &len);
  int e = fd < 0 ? ENOENT : 0;
  for (size_t done = 0; !e && done < len;) {
    ssize_t n = pwrite(fd, data + done, len - done, (off_t)(offset + done));
    if (n < 0 && errno != EINTR) e = errno;
    else if (n > 0) done += (size_t)n;
  }
  free(data);
  print_errno_or_zero(e);
}

static void op_pread(void) {
  int fd = file_fd(field_string("name"));
  uint64_t offset = field_hex("offset"), len = field_hex("len");
  if (len > (1u << 30)) mr_fail(MR_EXIT_TRACE, "a pread of more than 1 GiB");
  if (fd < 0) {
    printf("{\"errno\":\"ENOENT\"}\n");
    return;
  }
  unsigned char *buf = malloc(len + 1);
  if (!buf) mr_fail(MR_EXIT_TRACE, "out of memory");
  size_t done = 0;
  int e = 0;
  while (!e && done < len) {
    ssize_t n = pread(fd, buf + done, len - done, (off_t)(offset + done));
    if (n < 0 && errno != EINTR) e = errno;
    else if (n == 0) break; /* end of file: the bytes that exist */
    else if (n > 0) done += (size_t)n;
  }
  if (e) {
    printf("{\"errno\":\"%s\"}\n", errno_name(e));
  } else {
    printf("{\"data\":\"");
    print_hex(buf, done);
    printf("\"}\n");
  }
  free(buf);
}

static void op_evict(void) {
  int fd = file_fd(field_string("name"));
  uint64_t offset = field_hex("offset"), len = field_hex("len");
  if (len == 0) mr_fail(MR_EXIT_TRACE, "evict needs a length > 0");
  int e = 0;
  if (fd < 0) e = ENOENT;
  else if (fsync(fd)) e = errno;
  else e = posix_fadvise(fd, (off_t)offset, (off_t)len, POSIX_FADV_DONTNEED);
  print_errno_or_zero(e);
}

static void op_mincore(void) {
  static unsigned char vec[MR_MINCORE_CHUNK];
  int p = field_pid();
  uint64_t addr = field_hex("addr"), len = field_hex("len");
  struct mr_reply rep;
  int rejected_whole = (addr % MR_PAGE) != 0 || len == 0 || len > UINT64_MAX - addr || addr + len > USER_END_LA57;
  if (rejected_whole) {
    /* the kernel answers without writing the vector: ask in one request */
    struct mr_request req = {.kind = MR_MINCORE, .args = {addr, len}};
    ops_call(p, &req, NULL, -1, &rep, vec, sizeof vec);
    if (rep.error) printf("{\"errno\":\"%s\"}\n", errno_name(rep.error));
    else printf("{\"vec\":\"%.*s\"}\n", (int)rep.payload, (const char *)vec);
    return;
  }
  uint64_t pages = len / MR_PAGE + (len % MR_PAGE != 0);
  if (addr < mr.win_lo || addr >= mr.win_hi || pages > (mr.win_hi - addr) / MR_PAGE)
    mr_fail(MR_EXIT_TRACE, "a mincore range must lie inside the window (or end beyond any user address)");
  /* in pieces: mincore has no side effects, and any hole gives ENOMEM whichever piece holds it */
  char *text = malloc(pages + 1);
  if (!text) mr_fail(MR_EXIT_TRACE, "out of memory");
  for (uint64_t done = 0; done < pages;) {
    uint64_t chunk = pages - done < MR_MINCORE_CHUNK ? pages - done : MR_MINCORE_CHUNK;
    uint64_t chunk_len = done + chunk == pages ? len - done * MR_PAGE : chunk * MR_PAGE;
    struct mr_request req = {.kind = MR_MINCORE, .args = {addr + done * MR_PAGE, chunk_len}};
    ops_call(p, &req, NULL, -1, &rep, vec, sizeof vec);
    if (rep.error) {
      printf("{\"errno\":\"%s\"}\n", errno_name(rep.error));
      free(text);
      return;
    }
    if (rep.payload != chunk) mr_fail(MR_EXIT_TRACE, "mincore: short vector from process %d", p);
    memcpy(text + done, vec, chunk);
    done += chunk;
  }
  printf("{\"vec\":\"%.*s\"}\n", (int)pages, text);
  free(text);
}

static void op_rss(void) {
  int p = field_pid();
  struct mr_rss rss;
  char why[160];
  if (window_rss(mr.procs[p].pid, mr.win_lo, mr.win_hi, &rss, why, sizeof why))
    mr_fail(MR_EXIT_TRACE, "rss of process %d: %s", p, why);
  printf("{\"rss\":{\"anon\":%" PRIu64 ",\"file\":%" PRIu64 ",\"shmem\":%" PRIu64 "}}\n", rss.anon, rss.file,
         rss.shmem);
}

static void op_mlock(void) {
  int p = field_pid();
  uint64_t addr = field_hex("addr"), len = field_hex("len");
  struct mr_reply rep;
  if (has("flags")) call_syscall(p, SYS_mlock2, addr, len, field_flags("flags", MLOCK_FLAGS, "mlock flag"), 0, 0, &rep);
  else call_syscall(p, SYS_mlock, addr, len, 0, 0, 0, &rep);
  print_status(&rep);
}

static void op_munlock(void) {
  int p = field_pid();
  struct mr_reply rep;
  call_syscall(p, SYS_munlock, field_hex("addr"), field_hex("len"), 0, 0, 0, &rep);
  print_status(&rep);
}

static void op_mlockall(void) {
  int p = field_pid();
  struct mr_reply rep;
  call_syscall(p, SYS_mlockall, field_flags("flags", MLOCKALL_FLAGS, "mlockall flag"), 0, 0, 0, 0, &rep);
  print_status(&rep);
}

static void op_munlockall(void) {
  int p = field_pid();
  struct mr_reply rep;
  call_syscall(p, SYS_munlockall, 0, 0, 0, 0, 0, &rep);
  print_status(&rep);
}

static void op_brk(void) {
  int p = field_pid();
  uint64_t target = 0; /* brk(0) asks for the current break */
  if (has("delta")) {
    uint64_t delta = field_hex("delta");
    if (delta > UINT64_MAX - mr.brk_base) mr_fail(MR_EXIT_TRACE, "brk delta too large");
    target = mr.brk_base + delta;
  }
  struct mr_reply rep;
  call_syscall(p, SYS_brk, target, 0, 0, 0, 0, &rep);
  /* brk never fails: it returns the break it kept */
  if (rep.error || (uint64_t)rep.value < mr.brk_base)
    mr_fail(MR_EXIT_TRACE, "brk left the break below where process 0 started");
  printf("{\"ret\":\"0x%" PRIx64 "\"}\n", (uint64_t)rep.value - mr.brk_base);
}

/* ---- the op table -------------------------------------------------------------------- */

struct op {
  const char *name;
  int v2;
  const char *fields[8]; /* besides "op"; NULL-terminated */
  void (*run)(void);
};

static const struct op OPS[] = {
    {"mmap", 0, {"pid", "addr", "len", "prot", "flags", "file", "offset", NULL}, op_mmap},
    {"munmap", 0, {"pid", "addr", "len", NULL}, op_munmap},
    {"mprotect", 0, {"pid", "addr", "len", "prot", NULL}, op_mprotect},
    {"mremap", 0, {"pid", "addr", "old_len", "new_len", "flags", "new_addr", NULL}, op_mremap},
    {"madvise", 0, {"pid", "addr", "len", "advice", NULL}, op_madvise},
    {"msync", 0, {"pid", "addr", "len", NULL}, op_msync},
    {"write", 0, {"pid", "addr", "data", NULL}, op_write},
    {"read", 0, {"pid", "addr", "len", NULL}, op_read},
    {"fork", 0, {"pid", NULL}, op_fork},
    {"exit", 0, {"pid", NULL}, op_exit},
    {"maps", 0, {"pid", NULL}, op_maps},
    {"file", 0, {"name", "size", NULL}, op_file},
    {"pwrite", 0, {"name", "offset", "data", NULL}, op_pwrite},
    {"pread", 0, {"name", "offset", "len", NULL}, op_pread},
    {"evict", 0, {"name", "offset", "len", NULL}, op_evict},
    {"mincore", 1, {"pid", "addr", "len", NULL}, op_mincore},
    {"rss", 1, {"pid", NULL}, op_rss},
    {"mlock", 1, {"pid", "addr", "len", "flags", NULL}, op_mlock},
    {"munlock", 1, {"pid", "addr", "len", NULL}, op_munlock},
    {"mlockall", 1, {"pid", "flags", NULL}, op_mlockall},
    {"munlockall", 1, {"pid", NULL}, op_munlockall},
    {"brk", 1, {"pid", "delta", NULL}, op_brk},
    {NULL, 0, {NULL}, NULL},
};

void ops_line(char *text) {
  static struct jl_object obj;
  char why[160];
  if (jl_parse(text, &obj, why, sizeof why)) mr_fail(MR_EXIT_TRACE, "%s", why);
  line_obj = &obj;
  const struct jl_value *name = jl_get(&obj, "op");
  if (!name || name->type != JL_STRING) mr_fail(MR_EXIT_TRACE, "a line needs an \"op\" string");
  const struct op *op = OPS;
  while (op->name && strcmp(op->name, name->str) != 0) op++;
  if (!op->name) mr_fail(MR_EXIT_TRACE, "unknown op \"%s\"", name->str);
  if (op->v2 && mr.version < 2) mr_fail(MR_EXIT_TRACE, "op \"%s\" needs an mmtrace 2 header", op->name);
  for (int i = 0; i < obj.count; i++) {
    int known = strcmp(obj.keys[i], "op") == 0;
    for (const char *const *f = op->fields; !known && *f; f++) known = strcmp(*f, obj.keys[i]) == 0;
    if (!known) mr_fail(MR_EXIT_TRACE, "op \"%s\" has no field \"%s\"", op->name, obj.keys[i]);
  }
  op->run();
}
