"""End-to-end proof for the Grafana dashboard and the Prometheus rules (issue 4).

The stand-in (demo scenario) feeds the exporter; a real Prometheus (Debian's package,
/usr/bin/prometheus) scrapes the exporter every second and loads the repository's rule
files. Then every PromQL expression of grafana/dashboards/*.json (panel targets and
template variables, with the dashboard variables substituted) and of prometheus/rules/
is sent to Prometheus' HTTP API:

- each one must parse;
- each dashboard expression and each recording rule must return data;
- every metric name an expression references must be one the exporter exports (or a
  recording rule's output, or Prometheus' own `up`), so a dashboard or rule that
  queries a metric the exporter does not have fails here;
- Prometheus must report every rule healthy, no alert may be pending on the healthy
  demo, and the stream-offline and API-unreachable alerts must go pending when the
  stand-in removes a stream or fails its API;
- with the variables set the way Grafana sends a real multi-select (two streams, one
  with a regex metacharacter in its name, and two exporters, as a regex alternation of
  escaped values), every dashboard query returns data for exactly the selected streams,
  and only series of the exporters' scrape job, even where another job shares their
  instance label; an exporter that is down for the whole range is listed by $instance
  and shown DOWN.

Nothing sleeps and hopes: every wait polls a condition with a deadline.
"""
import glob
import importlib.util
import json
import os
import re
import signal
import time

import pytest
import yaml

import harness

REPO = harness.SOURCE_DIR
PROMETHEUS = "/usr/bin/prometheus"
JOB = "mediamtx-exporter"  # the job name the alert rules expect (prometheus/prometheus.yml)
DASHBOARDS = sorted(glob.glob(os.path.join(REPO, "grafana", "dashboards", "*.json")))
RULE_FILES = sorted(glob.glob(os.path.join(REPO, "prometheus", "rules", "*.yml")))
# The stand-in's demo scenario plus two streams for the multi-select check: an SRT
# publisher whose name has a regex metacharacter ('.'), and a look-alike that an unescaped
# '.' would match as well.
DOTTED, LOOKALIKE = "studio-b.main", "studio-bxmain"
DEMO_STREAMS = {"testpattern-sport", "studio-a/main", "lobby-cam", "backstage", DOTTED, LOOKALIKE}
# what a user picks in the Stream drop-down: two SRT publishers, so that every per-stream
# panel (the SRT ones included) has data for both
SELECTED_STREAMS = ["testpattern-sport", DOTTED]

# Grafana's built-in variables, as Grafana would expand them on a 1h dashboard.
BUILTIN_VARS = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

# Tokens of PromQL that look like identifiers but are not metric names.
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring",
                   "group_left", "group_right", "offset", "atan2", "inf", "nan", "start", "end"}


# --------------------------------------------------------------------------------------------
# Extraction (pure functions; test_extractors below checks them without any service)
# --------------------------------------------------------------------------------------------

def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def dashboard_queries(dash, source="dashboard"):
    """[(where, kind, expr)] for every panel target and every query variable.

    kind is "panel" or "variable"."""
    out = []
    for p in walk_panels(dash.get("panels", [])):
        for t in p.get("targets", []):
            if t.get("expr"):
                out.append(("%s: panel %r target %s" % (source, p.get("title"), t.get("refId")),
                            "panel", t["expr"]))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if q:
            out.append(("%s: variable $%s" % (source, v["name"]), "variable", q))
    return out


def dashboard_variables(dash):
    return {v["name"]: v for v in dash.get("templating", {}).get("list", [])}


def grafana_regex_escape(value):
    """A value of a multi-value variable as Grafana 11.6's Prometheus datasource puts it in
    a query (prometheusSpecialRegexEscape, classic behaviour): a backslash becomes four
    (a regex-escaped backslash inside a PromQL string), and each of $^*{}[]+?.()| gets
    two backslashes before it (one escaping the other in the PromQL string)."""
    value = value.replace("\\", "\\" * 4)
    return re.sub(r"([$^*{}\[\]+?.()|])", r"\\\\\1", value)


def grafana_multi(values):
    """A multi-value variable's selection as Grafana interpolates it for a Prometheus query:
    one value escaped, several as a (a|b) alternation of escaped values."""
    escaped = [grafana_regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


VAR_RE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)(?::[\w]+)?\]\]|\$(\w+)")


