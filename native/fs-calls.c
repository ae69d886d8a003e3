/*
 * fs-calls: file system calls Node.js has no binding for, or none cheap enough, as a Node-API
 * addon. Without it every whiteout, opaque directory, device node and extended attribute of a
 * layer costs a mknod(1) or setfattr(1) process, some milliseconds each, a stats call
 * reads hundreds of cgroup control files one binding call at a time on the event loop, and a
 * log write under way on the thread pool cannot be told from one that never ran when the
 * process exits.
 *
 *   mknod(path, mode, major, minor)  mknod(2); `mode` carries the file type bits (S_IFCHR,
 *                                    S_IFBLK, S_IFIFO) and the permissions (the umask applies)
 *   lsetxattr(path, name, value)     lsetxattr(2): never follows a symlink; `value` a Buffer
 *   preadBatch(fds, buffer, slots, lengths, start, end)
 *                                    pread(2) at offset 0 of fds[i] into buffer[slots[i],
 *                                    slots[i+1]) for every i in [start, end), on a thread of
 *                                    libuv's pool; lengths[i] gets the byte count or -errno.
 *                                    `fds`, `slots` and `lengths` are Int32Arrays. Returns a
 *                                    Promise that settles once every read is done; the caller
 *                                    keeps the descriptors open until then.
 *   writeOnce(fd, buffer, state)     one write(2) of the Buffer to fd, on a thread of libuv's
 *                                    pool; state (an Int32Array of 2) gets [1] = the bytes
 *                                    written or -errno, then [0] = 1, so that a caller that
 *                                    cannot wait for the Promise (a process on its way out)
 *                                    can still see whether and how far the write went.
 *
 * mknod and lsetxattr are synchronous, like the rest of the unpack, which runs on a worker
 * thread of its own. A failure throws an Error whose `code` is the errno name (EPERM,
 * ENOTSUP, ...), as Node's fs errors have. Context-aware: it loads in worker threads.
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
#include <stdlib.h>
#include <sys/xattr.h>
#include <unistd.h>

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

/* A Buffer argument's bytes; false, with a JS exception pending, for anything else. */
static int buffer_arg(napi_env env, napi_value value, char **data, size_t *length, const char *what) {
	bool is_buffer = false;
	napi_is_buffer(env, value, &is_buffer);
	if (!is_buffer) {
		char message[64];
		snprintf(message, sizeof message, "%s must be a Buffer", what);
		throw_usage(env, message);
		return 0;
	}
	napi_get_buffer_info(env, value, (void **)data, length);
	return 1;
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
	char *data = NULL;
	size_t length = 0;
	if (!buffer_arg(env, argv[2], &data, &length, "value")) return NULL;
	if (lsetxattr(path, name, data, length, 0) != 0) return throw_errno(env, errno, "lsetxattr", path);
	return NULL;
}

/*
 * What every call run on libuv's pool has: its work, its Promise, the JS values whose memory
 * the thread uses (kept alive until it is done), and the rejection's message should the work
 * not run. The first member of each call's own struct.
 */
struct pool_call {
	napi_async_work work;
	napi_deferred deferred;
	napi_ref kept[4];
	int kept_count;
	const char *failure;
};

/* Settles the call's Promise, lets its values go and frees it. */
static void pool_call_complete(napi_env env, napi_status status, void *data) {
	struct pool_call *call = data;
	if (status == napi_ok) {
		napi_value undefined;
		napi_get_undefined(env, &undefined);
		napi_resolve_deferred(env, call->deferred, undefined);
	} else {
		napi_value message, error;
		napi_create_string_utf8(env, call->failure, NAPI_AUTO_LENGTH, &message);
		napi_create_error(env, NULL, message, &error);
		napi_reject_deferred(env, call->deferred, error);
	}
	for (int i = 0; i < call->kept_count; i++) napi_delete_reference(env, call->kept[i]);
	napi_delete_async_work(env, call->work);
	free(call);
}

/* Queues `execute` for `call`, keeping `keep` alive until it is done; returns the call's Promise. */
static napi_value pool_call_start(napi_env env, struct pool_call *call, napi_value *keep, int keep_count, const char *name, const char *failure, napi_async_execute_callback execute) {
	call->kept_count = keep_count;
	call->failure = failure;
	for (int i = 0; i < keep_count; i++) napi_create_reference(env, keep[i], 1, &call->kept[i]);
	napi_value promise, resource_name;
	napi_create_promise(env, &call->deferred, &promise);
	napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
	napi_create_async_work(env, NULL, resource_name, execute, pool_call_complete, call, &call->work);
	napi_queue_async_work(env, call->work);
	return promise;
}

/*
 * One preadBatch call: what its thread reads, and where. The slot offsets are copied once
 * checked: JS changing its array meanwhile cannot move a read outside the buffer.
 */
struct read_batch {
	struct pool_call call;
	const int32_t *fds;
	int32_t *lengths;
	char *buffer;
	uint32_t start;
	uint32_t end;
	int32_t slots[]; /* slots[i - start] for i in [start, end] */
};

/* The elements of an Int32Array argument; false, with a JS exception pending, for anything else. */
static int int32_array_arg(napi_env env, napi_value value, int32_t **data, size_t *length, const char *what) {
	bool is_typed = false;
	napi_typedarray_type type;
	napi_is_typedarray(env, value, &is_typed);
	if (is_typed) napi_get_typedarray_info(env, value, &type, length, (void **)data, NULL, NULL);
	if (!is_typed || type != napi_int32_array) {
		char message[64];
		snprintf(message, sizeof message, "%s must be an Int32Array", what);
		throw_usage(env, message);
		return 0;
	}
	return 1;
}

