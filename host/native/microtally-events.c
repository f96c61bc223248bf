/*
 * microtally-events: the live agent's kernel event source (Linux). Node has no netlink sockets,
 * so this small program listens where the kernel announces what happens and writes one JSON
 * object per line on stdout, which the agent reads:
 *
 *   - execs from an eBPF probe (microtally-exec.bpf.c, next to this program, loaded with libbpf
 *     when built with MT_WITH_BPF): the kernel hands over the new command line, executable,
 *     parent and user at the exec itself, so a process that exits a microsecond later is reported
 *     whole; a second exec in the same pid is another event.
 *   - the process connector (NETLINK_CONNECTOR, CN_IDX_PROC): every fork, and every exec when
 *     the probe cannot be used. Then the command line, executable and user are read from /proc
 *     at once (this program runs at a real-time priority when it may); a process already gone is
 *     reported with what could be read and "gone":true, never dropped.
 *   - socket-destroy notifications (NETLINK_SOCK_DIAG multicast groups, what `ss -E` shows):
 *     every TCP and UDP socket of IPv4 and IPv6 as it is freed, with the kernel's TCP byte
 *     counters (struct tcp_info). UDP sockets come with addresses only: the kernel keeps no
 *     per-socket UDP byte counts.
 *
 * usage: microtally-events [--proc] [--sock] [--no-rt] [--no-bpf] [--host-pid N]   (neither --proc nor --sock: both)
 *   --host-pid: the process whose mount namespace is the host's (default 1, init; see "mntns")
 * Output lines:
 *   {"ev":"ready","proc":"ok"|"<error>","exec":"bpf"|"<why not>","sock":"ok"|"<error>","rt":B}   once
 *   {"ev":"exec"|"fork","t":MS,"pid":N,"ppid":N,"uid":N,"cmd":"…","exe":"…","comm":"…","mntns":N,"gone":B}
 *        "mntns" only when the process runs in another mount namespace than the host's (init's, or
 *        this program's when init's cannot be read) and its executable's path does not name the
 *        same file there (inode and file system): the path is then the other namespace's, and
 *        must not be taken for the host's file of that name.
 *   {"ev":"conn","t":MS,"proto":"tcp"|"udp","state":N,"local":"<hex>","lport":N,"remote":"<hex>","rport":N,
 *    "bytesIn":N,"bytesOut":N,"bytes":B}
 *   {"ev":"mark","t":MS}  every event the kernel handed over before MS is on an earlier line
 *        (the first right after "ready", then at least every MARK_MS, so a reader knows how far
 *        the events go)
 * MS: milliseconds since the epoch, from the kernel's own clock at the event (the exec probe's
 * and the process connector's timestamps; for a socket, when this program read it: the kernel
 * stamps none), converted to wall-clock time with one offset measured at start.
 *   {"ev":"lost","source":"proc"|"sock","n":N}  the kernel dropped events (a receive queue or the
 *                                               probe's ring buffer overflowed; N when known)
 *   {"ev":"lost","source":"output","n":N,"sock":M}  N events dropped because the agent read too
 *                                               slowly, M of them connections
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#ifdef MT_WITH_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <libgen.h>
#include <limits.h>
#include <linux/types.h>
#include "microtally-exec.h"
#endif

#define CMD_MAX 4096
#define MARK_MS 250
#define RECV_BYTES (256 * 1024)
#define SOCK_BUF_BYTES (8 * 1024 * 1024)

/* Output waits here while the agent is busy: a blocked write would leave the kernel's events
   queued, and the processes they name would exit before they are read. Past OUT_MAX bytes
   whole events are dropped and counted. */
#define OUT_MAX (64u << 20)
static char *out;
static size_t out_len, out_off, out_cap;
static unsigned long long out_dropped, out_dropped_sock;
static size_t event_start; /* out_len when the current event began */
static int event_dropped;
static int
    event_is_sock; /* the current event is a connection (its loss is the network collector's) */
