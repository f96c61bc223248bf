/*
 * microtally-events: the live agent's kernel event source (Linux). Node has no netlink sockets,
 * so this small program listens where the kernel announces what happens and writes one JSON
 * object per line on stdout, which the agent reads:
 *
 *   - the process connector (NETLINK_CONNECTOR, CN_IDX_PROC): every fork and every exec, a
 *     second exec in the same pid included. The command line, executable and user are read from
 *     /proc at once (this program runs at a real-time priority when it may, so a process that
 *     lives a millisecond is still there); a process already gone is reported with what could be
 *     read and "gone":true, never dropped.
 *   - socket-destroy notifications (NETLINK_SOCK_DIAG multicast groups, what `ss -E` shows):
 *     every TCP and UDP socket of IPv4 and IPv6 as it is freed, with the kernel's TCP byte
 *     counters (struct tcp_info). UDP sockets come with addresses only: the kernel keeps no
 *     per-socket UDP byte counts.
 *
 * usage: microtally-events [--proc] [--sock] [--no-rt]   (neither: both)
 * Output lines:
 *   {"ev":"ready","proc":"ok"|"<error>","sock":"ok"|"<error>"}              once, at start
 *   {"ev":"exec"|"fork","pid":N,"ppid":N,"uid":N,"cmd":"…","exe":"…","comm":"…","gone":B}
 *   {"ev":"conn","proto":"tcp"|"udp","state":N,"local":"<hex>","lport":N,"remote":"<hex>","rport":N,
 *    "bytesIn":N,"bytesOut":N,"bytes":B}
 *   {"ev":"lost","source":"proc"|"sock"}     the kernel dropped events (our receive queue overflowed)
 *   {"ev":"lost","source":"output","n":N}    N events dropped because the agent read too slowly
 * Exit status: 0 on EOF of stdout's reader (SIGPIPE is handled), 1 when no source could start.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CMD_MAX 4096
#define RECV_BYTES (256 * 1024)
#define SOCK_BUF_BYTES (8 * 1024 * 1024)

/* Output waits here while the agent is busy: a blocked write would leave the kernel's events
   queued, and the processes they name would exit before they are read. Past OUT_MAX bytes
   whole events are dropped and counted. */
#define OUT_MAX (64u << 20)
static char *out;
static size_t out_len, out_off, out_cap;
static unsigned long long out_dropped;
static size_t event_start; /* out_len when the current event began */
static int event_dropped;

/* Writes what the pipe takes now; returns -1 when the reader is gone. */
static int flush_out(void) {
  while (out_off < out_len) {
    ssize_t n = write(1, out + out_off, out_len - out_off);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      return -1;
    }
    out_off += (size_t)n;
  }
  if (out_off == out_len) out_off = out_len = 0;
  else if (out_off > out_cap / 2) {
    memmove(out, out + out_off, out_len - out_off);
    out_len -= out_off;
    out_off = 0;
  }
  return 0;
}

static void put(const char *s, size_t n) {
  if (event_dropped) return;
  if (out_len + n > out_cap) {
    size_t cap = out_cap ? out_cap : 1u << 16;
    while (cap < out_len + n) cap *= 2;
    char *bigger = cap <= OUT_MAX ? realloc(out, cap) : NULL;
    if (!bigger) { event_dropped = 1; out_len = event_start; return; }
    out = bigger;
    out_cap = cap;
  }
  memcpy(out + out_len, s, n);
  out_len += n;
}

static void begin_event(void) { event_start = out_len; event_dropped = 0; }
static void end_event(void) { if (event_dropped) { out_dropped++; event_dropped = 0; } }

static void puts_(const char *s) { put(s, strlen(s)); }

static void putu(unsigned long long v) {
  char b[24];
  int n = snprintf(b, sizeof b, "%llu", v);
  put(b, (size_t)n);
}

/* A JSON string; bytes >= 0x80 pass through (the agent decodes UTF-8), controls are escaped. */
static void putstr(const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  put("\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') { char e[2] = {'\\', (char)c}; put(e, 2); }
    else if (c < 0x20 || c == 0x7f) { char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}; put(e, 6); }
    else put((const char *)&c, 1);
  }
  put("\"", 1);
}

/* Reads a small /proc file; returns its length, or -1. */
static ssize_t read_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  while (n < cap) {
    ssize_t got = read(fd, buf + n, cap - n);
    if (got < 0) { if (errno == EINTR) continue; close(fd); return -1; }
    if (got == 0) break;
    n += (size_t)got;
  }
  close(fd);
  return (ssize_t)n;
}

struct procinfo {
  char cmd[CMD_MAX];
  size_t cmd_len;
  char exe[4096];
  ssize_t exe_len;
  char comm[64];
  int has_comm;
  long ppid;
  long uid;
  int gone;
};

