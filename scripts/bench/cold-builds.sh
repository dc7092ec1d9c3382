#!/bin/bash
# Cold build times before (a93569a, one crate) and after (HEAD of the checkout at $SRC, default
# the repository this script is in): fuzz targets, release, test (--no-run). Each into an empty
# target directory under $COLD (default /var/cache/ain-sre), one after another; needs ~25 GB free
# at a time. Appends "<build>-<rev> rc=<status> <seconds> s" lines to $LOG (default
# /tmp/coldbuild.log). Run it on an idle host: README "cold builds".
set -u
SRC="${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}"
COLD="${COLD:-/var/cache/ain-sre}"
export RUSTC_BOOTSTRAP=1
log="${LOG:-/tmp/coldbuild.log}"
t() { local name=$1; shift; local s=$(date +%s); "$@" >"/tmp/cold-$name.out" 2>&1; local rc=$?; echo "$name rc=$rc $(( $(date +%s)-s )) s" >> $log; }
for rev in after before; do
  rm -rf /tmp/cold-$rev; git clone -q "$SRC" /tmp/cold-$rev
  [ $rev = before ] && git -C /tmp/cold-$rev checkout -q a93569a
done
echo "start $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $log
for rev in after before; do
  cd /tmp/cold-$rev
  T="$COLD/cold-$rev"
  rm -rf $T-fuzz; t fuzz-$rev cargo fuzz build --sanitizer none --codegen-units 16 --target-dir $T-fuzz
  rm -rf $T-fuzz
  rm -rf $T-rel; t release-$rev env CARGO_TARGET_DIR=$T-rel cargo build --release --locked
  rm -rf $T-rel
  rm -rf $T-test; t test-$rev env CARGO_TARGET_DIR=$T-test cargo test --locked --no-run
  rm -rf $T-test
done
echo "end $(date -u +%T)" >> $log
