//! The task2vec data home: fetched datasets (`<home>/datasets`), probe weights
//! (`<home>/probes`) and downloads (`<home>/downloads`). `cargo xtask fetch`, `fetch-probe`,
//! the probe loader and the suites all resolve it here, so they always agree.
use std::ffi::OsString;
use std::path::PathBuf;

/// The environment variable that overrides the data home.
pub const HOME_VAR: &str = "TASK2VEC_HOME";

/// `$TASK2VEC_HOME`, or `~/.cache/task2vec` when it is unset or empty.
pub fn home_dir() -> PathBuf {
    home_dir_from(std::env::var_os(HOME_VAR), std::env::home_dir())
}

/// The rule behind [`home_dir`], as a pure function of the variable's value and the user's home
/// directory (so it is tested without touching the process environment):
///
/// * a non-empty `task2vec_home` wins;
/// * an empty one counts as unset (`TASK2VEC_HOME= cmd` must not mean "the current directory");
/// * otherwise `<user_home>/.cache/task2vec`, with `.` standing in for a missing or empty user
///   home (a relative path, but a predictable one).
pub fn home_dir_from(task2vec_home: Option<OsString>, user_home: Option<PathBuf>) -> PathBuf {
    if let Some(home) = task2vec_home.filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    user_home
        .filter(|h| !h.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".cache")
        .join("task2vec")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_variable_wins() {
        let got = home_dir_from(Some("/data/t2v".into()), Some("/home/u".into()));
        assert_eq!(got, PathBuf::from("/data/t2v"));
    }

    #[test]
    fn unset_and_empty_variables_both_fall_back_to_the_user_cache() {
        let want = PathBuf::from("/home/u/.cache/task2vec");
        assert_eq!(home_dir_from(None, Some("/home/u".into())), want);
        assert_eq!(home_dir_from(Some("".into()), Some("/home/u".into())), want);
    }

    #[test]
    fn without_a_user_home_the_cache_is_relative_to_the_current_directory() {
        let want = PathBuf::from("./.cache/task2vec");
        assert_eq!(home_dir_from(None, None), want);
        assert_eq!(home_dir_from(Some("".into()), Some("".into())), want);
    }
}