/* What /proc says about pid now. Fields that can no longer be read stay empty (-1). */
static void read_proc(int pid, struct procinfo *p) {
  char path[64];
  char status[4096];
  p->cmd_len = 0;
  p->exe_len = -1;
  p->has_comm = 0;
  p->ppid = -1;
  p->uid = -1;
  p->gone = 0;
  snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
  ssize_t n = read_file(path, p->cmd, sizeof p->cmd);
  if (n < 0) p->gone = 1;
  else {
    while (n > 0 && p->cmd[n - 1] == 0) n--;
    for (ssize_t i = 0; i < n; i++) if (p->cmd[i] == 0) p->cmd[i] = ' ';
    p->cmd_len = (size_t)n;
  }
  snprintf(path, sizeof path, "/proc/%d/exe", pid);
  p->exe_len = readlink(path, p->exe, sizeof p->exe - 1);
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  n = read_file(path, status, sizeof status - 1);
  if (n < 0) { p->gone = 1; return; }
  status[n] = 0;
  char *s = strstr(status, "\nUid:");
  if (s) p->uid = strtol(s + 5, NULL, 10);
  s = strstr(status, "\nPPid:");
  if (s) p->ppid = strtol(s + 6, NULL, 10);
  if (strncmp(status, "Name:\t", 6) == 0) {
    char *e = strchr(status + 6, '\n');
    size_t len = e ? (size_t)(e - status - 6) : 0;
    if (len >= sizeof p->comm) len = sizeof p->comm - 1;
    memcpy(p->comm, status + 6, len);
    p->comm[len] = 0;
    p->has_comm = 1;
  }
  /* A zombie (exited, not yet reaped) keeps its status but has no command line or executable. */
  if (strstr(status, "\nState:\tZ") || (p->cmd_len == 0 && p->exe_len < 0)) p->gone = 1;
}

static void emit_process(const char *type, int pid, long ppid, const struct procinfo *p) {
  begin_event();
  puts_("{\"ev\":\""); puts_(type); puts_("\",\"pid\":"); putu((unsigned)pid);
  puts_(",\"ppid\":");
  if (ppid >= 0) putu((unsigned long long)ppid); else puts_("null");
  puts_(",\"uid\":");
  if (p->uid >= 0) putu((unsigned long long)p->uid); else puts_("null");
  puts_(",\"cmd\":"); putstr(p->cmd, p->cmd_len);
  if (p->exe_len > 0) { puts_(",\"exe\":"); putstr(p->exe, (size_t)p->exe_len); }
  if (p->has_comm) { puts_(",\"comm\":"); putstr(p->comm, strlen(p->comm)); }
  puts_(p->gone ? ",\"gone\":true}\n" : ",\"gone\":false}\n");
  end_event();
}

static void on_proc_event(const struct proc_event *ev);

static int open_proc_connector(char *err, size_t errcap) {
  int fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd < 0) { snprintf(err, errcap, "netlink connector socket: %s", strerror(errno)); return -1; }
  int big = SOCK_BUF_BYTES;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC, .nl_pid = 0};
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    snprintf(err, errcap, "process connector bind: %s", strerror(errno));
    close(fd);
    return -1;
  }
  struct {
    struct nlmsghdr nl;
    struct cn_msg cn;
    enum proc_cn_mcast_op op;
  } __attribute__((packed)) req;
  memset(&req, 0, sizeof req);
  req.nl.nlmsg_len = sizeof req;
  req.nl.nlmsg_type = NLMSG_DONE;
  req.nl.nlmsg_pid = (unsigned)getpid();
  req.cn.id.idx = CN_IDX_PROC;
  req.cn.id.val = CN_VAL_PROC;
  req.cn.len = sizeof req.op;
  req.op = PROC_CN_MCAST_LISTEN;
  if (send(fd, &req, sizeof req, 0) < 0) {
    snprintf(err, errcap, "process connector listen: %s", strerror(errno));
    close(fd);
    return -1;
  }
  /* The kernel answers the request with an acknowledgement event (PROC_EVENT_NONE) carrying an
     error code; a kernel that refuses an unprivileged listener says EPERM there, not in send(). */
  static char buf[8192] __attribute__((aligned(8)));
  struct pollfd p = {.fd = fd, .events = POLLIN};
  while (poll(&p, 1, 500) > 0) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    int acked = 0;
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned)n); nh = NLMSG_NEXT(nh, n)) {
      struct cn_msg *cn = NLMSG_DATA(nh);
      const struct proc_event *ev = (const struct proc_event *)cn->data;
      if (cn->id.idx != CN_IDX_PROC) continue;
      if (ev->what != PROC_EVENT_NONE) { on_proc_event(ev); continue; }
      if (ev->event_data.ack.err != 0) {
        snprintf(err, errcap, "process connector listen: %s", strerror((int)ev->event_data.ack.err));
        close(fd);
        return -1;
      }
      acked = 1;
    }
    if (acked) break;
  }
  return fd;
}

