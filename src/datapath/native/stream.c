/*
 * Unix stream sockets for `stream` ports (part of the vswitch_io addon): a listening socket the
 * datapath owns (QEMU's `-netdev stream,server=off,addr.type=unix` connects to it), accepting one
 * peer, and burst I/O on the connection, where every frame travels as a 4-byte big-endian length
 * followed by the frame. Listen, accept and the peer check are control path; streamRecvBurst and
 * streamSendBurst are hot (one call per burst) and never throw on I/O errors.
 *
 * The length prefix is split off here, where the bytes are copied anyway: JavaScript cannot
 * copy between two buffers without making a view object per copy, so reading into the
 * netdev's ring and copying each frame into its batch slot happens in one call per burst.
 */
#include "vswitch_io.h"

#include <poll.h>
#include <sys/stat.h>
#include <sys/un.h>

/* Slots of the rxState Int32Array of streamRecvBurst (mirrored in native.ts). */
enum { RS_HEAD, RS_TAIL, RS_STATUS, RS_MORE, RS_BADLEN, RS_SLOTS };
/* RS_STATUS values besides 0 (nothing to report) and -errno (a read failed). */
#define RS_EOF 1
#define RS_BAD 2
/* Slots of the txState Int32Array of streamSendBurst (mirrored in native.ts). */
enum { PS_HEAD, PS_TAIL, PS_ERRNO, PS_SLOTS };
/* Shortest frame either side accepts: an Ethernet header. */
#define MIN_FRAME 14

static int unix_addr(const char *path, struct sockaddr_un *sa) {
  if (strlen(path) >= sizeof sa->sun_path) return ENAMETOOLONG;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  strcpy(sa->sun_path, path);
  return 0;
}

/* True if something accepts connections on the socket file at sa (a live listener). */
static int socket_answers(const struct sockaddr_un *sa) {
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) return 0;
  int rc = connect(s, (const struct sockaddr *)sa, sizeof *sa);
  int live = rc == 0 || errno == EAGAIN; /* EAGAIN: its backlog is full, but it is there */
  close(s);
  return live;
}

/*
 * unixListen(path: string, mode: number, gid?: number): number
 * Creates a non-blocking, close-on-exec Unix stream socket listening on `path` and returns its
 * fd. The socket file gets group `gid` (if given and not -1) and permission bits `mode` before
 * the socket listens, so nobody can connect under other permissions. A socket file left at `path` by a process that is gone is
 * replaced; a live one fails with EADDRINUSE (syscall 'bind'); a file that is not a socket
 * fails with EEXIST. Other failures throw their errno (ENOENT: no such directory; EACCES;
 * ENAMETOOLONG: a path of 108 bytes or more). Nothing is left open or created on failure.
 */
napi_value unix_listen(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t mode, gid = -1;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
  size_t len = 0;
  struct sockaddr_un sa;
  if (!get_args(env, info, 2, 3, argv, "unixListen")) return NULL;
  if (!is_type(env, argv[0], napi_string) || !get_int(env, argv[1], 0, 07777, &mode) ||
      (!is_type(env, argv[2], napi_undefined) && !get_int(env, argv[2], -1, INT32_MAX, &gid)) ||
      napi_get_value_string_utf8(env, argv[0], NULL, 0, &len) != napi_ok || len == 0)
    return throw_inval(env, "unixListen", "(expected path and mode)");
  if (len >= sizeof path - 1) return throw_errno(env, ENAMETOOLONG, "unixListen", NULL);
  napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len);
  int err = unix_addr(path, &sa);
  if (err) return throw_errno(env, err, "unixListen", NULL);

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", NULL);
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    err = errno;
    struct stat st;
    if (err == EADDRINUSE && lstat(path, &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) err = EEXIST;
      else if (!socket_answers(&sa) && unlink(path) == 0)
        err = bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? errno : 0;
    }
    if (err) {
      close(fd);
      return throw_errno(env, err, "bind", NULL);
    }
  }
  const char *step = NULL;
  if (gid != -1 && chown(path, (uid_t)-1, (gid_t)gid) < 0) step = "chown";
  else if (chmod(path, (mode_t)mode) < 0) step = "chmod";
  else if (listen(fd, 8) < 0) step = "listen";
  if (step) {
    err = errno;
    close(fd);
    unlink(path);
    return throw_errno(env, err, step, NULL);
  }
  return int_value(env, fd);
}

