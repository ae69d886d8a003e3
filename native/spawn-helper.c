/*
 * runcri-spawn-helper
 *
 * Starts programs for the daemon, which starts it once and keeps it. A fork from the daemon
 * copies the page tables of a process of some 100 MB and blocks its event loop until the
 * child has called exec: several milliseconds on every runc and conmon call, twice on the way
 * of every CreateContainer+StartContainer. A fork from this small process costs a fraction of
 * that, and the daemon only writes a request and reads the answers.
 *
 * Requests come on stdin, answers go to stdout. A frame is a 4-byte little-endian length and
 * that many bytes: fields, each a 4-byte little-endian length and that many bytes.
 *
 *   request  "run" ID FLAGS TIMEOUT_MS CWD INPUT ARGC ARGV... ENV...
 *              FLAGS (decimal) are the RUN_* bits below; TIMEOUT_MS 0 is none; an empty CWD is
 *              the helper's own; INPUT is written to the program's stdin (RUN_INPUT).
 *            "kill" ID SIGNAL        signals the program, if it has not been reaped yet
 *            "release" ID            writes one byte to the program's start pipe and closes it
 *   answer   "started" ID PID
 *            "sync" ID LINE          the first line the program wrote on its sync pipe (empty
 *                                    at end of file without one); sent once
 *            "exited" ID HOW VALUE TIMED_OUT STDOUT STDERR
 *              HOW "code" (VALUE: exit status), "signal" (VALUE: its number) or "error" (VALUE:
 *              the errno of a failed exec or chdir, STDERR: its message). Sent once the program
 *              has been reaped and its captured output has ended; TIMED_OUT "1" when the helper
 *              killed it for its timeout.
 *
 * Output of RUN_CAPTURE beyond 4 MiB a stream is read and dropped.
 *
 * At end of input (the daemon stopped or died) it kills the programs still waiting on their
 * start pipe, which would otherwise go on without the daemon, and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_INPUT 1      /* stdin is a pipe fed with INPUT, else /dev/null */
#define RUN_SETSID 2     /* the program gets a session of its own */
#define RUN_SYNC_PIPE 4  /* fd 3 is a pipe whose first line is answered as "sync" */
#define RUN_START_PIPE 8 /* fd 4 is a pipe the helper writes to at "release" */
#define RUN_CAPTURE 16   /* stdout and stderr are captured and answered, else /dev/null */
#define RUN_OUTPUT_GRACE 32 /* after the program's end, output stops once quiet (see below) */

/*
 * With RUN_OUTPUT_GRACE, pipes a process left behind still holds do not hold the answer: once
 * the program has ended its output is read until it ends or has been quiet this long, and no
 * longer than the cut-off after the end.
 */
#define GRACE_QUIET_MS 200
#define GRACE_CUTOFF_MS 2000

#define MAX_FRAME (64 * 1024 * 1024)
#define MAX_FIELDS 4096
/* Output kept of each stream; the rest is read and dropped. */
#define MAX_CAPTURE (4 * 1024 * 1024)
#define MAX_SYNC_LINE 4096

struct buf {
  char *data;
  size_t len, cap;
};

struct child {
  int used;
  char id[32];
  pid_t pid;
  int reaped, status;
  int timed_out;
  int grace;
  long long reaped_ms, output_ms;
  long long deadline_ms;
  int in_fd, out_fd, err_fd, sync_fd, start_fd, errno_fd;
  struct buf input;
  size_t input_off;
  struct buf out, err, sync;
  int sync_sent;
  int exec_errno;
};

static struct child *children;
static size_t nchildren;
static int sigchld_pipe[2];
extern char **environ;

static void die(const char *what) {
  fprintf(stderr, "spawn-helper: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void buf_append(struct buf *b, const void *data, size_t len, size_t limit) {
  if (b->len >= limit) return;
  if (len > limit - b->len) len = limit - b->len;
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + len) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) die("realloc");
    b->cap = cap;
  }
  memcpy(b->data + b->len, data, len);
  b->len += len;
}

static void buf_free(struct buf *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) exit(0); /* the daemon is gone */
    p += n;
    len -= (size_t)n;
  }
}

