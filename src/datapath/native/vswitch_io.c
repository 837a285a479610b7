/*
 * vswitch_io: the datapath's thin syscall layer (Node-API, plain C). Called only through
 * src/datapath/native.ts. It opens tap devices, reads and writes frames in bursts (one call per
 * batch: the burst functions are hot, never throw on I/O errors and return negative errno or
 * counts instead), configures links with ioctls, and wakes JS through a uv_poll_t when an fd is
 * readable. All switching logic lives in TypeScript; nothing here allocates per packet. This
 * file holds the module setup, the argument helpers and the readiness polls; link.c opens
 * devices and packet sockets, burst.c moves frames.
 *
 * Control functions throw a JS Error whose `code` is the errno name ('ENOENT', 'EBUSY', ...) or
 * 'EINVAL' for bad arguments, with `errno` (positive number) and `syscall` properties.
 */
#include "vswitch_io.h"
#include <sched.h>

/* ---- errors and argument helpers ---------------------------------------------------------- */

napi_value throw_errno(napi_env env, int err, const char *syscall, const char *what) {
  const char *name = strerrorname_np(err);
  char code[32], msg[256];
  snprintf(code, sizeof code, "%s", name ? name : "EUNKNOWN");
  snprintf(msg, sizeof msg, "%s%s%s: %s", syscall, what ? " " : "", what ? what : "", strerror(err));
  napi_value jcode, jmsg, jerr, jerrno, jsys;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_error(env, jcode, jmsg, &jerr);
  napi_create_int32(env, err, &jerrno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &jsys);
  napi_set_named_property(env, jerr, "errno", jerrno);
  napi_set_named_property(env, jerr, "syscall", jsys);
  napi_throw(env, jerr);
  return NULL;
}

napi_value throw_inval(napi_env env, const char *fn, const char *what) {
  return throw_errno(env, EINVAL, fn, what);
}

instance *get_inst(napi_env env) {
  void *p = NULL;
  napi_get_instance_data(env, &p);
  return (instance *)p;
}

/* Reads args; returns 0 and throws EINVAL unless at least `min` were passed. */
int get_args(napi_env env, napi_callback_info info, size_t min, size_t max, napi_value *argv,
                    const char *fn) {
  size_t argc = max;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return 0;
  if (argc < min) {
    throw_inval(env, fn, "(missing arguments)");
    return 0;
  }
  for (size_t i = argc; i < max; i++) napi_get_undefined(env, &argv[i]);
  return 1;
}

int is_type(napi_env env, napi_value v, napi_valuetype want) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == want;
}

/* An integer-valued number in [lo, hi]. */
int get_int(napi_env env, napi_value v, int32_t lo, int32_t hi, int32_t *out) {
  double d;
  if (!is_type(env, v, napi_number) || napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= lo && d <= hi) || d != (double)(int32_t)d) return 0;
  *out = (int32_t)d;
  return 1;
}

int get_bool(napi_env env, napi_value v, int dflt, int *out) {
  bool b;
  if (is_type(env, v, napi_undefined)) { *out = dflt; return 1; }
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b;
  return 1;
}

/* An interface name: 1..15 bytes, none of '/', ':', '%' or whitespace. */
int get_ifname(napi_env env, napi_value v, char out[IFNAMSIZ]) {
  size_t len = 0;
  if (!is_type(env, v, napi_string)) return 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return 0;
  if (len == 0 || len >= IFNAMSIZ) return 0;
  napi_get_value_string_utf8(env, v, out, IFNAMSIZ, &len);
  for (size_t i = 0; i < len; i++) {
    char c = out[i];
    if (c == '/' || c == ':' || c == '%' || c == ' ' || c == '\t' || c == '\n') return 0;
  }
  return strcmp(out, ".") != 0 && strcmp(out, "..") != 0;
}

int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is;
  napi_typedarray_type t;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  if (napi_get_typedarray_info(env, v, &t, len, data, NULL, NULL) != napi_ok) return 0;
  return t == want;
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value int_value(napi_env env, int32_t n) {
  napi_value v;
  napi_create_int32(env, n, &v);
  return v;
}

