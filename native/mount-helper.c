/*
 * runcri-mount-helper
 *
 * Makes mount(2) and umount2(2) calls for the daemon, which starts it once and keeps it: a
 * container's overlay, a pod's /dev/shm and pinned namespaces, unmounts. Node.js cannot make
 * these calls, and running mount(8) for each costs a fork, an exec and libmount's reading of
 * the mount table, some 20 ms on the path of every CreateContainer; here a call is a round
 * trip over a pipe.
 *
 * Requests come on stdin, answers go to stdout, one answer per request, in order. A frame is
 * a 4-byte little-endian length and that many bytes: fields, each ended by a NUL.
 *
 *   request  "mount" SOURCE TARGET FSTYPE FLAGS DATA CWD    (empty SOURCE/FSTYPE/DATA: NULL;
 *            FLAGS decimal MS_* bits; relative paths in DATA resolve against CWD)
 *            "umount" TARGET FLAGS                          (FLAGS decimal MNT_* bits)
 *   answer   ERRNO MESSAGE                                  (ERRNO "0" and an empty MESSAGE on success)
 *
 * It exits at end of input, or when the daemon that started it dies.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Paths are at most PATH_MAX and mount data one page: a request is far below this. */
#define MAX_REQUEST (64 * 1024)
#define MAX_FIELDS 8

static int read_exact(void *buf, size_t len) {
  char *p = buf;
  while (len > 0) {
    ssize_t n = read(STDIN_FILENO, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int write_exact(const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(STDOUT_FILENO, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int answer(int err, const char *message) {
  char payload[4096 + 64];
  int len = snprintf(payload, sizeof payload, "%d%c%s%c", err, '\0', message, '\0');
  if (len < 0 || (size_t)len >= sizeof payload) len = (int)sizeof payload - 1;
  uint8_t header[4] = { (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), (uint8_t)(len >> 24) };
  if (write_exact(header, sizeof header) < 0 || write_exact(payload, (size_t)len) < 0) return -1;
  return 0;
}

static int answer_errno(const char *what, const char *path) {
  int err = errno;
  char message[4096];
  snprintf(message, sizeof message, "%s %s: %s", what, path, strerror(err));
  return answer(err, message);
}

/* Splits the payload into NUL-ended fields; returns how many, or -1 if it is not well formed. */
static int split(char *payload, size_t len, char **fields) {
  int count = 0;
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    if (payload[i] != '\0') continue;
    if (count == MAX_FIELDS) return -1;
    fields[count++] = payload + start;
    start = i + 1;
  }
  return start == len ? count : -1;
}

static const char *or_null(const char *s) { return s[0] ? s : NULL; }

static int do_mount(char **f) {
  const char *source = f[1], *target = f[2], *fstype = f[3], *data = f[5], *cwd = f[6];
  char *end;
  errno = 0;
  unsigned long flags = strtoul(f[4], &end, 10);
  if (errno || *end) return answer(EINVAL, "mount: flags are not a number");
  if (chdir(cwd[0] ? cwd : "/") < 0) return answer_errno("chdir", cwd);
  int rc = mount(or_null(source), target, or_null(fstype), flags, or_null(data));
  int saved = errno;
  if (chdir("/") < 0) return -1;
  errno = saved;
  if (rc < 0) {
    char what[256];
    snprintf(what, sizeof what, "mount%s%s on", fstype[0] ? " " : "", fstype);
    return answer_errno(what, target);
  }
  return answer(0, "");
}

static int do_umount(char **f) {
  char *end;
  errno = 0;
  unsigned long flags = strtoul(f[2], &end, 10);
  if (errno || *end) return answer(EINVAL, "umount: flags are not a number");
  if (umount2(f[1], (int)flags) < 0) return answer_errno("umount", f[1]);
  return answer(0, "");
}

int main(void) {
  /* The daemon's end of the pipes closes when it dies; this makes sure of it. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() == 1) return 0;
  /* A terminal's ^C reaches the whole process group: the daemon still needs its mounts made while it stops. */
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  static char payload[MAX_REQUEST];
  for (;;) {
    uint8_t header[4];
    if (read_exact(header, sizeof header) < 0) return 0;
    size_t len = (size_t)header[0] | (size_t)header[1] << 8 | (size_t)header[2] << 16 | (size_t)header[3] << 24;
    if (len > MAX_REQUEST) {
      fprintf(stderr, "runcri-mount-helper: request of %zu bytes is too large\n", len);
      return 1;
    }
    if (read_exact(payload, len) < 0) return 0;
    char *fields[MAX_FIELDS];
    int count = split(payload, len, fields);
    int rc;
    if (count == 7 && strcmp(fields[0], "mount") == 0) rc = do_mount(fields);
    else if (count == 3 && strcmp(fields[0], "umount") == 0) rc = do_umount(fields);
    else rc = answer(EINVAL, "malformed request");
    if (rc < 0) return 1;
  }
}
