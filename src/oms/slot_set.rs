//! Which slots of a fixed-size order table hold a live order, walked in slot order in
//! time proportional to the live orders, not to the table.
//!
//! The order book and the paper venue keep their orders in tables of hundreds of
//! thousands of slots, mostly finished orders kept for lookups. Every reconciliation
//! report walks the live ones (R-AUD-4), and so do operator commands; a flag per slot made
//! each walk read the whole table: in the 1 M-order demo the two walks were about a fifth
//! of the core's time. Two levels of bitmap instead: a bit per slot, and a bit per word
//! of those saying whether it has any bit set. Slot order is kept on purpose: what a
//! walk emits is journaled, and replaying an old journal must emit it in the same order.

/// A set of slot indexes below a capacity fixed at construction.
#[derive(Clone, Debug)]
pub(crate) struct SlotSet {
    /// Bit `i % 64` of word `i / 64`: slot `i` is in the set.
    words: Vec<u64>,
    /// Bit `w % 64` of summary word `w / 64`: word `w` is not zero.
    summary: Vec<u64>,
    len: usize,
}

impl SlotSet {
    /// An empty set for slots `0..slots`; both levels are written now, so no page is
    /// first touched mid-session.
    pub(crate) fn new(slots: usize) -> SlotSet {
        let words = slots.div_ceil(64).max(1);
        SlotSet {
            words: vec![0; words],
            summary: vec![0; words.div_ceil(64)],
            len: 0,
        }
    }

    /// Adds slot `i`; false if it was in the set already.
    #[inline]
    pub(crate) fn insert(&mut self, i: usize) -> bool {
        let (w, bit) = (i / 64, 1u64 << (i % 64));
        let word = &mut self.words[w];
        if *word & bit != 0 {
            return false;
        }
        *word |= bit;
        self.summary[w / 64] |= 1 << (w % 64);
        self.len += 1;
        true
    }

    /// Takes slot `i` out; false if it was not in the set.
    #[inline]
    pub(crate) fn remove(&mut self, i: usize) -> bool {
        let (w, bit) = (i / 64, 1u64 << (i % 64));
        let word = &mut self.words[w];
        if *word & bit == 0 {
            return false;
        }
        *word &= !bit;
        if *word == 0 {
            self.summary[w / 64] &= !(1 << (w % 64));
        }
        self.len -= 1;
        true
    }

    /// Slots in the set.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The slots in the set, lowest first.
    pub(crate) fn iter(&self) -> Slots<'_> {
        Slots {
            set: self,
            next_summary: 0,
            summary_bits: 0,
            word: 0,
            word_bits: 0,
        }
    }
}

/// The slots of a [`SlotSet`], lowest first.
pub(crate) struct Slots<'a> {
    set: &'a SlotSet,
    /// The summary word to load when `summary_bits` runs out.
    next_summary: usize,
    /// Non-empty words of the summary word last loaded, not yet visited.
    summary_bits: u64,
    word: usize,
    /// Slots of `word` not yet returned.
    word_bits: u64,
}

impl Iterator for Slots<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        loop {
            if self.word_bits != 0 {
                let b = self.word_bits.trailing_zeros() as usize;
                self.word_bits &= self.word_bits - 1;
                return Some(self.word * 64 + b);
            }
            if self.summary_bits != 0 {
                let j = self.summary_bits.trailing_zeros() as usize;
                self.summary_bits &= self.summary_bits - 1;
                self.word = (self.next_summary - 1) * 64 + j;
                self.word_bits = self.set.words[self.word];
                continue;
            }
            self.summary_bits = *self.set.summary.get(self.next_summary)?;
            self.next_summary += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Random inserts and removes against a BTreeSet, across word and summary-word
    /// boundaries, with the walk compared after every step batch.
    #[test]
    fn agrees_with_a_sorted_set_through_random_changes() {
        for slots in [1usize, 63, 64, 65, 4095, 4096, 4097, 70_000] {
            let mut set = SlotSet::new(slots);
            let mut want = BTreeSet::new();
            let mut rng = fastrand::Rng::with_seed(slots as u64);
            for step in 0..20_000 {
                let i = if rng.bool() {
                    // Cluster near the ends and boundaries too.
                    [0, slots - 1, (slots / 2) & !63, slots.saturating_sub(64)][rng.usize(0..4)]
                } else {
                    rng.usize(0..slots)
                };
                if rng.u8(0..3) == 0 {
                    assert_eq!(set.remove(i), want.remove(&i), "{slots} remove {i}");
                } else {
                    assert_eq!(set.insert(i), want.insert(i), "{slots} insert {i}");
                }
                assert_eq!(set.len(), want.len());
                if step % 997 == 0 {
                    assert!(set.iter().eq(want.iter().copied()), "{slots} step {step}");
                }
            }
            assert!(set.iter().eq(want.iter().copied()), "{slots}");
            for i in want.clone() {
                assert!(set.remove(i));
            }
            assert_eq!((set.len(), set.iter().next()), (0, None));
        }
    }
}