/* ---- readiness (uv_poll_t) ---------------------------------------------------------------- */

static void finish_teardown(instance *inst) {
  napi_remove_async_cleanup_hook(inst->cleanup);
  free(inst);
}

static void on_poll_closed(uv_handle_t *h) {
  poll_rec *rec = h->data;
  instance *inst = rec->inst;
  free(rec);
  if (--inst->closing == 0 && inst->tearing_down) finish_teardown(inst);
}

static void close_rec(poll_rec *rec) {
  rec->inst->closing++;
  uv_close((uv_handle_t *)&rec->handle, on_poll_closed);
}

/* Unlinks rec from the instance list, releases its JS objects and closes the uv handle. */
static void poll_teardown(instance *inst, poll_rec *rec) {
  for (poll_rec **pp = &inst->polls; *pp; pp = &(*pp)->next) {
    if (*pp == rec) {
      *pp = rec->next;
      break;
    }
  }
  uv_poll_stop(&rec->handle);
  napi_delete_reference(rec->env, rec->cb);
  napi_async_destroy(rec->env, rec->ctx);
  close_rec(rec);
}

/* Stops rec now, or after its JS callback returns if it is running. */
static void poll_stop_rec(instance *inst, poll_rec *rec) {
  if (rec->stop_pending) return;
  if (rec->in_callback) {
    rec->stop_pending = 1;
    uv_poll_stop(&rec->handle);
    return;
  }
  rec->stop_pending = 1;
  poll_teardown(inst, rec);
}

/* Busy polling (pollSetBusy). While inst->spin (a uv_idle_t) is active, libuv polls with a
   zero timeout, so the loop keeps turning without sleeping in epoll_wait: a frame arriving
   then costs no wakeup of this thread (nor a wakeup of this thread by the sender's CPU, which
   the scheduler answers by pulling both onto one CPU). Each wakeup of a busy poll with work
   pushes spin_until forward; the first loop turn past it stops the idle handle, so an idle
   switch sleeps as before (it starts only once wakeups come close together: SPIN_ARM_*).
   Timers, sockets and other fds are served on every turn. Each
   spinning turn yields the CPU, so on a busy machine the spin only fills time nobody else
   wants (measured on 2 cores: one TCP stream tap to tap, about +15% with a 50 us window). */
static void on_spin(uv_idle_t *h) {
  instance *inst = h->data;
  if (uv_hrtime() >= inst->spin_until) {
    uv_idle_stop(h);
    return;
  }
  sched_yield(); /* a runnable task on this CPU (an iperf, a guest's vCPU) goes first */
}

/* Wakeups of busy polls within SPIN_ARM_WINDOWS windows that start spinning. A lone
   exchange (a ping 10 ms apart: request and reply, two wakeups) never spins: spinning then only
   keeps this CPU busy when the receiver is woken, which sends it to a halted CPU (slower in a
   VM). A stream or back-to-back request/response arms it within a few frames. */
#define SPIN_ARM_WAKEUPS 3
#define SPIN_ARM_WINDOWS 4

static void spin_extend(instance *inst, uint64_t ns) {
  uint64_t now = uv_hrtime();
  if (!uv_is_active((uv_handle_t *)&inst->spin)) {
    if (now - inst->arm_start > ns * SPIN_ARM_WINDOWS) {
      inst->arm_start = now;
      inst->arm_count = 0;
    }
    if (++inst->arm_count < SPIN_ARM_WAKEUPS) return;
    inst->arm_count = 0;
    uv_idle_start(&inst->spin, on_spin);
  }
  inst->spin_until = now + ns;
}

/* Whether v is the boolean false. */
static int returned_false(napi_env env, napi_value v) {
  napi_valuetype t;
  bool b = true;
  if (v == NULL || napi_typeof(env, v, &t) != napi_ok || t != napi_boolean) return 0;
  return napi_get_value_bool(env, v, &b) == napi_ok && !b;
}

