//! `findings-bridge store export FILE | import FILE | migrate | check`: backup, restore, upgrade
//! and verification of the embedded store at `store.path` from the desired-state file.
//!
//! sled allows one process per store, so these refuse (clearly) while the daemon runs rather
//! than wait. `FILE` may be `-` for stdout/stdin. Must not: overwrite an existing export, or
//! write an export readable by others (it holds the store's HMAC key).

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use fb_store::Store;

use crate::{Cli, StoreCommand};

pub fn run(cli: &Cli, command: &StoreCommand) -> anyhow::Result<ExitCode> {
    let path = store_path(cli)?;
    match command {
        StoreCommand::Export { file } => export(&path, file),
        StoreCommand::Import { file } => import(&path, file),
        StoreCommand::Migrate => migrate(&path),
        StoreCommand::Check => check(&path),
    }
}

/// `store.path` from the desired-state file (relative paths are relative to the working
/// directory, as for the daemon).
pub fn store_path(cli: &Cli) -> anyhow::Result<PathBuf> {
    let file = super::config_path(cli);
    let config = fb_model::config::load(&file).map_err(|errors| {
        anyhow::anyhow!("{errors}").context(format!(
            "{} is invalid; the store location comes from it",
            file.display()
        ))
    })?;
    Ok(config.store.path)
}

/// Opens an existing store (never creates one for a read-only command).
pub fn open_existing(path: &Path, migrate: bool) -> anyhow::Result<Store> {
    if !path.exists() {
        anyhow::bail!("there is no store at {} (store.path)", path.display());
    }
    let store = if migrate {
        Store::open(path)
    } else {
        Store::open_without_migrating(path)
    };
    Ok(store?)
}

fn export(path: &Path, file: &Path) -> anyhow::Result<ExitCode> {
    let store = open_existing(path, false)?;
    if store.schema_version() < Store::SCHEMA_VERSION {
        anyhow::bail!(
            "the store at {} has schema version {}; export it with the release that wrote it, or \
             run `findings-bridge store migrate` first",
            path.display(),
            store.schema_version()
        );
    }
    let to_stdout = file == Path::new("-");
    if !to_stdout && file.exists() {
        anyhow::bail!("{} already exists; choose another file", file.display());
    }
    let report = if to_stdout {
        let mut out = BufWriter::new(std::io::stdout().lock());
        store.export(&mut out)?
    } else {
        // Write beside the target, then rename: a failed export never leaves a truncated file
        // that looks like a backup.
        let mut partial = file.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        let result = write_new(&partial, |out| Ok(store.export(out)?));
        let report = match result {
            Ok(report) => report,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(e);
            }
        };
        if file.exists() {
            let _ = std::fs::remove_file(&partial);
            anyhow::bail!("{} already exists; choose another file", file.display());
        }
        std::fs::rename(&partial, file)
            .with_context(|| format!("cannot move the export into place at {}", file.display()))?;
        report
    };
    eprintln!("exported {report} from {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Creates `path` (owner-only permissions), refusing to replace an existing file.
fn write_new<T>(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let value = write(&mut out)?;
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot sync {}", path.display()))?;
    Ok(value)
}

fn import(path: &Path, file: &Path) -> anyhow::Result<ExitCode> {
    let store = Store::open(path)?;
    let report = if file == Path::new("-") {
        store.import(&mut std::io::stdin().lock())
    } else {
        let input = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        store.import(&mut BufReader::new(input))
    }
    .with_context(|| format!("nothing was imported into {}", path.display()))?;
    eprintln!("imported {report} into {}", path.display());
    Ok(ExitCode::SUCCESS)
}

fn migrate(path: &Path) -> anyhow::Result<ExitCode> {
    let store = open_existing(path, false)?;
    let report = store.migrate()?;
    if report.steps.is_empty() {
        println!(
            "{}: schema version {} is current; nothing to do",
            path.display(),
            report.to
        );
    } else {
        println!(
            "{}: migrated from schema version {} to {}",
            path.display(),
            report.from,
            report.to
        );
        for step in &report.steps {
            println!("  {step}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let store = open_existing(path, true)?;
    let report = store.check()?;
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    let summary = format!(
        "{}: {} mappings, {} index entries, {} other records",
        path.display(),
        report.mappings,
        report.index_entries,
        report.other_records
    );
    if report.is_ok() {
        println!("{summary}: consistent");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{summary}: {} problems", report.problems.len());
        Ok(ExitCode::from(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory removed on drop (the CLI has no tempfile dependency).
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("fb-cli-store-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            TempDir(dir)
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../migrations/fixtures/v1.jsonl")
    }

    #[test]
    fn import_export_and_check_through_the_commands() {
        let dir = TempDir::new("roundtrip");
        let store = dir.path().join("data");
        assert_eq!(
            import(&store, &fixture()).expect("import"),
            ExitCode::SUCCESS
        );
        assert!(
            import(&store, &fixture()).is_err(),
            "a second import is refused"
        );
        assert_eq!(check(&store).expect("check"), ExitCode::SUCCESS);
        assert_eq!(migrate(&store).expect("migrate"), ExitCode::SUCCESS);

        let file = dir.path().join("backup.jsonl");
        assert_eq!(export(&store, &file).expect("export"), ExitCode::SUCCESS);
        assert_eq!(
            std::fs::read(&file).expect("read"),
            std::fs::read(fixture()).expect("read")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the export holds the HMAC key");
        }
        let err = export(&store, &file).expect_err("no overwrite");
        assert!(err.to_string().contains("already exists"), "{err}");
        assert!(!dir.path().join("backup.jsonl.partial").exists());
    }

    #[test]
    fn read_only_commands_do_not_create_a_store() {
        let dir = TempDir::new("missing");
        let missing = dir.path().join("nothing-here");
        let err = check(&missing).expect_err("no store");
        assert!(err.to_string().contains("there is no store at"), "{err}");
        assert!(!missing.exists());
    }

    #[test]
    fn a_store_held_by_the_daemon_is_refused_clearly() {
        let dir = TempDir::new("locked");
        let _daemon = Store::open(dir.path()).expect("open");
        let err = check(dir.path()).expect_err("locked");
        assert_eq!(
            err.to_string(),
            format!(
                "the store at {} is in use (is the daemon running?) — stop it first",
                dir.path().display()
            )
        );
    }
}
