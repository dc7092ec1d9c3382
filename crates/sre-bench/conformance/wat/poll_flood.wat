;; One poll_oneoff naming 500,000 clock subscriptions; exits with the errno it returned.
;; Zeroed memory is already 500,000 valid subscriptions (48 bytes each: tag 0 = clock,
;; realtime clock, relative timeout 0), followed by room for 500,000 events (32 bytes each).
;; Without a cap, the host allocates ~520 bytes per subscription outside the call's memory
;; limit (issue 14: ~260 MB of host heap for this one call).
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 700)
  (func (export "_start")
    (call $exit
      (call $poll (i32.const 0) (i32.const 24000000) (i32.const 500000) (i32.const 40000000)))))
