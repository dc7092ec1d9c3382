;; Asks for preopened directories on fds 3..63: every answer must be EBADF (8). Prints how many
;; descriptors answered anything else, as one digit ("0" when there are no preopens).
(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $fd i32) (local $open i32)
    (local.set $fd (i32.const 3))
    (loop $l
      (if (i32.ne (call $prestat (local.get $fd) (i32.const 64)) (i32.const 8))
        (then (local.set $open (i32.add (local.get $open) (i32.const 1)))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $fd) (i32.const 64))))
    (i32.store8 (i32.const 100) (i32.add (i32.const 48) (select (local.get $open) (i32.const 9) (i32.lt_u (local.get $open) (i32.const 9)))))
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))
