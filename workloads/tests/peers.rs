//! Every use case a peer map can express runs on every peer through the same `Producer` and
//! `run_loop` as the flavors': concurrently, with the kernel's loop counts, and lookup_verify
//! finds only consistent values.

use std::thread;

use workloads::{with_peer, with_use_case, Peer, PeerVisitor, Producer, UseCase, UseCaseVisitor};
use workloads::{PEERS, USE_CASES};

const P: usize = 2;
const LOOPS: u64 = 200;

/// Runs use case `U` on peer `M` with `P` producers for `LOOPS` loops each; returns the loops
/// counted and `verify`'s answer.
struct OnPeer<M>(std::marker::PhantomData<M>);

impl<M: Peer> UseCaseVisitor for OnPeer<M> {
    type Output = Option<(u64, Option<(u64, u64)>)>;
    fn visit<U: UseCase>(self) -> Self::Output {
        if !U::PEERS {
            return None;
        }
        let uc = U::new(P).unwrap();
        let peer = M::with_capacity(8192);
        let counted: u64 = thread::scope(|s| {
            let (uc, peer) = (&uc, &peer);
            let hs: Vec<_> = (0..P)
                .map(|i| {
                    s.spawn(move || {
                        // value size 16: two words, so lookup_verify's stamps can tear.
                        let mut p = Producer::new(i, P, peer.cpu(), 16);
                        (0..LOOPS).map(|_| uc.run_loop(&mut p)).sum::<u64>()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).sum()
        });
        uc.stop();
        Some((counted, uc.verify()))
    }
}

struct EachUseCase;

impl PeerVisitor for EachUseCase {
    type Output = ();
    fn visit<M: Peer>(self) {
        for uc in USE_CASES {
            let got = with_use_case(uc, OnPeer::<M>(std::marker::PhantomData)).unwrap();
            let Some((counted, verify)) = got else {
                assert_eq!(
                    *uc,
                    "lpm_update_delete",
                    "{}: only the trie is n/a",
                    M::NAME
                );
                continue;
            };
            let per_loop = if *uc == "batch_add_batch_del" { 2 } else { 1 };
            assert_eq!(counted, P as u64 * LOOPS * per_loop, "{} {uc}", M::NAME);
            if let Some((found, bad)) = verify {
                assert!(found > 0, "{} {uc}: the readers found nothing", M::NAME);
                assert_eq!(bad, 0, "{} {uc}: {bad} of {found} inconsistent", M::NAME);
            }
        }
    }
}

#[test]
fn every_peer_runs_every_use_case_it_can_express() {
    for name in PEERS {
        with_peer(name, EachUseCase).unwrap();
    }
}
