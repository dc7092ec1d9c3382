;; Grows memory to 24 MiB and burns some CPU: the call's usage must show both.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (local $i i32)
    (drop (memory.grow (i32.const 383)))
    (i32.store (i32.const 0x17f_fff0) (i32.const 1))
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 100000000))))))