static void put_u32(struct buf *b, uint32_t v) {
  unsigned char le[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff};
  buf_append(b, le, 4, SIZE_MAX);
}

/* One answer frame of `n` fields. */
static void answer(int n, const char *const *fields, const size_t *lens) {
  struct buf body = {0}, frame = {0};
  for (int i = 0; i < n; i++) {
    put_u32(&body, (uint32_t)lens[i]);
    buf_append(&body, fields[i], lens[i], SIZE_MAX);
  }
  put_u32(&frame, (uint32_t)body.len);
  buf_append(&frame, body.data, body.len, SIZE_MAX);
  write_all(STDOUT_FILENO, frame.data, frame.len);
  buf_free(&body);
  buf_free(&frame);
}

static void answer_strings(int n, const char *const *fields) {
  size_t lens[8];
  for (int i = 0; i < n; i++) lens[i] = strlen(fields[i]);
  answer(n, fields, lens);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static int cloexec_pipe(int fds[2]) {
  return pipe2(fds, O_CLOEXEC);
}

static struct child *find(const char *id) {
  for (size_t i = 0; i < nchildren; i++)
    if (children[i].used && strcmp(children[i].id, id) == 0) return &children[i];
  return NULL;
}

static struct child *new_child(void) {
  for (size_t i = 0; i < nchildren; i++)
    if (!children[i].used) return &children[i];
  children = realloc(children, (nchildren + 1) * sizeof *children);
  if (!children) die("realloc");
  return &children[nchildren++];
}

/* In the forked child: `fd` onto `target`, after every source was moved out of 0..4. */
static int high(int fd) {
  return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 10);
}

static void child_exec(int in, int out, int err, int sync, int start, int errno_fd, const char *cwd, char **argv, char **envp, int flags) {
  sigset_t none;
  sigemptyset(&none);
  signal(SIGPIPE, SIG_DFL);
  signal(SIGCHLD, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if ((flags & RUN_SETSID) && setsid() < 0) goto fail;
  in = high(in), out = high(out), err = high(err), sync = high(sync), start = high(start);
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) goto fail;
  if (sync >= 0 && dup2(sync, 3) < 0) goto fail;
  if (start >= 0 && dup2(start, 4) < 0) goto fail;
  if (cwd[0] && chdir(cwd) < 0) goto fail;
  /* As child_process.spawn: a bare name is looked up on the PATH the program is given. */
  environ = envp;
  execvp(argv[0], argv);
fail:;
  int e = errno;
  ssize_t ignored = write(errno_fd, &e, sizeof e);
  (void)ignored;
  _exit(127);
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int field_int(const char *s, size_t len, long long *out) {
  char tmp[32];
  if (len == 0 || len >= sizeof tmp) return -1;
  memcpy(tmp, s, len);
  tmp[len] = 0;
  char *end;
  errno = 0;
  *out = strtoll(tmp, &end, 10);
  return errno || *end ? -1 : 0;
}

static char *dup_field(const char *s, size_t len) {
  char *c = malloc(len + 1);
  if (!c) die("malloc");
  memcpy(c, s, len);
  c[len] = 0;
  return c;
}

static void fail_request(const char *id, const char *message) {
  const char *f[] = {"exited", id, "error", "22", "0", "", message};
  answer_strings(7, f);
}

static void run(char **f, size_t *lens, int n) {
  long long flags, timeout, argc;
  const char *id = f[1];
  if (n < 7 || lens[1] == 0 || lens[1] >= sizeof children->id || field_int(f[2], lens[2], &flags) || field_int(f[3], lens[3], &timeout)
      || field_int(f[6], lens[6], &argc) || argc < 1 || argc > n - 7) {
    fail_request(n > 1 ? id : "", "malformed run request");
    return;
  }
  char **argv = calloc((size_t)argc + 1, sizeof *argv);
  char **envp = calloc((size_t)(n - 7 - argc) + 1, sizeof *envp);
  if (!argv || !envp) die("calloc");
  for (long long i = 0; i < argc; i++) argv[i] = f[7 + i];
  for (long long i = 7 + argc; i < n; i++) envp[i - 7 - argc] = f[i];

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, sync[2] = {-1, -1}, start[2] = {-1, -1}, errp[2] = {-1, -1};
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0 || cloexec_pipe(errp) < 0 || ((flags & RUN_INPUT) && cloexec_pipe(in) < 0) || ((flags & RUN_CAPTURE) && (cloexec_pipe(out) < 0 || cloexec_pipe(err) < 0))
      || ((flags & RUN_SYNC_PIPE) && cloexec_pipe(sync) < 0) || ((flags & RUN_START_PIPE) && cloexec_pipe(start) < 0)) {
    char msg[128];
    snprintf(msg, sizeof msg, "making pipes: %s", strerror(errno));
    fail_request(id, msg);
    goto out;
  }
  pid_t pid = fork();
  if (pid < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "fork: %s", strerror(errno));
    fail_request(id, msg);
    goto out;
  }
  if (pid == 0) {
    child_exec(in[0] >= 0 ? in[0] : devnull, out[1] >= 0 ? out[1] : devnull, err[1] >= 0 ? err[1] : devnull, sync[1], start[0], errp[1], f[4], argv, envp, (int)flags);
  }
  struct child *c = new_child();
  memset(c, 0, sizeof *c);
  c->used = 1;
  memcpy(c->id, id, lens[1]);
  c->pid = pid;
  c->deadline_ms = timeout > 0 ? now_ms() + timeout : 0;
  c->in_fd = in[1], c->out_fd = out[0], c->err_fd = err[0], c->sync_fd = sync[0], c->start_fd = start[1], c->errno_fd = errp[0];
  in[1] = out[0] = err[0] = sync[0] = start[1] = errp[0] = -1;
  c->sync_sent = !(flags & RUN_SYNC_PIPE);
  c->grace = (flags & RUN_OUTPUT_GRACE) != 0;
  if (flags & RUN_INPUT) buf_append(&c->input, f[5], lens[5], SIZE_MAX);
  if (c->in_fd >= 0) fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
  if (c->in_fd >= 0 && c->input.len == 0) close_fd(&c->in_fd);
  char pidstr[16];
  snprintf(pidstr, sizeof pidstr, "%d", (int)pid);
  const char *a[] = {"started", c->id, pidstr};
  answer_strings(3, a);
