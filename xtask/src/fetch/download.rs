//! HTTP(S) downloads that resume, show progress, and verify sha256 before a file gets its
//! final name: bytes go to `<file>.part`; a wrong checksum removes the part file.
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

/// Fails fast, with a message saying so, when `url`'s host cannot be reached.
pub fn check_reachable(url: &str, source: &str) -> anyhow::Result<()> {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let host_port = rest.split('/').next().unwrap_or(rest);
    let default_port = if url.starts_with("https://") { 443 } else { 80 };
    let addr = if host_port.contains(':') {
        host_port.to_string()
    } else {
        format!("{host_port}:{default_port}")
    };
    let needs = || {
        format!(
            "fetching `{source}` needs the internet: {addr} cannot be reached from this machine \
             (offline sources: `cargo xtask fetch --list`)"
        )
    };
    let addrs: Vec<_> = addr.to_socket_addrs().with_context(needs)?.collect();
    let ok = addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, Duration::from_secs(5)).is_ok());
    if !ok {
        bail!(needs());
    }
    Ok(())
}

/// Downloads `url` to `dest` unless `dest` already exists with the expected checksum.
/// `expected_sha256` empty means "not known": the computed value is returned for recording.
/// A `dest.part` left by an interrupted run is resumed with an HTTP Range request.
pub fn download(url: &str, dest: &Path, expected_sha256: &str) -> anyhow::Result<String> {
    if dest.is_file() {
        let have = sha256_file(dest)?;
        if expected_sha256.is_empty() || have == expected_sha256 {
            return Ok(have);
        }
        eprintln!("{}: checksum differs, downloading again", dest.display());
        std::fs::remove_file(dest)?;
    }
    let part = part_path(dest);
    let result = fetch_to_part(url, &part);
    let sha = match result {
        Ok(sha) => sha,
        // Keep the part file: the next run resumes it.
        Err(e) => return Err(e.context(format!("downloading {url}"))),
    };
    if !expected_sha256.is_empty() && sha != expected_sha256 {
        std::fs::remove_file(&part).ok();
        bail!(
            "sha256 mismatch for {url}: expected {expected_sha256}, got {sha}; the downloaded \
             file was removed"
        );
    }
    std::fs::rename(&part, dest)
        .with_context(|| format!("renaming {} to {}", part.display(), dest.display()))?;
    Ok(sha)
}

pub fn part_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    dest.with_file_name(name)
}

/// Streams `url` into `part` (appending after what is there when the server honours Range)
/// and returns the sha256 of the whole file.
fn fetch_to_part(url: &str, part: &Path) -> anyhow::Result<String> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let mut request = ureq::get(url);
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = match request.call() {
        // The part file already holds everything.
        Err(ureq::Error::StatusCode(416)) if have > 0 => return sha256_file(part),
        Err(ureq::Error::StatusCode(code)) => bail!("server answered HTTP {code}"),
        Err(e) => return Err(e.into()),
        Ok(r) => r,
    };
    let resumed = have > 0 && response.status().as_u16() == 206;
    let mut hasher = Sha256::new();
    let mut file = if resumed {
        // Hash the prefix we keep, then append.
        let mut f = File::open(part)?;
        std::io::copy(&mut f, &mut hasher)?;
        OpenOptions::new().append(true).open(part)?
    } else {
        File::create(part).with_context(|| format!("creating {}", part.display()))?
    };
    let start = if resumed { have } else { 0 };
    let length = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let bar = progress_bar(length.map(|l| l + start), url);
    bar.set_position(start);
    let mut body = response.into_body();
    let mut reader = body.as_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut received = 0u64;
    loop {
        let n = reader
            .read(&mut buf)
            .context("the connection broke; run again to resume")?;
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n])?;
        hasher.update(&buf[..n]);
        received += n as u64;
        bar.inc(n as u64);
    }
    file.sync_all()?;
    bar.finish_and_clear();
    if let Some(l) = length
        && received != l
    {
        bail!("connection closed after {received} of {l} bytes; run again to resume");
    }
    Ok(task2vec_common::hex(&hasher.finalize()))
}

