//! The settings as an operator gives them: flags, environment, file, and the
//! checks and masks that `check-config` shows.

use super::*;

fn resolve(args: &[&str]) -> Result<Config, ConfigError> {
    parse_from(std::iter::once("iorelay").chain(args.iter().copied())).map(|(_, c)| c)
}

fn write_file(text: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("iorelay-config-{}-{n}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write temp config");
    path
}

#[test]
fn defaults_are_documented_values() {
    let c = resolve(&[]).expect("defaults are valid");
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:3000");
    assert_eq!(c.engine.ping_interval_ms, 25_000);
    assert_eq!(c.engine.max_payload, 1_000_000);
    assert_eq!(
        c.engine.transports,
        vec![Transport::Polling, Transport::Websocket]
    );
}

#[test]
fn defaults_are_valid() {
    let c = Config::defaults();
    c.validate().expect("the built-in defaults are valid");
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:3000");
    assert_eq!(c.flask.flask_max_buffered_bytes, 33_554_432);
    assert!(c.limits.trusted_proxies.is_empty());
}

#[test]
fn file_overrides_defaults_but_not_flags() {
    let path = write_file(
        "[server]\nlisten = \"127.0.0.1:4000\"\n[engine]\nping_interval_ms = 1000\nmax_payload = 5000\n",
    );
    let path_arg = path.to_string_lossy().to_string();
    let c = resolve(&["--config", &path_arg, "--max-payload", "9000"]).expect("valid");
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:4000");
    assert_eq!(c.engine.ping_interval_ms, 1000);
    assert_eq!(c.engine.max_payload, 9000, "flag wins over file");
}

#[test]
fn unknown_file_key_is_an_error() {
    let path = write_file("[engine]\nping_intervl_ms = 1000\n");
    let path_arg = path.to_string_lossy().to_string();
    let err = resolve(&["--config", &path_arg]).expect_err("typo must be caught");
    assert!(
        err.to_string()
            .contains("unknown key engine.ping_intervl_ms"),
        "{err}"
    );
}

#[test]
fn bad_file_value_is_an_error() {
    let path = write_file("[engine]\nping_interval_ms = \"soon\"\n");
    let path_arg = path.to_string_lossy().to_string();
    let err = resolve(&["--config", &path_arg]).expect_err("type error");
    assert_eq!(
        err.to_string(),
        format!(
            "{path_arg}:2: engine.ping_interval_ms: invalid type: string \"soon\", expected u64"
        )
    );
}

#[test]
fn file_errors_name_the_key_and_its_line() {
    let cases = [
        (
            "# engine settings\n[server]\nlisten = \"0.0.0.0:3000\"\n\n[engine]\ntransports = [\"carrier-pigeon\"]\n",
            ":6: engine.transports: unknown variant `carrier-pigeon`, expected `polling` or `websocket`",
        ),
        (
            "[engine]\nping_interval_ms = 1000\nping_timeout_ms = \n",
            ":3:19: string values must be quoted, expected literal string",
        ),
        ("[engine\n", ":1:8: unclosed table, expected `]`"),
        (
            "[server]\n\n[engin]\nx = 1\n",
            ":3: unknown section [engin]",
        ),
        ("[api]\n\n  api_keyz = []\n", ":3: unknown key api.api_keyz"),
        // Checks of the value, once it parsed, also name the line.
        (
            "[engine]\n\nping_interval_ms = 0\n",
            ":3: engine.ping_interval_ms: must be greater than 0",
        ),
    ];
    for (text, expected) in cases {
        let path = write_file(text);
        let path_arg = path.to_string_lossy().to_string();
        let err = resolve(&["--config", &path_arg]).expect_err(expected);
        assert_eq!(err.to_string(), format!("{path_arg}{expected}"), "{text}");
    }
    // A flag over a bad file value: the flag wins and nothing is wrong.
    let path = write_file("[engine]\nping_interval_ms = 0\n");
    let path_arg = path.to_string_lossy().to_string();
    assert!(resolve(&["--config", &path_arg, "--ping-interval-ms", "1000"]).is_ok());
}

