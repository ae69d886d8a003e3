/*
 * runcri-idmap-mount USERNS_FILE SOURCE TARGET
 * runcri-idmap-mount --overlay TARGET OPTIONS
 *
 * Mounts at TARGET an ID-mapped view of the directory SOURCE (not of its submounts) that maps
 * IDs the way the user namespace pinned at USERNS_FILE does. runcri builds the overlay root
 * filesystems of a user-namespaced pod from such a view of its layer store, so files that
 * belong to host root appear owned by the container's root without chowning a file
 * (overlayfs takes ID-mapped layers since Linux 5.19; an overlay mount itself cannot be
 * ID-mapped). Node.js cannot make these system calls, hence this helper.
 *
 * With --overlay it replaces the mount at TARGET with an overlay mount of OPTIONS, whose
 * relative paths resolve against the working directory (such a view): one process instead of
 * an `umount` and a `mount`, on the path of every container start of such a pod.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MOUNT_ATTR_IDMAP
#define MOUNT_ATTR_IDMAP 0x00100000
#endif

static int fail(const char *what, const char *path) {
  fprintf(stderr, "%s %s: %s\n", what, path, strerror(errno));
  return 1;
}

static int replace_with_overlay(const char *target, const char *options) {
  if (umount2(target, 0) < 0 && errno != EINVAL) return fail("umount", target);
  if (mount("overlay", target, "overlay", 0, options) < 0) return fail("mount overlay on", target);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "--overlay") == 0) return replace_with_overlay(argv[2], argv[3]);
  if (argc != 4) {
    fprintf(stderr, "usage: %s USERNS_FILE SOURCE TARGET\n       %s --overlay TARGET OPTIONS\n", argv[0], argv[0]);
    return 2;
  }
  const char *userns = argv[1], *source = argv[2], *target = argv[3];
  int ns = open(userns, O_RDONLY | O_CLOEXEC);
  if (ns < 0) return fail("open", userns);
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0) return fail("open_tree", source);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (uint64_t)ns;
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) return fail("mount_setattr (idmap)", source);
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) return fail("move_mount", target);
  return 0;
}
