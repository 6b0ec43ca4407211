//! The binary's command line: `--help` as configuration reference,
//! `check-config`, and one clear line with exit code 2 for bad settings.

use std::process::Command;

use iorelay_tests::binary;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let output = Command::new(binary())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run iorelay");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_documents_every_flag_with_its_env_var() {
    let (code, stdout, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for flag in [
        "--listen",
        "--ping-interval-ms",
        "--max-payload",
        "--transports",
        "--allow-eio3",
        "--parser",
        "--cors-origins",
        "--static-dir",
        "--log-format",
        "--config",
    ] {
        assert!(stdout.contains(flag), "--help lacks {flag}");
    }
    assert!(stdout.contains("[env: IORELAY_LISTEN="));
}

#[test]
fn check_config_prints_effective_settings() {
    let dir = std::env::temp_dir().join(format!("iorelay-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("iorelay.toml");
    std::fs::write(
        &file,
        "[engine]\nping_interval_ms = 1234\n[api]\napi_keys = [\"a-very-secret-key-123\"]\n",
    )
    .expect("write");
    let file = file.to_string_lossy().to_string();
    let (code, stdout, stderr) = run(
        &["check-config", "--config", &file, "--max-payload", "4096"],
        &[("IORELAY_TRANSPORTS", "websocket")],
    );
    assert_eq!(code, 0, "{stderr}");
    let effective: toml::Table = stdout.parse().expect("check-config prints TOML");
    assert_eq!(
        effective["engine"]["ping_interval_ms"].as_integer(),
        Some(1234)
    );
    assert_eq!(effective["engine"]["max_payload"].as_integer(), Some(4096));
    assert_eq!(
        effective["engine"]["transports"]
            .as_array()
            .map(|a| a.len()),
        Some(1)
    );
    assert!(
        !stdout.contains("a-very-secret-key-123"),
        "secrets are masked"
    );
}

#[test]
fn bad_config_is_one_line_and_exit_2() {
    for (args, env, needle) in [
        (
            vec!["check-config", "--ping-interval-ms", "0"],
            vec![],
            "engine.ping_interval_ms",
        ),
        (
            vec!["check-config", "--config", "/nonexistent/iorelay.toml"],
            vec![],
            "cannot read config file",
        ),
        (
            vec!["check-config"],
            vec![("IORELAY_MAX_PAYLOAD", "lots")],
            "lots",
        ),
        (
            vec!["--static-dir", "/nonexistent/dist"],
            vec![],
            "server.static_dir",
        ),
    ] {
        let (code, _, stderr) = run(&args, &env);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn config_errors_name_their_source() {
    let dir = std::env::temp_dir().join(format!("iorelay-cli-src-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad_value = dir.join("iorelay.toml");
    std::fs::write(
        &bad_value,
        "[server]\nlisten = \"0.0.0.0:3000\"\n[engine]\nping_interval_ms = \"fast\"\n",
    )
    .expect("write");
    let bad_value = bad_value.to_string_lossy().to_string();
    let bad_syntax = dir.join("syntax.toml");
    std::fs::write(
        &bad_syntax,
        "[engine]\nping_interval_ms = 1000\nmax_payload = 10 000\n",
    )
    .expect("write");
    let bad_syntax = bad_syntax.to_string_lossy().to_string();
    /// Arguments, environment, the one line expected on stderr.
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, String);
    let cases: [Case; 6] = [
        (
            vec![],
            vec![("IORELAY_PING_INTERVAL_MS", "abc")],
            "IORELAY_PING_INTERVAL_MS=abc: invalid value for engine.ping_interval_ms: invalid digit found in string".into(),
        ),
        (
            vec!["--ping-interval-ms", "abc"],
            vec![("IORELAY_PING_INTERVAL_MS", "1000")],
            "--ping-interval-ms abc: invalid value for engine.ping_interval_ms: invalid digit found in string".into(),
        ),
        (
            vec!["check-config"],
            vec![("IORELAY_TRANSPORTS", "polling,pigeon")],
            "IORELAY_TRANSPORTS=polling,pigeon: invalid value for engine.transports: expected one of polling, websocket".into(),
        ),
        (
            vec!["--config", &bad_value],
            vec![],
            format!("{bad_value}:4: engine.ping_interval_ms: invalid type: string \"fast\", expected u64"),
        ),
        (
            vec!["--config", &bad_syntax],
            vec![],
            format!("{bad_syntax}:3:15: string values must be quoted, expected literal string"),
        ),
        (
            vec![],
            vec![("IORELAY_MAX_BUFFER_SIZE", "0")],
            "IORELAY_MAX_BUFFER_SIZE=0: engine.max_buffer_size: must be greater than 0".into(),
        ),
    ];
    for (args, env, expected) in cases {
        let (code, _, stderr) = run(&args, &env);
        assert_eq!(code, 2, "{args:?} {env:?}: {stderr}");
        assert_eq!(
            stderr.trim_end(),
            format!("iorelay: {expected}"),
            "{args:?} {env:?}"
        );
    }
}

#[test]
fn unusable_listen_address_fails_cleanly() {
    let (code, _, stderr) = run(&["--listen", "192.0.2.1:1"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot listen on 192.0.2.1:1"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn readme_documents_every_flag() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let (_, help, _) = run(&["--help"], &[]);
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .filter(|w| !matches!(*w, "--help" | "--version" | "--config)"))
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
        .collect();
    assert!(flags.len() > 20, "parsed flags from --help: {flags:?}");
    for flag in flags {
        assert!(
            readme.contains(&format!("`{flag}`")),
            "README does not document {flag}"
        );
    }
}
