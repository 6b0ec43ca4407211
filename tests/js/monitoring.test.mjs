// The monitoring kit in deploy/: Prometheus's scrape config and alert rules
// (checked and unit-tested with Debian's promtool), the Grafana dashboard and its
// provisioning, and docker-compose.yml wiring them to every node. That every
// metric they name is one iorelay exports is a unit test of
// server/src/ops/metrics.rs; here a live node shows the readiness gauge the
// `IorelayNotReady` alert reads.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { useServer } from "./harness.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const prometheusDir = path.join(root, "deploy/prometheus");

function promtool(...args) {
  const run = spawnSync("promtool", args, { cwd: prometheusDir, encoding: "utf8" });
  assert.ok(!run.error, `promtool is missing (Debian package prometheus): ${run.error}`);
  assert.equal(run.status, 0, `promtool ${args.join(" ")}:\n${run.stdout}${run.stderr}`);
  return run.stdout;
}

test("promtool: the alert rules are valid and fire when they should", () => {
  assert.match(promtool("check", "rules", "alerts.yml"), /SUCCESS: 7 rules found/);
  assert.match(promtool("test", "rules", "alerts.test.yml"), /SUCCESS/);
  assert.match(promtool("check", "config", "prometheus.yml"), /valid prometheus config/);
  const rules = YAML.parse(fs.readFileSync(path.join(prometheusDir, "alerts.yml"), "utf8"));
  const names = rules.groups.flatMap((g) => g.rules.map((r) => r.alert));
  for (const wanted of ["IorelayNodeDown", "IorelayRedisLinkDown", "IorelayNotReady", "IorelayFloodSpike", "IorelayAuthFailureSpike", "IorelaySlowConsumerDisconnects", "IorelayPublishLatencyHigh"]) {
    assert.ok(names.includes(wanted), `${wanted} is a rule`);
  }
});

test("Prometheus scrapes exactly the compose nodes; Grafana is provisioned with the dashboard", () => {
  const compose = YAML.parse(fs.readFileSync(path.join(root, "docker-compose.yml"), "utf8"), { merge: true });
  const config = YAML.parse(fs.readFileSync(path.join(prometheusDir, "prometheus.yml"), "utf8"));
  const job = config.scrape_configs.find((j) => j.job_name === "iorelay");
  assert.equal(job.metrics_path, "/metrics");
  const targets = job.static_configs.flatMap((c) => c.targets).sort();
  const nodes = Object.keys(compose.services).filter((n) => /^iorelay-\d+$/.test(n));
  const expected = nodes.map((n) => `${n}:${compose.services[n].environment.IORELAY_LISTEN.split(":").pop()}`).sort();
  assert.deepEqual(targets, expected);
  for (const n of nodes) assert.equal(compose.services[n].environment.IORELAY_METRICS_LISTEN, undefined, "metrics on the main listener");

  const prometheus = compose.services.prometheus;
  assert.ok(prometheus.volumes.includes("./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"));
  assert.ok(prometheus.volumes.includes("./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro"));
  assert.deepEqual(config.rule_files, ["alerts.yml"]);

  const grafana = compose.services.grafana;
  assert.ok(grafana.volumes.includes("./deploy/grafana/provisioning:/etc/grafana/provisioning:ro"));
  const mounted = grafana.volumes.find((v) => v.startsWith("./deploy/grafana/iorelay.json:")).split(":")[1];
  const provider = YAML.parse(fs.readFileSync(path.join(root, "deploy/grafana/provisioning/dashboards/iorelay.yml"), "utf8"));
  assert.equal(path.dirname(mounted), provider.providers[0].options.path);
  const datasources = YAML.parse(fs.readFileSync(path.join(root, "deploy/grafana/provisioning/datasources/prometheus.yml"), "utf8"));
  const source = datasources.datasources[0];
  assert.equal(source.url, "http://prometheus:9090");

  const dashboard = JSON.parse(fs.readFileSync(path.join(root, "deploy/grafana/iorelay.json"), "utf8"));
  const panels = dashboard.panels.filter((p) => p.type !== "row");
  assert.ok(panels.length >= 12);
  for (const panel of panels) {
    assert.equal(panel.datasource.uid, source.uid, `${panel.title}: the provisioned datasource`);
    assert.ok(panel.targets.length > 0 && panel.targets.every((t) => t.expr.includes("iorelay_") || t.expr.includes("up{")), panel.title);
  }
  const exprs = panels.flatMap((p) => p.targets.map((t) => t.expr)).join("\n");
  for (const topic of ["iorelay_connected_sockets", "iorelay_events_received_total", "iorelay_events_sent_total", "iorelay_broadcast_recipients_sum", "iorelay_publish_delivery_seconds_bucket", "iorelay_rate_limited_total", "iorelay_slow_consumer_disconnects_total", "iorelay_auth_failures_total", "iorelay_redis_up", "iorelay_bridge_messages_total"]) {
    assert.ok(exprs.includes(topic), `the dashboard charts ${topic}`);
  }
});

test("a live node exports the readiness gauge the alerts read", async (t) => {
  const server = await useServer(t);
  const text = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(text, /^iorelay_ready 1$/m);
  assert.match(text, /^# TYPE iorelay_ready gauge$/m);
});
