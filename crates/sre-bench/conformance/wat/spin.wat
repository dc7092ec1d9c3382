;; Burns CPU forever: must be killed at the deadline (epoch) or when fuel runs out.
(module (func (export "_start") (loop $l (br $l))))
