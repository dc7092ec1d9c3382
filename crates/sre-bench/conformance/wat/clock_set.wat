;; Imports a clock-setting call (WASI has none): must be refused at prepare time.
(module
  (import "wasi_snapshot_preview1" "clock_time_set" (func (param i32 i64) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")))
