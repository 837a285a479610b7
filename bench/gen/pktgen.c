/*
 * pktgen: pushes minimum-size (60 bytes + FCS = 64 on the wire) IPv4/UDP frames out of one
 * interface for a given time, from one thread, and prints how many the kernel accepted.
 * Used by the benchmark (bench/measure-pps.ts, bench/measure-newflow.ts) inside the sending
 * namespace; the benchmark counts arrivals on the receiving interface. Built at run time by
 * bench/gen/build.ts with gcc.
 *
 * How: an AF_PACKET raw socket bound to the interface (protocol 0: it never receives), qdisc
 * bypass on, and sendmmsg() bursts of prebuilt frames. The UDP checksum is 0 (allowed for
 * IPv4), so a frame's ports can change without touching any checksum. With --vary-ports each
 * frame gets the next distinct (source port, destination port) pair: the source port walks
 * 2..65535 (never 0 or 1) and the destination port advances when it wraps, so no 5-tuple
 * repeats in a run.
 *
 * usage: pktgen IFACE SRC_MAC DST_MAC SRC_IP DST_IP SECONDS [--vary-ports] [--burst N]
 * output: the line "started" when the first burst goes out, then one JSON line
 *         {"sent":N,"errors":E,"seconds":S}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME_LEN 60
#define MAX_BURST 256
#define FIRST_SPORT 2
#define FIRST_DPORT 1024

static uint8_t frames[MAX_BURST][FRAME_LEN];
static struct iovec iov[MAX_BURST];
static struct mmsghdr msgs[MAX_BURST];

static int parse_mac(const char *s, uint8_t *out) {
  unsigned int b[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) {
    if (b[i] > 255) return -1;
    out[i] = (uint8_t)b[i];
  }
  return 0;
}

static uint16_t ip_checksum(const uint8_t *hdr, int len) {
  uint32_t sum = 0;
  for (int i = 0; i < len; i += 2) sum += (uint32_t)(hdr[i] << 8 | hdr[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* Ethernet + IPv4 (20 bytes, no options) + UDP (8) + 18 bytes of zero payload = 60 bytes. */
static void build_frame(uint8_t *f, const uint8_t *src_mac, const uint8_t *dst_mac, struct in_addr src, struct in_addr dst) {
  memset(f, 0, FRAME_LEN);
  memcpy(f, dst_mac, 6);
  memcpy(f + 6, src_mac, 6);
  f[12] = 0x08; f[13] = 0x00;
  uint8_t *ip = f + 14;
  ip[0] = 0x45;
  ip[2] = 0; ip[3] = FRAME_LEN - 14;  /* total length 46 */
  ip[6] = 0x40;                       /* don't fragment */
  ip[8] = 64;                         /* ttl */
  ip[9] = 17;                         /* udp */
  memcpy(ip + 12, &src, 4);
  memcpy(ip + 16, &dst, 4);
  uint16_t csum = ip_checksum(ip, 20);
  ip[10] = (uint8_t)(csum >> 8); ip[11] = (uint8_t)csum;
  uint8_t *udp = ip + 20;
  udp[0] = FIRST_SPORT >> 8; udp[1] = FIRST_SPORT & 0xff;
  udp[2] = 0; udp[3] = 9;             /* discard */
  udp[5] = FRAME_LEN - 14 - 20;       /* udp length 26; checksum 0 = none */
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void) {
  fprintf(stderr, "usage: pktgen IFACE SRC_MAC DST_MAC SRC_IP DST_IP SECONDS [--vary-ports] [--burst N]\n");
  return 2;
}

int main(int argc, char **argv) {
  if (argc < 7) return usage();
  uint8_t src_mac[6], dst_mac[6];
  struct in_addr src_ip, dst_ip;
  if (parse_mac(argv[2], src_mac) || parse_mac(argv[3], dst_mac)) { fprintf(stderr, "pktgen: bad MAC address\n"); return 2; }
  if (!inet_aton(argv[4], &src_ip) || !inet_aton(argv[5], &dst_ip)) { fprintf(stderr, "pktgen: bad IPv4 address\n"); return 2; }
  double seconds = atof(argv[6]);
  if (!(seconds > 0)) { fprintf(stderr, "pktgen: SECONDS must be positive\n"); return 2; }
  int vary = 0, burst = 64;
  for (int i = 7; i < argc; i++) {
    if (!strcmp(argv[i], "--vary-ports")) vary = 1;
    else if (!strcmp(argv[i], "--burst") && i + 1 < argc) burst = atoi(argv[++i]);
    else return usage();
  }
  if (burst < 1 || burst > MAX_BURST) { fprintf(stderr, "pktgen: --burst takes 1..%d\n", MAX_BURST); return 2; }

  unsigned int ifindex = if_nametoindex(argv[1]);
  if (!ifindex) { fprintf(stderr, "pktgen: interface %s: %s\n", argv[1], strerror(errno)); return 1; }
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) { perror("pktgen: socket(AF_PACKET)"); return 1; }
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = (int)ifindex;
  sll.sll_protocol = 0;
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("pktgen: bind"); return 1; }
  int one = 1;
  /* Straight to the driver: the qdisc would only add a queue in front of the one we measure. */
  if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0) perror("pktgen: PACKET_QDISC_BYPASS (continuing)");
  int sndbuf = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  for (int i = 0; i < burst; i++) {
    build_frame(frames[i], src_mac, dst_mac, src_ip, dst_ip);
    iov[i].iov_base = frames[i];
    iov[i].iov_len = FRAME_LEN;
    memset(&msgs[i], 0, sizeof msgs[i]);
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  unsigned int sport = FIRST_SPORT, dport = FIRST_DPORT;
  unsigned long long sent = 0, errors = 0;
  printf("started\n");
  fflush(stdout);
  double start = now(), end = start + seconds, t = start;
  while (t < end) {
    if (vary) {
      for (int i = 0; i < burst; i++) {
        uint8_t *udp = frames[i] + 14 + 20;
        udp[0] = (uint8_t)(sport >> 8); udp[1] = (uint8_t)sport;
        udp[2] = (uint8_t)(dport >> 8); udp[3] = (uint8_t)dport;
        if (++sport > 65535) {
          sport = FIRST_SPORT;
          if (++dport > 65535) dport = FIRST_DPORT;
        }
      }
    }
    int r = sendmmsg(fd, msgs, (unsigned int)burst, 0);
    if (r > 0) sent += (unsigned long long)r;
    else if (r < 0) {
      /* A full device queue: count it and let the receiver side run. */
      if (errno == ENOBUFS || errno == EAGAIN) { errors++; sched_yield(); }
      else { perror("pktgen: sendmmsg"); return 1; }
    }
    t = now();
  }
  printf("{\"sent\":%llu,\"errors\":%llu,\"seconds\":%.6f}\n", sent, errors, t - start);
  close(fd);
  return 0;
}