/* Runs Node's process.nextTick queue and promise jobs, as the end of a napi_make_callback
   does: an empty callback scope on the poll's async context. */
static void run_async_queues(napi_env env, poll_rec *rec, napi_value resource) {
  napi_callback_scope scope;
  if (napi_open_callback_scope(env, resource, rec->ctx, &scope) != napi_ok) return;
  if (napi_close_callback_scope(env, scope) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
}

static void on_poll(uv_poll_t *h, int status, int events) {
  poll_rec *rec = h->data;
  napi_env env = rec->env;
  napi_handle_scope scope;
  napi_value cb, args[2];
  size_t argc = 0;
  uint64_t busy_ns = status < 0 ? 0 : rec->busy_ns; /* rec may be freed by the callback */
  instance *inst = rec->inst;
  /* A poll error (e.g. the fd went bad) would repeat forever: stop, and tell the callback (its
     rxBurst sees the error too) so its owner can restart the poll once the fd is good again. */
  if (status < 0) uv_poll_stop(h);
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  rec->in_callback = 1;
  napi_get_reference_value(env, rec->cb, &cb);
  if (status < 0) napi_create_int32(env, status, &args[0]);
  else napi_get_undefined(env, &args[0]);
  if (rec->report_events) {
    napi_create_int32(env, status < 0 ? 0 : events, &args[1]);
    argc = 2;
  } else if (status < 0) {
    argc = 1;
  }
  /* The receiver must be an object: the callback itself serves (looking up the global object
     on every wakeup showed in profiles of a lone ping as 2-3% of the datapath's CPU). */
  /* A plain call (no callback scope) unless the callback may have queued asynchronous work:
     it returns false when it did not (a forwarding-only wakeup), and then Node's tick and
     microtask queues are left alone. Anything else, and an exception, close a callback scope
     as napi_make_callback does, which runs them. The scope's setup and teardown on every
     wakeup showed as ~4 us of a lone ping's cold wakeup (traced with uprobes). */
  napi_value result = NULL;
  napi_status st = napi_call_function(env, cb, cb, argc, argc ? args : NULL, &result);
  if (st == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  } else if (!returned_false(env, result)) {
    run_async_queues(env, rec, cb);
  }
  rec->in_callback = 0;
  if (rec->stop_pending) poll_teardown(get_inst(env), rec);
  napi_close_handle_scope(env, scope);
  if (busy_ns && inst->spin_init && !inst->tearing_down) spin_extend(inst, busy_ns);
}

/*
 * pollStart(fd: number, cb: (status?: number, events?: number) => boolean | void, events?: number): number
 * Watches fd for readability on the Node event loop (uv_poll_t, UV_READABLE, level-triggered)
 * and calls cb (`this` is cb itself, so pass an arrow function or a bound one) each time the
 * loop finds it readable. Unless cb returns false, Node's nextTick queue and promise jobs run
 * after it, as after napi_make_callback; cb returns false only when it queued neither. With `events` (a mask of 1 = readable, 2 = writable) it watches those
 * instead and cb gets (undefined, the events that fired) each time. On a poll error (POLLERR:
 * a device gone or down under the fd) the poll is stopped and cb gets the negative libuv
 * status once (and events 0); pollStop is still needed to free it. An exception in cb is
 * reported as uncaught. Returns a handle id (> 0) for pollStop. The active poll keeps the
 * event loop alive. Throws EINVAL for bad arguments, or the errno from
 * uv_poll_init/uv_poll_start (e.g. EBADF, EPERM for a regular file).
 */
static napi_value poll_start(napi_env env, napi_callback_info info) {
  napi_value argv[3], name;
  int32_t fd, events = UV_READABLE;
  uv_loop_t *loop;
  instance *inst = get_inst(env);
  int rc, report = 0;
  if (!get_args(env, info, 2, 3, argv, "pollStart")) return NULL;
  if (!is_type(env, argv[2], napi_undefined)) {
    if (!get_int(env, argv[2], 1, UV_READABLE | UV_WRITABLE, &events))
      return throw_inval(env, "pollStart", "(events must be 1, 2 or 3)");
    report = 1;
  }
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd) || !is_type(env, argv[1], napi_function))
    return throw_inval(env, "pollStart", "(expected fd and callback)");
  if (!inst || napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_inval(env, "pollStart", "(no loop)");
  poll_rec *rec = calloc(1, sizeof *rec);
  if (!rec) return throw_errno(env, ENOMEM, "pollStart", NULL);
  rec->handle.data = rec;
  rec->inst = inst;
  if ((rc = uv_poll_init(loop, &rec->handle, fd)) < 0) {
    free(rec);
    return throw_errno(env, -rc, "uv_poll_init", NULL);
  }
  rec->report_events = report;
  if ((rc = uv_poll_start(&rec->handle, events, on_poll)) < 0) {
    close_rec(rec);
    return throw_errno(env, -rc, "uv_poll_start", NULL);
  }
  rec->env = env;
  rec->fd = fd;
  rec->id = ++inst->next_id;
  napi_create_reference(env, argv[1], 1, &rec->cb);
  napi_create_string_utf8(env, "vswitch:poll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &rec->ctx);
  rec->next = inst->polls;
  inst->polls = rec;
  return int_value(env, (int32_t)rec->id);
}

/*
 * pollStop(handle: number): void
 * Stops and frees the poll started by pollStart. Unknown or already stopped handles are
 * ignored, so calling it twice is safe; calling it from inside the poll's own callback is safe.
 */
static napi_value poll_stop(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t id;
  instance *inst = get_inst(env);
  if (!get_args(env, info, 1, 1, argv, "pollStop")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &id)) return throw_inval(env, "pollStop", "(bad handle)");
  for (poll_rec *r = inst ? inst->polls : NULL; r; r = r->next) {
    if (r->id == (uint32_t)id) {
      poll_stop_rec(inst, r);
      break;
    }
  }
  return undefined(env);
}