static int unknown_lost_proc, unknown_lost_sock; /* a receive queue overflowed: a notice is due */

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
  if (out_off == out_len)
    out_off = out_len = 0;
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
    if (!bigger) {
      event_dropped = 1;
      out_len = event_start;
      return;
    }
    out = bigger;
    out_cap = cap;
  }
  memcpy(out + out_len, s, n);
  out_len += n;
}

/* The events written since the current wake began, with their times: the sources are drained one
   after the other (after a stall each holds seconds of events), and the agent needs them in time
   order, so they are put in order before they go out (sort_wake). */
struct event_ref {
  unsigned long long t;
  size_t start, len;
};
static struct event_ref *refs;
static size_t nrefs, refs_cap;
static unsigned long long
    event_t; /* the current event's time; an untimed event keeps the last one */

static int
    event_is_notice; /* the current line is no event (a mark, a loss notice): its loss loses none */
static void begin_event(void) {
  event_start = out_len;
  event_dropped = 0;
  event_is_sock = 0;
  event_is_notice = 0;
}
static void begin_notice(void) {
  begin_event();
  event_is_notice = 1;
}
static void event_at(unsigned long long t_ms) { event_t = t_ms; }
static void end_event(void) {
  if (event_dropped) {
    if (!event_is_notice) {
      out_dropped++;
      out_dropped_sock += (unsigned long long)event_is_sock;
    }
    event_dropped = 0;
    return;
  }
  if (nrefs == refs_cap) {
    size_t cap = refs_cap ? refs_cap * 2 : 1024;
    struct event_ref *bigger = realloc(refs, cap * sizeof *refs);
    if (!bigger) return; /* then this wake is left as written */
    refs = bigger;
    refs_cap = cap;
  }
  refs[nrefs++] = (struct event_ref){event_t, event_start, out_len - event_start};
}

static int by_time(const void *a, const void *b) {
  const struct event_ref *x = a, *y = b;
  if (x->t != y->t) return x->t < y->t ? -1 : 1;
  return x->start < y->start ? -1 : x->start > y->start; /* as written, among equal times */
}

/* Rewrites this wake's events in time order (when they are not already, and all were recorded). */
static void sort_wake(size_t wake_start) {
  int sorted = 1;
  for (size_t i = 1; i < nrefs && sorted; i++) sorted = refs[i - 1].t <= refs[i].t;
  if (sorted || nrefs == 0 || refs[0].start != wake_start) return;
  size_t total = out_len - wake_start, at = 0;
  for (size_t i = 0; i < nrefs; i++) at += refs[i].len;
  char *tmp = at == total ? malloc(total) : NULL;
  if (!tmp) return;
  qsort(refs, nrefs, sizeof *refs, by_time);
  at = 0;
  for (size_t i = 0; i < nrefs; i++) {
    memcpy(tmp + at, out + refs[i].start, refs[i].len);
    at += refs[i].len;
  }
  memcpy(out + wake_start, tmp, total);
  free(tmp);
}

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
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      put(e, 2);
    } else if (c < 0x20 || c == 0x7f) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      put(e, 6);
    } else
      put((const char *)&c, 1);
  }
  put("\"", 1);
}

