//! Acknowledged events as runs of consecutive `seq`s: the outbox drops a run with one ranged delete
//! (its keys are `[tag, seq]`, whole numbers), where one delete per event costs a request each.

/// The `(tag, first, last)` runs that cover exactly `events` (tag, seq): each tag's seqs sorted,
/// duplicates dropped, consecutive ones joined. Tags keep the order of their first event.
pub fn ack_runs(events: &[(String, u64)]) -> Vec<(String, u64, u64)> {
    // Each tag's seqs kept sorted as they are added (no sort: its code is kilobytes of wasm).
    let mut tags: Vec<(&str, Vec<u64>)> = Vec::new();
    for (tag, seq) in events {
        let seqs = match tags.iter().position(|(t, _)| t == tag) {
            Some(i) => &mut tags[i].1,
            None => {
                tags.push((tag, Vec::new()));
                &mut tags.last_mut().expect("pushed").1
            }
        };
        if let Err(at) = seqs.binary_search(seq) {
            seqs.insert(at, *seq);
        }
    }
    let mut runs = Vec::new();
    for (tag, seqs) in tags {
        let mut run: Option<(u64, u64)> = None;
        for seq in seqs {
            run = match run {
                Some((first, last)) if last.checked_add(1) == Some(seq) => Some((first, seq)),
                Some((first, last)) => {
                    runs.push((tag.to_string(), first, last));
                    Some((seq, seq))
                }
                None => Some((seq, seq)),
            };
        }
        runs.extend(run.map(|(first, last)| (tag.to_string(), first, last)));
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::ack_runs;

    fn events(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(t, s)| (t.to_string(), *s)).collect()
    }

    #[test]
    fn consecutive_seqs_of_a_tag_make_one_run_and_a_gap_starts_another() {
        let runs = ack_runs(&events(&[
            ("a", 3),
            ("a", 1),
            ("b", 7),
            ("a", 2),
            ("a", 5),
            ("b", 8),
        ]));
        assert_eq!(
            runs,
            vec![
                ("a".to_string(), 1, 3),
                ("a".to_string(), 5, 5),
                ("b".to_string(), 7, 8)
            ]
        );
    }

    #[test]
    fn repeated_seqs_count_once_and_nothing_gives_no_run() {
        assert_eq!(
            ack_runs(&events(&[("a", 4), ("a", 4), ("a", 5), ("a", 4)])),
            vec![("a".to_string(), 4, 5)]
        );
        assert!(ack_runs(&[]).is_empty());
        assert_eq!(
            ack_runs(&events(&[("a", u64::MAX), ("a", 0)])),
            vec![
                ("a".to_string(), 0, 0),
                ("a".to_string(), u64::MAX, u64::MAX)
            ]
        );
    }
}