def substitute(expr, values):
    """Replace $var, ${var}, ${var:fmt} and [[var]] by values[var] or Grafana's built-ins;
    an unknown variable raises KeyError (the dashboard would send it to Prometheus as is)."""
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in values:
            return values[name]
        if name in BUILTIN_VARS:
            return BUILTIN_VARS[name]
        raise KeyError("unknown dashboard variable $%s in %r" % (name, expr))
    return VAR_RE.sub(repl, expr)


def variable_query_to_promql(q):
    """Grafana's Prometheus variable query → (promql, label or None).

    label_values(sel, label) → "count by (label) (sel)", whose results carry the values;
    label_values(label) → "count by (label) ({label!=""})"; query_result(e) → e."""
    q = q.strip()
    m = re.fullmatch(r"label_values\((.*),\s*(\w+)\s*\)", q, re.S)
    if m:
        return "count by (%s) (%s)" % (m.group(2), m.group(1).strip()), m.group(2)
    m = re.fullmatch(r"label_values\(\s*(\w+)\s*\)", q)
    if m:
        return 'count by (%s) ({%s!=""})' % (m.group(1), m.group(1)), m.group(1)
    m = re.fullmatch(r"query_result\((.*)\)", q, re.S)
    if m:
        return m.group(1), None
    raise AssertionError("unsupported variable query %r" % q)


