#!/usr/bin/env bash
# Checks the files in deploy/ against a running server, as CI does:
#   - the alert rules with `promtool check rules` and their unit tests with `promtool test rules`
#     (every alert must have a case in which it fires);
#   - the systemd unit with `systemd-analyze verify` and `systemd-analyze security` (exposure at
#     most 2.0; both skipped where systemd-analyze is missing);
#   - the example config file against the server's config parser;
#   - a server on free loopback ports with `sync-client` traffic (two clients, one wrong
#     secret), and its counters against that traffic;
#   - the server's /metrics with `promtool check metrics` (parse errors fail; the naming lints
#     of the ObjectBox-compatible names are expected, see below);
#   - every query of the Grafana dashboard and every alert rule against a real Prometheus that
#     scrapes the server: each must evaluate without error and the dashboard queries must
#     return data;
#   - a clean shutdown on SIGTERM (exit 0) and no WARN/ERROR line in the server's log.
# Installs Debian's `prometheus` package (promtool, prometheus) if missing; needs root for that.
# Binaries: SYNC_SERVER_BIN (default target/debug/sync-server), SYNC_CLIENT_BIN (default
# target/debug/sync-client). Everything listens on 127.0.0.1 only and is stopped on exit.
# Last line: "N passed, M failed"; exit status 1 if anything failed. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SERVER=${SYNC_SERVER_BIN:-target/debug/sync-server}
CLIENT=${SYNC_CLIENT_BIN:-target/debug/sync-client}
MODEL=examples/objectbox-model.json
DASHBOARD=deploy/grafana-dashboard.json
ALERTS=deploy/prometheus-alerts.yml
ALERT_TESTS=deploy/prometheus-alerts.test.yml
UNIT=deploy/sync-server.service
EXAMPLE_CONFIG=deploy/sync-server-config.json

for bin in "$SERVER" "$CLIENT"; do
    if [[ ! -x $bin ]]; then
        echo "test-deploy: $bin not found or not executable (build it, or set SYNC_SERVER_BIN / SYNC_CLIENT_BIN)" >&2
        exit 2
    fi
done
SERVER=$(realpath "$SERVER")
CLIENT=$(realpath "$CLIENT")

if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "== installing Debian's prometheus package (promtool, prometheus)"
    if [[ $(id -u) -ne 0 ]]; then
        echo "test-deploy: promtool/prometheus missing and not root: apt-get install prometheus" >&2
        exit 2
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # The package's service is not needed (and does not start without systemd as PID 1).
fi

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

