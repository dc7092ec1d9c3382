;; Copies stdin to stderr: the tail kept must be the real end of the stream.
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start")
    (local $off i32) (local $len i32)
    (block $done
      (loop $more
        ;; iovec at 0 = {buf: 1024, len: 64512}; bytes read land at 16.
        (i32.store (i32.const 0) (i32.const 1024))
        (i32.store (i32.const 4) (i32.const 64512))
        (br_if $done (call $read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
        (br_if $done (i32.eqz (i32.load (i32.const 16))))
        (local.set $off (i32.const 1024))
        (local.set $len (i32.load (i32.const 16)))
        ;; Write it all, resuming after short writes.
        (block $written
          (loop $w
            (br_if $written (i32.eqz (local.get $len)))
            (i32.store (i32.const 32) (local.get $off))
            (i32.store (i32.const 36) (local.get $len))
            (br_if $done (call $write (i32.const 2) (i32.const 32) (i32.const 1) (i32.const 48)))
            (local.set $off (i32.add (local.get $off) (i32.load (i32.const 48))))
            (local.set $len (i32.sub (local.get $len) (i32.load (i32.const 48))))
            (br $w)))
        (br $more)))))
