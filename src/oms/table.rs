//! The fixed tables the order book, its request-id memory and the paper venue keep:
//! sized once, every element written at start (no page is first touched mid-session),
//! and on 2 MiB pages where the kernel gives them on request.
//!
//! Those tables are tens to hundreds of MB and each order touches a few of them at
//! random: with 4 KiB pages nearly every such touch also missed the TLB, and on a virtual
//! machine a page walk is a two-level walk. perf of the 1 M-order demo put the request-id
//! lookup of each submit, almost all of it one load, at 6 % of the core thread. Kernels
//! whose transparent huge pages are set to `madvise` (a common default) only use them
//! where asked; `always` uses them anyway, `never` refuses, and the advice is then ignored.

/// A huge page on x86-64 and aarch64 (4 KiB base pages).
const HUGE: usize = 2 << 20;

/// `n` copies of `fill`, in memory advised for huge pages before it is first written.
pub(crate) fn table<T: Clone>(n: usize, fill: T) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    let bytes = n * std::mem::size_of::<T>();
    if bytes >= 2 * HUGE {
        let start = (v.as_mut_ptr() as usize).next_multiple_of(HUGE);
        let end = (v.as_mut_ptr() as usize + bytes) / HUGE * HUGE;
        if end > start {
            // SAFETY: [start, end) lies inside the allocation `v` owns, which nothing else
            // refers to yet; MADV_HUGEPAGE changes how its pages are backed, never what
            // they hold. A failure (no THP in this kernel) leaves ordinary pages.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    v.resize(n, fill);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_hold_what_they_were_filled_with() {
        for n in [0, 1, 1000, 3 << 20] {
            let t = table(n, 7u32);
            assert_eq!(t.len(), n);
            assert!(t.iter().all(|&x| x == 7));
        }
        let t = table(5, Some((1u64, 2u8)));
        assert_eq!(t, vec![Some((1, 2)); 5]);
    }
}
