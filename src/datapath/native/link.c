/*
 * Opening devices (part of the vswitch_io addon, control path): tap devices and their offloads,
 * AF_PACKET sockets bound to an existing device, and the link ioctls (up/down, MAC, flags,
 * ifindex). Each function's contract is written above it; native.ts sums them up.
 */
#include "vswitch_io.h"

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
napi_value tap_open(napi_env env, napi_callback_info info) {
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
int link_ioctl(unsigned long req, struct ifreq *ifr) {
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
napi_value link_set_up(napi_env env, napi_callback_info info) {
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
napi_value link_get_mac(napi_env env, napi_callback_info info) {
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
napi_value link_set_mac(napi_env env, napi_callback_info info) {
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
napi_value if_index(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char name[IFNAMSIZ];
  if (!get_args(env, info, 1, 1, argv, "ifIndex")) return NULL;
  if (!get_ifname(env, argv[0], name)) return throw_inval(env, "ifIndex", "(bad interface name)");
  unsigned idx = if_nametoindex(name);
  return int_value(env, idx == 0 ? -1 : (int32_t)idx);
}

/*
 * tapSetOffload(fd, flags): number
 * Sets the tap's virtio-net header size to 10 (TUNSETVNETHDRSZ) and asks the kernel to hand it
 * frames with the offloads in `flags` (TUNSETOFFLOAD: TUN_F_CSUM 0x1, TSO4 0x2, TSO6 0x4,
 * TSO_ECN 0x8, UFO 0x10, USO4 0x20, USO6 0x40) left undone. A kernel that does not know
 * USO4/USO6 refuses the call with EINVAL: it is retried without them. Returns the flags in
 * force. The fd must have been opened with vnetHdr. Throws the errno of the ioctl otherwise.
 */
napi_value tap_set_offload(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, flags;
  if (!get_args(env, info, 2, 2, argv, "tapSetOffload")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd) || !get_int(env, argv[1], 0, 0xff, &flags))
    return throw_inval(env, "tapSetOffload", "(bad arguments)");
  int sz = VNET_HDR_LEN;
  if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) return throw_errno(env, errno, "TUNSETVNETHDRSZ", NULL);
  if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0) {
    if (errno != EINVAL || !(flags & (TUN_F_USO4 | TUN_F_USO6))) return throw_errno(env, errno, "TUNSETOFFLOAD", NULL);
    flags &= ~(TUN_F_USO4 | TUN_F_USO6);
    if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0) return throw_errno(env, errno, "TUNSETOFFLOAD", NULL);
  }
  return int_value(env, flags);
}

/*
 * linkFlags(name: string): number
 * The device's interface flags (SIOCGIFFLAGS: IFF_UP 0x1, IFF_RUNNING 0x40, IFF_LOWER_UP
 * 0x10000 ...) in the current netns, or -1 if there is no such device. Throws EINVAL for a
 * malformed name, else the ioctl's errno.
 */
napi_value link_flags(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct ifreq ifr;
  int err;
  if (!get_args(env, info, 1, 1, argv, "linkFlags")) return NULL;
  memset(&ifr, 0, sizeof ifr);
  if (!get_ifname(env, argv[0], ifr.ifr_name)) return throw_inval(env, "linkFlags", "(bad interface name)");
  if ((err = link_ioctl(SIOCGIFFLAGS, &ifr)) != 0) {
    if (err == ENODEV || err == ENXIO) return int_value(env, -1);
    return throw_errno(env, err, "SIOCGIFFLAGS", ifr.ifr_name);
  }
  return int_value(env, (int32_t)(uint16_t)ifr.ifr_flags);
}

/*
 * Opens the AF_PACKET socket packetOpen, packetRingOpen and packetTxOpen share, not yet bound:
 * SOCK_RAW, non-blocking, close-on-exec, PACKET_AUXDATA and PACKET_IGNORE_OUTGOING unless
 * PSO_TX_ONLY, PACKET_VNET_HDR with PSO_VNET, 4 MiB socket buffers (best effort). Returns the
 * fd, or -1 with errno set and *what naming the failing call.
 */
int packet_sock_open(int flags, const char **what) {
  int one = 1, bufsz = 4 << 20;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *what = "socket";
    return -1;
  }
  int rx = !(flags & PSO_TX_ONLY);
  *what = NULL;
  if (rx && setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0) *what = "PACKET_AUXDATA";
  else if (rx && setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0) *what = "PACKET_IGNORE_OUTGOING";
  else if ((flags & PSO_VNET) && setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) *what = "PACKET_VNET_HDR";
  if (*what) {
    int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  if (rx && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof bufsz) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof bufsz) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
  return fd;
}

/* Binds a packet socket to ifindex idx for every protocol (ETH_P_ALL), or for none (proto 0:
   it sends on the device and never receives) with PSO_TX_ONLY; 0 or -1 with errno. */
