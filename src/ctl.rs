//! The commands that talk to a running server: `zonewright status` (asks
//! the admin listener) and `zonewright reload` (SIGHUP to the `serve`
//! process of the same config).
//!
//! ```text
//!  status [ZONE] --config F ─► F's [admin] listen ─► GET /ready, GET /v1/zones/Z/status
//!  reload --config F        ─► /proc/*: a `zonewright serve` whose --config
//!                              (against its cwd) is F ─► kill(PID, SIGHUP)
//! ```
//!
//! Sits with the composition root (it uses the config and nothing served).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::config::Config;

/// How long `status` waits for the admin listener.
const TIMEOUT: Duration = Duration::from_secs(5);

/// GET `path` from the admin listener at `addr`: (status, JSON body).
async fn get(addr: std::net::SocketAddr, path: &str) -> anyhow::Result<(u16, Value)> {
    use http_body_util::BodyExt;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| {
            format!("cannot reach the admin listener at {addr} (is the server running?)")
        })?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .context("admin listener: HTTP handshake failed")?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, addr.to_string())
        .body(http_body_util::Empty::<hyper::body::Bytes>::new())
        .context("admin request")?;
    let resp = send
        .send_request(req)
        .await
        .context("admin listener: no answer")?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .context("admin listener: answer cut short")?
        .to_bytes();
    let json = serde_json::from_slice(&body)
        .with_context(|| format!("admin listener: {path} did not answer JSON"))?;
    Ok((status, json))
}

/// `zonewright status [ZONE] --config FILE`: readiness, then each zone's
/// serial, last commit and secondaries (ZONE, or every `[[zone]]` entry).
pub fn status(config_path: &Path, zone: Option<&str>) -> anyhow::Result<bool> {
    let config = Config::load(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(admin) = &config.admin else {
        bail!(
            "{}: no [admin] section: `status` asks the admin listener (add [admin] listen = \"127.0.0.1:9153\" and restart)",
            config_path.display()
        );
    };
    let zones: Vec<String> = match zone {
        Some(z) => vec![z.to_owned()],
        None => config.zones.iter().map(|z| z.name.to_ascii()).collect(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        tokio::time::timeout(TIMEOUT, report(admin.listen, &zones))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "the admin listener at {} did not answer within 5 s",
                    admin.listen
                )
            })?
    })
}

async fn report(addr: std::net::SocketAddr, zones: &[String]) -> anyhow::Result<bool> {
    let (code, ready) = get(addr, "/ready").await?;
    let mut ok = code == 200;
    if ok {
        println!("ready");
    } else {
        println!("not ready:");
        for p in ready["problems"].as_array().into_iter().flatten() {
            println!("  {}", p.as_str().unwrap_or_default());
        }
    }
    for zone in zones {
        let (code, v) = get(addr, &format!("/v1/zones/{zone}/status")).await?;
        if code != 200 {
            println!("{zone}: {}", v["error"].as_str().unwrap_or("no status"));
            ok = false;
            continue;
        }
        print_zone(&v);
        if v["error"].is_string() {
            ok = false;
        }
    }
    Ok(ok)
}

fn print_zone(v: &Value) {
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    println!(
        "{}: serial {}, {} records, file {}",
        text(&v["zone"]),
        text(&v["serial"]),
        text(&v["records"]),
        text(&v["file"])
    );
    if let Some(e) = v["error"].as_str() {
        println!("  the file does not load: {e}");
    }
    if let Some(e) = v["pull_error"].as_str() {
        println!("  the last git pull did not merge the remote's version: {e}");
    }
    let c = &v["last_commit"];
    if c.is_object() && c["id"].is_string() {
        let id = c["id"].as_str().unwrap_or_default();
        println!(
            "  last commit {} by {} ({}): {}",
            id.get(..12).unwrap_or(id),
            text(&c["author"]),
            chrono::DateTime::from_timestamp(c["time"].as_i64().unwrap_or(0), 0)
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
            text(&c["summary"])
        );
    }
    for s in v["secondaries"].as_array().into_iter().flatten() {
        let state = if s["in_sync"] == Value::Bool(true) {
            "in sync".to_owned()
        } else {
            format!("behind for {} s", text(&s["lag_seconds"]))
        };
        let err = s["error"]
            .as_str()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        println!(
            "  secondary {}: serial {}, {state}{err}",
            text(&s["target"]),
            text(&s["serial"])
        );
    }
}

/// `zonewright reload --config FILE`: SIGHUP to the one `zonewright serve`
/// of this config (the config and the zones are read again; the server's
/// log says what changed or why the file was refused).
pub fn reload(config_path: &Path) -> anyhow::Result<()> {
    let wanted = config_path
        .canonicalize()
        .with_context(|| format!("{}: cannot read", config_path.display()))?;
    let found = servers_of(&wanted);
    let pid = match found.as_slice() {
        [] => bail!(
            "no running `zonewright serve` uses {} (started with another --config, or not running)",
            wanted.display()
        ),
        [one] => *one,
        many => bail!(
            "{} servers use {}: PIDs {}; send SIGHUP to the one you mean (kill -HUP PID)",
            many.len(),
            wanted.display(),
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let target = rustix::process::Pid::from_raw(pid)
        .with_context(|| format!("PID {pid} is not a process id"))?;
    rustix::process::kill_process(target, rustix::process::Signal::HUP)
        .with_context(|| format!("cannot signal PID {pid}"))?;
    println!(
        "sent SIGHUP to zonewright (PID {pid}) serving {}: it reads the config and the zones again; \
         its log says what changed, what needs a restart, or why the file was refused",
        wanted.display()
    );
    Ok(())
}

/// PIDs of `zonewright serve` processes whose config is `wanted`.
fn servers_of(wanted: &Path) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id();
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let proc_dir = entry.path();
        let Ok(cmdline) = std::fs::read(proc_dir.join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_zonewright = args
            .first()
            .and_then(|a| Path::new(a).file_name())
            .is_some_and(|n| n == "zonewright");
        if !is_zonewright || !args.iter().any(|a| a == "serve") {
            continue;
        }
        let config = config_arg(&args);
        let cwd = std::fs::read_link(proc_dir.join("cwd")).unwrap_or_default();
        let path = if config.is_absolute() {
            config
        } else {
            cwd.join(config)
        };
        if path.canonicalize().is_ok_and(|p| p == wanted)
            && let Ok(pid) = i32::try_from(pid)
        {
            out.push(pid);
        }
    }
    out
}

/// The `--config` of a `serve` command line (default `zonewright.toml`).
fn config_arg(args: &[String]) -> PathBuf {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            if let Some(v) = it.next() {
                return PathBuf::from(v);
            }
        } else if let Some(v) = a.strip_prefix("--config=") {
            return PathBuf::from(v);
        }
    }
    PathBuf::from("zonewright.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_argument_in_both_spellings_or_the_default() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let serve = ["zonewright", "serve"];
        assert_eq!(
            config_arg(&args(&[&serve[..], &["--config", "a.toml"]].concat())),
            PathBuf::from("a.toml")
        );
        assert_eq!(
            config_arg(&args(&[&serve[..], &["--config=/b.toml"]].concat())),
            PathBuf::from("/b.toml")
        );
        assert_eq!(config_arg(&args(&serve)), PathBuf::from("zonewright.toml"));
    }
}
