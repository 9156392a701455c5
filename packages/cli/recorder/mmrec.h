/*
 * mmrec: runs an mmtrace (v1 or v2, see docs of `mmkit record`) on this machine's Linux
 * kernel and prints the kernel's result lines.
 *
 * Shape of the program:
 *   - main.c     checks the machine, sets up the conditions the spec assumes, reads the
 *                trace and prints results (the coordinator).
 *   - ops.c      turns one trace line into requests to a traced process and prints its
 *                result line.
 *   - tracee.c   the traced processes: each trace pid is a real process that executes
 *                requests (raw system calls, guarded loads and stores, fork) in its own
 *                address space.
 *   - window.c   what /proc/PID/maps and /proc/PID/smaps say about the trace's window.
 *   - jsonl.c    a reader for the flat JSON objects of a trace line.
 *
 * Channel between the coordinator and a tracee: a SOCK_STREAM unix socket. Every message
 * is a fixed header followed by `payload` bytes; a descriptor (a file to map, or the
 * channel of a process about to be forked) rides on the header with SCM_RIGHTS. The
 * coordinator sends one request and waits for its reply, so at most one message is in
 * flight per channel. A tracee exits when its channel reaches end of file.
 */
#ifndef MMREC_H
#define MMREC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MR_PAGE 4096u
/* the largest read or write of a trace (never crosses a page) */
#define MR_MAX_DATA MR_PAGE
/* pages of one mincore request; longer ranges are asked in pieces of this size */
#define MR_MINCORE_CHUNK 65536u

/* exit statuses */
enum {
  MR_EXIT_OK = 0,
  MR_EXIT_TRACE = 2,      /* malformed trace, or an internal failure */
  MR_EXIT_OUTCOME = 3,    /* an outcome mmtrace cannot express (kernel-chosen address) */
  MR_EXIT_REFUSED = 4,    /* this machine cannot give the results the spec assumes */
};

/* ---- messages ---------------------------------------------------------------------- */

enum mr_kind {
  MR_SYSCALL = 1, /* args[0] = syscall number, args[1..6] = its arguments */
  MR_LOAD,        /* read args[1] bytes at args[0] */
  MR_STORE,       /* write the payload at args[0] */
  MR_MINCORE,     /* mincore(args[0], args[1]); reply payload: one '0'/'1' per page */
  MR_FORK,        /* fork; the attached descriptor becomes the child's channel */
  MR_EXIT,        /* reply, then exit */
};

/* for MR_SYSCALL with a descriptor attached: the argument slot that receives it */
#define MR_FD_SLOT_NONE 0

struct mr_request {
  uint32_t kind;
  uint32_t payload;  /* bytes following this header */
  uint32_t fd_slot;  /* MR_SYSCALL: index in args that gets the attached descriptor */
  uint32_t pad;
  uint64_t args[7];
};

struct mr_reply {
  int64_t value;    /* the system call's return value, or the child's pid for MR_FORK */
  int32_t error;    /* errno, 0 on success */
  int32_t signal;   /* MR_LOAD/MR_STORE: the signal the access raised, 0 if none */
  uint32_t payload; /* bytes following this header */
  uint32_t pad;
};

/* Sends a header (and `fd` if >= 0) then `payload`; returns 0 or -1 with errno set. */
int mr_send(int chan, const void *header, size_t header_len, int fd, const void *payload, size_t len);
/* Receives a header (and a descriptor into *fd when fd is not NULL; -1 if none came).
 * Returns 1, 0 on end of file, -1 on error. */
int mr_recv_header(int chan, void *header, size_t header_len, int *fd);
/* Receives exactly `len` bytes; returns 0 or -1 (end of file counts as an error). */
int mr_recv_exact(int chan, void *buf, size_t len);

/* ---- tracee.c ---------------------------------------------------------------------- */

/* Serves requests on `chan` until end of file; never returns. */
void tracee_serve(int chan) __attribute__((noreturn));

/* ---- window.c ---------------------------------------------------------------------- */

struct mr_run {
  uint64_t start, end;
  char perms[5]; /* "rw-p" */
};

struct mr_rss {
  uint64_t anon, file, shmem; /* pages */
};

/* The page-level view of [lo, hi) in process `pid`: /proc/PID/maps clipped to the window,
 * adjacent entries with equal perms merged. Returns the number of runs (*runs is reused
 * between calls and owned by window.c), or -1 with errno set. */
long window_runs(pid_t pid, uint64_t lo, uint64_t hi, struct mr_run **runs);
/* Resident pages of the VMAs inside [lo, hi), from /proc/PID/smaps. Returns 0, or -1 with
 * a reason in `why`. */
int window_rss(pid_t pid, uint64_t lo, uint64_t hi, struct mr_rss *out, char *why, size_t why_len);

/* ---- jsonl.c ----------------------------------------------------------------------- */

enum jl_type { JL_STRING = 1, JL_INTEGER, JL_LIST, JL_OTHER };

#define JL_MAX_FIELDS 16
#define JL_MAX_LIST 16

struct jl_value {
  enum jl_type type;
  const char *str;          /* JL_STRING */
  long long integer;        /* JL_INTEGER */
  int count;                /* JL_LIST: strings only */
  const char *items[JL_MAX_LIST];
};

struct jl_object {
  int count;
  const char *keys[JL_MAX_FIELDS];
  struct jl_value values[JL_MAX_FIELDS];
};

/* Parses one line holding a flat JSON object (values: strings, integers, lists of
 * strings; true/false/null are accepted as JL_OTHER). The line is modified in place and
 * the object points into it. Returns 0, or -1 with a reason in `why`. */
int jl_parse(char *line, struct jl_object *obj, char *why, size_t why_len);
/* The value of `key`, or NULL. */
const struct jl_value *jl_get(const struct jl_object *obj, const char *key);

/* ---- ops.c ------------------------------------------------------------------------- */

struct mr_proc {
  pid_t pid;  /* the real process */
  int chan;   /* its channel; -1 once it has exited */
};

/* Coordinator state shared by main.c and ops.c. */
struct mr_state {
  int version;             /* 1 or 2, from the header */
  uint64_t win_lo, win_hi; /* the trace's window */
  uint64_t brk_base;       /* process 0's break before the first op */
  const char *files_dir;   /* where the trace's files are created */
  struct mr_proc *procs;
  int nprocs, cap_procs;
  long line;               /* current trace line, 1-based */
  const char *trace_name;
};

extern struct mr_state mr;

/* The value of a hex string field ("0x" and lower-case digits, at most 64 bits); a malformed
 * one ends the recording, naming `key`. */
uint64_t ops_parse_hex(const char *s, const char *key);
/* Bounds the wait for a traced process's replies on `chan`. */
void ops_set_reply_timeout(int chan);
/* Executes one trace line (not the header) and prints its result line. */
void ops_line(char *text);
/* Sends one request to trace process `p` and waits for the reply; payloads go to/from
 * `out`/`in` (in must hold in_cap bytes). Ends the program on a broken channel. */
void ops_call(int p, struct mr_request *req, const void *out, int fd, struct mr_reply *rep, void *in,
              size_t in_cap);

/* ---- main.c ------------------------------------------------------------------------ */

/* Prints "mmrec: TRACE: line N: message", stops every tracee and exits with `status`. */
void mr_fail(int status, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));

#endif