work=$(mktemp -d /tmp/test-deploy.XXXXXX)
server_pid=
prom_pid=
cleanup() {
    for pid in $prom_pid $server_pid; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for pid in $prom_pid $server_pid; do
        # Bounded: 10 s, then SIGKILL.
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
# A signal exits through the EXIT trap too, so nothing started here outlives the script.
trap 'exit 130' INT TERM HUP

# Free loopback ports, picked by the kernel (bound together so they differ, then released).
read -r sync_port admin_port prom_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
')
admin="http://127.0.0.1:$admin_port"
prom="http://127.0.0.1:$prom_port"

# Polls a command every 0.2 s until it succeeds, at most $1 seconds.
wait_for() {
    local seconds=$1
    shift
    local i
    for ((i = 0; i < seconds * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    return 1
}

echo "== promtool check rules $ALERTS"
if promtool check rules "$ALERTS" >"$work/rules.out" 2>&1; then
    pass "promtool check rules: $(grep -o 'SUCCESS: [0-9]* rules found' "$work/rules.out")"
else
    cat "$work/rules.out"
    fail "promtool check rules $ALERTS"
fi
rule_count=$(grep -o 'SUCCESS: [0-9]* rules' "$work/rules.out" | grep -o '[0-9]*' || echo 0)

echo "== promtool test rules $ALERT_TESTS"
if promtool test rules "$ALERT_TESTS" >"$work/rule-tests.out" 2>&1; then
    pass "promtool test rules: every case of $ALERT_TESTS as expected"
else
    cat "$work/rule-tests.out"
    fail "promtool test rules $ALERT_TESTS"
fi
# Every alert must have a test in which it fires (exp_alerts with labels).
untested=$(python3 - "$ALERTS" "$ALERT_TESTS" <<'EOF'
import re, sys
alerts = re.findall(r"^\s*-\s*alert:\s*(\w+)", open(sys.argv[1]).read(), re.M)
tests = open(sys.argv[2]).read()
print(" ".join(a for a in alerts
               if not re.search(r"alertname:\s*" + a + r"\s*\n\s*exp_alerts:\s*\n\s*-\s*exp_labels", tests))
      or ("(no alerts found)" if not alerts else ""))
EOF
)
if [[ -z $untested ]]; then
    pass "every alert rule has a firing test case"
else
    fail "alert rules without a firing test case in $ALERT_TESTS: $untested"
fi

echo "== dashboard JSON"
if python3 -m json.tool "$DASHBOARD" >/dev/null; then
    pass "$DASHBOARD is valid JSON"
else
    fail "$DASHBOARD is not valid JSON"
fi

echo "== systemd unit"
if command -v systemd-analyze >/dev/null; then
    # verify wants the ExecStart binary to exist: check a copy that points at the one under test.
    sed "s#/usr/local/bin/sync-server#$SERVER#" "$UNIT" >"$work/sync-server.service"
    if systemd-analyze verify "$work/sync-server.service" >"$work/verify.out" 2>&1 && [[ ! -s $work/verify.out ]]; then
        pass "systemd-analyze verify $UNIT"
    else
        cat "$work/verify.out"
        fail "systemd-analyze verify $UNIT"
    fi
    # The hardening must keep the exposure score at or below 2.0 ("OK"; 10 is unprotected).
    if systemd-analyze security --offline=true --threshold=20 "$work/sync-server.service" >"$work/security.out" 2>&1; then
        pass "systemd-analyze security: $(grep -o 'exposure level.*' "$work/security.out")"
    else
        grep -E 'exposure level|✗' "$work/security.out" || cat "$work/security.out"
        fail "systemd-analyze security: exposure above 2.0 (or --offline unsupported)"
    fi
else
    echo "skip systemd-analyze not installed: $UNIT not verified"
fi

echo "== example config file"
# Every key of the example must be known to the server, and without an auth section it must
# refuse to start (so a copied example never runs open to everyone).
set +e
"$SERVER" --conf "$EXAMPLE_CONFIG" --model "$MODEL" --db-directory "$work/example-db" \
    --bind ws://127.0.0.1:0 --admin-off >"$work/example.out" 2>&1
example_rc=$?
set -e
if [[ $example_rc -ne 0 ]] && grep -q 'no authenticator is configured' "$work/example.out"; then
    pass "$EXAMPLE_CONFIG parses and refuses to start without an authenticator"
else
    cat "$work/example.out"
    fail "$EXAMPLE_CONFIG: expected the 'no authenticator is configured' refusal (exit $example_rc)"
fi

echo "== server on 127.0.0.1:$sync_port (admin $admin_port)"
# Shared-secret login (not the insecure mode) and a first admin user, so that a healthy start
# logs no WARN at all (checked at the end).
secret=$(head -c 18 /dev/urandom | base64)
printf '{"auth": {"sharedSecret": "%s"}}\n' "$secret" >"$work/server-config.json"
SYNC_SERVER_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64) "$SERVER" --conf "$work/server-config.json" \
    --model "$MODEL" --db-directory "$work/db" --bind "ws://127.0.0.1:$sync_port" \
    --admin-bind "$admin" --admin-user admin >"$work/server.log" 2>&1 &
server_pid=$!
if wait_for 30 curl -fsS "$admin/api/health"; then
    pass "server answers $admin/api/health"
else
    cat "$work/server.log"
    fail "server did not become healthy within 30 s"
    echo "$passed passed, $failed failed"
    exit 1
fi

echo "== traffic: sync-client put + sync (two clients), and one login with a wrong secret"
client=(timeout 30 "$CLIENT" --server "ws://127.0.0.1:$sync_port" --model "$MODEL" --shared-secret "$secret")
if "${client[@]}" --dir "$work/alice" put Project '{"name":"Home","color":3}' >"$work/client.out" 2>&1 &&
    "${client[@]}" --dir "$work/alice" put Task '{"text":"dishes","projectId":1}' >>"$work/client.out" 2>&1 &&
    "${client[@]}" --dir "$work/alice" sync >>"$work/client.out" 2>&1 &&
    "${client[@]}" --dir "$work/bob" sync >>"$work/client.out" 2>&1 &&
    "${client[@]}" --dir "$work/bob" list Task >"$work/bob-list.out" 2>>"$work/client.out" &&
    grep -q dishes "$work/bob-list.out"; then
    pass "sync-client: alice's task reached bob through the server"
else
    cat "$work/client.out"
    fail "sync-client put + sync"
fi
if timeout 30 "$CLIENT" --server "ws://127.0.0.1:$sync_port" --model "$MODEL" --shared-secret wrong \
    --dir "$work/mallory" sync >"$work/mallory.out" 2>&1; then
    fail "sync-client with a wrong shared secret was not refused"
else
    pass "sync-client with a wrong shared secret is refused: $(tail -1 "$work/mallory.out")"
fi

echo "== metrics"
curl -fsS "$admin/metrics" >"$work/metrics.txt"
# The traffic above must show in the counters (a dashboard of zeros would pass the queries).
metric() { awk -v n="$1" '$1 == n { print $2 }' "$work/metrics.txt"; }
# Two logins (alice, bob), alice's two puts, bob's catch-up as a full sync, mallory's failure.
for expect in 'obx_connects 3' 'obx_login_successes 2' 'obx_txs_applied{from="client"} 2' \
    'obx_client_tx_ops_applied 2' 'obx_tx_history_sequence 2' 'obx_full_syncs 1' \
    'obx_messages{type="sent"} 1' 'obx_client_failures{type="login"} 1' \
    'obx_client_failures{type="login_user_bad_credentials"} 1' 'obx_db_size_bytes 1' \
    'obx_db_max_size_bytes 1'; do
    name=${expect% *}
    min=${expect##* }
    value=$(metric "$name")
    if [[ -n $value ]] && awk -v v="$value" -v m="$min" 'BEGIN { exit !(v >= m) }'; then
        pass "metric $name = $value (>= $min)"
    else
        fail "metric $name = ${value:-missing}, expected >= $min"
    fi
done

echo "== promtool check metrics"
# This promtool exits 1 on a parse error and 3 on lint problems only; make sure of that first,
# so that a parse error cannot pass as a lint.
set +e
printf '# TYPE broken counter\nbroken{ 1\n' | promtool check metrics >/dev/null 2>&1
broken_rc=$?
printf '# HELP lint_only x\n# TYPE lint_only counter\nlint_only 1\n' | promtool check metrics >/dev/null 2>&1
lint_only_rc=$?
set -e
if [[ $broken_rc -eq 1 && $lint_only_rc -eq 3 ]]; then
    pass "promtool check metrics: exit 1 on a parse error, 3 on a naming lint"
else
    fail "promtool check metrics exit statuses: parse error $broken_rc (want 1), lint only $lint_only_rc (want 3)"
fi
# The obx_* names are ObjectBox's (docs: "Prometheus endpoint"); existing dashboards and alerts
# use them, so they keep ObjectBox's convention of counters without a `_total` suffix. Our own
# counters follow the same convention on purpose (one family, one style); they are listed
# separately so that a new counter has to be added here consciously. promtool reports such
# names as lint problems ('counter metrics should have "_total" suffix') and exits 1; those
# lines, and only those, for only these names, are accepted. Anything else (a parse error, any
# other lint, a `_total` lint on a name not listed) fails.
objectbox_counters=(obx_uptime obx_connects obx_login_successes obx_heartbeats_received
    obx_client_failures obx_errors obx_messages obx_message_bytes obx_full_syncs obx_txs_applied
    obx_client_tx_ops_applied obx_client_tx_bytes_applied obx_skipped_tx_dups obx_txs_sent
    obx_tx_history_sequence)
own_counters=(obx_put_conflicts obx_client_txs_rejected sync_limit_hits)
set +e
promtool check metrics <"$work/metrics.txt" >"$work/lint.out" 2>&1
lint_rc=$?
set -e
unexpected=$(python3 - "$work/lint.out" "${objectbox_counters[@]}" "${own_counters[@]}" <<'EOF'
import re, sys
allowed = set(sys.argv[2:])
for line in open(sys.argv[1]):
    line = line.strip()
    m = re.fullmatch(r'(\S+) counter metrics should have "_total" suffix', line)
    if line and not (m and m.group(1) in allowed):
        print(line)
EOF
)
families=$(grep -c '^# TYPE ' "$work/metrics.txt" || true)
if [[ -z $unexpected && ( $lint_rc -eq 0 || $lint_rc -eq 3 ) && $families -gt 0 ]]; then
    pass "promtool check metrics: $families families parse; $(grep -c 'suffix' "$work/lint.out" || true) allow-listed \"_total\" naming lints (ObjectBox-style counter names)"
else
    echo "$unexpected"
    fail "promtool check metrics (exit $lint_rc): unexpected output above"
fi

echo "== Prometheus on 127.0.0.1:$prom_port scraping the server every second"
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $(realpath "$ALERTS")
scrape_configs:
  - job_name: sync-server
    metrics_path: /metrics
    static_configs:
      - targets: ["127.0.0.1:$admin_port"]
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!
# Ready, then at least 6 successful scrapes (rates need two samples in their window), then every
# rule evaluated at least once.
scraped() {
    curl -fsS "$prom/api/v1/query" --data-urlencode 'query=count_over_time(up{job="sync-server"}[1m]) >= 6 and up{job="sync-server"} == 1' |
        grep -q '"result":\[{'
}
rules_evaluated() {
    curl -fsS "$prom/api/v1/rules" | python3 -c '
import json, sys
rules = [r for g in json.load(sys.stdin)["data"]["groups"] for r in g["rules"]]
sys.exit(0 if rules and all(not r["lastEvaluation"].startswith("0001") for r in rules) else 1)'
}
prom_ok=false
if wait_for 20 curl -fsS "$prom/-/ready" && wait_for 40 scraped && wait_for 10 rules_evaluated; then
    prom_ok=true
    pass "Prometheus scraped the server at least 6 times and evaluated the rules"
else
    tail -20 "$work/prometheus.log"
    fail "Prometheus did not scrape the server or evaluate the rules in time"
fi
# More traffic while Prometheus watches, so the rates are not all zero.
{
    "${client[@]}" --dir "$work/alice" put Task '{"text":"more","projectId":1}' &&
        "${client[@]}" --dir "$work/alice" sync
} >/dev/null 2>&1 || true
sleep 2

echo "== dashboard queries and alert rules through $prom/api/v1/query"
# Grafana variables: $instance is a multi-value "All" variable (allValue .*); $__rate_interval is
# max(4 x scrape interval, interval + scrape interval), 4 s here, rounded up to 10s for slack.
if ! $prom_ok; then
    echo "RESULT 0 1" >"$work/queries.out"
    echo "FAIL no Prometheus to query: dashboard queries and alert rules not evaluated"
else
python3 - "$prom" "$DASHBOARD" "$rule_count" >"$work/queries.out" <<'EOF' || true
import json, re, sys, urllib.error, urllib.parse, urllib.request

prom, dashboard_path, rule_count = sys.argv[1], sys.argv[2], int(sys.argv[3])
VARS = {"$__rate_interval": "10s", "$__interval": "2s", "$__range": "1m",
        "${instance}": ".*", "$instance": ".*"}

def subst(expr):
    for k in sorted(VARS, key=len, reverse=True):
        expr = expr.replace(k, VARS[k])
    left = re.findall(r"\$\{?\w+", expr)
    if left:
        raise ValueError(f"unsubstituted Grafana variable {left[0]}")
    return expr

def query(expr):
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    if body.get("status") != "success":
        raise ValueError(f'{body.get("errorType")}: {body.get("error")}')
    return body["data"]["result"]

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "atan2", "inf", "nan",
            # aggregations, which may be followed by `by (...)` instead of `(`
            "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
            "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|\{[^}]*\}|\[[^\]]*\]'
                   r'|\d[\w.]*|[A-Za-z_:][\w:]*|\S')

def selectors(expr):
    """The series selectors (metric name with its matchers) in a PromQL expression."""
    toks = [t for t in TOKEN.findall(expr)]
    out, i, skip_group = [], 0, False
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if skip_group and t == "(":
            while i < len(toks) and toks[i] != ")":
                i += 1
            skip_group = False
        elif re.fullmatch(r"[A-Za-z_:][\w:]*", t):
            if t.lower() in KEYWORDS:
                skip_group = t.lower() in {"by", "without", "on", "ignoring", "group_left", "group_right"}
            elif nxt != "(":
                out.append(t + (nxt if nxt.startswith("{") else ""))
        i += 1
    return out

results = []  # (ok, text)
def check(ok, text):
    results.append((ok, text))
    print(("ok   " if ok else "FAIL ") + text)

dash = json.load(open(dashboard_path))
def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))
n = 0
for p in panels(dash["panels"]):
    for t in p.get("targets", []):
        n += 1
        try:
            res = query(subst(t["expr"]))
            check(bool(res), f'dashboard "{p["title"]}" {t["refId"]}: {t["expr"]} -> {len(res)} series')
        except ValueError as e:
            check(False, f'dashboard "{p["title"]}" {t["refId"]}: {t["expr"]}: {e}')
