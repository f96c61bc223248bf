/*
 * One successful exec as the eBPF program (microtally-exec.bpf.c) hands it to microtally-events
 * through a ring buffer. Shared by both sides: the program is compiled for the BPF target, the
 * helper for the host, so only fixed-width fields.
 */
#ifndef MICROTALLY_EXEC_H
#define MICROTALLY_EXEC_H

#define MT_EXEC_ARGS_MAX 4096 /* bytes of the argument area copied; a longer one is cut there */
#define MT_EXEC_FILE_MAX 256  /* the path given to exec */

struct mt_exec_event {
  __u32 pid;      /* thread-group id after the exec */
  __u32 ppid;     /* the real parent's thread-group id */
  __u32 uid;      /* real user id, after the exec's credentials are committed */
  __u32 args_len; /* bytes of args that were copied */
  __u64 exe_ino;  /* the new image's inode (what /proc/<pid>/exe names) */
  __u32 exe_dev;  /* its file system, as the kernel encodes dev_t (major << 20 | minor) */
  __u32 file_len;
  __u64 boot_ns; /* when the exec happened: CLOCK_BOOTTIME, nanoseconds */
  __u32 mnt_ns;  /* the mount namespace it ran in (the inode /proc/<pid>/ns/mnt names) */
  __u32 pad;
  char comm[16];
  char file[MT_EXEC_FILE_MAX];
  char args
      [MT_EXEC_ARGS_MAX]; /* argv as the new image sees it: NUL-separated; last, the event is sent only as far as args_len */
};

#endif
