/*
 * fs-calls: the file system calls a layer unpack needs and Node.js has no binding for, as a
 * Node-API addon. Without it every whiteout, opaque directory, device node and extended
 * attribute of a layer costs a mknod(1) or setfattr(1) process, some milliseconds each.
 *
 *   mknod(path, mode, major, minor)  mknod(2); `mode` carries the file type bits (S_IFCHR,
 *                                    S_IFBLK, S_IFIFO) and the permissions (the umask applies)
 *   lsetxattr(path, name, value)     lsetxattr(2): never follows a symlink; `value` a Buffer
 *
 * Both are synchronous, like the rest of the unpack, which runs on a worker thread of its own.
 * A failure throws an Error whose `code` is the errno name (EPERM, ENOTSUP, ...), as Node's fs
 * errors have. Context-aware: it loads in worker threads.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <limits.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

/* Throws `call path: message` with the errno's name as its code. */
static napi_value throw_errno(napi_env env, int err, const char *call, const char *path) {
	char message[PATH_MAX + 128];
	const char *code = strerrorname_np(err);
	snprintf(message, sizeof message, "%s %s: %s", call, path, strerror(err));
	napi_throw_error(env, code ? code : "EIO", message);
	return NULL;
}

static napi_value throw_usage(napi_env env, const char *message) {
	napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
	return NULL;
}

/* A string argument into `out`; false (with a JS exception pending) when it is not one or does not fit. */
static int string_arg(napi_env env, napi_value value, char *out, size_t size, const char *what) {
	size_t length = 0;
	if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
		char message[64];
		snprintf(message, sizeof message, "%s must be a string", what);
		throw_usage(env, message);
		return 0;
	}
	if (length + 1 > size) {
		throw_errno(env, ENAMETOOLONG, what, "(argument)");
		return 0;
	}
	napi_get_value_string_utf8(env, value, out, size, &length);
	/* An embedded NUL would make the kernel see a shorter name than the caller meant. */
	if (strlen(out) != length) {
		char message[64];
		snprintf(message, sizeof message, "%s must not contain NUL", what);
		throw_usage(env, message);
		return 0;
	}
	return 1;
}

static int uint_arg(napi_env env, napi_value value, uint32_t *out, const char *what) {
	if (napi_get_value_uint32(env, value, out) == napi_ok) return 1;
	char message[64];
	snprintf(message, sizeof message, "%s must be a number", what);
	throw_usage(env, message);
	return 0;
}

/*
 * The call's `count` arguments into `argv`, the first (a path) into `path`; false, with a JS
 * exception pending, when there are not exactly that many or the path is not a string.
 */
static int path_call(napi_env env, napi_callback_info info, size_t count, napi_value *argv, char *path, const char *usage) {
	size_t argc = count;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc != count) {
		throw_usage(env, usage);
		return 0;
	}
	return string_arg(env, argv[0], path, PATH_MAX, "path");
}

static napi_value do_mknod(napi_env env, napi_callback_info info) {
	napi_value argv[4];
	char path[PATH_MAX];
	uint32_t mode, major, minor;
	if (!path_call(env, info, 4, argv, path, "mknod(path, mode, major, minor)")) return NULL;
	if (!uint_arg(env, argv[1], &mode, "mode") || !uint_arg(env, argv[2], &major, "major") || !uint_arg(env, argv[3], &minor, "minor")) return NULL;
	if (mknod(path, (mode_t)mode, makedev(major, minor)) != 0) return throw_errno(env, errno, "mknod", path);
	return NULL;
}

static napi_value do_lsetxattr(napi_env env, napi_callback_info info) {
	napi_value argv[3];
	char path[PATH_MAX];
	char name[XATTR_NAME_MAX + 1];
	if (!path_call(env, info, 3, argv, path, "lsetxattr(path, name, value)")) return NULL;
	if (!string_arg(env, argv[1], name, sizeof name, "name")) return NULL;
	bool is_buffer = false;
	napi_is_buffer(env, argv[2], &is_buffer);
	if (!is_buffer) return throw_usage(env, "value must be a Buffer");
	void *data = NULL;
	size_t length = 0;
	napi_get_buffer_info(env, argv[2], &data, &length);
	if (lsetxattr(path, name, data, length, 0) != 0) return throw_errno(env, errno, "lsetxattr", path);
	return NULL;
}

NAPI_MODULE_INIT() {
	napi_value fn;
	napi_create_function(env, "mknod", NAPI_AUTO_LENGTH, do_mknod, NULL, &fn);
	napi_set_named_property(env, exports, "mknod", fn);
	napi_create_function(env, "lsetxattr", NAPI_AUTO_LENGTH, do_lsetxattr, NULL, &fn);
	napi_set_named_property(env, exports, "lsetxattr", fn);
	return exports;
}