check(n > 0, f"dashboard has {n} panel queries")
# Template variables: label_values(metric, label) must find the label on the metric.
for v in dash.get("templating", {}).get("list", []):
    if v.get("type") != "query":
        continue
    q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
    m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q.strip())
    try:
        if not m:
            raise ValueError("not a label_values(metric, label) query")
        res = query(subst(m.group(1)))
        check(any(m.group(2) in r["metric"] for r in res), f"variable ${v['name']}: {q} -> {len(res)} series")
    except ValueError as e:
        check(False, f"variable ${v['name']}: {q}: {e}")
# Annotations fire only on events (e.g. a restart): syntax only.
for a in dash.get("annotations", {}).get("list", []):
    if "expr" in a:
        try:
            query(subst(a["expr"]))
            check(True, f'annotation "{a["name"]}": {a["expr"]} evaluates')
        except ValueError as e:
            check(False, f'annotation "{a["name"]}": {a["expr"]}: {e}')

# Alert rules as Prometheus loaded them: all of promtool's, each evaluated without error; the
# expression evaluates through the API, and every series selector in it returns data (a
# misspelt metric or label value would make the alert silently never fire).
with urllib.request.urlopen(f"{prom}/api/v1/rules", timeout=10) as r:
    rules = [r for g in json.load(r)["data"]["groups"] for r in g["rules"]]