def rule_queries(path):
    """[(where, kind, name, expr)] for every rule of a rule file; kind is record or alert."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    out = []
    for g in doc.get("groups", []):
        for r in g.get("rules", []):
            kind = "record" if "record" in r else "alert"
            name = r.get("record") or r.get("alert")
            out.append(("%s: %s %s" % (os.path.basename(path), kind, name), kind, name,
                        r["expr"]))
    return out


_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_CLAUSE_RE = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
# a whole identifier (not a prefix of a longer one) that is not a function call
_IDENT_RE = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")


def referenced_metrics(expr):
    """Metric names a PromQL expression selects (functions, keywords and labels left out)."""
    s = _STRING_RE.sub(" ", expr)
    s = re.sub(r"\{[^}]*\}", " ", s)          # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)         # range and subquery windows
    s = _CLAUSE_RE.sub(" ", s)                # by (...), on (...), group_left (...)
    s = re.sub(r"\boffset\s+-?[\w.]+", " ", s)
    s = re.sub(r"@\s*[\w.()]+", " ", s)
    names = set()
    for m in _IDENT_RE.finditer(s):
        if m.group(1).lower() not in PROMQL_KEYWORDS:
            names.add(m.group(1))
    return names


def test_extractors():
    """The helpers above, on known inputs (runs without any service)."""
    assert referenced_metrics(
        'sum without (path) (rate(mediamtx_stream_received_bytes_total{path=~"a|b"}[1m])) * 8'
    ) == {"mediamtx_stream_received_bytes_total"}
    assert referenced_metrics(
        "(max_over_time(mediamtx_stream_ready[1h]) == 1) unless on (instance, job, path) "
        "(mediamtx_stream_ready == 1) and on (instance, job) (mediamtx_up == 1)"
    ) == {"mediamtx_stream_ready", "mediamtx_up"}
    assert referenced_metrics("time() - mediamtx_exporter_last_success_timestamp_seconds > 60"
                              ) == {"mediamtx_exporter_last_success_timestamp_seconds"}
    assert referenced_metrics('up{job="x"} == 0 or vector(1e3) > Inf') == {"up"}
    assert referenced_metrics("a:b:rate1m offset 5m / ignoring(x) group_left(y) c") == {
        "a:b:rate1m", "c"}
    assert substitute('x{instance=~"$instance",path=~"${stream}"}[$__rate_interval]',
                      {"instance": "i", "stream": ".*"}) == 'x{instance=~"i",path=~".*"}[1m]'
    with pytest.raises(KeyError):
        substitute("x{a=~\"$nosuchvar\"}", {})
    assert variable_query_to_promql('label_values(m{instance=~"$instance"}, path)') == (
        'count by (path) (m{instance=~"$instance"})', "path")
    assert variable_query_to_promql("label_values(instance)") == (
        'count by (instance) ({instance!=""})', "instance")
    # Grafana's escaping, and that Prometheus' regex engine reads it back as the literal
    assert grafana_regex_escape("studio-b.main") == "studio-b\\\\.main"
    assert grafana_regex_escape("a\\b(c)") == "a\\\\\\\\b\\\\(c\\\\)"
    assert grafana_multi(["a.b", "c"]) == "(a\\\\.b|c)"
    assert grafana_multi(["127.0.0.1:9977"]) == "127\\\\.0\\\\.0\\\\.1:9977"
    assert substitute('x{path=~"$stream"}', {"stream": grafana_multi(["a.b", "c"])}) == (
        'x{path=~"(a\\\\.b|c)"}')


def test_artefacts_present():
    """The dashboard and rules this test is about exist and have queries to check."""
    assert DASHBOARDS, "no dashboard in grafana/dashboards/"
    assert RULE_FILES, "no rule file in prometheus/rules/"
    for path in DASHBOARDS:
        with open(path) as f:
            dash = json.load(f)
        panels = [p for p in walk_panels(dash["panels"]) if p.get("type") != "row"]
        without = [p.get("title") for p in panels if not any(t.get("expr") for t in p.get("targets", []))]
        assert not without, "%s: panels without a PromQL target: %s" % (path, without)
        assert len(dashboard_queries(dash)) > len(panels)
    for path in RULE_FILES:
        assert rule_queries(path), path


# --------------------------------------------------------------------------------------------
# Prometheus
# --------------------------------------------------------------------------------------------

def scenario_file(directory):
    """The stand-in's demo scenario with DOTTED (an SRT publisher) and LOOKALIKE added, as a
    scenario file for --scenario (POST /reset reloads it)."""
    spec = importlib.util.spec_from_file_location("mediamtx_standin", harness.STANDIN)
    standin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(standin)
    scenario = standin.demo_scenario()
    scenario["paths"] += [
        {"name": DOTTED, "source": {"type": "srtConn"}, "ready": True, "readyTime": -900,
         "tracks": ["H264", "Opus"], "readers": ["webRTCSession"],
         "rates": {"bytesReceived": 187500, "bytesSent": 187500},
         "srt": {"remoteAddr": "203.0.113.5:41000",
                 "stats": {"msRTT": 24.5, "mbpsReceiveRate": 1.43, "mbpsLinkCapacity": 48.2}}},
        {"name": LOOKALIKE, "source": {"type": "rtspSession"}, "ready": True, "readyTime": -900,
         "tracks": ["H264"], "rates": {"bytesReceived": 62500}},
    ]
    path = os.path.join(directory, "scenario.json")
    with open(path, "w") as f:
        json.dump(scenario, f)
    return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Stand-in (demo + two streams) → exporter → Prometheus with the repository's rules."""
    if not os.access(PROMETHEUS, os.X_OK):
        pytest.fail("%s is missing: install Debian's prometheus package" % PROMETHEUS)
    started = []
    try:
        scenario = scenario_file(str(tmp_path_factory.mktemp("scenario")))
        standin = harness.Standin("--scenario", scenario)
        started.append(standin)
        exporter = harness.Exporter(["--mediamtx.api-url", standin.url, "--redis.url", "none",
                                     "--output.json", "", "--poll.interval", "0.5",
                                     "--mediamtx.timeout", "0.4s"])
        started.append(exporter)
        target = "127.0.0.1:%d" % exporter.port
        prom = harness.Prometheus([target], RULE_FILES, job=JOB)
        started.append(prom)
        prom.wait_target_up()
        exported = {s.split("{", 1)[0] for s in exporter.metrics()}
        yield {"standin": standin, "exporter": exporter, "prom": prom, "instance": target,
               "exported": exported}
    finally:
        for obj in reversed(started):
            obj.close()


class Problem(str):
    """A failed check. Missing data may come with more scrapes (rate() and the recording
    rules need a few); a parse error or an unknown metric will not (permanent)."""
    permanent = True


class NoDataYet(Problem):
    permanent = False


def check_until_clean(check, timeout=60, interval=1.0):
    """Run check() → list of Problems until none is left that more scrapes could solve,
    or the deadline passes; return the last list."""
    deadline = time.monotonic() + timeout
    while True:
        problems = check()
        if all(p.permanent for p in problems) or time.monotonic() >= deadline:
            return problems
        time.sleep(interval)


def known_metrics(stack):
    """Names an expression may select: the exporter's families (as scraped from its
    /metrics, with the suffixes of counters), Prometheus' `up`, and recording rules."""
    names = set(stack["exported"]) | {"up"}
    for path in RULE_FILES:
        names |= {name for _, kind, name, _ in rule_queries(path) if kind == "record"}
    return names


