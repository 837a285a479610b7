/*
 * vswitch_io.h: what the parts of the vswitch_io addon share (vswitch_io.c: module setup,
 * argument helpers, readiness polls; link.c: opening tap devices and packet sockets, link
 * ioctls; burst.c: the hot burst I/O; stream.c: Unix stream sockets of stream ports). Not a
 * public interface: only native.ts calls the addon.
 */
#ifndef VSWITCH_IO_H
#define VSWITCH_IO_H
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
#include <sys/uio.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>

#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef TP_STATUS_VLAN_TPID_VALID
#define TP_STATUS_VLAN_TPID_VALID (1 << 6)
#endif

/* Bytes of the virtio_net_hdr (no mergeable-buffers count) that tap and AF_PACKET ports carry. */
#define VNET_HDR_LEN 10
/* Most frames one burst call handles (batches are 32; the arrays below live on the stack). */
#define MAX_BURST 64

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
  int report_events;  /* started with an events mask: cb gets (status, events) */
  uint64_t busy_ns;   /* pollSetBusy: keep the loop polling this long after each wakeup */
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
  uv_idle_t spin;     /* active while busy polling: the loop polls fds without sleeping */
  int spin_init;      /* spin has been uv_idle_init'ed (closed at teardown) */
  uint64_t spin_until; /* uv_hrtime() after which the loop may sleep again */
  uint64_t arm_start; /* first busy wakeup of the current arming period (not spinning) */
  int arm_count;      /* busy wakeups since arm_start */
} instance;

/* Argument helpers and errors (vswitch_io.c). */
napi_value throw_errno(napi_env env, int err, const char *syscall, const char *what);
napi_value throw_inval(napi_env env, const char *fn, const char *what);
instance *get_inst(napi_env env);
int get_args(napi_env env, napi_callback_info info, size_t min, size_t max, napi_value *argv, const char *fn);
int is_type(napi_env env, napi_value v, napi_valuetype want);
int get_int(napi_env env, napi_value v, int32_t lo, int32_t hi, int32_t *out);
int get_bool(napi_env env, napi_value v, int dflt, int *out);
int get_ifname(napi_env env, napi_value v, char out[IFNAMSIZ]);
int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len);
napi_value undefined(napi_env env);
napi_value int_value(napi_env env, int32_t n);

/* Devices, links and packet sockets (link.c). */
int link_ioctl(unsigned long req, struct ifreq *ifr);
napi_value tap_open(napi_env env, napi_callback_info info);
napi_value link_set_up(napi_env env, napi_callback_info info);
napi_value link_get_mac(napi_env env, napi_callback_info info);
napi_value link_set_mac(napi_env env, napi_callback_info info);
napi_value if_index(napi_env env, napi_callback_info info);
napi_value tap_set_offload(napi_env env, napi_callback_info info);
napi_value link_flags(napi_env env, napi_callback_info info);
napi_value packet_open(napi_env env, napi_callback_info info);

/* Burst I/O (burst.c). */
napi_value recv_burst(napi_env env, napi_callback_info info);
napi_value send_burst(napi_env env, napi_callback_info info);
napi_value tap_recv_burst(napi_env env, napi_callback_info info);
napi_value packet_recv_burst(napi_env env, napi_callback_info info);
napi_value tap_send_burst(napi_env env, napi_callback_info info);
napi_value packet_send_burst(napi_env env, napi_callback_info info);
napi_value last_send_errno(napi_env env, napi_callback_info info);

/* Unix stream sockets for stream ports (stream.c). */
napi_value unix_listen(napi_env env, napi_callback_info info);
napi_value unix_accept(napi_env env, napi_callback_info info);
napi_value stream_peer_gone(napi_env env, napi_callback_info info);
napi_value stream_recv_burst(napi_env env, napi_callback_info info);
napi_value stream_send_burst(napi_env env, napi_callback_info info);

/* Packet socket setup shared by link.c and ring.c (flags: PSO_*), send-only sockets and
   packet statistics (link.c). */
enum { PSO_VNET = 1, PSO_TX_ONLY = 2 };
int packet_sock_open(int flags, const char **what);
int packet_sock_bind(int fd, unsigned idx, int flags);
napi_value packet_tx_open(napi_env env, napi_callback_info info);
napi_value packet_drops(napi_env env, napi_callback_info info);

/* Receive rings of packet sockets (ring.c). */
napi_value packet_ring_open(napi_env env, napi_callback_info info);
napi_value packet_ring_unmap(napi_env env, napi_callback_info info);
napi_value packet_ring_recv_burst(napi_env env, napi_callback_info info);

/* ring.c: the (tpid << 16 | tci) of a VLAN tag the kernel stripped, from tpacket status bits
   or a recvmsg's PACKET_AUXDATA control message; 0 when there was none. */
uint32_t vlan_aux(uint32_t status, uint16_t tci, uint16_t tpid);
uint32_t msg_vlan_aux(struct msghdr *m);

#endif
