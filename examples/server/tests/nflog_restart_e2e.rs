//! End-to-end: the embedded dispatcher's notification log survives restarts. A firing
//! rule is delivered once to a webhook on 127.0.0.1; after a crash (SIGKILL) or a clean
//! restart on the same data directory the webhook receives no duplicate within several
//! `group_interval`s (`repeat_interval` is 1h). A corrupt snapshot does not stop the
//! server: it is set aside and the group is notified again.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Server, Webhook, eventually, get, start, write};

const RULES: &str = "groups:\n- name: g\n  interval: 500ms\n  rules:\n  - alert: AlwaysOn\n    expr: vector(1)\n";

fn setup(dir: &Path, hook: &Webhook) -> String {
    write(dir, "rules.yml", RULES);
    write(
        dir,
        "alertmanager.yml",
        &format!(
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 500ms\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n- name: hook\n  webhook_configs:\n  - url: '{}'\n",
            hook.url
        ),
    );
    write(
        dir,
        "prometheus.yml",
        "global:\n  evaluation_interval: 500ms\nrule_files: ['rules.yml']\nalerting:\n  alertmanager_config_file: alertmanager.yml\n",
    )
}

fn boot(dir: &Path, cfg: &str) -> Server {
    start(&[&format!("--config.file={cfg}")], dir)
}

fn firing(hook: &Webhook) -> usize {
    hook.take().iter().filter(|b| b["status"] == "firing" && b["groupLabels"]["alertname"] == "AlwaysOn").count()
}

/// Waits until the restarted server holds the alert in a group, then watches the
/// webhook for several group_intervals (1s); returns the notifications seen.
fn notifications_after_restart(s: &Server, hook: &Webhook) -> usize {
    assert!(
        eventually(20, || get(&s.addr, "/api/v2/alerts/groups").1.contains("AlwaysOn")),
        "the rule's alert reaches a group after the restart"
    );
    std::thread::sleep(Duration::from_secs(4));
    firing(hook)
}

#[test]
fn restart_does_not_renotify_and_a_corrupt_log_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::start();
    let cfg = setup(dir.path(), &hook);
    let nflog = dir.path().join("data/alertmanager/nflog");
    let s = boot(dir.path(), &cfg);
    let mut sent = 0;
    assert!(
        eventually(20, || {
            sent += firing(&hook);
            sent > 0
        }),
        "webhook received the first notification"
    );
    // Saved shortly after the delivery, without waiting for shutdown.
    assert!(eventually(15, || nflog.exists()), "notification log saved after the delivery");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sent + firing(&hook), 1, "one notification while running (repeat_interval 1h)");

    // Crash: no graceful shutdown, the periodic save is all there is.
    drop(s);
    let s = boot(dir.path(), &cfg);
    assert_eq!(notifications_after_restart(&s, &hook), 0, "no duplicate after a crash");

    // Clean restart.
    s.terminate();
    let s = boot(dir.path(), &cfg);
    assert_eq!(notifications_after_restart(&s, &hook), 0, "no duplicate after a clean restart");
    s.terminate();

    // A corrupt snapshot: the server starts, keeps the bad file aside and, with an empty
    // log, notifies again (once).
    let good = std::fs::read(&nflog).unwrap();
    std::fs::write(&nflog, &good[..good.len() / 2]).unwrap();
    let s = boot(dir.path(), &cfg);
    assert!(eventually(20, || firing(&hook) == 1), "notified again with an empty log");
    assert_eq!(std::fs::read(dir.path().join("data/alertmanager/nflog.corrupt")).unwrap(), &good[..good.len() / 2]);
    assert!(eventually(15, || nflog.exists()), "a good snapshot written again");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(firing(&hook), 0);
    s.terminate();
}