/*
 * unixAccept(fd: number): number
 * accept4()s one waiting connection on a listening socket, non-blocking and close-on-exec.
 * Returns its fd, -EAGAIN when none is waiting, or -errno. Throws EINVAL only for a bad fd arg.
 */
napi_value unix_accept(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, 1, argv, "unixAccept")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd)) return throw_inval(env, "unixAccept", "(bad fd)");
  int c;
  do c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (c < 0 && errno == EINTR);
  if (c < 0) return int_value(env, errno == EWOULDBLOCK ? -EAGAIN : -errno);
  return int_value(env, c);
}

/*
 * streamPeerGone(fd: number): boolean
 * True when the peer of a connected stream socket has closed its end or the socket has failed
 * (poll: POLLHUP, POLLRDHUP or POLLERR), even if unread bytes remain. Never blocks.
 */
napi_value stream_peer_gone(napi_env env, napi_callback_info info) {
  napi_value argv[1], out;
  int32_t fd;
  if (!get_args(env, info, 1, 1, argv, "streamPeerGone")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd)) return throw_inval(env, "streamPeerGone", "(bad fd)");
  struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
  int n;
  do n = poll(&p, 1, 0);
  while (n < 0 && errno == EINTR);
  napi_get_boolean(env, n != 0 && (n < 0 || (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL))), &out);
  return out;
}

static uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * streamRecvBurst(fd, ring: Uint8Array, rs: Int32Array, buf: Uint8Array, slotSize, headroom,
 *                 maxFrames, offs: Int32Array, lens: Int32Array): number
 * Delivers up to maxFrames length-prefixed frames into the batch: frame i is copied to
 * buf[i*slotSize + headroom] (offs[i] set to that, lens[i] to its length). Bytes come from the
 * ring first: ring[rs[RS_HEAD] .. rs[RS_TAIL]) holds what was read but not yet delivered (a
 * partial frame, or frames beyond an earlier burst); only when it holds no complete frame is
 * the socket read (non-blocking, into the ring after moving the leftover to its front). Returns
 * the frames delivered and updates rs: HEAD/TAIL; MORE = 1 if a complete frame is still in the
 * ring (nothing will poll readable for it); STATUS = 0, or RS_EOF (the peer closed: the bytes
 * left in the ring are a truncated frame), RS_BAD (a length below 14 or above slotSize -
 * headroom, kept in BADLEN; the stream cannot be resynchronised), or -errno of a failed read.
 * The ring must hold at least 4 + slotSize - headroom bytes. Throws EINVAL only for malformed
 * arguments; never throws on I/O errors.
 */
napi_value stream_recv_burst(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  int32_t fd, slot, headroom, max;
  uint8_t *ring, *buf;
  int32_t *rs, *offs, *lens;
  size_t ringlen, nrs, buflen, noffs, nlens;
  if (!get_args(env, info, 9, 9, argv, "streamRecvBurst")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd) || !get_int(env, argv[4], 1, INT32_MAX, &slot) ||
      !get_int(env, argv[5], 0, 256, &headroom) || !get_int(env, argv[6], 0, MAX_BURST, &max) ||
      !get_typed(env, argv[1], napi_uint8_array, (void **)&ring, &ringlen) ||
      !get_typed(env, argv[2], napi_int32_array, (void **)&rs, &nrs) ||
      !get_typed(env, argv[3], napi_uint8_array, (void **)&buf, &buflen) ||
      !get_typed(env, argv[7], napi_int32_array, (void **)&offs, &noffs) ||
      !get_typed(env, argv[8], napi_int32_array, (void **)&lens, &nlens) || nrs < RS_SLOTS ||
      headroom >= slot || (uint64_t)max * (uint64_t)slot > buflen || (size_t)max > noffs || (size_t)max > nlens ||
      ringlen < 4 + (size_t)(slot - headroom) || ringlen > INT32_MAX || rs[RS_HEAD] < 0 ||
      rs[RS_HEAD] > rs[RS_TAIL] || (size_t)rs[RS_TAIL] > ringlen)
    return throw_inval(env, "streamRecvBurst", "(bad arguments)");

  size_t head = (size_t)rs[RS_HEAD], tail = (size_t)rs[RS_TAIL];
  size_t cap = (size_t)(slot - headroom);
  int32_t i = 0, status = 0;
  while (i < max) {
    size_t have = tail - head;
    if (have >= 4) {
      uint32_t len = get_be32(ring + head);
      if (len < MIN_FRAME || len > cap) {
        status = RS_BAD;
        rs[RS_BADLEN] = len > INT32_MAX ? INT32_MAX : (int32_t)len;
        break;
      }
      if (have >= 4 + (size_t)len) {
        size_t off = (size_t)i * (size_t)slot + (size_t)headroom;
        memcpy(buf + off, ring + head + 4, len);
        offs[i] = (int32_t)off;
        lens[i] = (int32_t)len;
        head += 4 + len;
        i++;
        continue;
      }
    }
    /* No complete frame left: read more after moving the partial one to the front. */
    if (head > 0) {
      memmove(ring, ring + head, tail - head);
      tail -= head;
      head = 0;
    }
    ssize_t n = read(fd, ring + tail, ringlen - tail);
    if (n > 0) {
      tail += (size_t)n;
      continue;
    }
    if (n == 0) status = RS_EOF;
    else if (errno == EINTR) continue;
    else if (errno != EAGAIN && errno != EWOULDBLOCK) status = -errno;
    break;
  }
  if (head == tail) head = tail = 0;
  rs[RS_HEAD] = (int32_t)head;
  rs[RS_TAIL] = (int32_t)tail;
  rs[RS_STATUS] = status;
  rs[RS_MORE] = status == 0 && tail - head >= 4 && get_be32(ring + head) <= cap &&
    tail - head >= 4 + (size_t)get_be32(ring + head);
  return int_value(env, i);
}

