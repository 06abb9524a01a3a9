//! Compiles the liburcu shim only when the `liburcu` feature is on: the read-side primitives
//! are static inline functions in liburcu's headers, so they need a C translation unit.

fn main() {
    println!("cargo:rerun-if-changed=src/urcu_shim.c");
    #[cfg(feature = "liburcu")]
    {
        cc::Build::new()
            .file("src/urcu_shim.c")
            .opt_level(2)
            .warnings(true)
            .extra_warnings(true)
            .compile("rcu_peers_urcu_shim");
        println!("cargo:rustc-link-lib=dylib=urcu-memb");
    }
}
