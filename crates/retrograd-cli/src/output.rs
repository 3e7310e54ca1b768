//! Checks that output files can be written, before the work that produces them: a bad
//! path should cost no training time, and should not be found only after other outputs
//! were written.

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Checks each `(setting, path)` with [`check_output`], and that no two settings name the
/// same file (the later write would replace the earlier one).
pub fn check_outputs(outputs: &[(&str, &Path)]) -> Result<(), String> {
    let mut seen: Vec<(&str, PathBuf)> = Vec::new();
    for &(setting, path) in outputs {
        let file = check_output(setting, path)?;
        if let Some((other, _)) = seen.iter().find(|(_, earlier)| *earlier == file) {
            return Err(format!(
                "{other} and {setting} name the same file, {}: each output needs its own",
                path.display()
            ));
        }
        seen.push((setting, file));
    }
    Ok(())
}

/// Checks that `path` names a file that can be written: it is not a directory or another
/// kind of non-regular file, an existing file there is writable, and its directory exists
/// and lets us create files (tried with a file that is removed at once). Returns the path
/// with its directory resolved, to compare outputs.
pub fn check_output(setting: &str, path: &Path) -> Result<PathBuf, String> {
    let fail = |why: String| Err(format!("{setting} {}: {why}", path.display()));
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => return fail("is a directory; name a file (in it)".into()),
        Ok(m) if !m.is_file() => return fail("exists and is not a regular file".into()),
        // Opening without truncating changes neither the file nor its times.
        Ok(_) => {
            if let Err(e) = OpenOptions::new().write(true).open(path) {
                return fail(format!("exists and cannot be written: {e}"));
            }
        }
        Err(_) => {}
    }
    let Some(name) = path.file_name() else {
        return fail("does not name a file".into());
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return fail(format!("{} is not a directory", dir.display())),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return fail(format!("the directory {} does not exist", dir.display()))
        }
        Err(e) => return fail(format!("cannot use the directory {}: {e}", dir.display())),
    }
    // Permission bits do not tell (root, read-only mounts, ACLs): creating a file does.
    let probe = dir.join(format!(
        ".{}.write-check-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(file) => {
            drop(file);
            let _ = fs::remove_file(&probe);
        }
        Err(e) => {
            return fail(format!(
                "cannot create files in the directory {}: {e}",
                dir.display()
            ))
        }
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{setting} {}: {e}", path.display()))?;
    Ok(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("retrograd-output-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_new_or_existing_file_in_a_directory_is_fine_and_leaves_nothing_behind() {
        let dir = scratch().join("fine");
        fs::create_dir_all(&dir).unwrap();
        let existing = dir.join("old.safetensors");
        fs::write(&existing, b"kept").unwrap();
        check_output("--out", &dir.join("new.safetensors")).unwrap();
        check_output("--out", &existing).unwrap();
        assert_eq!(fs::read(&existing).unwrap(), b"kept");
        let left: Vec<_> = fs::read_dir(&dir).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn errors_name_the_setting_the_path_and_the_reason() {
        let dir = scratch();
        let file = dir.join("a-file");
        fs::write(&file, b"").unwrap();
        let error = |setting: &str, path: &Path| check_output(setting, path).unwrap_err();
        let e = error("--out", &dir);
        assert!(
            e.starts_with("--out ") && e.ends_with("is a directory; name a file (in it)"),
            "{e}"
        );
        let e = error("--plot", &dir.join("missing/p.png"));
        assert!(
            e.starts_with("--plot ") && e.contains("missing") && e.ends_with("does not exist"),
            "{e}"
        );
        let e = error("--checkpoint", &file.join("c.safetensors"));
        assert!(
            e.starts_with("--checkpoint ") && e.ends_with("a-file is not a directory"),
            "{e}"
        );
        let e = error("--out", Path::new(".."));
        assert!(e.contains("is a directory"), "{e}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_directory_without_room_for_files_is_refused() {
        // Nobody, not even root, creates files in /proc.
        let e = check_output("--plot", Path::new("/proc/training.png")).unwrap_err();
        assert!(
            e.starts_with("--plot /proc/training.png: cannot create files in the directory /proc"),
            "{e}"
        );
    }

    #[test]
    fn two_outputs_may_not_share_a_file() {
        let dir = scratch();
        let a = dir.join("m.safetensors");
        let b = dir.join(".").join("m.safetensors");
        let e = check_outputs(&[("--out", &a), ("--checkpoint", &b)]).unwrap_err();
        assert!(
            e.starts_with("--out and --checkpoint name the same file"),
            "{e}"
        );
        check_outputs(&[("--out", &a), ("--checkpoint", &dir.join("c"))]).unwrap();
    }
}