static unsigned long long clock_ns(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

/* CLOCK_REALTIME − CLOCK_BOOTTIME, measured at start and again at every wake (the wall clock may be
   stepped, e.g. by NTP after boot): event times are the kernel's, taken at the event, and a clock
   reading later (when the agent gets to them) would be late by the delay. */
static long long real_minus_boot;

static void measure_clock_offset(void) {
  unsigned long long best = ~0ull;
  for (int i = 0; i < 5; i++) {
    unsigned long long b0 = clock_ns(CLOCK_BOOTTIME), r = clock_ns(CLOCK_REALTIME),
                       b1 = clock_ns(CLOCK_BOOTTIME);
    if (b1 - b0 < best) {
      best = b1 - b0;
      real_minus_boot = (long long)(r - (b0 + (b1 - b0) / 2));
    }
  }
}

/* A CLOCK_BOOTTIME reading as wall-clock milliseconds. */
static unsigned long long boot_to_ms(unsigned long long boot_ns) {
  return (unsigned long long)((long long)boot_ns + real_minus_boot) / 1000000ull;
}

/* A CLOCK_MONOTONIC reading (the process connector's) as CLOCK_BOOTTIME: they differ by the time
   spent suspended, which changes only across a suspend. */
static unsigned long long mono_to_boot(unsigned long long mono_ns) {
  unsigned long long b = clock_ns(CLOCK_BOOTTIME), m = clock_ns(CLOCK_MONOTONIC);
  return mono_ns + (b > m ? b - m : 0);
}

/* The host's mount namespace (the inode /proc/<pid>/ns/mnt names; 0 when unknown): init's when it
   can be read, so an agent sandboxed in its own (systemd's PrivateTmp=, ProtectSystem=) still
   takes the host's paths for the host's; else this program's. Paths are looked up in it through
   host_root. */
static unsigned long long host_mnt_ns;
static char host_root[64];

static unsigned long long mnt_ns_of(const char *ns_path) {
  struct stat st;
  return stat(ns_path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* The namespace to report with an executable (see "mntns" above): 0 when the process is in the
   host's mount namespace (or it cannot be told), or when its path names the same file there. */
static unsigned long long foreign_mnt_ns(unsigned long long ns, const char *exe, ssize_t exe_len,
                                         unsigned maj, unsigned min, unsigned long long ino,
                                         int have_id) {
  if (exe_len <= 0 || ns == 0 || host_mnt_ns == 0 || ns == host_mnt_ns)
    return 0; /* no path: nothing to borrow */
  char path[4096 + 16];
  struct stat st;
  if (have_id && exe_len > 0 && (size_t)exe_len < 4096) {
    snprintf(path, sizeof path, "%s%.*s", host_root, (int)exe_len, exe);
    if (stat(path, &st) == 0 && st.st_ino == ino && major(st.st_dev) == maj &&
        minor(st.st_dev) == min)
      return 0;
  }
  return ns;
}

/* Reads a small /proc file; returns its length, or -1. */
static ssize_t read_file(const char *path, char *buf, size_t cap) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t n = 0;
  while (n < cap) {
    ssize_t got = read(fd, buf + n, cap - n);
    if (got < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return -1;
    }
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
  unsigned long long t_ms; /* when it happened */
  unsigned long long
      mnt_ns; /* nonzero: the foreign mount namespace its executable's path belongs to */
};

/* An argument area (NUL-separated, as /proc/<pid>/cmdline and the probe give it) as one line:
 * trailing NULs dropped, the others made spaces. Returns its length. */
static size_t argv_to_line(char *a, size_t n) {
  while (n > 0 && a[n - 1] == 0) n--;
  for (size_t i = 0; i < n; i++)
    if (a[i] == 0) a[i] = ' ';
  return n;
}

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
  if (n < 0)
    p->gone = 1;
  else {
    p->cmd_len = argv_to_line(p->cmd, (size_t)n);
  }
  snprintf(path, sizeof path, "/proc/%d/exe", pid);
  p->exe_len = readlink(path, p->exe, sizeof p->exe - 1);
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  n = read_file(path, status, sizeof status - 1);
  if (n < 0) {
    p->gone = 1;
    return;
  }
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
  p->mnt_ns = 0;
  if (p->exe_len > 0) {
    struct stat img;
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    int have_id = stat(path, &img) == 0;
    snprintf(path, sizeof path, "/proc/%d/ns/mnt", pid);
    p->mnt_ns = foreign_mnt_ns(mnt_ns_of(path), p->exe, p->exe_len, have_id ? major(img.st_dev) : 0,
                               have_id ? minor(img.st_dev) : 0,
                               have_id ? (unsigned long long)img.st_ino : 0, have_id);
  }
}

static void emit_process(const char *type, int pid, long ppid, const struct procinfo *p) {
  begin_event();
  event_at(p->t_ms);
  puts_("{\"ev\":\"");
  puts_(type);
  puts_("\",\"t\":");
  putu(p->t_ms);
  puts_(",\"pid\":");
  putu((unsigned)pid);
  puts_(",\"ppid\":");
  if (ppid >= 0)
    putu((unsigned long long)ppid);
  else
    puts_("null");
  puts_(",\"uid\":");
  if (p->uid >= 0)
    putu((unsigned long long)p->uid);
  else
    puts_("null");
  puts_(",\"cmd\":");
  putstr(p->cmd, p->cmd_len);
  if (p->exe_len > 0) {
    puts_(",\"exe\":");
    putstr(p->exe, (size_t)p->exe_len);
  }
  if (p->has_comm) {
    puts_(",\"comm\":");
    putstr(p->comm, strlen(p->comm));
  }
  if (p->mnt_ns) {
    puts_(",\"mntns\":");
    putu(p->mnt_ns);
  }
  puts_(p->gone ? ",\"gone\":true}\n" : ",\"gone\":false}\n");
  end_event();
}

static void on_proc_event(const struct proc_event *ev);

static int open_proc_connector(char *err, size_t errcap) {
  int fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd < 0) {
    snprintf(err, errcap, "netlink connector socket: %s", strerror(errno));
    return -1;
  }
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
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned)n);
         nh = NLMSG_NEXT(nh, n)) {
      struct cn_msg *cn = NLMSG_DATA(nh);
      const struct proc_event *ev = (const struct proc_event *)cn->data;
      if (cn->id.idx != CN_IDX_PROC) continue;
      if (ev->what != PROC_EVENT_NONE) {
        on_proc_event(ev);
        continue;
      }
      if (ev->event_data.ack.err != 0) {
        snprintf(err, errcap, "process connector listen: %s",
                 strerror((int)ev->event_data.ack.err));
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
  if (fd < 0) {
    snprintf(err, errcap, "sock_diag socket: %s", strerror(errno));
    return -1;
  }
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

/* Set when the exec probe runs: the connector's exec events are then left to it. */
static int exec_from_bpf;

static void on_proc_event(const struct proc_event *ev) {
  struct procinfo p;
  switch (ev->what) {
    case PROC_EVENT_EXEC: {
      if (exec_from_bpf) return;
      int pid = ev->event_data.exec.process_tgid;
      if (ev->event_data.exec.process_pid != pid) return;
      read_proc(pid, &p);
      p.t_ms = boot_to_ms(mono_to_boot(ev->timestamp_ns));
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
      p.t_ms = boot_to_ms(mono_to_boot(ev->timestamp_ns));
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
        if (errno == ENOBUFS) {
          unknown_lost_proc = 1;
          continue;
        }         /* said after the wake's events */
        more = 0; /* EAGAIN: drained */
        break;
      }
      for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned)n) && count < BATCH;
           nh = NLMSG_NEXT(nh, n)) {
        if (nh->nlmsg_type == NLMSG_NOOP || nh->nlmsg_type == NLMSG_ERROR) continue;
        struct cn_msg *cn = NLMSG_DATA(nh);
        if (cn->id.idx != CN_IDX_PROC || cn->id.val != CN_VAL_PROC) continue;
        const struct proc_event *ev = (const struct proc_event *)cn->data;
        if (ev->what == PROC_EVENT_EXEC || ev->what == PROC_EVENT_FORK)
          memcpy(&batch[count++], ev, sizeof *ev);
      }
    }
    for (int i = 0; i < count; i++)
      if (batch[i].what == PROC_EVENT_EXEC) on_proc_event(&batch[i]);
    for (int i = 0; i < count; i++)
      if (batch[i].what == PROC_EVENT_FORK) on_proc_event(&batch[i]);
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
  for (int i = 0; i < n; i++) {
    s[1 + 2 * i] = hex[b[i] >> 4];
    s[2 + 2 * i] = hex[b[i] & 15];
  }
  s[1 + 2 * n] = '"';
  put(s, (size_t)(2 + 2 * n));
}

