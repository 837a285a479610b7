/*
 * vswitch_io: the datapath's thin syscall layer (Node-API, plain C). Called only through
 * src/datapath/native.ts. It opens tap devices, reads and writes frames in bursts (one call per
 * batch: the burst functions are hot, never throw on I/O errors and return negative errno or
 * counts instead), configures links with ioctls, and wakes JS through a uv_poll_t when an fd is
 * readable. All switching logic lives in TypeScript; nothing here allocates per packet.
 *
 * Control functions throw a JS Error whose `code` is the errno name ('ENOENT', 'EBUSY', ...) or
 * 'EINVAL' for bad arguments, with `errno` (positive number) and `syscall` properties.
 */
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_tun.h>

/* Slots of the optional txStats Float64Array of sendBurst (mirrored in native.ts). */
enum { TXS_BYTES, TXS_AGAIN, TXS_NOBUFS, TXS_DOWN, TXS_INVAL, TXS_MSGSIZE, TXS_OTHER, TXS_SLOTS };

/* One uv_poll_t watching an fd for readability; owned by the instance list until closed. */
typedef struct poll_rec {
  uv_poll_t handle;
  napi_env env;
  napi_ref cb;
  napi_async_context ctx;
  uint32_t id;
  int fd;
  int in_callback;    /* JS callback running: teardown is deferred until it returns */
  int stop_pending;   /* pollStop arrived during the callback */
  struct poll_rec *next;
  struct instance *inst;
} poll_rec;

/* Per-environment state (main thread or a worker each get their own). It lives until the
   environment's async cleanup hook has seen every uv handle closed: close callbacks are code in
   this library, which Node unloads once the hook is removed. */
typedef struct instance {
  poll_rec *polls;
  uint32_t next_id;
  int last_send_errno;
  int closing;        /* uv_close calls whose callback has not run yet */
  int tearing_down;   /* the environment is going away */
  napi_async_cleanup_hook_handle cleanup;
} instance;

/* ---- errors and argument helpers ---------------------------------------------------------- */

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *what) {
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

static napi_value throw_inval(napi_env env, const char *fn, const char *what) {
  return throw_errno(env, EINVAL, fn, what);
}

static instance *get_inst(napi_env env) {
  void *p = NULL;
  napi_get_instance_data(env, &p);
  return (instance *)p;
}

/* Reads args; returns 0 and throws EINVAL unless at least `min` were passed. */
static int get_args(napi_env env, napi_callback_info info, size_t min, size_t max, napi_value *argv,
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

static int is_type(napi_env env, napi_value v, napi_valuetype want) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == want;
}

/* An integer-valued number in [lo, hi]. */
static int get_int(napi_env env, napi_value v, int32_t lo, int32_t hi, int32_t *out) {
  double d;
  if (!is_type(env, v, napi_number) || napi_get_value_double(env, v, &d) != napi_ok) return 0;
  if (!(d >= lo && d <= hi) || d != (double)(int32_t)d) return 0;
  *out = (int32_t)d;
  return 1;
}

static int get_bool(napi_env env, napi_value v, int dflt, int *out) {
  bool b;
  if (is_type(env, v, napi_undefined)) { *out = dflt; return 1; }
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  *out = b;
  return 1;
}

/* An interface name: 1..15 bytes, none of '/', ':', '%' or whitespace. */
static int get_ifname(napi_env env, napi_value v, char out[IFNAMSIZ]) {
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

static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is;
  napi_typedarray_type t;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  if (napi_get_typedarray_info(env, v, &t, len, data, NULL, NULL) != napi_ok) return 0;
  return t == want;
}

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value int_value(napi_env env, int32_t n) {
  napi_value v;
  napi_create_int32(env, n, &v);
  return v;
}

/* ---- tap devices -------------------------------------------------------------------------- */

/*
 * tapOpen(name: string, vnetHdr: boolean, exclusive = false): number
 * Opens /dev/net/tun (O_RDWR|O_NONBLOCK|O_CLOEXEC) and attaches it with TUNSETIFF as tap `name`,
 * IFF_TAP|IFF_NO_PI, plus IFF_VNET_HDR when vnetHdr (each frame then carries a 10-byte
 * virtio_net_hdr in front), plus IFF_TUN_EXCL when exclusive (any existing device of that name
 * fails with EBUSY). The device is not persistent: closing the fd removes it. Returns the fd.
 * Throws EINVAL for a bad name (empty, > 15 bytes, '/', ':', '%', whitespace), else the errno of
 * open/ioctl (EPERM without CAP_NET_ADMIN, EBUSY if the tap is in use or exists and exclusive,
 * EINVAL if a non-tap device has that name).
 */
static napi_value tap_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char name[IFNAMSIZ];
  int vnet, excl;
  if (!get_args(env, info, 2, 3, argv, "tapOpen")) return NULL;
  if (!get_ifname(env, argv[0], name)) return throw_inval(env, "tapOpen", "(bad interface name)");
  if (!get_bool(env, argv[1], 0, &vnet) || !get_bool(env, argv[2], 0, &excl))
    return throw_inval(env, "tapOpen", "(vnetHdr and exclusive must be booleans)");

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open", "/dev/net/tun");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strlen(name));
  /* IFF_TUN_EXCL is 0x8000: the cast keeps the bit pattern in the short field. */
  ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0) | (excl ? IFF_TUN_EXCL : 0));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "TUNSETIFF", name);
  }
  return int_value(env, fd);
}