fn progress_bar(total: Option<u64>, what: &str) -> indicatif::ProgressBar {
    let bar = match total {
        Some(t) => indicatif::ProgressBar::new(t),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(what.rsplit('/').next().unwrap_or(what).to_string());
    bar
}

/// sha256 of a file as hex ([`task2vec_common::sha256_file`]; the error names the file).
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    Ok(task2vec_common::sha256_file(path)?)
}

#[cfg(test)]
mod tests {
    //! Against a tiny HTTP/1.1 server on 127.0.0.1 that serves one fixture body, honours
    //! `Range`, and can cut the connection halfway to simulate an interrupted download.
    use super::*;
    use crate::fetch::test_server::Server;
    use std::net::TcpListener;
    use std::sync::atomic::Ordering;

    fn serve(body: Vec<u8>, cut_first: usize) -> Server {
        Server::start(vec![("/data/fixture.tar.gz".to_string(), body)], cut_first)
    }

    fn fixture() -> Vec<u8> {
        (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect()
    }

    fn sha(bytes: &[u8]) -> String {
        task2vec_common::sha256_bytes(bytes)
    }

    #[test]
    fn good_checksum_passes_and_a_second_call_does_not_download() {
        let body = fixture();
        let server = serve(body.clone(), 0);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("fixture.tar.gz");
        let url = server.url("/data/fixture.tar.gz");
        let got = download(&url, &dest, &sha(&body)).unwrap();
        assert_eq!(got, sha(&body));
        assert_eq!(std::fs::read(&dest).unwrap(), body);
        assert!(!part_path(&dest).exists());
        download(&url, &dest, &sha(&body)).unwrap();
        assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn bad_checksum_fails_and_leaves_no_file() {
        let body = fixture();
        let server = serve(body, 0);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("fixture.tar.gz");
        let wrong = "0".repeat(64);
        let err = download(&server.url("/data/fixture.tar.gz"), &dest, &wrong).unwrap_err();
        assert!(format!("{err:#}").contains("sha256 mismatch"), "{err:#}");
        assert!(!dest.exists());
        assert!(!part_path(&dest).exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn interrupted_download_resumes_with_range() {
        let body = fixture();
        let server = serve(body.clone(), 1);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("fixture.tar.gz");
        let url = server.url("/data/fixture.tar.gz");
        let err = download(&url, &dest, &sha(&body)).unwrap_err();
        assert!(format!("{err:#}").contains("resume"), "{err:#}");
        let half = std::fs::metadata(part_path(&dest)).unwrap().len();
        assert_eq!(half, body.len() as u64 / 2);
        download(&url, &dest, &sha(&body)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), body);
        assert_eq!(*server.ranges.lock().unwrap(), vec![None, Some(half)]);
    }

    #[test]
    fn unknown_checksum_is_computed_and_a_corrupt_existing_file_is_replaced() {
        let body = fixture();
        let server = serve(body.clone(), 0);
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("fixture.tar.gz");
        let url = server.url("/data/fixture.tar.gz");
        assert_eq!(download(&url, &dest, "").unwrap(), sha(&body));
        std::fs::write(&dest, b"corrupted").unwrap();
        download(&url, &dest, &sha(&body)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), body);
    }

    #[test]
    fn unreachable_host_fails_fast_with_a_clear_message() {
        // Bind then drop: nothing listens on this port any more.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = check_reachable(&format!("http://127.0.0.1:{port}/x"), "cub").unwrap_err();
        assert!(err.to_string().contains("needs the internet"), "{err}");
        let err = check_reachable("https://no-such-host.invalid/x", "cub").unwrap_err();
        assert!(err.to_string().contains("needs the internet"), "{err}");
    }
}
