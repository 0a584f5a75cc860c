//! The `zonewright` binary: parse the command line, set up logging, and
//! either serve, check a config and its zones, or check one zone file.
//!
//! ```text
//! zonewright [--log-format human|json] [--log-level LEVEL] serve  [--config F] [--init]
//! zonewright                                               check  [--config F]
//! zonewright                                               zone check FILE [--origin NAME]
//! zonewright                                               keygen NAME [--algorithm A] [--zone Z]...
//!                                                            [--format toml|bind|certbot|lego|caddy|all] [--config F]
//! ```
//!
//! `serve` binds the listeners, loads every zone (a broken one is logged and
//! skipped: the others still serve), then runs until SIGTERM or ctrl-c.
//! `check` lists every problem and exits 1 if there is any. anyhow lives
//! here only, for the top-level error context.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use zonewright::config::{Config, parse_zone_name};
use zonewright::keygen;
use zonewright::loader::{self, LoadFailure, Loaded};
use zonewright::rr::Name;
use zonewright::serve;
use zonewright::served::State;
use zonewright::server::{BindError, Listeners};
use zonewright::store::Store;
use zonewright::tsig::Algorithm;

#[derive(Parser)]
#[command(
    name = "zonewright",
    version,
    about = "Authoritative DNS server for a directory of zone files"
)]
struct Cli {
    /// Log output format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Log level or filter (e.g. "debug", "zonewright=debug"); default: RUST_LOG, else "info".
    #[arg(long, global = true)]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the configured zones over UDP and TCP.
    Serve {
        #[arg(long, default_value = "zonewright.toml")]
        config: PathBuf,
        /// Create `zones_dir` (and its git repository) when it does not
        /// exist; without it, a missing `zones_dir` is an error.
        #[arg(long)]
        init: bool,
        /// Refuse to start (exit 1) when any zone fails to load, instead of
        /// serving the others; each failure is listed at ERROR.
        #[arg(long)]
        strict: bool,
    },
    /// Check the config and every zone it serves; exit 1 on any problem.
    Check {
        #[arg(long, default_value = "zonewright.toml")]
        config: PathBuf,
    },
    /// Edit a zone by hand in $VISUAL/$EDITOR while the server keeps taking
    /// UPDATEs: your record changes are applied to the file as it is when
    /// you save (with the writes made meanwhile), and committed by the
    /// server under your name (Via: edit).
    Edit {
        /// The zone, e.g. example.com.
        zone: String,
        #[arg(long, default_value = "zonewright.toml")]
        config: PathBuf,
        /// The commit's author (default: $USER).
        #[arg(long)]
        author: Option<String>,
    },
    /// Ask the running server (its [admin] listener) whether it is ready,
    /// and for each zone (ZONE, or every [[zone]]) its serial, last commit
    /// and what each secondary serves; exit 1 when not ready.
    Status {
        /// One zone, e.g. example.com.
        zone: Option<String>,
        #[arg(long, default_value = "zonewright.toml")]
        config: PathBuf,
    },
    /// Tell the running server of this config to read the config and the
    /// zones again (SIGHUP, as `systemctl reload` does).
    Reload {
        #[arg(long, default_value = "zonewright.toml")]
        config: PathBuf,
    },
    /// Zone file commands.
    #[command(subcommand)]
    Zone(ZoneCommand),
    /// Make a TSIG key for an ACME client: print its [[key]] block (with the
    /// `_acme-challenge` TXT grant in each --zone) and the client settings.
    /// A key already in --config is printed again, not replaced.
    Keygen {
        /// The key's name (e.g. acme-key).
        name: String,
        /// hmac-md5, hmac-sha1, hmac-sha224, hmac-sha256 (default), hmac-sha384 or hmac-sha512.
        #[arg(long)]
        algorithm: Option<String>,
        /// A zone the key may write ACME challenges in (repeatable).
        #[arg(long = "zone")]
        zones: Vec<String>,
        /// What to print.
        #[arg(long, value_enum, default_value_t = KeygenFormat::All)]
        format: KeygenFormat,
        /// Take the server address from this config's first `listen`
        /// (default: 127.0.0.1:53).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum KeygenFormat {
    Toml,
    Bind,
    Certbot,
    Lego,
    Caddy,
    All,
}

#[derive(Subcommand)]
enum ZoneCommand {
    /// Parse and validate one zone file; exit 1 on any problem.
    Check {
        file: PathBuf,
        /// The zone's origin; default: the file name without ".zone".
        #[arg(long)]
        origin: Option<String>,
    },
}

/// Lets libgit2 keep trees of up to 16 MB in its object cache (its
/// default: 4 KB), and at most [`GIT_CACHE`] in all (its default: 256
/// MB). Each commit builds on the last commit's root tree; with 5,000 zone
/// files in one folder that tree is 225 KB, and reading it back from its
/// loose object (inflate) for every commit cost a quarter of the
/// committer's time. But every commit makes a new root tree, and each one
/// read stayed cached until libgit2's 256 MB: under a stream of writes
/// (5,000 zones, 8 clients) the cached trees grew by about 1.3 KB per
/// write (heaptrack: 13 MB after 10,400 writes). The committer only reads
/// the newest.
fn cache_git_trees() {
    // SAFETY: `git_libgit2_opts` changes process-wide settings and must not
    // race other libgit2 calls; this runs first in `main`, before any
    // thread is started or any repository opened.
    let set = unsafe {
        git2::opts::set_cache_object_limit(git2::ObjectType::Tree, 16 << 20)
            .and_then(|()| git2::opts::set_cache_max_size(GIT_CACHE))
    };
    if let Err(e) = set {
        tracing::debug!("cannot set libgit2's object cache limits: {e}");
    }
    // libgit2 hashes every object it reads again (with SHA-1 collision
    // detection) to check it against its id; git itself does not (that is
    // `git fsck`'s job). Reading back the rebase window's history (a
    // 225 KB root tree per commit with 5,000 zones) spent 58% of its time
    // there: 10,000 commits took 9 s of start-up (round 54).
    git2::opts::strict_hash_verification(false);
}

/// libgit2's object cache in all, across repositories (a soft limit: it
/// evicts once over it). It counts an object's raw bytes; a parsed tree's
/// entries take about as much again, so 24 MB held about 48 MB under a
/// stream of writes (heaptrack, 2026-12-08), and 4 MB, which still holds
/// the newest root trees the committer reads, cut the RSS after 7,000
/// UPDATEs to 5,000 zones from 184 to 137 MB at the same rate.
const GIT_CACHE: libc::ssize_t = 4 << 20;

/// Gives the memory the start-up freed back to the system: parsing every
/// zone on every core (one malloc arena each) and a first commit's pack of
/// every file leave freed memory glibc keeps (about 10 MB with 5,000
/// zones), which the RSS would otherwise carry for good.
fn release_start_up_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only returns free memory at the top of (and
    // inside) glibc's heaps to the kernel; it is thread-safe and changes no
    // allocation that is in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = init_logging(cli.log_format, cli.log_level.as_deref()) {
        eprintln!("zonewright: {e:#}");
        return ExitCode::from(2);
    }
    // Handlers catch panics and carry on; log them as one ERROR line.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!("internal error (bug): {info}")
    }));
    cache_git_trees();
    let result = match cli.command {
        Command::Serve {
            config,
            init,
            strict,
        } => serve(&config, init, strict),
        Command::Check { config } => Ok(check(&config)),
        Command::Status { zone, config } => {
            zonewright::ctl::status(&config, zone.as_deref()).map(|ok| {
                if ok {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            })
        }
        Command::Reload { config } => zonewright::ctl::reload(&config).map(|()| ExitCode::SUCCESS),
        Command::Edit {
            zone,
            config,
            author,
        } => edit(&config, &zone, author),
        Command::Zone(ZoneCommand::Check { file, origin }) => zone_check(&file, origin.as_deref()),
        Command::Keygen {
            name,
            algorithm,
            zones,
            format,
            config,
        } => keygen(
            &name,
            algorithm.as_deref(),
            &zones,
            format,
            config.as_deref(),
        ),
    };
    result.unwrap_or_else(|e| {
        eprintln!("zonewright: {e:#}");
        ExitCode::FAILURE
    })
}

