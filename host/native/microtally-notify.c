/*
 * microtally-notify: sends systemd service notifications (sd_notify(3)) for the agent, which runs
 * on Node (no unix datagram sockets there). Reads messages from stdin, each ended by a NUL byte
 * ("READY=1", "WATCHDOG=1", "STATUS=…\nREADY=1"), and sends each as one datagram to the socket
 * named by NOTIFY_SOCKET (a path, or "@name" in the abstract namespace). Runs until its input
 * ends (the agent exited or closed it), whatever signals the service's processes get
 * (`systemctl kill -s HUP` reaches all of them): the agent's STOPPING=1 still has to go out.
 * A message it cannot send is one line on stderr; it goes on with the next.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(void) {
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  const char *path = getenv("NOTIFY_SOCKET");
  if (path == NULL || (path[0] != '/' && path[0] != '@')) {
    fprintf(stderr, "microtally-notify: NOTIFY_SOCKET is %s\n",
            path == NULL ? "not set" : "neither a path nor an @name");
    return 2;
  }
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  size_t n = strlen(path);
  if (n >= sizeof addr.sun_path) {
    fprintf(stderr, "microtally-notify: NOTIFY_SOCKET is longer than %zu bytes\n",
            sizeof addr.sun_path - 1);
    return 2;
  }
  memcpy(addr.sun_path, path, n);
  if (addr.sun_path[0] == '@')
    addr.sun_path[0] = '\0'; /* abstract: the name's length counts, no NUL */
  socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fprintf(stderr, "microtally-notify: socket: %s\n", strerror(errno));
    return 1;
  }
  static char buf[8192];
  size_t used = 0;
  int skipping = 0; /* inside a message too long to hold: dropped up to its end */
  for (;;) {
    ssize_t got = read(0, buf + used, sizeof buf - used);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    used += (size_t)got;
    char *start = buf;
    char *end;
    while ((end = memchr(start, '\0', (size_t)(buf + used - start))) != NULL) {
      size_t len = (size_t)(end - start);
      if (!skipping && len > 0 &&
          sendto(fd, start, len, MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len) < 0) {
        int shown = (int)strcspn(start, "\n"); /* its first field: the line stays one line */
        fprintf(stderr, "microtally-notify: %s: %.*s: %s\n", path, shown < 40 ? shown : 40, start,
                strerror(errno));
      }
      skipping = 0;
      start = end + 1;
    }
    used = (size_t)(buf + used - start);
    memmove(buf, start, used);
    if (used == sizeof buf) {
      if (!skipping)
        fprintf(stderr, "microtally-notify: a message longer than %zu bytes: dropped\n",
                sizeof buf);
      skipping = 1;
      used = 0;
    }
  }
  close(fd);
  return 0;
}
