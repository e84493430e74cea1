//! Who has the main area of the sidebar and pip composites when no screen share or slide
//! takes it: the camera chosen by `choose_main`, a pure function of the previous
//! `MainState`, this frame's camera candidates, the frame time and the hold.
//!
//! The rule (also in docs/architecture.md, "The webinar composite"):
//! - Rank of a camera this frame: speaking presenter (2) > speaking (1) > silent (0).
//!   "Speaking" is the scheduler's flag (RMS above -40 dBFS, with a 1 s hold).
//! - **No owner, or the owner is gone** (its clip ended, it has no picture, or
//!   `--hide-silent` dropped it): the best candidate takes the main area at once, no hold:
//!   highest rank, then presenter, then the first in the caller's order.
//! - **The owner is present**: the leading candidate is the one of highest rank; the owner
//!   wins ties, then the current challenger, then the first in order. So the owner stays
//!   while nobody speaks, and while it speaks itself unless a presenter speaks.
//! - **Hysteresis**: a leading candidate other than the owner becomes the challenger, with
//!   the time it started to lead; it takes the main area at the first frame where it has
//!   led without a break for `hold` (90 kHz; `--switch-hold`, default [`DEFAULT_HOLD`]).
//!   A frame where anyone else leads (the owner included) resets the challenge.
//! - Nothing else moves the main area: tile slots play no part (the camera in the main area
//!   has no tile, which must not count against it), so the owner never flaps between two
//!   cameras from one frame to the next.
//!
//! The caller applies the precedence above this rule: a screen share (the latest) > the
//! current slide > the owner chosen here > black; the state is updated on every frame
//! either way, so when a screen share ends the current speaker is already known.

use std::cmp::Reverse;
use std::sync::Arc;

use crate::time::{Ticks90k, VIDEO_HZ};

/// Default `--switch-hold`: 2 s (90 kHz).
pub const DEFAULT_HOLD: Ticks90k = Ticks90k(2 * VIDEO_HZ as i64);

/// A camera that can have the main area this frame (it shows a picture).
pub(crate) trait Contender {
    /// Stable identity (the participant's key).
    fn key(&self) -> &str;
    /// Lecturer or admin: wins ties among speakers.
    fn presenter(&self) -> bool;
    /// Its audio is above the speaking threshold this frame.
    fn speaking(&self) -> bool;
}

/// A plain candidate, for callers without their own [`Contender`] type (the tests).
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate<'a> {
    /// Stable identity (the participant's key).
    pub key: &'a str,
    /// Lecturer or admin.
    pub presenter: bool,
    /// Speaking this frame.
    pub speaking: bool,
}

#[cfg(test)]
impl Contender for Candidate<'_> {
    fn key(&self) -> &str {
        self.key
    }
    fn presenter(&self) -> bool {
        self.presenter
    }
    fn speaking(&self) -> bool {
        self.speaking
    }
}

impl<C: Contender + ?Sized> Contender for &C {
    fn key(&self) -> &str {
        (**self).key()
    }
    fn presenter(&self) -> bool {
        (**self).presenter()
    }
    fn speaking(&self) -> bool {
        (**self).speaking()
    }
}

/// The main area's camera between frames. Cloning only bumps reference counts; a key is
/// allocated only when the owner or the challenger changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct MainState {
    /// The camera in the main area (when no screen share or slide takes it).
    pub owner: Option<Arc<str>>,
    /// The candidate that leads instead of the owner, and since when (90 kHz).
    pub challenger: Option<(Arc<str>, i64)>,
}

impl MainState {
    /// The key of the camera in the main area, if any.
    pub fn owner(&self) -> Option<&str> {
        self.owner.as_deref()
    }
}

fn rank<C: Contender>(c: &C) -> u8 {
    match (c.speaking(), c.presenter()) {
        (true, true) => 2,
        (true, false) => 1,
        _ => 0,
    }
}

