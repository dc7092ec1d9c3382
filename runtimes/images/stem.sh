#!/bin/bash
# ain-sre stem cell: the entrypoint of every shipped runtime image (installed at
# /usr/local/lib/ain-sre/stem). The container is started ahead of demand and waits here, blocked on
# stdin, until the worker hands it a call. Protocol (all written by the worker, never the guest):
#
#   SRE1 <nonce> <env_lines> <code_len> <input_len> <keep>\n   one header line
#   NAME=value\n ...                                    <env_lines> lines, only SRE_* and *_proxy kept;
#                                                        values escape \\, \n, \r (see below)
#   <code_len bytes>                                    the function's code, written to $1
#   <input_len bytes>                                   the input: the guest's whole stdin
#
# Arguments: $1 = path the code is written to (on the /sre tmpfs), $2... = the runtime's command.
# The guest runs with an empty environment plus the SRE_* names (and, for a call with egress,
# HTTP_PROXY/HTTPS_PROXY/http_proxy/https_proxy naming the worker's proxy), and sees only its input on
# stdin. After it exits, every other process in the container is killed, the nonce goes to
# stdout and one usage line
#   "<nonce> <exit> <cpu_ns> <mem_peak_bytes> <oom_kills> <reusable>"
# to stderr (the worker strips both). CPU time and OOM kills are this call's share of the
# container cgroup's counters; the memory peak is the container's so far (the cgroup file system
# is read-only in here, so the peak cannot be reset between calls). <reusable> is 1 when the whole
# input was consumed, so the stream is at the next frame.
#
# With <keep> = 0 (the default) the stem cell then exits with the guest's status, which ends the
# container. With <keep> = 1 (the function's profile opted into same-function reuse) it reads the
# next frame instead; the worker only ever sends it frames of the same function.
# The guest cannot forge the usage line or the next frame: this process (pid 1) runs as root in
# the container (with only SETUID, SETGID and KILL) and the guest as the container's own uid
# (setpriv drops to it with no capabilities), so the kernel refuses the guest /proc/1/fd/0 (the
# stdin the next frame arrives on), /proc/1/mem, maps, environ and syscall, and ptrace; the
# seccomp profile and the masked /proc/1 files are a second barrier.
#
# The guest's uid (also its gid) is $AIN_SRE_GUEST_ID, set by the worker when it creates the
# container: a number of the worker's guest range that no other live container and no host
# account has, so the kernel's per-user counters (queued signals, processes) are this
# container's alone. Without a valid one no call runs (exit 120).
set -u
src=$1
shift
guest=${AIN_SRE_GUEST_ID:-}
[[ $guest =~ ^[1-9][0-9]{0,9}$ ]] && ((guest > 65535 && guest < 4294967295)) || exit 120
usage() {
  cpu=0 mem=0 oom=0
  { IFS= read -r cpu < /sys/fs/cgroup/cpuacct/cpuacct.usage; } 2>/dev/null ||
    { IFS= read -r cpu < /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage; } 2>/dev/null ||
    { while read -r k v; do [ "$k" = usage_usec ] && cpu=$((v * 1000)); done < /sys/fs/cgroup/cpu.stat; } 2>/dev/null
  { IFS= read -r mem < /sys/fs/cgroup/memory/memory.max_usage_in_bytes; } 2>/dev/null ||
    { IFS= read -r mem < /sys/fs/cgroup/memory.peak; } 2>/dev/null
  { while read -r k v; do [ "$k" = oom_kill ] && oom=$v; done < /sys/fs/cgroup/memory/memory.oom_control; } 2>/dev/null ||
    { while read -r k v; do [ "$k" = oom_kill ] && oom=$v; done < /sys/fs/cgroup/memory.events; } 2>/dev/null
}
rc=0
while IFS=' ' read -r magic nonce nenv clen ilen keep; do
  [ "$magic" = SRE1 ] || exit 121
  envs=()
  for ((i = 0; i < nenv; i++)); do
    IFS= read -r kv || exit 122
    # The worker writes \\, \n and \r for backslash, newline and CR (and no other escape):
    # %b turns them back, so multi-line values (PEM keys) arrive intact.
    [[ $kv =~ ^(SRE_[A-Za-z0-9_]*|HTTPS?_PROXY|https?_proxy)= ]] || continue
    printf -v val '%b' "${kv#*=}"
    envs+=("${kv%%=*}=$val")
  done
  /usr/bin/head -c "$clen" > "$src" || exit 123
  usage
  cpu0=${cpu:-0} oom0=${oom:-0}
  # The guest's stderr is the container's (fd 3 here); this shell's own stderr is not, so that
  # bash's report of a guest killed by a signal ("line N: 9 Segmentation fault | setpriv ...")
  # and head's complaints never reach the call's stderr tail.
  {
    /usr/bin/head -c "$ilen" |
      /usr/bin/setpriv --reuid="$guest" --regid="$guest" --clear-groups --inh-caps=-all \
        /usr/bin/env -i "${envs[@]}" "$@" 2>&3 3>&-
    st=("${PIPESTATUS[@]}")
  } 3>&2 2>/dev/null
  rc=${st[1]}
  # Nothing the guest started outlives its call (kill(-1) spares pid 1, this process).
  kill -9 -1 2>/dev/null
  # End-of-output trailer: the worker knows stdout is complete when it ends with the nonce, and
  # the call is over at the usage line; it need not wait for the engine.
  printf '%s' "$nonce"
  usage
  printf '\n%s %s %s %s %s %s\n' "$nonce" "$rc" "$((${cpu:-0} - cpu0))" "${mem:-0}" \
    "$((${oom:-0} - oom0))" "$((st[0] == 0))" >&2
  [ "$keep" = 1 ] || exit "$rc"
done
exit "$rc"