static void on_destroy(const struct inet_diag_msg *m, size_t len, unsigned long long t_ms) {
  int proto = -1;
  const struct tcp_info *ti = NULL;
  size_t ti_len = 0;
  const struct rtattr *a = (const struct rtattr *)(m + 1);
  size_t left = len - NLMSG_ALIGN(sizeof *m);
  for (; RTA_OK(a, left); a = RTA_NEXT(a, left)) {
    if (a->rta_type == INET_DIAG_PROTOCOL)
      proto = *(const uint8_t *)RTA_DATA(a);
    else if (a->rta_type == INET_DIAG_INFO) {
      ti = RTA_DATA(a);
      ti_len = RTA_PAYLOAD(a);
    }
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
    out = ti->tcpi_bytes_sent >= ti->tcpi_bytes_retrans
              ? ti->tcpi_bytes_sent - ti->tcpi_bytes_retrans
              : 0;
    bytes = 1;
  }
  begin_event();
  event_is_sock = 1;
  event_at(t_ms);
  puts_("{\"ev\":\"conn\",\"t\":");
  putu(t_ms);
  puts_(",\"proto\":\"");
  puts_(proto == IPPROTO_TCP ? "tcp" : "udp");
  puts_("\",\"state\":");
  putu(m->idiag_state);
  puts_(",\"local\":");
  put_addr(m->idiag_family, m->id.idiag_src);
  puts_(",\"lport\":");
  putu(ntohs(m->id.idiag_sport));
  puts_(",\"remote\":");
  put_addr(m->idiag_family, m->id.idiag_dst);
  puts_(",\"rport\":");
  putu(ntohs(m->id.idiag_dport));
  puts_(",\"bytesIn\":");
  putu(in);
  puts_(",\"bytesOut\":");
  putu(out);
  puts_(bytes ? ",\"bytes\":true}\n" : ",\"bytes\":false}\n");
  end_event();
}