/* Sends pend[head..tail) until done or the socket is full; returns 0 or the errno of a failure. */
static int flush_pending(int fd, uint8_t *pend, int32_t *ps) {
  while (ps[PS_HEAD] < ps[PS_TAIL]) {
    ssize_t n = send(fd, pend + ps[PS_HEAD], (size_t)(ps[PS_TAIL] - ps[PS_HEAD]), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : errno;
    }
    ps[PS_HEAD] += (int32_t)n;
  }
  ps[PS_HEAD] = ps[PS_TAIL] = 0;
  return 0;
}

/* Appends `skip` bytes into the prefixed frame (4-byte length + len bytes) to pend; the caller
   made sure it fits. */
static void pend_append(uint8_t *pend, int32_t *ps, uint32_t len, const uint8_t *frame, size_t skip) {
  uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len};
  size_t t = (size_t)ps[PS_TAIL];
  if (skip < 4) {
    memcpy(pend + t, hdr + skip, 4 - skip);
    t += 4 - skip;
    skip = 4;
  }
  memcpy(pend + t, frame + (skip - 4), len - (skip - 4));
  ps[PS_TAIL] = (int32_t)(t + len - (skip - 4));
}

/*
 * streamSendBurst(fd, buf: Uint8Array, offs: Int32Array, lens: Int32Array, count,
 *                 pend: Uint8Array, ps: Int32Array, txStats: Float64Array): number
 * Sends frames i < count (buf[offs[i]], lens[i] bytes) each behind its 4-byte big-endian
 * length. pend[ps[PS_HEAD] .. ps[PS_TAIL]) holds bytes accepted earlier but not yet taken by
 * the socket; they go first (count 0 only flushes them). While nothing is pending, the frames
 * are written with one sendmsg per MAX_BURST frames; what the socket does not take (the rest
 * of a frame cut by a short write, whole frames after it) is appended to pend, and a frame
 * that does not fit in pend any more is dropped (txStats EAGAIN: the peer is too slow). A
 * frame out of bounds, shorter than 14 bytes or longer than pend can hold is dropped as EINVAL.
 * A send failure other than EAGAIN (EPIPE, ECONNRESET: the peer is gone) drops the rest as
 * link down, empties pend and leaves the errno in ps[PS_ERRNO] (0 otherwise). Returns the
 * frames accepted (sent or queued); txStats as sendBurst (bytes of frames accepted, drops per
 * reason). Throws EINVAL only for malformed arguments.
 */