fn init_logging(format: LogFormat, level: Option<&str>) -> anyhow::Result<()> {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).with_context(|| format!("invalid --log-level {l:?}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    // Colours for a person at a terminal, plain text for files and journald.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        // A failed log write must not become an eprintln! that panics.
        .log_internal_errors(false)
        .with_writer(|| LossyStderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

/// Log lines dropped because stderr could not be written, and whether the
/// last write stopped inside a line.
static LOST: Lossy = Lossy {
    lines: AtomicU64::new(0),
    torn: std::sync::atomic::AtomicBool::new(false),
};

/// stderr for the log, where a failed write (a full disk, a closed pipe) is
/// dropped and counted, never an error that could end the process; the
/// first line that gets through again is preceded by the count of lost ones.
struct LossyStderr;

/// What a failed log write leaves to the next one: lines lost, and a line
/// cut short (a disk that filled up after part of it was written), which
/// the next write ends first so that the next line does not run on from it
/// (round 53: `...an edit made outsidezonewright: 3 log line(s) lost`).
struct Lossy {
    lines: AtomicU64,
    torn: std::sync::atomic::AtomicBool,
}

impl Lossy {
    /// Writes `buf`, one log line, to `w`: after the end of a torn line
    /// and the count of lines lost, when there are.
    fn write(&self, w: &mut impl std::io::Write, buf: &[u8]) {
        if self.torn.load(Ordering::Relaxed) {
            if write_counted(w, b"\n").is_err() {
                self.lines.fetch_add(1, Ordering::Relaxed);
                return;
            }
            self.torn.store(false, Ordering::Relaxed);
        }
        let lost = self.lines.load(Ordering::Relaxed);
        if lost > 0 {
            let note =
                format!("zonewright: {lost} log line(s) lost: stderr could not be written\n");
            match write_counted(w, note.as_bytes()) {
                Ok(()) => {
                    self.lines.fetch_sub(lost, Ordering::Relaxed);
                }
                Err(written) => {
                    self.torn.store(written > 0, Ordering::Relaxed);
                    self.lines.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        if let Err(written) = write_counted(w, buf) {
            self.torn.store(written > 0, Ordering::Relaxed);
            self.lines.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `write_all`, saying how many bytes got out when it fails.
fn write_counted(w: &mut impl std::io::Write, buf: &[u8]) -> Result<(), usize> {
    let mut done = 0;
    while done < buf.len() {
        match w.write(&buf[done..]) {
            Ok(0) => return Err(done),
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(done),
        }
    }
    Ok(())
}

impl std::io::Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        LOST.write(&mut std::io::stderr().lock(), buf);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

fn serve(config_path: &Path, init: bool, strict: bool) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path)?;
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    zones_dir_ready(&config, init)?;
    // Held until the process ends (the kernel lets go of it then).
    if let Some(lock) = serve_lock(&config)? {
        lock.keep();
    }
    let cfg = config.path.display().to_string();
    // An address not on this host, with the line that names it.
    if let Some(problem) = listen_problems(&config).into_iter().next() {
        anyhow::bail!("{problem}");
    }
    let listeners =
        Listeners::bind(&config.listen, config.server.udp_workers).map_err(
            |e| match BindError::of(&e) {
                Some(b) => anyhow::anyhow!("{}: {b}", config.listen_place("listen", &b.addr)),
                None => anyhow::anyhow!("{cfg}: listen: {e}"),
            },
        )?;
    let rest_listen = config.rest.as_ref().map(|r| r.listen);
    let admin_listen = config.admin.as_ref().map(|a| a.listen);
    let place = |key: &str, addr: Option<std::net::SocketAddr>| {
        let at = addr.map(|a| a.to_string()).unwrap_or_default();
        let place = addr.map_or_else(|| format!("{cfg}: {key}"), |a| config.listen_place(key, &a));
        format!("{place}: cannot listen on {at}")
    };
    let listeners = listeners
        .with_rest(rest_listen)
        .with_context(|| place("rest.listen", rest_listen))?
        .with_admin(admin_listen)
        .with_context(|| place("admin.listen", admin_listen))?;
    let state = Arc::new(State::new(Arc::new(config)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let st = state.clone();
        // The one write path; the server's UPDATEs (and later REST) share it.
        let store = tokio::task::spawn_blocking(move || {
            let report = st.reload();
            if let Ok(sources) = loader::sources(&st.config()) {
                for w in loader::unused_references(&st.config(), &sources.zones) {
                    tracing::warn!("{w}");
                }
            }
            let failed: Vec<String> = report.failed.iter().map(|(z, _)| z.to_string()).collect();
            if strict && (!failed.is_empty() || !report.problems.is_empty()) {
                let what = if failed.is_empty() {
                    "the zones directory has problems".to_owned()
                } else {
                    format!(
                        "{} zone(s) failed to load: {}",
                        failed.len(),
                        failed.join(", ")
                    )
                };
                anyhow::bail!("--strict: {what} (each is logged above); not starting");
            }
            let store = Store::new(st);
            // Edits made while the server was down become commits now.
            store.commit_external_changes();
            release_start_up_memory();
            Ok(store)
        })
        .await
        .context("initial zone load failed")??;
        let store = Arc::new(store);
        serve::run(state, store, listeners, shutdown_signal())
            .await
            .context("server failed")
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Refuses to serve a `zones_dir` that is missing (`--init` creates it) or
/// whose git repository cannot be committed on now (HEAD detached, a merge
/// or rebase under way): every write would fail, or its commit be lost.
fn zones_dir_ready(config: &Config, init: bool) -> anyhow::Result<()> {
    let dir = &config.zones_dir;
    let cfg = config.path.display();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => anyhow::bail!("{cfg}: zones_dir {} is not a folder", dir.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && init => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{cfg}: cannot create zones_dir {}", dir.display()))?;
            tracing::info!("created zones_dir {} (--init)", dir.display());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "{cfg}: zones_dir {} does not exist (relative paths in the config are relative \
             to its folder); correct zones_dir, create the folder, or start once with \
             `zonewright serve --init` to create it",
            dir.display()
        ),
        Err(e) => anyhow::bail!("{cfg}: zones_dir {}: {e}", dir.display()),
    }
    zonewright::git::state::check_at_start(dir)
        .map_err(|e| anyhow::anyhow!("{e}; zonewright does not start on it"))
}

/// The lock a serving process holds on its zones folder: one server per
/// folder. Two (round 53: an older one left running, the same folder
/// through a bind mount) each took the other's writes for a person's
/// edits and committed them as `external change` under the server's name,
/// and their commits raced for the branch (`old reference value does not
/// match`: writes answered SERVFAIL and rolled back). `flock(2)` on a file
/// in the folder: the same file through any path or mount, let go when
/// the process ends, however it ends. The lock file is watched while the
/// server runs (see [`ServeLock::keep`]).
fn serve_lock(config: &Config) -> anyhow::Result<Option<ServeLock>> {
    use fs2::FileExt;
    use std::io::Read;
    let path = config.zones_dir.join(SERVE_LOCK);
    let mut file = match open_serve_lock(&path)? {
        Some(f) => f,
        None => return Ok(None),
    };
    if let Err(e) = file.try_lock_exclusive() {
        if e.raw_os_error() != fs2::lock_contended_error().raw_os_error() {
            tracing::warn!(
                "{}: cannot lock it ({e}): another server on this zones folder would not be \
                 noticed",
                path.display()
            );
            return Ok(None);
        }
        let mut text = String::new();
        let _ = Read::by_ref(&mut file).take(64).read_to_string(&mut text);
        let pid = text.trim();
        // A pid written by a server that has stopped since, the lock now
        // held by some other process (round 54).
        let alive = !pid.is_empty() && Path::new("/proc").join(pid).exists();
        let who = if alive {
            format!("another zonewright (pid {pid})")
        } else {
            "another process".to_owned()
        };
        anyhow::bail!(
            "{} is served by {who} already (it holds {}): two servers on one zones folder \
             each take the other's writes for edits; stop that one first, or give this one \
             a folder of its own",
            config.zones_dir.display(),
            path.display()
        );
    }
    write_pid(&path);
    Ok(Some(ServeLock { path, file }))
}

/// Opens (creating it) the lock file at `path`, read-only, as the zones'
/// own lock files are: a lock needs no write access, and a file held open
/// for writing would keep the file system from being remounted read-only.
/// `Ok(None)` (after a WARN) where the folder cannot be written; `Err`
/// for anything but a file of its own there (round 54: a folder, a link or
/// a FIFO planted there turned the check off; a hard link to another file
/// had that file overwritten with the pid).
fn open_serve_lock(path: &Path) -> anyhow::Result<Option<std::fs::File>> {
    use rustix::fs::{Mode, OFlags};
    use std::os::unix::fs::MetadataExt;
    let flags =
        OFlags::RDONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    // 0600: a lock any local reader could take would keep the server from
    // starting.
    let opened = rustix::fs::open(path, flags, Mode::from_raw_mode(0o600))
        .map(std::fs::File::from)
        .map_err(std::io::Error::from);
    let file = match opened {
        Ok(f) => f,
        // A folder this process cannot write (served read-only, every
        // write refused) cannot hold the lock; serving it is allowed.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EACCES | libc::EROFS)) => {
            tracing::warn!(
                "{}: cannot create it ({e}): another server on this zones folder would not be \
                 noticed",
                path.display()
            );
            return Ok(None);
        }
        Err(e) => anyhow::bail!(
            "{}: {e}: not zonewright's lock file (a regular file of its own, its lock \
             against a second server on the folder): remove it",
            path.display()
        ),
    };
    let meta = file
        .metadata()
        .with_context(|| format!("{}: cannot read its status", path.display()))?;
    if !meta.is_file() || meta.nlink() != 1 {
        let what = if meta.is_file() {
            "a file with other names (a hard link)".to_owned()
        } else {
            zonewright::config::file_kind(meta.file_type()).to_owned()
        };
        anyhow::bail!(
            "{} is {what}, not zonewright's lock file (a regular file of its own): remove it",
            path.display()
        );
    }
    // (One an earlier version made 0644.)
    let _ = rustix::fs::fchmod(&file, Mode::from_raw_mode(0o600));
    Ok(Some(file))
}

/// Writes this process's pid into the lock file at `path` (for a second
/// server's message), through an open of its own.
fn write_pid(path: &Path) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(mut w) = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        let _ = writeln!(w, "{}", std::process::id());
    }
}

/// The lock held by [`serve_lock`].
struct ServeLock {
    path: PathBuf,
    file: std::fs::File,
}

impl ServeLock {
    /// Watches the lock file, once a second, for as long as the process
    /// runs: deleted (`git clean -X`, an `rm` of stale locks) or replaced,
    /// it no longer keeps a second server out (round 54: one started, and
    /// the two committed each other's writes as edits). The file is then
    /// made and locked again, with a WARN; if another process got the new
    /// one first, an ERROR says two servers now serve the folder.
    fn keep(mut self) {
        use fs2::FileExt;
        use std::os::unix::fs::MetadataExt;
        let spawned = std::thread::Builder::new()
            .name("serve-lock".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    let held = self.file.metadata().map(|m| (m.dev(), m.ino())).ok();
                    let there = std::fs::symlink_metadata(&self.path)
                        .map(|m| (m.dev(), m.ino()))
                        .ok();
                    if held.is_some() && held == there {
                        continue;
                    }
                    let file = match open_serve_lock(&self.path) {
                        Ok(Some(f)) => f,
                        Ok(None) => continue,
                        Err(e) => {
                            tracing::warn!("the serve lock file was removed, and {e:#}");
                            continue;
                        }
                    };
                    if file.try_lock_exclusive().is_err() {
                        tracing::error!(
                            "{} was removed or replaced while this server ran, and another \
                             process holds the new one: two servers may now serve this zones \
                             folder; stop one",
                            self.path.display()
                        );
                        // Said once for this file.
                        self.file = file;
                        continue;
                    }
                    write_pid(&self.path);
                    tracing::warn!(
                        "{} was removed or replaced while this server ran (git clean -X?); \
                         made and locked again",
                        self.path.display()
                    );
                    self.file = file;
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot watch the serve lock file: {e}");
        }
    }
}

/// The serving process's lock in the zones folder (see [`serve_lock`]);
/// git ignores it (`.*.lock`).
const SERVE_LOCK: &str = ".zonewright-serve.lock";

/// Completes on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The listen addresses (`listen`, `[rest]`, `[admin]`) this host cannot
/// listen on, each as `file:line: key: why` (round 50: `check` passed a
/// config whose address was not the host's, and `serve` then failed).
fn listen_problems(config: &Config) -> Vec<String> {
    config
        .listen_at
        .iter()
        .filter_map(|l| {
            let why = Listeners::address_problem(&l.addr)?;
            Some(format!("{}: {why}", config.listen_place(l.key, &l.addr)))
        })
        .collect()
}

/// `zonewright check`: every problem on stdout, one per line; a summary
/// line per good zone. Exit 1 if anything is wrong.
fn check(config_path: &Path) -> ExitCode {
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            println!("{e}");
            return ExitCode::FAILURE;
        }
    };
    for w in &config.warnings {
        println!("warning: {w}");
    }
    let listen = listen_problems(&config);
    for p in &listen {
        println!("{p}");
    }
    let sources = match loader::sources(&config) {
        Ok(s) => s,
        Err(p) => {
            println!("{p}");
            return ExitCode::FAILURE;
        }
    };
    let mut ok = sources.problems.is_empty() && listen.is_empty();
    for p in &sources.problems {
        println!("{p}");
    }
    for w in loader::unused_references(&config, &sources.zones) {
        println!("warning: {w}");
    }
    if sources.zones.is_empty() {
        println!(
            "{}: no zones (no *.zone files, no [[zone]] entries)",
            config.zones_dir.display()
        );
    }
    let rules = loader::FileRules::new(&config);
    for (origin, source) in &sources.zones {
        ok &= report_zone(origin, loader::load_zone_guarded(source, &rules));
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `zonewright edit ZONE [--config PATH] [--author NAME]`.
fn edit(config_path: &Path, zone: &str, author: Option<String>) -> anyhow::Result<ExitCode> {
    let config = Config::load(config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|e| !e.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string());
    let Some(author) = author
        .filter(|a| !a.trim().is_empty())
        .or_else(|| std::env::var("USER").ok())
        .filter(|a| !a.trim().is_empty())
    else {
        anyhow::bail!("who is editing? pass --author NAME (or set $USER)");
    };
    match zonewright::edit::run(&config, zone, &editor, &author)? {
        zonewright::edit::Outcome::Unchanged => println!("no changes; nothing written"),
        zonewright::edit::Outcome::Written {
            serials: (old, new),
            added,
            removed,
        } => println!(
            "{zone}: +{added} -{removed}, serial {old} -> {new}; the server commits it as {author}"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `zonewright zone check FILE [--origin NAME]`.
fn zone_check(file: &Path, origin: Option<&str>) -> anyhow::Result<ExitCode> {
    let name = match origin {
        Some(o) => o.to_string(),
        None => {
            let base = file
                .file_name()
                .and_then(|f| f.to_str())
                .context("the file name is not UTF-8; pass --origin")?;
            base.strip_suffix(loader::ZONE_SUFFIX)
                .unwrap_or(base)
                .to_string()
        }
    };
    let origin = parse_zone_name(&name).with_context(|| format!("invalid origin {name:?}"))?;
    let source = loader::ZoneSource::named(origin.clone(), file.to_path_buf());
    let rules = loader::FileRules::for_file(file);
    let ok = report_zone(&origin, loader::load_zone_guarded(&source, &rules));
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `zonewright keygen`: a secret from the OS random source, rendered by
/// [`zonewright::keygen`]. When `config` already has a key of that name,
/// its algorithm and secret are printed instead (so the client formats
/// can be made after the `[[key]]` block went into the config).
fn keygen(
    name: &str,
    algorithm: Option<&str>,
    zones: &[String],
    format: KeygenFormat,
    config: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    // Printed unquoted in the ini and env formats: keep to plain host-name characters.
    let plain = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let key_name = parse_zone_name(name)
        .filter(|n| !n.is_root() && plain(name))
        .with_context(|| {
            format!("invalid key name {name:?} (letters, digits, '-', '_' and '.')")
        })?;
    let algorithm_given = algorithm.is_some();
    let algorithm_name = algorithm.unwrap_or("hmac-sha256");
    let algorithm = Algorithm::from_name(algorithm_name).with_context(|| {
        let names: Vec<&str> = Algorithm::ALL.iter().map(|a| a.config_name()).collect();
        format!(
            "unknown --algorithm {algorithm_name:?} (expected one of {})",
            names.join(", ")
        )
    })?;
    let zones = zones
        .iter()
        .map(|z| parse_zone_name(z).with_context(|| format!("invalid --zone {z:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut existing = None;
    let server = match config {
        Some(path) => {
            let config = Config::load(path)?;
            existing = config
                .keys
                .iter()
                .find(|k| k.key.name == key_name)
                .map(|k| k.key.clone());
            let first = config.listen.first().copied();
            keygen::client_address(
                first.with_context(|| format!("{}: no listen address", path.display()))?,
            )
        }
        None => keygen::DEFAULT_SERVER,
    };
    let (algorithm, secret) = match existing {
        Some(key) => {
            if algorithm_given && key.algorithm != algorithm {
                anyhow::bail!(
                    "key {name} in the config uses {}: leave out --algorithm, or pick a new name for a new key",
                    key.algorithm
                );
            }
            eprintln!(
                "zonewright: key {name} is in the config: printing its secret (a new key needs a new name)"
            );
            (key.algorithm, key.secret().to_vec())
        }
        None => {
            let mut secret = vec![0u8; algorithm.output_len()];
            getrandom::fill(&mut secret)
                .map_err(|e| anyhow::anyhow!("cannot read the OS random source: {e}"))?;
            (algorithm, secret)
        }
    };
    let format = match format {
        KeygenFormat::Toml => keygen::Format::Toml,
        KeygenFormat::Bind => keygen::Format::Bind,
        KeygenFormat::Certbot => keygen::Format::Certbot,
        KeygenFormat::Lego => keygen::Format::Lego,
        KeygenFormat::Caddy => keygen::Format::Caddy,
        KeygenFormat::All => keygen::Format::All,
    };
    let spec = keygen::Spec {
        name: &key_name,
        algorithm,
        secret: &secret,
        zones: &zones,
        server,
    };
    print!("{}", keygen::render(&spec, format));
    Ok(ExitCode::SUCCESS)
}

/// Prints a zone's summary or its problems; true when it loaded.
fn report_zone(origin: &Name, result: Result<Loaded, LoadFailure>) -> bool {
    match result {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("warning: {w}");
            }
            let records = loaded.zone.records().count() + 1;
            let file = loaded
                .files
                .first()
                .map(|(p, _)| p.display().to_string())
                .unwrap_or_default();
            println!(
                "{origin}: OK, serial {}, {records} records ({file})",
                loaded.zone.serial()
            );
            true
        }
        Err(failure) => {
            for p in &failure.problems {
                println!("{p}");
            }
            println!("{origin}: {} problem(s)", failure.problems.len());
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stderr on a disk that fills up: takes `room` bytes, then fails.
    struct Filling {
        out: Vec<u8>,
        room: usize,
    }

    impl std::io::Write for Filling {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.room);
            if n == 0 {
                return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
            }
            self.out.extend_from_slice(&buf[..n]);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Round 53 LOW: a line cut short by a full disk ran on into the next
    /// one. The next write that gets through ends it, then says how many
    /// lines were lost, then writes its own.
    #[test]
    fn a_log_line_cut_short_is_ended_before_the_next() {
        let lossy = Lossy {
            lines: AtomicU64::new(0),
            torn: std::sync::atomic::AtomicBool::new(false),
        };
        let mut w = Filling {
            out: Vec::new(),
            room: 20,
        };
        lossy.write(&mut w, b"first line, whole\n");
        lossy.write(&mut w, b"second line, cut short\n");
        lossy.write(&mut w, b"third line, lost\n");
        w.room = 1000;
        lossy.write(&mut w, b"fourth line\n");
        let text = String::from_utf8(w.out).expect("utf-8");
        assert_eq!(
            text,
            "first line, whole\nse\nzonewright: 2 log line(s) lost: stderr could not be \
             written\nfourth line\n"
        );
    }
}