static void drain_sock(int fd) {
  static char buf[RECV_BYTES] __attribute__((aligned(8)));
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    /* The kernel stamps no time on these messages: the time they are read (at once, at a real-time
       priority) is the closest there is. */
    unsigned long long t_ms = boot_to_ms(clock_ns(CLOCK_BOOTTIME));
    if (n < 0) {
      if (errno == ENOBUFS) {
        unknown_lost_sock = 1;
        continue;
      } /* said after the wake's events */
      return;
    }
    for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (unsigned)n);
         nh = NLMSG_NEXT(nh, n)) {
      if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
      if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) continue;
      on_destroy(NLMSG_DATA(nh), nh->nlmsg_len - NLMSG_HDRLEN, t_ms);
    }
  }
}

#ifdef MT_WITH_BPF
static struct ring_buffer *exec_rb;
static int exec_lost_fd = -1;
static unsigned long long exec_lost_reported;
static char libbpf_last[256]; /* libbpf's last warning: says why a load failed */

static int libbpf_note(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (level == LIBBPF_WARN) {
    vsnprintf(libbpf_last, sizeof libbpf_last, fmt, ap);
    libbpf_last[strcspn(libbpf_last, "\n")] = 0;
  }
  return 0;
}

/* Whether path names the file the probe saw as the new image (inode and file system). */
static int is_exec_image(const char *path, const struct mt_exec_event *e) {
  struct stat st;
  return stat(path, &st) == 0 && st.st_ino == e->exe_ino &&
         major(st.st_dev) == (e->exe_dev >> 20) && minor(st.st_dev) == (e->exe_dev & 0xfffff);
}