out:
  for (int i = 0; i < 2; i++) {
    close_fd(&in[i]), close_fd(&out[i]), close_fd(&err[i]), close_fd(&sync[i]), close_fd(&start[i]), close_fd(&errp[i]);
  }
  if (devnull >= 0) close(devnull);
  free(argv);
  free(envp);
}

static void handle_request(const unsigned char *p, size_t len) {
  char *f[MAX_FIELDS];
  size_t lens[MAX_FIELDS];
  int n = 0;
  size_t off = 0;
  while (off < len && n < MAX_FIELDS) {
    if (len - off < 4) break;
    uint32_t l = get_u32(p + off);
    off += 4;
    if (l > len - off) break;
    f[n] = dup_field((const char *)p + off, l);
    lens[n++] = l;
    off += l;
  }
  if (n == 0) return;
  if (strcmp(f[0], "run") == 0) {
    run(f, lens, n);
  } else if (strcmp(f[0], "kill") == 0 && n == 3) {
    struct child *c = find(f[1]);
    long long sig;
    if (c && !c->reaped && field_int(f[2], lens[2], &sig) == 0) kill(c->pid, (int)sig);
  } else if (strcmp(f[0], "release") == 0 && n == 2) {
    struct child *c = find(f[1]);
    if (c && c->start_fd >= 0) {
      ssize_t ignored = write(c->start_fd, "1", 1);
      (void)ignored;
      close_fd(&c->start_fd);
    }
  }
  for (int i = 0; i < n; i++) free(f[i]);
}

static void send_sync(struct child *c) {
  if (c->sync_sent) return;
  c->sync_sent = 1;
  const char *a[] = {"sync", c->id, c->sync.data ? c->sync.data : ""};
  size_t l[] = {4, strlen(c->id), c->sync.len};
  answer(3, a, l);
  close_fd(&c->sync_fd);
}