/* Runs a SIOC* ioctl on a throwaway AF_INET socket (current netns); returns 0 or errno. */
static int link_ioctl(unsigned long req, struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int rc = ioctl(s, req, ifr) < 0 ? errno : 0;
  close(s);
  return rc;
}

/*
 * linkSetUp(name: string, up: boolean): void
 * Sets or clears IFF_UP on `name` in the current netns (SIOCGIFFLAGS then SIOCSIFFLAGS).
 * Throws ENODEV if there is no such device, EPERM without CAP_NET_ADMIN.
 */
static napi_value link_set_up(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct ifreq ifr;
  int up, err;
  if (!get_args(env, info, 2, 2, argv, "linkSetUp")) return NULL;
  memset(&ifr, 0, sizeof ifr);
  if (!get_ifname(env, argv[0], ifr.ifr_name)) return throw_inval(env, "linkSetUp", "(bad interface name)");
  if (!is_type(env, argv[1], napi_boolean) || !get_bool(env, argv[1], 0, &up))
    return throw_inval(env, "linkSetUp", "(up must be a boolean)");
  if ((err = link_ioctl(SIOCGIFFLAGS, &ifr)) != 0) return throw_errno(env, err, "SIOCGIFFLAGS", ifr.ifr_name);
  if (up) ifr.ifr_flags |= IFF_UP;
  else ifr.ifr_flags &= ~IFF_UP;
  if ((err = link_ioctl(SIOCSIFFLAGS, &ifr)) != 0) return throw_errno(env, err, "SIOCSIFFLAGS", ifr.ifr_name);
  return undefined(env);
}

/*
 * linkGetMac(name: string): string
 * The device's hardware address as 'aa:bb:cc:dd:ee:ff' (SIOCGIFHWADDR). Throws ENODEV if missing.
 */