/* The executable's path: /proc/<pid>/exe while it still names the image the probe saw (the process
   may have exited, or exec'd again), else the path the exec was given, resolved here. */
static void exec_image_path(const struct mt_exec_event *e, struct procinfo *p) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%u/exe", e->pid);
  if (is_exec_image(path, e)) {
    p->exe_len = readlink(path, p->exe, sizeof p->exe - 1);
    if (p->exe_len > 0) return;
  }
  char real[PATH_MAX];
  size_t flen = e->file_len < sizeof e->file ? e->file_len : sizeof e->file - 1;
  char file[sizeof e->file];
  memcpy(file, e->file, flen);
  file[flen] = 0;
  const char *use =
      e->file[0] == '/' && realpath(file, real) && is_exec_image(real, e) ? real : file;
  size_t n = strlen(use);
  if (n >= sizeof p->exe) n = sizeof p->exe - 1;
  memcpy(p->exe, use, n);
  p->exe_len = (ssize_t)n;
}

static int on_exec_event(void *ctx, void *data, size_t size) {
  (void)ctx;
  static struct procinfo p;
  const struct mt_exec_event *e = data;
  size_t head = offsetof(struct mt_exec_event, args);
  if (size < head) return 0;
  size_t n = e->args_len < size - head ? e->args_len : size - head;
  if (n > sizeof p.cmd) n = sizeof p.cmd;
  memcpy(p.cmd, e->args, n);
  p.cmd_len = argv_to_line(p.cmd, n);
  size_t c = strnlen(e->comm, sizeof e->comm);
  if (c >= sizeof p.comm) c = sizeof p.comm - 1;
  memcpy(p.comm, e->comm, c);
  p.comm[c] = 0;
  p.has_comm = 1;
  p.uid = e->uid;
  p.ppid = e->ppid;
  p.t_ms = boot_to_ms(e->boot_ns);
  exec_image_path(e, &p);
  p.mnt_ns = foreign_mnt_ns(e->mnt_ns, p.exe, p.exe_len, e->exe_dev >> 20, e->exe_dev & 0xfffff,
                            e->exe_ino, 1);
  p.gone = 0; /* all of it came from the kernel at the exec */
  emit_process("exec", (int)e->pid, p.ppid, &p);
  return 0;
}

/* Loads and attaches the probe; returns the descriptor to poll, or -1 with the reason in err. */
static int open_exec_probe(char *err, size_t errcap) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    snprintf(err, errcap, "cannot find this program: %s", strerror(errno));
    return -1;
  }
  self[n] = 0;
  char obj_path[PATH_MAX + 32];
  snprintf(obj_path, sizeof obj_path, "%s/microtally-exec.bpf.o", dirname(self));
  libbpf_set_print(libbpf_note);
  struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
  if (!obj) {
    snprintf(err, errcap, "exec probe %.300s: %s", obj_path, strerror(errno));
    return -1;
  }
  int rc = bpf_object__load(obj);
  struct bpf_program *prog = rc ? NULL : bpf_object__find_program_by_name(obj, "mt_on_exec");
  struct bpf_link *link = prog ? bpf_program__attach(prog) : NULL;
  int events = link ? bpf_object__find_map_fd_by_name(obj, "mt_events") : -1;
  exec_rb = events >= 0 ? ring_buffer__new(events, on_exec_event, NULL, NULL) : NULL;
  if (!exec_rb) {
    int code = errno;
    snprintf(err, errcap, "exec probe: %s%s%s", rc ? "load: " : "attach: ", strerror(code),
             libbpf_last[0] ? " (" : "");
    if (libbpf_last[0]) {
      size_t used = strlen(err);
      snprintf(err + used, errcap - used, "%s)", libbpf_last);
    }
    bpf_link__destroy(link);
    bpf_object__close(obj);
    return -1;
  }
  exec_lost_fd = bpf_object__find_map_fd_by_name(obj, "mt_lost");
  return ring_buffer__epoll_fd(exec_rb);
}