/*
 * pollSetEvents(handle: number, events: number): void
 * Changes what a poll started by pollStart watches (1 = readable, 2 = writable, 3 = both).
 * Unknown, stopped or stopping handles are ignored. Throws EINVAL for bad arguments, or the
 * errno from uv_poll_start.
 */
static napi_value poll_set_events(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t id, events;
  int rc;
  instance *inst = get_inst(env);
  if (!get_args(env, info, 2, 2, argv, "pollSetEvents")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &id) || !get_int(env, argv[1], 1, UV_READABLE | UV_WRITABLE, &events))
    return throw_inval(env, "pollSetEvents", "(bad handle or events)");
  for (poll_rec *r = inst ? inst->polls : NULL; r; r = r->next) {
    if (r->id != (uint32_t)id) continue;
    if (!r->stop_pending && (rc = uv_poll_start(&r->handle, events, on_poll)) < 0)
      return throw_errno(env, -rc, "uv_poll_start", NULL);
    break;
  }
  return undefined(env);
}

/*
 * pollSetBusy(handle: number, us: number): void
 * Busy polling for a poll started by pollStart: once its callbacks (the fd was readable)
 * come close together (SPIN_ARM_*), the event loop keeps polling every fd without sleeping
 * for `us` microseconds after each (0..100000; 0 turns it off), as long as some busy poll
 * keeps getting work. Traffic that
 * arrives within the window is picked up without a thread wakeup; an idle loop sleeps as
 * before once the window has passed. Unknown or stopped handles are ignored. Throws EINVAL
 * for bad arguments, or the errno from uv_idle_init.
 */