static void read_batch_execute(napi_env env, void *data) {
	(void)env;
	struct read_batch *batch = data;
	for (uint32_t i = batch->start; i < batch->end; i++) {
		const int32_t *slot = &batch->slots[i - batch->start];
		ssize_t n;
		do n = pread(batch->fds[i], batch->buffer + slot[0], (size_t)(slot[1] - slot[0]), 0);
		while (n < 0 && errno == EINTR);
		batch->lengths[i] = n < 0 ? -errno : (int32_t)n;
	}
}

static napi_value do_pread_batch(napi_env env, napi_callback_info info) {
	static const char usage[] = "preadBatch(fds, buffer, slots, lengths, start, end)";
	napi_value argv[6];
	size_t argc = 6;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc != 6) return throw_usage(env, usage);
	int32_t *fds, *slots, *lengths;
	size_t count, slot_count, length_count;
	if (!int32_array_arg(env, argv[0], &fds, &count, "fds")) return NULL;
	char *buffer = NULL;
	size_t buffer_length = 0;
	if (!buffer_arg(env, argv[1], &buffer, &buffer_length, "buffer")) return NULL;
	if (!int32_array_arg(env, argv[2], &slots, &slot_count, "slots") || !int32_array_arg(env, argv[3], &lengths, &length_count, "lengths")) return NULL;
	uint32_t start, end;
	if (!uint_arg(env, argv[4], &start, "start") || !uint_arg(env, argv[5], &end, "end")) return NULL;
	if (slot_count != count + 1 || length_count != count) return throw_usage(env, "slots must have one element more than fds, lengths as many");
	if (start > end || end > count) return throw_usage(env, "start and end must be a range of fds");
	/* Every slot this batch writes lies in the buffer, in order: a read can never write past it. */
	for (uint32_t i = start; i < end; i++) {
		if (slots[i] < 0 || slots[i + 1] < slots[i] || (size_t)slots[i + 1] > buffer_length) return throw_usage(env, "slots must be ascending offsets within the buffer");
	}
	struct read_batch *batch = calloc(1, sizeof *batch + (end - start + 1) * sizeof(int32_t));
	if (!batch) return throw_errno(env, ENOMEM, "preadBatch", "(batch)");
	memcpy(batch->slots, slots + start, (end - start + 1) * sizeof(int32_t));
	batch->fds = fds;
	batch->lengths = lengths;
	batch->buffer = buffer;
	batch->start = start;
	batch->end = end;
	return pool_call_start(env, &batch->call, argv, 4, "runcri:preadBatch", "preadBatch: the reads did not run", read_batch_execute);
}

/* One writeOnce call: its write, and where it reports. */
struct write_once {
	struct pool_call call;
	int fd;
	const char *data;
	size_t length;
	int32_t *state;
};

static void write_once_execute(napi_env env, void *data) {
	(void)env;
	struct write_once *w = data;
	ssize_t n;
	do n = write(w->fd, w->data, w->length);
	while (n < 0 && errno == EINTR);
	w->state[1] = n < 0 ? -errno : (int32_t)n;
	/* Last, and seen by the main thread only after the result above. */
	__atomic_store_n(&w->state[0], 1, __ATOMIC_RELEASE);
}

static napi_value do_write_once(napi_env env, napi_callback_info info) {
	napi_value argv[3];
	size_t argc = 3;
	napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
	if (argc != 3) return throw_usage(env, "writeOnce(fd, buffer, state)");
	uint32_t fd;
	if (!uint_arg(env, argv[0], &fd, "fd")) return NULL;
	char *data = NULL;
	size_t length = 0;
	if (!buffer_arg(env, argv[1], &data, &length, "buffer")) return NULL;
	if (length > INT32_MAX) return throw_usage(env, "buffer must be under 2 GiB");
	int32_t *state;
	size_t state_length;
	if (!int32_array_arg(env, argv[2], &state, &state_length, "state")) return NULL;
	if (state_length != 2) return throw_usage(env, "state must have two elements");
	struct write_once *w = calloc(1, sizeof *w);
	if (!w) return throw_errno(env, ENOMEM, "writeOnce", "(write)");
	w->fd = (int)fd;
	w->data = data;
	w->length = length;
	w->state = state;
	state[0] = 0;
	state[1] = 0;
	return pool_call_start(env, &w->call, argv + 1, 2, "runcri:writeOnce", "writeOnce: the write did not run", write_once_execute);
}

NAPI_MODULE_INIT() {
	napi_value fn;
	napi_create_function(env, "mknod", NAPI_AUTO_LENGTH, do_mknod, NULL, &fn);
	napi_set_named_property(env, exports, "mknod", fn);
	napi_create_function(env, "lsetxattr", NAPI_AUTO_LENGTH, do_lsetxattr, NULL, &fn);
	napi_set_named_property(env, exports, "lsetxattr", fn);
	napi_create_function(env, "preadBatch", NAPI_AUTO_LENGTH, do_pread_batch, NULL, &fn);
	napi_set_named_property(env, exports, "preadBatch", fn);
	napi_create_function(env, "writeOnce", NAPI_AUTO_LENGTH, do_write_once, NULL, &fn);
	napi_set_named_property(env, exports, "writeOnce", fn);
	return exports;
}