napi_value stream_send_burst(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  int32_t fd, count;
  uint8_t *buf, *pend;
  int32_t *offs, *lens, *ps;
  double *txs;
  size_t buflen, noffs, nlens, pendlen, nps, ntxs;
  if (!get_args(env, info, 8, 8, argv, "streamSendBurst")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd) || !get_int(env, argv[4], 0, INT32_MAX, &count) ||
      !get_typed(env, argv[1], napi_uint8_array, (void **)&buf, &buflen) ||
      !get_typed(env, argv[2], napi_int32_array, (void **)&offs, &noffs) ||
      !get_typed(env, argv[3], napi_int32_array, (void **)&lens, &nlens) ||
      !get_typed(env, argv[5], napi_uint8_array, (void **)&pend, &pendlen) ||
      !get_typed(env, argv[6], napi_int32_array, (void **)&ps, &nps) ||
      !get_typed(env, argv[7], napi_float64_array, (void **)&txs, &ntxs) ||
      (size_t)count > noffs || (size_t)count > nlens || nps < PS_SLOTS || ntxs < TXS_SLOTS ||
      pendlen > INT32_MAX || pendlen < 4 + MIN_FRAME || ps[PS_HEAD] < 0 || ps[PS_HEAD] > ps[PS_TAIL] ||
      (size_t)ps[PS_TAIL] > pendlen)
    return throw_inval(env, "streamSendBurst", "(bad arguments)");

  ps[PS_ERRNO] = 0;
  int err = flush_pending(fd, pend, ps);
  int32_t accepted = 0, i = 0;
#define FRAME_OK(k) (offs[k] >= 0 && lens[k] >= MIN_FRAME && (uint64_t)offs[k] + (uint64_t)lens[k] <= buflen && \
                     (size_t)lens[k] + 4 <= pendlen)
  /* Nothing pending: write straight from the batch. */
  while (!err && ps[PS_TAIL] == 0 && i < count) {
    struct iovec iov[2 * MAX_BURST];
    uint8_t hdrs[MAX_BURST][4];
    int32_t m = 0;
    while (i + m < count && m < MAX_BURST && FRAME_OK(i + m)) {
      uint32_t len = (uint32_t)lens[i + m];
      hdrs[m][0] = (uint8_t)(len >> 24), hdrs[m][1] = (uint8_t)(len >> 16);
      hdrs[m][2] = (uint8_t)(len >> 8), hdrs[m][3] = (uint8_t)len;
      iov[2 * m] = (struct iovec){hdrs[m], 4};
      iov[2 * m + 1] = (struct iovec){buf + offs[i + m], len};
      m++;
    }
    if (m == 0) { /* frame i is malformed */
      txs[TXS_INVAL] += 1;
      i++;
      continue;
    }
    struct msghdr msg = {0};
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)(2 * m);
    ssize_t n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break; /* EAGAIN: the frames from i on are queued below */
    }
    size_t done = (size_t)n;
    for (int32_t k = 0; k < m; k++) {
      size_t whole = 4 + (size_t)lens[i];
      if (done == 0) break;
      if (done < whole) pend_append(pend, ps, (uint32_t)lens[i], buf + offs[i], done); /* pend was empty */
      accepted++;
      txs[TXS_BYTES] += lens[i];
      done = done < whole ? 0 : done - whole;
      i++;
    }
  }
  /* Something is pending (or the socket is full): queue what fits, drop the rest. */
  for (; !err && i < count; i++) {
    if (!FRAME_OK(i)) {
      txs[TXS_INVAL] += 1;
      continue;
    }
    size_t need = 4 + (size_t)lens[i];
    if ((size_t)ps[PS_TAIL] + need > pendlen && ps[PS_HEAD] > 0) {
      memmove(pend, pend + ps[PS_HEAD], (size_t)(ps[PS_TAIL] - ps[PS_HEAD]));
      ps[PS_TAIL] -= ps[PS_HEAD];
      ps[PS_HEAD] = 0;
    }
    if ((size_t)ps[PS_TAIL] + need > pendlen) {
      txs[TXS_AGAIN] += 1;
      continue;
    }
    pend_append(pend, ps, (uint32_t)lens[i], buf + offs[i], 0);
    accepted++;
    txs[TXS_BYTES] += lens[i];
  }
#undef FRAME_OK
  if (err) {
    txs[TXS_DOWN] += count - i;
    ps[PS_HEAD] = ps[PS_TAIL] = 0;
    ps[PS_ERRNO] = err;
  }
  return int_value(env, accepted);
}
