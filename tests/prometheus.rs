//! `/metrics` read by the real Prometheus tools, so that what an operator loads is what is
//! tested: the exposition passes `promtool check metrics` with no lint warning at all, the
//! alerting rules of docs/prometheus-alerts.yml pass `promtool check rules`, and a real
//! `prometheus`, started with the scrape configuration docs/monitoring.md shows (its addresses,
//! intervals and rule file put in), scrapes the server, counts exactly the requests this test
//! made, evaluates every alerting rule without error, and answers every query of
//! docs/grafana-dashboard.json. Every series and label value those queries name must exist, so
//! neither the dashboard nor the alerts can drift from the metrics unnoticed (a query naming a
//! series that does not exist would still "succeed", with no data), and the series table of
//! docs/monitoring.md must list exactly the series served, with their types and labels.
//!
//! Debian's `prometheus` package provides both binaries (/usr/bin/prometheus,
//! /usr/bin/promtool; or on the `PATH`). Without them the tests that need them are skipped with
//! a notice, unless `CDP_AUTH_REQUIRE_PROMETHEUS=1` (CI sets it), which makes that a failure.
//! Prometheus runs as the current user in the foreground, its storage in a temporary folder,
//! on a loopback port, and is killed when the test ends, also when it fails.

// The harness's `serve` leaves the child unwaited on the path where it panics anyway.
#[allow(clippy::zombie_processes)]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use support::http::{Client, Reply, a1user_token, bearer, post_form, send, send_maybe_unavailable};
use support::{Deployment, Server, free_port};

/// Where Debian's `prometheus` package puts its binaries.
const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

/// The variable that makes missing binaries a failure instead of a skip.
const REQUIRE: &str = "CDP_AUTH_REQUIRE_PROMETHEUS";

/// The files under test: the page, the rules (also by path, for Prometheus and promtool) and
/// the dashboard.
const DOCS: &str = include_str!("../docs/monitoring.md");
const ALERTS: &str = include_str!("../docs/prometheus-alerts.yml");
const ALERTS_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/prometheus-alerts.yml");
const DASHBOARD: &str = include_str!("../docs/grafana-dashboard.json");

/// What the documented scrape configuration names, replaced with this test's.
const DOC_TARGET: &str = "\"127.0.0.1:8080\"";
const DOC_SCRAPE_INTERVAL: &str = "scrape_interval: 15s";
const DOC_EVALUATION_INTERVAL: &str = "evaluation_interval: 15s";
const DOC_RULE_FILE: &str = "/etc/prometheus/rules/cdp-auth-alerts.yml";

/// The one forward-auth rule the server decides by.
const RULES: &str = r#"
[[forward_auth.rules]]
path = "/v2/{tenantId}/dw/tracker"
methods = ["POST"]
scopes = ["dw:tracker"]
"#;

/// How long Prometheus may take to start, scrape, or evaluate the rules.
const PATIENCE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// The binaries

/// `prometheus` and `promtool`.
struct Tools {
    prometheus: PathBuf,
    promtool: PathBuf,
}

/// The binary at Debian's path, or of this name on the `PATH`.
fn find(path: &str, name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(name));
    std::iter::once(PathBuf::from(path))
        .chain(on_path)
        .find(|candidate| candidate.is_file())
}

/// Both binaries, or `None` (the test says why and passes) where either is missing, unless
/// `CDP_AUTH_REQUIRE_PROMETHEUS=1`.
fn tools() -> Option<Tools> {
    if let (Some(prometheus), Some(promtool)) =
        (find(PROMETHEUS, "prometheus"), find(PROMTOOL, "promtool"))
    {
        return Some(Tools {
            prometheus,
            promtool,
        });
    }
    if std::env::var(REQUIRE).as_deref() == Ok("1") {
        panic!(
            "{REQUIRE}=1 but there is no prometheus and promtool at {PROMETHEUS} and {PROMTOOL} or on the PATH"
        );
    }
    eprintln!(
        "notice: skipping the Prometheus test: install Prometheus (apt-get install prometheus) to run it"
    );
    None
}