def dashboard_problems(stack, queries, values, prom=None):
    """Problems of dashboard queries [(where, kind, expr)]: unknown variable, unknown metric,
    parse error, no data. prom: another Prometheus than the stack's."""
    prom, known = prom or stack["prom"], known_metrics(stack)
    problems = []
    for where, kind, raw in queries:
        try:
            expr = substitute(raw, values)
        except KeyError as e:
            problems.append(Problem("%s: %s" % (where, e)))
            continue
        label = None
        if kind == "variable":
            expr, label = variable_query_to_promql(expr)
        unknown = referenced_metrics(expr) - known
        if unknown:
            problems.append(Problem("%s: queries %s, which the exporter does not export: %s"
                                    % (where, ", ".join(sorted(unknown)), raw)))
            continue
        r = prom.query(expr)
        if r.get("status") != "success":
            problems.append(Problem("%s: Prometheus rejects %r: %s"
                                    % (where, expr, r.get("error"))))
        elif not r["data"]["result"]:
            problems.append(NoDataYet("%s: no data for %r" % (where, expr)))
        elif label and not all(s["metric"].get(label) for s in r["data"]["result"]):
            problems.append(Problem("%s: label %s missing in %r" % (where, label, expr)))
    return problems


def variable_values(stack):
    """The variables as Grafana sends them with Exporter = the one exporter and Stream =
    All: a single selected value of a multi-value variable is regex-escaped
    (127\\.0\\.0\\.1:9977), "All" is the variable's allValue (.*), and the job textbox
    is its default, as is."""
    return {"job": JOB, "instance": grafana_multi([stack["instance"]]),
            "stream": ".*", "datasource": "n/a"}


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", DASHBOARDS, ids=os.path.basename)
def test_dashboard_queries_parse_and_return_data(stack, path):
    with open(path) as f:
        dash = json.load(f)
    queries = dashboard_queries(dash, os.path.basename(path))
    problems = check_until_clean(lambda: dashboard_problems(stack, queries,
                                                            variable_values(stack)))
    assert not problems, "dashboard queries that fail:\n  " + "\n  ".join(problems)


def test_a_query_for_a_missing_metric_fails(stack):
    """The check above would catch a panel that queries something the exporter lacks."""
    bad = [("canary: panel 'bogus'", "panel",
            'rate(mediamtx_stream_bogus_bytes_total{instance=~"$instance"}[$__rate_interval])'),
           ("canary: panel 'typo'", "panel", 'mediamtx_stream_readers{path=~"$strem"}'),
           ("canary: panel 'no data'", "panel", 'mediamtx_stream_readers{path="no-such-path"}')]
    problems = dashboard_problems(stack, bad, variable_values(stack))
    assert len(problems) == 3, problems
    assert "mediamtx_stream_bogus_bytes_total" in problems[0]
    assert "$strem" in problems[1]
    assert "no data" in problems[2]


@pytest.mark.parametrize("path", DASHBOARDS, ids=os.path.basename)
def test_dashboard_variables_resolve(stack, path):
    """$instance lists the exporter's instance; $stream (scoped by it) every demo stream."""
    with open(path) as f:
        dash = json.load(f)
    variables = dashboard_variables(dash)
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["job"]["type"] == "textbox" and variables["job"]["query"] == JOB
    prom = stack["prom"]
    found = {}
    for name in ("instance", "stream"):
        v = variables[name]
        assert v["type"] == "query" and v["multi"] and v["includeAll"], name
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        expr, label = variable_query_to_promql(substitute(q, variable_values(stack)))
        r = prom.query(expr)
        assert r["status"] == "success", (name, r)
        found[name] = {s["metric"][label] for s in r["data"]["result"]}
    assert found["instance"] == {stack["instance"]}
    assert found["stream"] == DEMO_STREAMS


def result_labels(result, label):
    return {s["metric"].get(label) for s in result}


def reload_config(prom, scrape_configs):
    """Give a harness Prometheus other scrape jobs: rewrite its configuration and SIGHUP it
    (Prometheus re-reads the file; the harness has one job only)."""
    cfg = os.path.join(prom.dir, "prometheus.yml")
    with open(cfg) as f:
        config = json.load(f)
    config["scrape_configs"] = scrape_configs
    with open(cfg, "w") as f:
        json.dump(config, f)
    prom.proc.send_signal(signal.SIGHUP)


