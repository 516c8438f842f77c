//! The deployment files (`Dockerfile`, `.dockerignore`, `compose.yaml`, the systemd unit) against
//! the repository and the binary. No container engine runs in CI, so the image is not built
//! here; instead these tests check what a build would trip on (a copied file that is missing or
//! ignored) and run the binary in the image's layout: settings in `/app/config`, the text in a
//! separate folder, state where `STUDYBOT__DATA_DIR` says, the working directory `/app`.

use std::path::Path;

use crate::common::{root, run, studybot};

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The sources of the Dockerfile's `COPY` lines that come from the build context.
fn context_copies(dockerfile: &str) -> Vec<String> {
    let mut sources = Vec::new();
    for line in dockerfile.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("COPY ") else {
            continue;
        };
        if rest.starts_with("--from") {
            continue;
        }
        let words: Vec<&str> = rest.split_whitespace().collect();
        if let Some((_, srcs)) = words.split_last() {
            sources.extend(srcs.iter().map(|s| s.trim_end_matches('/').to_string()));
        }
    }
    sources
}

/// Whether a `.dockerignore` pattern (the simple forms this repository uses: a name, a
/// folder with a trailing slash, `*.ext`) excludes `path`.
fn ignored(patterns: &[&str], path: &str) -> bool {
    let first = path.split('/').next().unwrap_or(path);
    patterns.iter().any(|p| {
        let p = p.trim_end_matches('/');
        if let Some(ext) = p.strip_prefix('*') {
            path.ends_with(ext)
        } else {
            p == first || p == path
        }
    })
}

#[test]
fn every_file_the_dockerfile_copies_exists_and_is_not_ignored() {
    let dockerfile = read("Dockerfile");
    let ignore = read(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let sources = context_copies(&dockerfile);
    assert!(sources.iter().any(|s| s == "corpus"), "{sources:?}");
    for source in sources.iter().filter(|s| *s != ".") {
        if let Some(dir) = source.strip_suffix("/*.COPYRIGHT") {
            let found = std::fs::read_dir(root().join(dir))
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".COPYRIGHT"));
            assert!(found, "{source} matches nothing");
        } else {
            assert!(root().join(source).exists(), "{source} is missing");
        }
        assert!(!ignored(&patterns, source), "{source} is in .dockerignore");
    }
    // The build needs the sources, the manifest, the assets built into the binary and the
    // bench targets Cargo.toml names.
    for needed in ["Cargo.toml", "Cargo.lock", "src", "assets", "benches"] {
        assert!(!ignored(&patterns, needed), "{needed} is in .dockerignore");
    }
}

#[test]
fn the_systemd_unit_and_compose_file_keep_state_and_restart() {
    let unit = read("docs/deploy/studybot.service");
    for line in [
        "ExecStart=/usr/local/bin/studybot bot",
        "WorkingDirectory=/opt/studybot",
        "EnvironmentFile=/etc/studybot/studybot.env",
        "Restart=on-failure",
        "StateDirectory=studybot",
        "Environment=STUDYBOT__DATA_DIR=%S/studybot",
    ] {
        assert!(unit.lines().any(|l| l.trim() == line), "unit lacks {line}");
    }
    let compose = read("compose.yaml");
    assert!(compose.contains("studybot-data:/data"), "{compose}");
    assert!(compose.contains("restart: unless-stopped"), "{compose}");
    let dockerfile = read("Dockerfile");
    for env in ["STUDYBOT__DATA_DIR=/data", "STUDYBOT__CORPUS__DIR=/corpus"] {
        assert!(dockerfile.contains(env), "Dockerfile lacks {env}");
    }
}

/// Copies `from` (a file or a folder) to `to`.
fn copy(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            copy(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// The image's layout, outside a container: the binary run from `/app` (which holds only
/// `config/default.toml`), the text in `/corpus`, the state in `/data`, set by the same
/// environment variables as the Dockerfile's.
#[test]
fn the_images_layout_answers_a_question_and_passes_check() {
    let image = tempfile::tempdir().unwrap();
    let app = image.path().join("app");
    std::fs::create_dir_all(app.join("config")).unwrap();
    copy(
        &root().join("config/default.toml"),
        &app.join("config/default.toml"),
    );
    copy(&root().join("corpus"), &image.path().join("corpus"));
    let data = image.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let in_image = |args: &[&str]| {
        let mut cmd = studybot(&data);
        cmd.current_dir(&app)
            .env("STUDYBOT__CORPUS__DIR", image.path().join("corpus"))
            .args(args);
        run(&mut cmd)
    };
    let (code, out, err) = in_image(&["ask", "what were factory shop committees"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains('§'), "{out}");
    let (code, out, err) = in_image(&["check"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("corpus"), "{out}");
}
