/*
 * Receive rings of packet sockets (part of the vswitch_io addon): a system port's socket can
 * take frames through a PACKET_MMAP ring (TPACKET_V2) shared with the kernel instead of one
 * recvmmsg per burst. packetRingOpen is control path; packetRingRecvBurst is hot (one call per
 * burst, no syscall while the ring holds frames, nothing allocated).
 *
 * Why: with recvmmsg every frame costs a dequeue from the socket's receive queue under a lock
 * the sender's CPU takes at the same rate (irqsave), an skb free, a cmsg and a copy through an
 * iovec; under a flood of small frames that was about a sixth of the datapath's time. With the
 * ring the kernel copies each frame into a fixed frame of shared memory as it arrives, and the
 * burst call reads status words and copies the frame into the batch slot (memcpy; for a
 * 64-byte frame far cheaper than the syscall path).
 *
 * TPACKET_V2, not V3: V3 hands a block over only when it is full or its timer (1 ms at best)
 * expires, which would add up to a millisecond to every round trip on a quiet port; V2 hands
 * over (and wakes the poll) per frame. Ring frames of 2 KiB (packet-io.ts) take standard-MTU
 * frames; a larger one (a 64 KiB GSO frame from a veth with offloads on) is also queued whole
 * on the socket (PACKET_COPY_THRESH) and its ring frame says so (TP_STATUS_COPY): the burst
 * reads such frames with recvmmsg, one call for a run of them, in order. The virtio-net header
 * (PACKET_VNET_HDR) sits in front of the frame in the ring; the VLAN tag the kernel stripped is
 * in the frame header.
 *
 * The mapping holds the socket open: packetRingUnmap(fd) must come before fdClose(fd).
 */
#include "vswitch_io.h"
#include <sys/mman.h>

/* Ring blocks (the kernel allocates the ring in blocks of contiguous pages). */
#define RING_BLOCK (64u << 10)
/* Packet socket fds a ring can be attached to (the table below is indexed by fd). */
#define RING_MAX_FD 65536

typedef struct pring {
  uint8_t *map;
  size_t map_len;
  uint32_t frames;   /* frames in the ring */
  uint32_t fsize;    /* bytes per frame */
  uint32_t head;     /* next frame to read */
  int vnet;          /* frames carry a virtio_net_hdr (PACKET_VNET_HDR) */
} pring;

/* Rings by fd. fds are process-wide, so one table serves every environment; an fd is used by
   one thread at a time (the one that owns its port). */
static pring *rings[RING_MAX_FD];

static void ring_free(pring *r) {
  munmap(r->map, r->map_len);
  free(r);
}

/*
 * packetRingOpen(name: string, vnetHdr: boolean, frames: number, frameSize: number): number
 * Opens a packet socket on device `name` configured as packetOpen does (AUXDATA,
 * IGNORE_OUTGOING, VNET_HDR when vnetHdr, 4 MiB buffers), with a TPACKET_V2 receive ring of
 * `frames` frames of `frameSize` bytes (a power of two, 2048..65536; frames 32..65536, rounded
 * up to whole 64 KiB blocks) set up and mapped before the socket is bound, so no frame is
 * queued anywhere else first. Returns the fd: read it with packetRingRecvBurst, send on it with
 * packetSendBurst, and call packetRingUnmap before fdClose. Throws ENODEV if there is no such
 * device, EPERM without CAP_NET_RAW, otherwise the errno of the failing call with syscall
 * 'PACKET_VNET_HDR' (retry without vnetHdr), 'PACKET_VERSION', 'PACKET_RX_RING', 'mmap' (the
 * kernel or memory limits refused the ring: use packetOpen) or 'bind'. EMFILE if fd >= 65536.
 */
