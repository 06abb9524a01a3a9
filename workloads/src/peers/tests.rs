//! Each peer adapter against the kernel's update/delete semantics.

use super::*;
use crate::htab::{MapError, UpdateFlag};

/// One operation on a peer: Ok(None) for an update or a delete, Ok(lookup_verify's answer).
type Apply<'a> = &'a mut dyn FnMut(Op) -> Result<Option<bool>, MapError>;
/// A check of one peer, by its name, through its operations.
type Check = fn(&str, Apply<'_>);

/// Runs `check` on every registered peer.
fn each_peer(check: Check) {
    struct Run(Check);
    impl PeerVisitor for Run {
        type Output = ();
        fn visit<P: Peer>(self) {
            let peer = P::with_capacity(64);
            let mut cpu = peer.cpu();
            let pin = cpu.pin();
            let mut op = |o: Op| {
                let s = <P::Cpu<'_> as ProducerMap>::enter(&pin);
                match o {
                    Op::Update(k, v, f) => cpu.update(&s, k, &v, f).map(|()| None),
                    Op::Delete(k) => cpu.delete(&s, k).map(|()| None),
                    Op::Lookup(k) => Ok(cpu.lookup_verify(&s, k)),
                }
            };
            (self.0)(P::NAME, &mut op);
        }
    }
    assert_eq!(PEERS.len(), 4);
    for name in PEERS {
        assert!(is_peer(name), "{name}");
        with_peer(name, Run(check)).expect("registered");
    }
}

enum Op {
    Update(u32, Vec<u64>, UpdateFlag),
    Delete(u32),
    Lookup(u32),
}

fn stamp(key: u32, seq: u64, words: usize) -> Vec<u64> {
    vec![(key as u64) << 32 | seq; words]
}

#[test]
fn update_any_inserts_or_replaces() {
    each_peer(|name, op| {
        for words in [1, 3] {
            assert_eq!(
                op(Op::Update(5, stamp(5, 1, words), UpdateFlag::Any)),
                Ok(None),
                "{name}"
            );
            assert_eq!(op(Op::Lookup(5)), Ok(Some(true)), "{name}");
            assert_eq!(
                op(Op::Update(5, stamp(5, 2, words), UpdateFlag::Any)),
                Ok(None),
                "{name}"
            );
            assert_eq!(op(Op::Lookup(5)), Ok(Some(true)), "{name}");
            assert_eq!(op(Op::Delete(5)), Ok(None), "{name}");
        }
    });
}

#[test]
fn noexist_and_exist_follow_the_kernel() {
    each_peer(|name, op| {
        let v = stamp(9, 1, 1);
        assert_eq!(
            op(Op::Update(9, v.clone(), UpdateFlag::Exist)),
            Err(MapError::Enoent),
            "{name}"
        );
        assert_eq!(op(Op::Lookup(9)), Ok(None), "{name}");
        assert_eq!(
            op(Op::Update(9, v.clone(), UpdateFlag::NoExist)),
            Ok(None),
            "{name}"
        );
        assert_eq!(
            op(Op::Update(9, v.clone(), UpdateFlag::NoExist)),
            Err(MapError::Eexist),
            "{name}"
        );
        assert_eq!(
            op(Op::Update(9, stamp(9, 2, 1), UpdateFlag::Exist)),
            Ok(None),
            "{name}"
        );
        assert_eq!(op(Op::Lookup(9)), Ok(Some(true)), "{name}");
    });
}

#[test]
fn delete_of_a_missing_key_is_enoent() {
    each_peer(|name, op| {
        assert_eq!(op(Op::Delete(3)), Err(MapError::Enoent), "{name}");
        op(Op::Update(3, stamp(3, 1, 1), UpdateFlag::Any)).unwrap();
        assert_eq!(op(Op::Delete(3)), Ok(None), "{name}");
        assert_eq!(op(Op::Delete(3)), Err(MapError::Enoent), "{name}");
        assert_eq!(op(Op::Lookup(3)), Ok(None), "{name}");
    });
}

#[test]
fn lookup_verify_flags_a_value_that_is_not_the_keys() {
    each_peer(|name, op| {
        // Another key's stamp stored under 4: the check sees it (a peer returns the value
        // stored under the key it was asked, so this is the only way it can fail).
        op(Op::Update(4, stamp(6, 1, 2), UpdateFlag::Any)).unwrap();
        assert_eq!(op(Op::Lookup(4)), Ok(Some(false)), "{name}");
        op(Op::Update(
            4,
            vec![4 << 32 | 1, 4 << 32 | 2],
            UpdateFlag::Any,
        ))
        .unwrap();
        assert_eq!(op(Op::Lookup(4)), Ok(Some(false)), "{name}: torn stamp");
    });
}
