/*
 * runcri-pty-exec PROGRAM [ARG...]
 *
 * Runs PROGRAM (an argument array, no shell) on a new pseudo-terminal, as its controlling
 * terminal and its stdio, and copies between that terminal and this process's stdin and
 * stdout, which are pipes to the daemon. Lines "ROWS COLS\n" read from fd 3, when the caller
 * opened it, resize the terminal; the kernel then sends SIGWINCH to PROGRAM. End of input on
 * stdin is passed on as the terminal's end-of-file character. Exits with PROGRAM's status
 * (128+N when a signal N ended it).
 *
 * runcri runs `runc exec --tty` through it: runc copies a container's console to its own stdio
 * only when its stdin is a terminal, and Node.js cannot open a pseudo-terminal itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define CONTROL_FD 3
/* After PROGRAM exits, output still on its way through the terminal is read for this long at most. */
#define DRAIN_MS 1000

static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static int fail(const char *what) {
  fprintf(stderr, "runcri-pty-exec: %s: %s\n", what, strerror(errno));
  return 125;
}

/* Applies every complete "ROWS COLS" line in buf; returns how many bytes it consumed. */
static size_t apply_sizes(int master, const char *buf, size_t len) {
  size_t used = 0;
  for (;;) {
    const char *nl = memchr(buf + used, '\n', len - used);
    if (!nl) return used;
    unsigned rows, cols;
    if (sscanf(buf + used, "%u %u", &rows, &cols) == 2) {
      struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
      ioctl(master, TIOCSWINSZ, &ws);
    }
    used = (size_t)(nl - buf) + 1;
  }
}

/* Reads what the control pipe holds and applies the complete lines; returns 0 at its end. */
static int read_sizes(int control, int master, char *sizes, size_t cap, size_t *len) {
  ssize_t n = read(control, sizes + *len, cap - *len);
  if (n <= 0) return 0;
  *len += (size_t)n;
  size_t used = apply_sizes(master, sizes, *len);
  memmove(sizes, sizes + used, *len - used);
  *len -= used;
  if (*len == cap) *len = 0; /* a line too long to be a size */
  return 1;
}

static void send_eof(int master) {
  struct termios t;
  char c = 4; /* ^D, the usual VEOF */
  if (tcgetattr(master, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE) c = (char)t.c_cc[VEOF];
  write_all(master, &c, 1);
}

static int status_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 125;
}

/* Copies what PROGRAM wrote before it exited; stops at the terminal's hangup or when it stays quiet. */
static void drain(int master) {
  char buf[65536];
  struct pollfd p = { .fd = master, .events = POLLIN };
  while (poll(&p, 1, DRAIN_MS) > 0) {
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) return;
    if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0) return;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PROGRAM [ARG...]\n", argv[0]);
    return 2;
  }
  /* Before anything else is opened: a descriptor of our own must not pass for the caller's. */
  int control = fcntl(CONTROL_FD, F_GETFD) >= 0 ? CONTROL_FD : -1;
  if (control >= 0) fcntl(control, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return fail("posix_openpt");
  if (grantpt(master) < 0 || unlockpt(master) < 0) return fail("unlocking the terminal");
  const char *name = ptsname(master);
  if (!name) return fail("ptsname");
  /* Held open here so that reading the master never sees a hangup before PROGRAM opens its side. */
  int held = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (held < 0) return fail("opening the terminal");

  /* Sizes sent before PROGRAM starts apply from its first look at the terminal. */
  char sizes[256];
  size_t sizes_len = 0;
  struct pollfd pending = { .fd = control, .events = POLLIN };
  while (control >= 0 && poll(&pending, 1, 0) > 0 && (pending.revents & POLLIN)) {
    if (!read_sizes(control, master, sizes, sizeof sizes, &sizes_len)) break;
  }

  sigset_t chld, old;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &old);
  int sfd = signalfd(-1, &chld, SFD_CLOEXEC);
  if (sfd < 0) return fail("signalfd");

  pid_t child = fork();
  if (child < 0) return fail("fork");
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (setsid() < 0) _exit(fail("setsid"));
    int tty = open(name, O_RDWR);
    if (tty < 0) _exit(fail("opening the terminal"));
    if (ioctl(tty, TIOCSCTTY, 0) < 0) _exit(fail("TIOCSCTTY"));
    if (dup2(tty, 0) < 0 || dup2(tty, 1) < 0 || dup2(tty, 2) < 0) _exit(fail("dup2"));
    if (tty > 2) close(tty);
    execvp(argv[1], argv + 1);
    fprintf(stderr, "runcri-pty-exec: %s: %s\n", argv[1], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }

  char buf[65536];
  int in_open = 1;
  for (;;) {
    struct pollfd fds[4] = {
      { .fd = sfd, .events = POLLIN },
      { .fd = master, .events = POLLIN },
      { .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN },
      { .fd = control, .events = POLLIN },
    };
    if (poll(fds, 4, -1) < 0) {
      if (errno == EINTR) continue;
      return fail("poll");
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) write_all(STDOUT_FILENO, buf, (size_t)n);
    }
    if (fds[2].revents & (POLLIN | POLLHUP)) {
      ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n > 0) {
        write_all(master, buf, (size_t)n);
      } else if (n == 0 || errno != EINTR) {
        in_open = 0;
        send_eof(master);
      }
    }
    if ((fds[3].revents & (POLLIN | POLLHUP)) && !read_sizes(control, master, sizes, sizeof sizes, &sizes_len)) control = -1;
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (read(sfd, &info, sizeof info) < 0 && errno != EAGAIN) return fail("signalfd read");
      int status;
      if (waitpid(child, &status, WNOHANG) == child) {
        close(held);
        drain(master);
        return status_code(status);
      }
    }
  }
}