napi_value packet_ring_open(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char name[IFNAMSIZ];
  int vnet, err;
  int32_t frames, fsize;
  const char *what = NULL;
  if (!get_args(env, info, 4, 4, argv, "packetRingOpen")) return NULL;
  if (!get_ifname(env, argv[0], name)) return throw_inval(env, "packetRingOpen", "(bad interface name)");
  if (!get_bool(env, argv[1], 0, &vnet) || !get_int(env, argv[2], 32, 65536, &frames) ||
      !get_int(env, argv[3], 2048, 65536, &fsize) || (fsize & (fsize - 1)) != 0)
    return throw_inval(env, "packetRingOpen", "(bad ring geometry)");
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return throw_errno(env, ENODEV, "if_nametoindex", name);
  int fd = packet_sock_open(vnet ? PSO_VNET : 0, &what);
  if (fd < 0) return throw_errno(env, errno, what, strcmp(what, "socket") == 0 ? "AF_PACKET" : name);

  uint32_t block = (uint32_t)fsize > RING_BLOCK ? (uint32_t)fsize : RING_BLOCK;
  uint32_t per_block = block / (uint32_t)fsize;
  uint32_t nblocks = ((uint32_t)frames + per_block - 1) / per_block;
  int version = TPACKET_V2, thresh = 1;
  struct tpacket_req req = {block, nblocks, (unsigned)fsize, nblocks * per_block};
  pring *r = NULL;
  void *map = MAP_FAILED;
  if (fd >= RING_MAX_FD) { errno = EMFILE; what = "packetRingOpen"; goto fail; }
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0) { what = "PACKET_VERSION"; goto fail; }
  if (setsockopt(fd, SOL_PACKET, PACKET_COPY_THRESH, &thresh, sizeof thresh) < 0) { what = "PACKET_COPY_THRESH"; goto fail; }
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) { what = "PACKET_RX_RING"; goto fail; }
  size_t len = (size_t)block * nblocks;
  map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) { what = "mmap"; goto fail; }
  r = calloc(1, sizeof *r);
  if (!r) { errno = ENOMEM; what = "packetRingOpen"; goto fail; }
  *r = (pring){map, len, req.tp_frame_nr, (uint32_t)fsize, 0, vnet};
  if (packet_sock_bind(fd, idx, 0) < 0) { what = "bind"; goto fail; }
  if (rings[fd]) ring_free(rings[fd]); /* left by an fd closed without packetRingUnmap */
  rings[fd] = r;
  return int_value(env, fd);

fail:
  err = errno;
  free(r);
  if (map != MAP_FAILED) munmap(map, (size_t)block * nblocks);
  close(fd);
  return throw_errno(env, err, what, name);
}

/*
 * packetRingUnmap(fd: number): void
 * Unmaps and forgets the ring of fd (which stays open: close it with fdClose next). An fd
 * without a ring is ignored. Throws EINVAL only for a malformed fd.
 */
napi_value packet_ring_unmap(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, 1, argv, "packetRingUnmap")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd)) return throw_inval(env, "packetRingUnmap", "(bad fd)");
  if (fd < RING_MAX_FD && rings[fd]) {
    ring_free(rings[fd]);
    rings[fd] = NULL;
  }
  return undefined(env);
}

/* The VLAN tag in a ring frame header or auxdata status, as tpid << 16 | tci (0: none). */
uint32_t vlan_aux(uint32_t status, uint16_t tci, uint16_t tpid) {
  if (!(status & TP_STATUS_VLAN_VALID)) return 0;
  uint32_t t = (status & TP_STATUS_VLAN_TPID_VALID) && tpid ? tpid : ETH_P_8021Q;
  return t << 16 | tci;
}

uint32_t msg_vlan_aux(struct msghdr *m) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level != SOL_PACKET || c->cmsg_type != PACKET_AUXDATA ||
        c->cmsg_len < CMSG_LEN(sizeof(struct tpacket_auxdata)))
      continue;
    struct tpacket_auxdata ad;
    memcpy(&ad, CMSG_DATA(c), sizeof ad);
    return vlan_aux(ad.tp_status, ad.tp_vlan_tci, ad.tp_vlan_tpid);
  }
  return 0;
}