/// Runs promtool with `args`, `stdin` as its input; returns whether it succeeded and
/// everything it printed.
fn promtool(tools: &Tools, args: &[&str], stdin: &[u8]) -> (bool, String) {
    let mut child = Command::new(&tools.promtool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("promtool's stdin")
        .write_all(stdin)
        .expect("write to promtool");
    let output = child.wait_with_output().expect("promtool ends");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

// ---------------------------------------------------------------------------------------------
// The exposition

/// One sample of the text exposition.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scraped `/metrics`: each family's `# TYPE`, and every sample.
struct Exposition {
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// Parses the text format 0.0.4 (promtool has already checked it is well formed).
    fn parse(text: &str) -> Exposition {
        let mut types = BTreeMap::new();
        let mut samples = Vec::new();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            if let Some(declared) = line.strip_prefix("# TYPE ") {
                let (name, kind) = declared.split_once(' ').expect("# TYPE name type");
                types.insert(name.to_owned(), kind.trim().to_owned());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            samples.push(sample(line));
        }
        Exposition { types, samples }
    }

    /// The samples of `name` whose labels include every pair of `labels`.
    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(value))
        })
    }

    /// The label names a family's samples carry (`le` of a histogram's buckets left out).
    fn label_names(&self, family: &str) -> BTreeSet<String> {
        let kind = self.types.get(family).map(String::as_str);
        self.samples
            .iter()
            .filter(|sample| {
                sample.name == family
                    || (kind == Some("histogram")
                        && ["_bucket", "_sum", "_count"]
                            .iter()
                            .any(|suffix| sample.name == format!("{family}{suffix}")))
            })
            .flat_map(|sample| sample.labels.keys().cloned())
            .filter(|name| name != "le")
            .collect()
    }
}

/// One sample line: `name{label="value",…} value`.
fn sample(line: &str) -> Sample {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(at) => line.split_at(at),
        None => panic!("a sample without a value: {line:?}"),
    };
    let mut labels = BTreeMap::new();
    let mut rest = rest;
    if let Some(inside) = rest.strip_prefix('{') {
        let mut chars = inside.char_indices();
        let mut key = String::new();
        let end = loop {
            let (at, c) = chars.next().unwrap_or_else(|| panic!("unclosed {line:?}"));
            match c {
                '}' => break at,
                ',' | ' ' => {}
                '=' => {
                    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{line:?}");
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('"') => break,
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some(escaped) => value.push(escaped),
                                None => panic!("unclosed {line:?}"),
                            },
                            Some(c) => value.push(c),
                            None => panic!("unclosed {line:?}"),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                c => key.push(c),
            }
        };
        rest = &inside[end + 1..];
    }
    let value = rest
        .split_whitespace()
        .next()
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no value in {line:?}"));
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// The series table of docs/monitoring.md: each family's type and label names.
fn documented_series() -> BTreeMap<String, (String, BTreeSet<String>)> {
    DOCS.lines()
        .filter(|line| line.starts_with("| `cdp_auth_"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`').to_owned();
            let kind = cells[2].to_owned();
            let labels = cells[3]
                .split(',')
                .map(|label| label.trim().trim_matches('`'))
                .filter(|label| !label.is_empty())
                .map(str::to_owned)
                .collect();
            (name, (kind, labels))
        })
        .collect()
}

