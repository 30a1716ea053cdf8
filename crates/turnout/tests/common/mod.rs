//! Starting the `turnout` binary for tests: on a port the OS picks, learnt from its log.
//!
//! Picking a free port first and passing it in races with every other test that binds ports
//! in the meantime; `--listen 127.0.0.1:0` cannot collide.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_turnout");

/// A running `turnout serve`; killed (and reaped) on drop.
pub struct Served {
    pub child: Child,
    pub port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `turnout serve --listen 127.0.0.1:0 <extra>` in `dir`, returned once it listens.
pub fn serve(dir: &Path, extra: &[&str]) -> Served {
    serve_with_env(dir, extra, &[])
}

/// [`serve`] with extra environment variables.
pub fn serve_with_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Served {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    // Keeps draining stderr after the address is found so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("turnout listening")
                && let Some(port) = line
                    .split_whitespace()
                    .find_map(|field| field.strip_prefix("addr=127.0.0.1:"))
                    .and_then(|port| port.parse::<u16>().ok())
            {
                let _ = tx.send(port);
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(port) => Served { child, port },
        Err(_) => {
            let _ = child.kill();
            let status = child.wait();
            panic!("turnout serve did not start listening in {dir:?}: {status:?}");
        }
    }
}
