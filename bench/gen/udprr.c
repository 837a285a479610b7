/*
 * udprr: UDP request/response latency between two namespaces. The server echoes every
 * datagram back to its sender; the client sends one small request at a time, waits for the
 * answer and prints each round trip in microseconds, one per line, so the benchmark
 * (bench/measure-latency.ts) computes mean and percentiles. Built at run time by
 * bench/gen/build.ts with gcc.
 *
 * usage: udprr server PORT
 *        udprr client IP PORT COUNT [WARMUP] [MAX_SECONDS]
 * client output: one line per answered request ("%.3f" µs), then "lost N" (requests with no
 * answer within 200 ms); it stops early after MAX_SECONDS (default 10).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAYLOAD 32

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int server(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("udprr: socket"); return 1; }
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("udprr: bind"); return 1; }
  printf("ready\n");
  fflush(stdout);
  char buf[2048];
  for (;;) {
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("udprr: recvfrom");
      return 1;
    }
    sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
  }
}

static int client(const char *ip, int port, long count, long warmup, double max_seconds) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("udprr: socket"); return 1; }
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (!inet_aton(ip, &a.sin_addr)) { fprintf(stderr, "udprr: bad IPv4 address %s\n", ip); return 2; }
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("udprr: connect"); return 1; }
  struct timeval tv = { 0, 200000 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  double *samples = calloc((size_t)count, sizeof *samples);
  if (!samples) { fprintf(stderr, "udprr: out of memory\n"); return 1; }
  char req[PAYLOAD], resp[2048];
  memset(req, 0, sizeof req);
  long got = 0, lost = 0;
  double deadline = now_us() + max_seconds * 1e6;
  for (long i = 0; i < warmup + count; i++) {
    uint32_t seq = (uint32_t)i;
    memcpy(req, &seq, sizeof seq);
    double t0 = now_us();
    if (t0 > deadline) break;
    if (send(fd, req, sizeof req, 0) < 0) { lost++; continue; }
    for (;;) {
      ssize_t n = recv(fd, resp, sizeof resp, 0);
      if (n < 0) { lost++; break; }
      uint32_t back;
      memcpy(&back, resp, sizeof back);
      if (n == PAYLOAD && back == seq) {
        if (i >= warmup) samples[got++] = now_us() - t0;
        break;
      }
      /* A late answer to an earlier request: keep waiting for ours. */
    }
  }
  for (long i = 0; i < got; i++) printf("%.3f\n", samples[i]);
  printf("lost %ld\n", lost);
  free(samples);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "server")) return server(atoi(argv[2]));
  if (argc >= 5 && !strcmp(argv[1], "client")) {
    long warmup = argc > 5 ? atol(argv[5]) : 100;
    double max_seconds = argc > 6 ? atof(argv[6]) : 10;
    long count = atol(argv[4]);
    if (count < 1 || warmup < 0 || !(max_seconds > 0)) { fprintf(stderr, "udprr: bad COUNT, WARMUP or MAX_SECONDS\n"); return 2; }
    return client(argv[2], atoi(argv[3]), count, warmup, max_seconds);
  }
  fprintf(stderr, "usage: udprr server PORT | udprr client IP PORT COUNT [WARMUP] [MAX_SECONDS]\n");
  return 2;
}