/* Execs the probe could not hand over (ring buffer full), summed over CPUs, not yet reported. */
static unsigned long long exec_lost_new(void) {
  int cpus = libbpf_num_possible_cpus();
  if (exec_lost_fd < 0 || cpus <= 0 || cpus > 4096) return 0;
  __u64 per_cpu[cpus];
  __u32 zero = 0;
  if (bpf_map_lookup_elem(exec_lost_fd, &zero, per_cpu) != 0) return 0;
  unsigned long long sum = 0;
  for (int i = 0; i < cpus; i++) sum += per_cpu[i];
  unsigned long long fresh = sum - exec_lost_reported;
  exec_lost_reported = sum;
  return fresh;
}
#endif

int main(int argc, char **argv) {
  int want_proc = 0, want_sock = 0, rt = 1, bpf = 1, host_pid = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--proc") == 0)
      want_proc = 1;
    else if (strcmp(argv[i], "--sock") == 0)
      want_sock = 1;
    else if (strcmp(argv[i], "--no-rt") == 0)
      rt = 0;
    else if (strcmp(argv[i], "--no-bpf") == 0)
      bpf = 0;
    else if (strcmp(argv[i], "--host-pid") == 0 && i + 1 < argc && atoi(argv[i + 1]) > 0)
      host_pid = atoi(argv[++i]);
    else {
      fprintf(stderr, "microtally-events: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (!want_proc && !want_sock) want_proc = want_sock = 1;
  signal(SIGPIPE, SIG_IGN);
  /* `systemctl kill -s HUP` (log rotation) reaches every process of the service: a reload of the
     agent's, not a reason to stop watching. */
  signal(SIGHUP, SIG_IGN);
  measure_clock_offset();
  /* The host's namespace, where its root can be entered (not in every sandbox); else this program's. */
  char ns_path[64];
  struct stat root_st;
  snprintf(ns_path, sizeof ns_path, "/proc/%d/ns/mnt", host_pid);
  snprintf(host_root, sizeof host_root, "/proc/%d/root", host_pid);
  host_mnt_ns = stat(host_root, &root_st) == 0 ? mnt_ns_of(ns_path) : 0;
  if (!host_mnt_ns) {
    host_root[0] = 0;
    host_mnt_ns = mnt_ns_of("/proc/self/ns/mnt");
  }
  /* The first mark, written with the ready line: no source was open before this time. */
  unsigned long long last_mark = boot_to_ms(clock_ns(CLOCK_BOOTTIME));
  /* Run before ordinary tasks when woken, so a process that lives a millisecond is read before it
     is gone. The work per event is bounded, and the kernel's real-time throttling still applies. */
  if (rt) {
    struct sched_param sp = {.sched_priority = 1};
    sched_setscheduler(0, SCHED_FIFO, &sp);
  }
  char perr[256] = "not requested", serr[256] = "not requested";
  int pfd = want_proc ? open_proc_connector(perr, sizeof perr) : -1;
  int sfd = want_sock ? open_sock_diag(serr, sizeof serr) : -1;
  char xerr[512] = "not requested";
  int xfd = -1;
#ifdef MT_WITH_BPF
  /* Only beside the connector: without its forks the agent polls /proc for processes, and execs
     from the probe as well would be reported twice. */
  if (want_proc && bpf && pfd < 0)
    snprintf(xerr, sizeof xerr, "not used without the process connector");
  else if (want_proc && bpf)
    xfd = open_exec_probe(xerr, sizeof xerr);
  exec_from_bpf = xfd >= 0;
#else
  if (want_proc && bpf)
    snprintf(xerr, sizeof xerr,
             "built without the exec probe (needs clang and libbpf-dev at build time)");
#endif
  begin_event();
  puts_("{\"ev\":\"ready\",\"proc\":");
  if (pfd >= 0)
    puts_("\"ok\"");
  else
    putstr(perr, strlen(perr));
  puts_(",\"exec\":");
  if (xfd >= 0)
    puts_("\"bpf\"");
  else
    putstr(xerr, strlen(xerr));
  puts_(",\"sock\":");
  if (sfd >= 0)
    puts_("\"ok\"");
  else
    putstr(serr, strlen(serr));
  puts_(",\"rt\":");
  puts_(sched_getscheduler(0) == SCHED_FIFO ? "true}\n" : "false}\n");
  puts_("{\"ev\":\"mark\",\"t\":");
  putu(last_mark);
  puts_("}\n");
  if (flush_out() < 0) return 0;
  if (pfd < 0 && sfd < 0 && xfd < 0) return 1;
  fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
  struct pollfd fds[4] = {{.fd = pfd, .events = POLLIN},
                          {.fd = sfd, .events = POLLIN},
                          {.fd = 1, .events = 0},
                          {.fd = xfd, .events = POLLIN}};
  unsigned long long reported = 0, reported_sock = 0;
  for (;;) {
    fds[2].events = out_len > out_off ? POLLOUT : 0;
    int r = poll(fds, 4, MARK_MS);
    if (r < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[2].revents & (POLLERR | POLLHUP)) return 0; /* the agent closed our stdout */
    measure_clock_offset();
    /* A mark promises every event from before its time: each source is drained after it is read. */
    unsigned long long mark = boot_to_ms(clock_ns(CLOCK_BOOTTIME));
    size_t wake_start = out_len;
    nrefs = 0;
    int mark_due = mark - last_mark >= MARK_MS;
    if (pfd >= 0 && (fds[0].revents || mark_due)) drain_proc(pfd);
    if (sfd >= 0 && (fds[1].revents || mark_due)) drain_sock(sfd);
#ifdef MT_WITH_BPF
    /* The probe counts execs it could not hand over only when its ring buffer is full, and then
       the buffer is readable: asked then, not on every wake. */
    unsigned long long exec_lost = 0;
    if (xfd >= 0 && (fds[3].revents || mark_due)) {
      ring_buffer__consume(exec_rb);
      exec_lost = exec_lost_new();
    }
    if (exec_lost) {
      begin_event();
      puts_("{\"ev\":\"lost\",\"source\":\"proc\",\"n\":");
      putu(exec_lost);
      puts_("}\n");
      /* A notice that did not fit is not a loss of its own: the count waits for the next one. */
      if (event_dropped) {
        exec_lost_reported -= exec_lost;
        event_dropped = 0;
      } else
        end_event(); /* written: it takes its place in the wake's time order */
    }
#endif
    sort_wake(wake_start);
    /* The kernel's queue overflowed (it does not say by how much): said until the notice is written. */
    if (unknown_lost_proc) {
      begin_notice();
      puts_("{\"ev\":\"lost\",\"source\":\"proc\"}\n");
      unknown_lost_proc = event_dropped;
      end_event();
    }
    if (unknown_lost_sock) {
      begin_notice();
      puts_("{\"ev\":\"lost\",\"source\":\"sock\"}\n");
      unknown_lost_sock = event_dropped;
      end_event();
    }
    if (mark_due) {
      begin_notice();
      puts_("{\"ev\":\"mark\",\"t\":");
      putu(mark);
      puts_("}\n");
      end_event();
      last_mark = mark;
    }
    if (out_dropped != reported) {
      begin_notice();
      puts_("{\"ev\":\"lost\",\"source\":\"output\",\"n\":");
      putu(out_dropped - reported);
      puts_(",\"sock\":");
      putu(out_dropped_sock - reported_sock);
      puts_("}\n");
      if (!event_dropped) {
        reported = out_dropped;
        reported_sock = out_dropped_sock;
      }
      event_dropped = 0;
    }
    if (flush_out() < 0) return 0;
  }
}