@pytest.mark.parametrize("path", DASHBOARDS, ids=os.path.basename)
def test_dashboard_multi_select_shared_instance_and_dead_exporter(stack, path):
    """The dashboard as Grafana runs it with a real selection, against a Prometheus where:
    two exporters of the job poll the stand-in; a third target of the job is down (for the
    whole range); and a second job ("node") scrapes the first exporter's address, so that
    its series carry the same instance label (node_exporter relabelled to the host name
    looks like that). Exporter = all three, Stream = two streams, one with a '.' in its
    name: Grafana sends (a|b\\.c) for both."""
    with open(path) as f:
        dash = json.load(f)
    started = []
    try:
        second = harness.Exporter(["--mediamtx.api-url", stack["standin"].url, "--redis.url",
                                   "none", "--output.json", "", "--poll.interval", "0.5",
                                   "--mediamtx.timeout", "0.4s"])
        started.append(second)
        live = [stack["instance"], "127.0.0.1:%d" % second.port]
        dead = "127.0.0.1:%d" % harness.free_port()  # nothing listens there
        prom = harness.Prometheus(live, job=JOB)
        started.append(prom)
        reload_config(prom, [
            {"job_name": JOB, "static_configs": [{"targets": live + [dead]}]},
            {"job_name": "node", "static_configs": [{"targets": [live[0]]}]},
        ])

        def targets_settled():
            active = prom.api("targets")["data"]["activeTargets"]
            health = {(t["labels"]["job"], t["labels"]["instance"]): t["health"] for t in active}
            want = {(JOB, live[0]): "up", (JOB, live[1]): "up", (JOB, dead): "down",
                    ("node", live[0]): "up"}
            return health == want
        harness.wait_until(targets_settled, timeout=30, interval=0.2,
                           what="the exporters up, the dead target down, the node job up")

        # the situation the job matcher is for: another job's series with the same instance
        r = prom.query('up{instance="%s"}' % live[0])["data"]["result"]
        assert result_labels(r, "job") == {JOB, "node"}, r

        variables = dashboard_variables(dash)
        job_q = variables["instance"]["query"]
        job_q = job_q["query"] if isinstance(job_q, dict) else job_q
        expr, label = variable_query_to_promql(substitute(job_q, {"job": JOB}))
        harness.wait_until(lambda: result_labels(prom.query(expr)["data"]["result"], label)
                           == set(live + [dead]), timeout=30, interval=0.2,
                           what="$instance to list both exporters and the dead one")

        values = {"job": JOB, "instance": grafana_multi(live + [dead]),
                  "stream": grafana_multi(SELECTED_STREAMS), "datasource": "n/a"}
        queries = dashboard_queries(dash, os.path.basename(path))
        # parse, known metrics, data (rates need a few scrapes of the new Prometheus)
        problems = check_until_clean(lambda: dashboard_problems(stack, queries, values,
                                                                prom=prom))
        assert not problems, "dashboard queries that fail:\n  " + "\n  ".join(problems)

        wrong = []
        for where, kind, raw in queries:
            if kind != "panel":
                continue
            expr = substitute(raw, values)
            result = prom.query(expr)["data"]["result"]
            jobs, paths = result_labels(result, "job") - {None}, result_labels(result, "path")
            instances = result_labels(result, "instance") - {None}
            if jobs - {JOB}:
                wrong.append("%s: series of job %s: %s" % (where, jobs - {JOB}, expr))
            if instances - set(live + [dead]):
                wrong.append("%s: instances %s: %s" % (where, instances, expr))
            # per-stream queries: exactly the two selected streams, neither more (the
            # look-alike an unescaped '.' would match, the other streams) nor fewer
            if paths - {None} and paths != set(SELECTED_STREAMS):
                wrong.append("%s: streams %s, selected %s: %s"
                             % (where, sorted(p for p in paths if p), SELECTED_STREAMS, expr))
        assert not wrong, "\n".join(wrong)

        # the two stats of an exporter that has been down for the whole range
        by_title = {p["title"]: p for p in walk_panels(dash["panels"])}

        def stat_values(title):
            expr = substitute(by_title[title]["targets"][0]["expr"], values)
            return {s["metric"]["instance"]: float(s["value"][1])
                    for s in prom.query(expr)["data"]["result"]}
        assert stat_values("Exporter up") == {live[0]: 1, live[1]: 1, dead: 0}
        # MediaMTX API: 1 = OK, -1 = UNKNOWN (the exporter cannot be scraped)
        assert stat_values("MediaMTX API") == {live[0]: 1, live[1]: 1, dead: -1}
        mapping = by_title["MediaMTX API"]["fieldConfig"]["defaults"]["mappings"][0]["options"]
        assert mapping["-1"]["text"] == "UNKNOWN" and mapping["1"]["text"] == "OK"
        assert by_title["Exporter up"]["fieldConfig"]["defaults"]["mappings"][0][
            "options"]["0"]["text"] == "DOWN"
    finally:
        for obj in reversed(started):
            obj.close()