static napi_value link_get_mac(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  struct ifreq ifr;
  char s[18];
  int err;
  if (!get_args(env, info, 1, 1, argv, "linkGetMac")) return NULL;
  memset(&ifr, 0, sizeof ifr);
  if (!get_ifname(env, argv[0], ifr.ifr_name)) return throw_inval(env, "linkGetMac", "(bad interface name)");
  if ((err = link_ioctl(SIOCGIFHWADDR, &ifr)) != 0) return throw_errno(env, err, "SIOCGIFHWADDR", ifr.ifr_name);
  const unsigned char *m = (const unsigned char *)ifr.ifr_hwaddr.sa_data;
  snprintf(s, sizeof s, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  napi_create_string_utf8(env, s, 17, &out);
  return out;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/*
 * linkSetMac(name: string, mac: string): void
 * Sets the Ethernet address (SIOCSIFHWADDR). mac must be exactly 'xx:xx:xx:xx:xx:xx' (hex);
 * throws EINVAL otherwise, ENODEV if the device is missing, EADDRNOTAVAIL for a multicast MAC.
 */
static napi_value link_set_mac(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct ifreq ifr;
  char s[32];
  size_t len = 0;
  int err;
  if (!get_args(env, info, 2, 2, argv, "linkSetMac")) return NULL;
  memset(&ifr, 0, sizeof ifr);
  if (!get_ifname(env, argv[0], ifr.ifr_name)) return throw_inval(env, "linkSetMac", "(bad interface name)");
  if (!is_type(env, argv[1], napi_string) || napi_get_value_string_utf8(env, argv[1], s, sizeof s, &len) != napi_ok ||
      len != 17)
    return throw_inval(env, "linkSetMac", "(mac must look like aa:bb:cc:dd:ee:ff)");
  for (int i = 0; i < 6; i++) {
    int hi = hexval(s[i * 3]), lo = hexval(s[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && s[i * 3 + 2] != ':'))
      return throw_inval(env, "linkSetMac", "(mac must look like aa:bb:cc:dd:ee:ff)");
    ifr.ifr_hwaddr.sa_data[i] = (char)(hi << 4 | lo);
  }
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  if ((err = link_ioctl(SIOCSIFHWADDR, &ifr)) != 0) return throw_errno(env, err, "SIOCSIFHWADDR", ifr.ifr_name);
  return undefined(env);
}

/*
 * ifIndex(name: string): number
 * The ifindex of `name` in the current netns, or -1 if there is no such device.
 * Throws EINVAL only for a malformed name.
 */
static napi_value if_index(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char name[IFNAMSIZ];
  if (!get_args(env, info, 1, 1, argv, "ifIndex")) return NULL;
  if (!get_ifname(env, argv[0], name)) return throw_inval(env, "ifIndex", "(bad interface name)");
  unsigned idx = if_nametoindex(name);
  return int_value(env, idx == 0 ? -1 : (int32_t)idx);
}

/* ---- burst I/O (hot) ---------------------------------------------------------------------- */

/*
 * recvBurst(fd, buf: Uint8Array, slotSize, maxFrames, lens: Int32Array): number
 * Non-blocking read() of up to maxFrames frames: frame i lands at buf[i*slotSize] (at most
 * slotSize bytes) and its length in lens[i]. Returns the count, 0 if nothing was ready (EAGAIN
 * at once), or -errno when the first read fails for another reason; an error after some frames
 * ends the burst and returns what was read (the next call sees the error again).
 * Throws (EINVAL) only for malformed arguments: buf shorter than maxFrames*slotSize, lens
 * shorter than maxFrames, wrong array types. Never throws on I/O errors.
 */
static napi_value recv_burst(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int32_t fd, slot, max;
  uint8_t *buf;
  int32_t *lens;
  size_t buflen, nlens;
  if (!get_args(env, info, 5, 5, argv, "recvBurst")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd) || !get_int(env, argv[2], 1, INT32_MAX, &slot) ||
      !get_int(env, argv[3], 0, INT32_MAX, &max) ||
      !get_typed(env, argv[1], napi_uint8_array, (void **)&buf, &buflen) ||
      !get_typed(env, argv[4], napi_int32_array, (void **)&lens, &nlens) ||
      (uint64_t)max * (uint64_t)slot > buflen || (size_t)max > nlens)
    return throw_inval(env, "recvBurst", "(bad arguments)");

  int32_t i = 0;
  while (i < max) {
    ssize_t n = read(fd, buf + (size_t)i * (size_t)slot, (size_t)slot);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || i > 0) break;
      return int_value(env, -errno);
    }
    lens[i++] = (int32_t)n;
  }
  return int_value(env, i);
}

static int txs_slot(int err) {
  switch (err) {
    case EAGAIN: return TXS_AGAIN;
    case ENOBUFS: return TXS_NOBUFS;
    case EIO: case ENETDOWN: case EBADFD: return TXS_DOWN;
    case EINVAL: return TXS_INVAL;
    case EMSGSIZE: return TXS_MSGSIZE;
    default: return TXS_OTHER;
  }
}

/*
 * sendBurst(fd, buf: Uint8Array, offs: Int32Array, lens: Int32Array, count, txStats?: Float64Array): number
 * write()s frame i (i < count) from buf[offs[i]], lens[i] bytes. Returns how many were accepted.
 * A frame refused with any error other than EAGAIN (EIO when the device is down, EINVAL for a
 * runt, EMSGSIZE, ENOBUFS, ...) is skipped and the burst goes on; a frame whose offs/lens fall
 * outside buf is skipped as EINVAL without a syscall. EAGAIN ends the burst: that frame and all
 * after it are dropped as EAGAIN. The errno of the first failure in the call is kept for
 * lastSendErrno() (0 if every frame was accepted).
 * txStats (optional, >= 7 doubles) is added to in place: [0] bytes accepted, then frames
 * dropped for EAGAIN, ENOBUFS, EIO/ENETDOWN/EBADFD (link down), EINVAL, EMSGSIZE, other; so
 * accepted + drops == count for every call. Throws (EINVAL) only for malformed arguments.
 */