static int open_sock_diag(char *err, size_t errcap) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) { snprintf(err, errcap, "sock_diag socket: %s", strerror(errno)); return -1; }
  int big = SOCK_BUF_BYTES;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  sa.nl_groups = (1u << (SKNLGRP_INET_TCP_DESTROY - 1)) | (1u << (SKNLGRP_INET_UDP_DESTROY - 1)) |
                 (1u << (SKNLGRP_INET6_TCP_DESTROY - 1)) | (1u << (SKNLGRP_INET6_UDP_DESTROY - 1));
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    snprintf(err, errcap, "socket-destroy groups bind: %s", strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

static void on_proc_event(const struct proc_event *ev) {
  struct procinfo p;
  switch (ev->what) {
  case PROC_EVENT_EXEC: {
    int pid = ev->event_data.exec.process_tgid;
    if (ev->event_data.exec.process_pid != pid) return;
    read_proc(pid, &p);
    emit_process("exec", pid, p.ppid, &p);
    break;
  }
  case PROC_EVENT_FORK: {
    /* A new thread is not a new process. The child runs its parent's program until it execs:
       read the parent, whose command line cannot change under us as the child's may. */
    int child = ev->event_data.fork.child_tgid;
    if (ev->event_data.fork.child_pid != child) return;
    int parent = ev->event_data.fork.parent_tgid;
    read_proc(parent, &p);
    emit_process("fork", child, parent, &p);
    break;
  }
  default:
    break;
  }
}

#define BATCH 256

/* Takes what the kernel queued (up to BATCH events), then reads the execs first: an exec'd
   program may exit within a millisecond, while a fork is read from its (longer-lived) parent. */
static void drain_proc(int fd) {
  static char buf[RECV_BYTES] __attribute__((aligned(8)));
  static struct proc_event batch[BATCH];
  for (;;) {
    int count = 0, more = 1;
    while (count < BATCH) {
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == ENOBUFS) { begin_event(); puts_("{\"ev\":\"lost\",\"source\":\"proc\"}\n"); end_event(); continue; }
        more = 0; /* EAGAIN: drained */
        break;
      }
      for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned)n) && count < BATCH; nh = NLMSG_NEXT(nh, n)) {
        if (nh->nlmsg_type == NLMSG_NOOP || nh->nlmsg_type == NLMSG_ERROR) continue;
        struct cn_msg *cn = NLMSG_DATA(nh);
        if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC) continue;
        const struct proc_event *ev = (const struct proc_event *)cn->data;
        if (ev->what == PROC_EVENT_EXEC || ev->what == PROC_EVENT_FORK) memcpy(&batch[count++], ev, sizeof *ev);
      }
    }
    for (int i = 0; i < count; i++) if (batch[i].what == PROC_EVENT_EXEC) on_proc_event(&batch[i]);
    for (int i = 0; i < count; i++) if (batch[i].what == PROC_EVENT_FORK) on_proc_event(&batch[i]);
    if (!more) return;
  }
}

/* An address as hex bytes in network order (8 digits for IPv4, 32 for IPv6). */
static void put_addr(int family, const __be32 *a) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *b = (const unsigned char *)a;
  int n = family == AF_INET ? 4 : 16;
  char s[34];
  s[0] = '"';
  for (int i = 0; i < n; i++) { s[1 + 2 * i] = hex[b[i] >> 4]; s[2 + 2 * i] = hex[b[i] & 15]; }
  s[1 + 2 * n] = '"';
  put(s, (size_t)(2 + 2 * n));
}

