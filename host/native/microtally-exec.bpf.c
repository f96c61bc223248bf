/*
 * microtally's exec probe: on every successful exec (the sched_process_exec raw tracepoint, in
 * the exec'ing task, after the new image is in place and before it runs), copy the new command
 * line, the executable's identity (inode, file system, mount namespace), the parent, the user and
 * the time into a ring buffer. The process may exit a microsecond later; what it ran is already
 * recorded, so no exec is reported without its command line. Compiled by clang for the BPF target and loaded by microtally-events (libbpf);
 * field offsets are relocated against the running kernel's BTF (CO-RE), so one object serves every
 * kernel with BTF.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "microtally-exec.h"

/* Only the fields read here; libbpf finds them by name in the kernel's own types. */
struct super_block {
  __u32 s_dev;
} __attribute__((preserve_access_index));
struct inode {
  unsigned long i_ino;
  struct super_block *i_sb;
} __attribute__((preserve_access_index));
struct file {
  struct inode *f_inode;
} __attribute__((preserve_access_index));
struct mm_struct {
  unsigned long arg_start, arg_end;
  struct file *exe_file;
} __attribute__((preserve_access_index));
struct ns_common {
  unsigned int inum;
} __attribute__((preserve_access_index));
struct mnt_namespace {
  struct ns_common ns;
} __attribute__((preserve_access_index));
struct nsproxy {
  struct mnt_namespace *mnt_ns;
} __attribute__((preserve_access_index));
struct task_struct {
  int tgid;
  struct task_struct *real_parent;
  struct mm_struct *mm;
  struct nsproxy *nsproxy;
} __attribute__((preserve_access_index));
struct linux_binprm {
  const char *filename;
} __attribute__((preserve_access_index));

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 4 << 20);
} mt_events SEC(".maps");

/* The event is built here (it is larger than the BPF stack), then copied as far as it is used. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct mt_exec_event);
} mt_scratch SEC(".maps");

/* Execs that found the ring buffer full; the helper reports them as lost. */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} mt_lost SEC(".maps");

SEC("raw_tracepoint/sched_process_exec")
int mt_on_exec(struct bpf_raw_tracepoint_args *ctx) {
  __u32 zero = 0;
  struct mt_exec_event *e = bpf_map_lookup_elem(&mt_scratch, &zero);
  if (!e) return 0;
  e->boot_ns = bpf_ktime_get_boot_ns(); /* first: the exec's time, not when the copies below end */
  struct task_struct *task = (struct task_struct *)ctx->args[0];
  struct linux_binprm *bprm = (struct linux_binprm *)ctx->args[2];
  e->pid = BPF_CORE_READ(task, tgid);
  e->ppid = BPF_CORE_READ(task, real_parent, tgid);
  e->uid = (__u32)bpf_get_current_uid_gid();
  bpf_get_current_comm(e->comm, sizeof e->comm);
  long fl = bpf_probe_read_kernel_str(e->file, sizeof e->file, BPF_CORE_READ(bprm, filename));
  e->file_len = fl > 0 ? (__u32)fl - 1 : 0;
  struct file *exe = BPF_CORE_READ(task, mm, exe_file);
  e->exe_ino = BPF_CORE_READ(exe, f_inode, i_ino);
  e->exe_dev = BPF_CORE_READ(exe, f_inode, i_sb, s_dev);
  /* A path means something only in its mount namespace: the helper compares it with its own. */
  e->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
  e->pad = 0;
  unsigned long start = BPF_CORE_READ(task, mm, arg_start);
  unsigned long end = BPF_CORE_READ(task, mm, arg_end);
  __u64 len = end > start ? end - start : 0;
  if (len > MT_EXEC_ARGS_MAX) len = MT_EXEC_ARGS_MAX;
  /* The pages were written by the exec a moment ago: present, so this read does not fault. */
  if (bpf_probe_read_user(e->args, len, (const void *)start) != 0) len = 0;
  e->args_len = (__u32)len;
  if (bpf_ringbuf_output(&mt_events, e, __builtin_offsetof(struct mt_exec_event, args) + len, 0) !=
      0) {
    __u64 *lost = bpf_map_lookup_elem(&mt_lost, &zero);
    if (lost) *lost += 1;
  }
  return 0;
}

/* Dual-licensed so the kernel lets it read user memory; microtally's own licence is MIT. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";