/* Reads the next k frames queued on the socket (the whole copies of frames too big for their
   ring frames) with one recvmmsg into slots first..first+k-1 (frame i at buf[i*slot +
   headroom], cap bytes), their virtio headers into vnet[i*10 ..] when the socket has them;
   lens[i] gets the length (-1 if truncated or not read), aux[i] the VLAN tag. */
static void recv_copies(int fd, int vnet_sock, uint8_t *buf, int32_t slot, int32_t headroom, int32_t first, int32_t k,
                        uint8_t *vnet, int32_t *lens, uint32_t *aux) {
  struct mmsghdr msgs[MAX_BURST];
  struct iovec iov[MAX_BURST][2];
  union { struct cmsghdr align; char b[CMSG_SPACE(sizeof(struct tpacket_auxdata))]; } cbuf[MAX_BURST];
  size_t cap = (size_t)(slot - headroom);
  for (int32_t j = 0; j < k; j++) {
    int32_t i = first + j;
    int q = 0;
    if (vnet_sock) iov[j][q++] = (struct iovec){vnet + (size_t)i * VNET_HDR_LEN, VNET_HDR_LEN};
    iov[j][q++] = (struct iovec){buf + (size_t)i * (size_t)slot + (size_t)headroom, cap};
    memset(&msgs[j].msg_hdr, 0, sizeof msgs[j].msg_hdr);
    msgs[j].msg_hdr.msg_iov = iov[j];
    msgs[j].msg_hdr.msg_iovlen = (size_t)q;
    msgs[j].msg_hdr.msg_control = cbuf[j].b;
    msgs[j].msg_hdr.msg_controllen = sizeof cbuf[j].b;
    lens[i] = -1;
    aux[i] = 0;
  }
  int got;
  do got = recvmmsg(fd, msgs, (unsigned)k, MSG_DONTWAIT, NULL);
  while (got < 0 && errno == EINTR);
  for (int32_t j = 0; j < got; j++) {
    struct msghdr *m = &msgs[j].msg_hdr;
    aux[first + j] = msg_vlan_aux(m);
    int64_t len = (int64_t)msgs[j].msg_len - (vnet_sock ? VNET_HDR_LEN : 0);
    lens[first + j] = (m->msg_flags & MSG_TRUNC) || len < 0 ? -1 : (int32_t)len;
  }
}

/*
 * packetRingRecvBurst(fd, buf, slotSize, headroom, maxFrames, offs, lens, vnet, vnetLen, aux): number
 * Takes up to maxFrames frames from the receive ring of fd (opened by packetRingOpen), with the
 * same results as packetRecvBurst: frame i copied to buf[offs[i] = i*slotSize + headroom],
 * lens[i] its length or -1 if it was truncated (the caller drops and counts it), its
 * virtio_net_hdr in vnet[i*10 ..] (zeroed when vnetLen is 0 or the socket has none), aux[i] the
 * VLAN tag the kernel stripped (tpid << 16 | tci, 0: none). Each ring frame read is handed
 * back to the kernel at once. Returns the count; when the ring is empty, 0, or -errno if the
 * socket has a pending error (device gone: ENETDOWN), which this clears. -EBADF if fd has no
 * ring. Throws EINVAL only for malformed arguments.
 */
