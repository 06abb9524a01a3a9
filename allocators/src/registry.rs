//! The by-name registry behind `FLAVORS` and `with_flavor` (and workloads' `USE_CASES` and
//! `with_use_case`): one list of types generates the name table and the dispatch, so the two
//! can never disagree. See docs/adding-a-flavor.md.

/// Generates, from one list of types that implement a trait with `const NAME: &str`:
/// a `const` table of their names (in list order) and a function that runs a visitor with the
/// type of a given name (None if no entry has it). The visitor trait must have
/// `type Output` and `fn visit<T: Trait>(self) -> Self::Output`; dispatch is static, so the
/// visitor's code is monomorphised per entry and never goes through `dyn`.
///
/// Entries are either types (`Toy, allocators::ImmediateReuse`) or, all of them,
/// `mod file::Type`, which also declares the module `file` and re-exports `Type`.
///
/// ```ignore
/// allocators::registry! {
///     pub const FLAVORS;
///     pub fn with_flavor<V: FlavorVisitor>;
///     Allocator {
///         mod immediate_reuse::ImmediateReuse,
///     }
/// }
/// ```
///
/// Two entries with the same `NAME` fail to compile (the second would be unreachable):
///
/// ```compile_fail
/// use allocators::{Allocator, FlavorVisitor, ImmediateReuse};
///
/// struct Again;
/// impl Allocator for Again {
///     // ... all as ImmediateReuse, but its NAME:
/// #   type Cache = <ImmediateReuse as Allocator>::Cache;
///     const NAME: &'static str = "immediate-reuse";
/// #   const REUSE_AFTER_GP: bool = false;
/// #   fn new(_: &allocators::AllocConfig) -> Self { unimplemented!() }
/// #   fn cache(self: &std::sync::Arc<Self>, _: usize) -> Self::Cache { unimplemented!() }
/// #   fn stats(&self) -> allocators::AllocStats { unimplemented!() }
/// #   fn hold_stats(&self) -> allocators::HoldStats { unimplemented!() }
/// #   fn unit_size(&self) -> usize { unimplemented!() }
/// #   fn drain(&self) -> allocators::AllocStats { unimplemented!() }
/// }
///
/// allocators::registry! {
///     const NAMES;
///     fn with_name<V: FlavorVisitor>;
///     Allocator { ImmediateReuse, Again }
/// }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! registry {
    (
        $(#[$cm:meta])* $cv:vis const $names:ident;
        $(#[$fm:meta])* $fv:vis fn $with:ident<V: $visitor:path>;
        $trait:path { $(mod $m:ident::$t:ident),+ $(,)? }
    ) => {
        $(
            mod $m;
            pub use $m::$t;
        )+
        $crate::registry! {
            $(#[$cm])* $cv const $names;
            $(#[$fm])* $fv fn $with<V: $visitor>;
            $trait { $($t),+ }
        }
    };
    (
        $(#[$cm:meta])* $cv:vis const $names:ident;
        $(#[$fm:meta])* $fv:vis fn $with:ident<V: $visitor:path>;
        $trait:path { $($ty:ty),+ $(,)? }
    ) => {
        $(#[$cm])*
        $cv const $names: &[&str] = &[$(<$ty as $trait>::NAME),+];

        const _: () = assert!(
            $crate::registry::names_unique($names),
            "two registry entries share a NAME"
        );

        $(#[$fm])*
        $fv fn $with<V: $visitor>(name: &str, v: V) -> Option<V::Output> {
            $(
                if name == <$ty as $trait>::NAME {
                    return Some(v.visit::<$ty>());
                }
            )+
            None
        }
    };
}

/// Whether no two of `names` are equal; for the registry's compile-time check.
pub const fn names_unique(names: &[&str]) -> bool {
    let mut i = 0;
    while i < names.len() {
        let mut j = i + 1;
        while j < names.len() {
            if bytes_eq(names[i].as_bytes(), names[j].as_bytes()) {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut k = 0;
    while k < a.len() {
        if a[k] != b[k] {
            return false;
        }
        k += 1;
    }
    true
}