static napi_value send_burst(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  int32_t fd, count;
  uint8_t *buf;
  int32_t *offs, *lens;
  double *txs = NULL;
  size_t buflen, noffs, nlens, ntxs = 0;
  if (!get_args(env, info, 5, 6, argv, "sendBurst")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd) || !get_int(env, argv[4], 0, INT32_MAX, &count) ||
      !get_typed(env, argv[1], napi_uint8_array, (void **)&buf, &buflen) ||
      !get_typed(env, argv[2], napi_int32_array, (void **)&offs, &noffs) ||
      !get_typed(env, argv[3], napi_int32_array, (void **)&lens, &nlens) ||
      (size_t)count > noffs || (size_t)count > nlens ||
      (!is_type(env, argv[5], napi_undefined) &&
       (!get_typed(env, argv[5], napi_float64_array, (void **)&txs, &ntxs) || ntxs < TXS_SLOTS)))
    return throw_inval(env, "sendBurst", "(bad arguments)");

  instance *inst = get_inst(env);
  int first_err = 0;
  int32_t sent = 0, i = 0;
  while (i < count) {
    int32_t off = offs[i], len = lens[i];
    int err = 0;
    if (off < 0 || len < 0 || (uint64_t)off + (uint64_t)len > buflen) {
      err = EINVAL;
    } else {
      ssize_t n = write(fd, buf + off, (size_t)len);
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno == EWOULDBLOCK ? EAGAIN : errno;
      }
    }
    if (err == 0) {
      sent++;
      if (txs) txs[TXS_BYTES] += len;
      i++;
      continue;
    }
    if (!first_err) first_err = err;
    if (err == EAGAIN) {
      if (txs) txs[TXS_AGAIN] += count - i;
      break;
    }
    if (txs) txs[txs_slot(err)] += 1;
    i++;
  }
  if (inst) inst->last_send_errno = first_err;
  return int_value(env, sent);
}

/*
 * lastSendErrno(): number
 * The errno of the first refused frame in the most recent sendBurst call, 0 if none was refused.
 */
static napi_value last_send_errno(napi_env env, napi_callback_info info) {
  (void)info;
  instance *inst = get_inst(env);
  return int_value(env, inst ? inst->last_send_errno : 0);
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

static void on_poll(uv_poll_t *h, int status, int events) {
  (void)events;
  poll_rec *rec = h->data;
  napi_env env = rec->env;
  napi_handle_scope scope;
  napi_value cb, recv;
  /* A poll error (e.g. the fd went bad) would repeat forever: stop, and let the callback's
     rxBurst see the error. */
  if (status < 0) uv_poll_stop(h);
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  rec->in_callback = 1;
  napi_get_reference_value(env, rec->cb, &cb);
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  if (napi_make_callback(env, rec->ctx, recv, cb, 0, NULL, NULL) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  rec->in_callback = 0;
  if (rec->stop_pending) poll_teardown(get_inst(env), rec);
  napi_close_handle_scope(env, scope);
}

/*
 * pollStart(fd: number, cb: () => void): number
 * Watches fd for readability on the Node event loop (uv_poll_t, UV_READABLE, level-triggered)
 * and calls cb (through napi_make_callback, so promise jobs run after it) each time the loop
 * finds it readable. An exception in cb is reported as uncaught. Returns a handle id (> 0) for
 * pollStop. The active poll keeps the event loop alive. Throws EINVAL for bad arguments, or
 * the errno from uv_poll_init/uv_poll_start (e.g. EBADF, EPERM for a regular file).
 */
static napi_value poll_start(napi_env env, napi_callback_info info) {
  napi_value argv[2], name;
  int32_t fd;
  uv_loop_t *loop;
  instance *inst = get_inst(env);
  int rc;
  if (!get_args(env, info, 2, 2, argv, "pollStart")) return NULL;
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
  if ((rc = uv_poll_start(&rec->handle, UV_READABLE, on_poll)) < 0) {
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
static void env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  instance *inst = arg;
  poll_rec *r = inst->polls;
  inst->cleanup = handle;
  inst->tearing_down = 1;
  inst->polls = NULL;
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
    {"pollStart", poll_start},   {"pollStop", poll_stop},
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