#[test]
fn flag_errors_name_the_flag_and_the_setting() {
    for (args, expected) in [
        (
            &["--ping-interval-ms", "abc"][..],
            "--ping-interval-ms abc: invalid value for engine.ping_interval_ms: invalid digit found in string",
        ),
        (
            &["--ping-interval-ms=-1"][..],
            "--ping-interval-ms -1: invalid value for engine.ping_interval_ms: invalid digit found in string",
        ),
        (
            &["--parser", "xml"][..],
            "--parser xml: invalid value for engine.parser: expected one of default, msgpack",
        ),
        (
            &["--sse-heartbeat-secs", "0"][..],
            "--sse-heartbeat-secs 0: invalid value for notifications.sse_heartbeat_secs: 0 is not in 1..=3600",
        ),
        // Secrets are not repeated in errors.
        (
            &["--jwt-secret", "short-secret"][..],
            "--jwt-secret <redacted>: auth.jwt_secret: must have at least 32 bytes",
        ),
    ] {
        let err = resolve(args).expect_err(expected);
        assert_eq!(err.to_string(), expected, "{args:?}");
    }
    // A default that fails a check (by another setting) keeps its plain form.
    let err = resolve(&["--idle-timeout-ms", "100"]).expect_err("idle under ping");
    assert!(
        err.to_string()
            .starts_with("--idle-timeout-ms 100: server.idle_timeout_ms: must exceed"),
        "{err}"
    );
}

#[test]
fn every_setting_has_a_section() {
    let command = Config::augment_args(clap::Command::new("iorelay"));
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if id != "config" {
            assert!(origin::setting_key(id).is_some(), "{id} is in no section");
        }
    }
    assert_eq!(
        origin::setting_key("ping_interval_ms").as_deref(),
        Some("engine.ping_interval_ms")
    );
}

#[test]
fn validation_names_the_setting() {
    let err = resolve(&["--ping-interval-ms", "0"]).expect_err("zero interval");
    assert_eq!(
        err.to_string(),
        "--ping-interval-ms 0: engine.ping_interval_ms: must be greater than 0"
    );
    let err = resolve(&["--cors-origins", "example.com"]).expect_err("bad origin");
    assert!(err.to_string().contains("server.cors_origins"), "{err}");
}

#[test]
fn attachment_bounds_cover_what_a_payload_may_carry() {
    let c = resolve(&[]).expect("defaults");
    assert_eq!(
        (
            c.engine.max_attachment_bytes,
            c.engine.max_attachments,
            c.engine.attachment_timeout_ms
        ),
        (1_048_576, 64, 10_000)
    );
    let err = resolve(&["--max-payload", "2000000"]).expect_err("payload over the bound");
    assert!(
        err.to_string().contains("engine.max_attachment_bytes"),
        "{err}"
    );
    let raised = resolve(&[
        "--max-payload",
        "2000000",
        "--max-attachment-bytes",
        "2000000",
    ]);
    assert!(raised.is_ok());
    assert!(resolve(&["--max-attachments", "0"]).is_err());
    assert!(resolve(&["--log-repeat-interval-ms", "5"]).is_err());
    assert!(resolve(&["--log-repeat-interval-ms", "0"]).is_ok());
    assert!(resolve(&["--attachment-timeout-ms", "0"]).is_err());
}

#[test]
fn redis_passwords_are_masked() {
    assert_eq!(
        redact_url_password("redis://:pw@h:6379/0"),
        "redis://:<redacted>@h:6379/0"
    );
    assert_eq!(
        redact_url_password("redis://u:pw@h"),
        "redis://u:<redacted>@h"
    );
    assert_eq!(redact_url_password("redis://h:6379"), "redis://h:6379");
    assert_eq!(
        redact_url_password("redis://u:p@ss@h/1"),
        "redis://u:<redacted>@h/1",
        "the last @ ends the credentials"
    );
    for unparsable in ["u:pw@h", "", "redis://u:pw@h:port"] {
        assert_eq!(redact_url_password(unparsable), unparsable);
    }
    let err = resolve(&["--adapter", "redis"]).expect_err("url required");
    assert!(err.to_string().contains("cluster.redis_url"));
}

