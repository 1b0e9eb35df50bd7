//! The one taxonomic distance of the project (suites, the reproduction's E2 and the
//! embedding crate's top-k metric all use it).

/// Taxonomic distance of two lineages, each listed **root first** (e.g.
/// `["animalia", "chordata", "aves", "passeriformes"]`, or a suite task's `taxonomy`): the number
/// of levels from the deeper of the two up to their closest common ancestor. 0 for the same
/// path, 1 for siblings, 2 for cousins, and the longer length when not even the roots agree.
///
/// Symmetric. For two lineages of the same depth in a proper tree this equals the reference
/// code's "index of the first shared rank" on the same lineages listed finest first
/// (REF's `plot_distance_cub_inat.py`: 0 same order, 1 same class, …, 4 different kingdoms);
/// a lineage is written root first here because a shared *name* at a fine rank under different
/// parents (two genera called `Morus`) must not count as shared.
pub fn taxonomic_distance<S: PartialEq>(a: &[S], b: &[S]) -> usize {
    let common = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    a.len().max(b.len()) - common
}

#[cfg(test)]
mod tests {
    use super::taxonomic_distance as d;

    #[test]
    fn counts_levels_from_the_deeper_lineage_to_the_common_ancestor() {
        let latin = ["glyphs", "alphabets", "european", "latin"];
        let greek = ["glyphs", "alphabets", "european", "greek"];
        let hebrew = ["glyphs", "abjads", "hebrew"];
        assert_eq!(d(&latin, &latin), 0);
        assert_eq!(d(&latin, &greek), 1);
        // Common ancestor "glyphs": three levels up from latin, two from hebrew.
        assert_eq!(d(&latin, &hebrew), 3);
        assert_eq!(d(&hebrew, &latin), 3);
        assert_eq!(d(&latin, &["mnist", "digits"]), 4);
    }

    #[test]
    fn a_lineage_and_its_ancestor_are_as_far_apart_as_the_extra_levels() {
        assert_eq!(d(&["a", "b", "c"], &["a"]), 2);
        assert_eq!(d::<&str>(&[], &[]), 0);
        assert_eq!(d(&[], &["a", "b"]), 2);
    }

    #[test]
    fn a_shared_name_under_different_parents_is_not_shared() {
        assert_eq!(d(&["plants", "Morus"], &["birds", "Morus"]), 2);
    }

    #[test]
    fn matches_the_reference_first_shared_rank_on_four_rank_lineages() {
        // REF (finest first): index of the first equal rank, 4 when none is equal.
        let reference = |a: &[&str; 4], b: &[&str; 4]| (0..4).find(|&r| a[r] == b[r]).unwrap_or(4);
        let finest_first = [
            ["o1", "c1", "p1", "k1"],
            ["o2", "c1", "p1", "k1"],
            ["o3", "c2", "p1", "k1"],
            ["o4", "c3", "p2", "k1"],
            ["o5", "c4", "p3", "k2"],
        ];
        for a in &finest_first {
            for b in &finest_first {
                let (mut ra, mut rb) = (*a, *b);
                ra.reverse();
                rb.reverse();
                assert_eq!(d(&ra, &rb), reference(a, b), "{a:?} {b:?}");
            }
        }
    }
}