/* Answers "exited" once the program is reaped and nothing of it is left to read. */
static void maybe_finish(struct child *c) {
  if (!c->reaped || c->out_fd >= 0 || c->err_fd >= 0 || c->errno_fd >= 0) return;
  /* A program that ends before writing a sync line will never write one: the answer says so. */
  if (!c->sync_sent && c->sync_fd >= 0) {
    /* Its sync pipe may be held by a process it left behind: that one still gets to write. */
    return;
  }
  send_sync(c);
  char value[16];
  const char *how;
  struct buf *err = &c->err;
  char msg[160];
  if (c->exec_errno) {
    how = "error";
    snprintf(value, sizeof value, "%d", c->exec_errno);
    snprintf(msg, sizeof msg, "%s", strerror(c->exec_errno));
    buf_free(err);
    buf_append(err, msg, strlen(msg), SIZE_MAX);
  } else if (WIFSIGNALED(c->status)) {
    how = "signal";
    snprintf(value, sizeof value, "%d", WTERMSIG(c->status));
  } else {
    how = "code";
    snprintf(value, sizeof value, "%d", WEXITSTATUS(c->status));
  }
  const char *a[] = {"exited", c->id, how, value, c->timed_out ? "1" : "0", c->out.data ? c->out.data : "", err->data ? err->data : ""};
  size_t l[] = {6, strlen(c->id), strlen(how), strlen(value), 1, c->out.len, err->len};
  answer(7, a, l);
  close_fd(&c->in_fd);
  close_fd(&c->start_fd);
  buf_free(&c->input);
  buf_free(&c->out);
  buf_free(&c->err);
  buf_free(&c->sync);
  c->used = 0;
}

/* When a reaped program's left-behind output stops being waited for; 0 when it is not. */
static long long grace_end(const struct child *c) {
  if (!c->grace || !c->reaped || (c->out_fd < 0 && c->err_fd < 0)) return 0;
  long long quiet = c->output_ms + GRACE_QUIET_MS, cutoff = c->reaped_ms + GRACE_CUTOFF_MS;
  return quiet < cutoff ? quiet : cutoff;
}

static void reap(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (size_t i = 0; i < nchildren; i++) {
      struct child *c = &children[i];
      if (c->used && !c->reaped && c->pid == pid) {
        c->reaped = 1;
        c->status = status;
        c->reaped_ms = c->output_ms = now_ms();
        close_fd(&c->start_fd);
        maybe_finish(c);
        break;
      }
    }
  }
}

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  ssize_t ignored = write(sigchld_pipe[1], "c", 1);
  (void)ignored;
  errno = saved;
}

/* Reads what is there of one of a program's pipes; -1 at its end. */
static int drain(int fd, struct buf *into, size_t limit) {
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return 0;
    if (n <= 0) return -1;
    if (into) buf_append(into, chunk, (size_t)n, limit);
    if ((size_t)n < sizeof chunk) return 0;
  }
}

static void on_readable(struct child *c, int *fd) {
  if (fd == &c->errno_fd) {
    int e;
    ssize_t n = read(c->errno_fd, &e, sizeof e);
    if (n < 0 && errno == EINTR) return;
    if (n == (ssize_t)sizeof e) c->exec_errno = e;
    close_fd(&c->errno_fd);
  } else if (fd == &c->sync_fd) {
    int ended = drain(c->sync_fd, &c->sync, MAX_SYNC_LINE);
    char *nl = c->sync.data ? memchr(c->sync.data, '\n', c->sync.len) : NULL;
    if (nl) c->sync.len = (size_t)(nl - c->sync.data);
    if (nl || ended || c->sync.len >= MAX_SYNC_LINE) send_sync(c);
  } else {
    if (drain(*fd, fd == &c->out_fd ? &c->out : &c->err, MAX_CAPTURE) < 0) close_fd(fd);
    else if (c->reaped) c->output_ms = now_ms();
  }
  maybe_finish(c);
}

