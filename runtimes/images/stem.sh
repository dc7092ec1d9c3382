#!/bin/bash
# ain-sre stem cell: the entrypoint of every shipped runtime image (installed at
# /usr/local/lib/ain-sre/stem). The container is started ahead of demand and waits here, blocked on
# stdin, until the worker hands it one call. Protocol (all written by the worker, never the guest):
#
#   SRE1 <nonce> <env_lines> <code_len> <input_len>\n   one header line
#   NAME=value\n ...                                    <env_lines> lines, only SRE_* kept
#   <code_len bytes>                                    the function's code, written to $1
#   <input_len bytes>                                   the input: the guest's whole stdin
#
# Arguments: $1 = path the code is written to (on the /sre tmpfs), $2... = the runtime's command.
# The guest runs with an empty environment plus the SRE_* names, and sees only its input on
# stdin. After it exits, the nonce goes to stdout and one usage line
# "<nonce> <exit> <cpu_ns> <mem_peak_bytes> <oom_kills>" to stderr (the worker strips both), and the
# container exits with the guest's status.
set -u
src=$1
shift
IFS=' ' read -r magic nonce nenv clen ilen || exit 120
[ "$magic" = SRE1 ] || exit 121
envs=()
for ((i = 0; i < nenv; i++)); do
  IFS= read -r kv || exit 122
  [[ $kv =~ ^SRE_[A-Za-z0-9_]*= ]] && envs+=("$kv")
done
/usr/bin/head -c "$clen" > "$src" || exit 123
/usr/bin/head -c "$ilen" | /usr/bin/env -i "${envs[@]}" "$@"
rc=${PIPESTATUS[1]}
# End-of-output trailer: the worker knows stdout is complete when it ends with the nonce, and the
# call is over at the usage line; it need not wait for the engine to tear the container down.
printf '%s' "$nonce"

# Usage of the whole container cgroup (cgroup v1 or v2), read with builtins only.
cpu=0 mem=0 oom=0
{ IFS= read -r cpu < /sys/fs/cgroup/cpuacct/cpuacct.usage; } 2>/dev/null ||
  { IFS= read -r cpu < /sys/fs/cgroup/cpu,cpuacct/cpuacct.usage; } 2>/dev/null ||
  { while read -r k v; do [ "$k" = usage_usec ] && cpu=$((v * 1000)); done < /sys/fs/cgroup/cpu.stat; } 2>/dev/null
{ IFS= read -r mem < /sys/fs/cgroup/memory/memory.max_usage_in_bytes; } 2>/dev/null ||
  { IFS= read -r mem < /sys/fs/cgroup/memory.peak; } 2>/dev/null
{ while read -r k v; do [ "$k" = oom_kill ] && oom=$v; done < /sys/fs/cgroup/memory/memory.oom_control; } 2>/dev/null ||
  { while read -r k v; do [ "$k" = oom_kill ] && oom=$v; done < /sys/fs/cgroup/memory.events; } 2>/dev/null
printf '\n%s %s %s %s %s\n' "$nonce" "$rc" "${cpu:-0}" "${mem:-0}" "${oom:-0}" >&2
exit "$rc"
