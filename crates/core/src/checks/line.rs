//! The files the checks stage will inspect, and in which order: one line
//! per municipality (or lane), served in turn, so one municipality's
//! thousand files — or one file that keeps failing — never hold another
//! municipality's behind them.
//!
//! At most [`CHECKS_BACKLOG`] ids are held, whatever waits in the
//! journal (a scanner down for a day with heavy uploads must not grow
//! memory); the rest are read from the journal again once the line is
//! empty. A file the scanner left unanswered goes to the back of its
//! owner's line with a strike; strikes are counted only while the
//! scanner answers for other files (an outage is not the file's fault).

use std::collections::{HashMap, VecDeque};

use crate::namespace::checking::CHECKS_BACKLOG;

#[derive(Default)]
pub(super) struct Line {
    /// Each owner's waiting ids, oldest first.
    waiting: HashMap<String, VecDeque<String>>,
    /// Owners with waiting ids, in the order they are served.
    turns: VecDeque<String>,
    /// Every id in the line or being inspected, with its owner.
    known: HashMap<String, String>,
    /// Times each id went unanswered while the scanner was answering.
    strikes: HashMap<String, u32>,
    /// Some ids were not taken for want of room.
    overflowed: bool,
}

impl Line {
    /// Adds `id` of `owner` at the back of its owner's line, unless it is
    /// known already.
    pub(super) fn add(&mut self, id: String, owner: String) {
        if self.known.contains_key(&id) {
            return;
        }
        if self.known.len() >= CHECKS_BACKLOG {
            self.overflowed = true;
            return;
        }
        self.known.insert(id.clone(), owner.clone());
        self.enqueue(id, owner);
    }

    fn enqueue(&mut self, id: String, owner: String) {
        let q = self.waiting.entry(owner.clone()).or_default();
        if q.is_empty() {
            self.turns.push_back(owner);
        }
        q.push_back(id);
    }

    /// The next id, taking owners in turn.
    pub(super) fn next(&mut self) -> Option<String> {
        let owner = self.turns.pop_front()?;
        let q = self.waiting.get_mut(&owner)?;
        let id = q.pop_front();
        if q.is_empty() {
            self.waiting.remove(&owner);
        } else {
            self.turns.push_back(owner);
        }
        id
    }

    /// An inspection of `id` ended with a verdict (or the file left).
    pub(super) fn done(&mut self, id: &str) {
        self.known.remove(id);
        self.strikes.remove(id);
    }

    /// The scanner left `id` unanswered: it goes to the back of its
    /// owner's line. `counts` when the scanner was answering others;
    /// returns the strikes it now has.
    pub(super) fn unanswered(&mut self, id: String, counts: bool) -> u32 {
        let strikes = self.strikes.entry(id.clone()).or_insert(0);
        if counts {
            *strikes += 1;
        }
        let n = *strikes;
        if let Some(owner) = self.known.get(&id).cloned() {
            self.enqueue(id, owner);
        }
        n
    }

    /// Ids waiting (not being inspected).
    pub(super) fn len(&self) -> usize {
        self.waiting.values().map(VecDeque::len).sum()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }

    /// Whether the journal must be read for the files left out.
    pub(super) fn wants_journal(&mut self, idle: bool) -> bool {
        let wants = self.overflowed && idle && self.is_empty();
        if wants {
            self.overflowed = false;
        }
        wants
    }

    #[cfg(test)]
    fn knows_nothing(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_holds_a_bounded_number_of_ids_and_asks_for_the_rest_when_empty() {
        let mut line = Line::default();
        for i in 0..CHECKS_BACKLOG + 5 {
            line.add(format!("id{i}"), "032018".into());
        }
        line.add("id0".into(), "032018".into());
        assert_eq!(line.len(), CHECKS_BACKLOG);
        assert!(!line.wants_journal(true), "not while ids are waiting");
        while let Some(id) = line.next() {
            line.done(&id);
        }
        assert!(line.knows_nothing());
        assert!(!line.wants_journal(false), "not while inspections run");
        assert!(line.wants_journal(true));
        assert!(!line.wants_journal(true), "once per overflow");
    }

    #[test]
    fn municipalities_take_turns_and_a_failing_file_goes_to_the_back() {
        let mut line = Line::default();
        for i in 0..3 {
            line.add(format!("a{i}"), "032018".into());
        }
        line.add("b0".into(), "011002".into());
        line.add("b1".into(), "011002".into());
        let order: Vec<String> = std::iter::from_fn(|| line.next()).take(3).collect();
        assert_eq!(order, ["a0", "b0", "a1"]);
        // a0 went unanswered while the scanner answered others.
        assert_eq!(line.unanswered("a0".into(), true), 1);
        let rest: Vec<String> = std::iter::from_fn(|| line.next()).collect();
        assert_eq!(rest, ["b1", "a2", "a0"]);
        assert_eq!(
            line.unanswered("a0".into(), false),
            1,
            "an outage is no strike"
        );
        assert_eq!(line.next().as_deref(), Some("a0"));
    }
}
