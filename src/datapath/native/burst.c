/*
 * Burst I/O (part of the vswitch_io addon, hot): one call reads or writes a whole burst of
 * frames on a tap fd (read/readv, write/writev) or a packet socket (recvmmsg/sendmmsg), with a
 * virtio-net header per frame where the port carries one. Never throws on I/O errors: counts,
 * negative errno, and per-reason drop counters instead.
 */
#include "vswitch_io.h"

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
napi_value recv_burst(napi_env env, napi_callback_info info) {
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
napi_value send_burst(napi_env env, napi_callback_info info) {
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

/* Arguments shared by the vnet-aware burst calls. */
typedef struct rx_args {
  int32_t fd, slot, headroom, max, vnet_len;
  uint8_t *buf, *vnet;
  int32_t *offs, *lens;
  uint32_t *aux;
  size_t buflen;
} rx_args;

/* (fd, buf: Uint8Array, slotSize, headroom, maxFrames, offs: Int32Array, lens: Int32Array,
   vnet: Uint8Array, vnetLen: 0|10[, aux: Uint32Array]); 0 and a thrown EINVAL if malformed. */
static int get_rx_args(napi_env env, napi_callback_info info, int with_aux, rx_args *a, const char *fn) {
  napi_value argv[10];
  size_t noffs, nlens, nvnet, naux = 0;
  size_t n = with_aux ? 10 : 9;
  if (!get_args(env, info, n, n, argv, fn)) return 0;
  a->aux = NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &a->fd) || !get_int(env, argv[2], 1, INT32_MAX, &a->slot) ||
      !get_int(env, argv[3], 0, 256, &a->headroom) || !get_int(env, argv[4], 0, MAX_BURST, &a->max) ||
      !get_int(env, argv[8], 0, VNET_HDR_LEN, &a->vnet_len) ||
      (a->vnet_len != 0 && a->vnet_len != VNET_HDR_LEN) ||
      !get_typed(env, argv[1], napi_uint8_array, (void **)&a->buf, &a->buflen) ||
      !get_typed(env, argv[5], napi_int32_array, (void **)&a->offs, &noffs) ||
      !get_typed(env, argv[6], napi_int32_array, (void **)&a->lens, &nlens) ||
      !get_typed(env, argv[7], napi_uint8_array, (void **)&a->vnet, &nvnet) ||
      (with_aux && !get_typed(env, argv[9], napi_uint32_array, (void **)&a->aux, &naux)) ||
      a->headroom >= a->slot || (uint64_t)a->max * (uint64_t)a->slot > a->buflen || (size_t)a->max > noffs ||
      (size_t)a->max > nlens || (size_t)a->max * VNET_HDR_LEN > nvnet || (with_aux && (size_t)a->max > naux)) {
    throw_inval(env, fn, "(bad arguments)");
    return 0;
  }
  return 1;
}

/*
 * tapRecvBurst(fd, buf, slotSize, headroom, maxFrames, offs, lens, vnet, vnetLen): number
 * Non-blocking readv() of up to maxFrames frames from a tap fd. Frame i lands at
 * buf[i*slotSize + headroom] (offs[i] is set to that, lens[i] to its length, at most
 * slotSize - headroom bytes); with vnetLen 10 the virtio_net_hdr in front of it goes to
 * vnet[i*10 .. +10], with vnetLen 0 those 10 bytes are zeroed. Returns the count, 0 if nothing
 * was ready, -errno when the first read fails for another reason (an error after some frames
 * ends the burst). Throws EINVAL only for malformed arguments.
 */
napi_value tap_recv_burst(napi_env env, napi_callback_info info) {
  rx_args a;
  if (!get_rx_args(env, info, 0, &a, "tapRecvBurst")) return NULL;
  int32_t i = 0;
  size_t cap = (size_t)(a.slot - a.headroom);
  while (i < a.max) {
    size_t off = (size_t)i * (size_t)a.slot + (size_t)a.headroom;
    uint8_t *hdr = a.vnet + (size_t)i * VNET_HDR_LEN;
    struct iovec iov[2] = {{hdr, (size_t)a.vnet_len}, {a.buf + off, cap}};
    ssize_t n = a.vnet_len ? readv(a.fd, iov, 2) : read(a.fd, a.buf + off, cap);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || i > 0) break;
      return int_value(env, -errno);
    }
    if (n < a.vnet_len) n = a.vnet_len; /* cannot happen with a tap; keeps lens >= 0 */
    if (!a.vnet_len) memset(hdr, 0, VNET_HDR_LEN);
    a.offs[i] = (int32_t)off;
    a.lens[i] = (int32_t)(n - a.vnet_len);
    i++;
  }
  return int_value(env, i);
}