check(len(rules) == rule_count and rule_count > 0,
      f"Prometheus loaded {len(rules)} rules, promtool counted {rule_count}")
for rule in rules:
    name, expr = rule["name"], rule["query"]
    check(rule["health"] == "ok", f'rule {name}: health {rule["health"]} {rule.get("lastError", "")}'.rstrip())
    try:
        query(expr)
        sels = selectors(expr)
        empty = [s for s in sels if not query(s)]
        check(bool(sels) and not empty,
              f"rule {name}: {expr}: selectors {sels} " + (f"without data: {empty}" if empty else "have data"))
    except ValueError as e:
        check(False, f"rule {name}: {expr}: {e}")
print(f"RESULT {sum(ok for ok, _ in results)} {sum(not ok for ok, _ in results)}")
EOF
fi
grep -v '^RESULT' "$work/queries.out" || true
read -r _ q_pass q_fail < <(grep '^RESULT' "$work/queries.out" || echo "RESULT 0 1")
passed=$((passed + q_pass))
failed=$((failed + q_fail))

echo "== shutdown"
kill -TERM "$server_pid"
set +e
wait_for 15 bash -c "! kill -0 $server_pid"
wait "$server_pid"
server_rc=$?
set -e
server_pid=
if [[ $server_rc -eq 0 ]]; then
    pass "server stopped on SIGTERM with exit status 0"
else
    tail -20 "$work/server.log"
    fail "server exit status $server_rc after SIGTERM"
fi
if grep -E '\[(WARN |ERROR)\]' "$work/server.log" >"$work/warnings.out"; then
    cat "$work/warnings.out"
    fail "server logged WARN/ERROR lines (above)"
else
    pass "server log has no WARN or ERROR line"
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