napi_value packet_ring_recv_burst(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  int32_t fd, slot, headroom, max, vnet_len;
  uint8_t *buf, *vnet;
  int32_t *offs, *lens;
  uint32_t *aux;
  size_t buflen, noffs, nlens, nvnet, naux;
  if (!get_args(env, info, 10, 10, argv, "packetRingRecvBurst")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd) || !get_int(env, argv[2], 1, INT32_MAX, &slot) ||
      !get_int(env, argv[3], 0, 256, &headroom) || !get_int(env, argv[4], 0, MAX_BURST, &max) ||
      !get_int(env, argv[8], 0, VNET_HDR_LEN, &vnet_len) || (vnet_len != 0 && vnet_len != VNET_HDR_LEN) ||
      !get_typed(env, argv[1], napi_uint8_array, (void **)&buf, &buflen) ||
      !get_typed(env, argv[5], napi_int32_array, (void **)&offs, &noffs) ||
      !get_typed(env, argv[6], napi_int32_array, (void **)&lens, &nlens) ||
      !get_typed(env, argv[7], napi_uint8_array, (void **)&vnet, &nvnet) ||
      !get_typed(env, argv[9], napi_uint32_array, (void **)&aux, &naux) ||
      headroom >= slot || (uint64_t)max * (uint64_t)slot > buflen || (size_t)max > noffs || (size_t)max > nlens ||
      (size_t)max * VNET_HDR_LEN > nvnet || (size_t)max > naux)
    return throw_inval(env, "packetRingRecvBurst", "(bad arguments)");
  pring *r = fd < RING_MAX_FD ? rings[fd] : NULL;
  if (!r) return int_value(env, -EBADF);

  size_t cap = (size_t)(slot - headroom);
  int want_hdr = r->vnet && vnet_len;
  uint32_t head = r->head;
  int32_t n = 0;
  while (n < max) {
    struct tpacket2_hdr *h = (struct tpacket2_hdr *)(r->map + (size_t)head * r->fsize);
    uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (!(st & TP_STATUS_USER)) break;
    size_t off = (size_t)n * (size_t)slot + (size_t)headroom;
    uint8_t *hdr = vnet + (size_t)n * VNET_HDR_LEN;
    uint32_t tag = 0;
    int32_t len;
    if (st & TP_STATUS_COPY) {
      /* A run of frames too big for the ring (GSO frames of a TCP stream): their whole copies
         wait on the socket, in the same order; one recvmmsg reads them all. */
      int32_t k = 1;
      uint32_t next = head + 1 == r->frames ? 0 : head + 1;
      while (n + k < max) {
        struct tpacket2_hdr *h2 = (struct tpacket2_hdr *)(r->map + (size_t)next * r->fsize);
        uint32_t st2 = __atomic_load_n(&h2->tp_status, __ATOMIC_ACQUIRE);
        if (!(st2 & TP_STATUS_USER) || !(st2 & TP_STATUS_COPY)) break;
        k++;
        if (++next == r->frames) next = 0;
      }
      recv_copies(fd, r->vnet, buf, slot, headroom, n, k, vnet, lens, aux);
      for (int32_t j = 0; j < k; j++, n++) {
        struct tpacket2_hdr *hj = (struct tpacket2_hdr *)(r->map + (size_t)head * r->fsize);
        if (!want_hdr) memset(vnet + (size_t)n * VNET_HDR_LEN, 0, VNET_HDR_LEN);
        offs[n] = (int32_t)((size_t)n * (size_t)slot + (size_t)headroom);
        __atomic_store_n(&hj->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        if (++head == r->frames) head = 0;
      }
      continue;
    } else if (h->tp_snaplen != h->tp_len || h->tp_snaplen > cap || h->tp_mac + h->tp_snaplen > r->fsize) {
      len = -1; /* cut to the ring frame and no whole copy queued (socket buffer full) */
    } else {
      const uint8_t *data = (const uint8_t *)h + h->tp_mac;
      len = (int32_t)h->tp_snaplen;
      memcpy(buf + off, data, (size_t)len);
      if (want_hdr) memcpy(hdr, data - VNET_HDR_LEN, VNET_HDR_LEN);
      tag = vlan_aux(st, h->tp_vlan_tci, h->tp_vlan_tpid);
    }
    if (!want_hdr) memset(hdr, 0, VNET_HDR_LEN);
    __atomic_store_n(&h->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
    if (++head == r->frames) head = 0;
    offs[n] = (int32_t)off;
    lens[n] = len;
    aux[n] = tag;
    n++;
  }
  r->head = head;
  if (n == 0) {
    int err = 0;
    socklen_t elen = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) err = errno;
    return int_value(env, err ? -err : 0);
  }
  return int_value(env, n);
}
