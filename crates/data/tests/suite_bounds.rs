//! Suite files whose `source` leaves the datasets folder, found by fuzzing `Suite::load`
//! (`fuzz/`, target `suite-toml`, seed 42: `source = "fashio./../etc"`): a task's data folder
//! is `<home>/datasets/<source>/<path>`, and `source` was joined unchecked.
use std::path::Path;

use task2vec_data::Suite;

fn suite(source: &str) -> String {
    format!(
        "name = \"s\"\n[[task]]\nid = \"a\"\nsource = \"{source}\"\ntaxonomy = [\"s\"]\nmax_samples = 1\n"
    )
}

#[test]
fn a_source_outside_the_datasets_folder_is_an_error() {
    for source in ["../../etc", "/etc", "fashion-mnist/../../x", ".", ""] {
        let e = Suite::parse(&suite(source), Path::new("s.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.toml") && e.contains("`source`"),
            "{source:?}: {e}"
        );
    }
}

#[test]
fn a_plain_source_name_still_reads() {
    let s = Suite::parse(&suite("fashion-mnist"), Path::new("s.toml")).unwrap();
    assert_eq!(
        s.tasks[0].data_dir(Path::new("/h")),
        Path::new("/h/datasets/fashion-mnist")
    );
}