/// Checks the families served against the documented table, and that every label value the
/// page promises exists from the start.
fn check_against_the_docs(exposition: &Exposition, postgres: bool) {
    let documented = documented_series();
    let served: BTreeMap<String, String> = exposition
        .types
        .iter()
        .filter(|(name, _)| name.starts_with("cdp_auth_"))
        .map(|(name, kind)| (name.clone(), kind.clone()))
        .collect();
    assert_eq!(
        served.keys().collect::<Vec<_>>(),
        documented.keys().collect::<Vec<_>>(),
        "the series served and the table of docs/monitoring.md differ"
    );
    for (name, (kind, labels)) in &documented {
        assert_eq!(&served[name], kind, "the type of {name}");
        assert_eq!(
            &exposition.label_names(name),
            labels,
            "the labels of {name} (docs/monitoring.md lists {labels:?})"
        );
    }

    // Every listed label value is there before anything has happened to it.
    let present: &[(&str, &str, &[&str])] = &[
        (
            "cdp_auth_tokens_issued_total",
            "dialect",
            &["a1user", "secure_api", "oauth"],
        ),
        (
            "cdp_auth_tokens_revoked_total",
            "dialect",
            &["a1user", "oauth", "admin"],
        ),
        (
            "cdp_auth_credential_failures_total",
            "kind",
            &[
                "instance_password",
                "tenant_secret",
                "client_assertion",
                "admin_password",
                "token",
                "dpop_proof",
            ],
        ),
        (
            "cdp_auth_token_cache_requests_total",
            "result",
            &["hit", "miss"],
        ),
        (
            "cdp_auth_webhook_deliveries_total",
            "result",
            &["delivered", "failed"],
        ),
    ];
    for (name, label, values) in present {
        for value in *values {
            assert_eq!(
                exposition.matching(name, &[(label, value)]).count(),
                1,
                "{name}{{{label}=\"{value}\"}} is not served exactly once"
            );
        }
    }
    for name in [
        "cdp_auth_throttled_total",
        "cdp_auth_slow_hash_queue",
        "cdp_auth_slow_hash_queue_capacity",
        "cdp_auth_slow_hash_rejected_total",
    ] {
        assert_eq!(exposition.matching(name, &[]).count(), 1, "{name}");
    }
    let capacity = exposition
        .matching("cdp_auth_slow_hash_queue_capacity", &[])
        .map(|sample| sample.value)
        .sum::<f64>();
    assert!(capacity >= 1.0, "slow-hash queue capacity {capacity}");
    let pools: &[&str] = if postgres {
        &["main"]
    } else {
        &["read", "write"]
    };
    for pool in pools {
        for state in ["idle", "in_use"] {
            assert_eq!(
                exposition
                    .matching(
                        "cdp_auth_db_pool_connections",
                        &[("pool", pool), ("state", state)]
                    )
                    .count(),
                1,
                "cdp_auth_db_pool_connections{{pool=\"{pool}\",state=\"{state}\"}}"
            );
        }
        let max: Vec<f64> = exposition
            .matching("cdp_auth_db_pool_max_connections", &[("pool", pool)])
            .map(|sample| sample.value)
            .collect();
        assert!(
            max.len() == 1 && max[0] >= 1.0,
            "cdp_auth_db_pool_max_connections{{pool=\"{pool}\"}}: {max:?}"
        );
    }
    let version = env!("CARGO_PKG_VERSION");
    let build: Vec<&Sample> = exposition.matching("cdp_auth_build_info", &[]).collect();
    assert!(
        build.len() == 1
            && build[0].value == 1.0
            && build[0].labels.get("version").map(String::as_str) == Some(version),
        "cdp_auth_build_info should be 1 with version=\"{version}\": {build:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// PromQL, as far as this test reads it

/// One matcher of a vector selector: `label`, `=`/`!=`/`=~`/`!~`, and the value as written
/// (quotes included).
#[derive(Debug, Clone)]
struct Matcher {
    label: String,
    op: String,
    value: String,
}

/// A vector selector: a metric name and its matchers.
#[derive(Debug)]
struct Selector {
    name: String,
    matchers: Vec<Matcher>,
}

impl Selector {
    /// A query that has a result exactly when some series matches the selector's name and its
    /// `=` matchers (regular expressions, which may rightly match nothing, left out).
    fn existence_query(&self) -> String {
        let equal: Vec<String> = self
            .matchers
            .iter()
            .filter(|m| m.op == "=")
            .map(|m| format!("{}={}", m.label, m.value))
            .collect();
        format!("count({}{{{}}})", self.name, equal.join(","))
    }
}

/// Skips a string literal that starts at `chars[at]`; returns the index after it.
fn skip_string(chars: &[char], at: usize) -> usize {
    let quote = chars[at];
    let mut i = at + 1;
    while i < chars.len() && chars[i] != quote {
        if chars[i] == '\\' {
            i += 1;
        }
        i += 1;
    }
    i + 1
}

/// Every vector selector of a PromQL expression: a name followed by `{…}`, or a bare name of
/// ours. Function and aggregation names (followed by `(`), label names in `by (…)` and
/// keywords are not selectors; numbers and durations (`0.95`, `5m`) are skipped whole.
fn selectors(expr: &str) -> Vec<Selector> {
    let chars: Vec<char> = expr.chars().collect();
    let is_start = |c: char| c.is_ascii_alphabetic() || c == '_' || c == ':';
    let is_part = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i = skip_string(&chars, i);
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
        } else if is_start(c) {
            let start = i;
            while i < chars.len() && is_part(chars[i]) {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let mut next = i;
            while next < chars.len() && chars[next].is_whitespace() {
                next += 1;
            }
            if chars.get(next) == Some(&'{') {
                let open = next + 1;
                let mut close = open;
                while chars[close] != '}' {
                    close = if chars[close] == '"' {
                        skip_string(&chars, close)
                    } else {
                        close + 1
                    };
                }
                let inside: String = chars[open..close].iter().collect();
                found.push(Selector {
                    name,
                    matchers: matchers(&inside),
                });
                i = close + 1;
            } else if name.starts_with("cdp_auth_") && chars.get(next) != Some(&'(') {
                found.push(Selector {
                    name,
                    matchers: Vec::new(),
                });
            }
        } else {
            i += 1;
        }
    }
    found
}

/// The matchers between a selector's braces.
fn matchers(inside: &str) -> Vec<Matcher> {
    let chars: Vec<char> = inside.chars().collect();
    let mut parts = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < chars.len() {
        match chars[i] {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            ',' => {
                parts.push(chars[start..i].iter().collect::<String>());
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    parts.push(chars[start..].iter().collect());
    parts
        .iter()
        .map(|part| part.trim())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let at = part
                .find(['=', '!'])
                .unwrap_or_else(|| panic!("no operator in matcher {part:?}"));
            let (label, rest) = part.split_at(at);
            let op_len =
                if rest.starts_with("=~") || rest.starts_with("!~") || rest.starts_with("!=") {
                    2
                } else {
                    1
                };
            Matcher {
                label: label.trim().to_owned(),
                op: rest[..op_len].to_owned(),
                value: rest[op_len..].trim().to_owned(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The dashboard

/// Every panel, those inside collapsed rows too.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        if let Some(inner) = panel["panels"].as_array() {
            all.extend(inner);
        }
    }
    all
}

/// Every query of every panel, with its panel's title.
fn dashboard_queries(dashboard: &Value) -> Vec<(String, String)> {
    panels(dashboard)
        .into_iter()
        .flat_map(|panel| {
            let title = panel["title"].as_str().unwrap_or("").to_owned();
            panel["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(move |target| {
                    target["expr"]
                        .as_str()
                        .map(|expr| (title.clone(), expr.to_owned()))
                })
        })
        .collect()
}

/// A dashboard query as Grafana sends it: `$__rate_interval` and the other interval variables
/// as a minute, `$instance` as "every instance". Any other variable fails the test, so that a
/// new one is given a value here.
fn interpolated(expr: &str) -> String {
    let done = expr
        .replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "1m")
        .replace("${__interval}", "1m")
        .replace("$__range", "1h")
        .replace("${__range}", "1h")
        .replace("${instance}", ".*")
        .replace("$instance", ".*");
    assert!(
        !done.contains('$'),
        "a dashboard query uses a variable this test does not know: {expr}"
    );
    done
}

/// The query variable reading `label_values(METRIC, LABEL)`: the metric and the label.
fn label_values_variable(dashboard: &Value) -> (String, String) {
    let variable = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .find(|variable| variable["name"] == "instance")
        .expect("an `instance` variable");
    let query = variable["query"]["query"]
        .as_str()
        .or_else(|| variable["query"].as_str())
        .expect("the instance variable's query");
    let inside = query
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not label_values(…): {query}"));
    let (metric, label) = inside
        .rsplit_once(',')
        .unwrap_or_else(|| panic!("label_values without a label: {query}"));
    (metric.trim().to_owned(), label.trim().to_owned())
}

#[test]
fn the_dashboard_is_an_importable_grafana_dashboard_over_the_documented_series() {
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    assert!(
        dashboard["schemaVersion"]
            .as_u64()
            .is_some_and(|v| (36..=41).contains(&v)),
        "schemaVersion {}",
        dashboard["schemaVersion"]
    );
    assert!(
        dashboard["id"].is_null(),
        "an importable dashboard has no id"
    );
    for field in ["uid", "title"] {
        assert!(
            dashboard[field].as_str().is_some_and(|s| !s.is_empty()),
            "no {field}"
        );
    }
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list");
    let datasource = variables
        .iter()
        .find(|variable| variable["name"] == "datasource")
        .expect("a `datasource` variable");
    assert_eq!(datasource["type"], "datasource");
    assert_eq!(datasource["query"], "prometheus");
    let prometheus = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    let instance = variables
        .iter()
        .find(|variable| variable["name"] == "instance")
        .expect("an `instance` variable");
    assert_eq!(instance["datasource"], prometheus);
    assert_eq!(
        label_values_variable(&dashboard),
        ("cdp_auth_build_info".to_owned(), "instance".to_owned())
    );

    // Panels: unique ids, on the grid without overlapping, every query on the chosen source.
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or("");
        assert!(
            ids.insert(panel["id"].as_u64().expect("a panel id")),
            "{title}: id"
        );
        let grid = &panel["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| grid[k].as_u64().expect("gridPos"));
        assert!(x + w <= 24 && w > 0 && h > 0, "{title}: gridPos {grid}");
        for cell in (x..x + w).flat_map(|cx| (y..y + h).map(move |cy| (cx, cy))) {
            assert!(
                cells.insert(cell),
                "{title} overlaps another panel at {cell:?}"
            );
        }
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"], prometheus, "{title}: datasource");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has no query");
        for target in targets {
            assert_eq!(
                target["datasource"], prometheus,
                "{title}: a query's datasource"
            );
            assert!(
                target["expr"].as_str().is_some_and(|e| !e.is_empty()),
                "{title}: a query without expr"
            );
        }
    }

    // Every query follows the instance variable, and every documented series is shown.
    let queries = dashboard_queries(&dashboard);
    for (title, expr) in &queries {
        interpolated(expr);
        for selector in selectors(expr) {
            assert!(
                selector
                    .matchers
                    .iter()
                    .any(|m| m.label == "instance" && m.op == "=~" && m.value == "\"$instance\""),
                "{title}: {} does not follow $instance in {expr}",
                selector.name
            );
        }
    }
    let shown: BTreeSet<String> = queries
        .iter()
        .flat_map(|(_, expr)| selectors(expr))
        .map(|selector| selector.name)
        .collect();
    for (family, (kind, _)) in documented_series() {
        let names = if kind == "histogram" {
            vec![format!("{family}_bucket")]
        } else {
            vec![family.clone()]
        };
        assert!(
            names.iter().any(|name| shown.contains(name)),
            "no panel shows {family}"
        );
    }
}

#[test]
fn promtool_accepts_the_alerting_rules() {
    let Some(tools) = tools() else {
        return;
    };
    let (ok, printed) = promtool(&tools, &["check", "rules", ALERTS_FILE], b"");
    assert!(ok, "promtool check rules {ALERTS_FILE}: {printed}");
    let expected = documented_alerts().len();
    assert!(
        printed.contains(&format!("SUCCESS: {expected} rules found")),
        "expected {expected} rules: {printed}"
    );
}

/// The alert names of docs/prometheus-alerts.yml.
fn documented_alerts() -> BTreeSet<String> {
    ALERTS
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A real Prometheus

/// The one `yaml` block of docs/monitoring.md that configures Prometheus.
fn documented_scrape_config() -> String {
    let blocks: Vec<&str> = DOCS
        .split("```yaml\n")
        .skip(1)
        .filter_map(|block| block.split_once("\n```").map(|(block, _)| block))
        .filter(|block| block.contains("scrape_configs:"))
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "docs/monitoring.md should have one yaml block with scrape_configs"
    );
    let block = blocks[0];
    for expected in [
        "job_name: cdp-auth",
        "metrics_path: /metrics",
        "rule_files:",
    ] {
        assert!(
            block.contains(expected),
            "the scrape config lacks {expected:?}"
        );
    }
    block.to_owned()
}

/// A running Prometheus; killed when dropped.
struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    base: String,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus with the documented configuration, scraping `target`
    /// (`127.0.0.1:PORT`) every second and evaluating the rules every second.
    async fn start(binary: &Path, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().expect("temporary folder");
        let documented = documented_scrape_config();
        for placeholder in [
            DOC_TARGET,
            DOC_SCRAPE_INTERVAL,
            DOC_EVALUATION_INTERVAL,
            DOC_RULE_FILE,
        ] {
            assert_eq!(
                documented.matches(placeholder).count(),
                1,
                "the documented scrape config should name {placeholder:?} once"
            );
        }
        let config = documented
            .replace(DOC_TARGET, &format!("{target:?}"))
            .replace(DOC_SCRAPE_INTERVAL, "scrape_interval: 1s")
            .replace(DOC_EVALUATION_INTERVAL, "evaluation_interval: 1s")
            .replace(DOC_RULE_FILE, &format!("{ALERTS_FILE:?}"));
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, config).expect("write prometheus.yml");
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("a log file");
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--rules.alert.resend-delay=1s")
            .arg("--rules.alert.for-grace-period=1s")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the log file"))
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let mut prometheus = Prometheus {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
            client: {
                cdp_auth_client::install_tls_provider();
                reqwest::Client::new()
            },
        };
        prometheus.wait_until_ready().await;
        prometheus
    }

    /// What Prometheus logged, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    async fn wait_until_ready(&mut self) {
        let started = Instant::now();
        loop {
            let ready = self
                .client
                .get(format!("{}/-/ready", self.base))
                .send()
                .await
                .is_ok_and(|response| response.status() == 200);
            if ready {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}): {}", self.log());
            }
            assert!(
                started.elapsed() < PATIENCE,
                "prometheus was not ready within {PATIENCE:?}: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET path` of the HTTP API; the JSON answer, whatever its status.
    async fn api_get(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap_or_else(|e| panic!("prometheus {path}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("prometheus {path}: not JSON: {e}"))
    }

    /// Every alerting rule `/api/v1/rules` lists, in every group.
    async fn alerting_rules(&self) -> Vec<Value> {
        let answer = self.api_get("/api/v1/rules?type=alert").await;
        assert_eq!(answer["status"], "success", "/api/v1/rules: {answer}");
        answer["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// An instant query, as `/api/v1/query` answers it (status `success` or `error`).
    async fn query(&self, promql: &str) -> Value {
        self.client
            .post(format!("{}/api/v1/query", self.base))
            .form(&[("query", promql)])
            .send()
            .await
            .unwrap_or_else(|e| panic!("prometheus query {promql}: {e}"))
            .json()
            .await
            .unwrap_or_else(|e| panic!("prometheus query {promql}: not JSON: {e}"))
    }

    /// An instant query that must succeed; its result vector.
    async fn vector(&self, promql: &str) -> Vec<Value> {
        let answer = self.query(promql).await;
        assert_eq!(answer["status"], "success", "{promql}: {answer}");
        answer["data"]["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{promql}: no result vector: {answer}"))
            .clone()
    }

    /// The single value of a query (`None` when its result is empty).
    async fn value(&self, promql: &str) -> Option<f64> {
        let result = self.vector(promql).await;
        assert!(
            result.len() <= 1,
            "{promql}: more than one value: {result:?}"
        );
        result.first().map(|sample| {
            sample["value"][1]
                .as_str()
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("{promql}: not a number: {sample}"))
        })
    }

    /// Polls `holds` every 200 ms until it is true; fails after [`PATIENCE`].
    async fn eventually<F, Fut>(&self, what: &str, mut holds: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        while !holds().await {
            assert!(
                started.elapsed() < PATIENCE,
                "still not so after {PATIENCE:?}: {what}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The whole path

/// Asks `/forward-auth`, as nginx does, whether `token` may push to `tenant`'s DW Tracker.
async fn forward_auth(server: &Server, tenant: &str, token: &str) -> Reply {
    send_maybe_unavailable(
        server
            .get("/forward-auth")
            .header("X-Original-Method", "POST")
            .header("X-Original-URI", format!("/v2/{tenant}/dw/tracker"))
            .header(AUTHORIZATION, bearer(token)),
        "forward-auth",
    )
    .await
}

/// `POST /oauth/token` with `grant_type=client_credentials`.
async fn oauth_token(server: &Server, client: Client<'_>) -> Reply {
    post_form(
        server,
        "/oauth/token",
        client,
        &[("grant_type", "client_credentials")],
    )
    .await
}

#[tokio::test]
async fn a_real_prometheus_scrapes_lint_clean_metrics_and_runs_every_alert_and_panel() {
    let Some(tools) = tools() else {
        return;
    };
    let config = tempfile::tempdir().expect("temporary folder");
    let file = config.path().join("cdp-auth.toml");
    std::fs::write(&file, RULES).expect("write the rules");
    let deployment = Deployment::with_env(&[("CDP_AUTH_CONFIG", &file.display().to_string())]);
    deployment.tenant_without_oauth("acme", "uat");
    let tracker = deployment.instance("acme", "loader", "dw-tracker");
    let server = deployment.serve();

    // Traffic whose every count is known: two OAuth grants and a wrong password, an a1user
    // login, two allowed forward-auth checks and an unknown token, a path no route has, and
    // a revoke.
    for _ in 0..2 {
        oauth_token(&server, Client::basic(&tracker))
            .await
            .access_token();
    }
    oauth_token(
        &server,
        Client::Basic(&tracker.username, "not-the-password"),
    )
    .await
    .expect_error(401, "invalid_client");
    let a1user = a1user_token(&server, &tracker).await;
    for _ in 0..2 {
        let allowed = forward_auth(&server, &tracker.tenant_id, &a1user).await;
        assert_eq!(allowed.status, 200, "{allowed:?}");
    }
    let unknown = forward_auth(
        &server,
        &tracker.tenant_id,
        "00000000-0000-4000-8000-000000000000",
    )
    .await;
    assert_eq!(unknown.status, 401, "{unknown:?}");
    let nowhere = send_maybe_unavailable(server.get("/no/such/route"), "unmatched").await;
    assert_eq!(nowhere.status, 404, "{nowhere:?}");
    let revoked = send(
        server
            .delete("/token?scheme=a1user")
            .header(AUTHORIZATION, bearer(&a1user)),
        "revoke",
    )
    .await;
    assert_eq!(revoked.ok()["revoked"], 1, "{revoked:?}");

    // The exposition: its media type, lint-clean for promtool, and as documented.
    let scraped = server.get("/metrics").send().await.expect("GET /metrics");
    assert_eq!(scraped.status(), 200);
    let content_type = scraped
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "Content-Type: {content_type:?}"
    );
    let body = scraped.text().await.expect("the exposition");
    let (ok, printed) = promtool(&tools, &["check", "metrics"], body.as_bytes());
    assert!(
        ok && printed.trim().is_empty(),
        "promtool check metrics is not clean:\n{printed}\n--- the exposition:\n{body}"
    );
    check_against_the_docs(&Exposition::parse(&body), deployment.is_postgres());

    // A real Prometheus scrapes it.
    let target = server.base.trim_start_matches("http://").to_owned();
    let prometheus = Prometheus::start(&tools.prometheus, &target).await;
    prometheus
        .eventually("cdp-auth is up and its build info scraped", || async {
            prometheus.value(r#"up{job="cdp-auth"}"#).await == Some(1.0)
                && prometheus
                    .value(r#"cdp_auth_build_info{job="cdp-auth"}"#)
                    .await
                    .is_some()
        })
        .await;
    let version = env!("CARGO_PKG_VERSION");
    let expected: &[(&str, f64)] = &[
        (
            r#"cdp_auth_http_requests_total{route="/oauth/token",method="POST",status="200"}"#,
            2.0,
        ),
        (
            r#"cdp_auth_http_requests_total{route="/oauth/token",method="POST",status="401"}"#,
            1.0,
        ),
        (
            r#"sum(cdp_auth_http_request_duration_seconds_count{route="/oauth/token"})"#,
            3.0,
        ),
        (
            r#"cdp_auth_http_requests_total{route="/forward-auth",method="GET",status="200"}"#,
            2.0,
        ),
        (
            r#"cdp_auth_http_requests_total{route="/forward-auth",method="GET",status="401"}"#,
            1.0,
        ),
        (
            r#"sum(cdp_auth_http_requests_total{route="unmatched",status="404"})"#,
            1.0,
        ),
        (r#"cdp_auth_tokens_issued_total{dialect="oauth"}"#, 2.0),
        (r#"cdp_auth_tokens_issued_total{dialect="a1user"}"#, 1.0),
        (r#"cdp_auth_tokens_issued_total{dialect="secure_api"}"#, 0.0),
        (r#"cdp_auth_tokens_revoked_total{dialect="a1user"}"#, 1.0),
        (r#"cdp_auth_tokens_revoked_total{dialect="admin"}"#, 0.0),
        (
            r#"cdp_auth_credential_failures_total{kind="instance_password"}"#,
            1.0,
        ),
        (r#"cdp_auth_credential_failures_total{kind="token"}"#, 1.0),
        (
            r#"cdp_auth_credential_failures_total{kind="tenant_secret"}"#,
            0.0,
        ),
        ("cdp_auth_throttled_total", 0.0),
        ("cdp_auth_slow_hash_rejected_total", 0.0),
    ];
    for (promql, count) in expected {
        assert_eq!(
            prometheus.value(promql).await,
            Some(*count),
            "{promql} should be {count}"
        );
    }
    assert_eq!(
        prometheus
            .value(&format!(r#"cdp_auth_build_info{{version="{version}"}}"#))
            .await,
        Some(1.0)
    );
    let hits = prometheus
        .value(r#"cdp_auth_token_cache_requests_total{result="hit"}"#)
        .await;
    let checks = prometheus
        .value("sum(cdp_auth_token_cache_requests_total)")
        .await;
    assert!(
        hits >= Some(1.0) && checks >= Some(2.0),
        "two checks of one token should hit the cache at least once: {hits:?} hits of {checks:?}"
    );

    // Every alerting rule is loaded and evaluates without error, and names only series and
    // label values that exist.
    let alerts = documented_alerts();
    let started = Instant::now();
    let rules = loop {
        let rules = prometheus.alerting_rules().await;
        let names: BTreeSet<String> = rules
            .iter()
            .filter_map(|rule| rule["name"].as_str().map(str::to_owned))
            .collect();
        if names == alerts
            && rules.len() == alerts.len()
            && rules.iter().all(|rule| rule["health"] == "ok")
        {
            break rules;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the alerting rules of docs/prometheus-alerts.yml ({alerts:?}) were not all \
             evaluated with health ok within {PATIENCE:?}: {rules:#?}\n{}",
            prometheus.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for rule in &rules {
        let name = rule["name"].as_str().unwrap_or("");
        let query = rule["query"].as_str().expect("a rule's query");
        assert_eq!(rule["lastError"].as_str().unwrap_or(""), "", "{name}");
        for selector in selectors(query) {
            let exists = selector.existence_query();
            assert!(
                !prometheus.vector(&exists).await.is_empty(),
                "alert {name} names a series that does not exist: {exists}"
            );
        }
    }

    // Every dashboard query evaluates, and names only series and label values that exist.
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let (metric, label) = label_values_variable(&dashboard);
    let values = prometheus.vector(&metric).await;
    assert!(
        !values.is_empty()
            && values.iter().all(|series| series["metric"][&label]
                .as_str()
                .is_some_and(|v| !v.is_empty())),
        "the {label} variable finds no values in {metric}: {values:?}"
    );
    for (title, expr) in dashboard_queries(&dashboard) {
        let promql = interpolated(&expr);
        let answer = prometheus.query(&promql).await;
        assert_eq!(answer["status"], "success", "{title}: {promql}: {answer}");
        for selector in selectors(&promql) {
            let exists = selector.existence_query();
            assert!(
                !prometheus.vector(&exists).await.is_empty(),
                "panel {title:?} names a series that does not exist: {exists}"
            );
        }
    }
}