def test_rule_expressions_parse_and_return_data(stack):
    prom, known = stack["prom"], known_metrics(stack)

    def problems():
        out = []
        for path in RULE_FILES:
            for where, kind, name, expr in rule_queries(path):
                unknown = referenced_metrics(expr) - known
                if unknown:
                    out.append(Problem("%s: queries %s, which the exporter does not export"
                                       % (where, ", ".join(sorted(unknown)))))
                    continue
                r = prom.query(expr)
                if r.get("status") != "success":
                    out.append(Problem("%s: Prometheus rejects it: %s" % (where, r.get("error"))))
                elif kind == "record":
                    if not r["data"]["result"]:
                        out.append(NoDataYet("%s: no data" % where))
                    elif not prom.query(name)["data"]["result"]:
                        out.append(NoDataYet("%s: the recorded series %s has no data"
                                             % (where, name)))
                else:
                    # An alert's expression is empty while nothing is wrong; each series
                    # it selects must have data instead.
                    for metric in sorted(referenced_metrics(expr)):
                        if not prom.query(metric)["data"]["result"]:
                            out.append(NoDataYet("%s: no data for %s" % (where, metric)))
        return out

    left = check_until_clean(problems)
    assert not left, "rule expressions that fail:\n  " + "\n  ".join(left)


def test_prometheus_evaluates_every_rule_healthy(stack):
    prom = stack["prom"]
    expected = {name for path in RULE_FILES for _, _, name, _ in rule_queries(path)}

    def problems():
        groups = prom.api("rules")["data"]["groups"]
        rules = {r["name"]: r for g in groups for r in g["rules"]}
        out = [Problem("%s: not loaded" % n) for n in sorted(expected - set(rules))]
        for name, r in sorted(rules.items()):
            if r.get("health") != "ok":  # "unknown" until the first evaluation, then "err"
                kind = NoDataYet if r.get("health") == "unknown" else Problem
                out.append(kind("%s: health %s %s"
                                % (name, r.get("health"), r.get("lastError", ""))))
        return out

    left = check_until_clean(problems, timeout=30)
    assert not left, "\n".join(left)


def test_no_alert_on_the_healthy_demo(stack):
    prom = stack["prom"]
    # the rules have been evaluated on a few seconds of data by now (tests above)
    r = prom.query("ALERTS")
    assert r["status"] == "success"
    assert r["data"]["result"] == [], "alerts on healthy data: %s" % [
        s["metric"] for s in r["data"]["result"]]


def alert_states(prom, alertname):
    r = prom.query('ALERTS{alertname="%s"}' % alertname)
    return {(s["metric"].get("path"), s["metric"]["alertstate"]) for s in r["data"]["result"]}


def test_alerts_react_to_the_standin(stack):
    """A stream that disappears puts MediaMTXStreamOffline in pending for that stream; an
    API that fails turns that into MediaMTXAPIUnreachable (and silences the stream alert)."""
    prom, standin = stack["prom"], stack["standin"]
    try:
        standin.control("DELETE", "/paths/testpattern-sport")
        harness.wait_until(
            lambda: ("testpattern-sport", "pending") in alert_states(prom, "MediaMTXStreamOffline"),
            timeout=30, interval=0.2, what="MediaMTXStreamOffline pending for testpattern-sport")
        assert alert_states(prom, "MediaMTXStreamOffline") == {("testpattern-sport", "pending")}

        standin.fault(kind="status", status=500)
        harness.wait_until(
            lambda: (None, "pending") in alert_states(prom, "MediaMTXAPIUnreachable"),
            timeout=30, interval=0.2, what="MediaMTXAPIUnreachable pending")
        harness.wait_until(lambda: not alert_states(prom, "MediaMTXStreamOffline"),
                           timeout=30, interval=0.2,
                           what="MediaMTXStreamOffline silenced while the API is down")
    finally:
        standin.clear_faults()
        standin.control("POST", "/reset")
    harness.wait_until(lambda: prom.query("ALERTS")["data"]["result"] == [],
                       timeout=30, interval=0.2, what="every alert to clear after the reset")