#[test]
fn security_settings_are_checked_and_secrets_masked() {
    let secret = "a-jwt-secret-of-at-least-32-bytes!";
    let c = resolve(&["--jwt-secret", secret, "--private-namespaces", "/chat"]).expect("valid");
    assert!(!c.to_toml().contains(secret), "the JWT secret is masked");
    for (args, key) in [
        (vec!["--jwt-secret", "short"], "auth.jwt_secret"),
        (
            vec!["--private-namespaces", "/chat"],
            "auth.private_namespaces",
        ),
        (
            vec!["--jwt-secret", secret, "--private-namespaces", "/nope"],
            "auth.private_namespaces",
        ),
        (vec!["--dev-auth"], "auth.dev_auth"),
        (vec!["--tls-key", "k.pem"], "tls.tls_cert"),
        (
            vec!["--jwt-secret", secret, "--jwt-public-key", "k.pem"],
            "auth.jwt_secret",
        ),
    ] {
        let err = resolve(&args).expect_err(key);
        assert!(err.to_string().contains(key), "{args:?}: {err}");
    }
}

#[test]
fn effective_settings_round_trip_through_toml() {
    let c = resolve(&["--transports", "websocket", "--allow-eio3"]).expect("valid");
    let path = write_file(&c.to_toml());
    let path_arg = path.to_string_lossy().to_string();
    let again = resolve(&["--config", &path_arg]).expect("printed config is valid input");
    assert_eq!(again.engine.transports, vec![Transport::Websocket]);
    assert!(again.engine.allow_eio3);
}

#[test]
fn flask_bridge_and_forwarding_settings() {
    let c = resolve(&[
        "--flask-queue",
        "redis://:secret@h:6379/0",
        "--namespaces",
        "/admin",
        "--forward-url",
        "/=http://b:5000/event,/admin=http://b:5000/admin",
        "--connect-url",
        "/admin=http://b:5000/connect",
    ])
    .expect("valid");
    assert_eq!(c.flask.flask_channel, "flask-socketio");
    let routes: Vec<(&str, &str)> = c
        .forwarding
        .forward_url
        .iter()
        .map(|r| (r.namespace.as_str(), r.url.as_str()))
        .collect();
    assert_eq!(
        routes,
        [
            ("/", "http://b:5000/event"),
            ("/admin", "http://b:5000/admin")
        ]
    );
    let shown = c.to_toml();
    assert!(!shown.contains("secret"), "{shown}");
    assert!(
        shown.contains("[flask]") && shown.contains("[forwarding]"),
        "{shown}"
    );

    let cases: [(&[&str], &str); 10] = [
        (&["--flask-queue", "amqp://guest@h//"], "flask.flask_queue"),
        (&["--flask-channel", "two words"], "flask.flask_channel"),
        // A pair that does not parse is refused by its flag, one that does by its setting.
        (&["--forward-url", "http://b/event"], "--forward-url"),
        (
            &["--forward-url", "/chat=http://b/event"],
            "forwarding.forward_url",
        ),
        (
            &["--forward-url", "/=http://a/event,/=http://b/event"],
            "forwarding.forward_url",
        ),
        (&["--connect-url", "/=https://b/connect"], "--connect-url"),
        (&["--connect-url", "/=http://"], "--connect-url"),
        (
            &["--forward-timeout-ms", "0"],
            "forwarding.forward_timeout_ms",
        ),
        (&["--forward-secret", ""], "forwarding.forward_secret"),
        (
            &["--forward-secret", "two words"],
            "forwarding.forward_secret",
        ),
    ];
    for (args, key) in cases {
        let err = resolve(args).expect_err(key);
        assert!(err.to_string().contains(key), "{args:?}: {err}");
    }
}

