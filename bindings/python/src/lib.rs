//! Python bindings for vmdp. The PyO3 module arrives with the bindings work.
