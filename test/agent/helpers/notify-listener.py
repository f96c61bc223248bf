#!/usr/bin/env python3
# A stand-in for systemd's notification socket (sd_notify(3)): binds a unix datagram socket at
# argv[1] and prints each datagram as one JSON line {"pid": sender, "message": text}. A file
# descriptor passed along (systemd-notify's BARRIER=1) is closed at once, as systemd does.
import array, json, os, socket, struct, sys

sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"listening": sys.argv[1]}), flush=True)
while True:
    data, ancdata, _, _ = sock.recvmsg(8192, socket.CMSG_SPACE(64))
    pid = None
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[:12])[0]
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps({"pid": pid, "message": data.decode("utf-8", "replace")}), flush=True)