#[test]
fn the_forward_secret_is_masked() {
    let c = resolve(&["--forward-secret", "s3cr3t-shared-with-flask"]).expect("valid");
    assert_eq!(
        c.forwarding.forward_secret.as_deref(),
        Some("s3cr3t-shared-with-flask")
    );
    let shown = c.to_toml();
    assert!(!shown.contains("s3cr3t-shared-with-flask"), "{shown}");
    assert!(shown.contains("forward_secret = \"<redacted>\""), "{shown}");
}

#[test]
fn forward_urls_round_trip_through_toml() {
    let c = resolve(&["--forward-url", " / = http://b:5000/event "]).expect("valid");
    let path = write_file(&c.to_toml());
    let path_arg = path.to_string_lossy().to_string();
    let again = resolve(&["--config", &path_arg]).expect("printed config is valid input");
    assert_eq!(again.forwarding.forward_url, c.forwarding.forward_url);
    assert_eq!(
        again.forwarding.forward_url[0].to_string(),
        "/=http://b:5000/event"
    );
}

#[test]
fn trusted_proxies_are_parsed_where_they_are_read() {
    let c = resolve(&["--trusted-proxies", "10.0.0.0/8,::1"]).expect("valid");
    assert_eq!(c.limits.trusted_proxies.len(), 2);
    let shown = c.to_toml();
    assert!(
        shown.contains(r#"trusted_proxies = ["10.0.0.0/8", "::1"]"#),
        "{shown}"
    );
    let err = resolve(&["--trusted-proxies", "10.0.0.0/8,proxy.local"]).expect_err("a name");
    assert!(
        err.to_string().starts_with(
            "--trusted-proxies proxy.local: invalid value for limits.trusted_proxies: "
        ),
        "{err}"
    );
    let path = write_file("[limits]\ntrusted_proxies = [\"10.0.0.0/33\"]\n");
    let path_arg = path.to_string_lossy().to_string();
    let err = resolve(&["--config", &path_arg]).expect_err("a bad prefix");
    assert!(err.to_string().contains("10.0.0.0/33"), "{err}");
}

#[test]
fn django_bridge_settings() {
    let c = resolve(&[
        "--django-layer",
        "redis://:secret@h1:6379/0,redis://h2:6379/0",
        "--django-layer-kind",
        "pubsub",
        "--django-encryption-keys",
        "key-one,key-two",
        "--namespaces",
        "/shop",
        "--django-namespace",
        "/shop",
    ])
    .expect("valid");
    assert_eq!(c.django.django_layer.len(), 2);
    assert_eq!(c.django.django_layer_kind, DjangoLayerKind::Pubsub);
    assert_eq!(c.django.django_prefix, "asgi");
    assert_eq!(c.django.django_user_group, "user.{id}");
    assert_eq!(c.django.django_encryption_keys, ["key-one", "key-two"]);
    let shown = c.to_toml();
    assert!(shown.contains("[django]"), "{shown}");
    for secret in ["secret", "key-one", "key-two"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }
    let defaults = resolve(&[]).expect("valid");
    assert!(
        defaults.django.django_layer.is_empty(),
        "no bridge by default"
    );
    assert_eq!(defaults.django.django_layer_kind, DjangoLayerKind::Core);

    let cases: [(&[&str], &str); 7] = [
        (&["--django-layer", "amqp://h"], "django.django_layer"),
        (&["--django-prefix", ""], "django.django_prefix"),
        (
            &["--django-namespace", "/nowhere"],
            "django.django_namespace",
        ),
        (
            &["--django-user-group", "user.{id}.{id}"],
            "django.django_user_group",
        ),
        (
            &["--django-user-group", "user:{id}"],
            "django.django_user_group",
        ),
        (
            &["--django-group-expiry-secs", "1"],
            "django.django_group_expiry_secs",
        ),
        (
            &["--django-max-message-bytes", "10"],
            "django.django_max_message_bytes",
        ),
    ];
    for (args, key) in cases {
        let err = resolve(args).expect_err(key);
        assert!(err.to_string().contains(key), "{args:?}: {err}");
    }
    let notifications = resolve(&[
        "--django-namespace",
        "/notifications",
        "--django-user-group",
        "",
    ]);
    assert!(
        notifications.is_ok(),
        "a built-in namespace and no user groups"
    );
}

#[test]
fn namespace_patterns_are_checked_at_start() {
    let c = resolve(&[
        "--namespaces",
        "/tenant-*,/tenant-admin,/org/*/feed",
        "--forward-url",
        "/tenant-*=http://b/t,/tenant-admin=http://b/a,/tenant-x=http://b/x",
        "--jwt-secret",
        "a-jwt-secret-of-at-least-32-bytes!",
        "--private-namespaces",
        "/tenant-*,/org/7/feed",
    ]);
    assert!(c.is_ok(), "{c:?}");
    for (args, expected) in [
        (
            &["--namespaces", "/tenant-**"][..],
            "--namespaces /tenant-**: namespaces.namespaces: \"/tenant-**\" has more than one `*` in a segment",
        ),
        (
            &["--namespaces", "/a,/t?x"][..],
            "--namespaces /a,/t?x: namespaces.namespaces: \"/t?x\" is not a namespace like /admin or a pattern like /tenant-*",
        ),
        (
            &["--namespaces", "/t-*,/t-*x"][..],
            "--namespaces /t-*,/t-*x: namespaces.namespaces: /t-*x overlaps another pattern in a way \
             the namespace router cannot tell apart",
        ),
        (
            &[
                "--namespaces",
                "/tenant-*",
                "--forward-url",
                "/team-*=http://b/t",
            ][..],
            "--forward-url /team-*=http://b/t: forwarding.forward_url: /team-* is not a generic namespace \
             (`/`, one of --namespaces or of their patterns)",
        ),
        (
            &[
                "--namespaces",
                "/tenant-*",
                "--connect-url",
                "/other=http://b/c",
            ][..],
            "--connect-url /other=http://b/c: forwarding.connect_url: /other is not a generic namespace \
             (`/`, one of --namespaces or of their patterns)",
        ),
    ] {
        let err = resolve(args).expect_err(expected);
        assert_eq!(err.to_string(), expected, "{args:?}");
    }
    let err = resolve(&[
        "--namespaces",
        "/tenant-*",
        "--django-namespace",
        "/tenant-*",
    ])
    .expect_err("a pattern is no Django namespace");
    assert!(err.to_string().contains("django.django_namespace"), "{err}");
}

#[test]
fn admin_ui_settings_are_checked_and_the_hash_masked() {
    let hash = "$2a$04$8.kAiKQUPYg0v3O5GTzNcOJdexuhvD.K9WqcFEresLWm1jbtpE4uG";
    let c = resolve(&["--admin-password-hash", hash]).expect("a bcrypt hash is accepted");
    assert!(c.admin_ui.enabled());
    assert!(!c.to_toml().contains(hash), "the hash is masked");
    assert!(!resolve(&[]).expect("defaults").admin_ui.enabled());
    for (args, key) in [
        (
            vec!["--admin-password-hash", "hunter2"],
            "admin_ui.admin_password_hash",
        ),
        (
            vec!["--admin-password-hash", hash, "--admin-no-auth"],
            "admin_ui.admin_no_auth",
        ),
        (
            vec!["--admin-no-auth", "--admin-namespace", "/chat"],
            "admin_ui.admin_namespace",
        ),
        (
            vec!["--admin-no-auth", "--admin-namespace", "admin"],
            "admin_ui.admin_namespace",
        ),
        (
            vec!["--admin-no-auth", "--admin-ui-dir", "/nonexistent"],
            "admin_ui.admin_ui_dir",
        ),
        (
            vec!["--admin-no-auth", "--admin-mirror-capacity", "0"],
            "admin_ui.admin_mirror_capacity",
        ),
    ] {
        let err = resolve(&args).expect_err("refused");
        assert!(err.to_string().contains(key), "{args:?}: {err}");
    }
}