static void on_destroy(const struct inet_diag_msg *m, size_t len) {
  int proto = -1;
  const struct tcp_info *ti = NULL;
  size_t ti_len = 0;
  const struct rtattr *a = (const struct rtattr *)(m + 1);
  size_t left = len - NLMSG_ALIGN(sizeof *m);
  for (; RTA_OK(a, left); a = RTA_NEXT(a, left)) {
    if (a->rta_type == INET_DIAG_PROTOCOL) proto = *(const uint8_t *)RTA_DATA(a);
    else if (a->rta_type == INET_DIAG_INFO) { ti = RTA_DATA(a); ti_len = RTA_PAYLOAD(a); }
  }
  if (proto != IPPROTO_TCP && proto != IPPROTO_UDP) return;
  if (m->idiag_family != AF_INET && m->idiag_family != AF_INET6) return;
  /* A TCP socket that never had a peer (a listener, or one closed before connecting) is no connection. */
  if (proto == IPPROTO_TCP && m->id.idiag_dport == 0) return;
  unsigned long long in = 0, out = 0;
  int bytes = 0;
  if (proto == IPPROTO_TCP && ti &&
      ti_len >= offsetof(struct tcp_info, tcpi_bytes_retrans) + sizeof ti->tcpi_bytes_retrans) {
    /* The kernel counts a received FIN in bytes_received (it advances rcv_nxt by one); the
       destroy message cannot say whether one came, so one is assumed: exact for every connection
       that ended normally, one byte short for one that received data and then was reset. */
    in = ti->tcpi_bytes_received > 0 ? ti->tcpi_bytes_received - 1 : 0;
    out = ti->tcpi_bytes_sent >= ti->tcpi_bytes_retrans ? ti->tcpi_bytes_sent - ti->tcpi_bytes_retrans : 0;
    bytes = 1;
  }
  begin_event();
  puts_("{\"ev\":\"conn\",\"proto\":\""); puts_(proto == IPPROTO_TCP ? "tcp" : "udp");
  puts_("\",\"state\":"); putu(m->idiag_state);
  puts_(",\"local\":"); put_addr(m->idiag_family, m->id.idiag_src);
  puts_(",\"lport\":"); putu(ntohs(m->id.idiag_sport));
  puts_(",\"remote\":"); put_addr(m->idiag_family, m->id.idiag_dst);
  puts_(",\"rport\":"); putu(ntohs(m->id.idiag_dport));
  puts_(",\"bytesIn\":"); putu(in);
  puts_(",\"bytesOut\":"); putu(out);
  puts_(bytes ? ",\"bytes\":true}\n" : ",\"bytes\":false}\n");
  end_event();
}

static void drain_sock(int fd) {
  static char buf[RECV_BYTES] __attribute__((aligned(8)));
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == ENOBUFS) { begin_event(); puts_("{\"ev\":\"lost\",\"source\":\"sock\"}\n"); end_event(); continue; }
      return;
    }
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned)n); nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) continue;
      on_destroy(NLMSG_DATA(nh), nh->nlmsg_len - NLMSG_HDRLEN);
    }
  }
}

int main(int argc, char **argv) {
  int want_proc = 0, want_sock = 0, rt = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--proc") == 0) want_proc = 1;
    else if (strcmp(argv[i], "--sock") == 0) want_sock = 1;
    else if (strcmp(argv[i], "--no-rt") == 0) rt = 0;
    else { fprintf(stderr, "microtally-events: unknown argument %s\n", argv[i]); return 2; }
  }
  if (!want_proc && !want_sock) want_proc = want_sock = 1;
  signal(SIGPIPE, SIG_IGN);
  /* Run before ordinary tasks when woken, so a process that lives a millisecond is read before it
     is gone. The work per event is bounded, and the kernel's real-time throttling still applies. */
  if (rt) {
    struct sched_param sp = {.sched_priority = 1};
    sched_setscheduler(0, SCHED_FIFO, &sp);
  }
  char perr[256] = "not requested", serr[256] = "not requested";
  int pfd = want_proc ? open_proc_connector(perr, sizeof perr) : -1;
  int sfd = want_sock ? open_sock_diag(serr, sizeof serr) : -1;
  begin_event();
  puts_("{\"ev\":\"ready\",\"proc\":");
  if (pfd >= 0) puts_("\"ok\""); else putstr(perr, strlen(perr));
  puts_(",\"sock\":");
  if (sfd >= 0) puts_("\"ok\""); else putstr(serr, strlen(serr));
  puts_(",\"rt\":");
  puts_(sched_getscheduler(0) == SCHED_FIFO ? "true}\n" : "false}\n");
  if (flush_out() < 0) return 0;
  if (pfd < 0 && sfd < 0) return 1;
  fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
  struct pollfd fds[3] = {{.fd = pfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}, {.fd = 1, .events = 0}};
  unsigned long long reported = 0;
  for (;;) {
    fds[2].events = out_len > out_off ? POLLOUT : 0;
    int r = poll(fds, 3, -1);
    if (r < 0) { if (errno == EINTR) continue; return 1; }
    if (fds[2].revents & (POLLERR | POLLHUP)) return 0; /* the agent closed our stdout */
    if (fds[0].revents) drain_proc(pfd);
    if (fds[1].revents) drain_sock(sfd);
    if (out_dropped != reported) {
      begin_event();
      puts_("{\"ev\":\"lost\",\"source\":\"output\",\"n\":");
      putu(out_dropped - reported);
      puts_("}\n");
      if (!event_dropped) reported = out_dropped;
      event_dropped = 0;
    }
    if (flush_out() < 0) return 0;
  }
}