static void feed_input(struct child *c) {
  ssize_t n = write(c->in_fd, c->input.data + c->input_off, c->input.len - c->input_off);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n < 0) {
    /* The program does not read its input (EPIPE): it does not get the rest. */
    close_fd(&c->in_fd);
    return;
  }
  c->input_off += (size_t)n;
  if (c->input_off == c->input.len) close_fd(&c->in_fd);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  if (pipe2(sigchld_pipe, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe");
  struct sigaction sa = {0};
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);

  struct buf requests = {0};
  struct pollfd *pfds = NULL;
  int **owners = NULL;
  struct child **owner_child = NULL;
  int input_open = 1;
  while (input_open) {
    size_t cap = 2 + nchildren * 6;
    pfds = realloc(pfds, cap * sizeof *pfds);
    owners = realloc(owners, cap * sizeof *owners);
    owner_child = realloc(owner_child, cap * sizeof *owner_child);
    if (!pfds || !owners || !owner_child) die("realloc");
    size_t np = 0;
    pfds[np++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
    pfds[np++] = (struct pollfd){.fd = sigchld_pipe[0], .events = POLLIN};
    long long next_deadline = 0;
    for (size_t i = 0; i < nchildren; i++) {
      struct child *c = &children[i];
      if (!c->used) continue;
      int *fds[] = {&c->out_fd, &c->err_fd, &c->sync_fd, &c->errno_fd};
      for (int k = 0; k < 4; k++) {
        if (*fds[k] < 0) continue;
        owners[np] = fds[k], owner_child[np] = c;
        pfds[np++] = (struct pollfd){.fd = *fds[k], .events = POLLIN};
      }
      if (c->in_fd >= 0) {
        owners[np] = &c->in_fd, owner_child[np] = c;
        pfds[np++] = (struct pollfd){.fd = c->in_fd, .events = POLLOUT};
      }
      if (c->deadline_ms && !c->reaped && !c->timed_out && (!next_deadline || c->deadline_ms < next_deadline)) next_deadline = c->deadline_ms;
      long long grace = grace_end(c);
      if (grace && (!next_deadline || grace < next_deadline)) next_deadline = grace;
    }
    int wait = -1;
    if (next_deadline) {
      long long left = next_deadline - now_ms();
      wait = left < 0 ? 0 : (int)(left > 60000 ? 60000 : left);
    }
    int ready = poll(pfds, np, wait);
    if (ready < 0 && errno != EINTR) die("poll");
    long long now = now_ms();
    for (size_t i = 0; i < nchildren; i++) {
      struct child *c = &children[i];
      if (c->used && c->deadline_ms && !c->reaped && !c->timed_out && c->deadline_ms <= now) {
        c->timed_out = 1;
        kill(c->pid, SIGKILL);
      }
      long long grace = c->used ? grace_end(c) : 0;
      if (grace && grace <= now) {
        close_fd(&c->out_fd);
        close_fd(&c->err_fd);
        maybe_finish(c);
      }
    }
    if (ready <= 0) continue;
    if (pfds[1].revents) {
      char drainbuf[64];
      while (read(sigchld_pipe[0], drainbuf, sizeof drainbuf) > 0) {}
      reap();
    }
    for (size_t i = 2; i < np; i++) {
      if (!pfds[i].revents) continue;
      struct child *c = owner_child[i];
      int *fd = owners[i];
      if (!c->used || *fd != pfds[i].fd) continue;
      if (fd == &c->in_fd) {
        if (pfds[i].revents & (POLLERR | POLLHUP)) close_fd(&c->in_fd);
        else feed_input(c);
      } else {
        on_readable(c, fd);
      }
    }
    if (pfds[0].revents) {
      char chunk[65536];
      ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        input_open = 0;
        break;
      }
      buf_append(&requests, chunk, (size_t)n, SIZE_MAX);
      size_t off = 0;
      while (requests.len - off >= 4) {
        uint32_t len = get_u32((unsigned char *)requests.data + off);
        if (len > MAX_FRAME) {
          fprintf(stderr, "spawn-helper: request of %u bytes refused\n", len);
          exit(1);
        }
        if (requests.len - off - 4 < len) break;
        handle_request((unsigned char *)requests.data + off + 4, len);
        off += 4 + len;
      }
      memmove(requests.data, requests.data + off, requests.len - off);
      requests.len -= off;
    }
  }
  /* The daemon is gone: a program held at its start pipe must not go on without it. */
  for (size_t i = 0; i < nchildren; i++) {
    if (children[i].used && !children[i].reaped && children[i].start_fd >= 0) kill(children[i].pid, SIGKILL);
  }
  return 0;
}