static napi_value poll_set_busy(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t id, us;
  uv_loop_t *loop;
  instance *inst = get_inst(env);
  if (!get_args(env, info, 2, 2, argv, "pollSetBusy")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &id) || !get_int(env, argv[1], 0, 100000, &us))
    return throw_inval(env, "pollSetBusy", "(bad handle or microseconds)");
  if (!inst || napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_inval(env, "pollSetBusy", "(no loop)");
  if (us > 0 && !inst->spin_init) {
    int rc = uv_idle_init(loop, &inst->spin);
    if (rc < 0) return throw_errno(env, -rc, "uv_idle_init", NULL);
    inst->spin.data = inst;
    uv_unref((uv_handle_t *)&inst->spin); /* spinning never keeps the process alive */
    inst->spin_init = 1;
  }
  for (poll_rec *r = inst->polls; r; r = r->next) {
    if (r->id != (uint32_t)id) continue;
    r->busy_ns = (uint64_t)us * 1000u;
    break;
  }
  return undefined(env);
}

/*
 * fdClose(fd: number): void
 * Stops any poll still watching fd (libuv must not poll a closed fd), then close()s it. For a
 * tap fd this removes the device. Throws EBADF if fd is not open.
 */
static napi_value fd_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  instance *inst = get_inst(env);
  if (!get_args(env, info, 1, 1, argv, "fdClose")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd)) return throw_inval(env, "fdClose", "(bad fd)");
  poll_rec *r = inst ? inst->polls : NULL;
  while (r) {
    poll_rec *next = r->next;
    if (r->fd == fd) poll_stop_rec(inst, r);
    r = next;
  }
  if (close(fd) < 0) return throw_errno(env, errno, "close", NULL);
  return undefined(env);
}

/* ---- module setup ------------------------------------------------------------------------- */

/* Environment teardown (async cleanup hook): close every uv handle; the hook is removed and the
   instance freed once the last close callback has run. JS references die with the environment. */
static void on_spin_closed(uv_handle_t *h) {
  instance *inst = h->data;
  if (--inst->closing == 0 && inst->tearing_down) finish_teardown(inst);
}

static void env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  instance *inst = arg;
  poll_rec *r = inst->polls;
  inst->cleanup = handle;
  inst->tearing_down = 1;
  inst->polls = NULL;
  if (inst->spin_init) {
    inst->closing++;
    uv_close((uv_handle_t *)&inst->spin, on_spin_closed);
  }
  while (r) {
    poll_rec *next = r->next;
    uv_poll_stop(&r->handle);
    close_rec(r);
    r = next;
  }
  if (inst->closing == 0) finish_teardown(inst);
}

NAPI_MODULE_INIT() {
  static const struct { const char *name; napi_callback fn; } fns[] = {
    {"tapOpen", tap_open},       {"fdClose", fd_close},          {"linkSetUp", link_set_up},
    {"linkGetMac", link_get_mac}, {"linkSetMac", link_set_mac},   {"ifIndex", if_index},
    {"recvBurst", recv_burst},   {"sendBurst", send_burst},      {"lastSendErrno", last_send_errno},
    {"pollStart", poll_start},   {"pollStop", poll_stop},         {"tapSetOffload", tap_set_offload},
    {"linkFlags", link_flags},   {"packetOpen", packet_open},     {"tapRecvBurst", tap_recv_burst},
    {"tapSendBurst", tap_send_burst}, {"packetRecvBurst", packet_recv_burst},
    {"packetSendBurst", packet_send_burst}, {"pollSetEvents", poll_set_events},
    {"unixListen", unix_listen}, {"unixAccept", unix_accept}, {"streamPeerGone", stream_peer_gone},
    {"streamRecvBurst", stream_recv_burst}, {"streamSendBurst", stream_send_burst},
    {"pollSetBusy", poll_set_busy},
    {"packetDrops", packet_drops}, {"packetRingOpen", packet_ring_open}, {"packetRingUnmap", packet_ring_unmap},
    {"packetRingRecvBurst", packet_ring_recv_burst}, {"packetTxOpen", packet_tx_open},
  };
  instance *inst = calloc(1, sizeof *inst);
  if (!inst || napi_set_instance_data(env, inst, NULL, NULL) != napi_ok ||
      napi_add_async_cleanup_hook(env, env_cleanup, inst, NULL) != napi_ok)
    return NULL;
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}
