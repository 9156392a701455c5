/*
 * Framed messages on a SOCK_STREAM unix socket: a fixed-size header, optionally carrying
 * one descriptor (SCM_RIGHTS), then the payload the header announces. Both sides use
 * these functions; every call retries on EINTR and on short transfers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mmrec.h"

union fd_control {
  char buf[CMSG_SPACE(sizeof(int))];
  struct cmsghdr align;
};

static int send_all(int chan, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = send(chan, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int mr_recv_exact(int chan, void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = recv(chan, p, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) errno = EPIPE;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int mr_send(int chan, const void *header, size_t header_len, int fd, const void *payload, size_t len) {
  struct iovec iov = {.iov_base = (void *)header, .iov_len = header_len};
  union fd_control control;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
  }
  ssize_t n;
  do n = sendmsg(chan, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return -1;
  /* the descriptor went with the first byte; the rest of the header follows plainly */
  if (send_all(chan, (const char *)header + n, header_len - (size_t)n)) return -1;
  return len ? send_all(chan, payload, len) : 0;
}

int mr_recv_header(int chan, void *header, size_t header_len, int *fd) {
  struct iovec iov = {.iov_base = header, .iov_len = header_len};
  union fd_control control;
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof control.buf;
  ssize_t n;
  do n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0) return (int)n;
  int got = -1;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) memcpy(&got, CMSG_DATA(cm), sizeof(int));
  if (fd) *fd = got;
  else if (got >= 0) close(got);
  if (mr_recv_exact(chan, (char *)header + n, header_len - (size_t)n)) return -1;
  return 1;
}