/// The next state at frame time `now` (90 kHz) with a hold of `hold` ticks. See the module
/// doc for the rule. `candidates`: the cameras with a picture this frame, in a stable order
/// (duplicated keys: the first counts).
pub(crate) fn choose_main<C: Contender>(state: &MainState, candidates: &[C], now: i64, hold: i64) -> MainState {
    let owner = state.owner.as_deref().and_then(|k| candidates.iter().find(|c| c.key() == k));
    let Some(owner) = owner else {
        // Nobody has the main area, or its owner is gone: the best candidate at once.
        let best = candidates.iter().enumerate().max_by_key(|(i, c)| (rank(*c), c.presenter(), Reverse(*i)));
        return MainState { owner: best.map(|(_, c)| Arc::from(c.key())), challenger: None };
    };
    let challenger = state.challenger.as_ref().map(|(k, since)| (&**k, *since));
    let lead = candidates
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| {
            (rank(*c), c.key() == owner.key(), challenger.is_some_and(|(k, _)| k == c.key()), Reverse(*i))
        })
        .map(|(_, c)| c)
        .unwrap_or(owner);
    if lead.key() == owner.key() || rank(lead) <= rank(owner) {
        // The owner leads (or ties): it stays, any challenge is over.
        return MainState { owner: state.owner.clone(), challenger: None };
    }
    let since = match challenger {
        Some((k, since)) if k == lead.key() => since,
        _ => now,
    };
    if now - since >= hold {
        return MainState { owner: Some(Arc::from(lead.key())), challenger: None };
    }
    let challenger = match &state.challenger {
        Some((k, s)) if &**k == lead.key() => (k.clone(), *s),
        _ => (Arc::from(lead.key()), now),
    };
    MainState { owner: state.owner.clone(), challenger: Some(challenger) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOLD: i64 = DEFAULT_HOLD.ticks();
    /// 25 fps in 90 kHz ticks.
    const FRAME: i64 = 3600;

    fn cand(key: &str, presenter: bool, speaking: bool) -> Candidate<'_> {
        Candidate { key, presenter, speaking }
    }

    /// Runs the rule over frames `from..to` (frame indices at 25 fps) with candidates given
    /// per frame by `at`; returns the owner per frame.
    fn run(
        state: &mut MainState,
        frames: std::ops::Range<i64>,
        hold: i64,
        at: impl Fn(i64) -> Vec<Candidate<'static>>,
    ) -> Vec<Option<String>> {
        frames
            .map(|n| {
                *state = choose_main(state, &at(n), n * FRAME, hold);
                state.owner().map(str::to_string)
            })
            .collect()
    }

    fn changes(owners: &[Option<String>]) -> usize {
        owners.windows(2).filter(|w| w[0] != w[1]).count()
    }

    #[test]
    fn two_cameras_without_roles_do_not_flap() {
        // Both speak all the time, both silent, alternate every frame, or one each: the
        // owner never changes (the old rule swapped them on every frame).
        for pattern in 0..4 {
            let mut s = MainState::default();
            let owners = run(&mut s, 0..250, HOLD, |n| {
                let (a, b) = match pattern {
                    0 => (true, true),
                    1 => (false, false),
                    2 => (n % 2 == 0, n % 2 == 1),
                    _ => (true, false),
                };
                vec![cand("a", false, a), cand("b", false, b)]
            });
            assert_eq!(changes(&owners), 0, "pattern {pattern}: {owners:?}");
            assert_eq!(owners[0].as_deref(), Some("a"));
        }
        // The same with the candidates' order swapping every frame.
        let mut s = MainState::default();
        let owners = run(&mut s, 0..250, HOLD, |n| {
            let (a, b) = (cand("a", false, true), cand("b", false, true));
            if n % 2 == 0 {
                vec![a, b]
            } else {
                vec![b, a]
            }
        });
        assert_eq!(changes(&owners), 0, "{owners:?}");
    }

    #[test]
    fn speaker_change_takes_effect_exactly_after_the_hold() {
        // a speaks frames 0..50, b from 50 on.
        let mut s = MainState::default();
        let owners = run(&mut s, 0..200, HOLD, |n| vec![cand("a", false, n < 50), cand("b", false, n >= 50)]);
        let hold_frames = (HOLD / FRAME) as usize;
        assert!(owners[..50 + hold_frames].iter().all(|o| o.as_deref() == Some("a")), "{owners:?}");
        assert!(owners[50 + hold_frames..].iter().all(|o| o.as_deref() == Some("b")), "{owners:?}");
        assert_eq!(changes(&owners), 1);
        // While b challenges, the state says so with the time it started to lead.
        let mut s = MainState::default();
        run(&mut s, 0..60, HOLD, |n| vec![cand("a", false, n < 50), cand("b", false, n >= 50)]);
        assert_eq!(s.owner(), Some("a"));
        assert_eq!(s.challenger.as_ref().map(|(k, t)| (&**k, *t)), Some(("b", 50 * FRAME)));
        // A hold that is not a whole number of frames: the first frame at or after it.
        let mut s = MainState::default();
        let owners = run(&mut s, 0..200, HOLD + 1, |n| vec![cand("a", false, n < 50), cand("b", false, n >= 50)]);
        assert_eq!(owners.iter().position(|o| o.as_deref() == Some("b")), Some(50 + hold_frames + 1));
        // Hold 0: at once.
        let mut s = MainState::default();
        let owners = run(&mut s, 0..100, 0, |n| vec![cand("a", false, n < 50), cand("b", false, n >= 50)]);
        assert_eq!(owners.iter().position(|o| o.as_deref() == Some("b")), Some(50));
    }

    #[test]
    fn a_challenge_that_breaks_off_starts_again() {
        // b leads for 1.5 s, the owner a speaks again (b silent) for a frame, b leads again:
        // b needs another full hold from its second start.
        let mut s = MainState::default();
        let owners = run(&mut s, 0..300, HOLD, |n| {
            let a = n < 10 || n == 47;
            let b = (10..47).contains(&n) || n >= 48;
            vec![cand("a", false, a), cand("b", false, b)]
        });
        assert_eq!(owners.iter().position(|o| o.as_deref() == Some("b")), Some(48 + 50), "{owners:?}");
        assert_eq!(changes(&owners), 1);
        // Two challengers taking turns: neither leads for the hold, the owner stays.
        let mut s = MainState::default();
        let owners = run(&mut s, 0..300, HOLD, |n| {
            let turn = (n / 25) % 2 == 0;
            vec![cand("a", false, n == 0), cand("b", false, n > 0 && turn), cand("c", false, n > 0 && !turn)]
        });
        assert_eq!(changes(&owners), 0, "{owners:?}");
    }

    #[test]
    fn the_owner_stays_when_nobody_speaks() {
        let mut s = MainState::default();
        // b speaks long enough to take over, then everyone is silent for a long time.
        let owners =
            run(&mut s, 0..1000, HOLD, |n| vec![cand("a", true, n < 5), cand("b", false, (5..200).contains(&n))]);
        assert_eq!(owners[999].as_deref(), Some("b"), "silence does not hand it back to the presenter");
        assert_eq!(changes(&owners), 1);
        assert_eq!(s.challenger, None);
    }

    #[test]
    fn presenter_priority() {
        // The guest owns the main area and keeps speaking; the presenter speaks too: the
        // presenter leads and takes over after the hold, though the guest never stops.
        let mut s = MainState::default();
        let owners = run(&mut s, 0..300, HOLD, |n| vec![cand("guest", false, true), cand("lect", true, n >= 100)]);
        assert_eq!(owners[0].as_deref(), Some("guest"));
        assert_eq!(owners.iter().position(|o| o.as_deref() == Some("lect")), Some(150));
        assert_eq!(changes(&owners), 1);
        // The presenter owns it and keeps speaking: a speaking guest never takes it.
        let owners = run(&mut s, 300..600, HOLD, |n| vec![cand("guest", false, n % 3 != 0), cand("lect", true, true)]);
        assert!(owners.iter().all(|o| o.as_deref() == Some("lect")));
        // The presenter stops: the guest takes it after the hold.
        let owners = run(&mut s, 600..800, HOLD, |_| vec![cand("guest", false, true), cand("lect", true, false)]);
        assert_eq!(owners.iter().position(|o| o.as_deref() == Some("guest")), Some(50));
        // With nobody in the main area, a silent presenter is preferred over a silent guest,
        // a speaking guest over a silent presenter.
        let first = |c: &[Candidate]| choose_main(&MainState::default(), c, 0, HOLD).owner().map(str::to_string);
        assert_eq!(first(&[cand("g", false, false), cand("l", true, false)]).as_deref(), Some("l"));
        assert_eq!(first(&[cand("l", true, false), cand("g", false, true)]).as_deref(), Some("g"));
        assert_eq!(first(&[cand("g", false, true), cand("l", true, true)]).as_deref(), Some("l"));
        assert_eq!(first(&[cand("x", false, false), cand("y", false, false)]).as_deref(), Some("x"));
        assert_eq!(first(&[]), None);
    }

    #[test]
    fn an_owner_who_leaves_is_replaced_at_once() {
        let mut s = MainState::default();
        let owners = run(&mut s, 0..100, HOLD, |n| {
            let mut v = vec![cand("b", false, false), cand("c", false, n >= 30)];
            if n < 40 {
                v.insert(0, cand("a", false, true));
            }
            v
        });
        // c speaks from frame 30 (a too: a keeps it); a leaves at frame 40: c (speaking) at once.
        assert_eq!(owners[39].as_deref(), Some("a"));
        assert_eq!(owners[40].as_deref(), Some("c"));
        assert_eq!(s.challenger, None);
        // The owner leaves and nobody speaks: the first remaining one, at once.
        let mut s = MainState { owner: Some("gone".into()), challenger: Some(("b".into(), 0)) };
        s = choose_main(&s, &[cand("b", false, false), cand("c", false, false)], 10 * FRAME, HOLD);
        assert_eq!((s.owner(), s.challenger.clone()), (Some("b"), None));
        // Everyone leaves: no owner; the next camera to come takes it at once.
        s = choose_main(&s, &[] as &[Candidate], 11 * FRAME, HOLD);
        assert_eq!(s, MainState::default());
        s = choose_main(&s, &[cand("d", false, false)], 12 * FRAME, HOLD);
        assert_eq!(s.owner(), Some("d"));
    }

    #[test]
    fn a_challenger_that_leaves_or_stops_ends_its_challenge() {
        let mut s = MainState::default();
        s = choose_main(&s, &[cand("a", false, false), cand("b", false, true)], 0, HOLD);
        assert_eq!(s.owner(), Some("b"));
        s = choose_main(&s, &[cand("a", false, true), cand("b", false, false)], FRAME, HOLD);
        assert_eq!(s.challenger.as_ref().map(|(k, _)| &**k), Some("a"));
        // a leaves: challenge over.
        s = choose_main(&s, &[cand("b", false, false)], 2 * FRAME, HOLD);
        assert_eq!(s.challenger, None);
        // a back and speaking: its time starts again.
        s = choose_main(&s, &[cand("a", false, true), cand("b", false, false)], 3 * FRAME, HOLD);
        assert_eq!(s.challenger.as_ref().map(|(k, t)| (&**k, *t)), Some(("a", 3 * FRAME)));
        s = choose_main(&s, &[cand("a", false, true), cand("b", false, false)], 3 * FRAME + HOLD - 1, HOLD);
        assert_eq!(s.owner(), Some("b"));
        s = choose_main(&s, &[cand("a", false, true), cand("b", false, false)], 3 * FRAME + HOLD, HOLD);
        assert_eq!(s.owner(), Some("a"));
    }

    #[test]
    fn keys_are_allocated_only_on_change() {
        let mut s = MainState::default();
        let c = [cand("a", false, false), cand("b", false, true)];
        s = choose_main(&s, &c, 0, HOLD);
        let owner = s.owner.clone().unwrap();
        let c = [cand("a", true, true), cand("b", false, true)];
        s = choose_main(&s, &c, FRAME, HOLD);
        let ch = s.challenger.clone().unwrap().0;
        for n in 2..40 {
            s = choose_main(&s, &c, n * FRAME, HOLD);
            assert!(Arc::ptr_eq(s.owner.as_ref().unwrap(), &owner));
            assert!(Arc::ptr_eq(&s.challenger.as_ref().unwrap().0, &ch));
        }
    }
}