int packet_sock_bind(int fd, unsigned idx, int flags) {
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = (flags & PSO_TX_ONLY) ? 0 : htons(ETH_P_ALL);
  sll.sll_ifindex = (int)idx;
  return bind(fd, (struct sockaddr *)&sll, sizeof sll);
}

/*
 * packetOpen(name: string, vnetHdr: boolean): number
 * Opens an AF_PACKET SOCK_RAW socket (non-blocking, close-on-exec) bound to device `name` for
 * every protocol (ETH_P_ALL, set at bind so nothing from other devices is queued first), with
 * PACKET_AUXDATA (VLAN tags the kernel stripped come back as ancillary data),
 * PACKET_IGNORE_OUTGOING (frames this host sends on the device, ours included, are not
 * received), PACKET_VNET_HDR when vnetHdr (each frame read or written starts with a 10-byte
 * virtio_net_hdr: GSO frames and partial checksums pass whole), and 4 MiB socket buffers (best
 * effort). Returns the fd. Throws ENODEV if there is no such device, EPERM without
 * CAP_NET_RAW, and the errno of the failing call (syscall 'PACKET_VNET_HDR' when that option is
 * refused, so the caller can retry without it).
 */
napi_value packet_open(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char name[IFNAMSIZ];
  int vnet;
  const char *what;
  if (!get_args(env, info, 2, 2, argv, "packetOpen")) return NULL;
  if (!get_ifname(env, argv[0], name)) return throw_inval(env, "packetOpen", "(bad interface name)");
  if (!get_bool(env, argv[1], 0, &vnet)) return throw_inval(env, "packetOpen", "(vnetHdr must be a boolean)");
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return throw_errno(env, ENODEV, "if_nametoindex", name);
  int fd = packet_sock_open(vnet ? PSO_VNET : 0, &what);
  if (fd < 0) return throw_errno(env, errno, what, strcmp(what, "socket") == 0 ? "AF_PACKET" : name);
  if (packet_sock_bind(fd, idx, 0) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind", name);
  }
  return int_value(env, fd);
}

/*
 * packetTxOpen(name: string, vnetHdr: boolean, qdiscBypass = false): number
 * Opens an AF_PACKET SOCK_RAW socket (non-blocking, close-on-exec) that only sends on device
 * `name`: bound to it with protocol 0, so the kernel never queues a frame to it and nothing
 * waits on it (a socket that also receives has its poll waiting, and every frame it sent
 * wakes that wait queue when the receiver frees it). PACKET_VNET_HDR when vnetHdr; a 4 MiB
 * send buffer (best effort); PACKET_QDISC_BYPASS when qdiscBypass (frames skip the device's
 * qdisc and packet taps such as tcpdump; best effort). Use it with packetSendBurst. Returns
 * the fd. Throws ENODEV if there is no such device, EPERM without CAP_NET_RAW, the errno of the
 * failing call otherwise (syscall 'PACKET_VNET_HDR' when that option is refused).
 */
napi_value packet_tx_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char name[IFNAMSIZ];
  int vnet, bypass, one = 1;
  const char *what;
  if (!get_args(env, info, 2, 3, argv, "packetTxOpen")) return NULL;
  if (!get_ifname(env, argv[0], name)) return throw_inval(env, "packetTxOpen", "(bad interface name)");
  if (!get_bool(env, argv[1], 0, &vnet) || !get_bool(env, argv[2], 0, &bypass))
    return throw_inval(env, "packetTxOpen", "(vnetHdr and qdiscBypass must be booleans)");
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return throw_errno(env, ENODEV, "if_nametoindex", name);
  int fd = packet_sock_open(PSO_TX_ONLY | (vnet ? PSO_VNET : 0), &what);
  if (fd < 0) return throw_errno(env, errno, what, strcmp(what, "socket") == 0 ? "AF_PACKET" : name);
  if (bypass) setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
  if (packet_sock_bind(fd, idx, PSO_TX_ONLY) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, err, "bind", name);
  }
  return int_value(env, fd);
}

/*
 * packetDrops(fd): number
 * Frames the kernel dropped on the packet socket fd since the last call (PACKET_STATISTICS
 * tp_drops, which the read resets): socket buffer or receive ring full. Returns -errno if the
 * statistics cannot be read (EBADF, ENOTSOCK ...). Control path (called about once a second);
 * throws EINVAL only for a malformed fd.
 */
napi_value packet_drops(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (!get_args(env, info, 1, 1, argv, "packetDrops")) return NULL;
  if (!get_int(env, argv[0], 0, INT32_MAX, &fd)) return throw_inval(env, "packetDrops", "(bad fd)");
  struct tpacket_stats st;
  socklen_t len = sizeof st;
  memset(&st, 0, sizeof st);
  if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0) return int_value(env, -errno);
  return int_value(env, st.tp_drops > INT32_MAX ? INT32_MAX : (int32_t)st.tp_drops);
}