/*
 * packetRecvBurst(fd, buf, slotSize, headroom, maxFrames, offs, lens, vnet, vnetLen, aux): number
 * One recvmmsg(MSG_DONTWAIT) of up to maxFrames frames from an AF_PACKET socket, laid out as
 * tapRecvBurst does. aux[i] is (tpid << 16 | tci) of the VLAN tag the kernel stripped from
 * frame i (PACKET_AUXDATA with TP_STATUS_VLAN_VALID; tpid 0x8100 unless the kernel says
 * otherwise), 0 if it had none. A frame longer than slotSize - headroom gets lens[i] = -1
 * (the caller drops and counts it). Returns the count, 0 if nothing was ready, -errno on error.
 */
napi_value packet_recv_burst(napi_env env, napi_callback_info info) {
  rx_args a;
  struct mmsghdr msgs[MAX_BURST];
  struct iovec iov[MAX_BURST][2];
  union { struct cmsghdr align; char b[CMSG_SPACE(sizeof(struct tpacket_auxdata))]; } cbuf[MAX_BURST];
  if (!get_rx_args(env, info, 1, &a, "packetRecvBurst")) return NULL;
  if (a.max == 0) return int_value(env, 0);
  size_t cap = (size_t)(a.slot - a.headroom);
  for (int32_t i = 0; i < a.max; i++) {
    size_t off = (size_t)i * (size_t)a.slot + (size_t)a.headroom;
    int k = 0;
    if (a.vnet_len) iov[i][k++] = (struct iovec){a.vnet + (size_t)i * VNET_HDR_LEN, VNET_HDR_LEN};
    iov[i][k++] = (struct iovec){a.buf + off, cap};
    memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
    msgs[i].msg_hdr.msg_iov = iov[i];
    msgs[i].msg_hdr.msg_iovlen = (size_t)k;
    msgs[i].msg_hdr.msg_control = cbuf[i].b;
    msgs[i].msg_hdr.msg_controllen = sizeof cbuf[i].b;
    a.offs[i] = (int32_t)off;
  }
  int n;
  do n = recvmmsg(a.fd, msgs, (unsigned)a.max, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return int_value(env, errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno);
  for (int i = 0; i < n; i++) {
    struct msghdr *m = &msgs[i].msg_hdr;
    a.aux[i] = msg_vlan_aux(m);
    int64_t len = (int64_t)msgs[i].msg_len - a.vnet_len;
    if (!a.vnet_len) memset(a.vnet + (size_t)i * VNET_HDR_LEN, 0, VNET_HDR_LEN);
    a.lens[i] = (m->msg_flags & MSG_TRUNC) || len < 0 ? -1 : (int32_t)len;
  }
  return int_value(env, n);
}

/* Arguments of the vnet-aware send calls. */
typedef struct tx_args {
  int32_t fd, count, vnet_len;
  uint8_t *buf, *vnet;
  int32_t *offs, *lens;
  double *txs;
  size_t buflen;
} tx_args;

/* (fd, buf, offs, lens, count, vnet: Uint8Array, vnetLen: 0|10, txStats: Float64Array) */
static int get_tx_args(napi_env env, napi_callback_info info, tx_args *a, const char *fn) {
  napi_value argv[8];
  size_t noffs, nlens, nvnet, ntxs;
  if (!get_args(env, info, 8, 8, argv, fn)) return 0;
  if (!get_int(env, argv[0], 0, INT32_MAX, &a->fd) || !get_int(env, argv[4], 0, INT32_MAX, &a->count) ||
      !get_int(env, argv[6], 0, VNET_HDR_LEN, &a->vnet_len) || (a->vnet_len != 0 && a->vnet_len != VNET_HDR_LEN) ||
      !get_typed(env, argv[1], napi_uint8_array, (void **)&a->buf, &a->buflen) ||
      !get_typed(env, argv[2], napi_int32_array, (void **)&a->offs, &noffs) ||
      !get_typed(env, argv[3], napi_int32_array, (void **)&a->lens, &nlens) ||
      !get_typed(env, argv[5], napi_uint8_array, (void **)&a->vnet, &nvnet) ||
      !get_typed(env, argv[7], napi_float64_array, (void **)&a->txs, &ntxs) ||
      (size_t)a->count > noffs || (size_t)a->count > nlens || ntxs < TXS_SLOTS ||
      (a->vnet_len && (size_t)a->count * VNET_HDR_LEN > nvnet)) {
    throw_inval(env, fn, "(bad arguments)");
    return 0;
  }
  return 1;
}

static int frame_ok(const tx_args *a, int32_t i) {
  int32_t off = a->offs[i], len = a->lens[i];
  return off >= 0 && len >= 0 && (uint64_t)off + (uint64_t)len <= a->buflen;
}

/*
 * tapSendBurst(fd, buf, offs, lens, count, vnet, vnetLen, txStats): number
 * Like sendBurst, for a tap fd: frame i (buf[offs[i]], lens[i] bytes) is written with one
 * writev, after the virtio_net_hdr vnet[i*10 .. +10] when vnetLen is 10. Same accounting in
 * txStats (required here) and lastSendErrno. Throws EINVAL only for malformed arguments.
 */
napi_value tap_send_burst(napi_env env, napi_callback_info info) {
  tx_args a;
  if (!get_tx_args(env, info, &a, "tapSendBurst")) return NULL;
  instance *inst = get_inst(env);
  int first_err = 0;
  int32_t sent = 0, i = 0;
  while (i < a.count) {
    int err = 0;
    if (!frame_ok(&a, i)) {
      err = EINVAL;
    } else {
      struct iovec iov[2] = {{a.vnet + (size_t)i * VNET_HDR_LEN, (size_t)a.vnet_len}, {a.buf + a.offs[i], (size_t)a.lens[i]}};
      ssize_t n = a.vnet_len ? writev(a.fd, iov, 2) : write(a.fd, iov[1].iov_base, iov[1].iov_len);
      if (n < 0) {
        if (errno == EINTR) continue;
        err = errno == EWOULDBLOCK ? EAGAIN : errno;
      }
    }
    if (err == 0) {
      sent++;
      a.txs[TXS_BYTES] += a.lens[i];
      i++;
      continue;
    }
    if (!first_err) first_err = err;
    if (err == EAGAIN) {
      a.txs[TXS_AGAIN] += a.count - i;
      break;
    }
    a.txs[txs_slot(err)] += 1;
    i++;
  }
  if (inst) inst->last_send_errno = first_err;
  return int_value(env, sent);
}

/*
 * packetSendBurst(fd, buf, offs, lens, count, vnet, vnetLen, txStats): number
 * Sends frames i < count on an AF_PACKET socket with sendmmsg(MSG_DONTWAIT), each as the
 * virtio_net_hdr vnet[i*10 .. +10] (when vnetLen is 10) followed by the frame. A refused frame
 * is counted by errno class and skipped; EAGAIN (socket buffer full) drops it and the rest.
 * Same accounting as sendBurst. Throws EINVAL only for malformed arguments.
 */
napi_value packet_send_burst(napi_env env, napi_callback_info info) {
  tx_args a;
  struct mmsghdr msgs[MAX_BURST];
  struct iovec iov[MAX_BURST][2];
  if (!get_tx_args(env, info, &a, "packetSendBurst")) return NULL;
  instance *inst = get_inst(env);
  int first_err = 0;
  int32_t sent = 0, i = 0;
  while (i < a.count) {
    /* Build up to MAX_BURST messages of well-formed frames starting at i. */
    int32_t m = 0;
    while (i + m < a.count && m < MAX_BURST && frame_ok(&a, i + m)) {
      int32_t f = i + m;
      int k = 0;
      if (a.vnet_len) iov[m][k++] = (struct iovec){a.vnet + (size_t)f * VNET_HDR_LEN, VNET_HDR_LEN};
      iov[m][k++] = (struct iovec){a.buf + a.offs[f], (size_t)a.lens[f]};
      memset(&msgs[m].msg_hdr, 0, sizeof msgs[m].msg_hdr);
      msgs[m].msg_hdr.msg_iov = iov[m];
      msgs[m].msg_hdr.msg_iovlen = (size_t)k;
      m++;
    }
    int err = 0;
    if (m == 0) {
      err = EINVAL; /* frame i is out of bounds */
    } else {
      int n = sendmmsg(a.fd, msgs, (unsigned)m, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        for (int k = 0; k < n; k++) a.txs[TXS_BYTES] += a.lens[i + k];
        sent += n;
        i += n;
        continue;
      }
      err = errno == EWOULDBLOCK ? EAGAIN : errno;
    }
    if (!first_err) first_err = err;
    if (err == EAGAIN) {
      a.txs[TXS_AGAIN] += a.count - i;
      break;
    }
    a.txs[txs_slot(err)] += 1;
    i++;
  }
  if (inst) inst->last_send_errno = first_err;
  return int_value(env, sent);
}

/*
 * lastSendErrno(): number
 * The errno of the first refused frame in the most recent sendBurst call, 0 if none was refused.
 */
napi_value last_send_errno(napi_env env, napi_callback_info info) {
  (void)info;
  instance *inst = get_inst(env);
  return int_value(env, inst ? inst->last_send_errno : 0);
}
