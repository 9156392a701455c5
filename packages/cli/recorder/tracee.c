/*
 * A traced process: executes the coordinator's requests in its own address space.
 *
 * Guarantees:
 *   - Every system call is a raw syscall() with the arguments as given, so the kernel sees
 *     exactly what the trace says (no libc rounding or checks).
 *   - Loads and stores are real byte accesses by this process. A SIGSEGV or SIGBUS they
 *     raise is caught (on an alternate stack, so a broken stack cannot hide it), reported
 *     in the reply, and the process goes on as the trace says.
 *   - Outside the window the process touches only its own static buffers, stack and
 *     libraries; it never allocates from the heap, whose break the trace may move.
 *   - SIGCHLD is ignored, so forked children that exit are reaped by the kernel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mmrec.h"

static sigjmp_buf fault_return;
/* set only while a guarded access runs: a fault elsewhere is a real crash */
static volatile sig_atomic_t fault_expected;

static void on_fault(int sig) {
  if (fault_expected) {
    fault_expected = 0;
    siglongjmp(fault_return, sig);
  }
  /* not ours: let the access fault again with the default action */
  signal(sig, SIG_DFL);
}

static void install_fault_handlers(void) {
  static char alt_stack[64 * 1024];
  stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof alt_stack, .ss_flags = 0};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fault;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  signal(SIGCHLD, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
}

/* Copies n bytes with volatile byte accesses; returns 0, or the signal that stopped it. */
static int guarded_copy(volatile unsigned char *dst, const volatile unsigned char *src, size_t n) {
  int sig = sigsetjmp(fault_return, 1);
  if (sig != 0) return sig;
  fault_expected = 1;
  for (size_t i = 0; i < n; i++) dst[i] = src[i];
  fault_expected = 0;
  return 0;
}

static long do_syscall(const struct mr_request *req, int fd) {
  uint64_t a[7];
  memcpy(a, req->args, sizeof a);
  if (req->fd_slot != MR_FD_SLOT_NONE && req->fd_slot < 7) a[req->fd_slot] = (uint64_t)(int64_t)fd;
  return syscall((long)a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
}

/* mincore over at most MR_MINCORE_CHUNK pages (or a range the kernel rejects before it
 * writes the vector); the reply carries one '0'/'1' per page, the low bit of each byte. */
static void do_mincore(const struct mr_request *req, struct mr_reply *rep, unsigned char *out) {
  static unsigned char vec[MR_MINCORE_CHUNK];
  uint64_t addr = req->args[0], len = req->args[1];
  if (syscall(SYS_mincore, addr, len, vec) != 0) {
    rep->error = errno;
    return;
  }
  uint64_t pages = len / MR_PAGE + (len % MR_PAGE != 0);
  for (uint64_t i = 0; i < pages; i++) out[i] = (vec[i] & 1) ? '1' : '0';
  rep->payload = (uint32_t)pages;
}

void tracee_serve(int chan) {
  static struct mr_request req;
  static struct mr_reply rep;
  static unsigned char in[MR_MAX_DATA];
  static unsigned char out[MR_MINCORE_CHUNK];
  install_fault_handlers();
  for (;;) {
    int fd = -1;
    if (mr_recv_header(chan, &req, sizeof req, &fd) != 1) _exit(0); /* coordinator gone */
    if (req.payload > sizeof in || mr_recv_exact(chan, in, req.payload)) _exit(1);
    memset(&rep, 0, sizeof rep);
    switch (req.kind) {
    case MR_SYSCALL: {
      long v = do_syscall(&req, fd);
      if (v == -1) rep.error = errno;
      else rep.value = v;
      break;
    }
    case MR_LOAD: {
      size_t n = req.args[1] > MR_MAX_DATA ? MR_MAX_DATA : (size_t)req.args[1];
      rep.signal = guarded_copy(out, (const volatile unsigned char *)(uintptr_t)req.args[0], n);
      if (!rep.signal) rep.payload = (uint32_t)n;
      break;
    }
    case MR_STORE:
      rep.signal = guarded_copy((volatile unsigned char *)(uintptr_t)req.args[0], in, req.payload);
      break;
    case MR_MINCORE:
      do_mincore(&req, &rep, out);
      break;
    case MR_FORK: {
      if (fd < 0) {
        rep.error = EBADF;
        break;
      }
      pid_t child = fork();
      if (child == 0) {
        /* the child serves on its own channel; the parent's stays the parent's */
        close(chan);
        chan = fd;
        continue;
      }
      if (child < 0) rep.error = errno;
      else rep.value = child;
      break;
    }
    case MR_EXIT:
      mr_send(chan, &rep, sizeof rep, -1, NULL, 0);
      _exit(0);
    default:
      rep.error = EINVAL;
      break;
    }
    if (fd >= 0) close(fd);
    if (mr_send(chan, &rep, sizeof rep, -1, out, rep.payload)) _exit(1);
  }
}
