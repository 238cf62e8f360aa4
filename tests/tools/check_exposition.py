#!/usr/bin/python3
"""Validate exposition files the way Prometheus will read them.

    /usr/bin/python3 tests/tools/check_exposition.py FILE...
    /usr/bin/python3 tests/tools/check_exposition.py --format om - < scrape.txt

A `.prom` file (Prometheus text format 0.0.4) must pass `promtool check metrics` with
exit status 0 and no findings at all. A `.om` file (OpenMetrics 1.0.0) must parse with
prometheus_client's OpenMetrics parser (which also insists on `# EOF`, unit suffixes and
counter naming). Both must not contain any series twice: neither promtool nor the Python
parsers nor Prometheus 2.42 report duplicates, so this script does.

Needs Debian's `prometheus` (promtool) and `python3-prometheus-client`; run with
/usr/bin/python3 (see shared/FIELD-NOTES.md). Exit status 0 when every file passes, 1 when
one fails, 2 when a tool is missing or the arguments are wrong.
"""
import argparse
import shutil
import subprocess
import sys

try:
    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as parse_openmetrics,
    )
    from prometheus_client.parser import text_string_to_metric_families as parse_prometheus
except ImportError as exc:  # pragma: no cover - environment problem, not a finding
    sys.stderr.write(f"check_exposition: python3-prometheus-client is missing ({exc})\n")
    sys.exit(2)


class LineError(ValueError):
    pass


def parse_series(line):
    """Split a sample line into (name, sorted label pairs), unescaping label values.

    The parsers are not used for this: prometheus_client's OpenMetrics parser silently
    drops a repeated series, so duplicates are counted on the text itself."""
    i, n = 0, len(line)
    while i < n and line[i] not in "{ ":
        i += 1
    name = line[:i]
    labels = []
    if i < n and line[i] == "{":
        i += 1
        while i < n and line[i] != "}":
            eq = line.find("=", i)
            if eq < 0 or eq + 1 >= n or line[eq + 1] != '"':
                raise LineError(f"bad label in: {line}")
            key, i, value = line[i:eq], eq + 2, []
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n:
                    value.append({"n": "\n", "\\": "\\", '"': '"'}.get(line[i + 1], "\\" + line[i + 1]))
                    i += 2
                else:
                    value.append(line[i])
                    i += 1
            if i >= n:
                raise LineError(f"unterminated label value in: {line}")
            labels.append((key.strip(), "".join(value)))
            i += 1
            if i < n and line[i] == ",":
                i += 1
        if i >= n:
            raise LineError(f"unterminated labels in: {line}")
    return name, tuple(sorted(labels))


def duplicate_series(text):
    """Return (number of samples, sorted list of series that appear more than once)."""
    seen, dups, n = set(), set(), 0
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        key = parse_series(line)
        n += 1
        if key in seen:
            dups.add(key)
        seen.add(key)
    return n, sorted(dups)


def format_series(key):
    name, labels = key
    inner = ",".join(f"{k}={v!r}" for k, v in labels)
    return f"{name}{{{inner}}}" if labels else name


def check_prometheus(text, promtool):
    problems = []
    proc = subprocess.run(
        [promtool, "check", "metrics"],
        input=text.encode("utf-8"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
        check=False,
    )
    output = proc.stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or output:
        problems.append(f"promtool check metrics: exit {proc.returncode}: {output or '(no output)'}")
    try:
        families = list(parse_prometheus(text))
    except Exception as exc:  # the parser raises plain ValueError and friends
        problems.append(f"prometheus_client text parser: {exc}")
        return problems, 0, 0
    try:
        n, dups = duplicate_series(text)
    except LineError as exc:
        return problems + [str(exc)], len(families), 0
    problems += [f"duplicate series {format_series(d)}" for d in dups]
    return problems, len(families), n


def check_openmetrics(text):
    problems = []
    try:
        families = list(parse_openmetrics(text))
    except Exception as exc:
        return [f"OpenMetrics parser: {exc}"], 0, 0
    if not text.endswith("# EOF\n"):
        problems.append("does not end with '# EOF\\n'")
    try:
        n, dups = duplicate_series(text)
    except LineError as exc:
        return problems + [str(exc)], len(families), 0
    problems += [f"duplicate series {format_series(d)}" for d in dups]
    return problems, len(families), n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help=".prom or .om files; '-' reads standard input")
    ap.add_argument("--format", choices=["prom", "om"], help="format of every file (default: by suffix)")
    args = ap.parse_args()

    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    failed = False
    for path in args.files:
        fmt = args.format or ("om" if path.endswith(".om") else "prom" if path.endswith(".prom") else None)
        if fmt is None:
            sys.stderr.write(f"{path}: unknown format (use a .prom/.om suffix or --format)\n")
            return 2
        if fmt == "prom" and not shutil.which(promtool):
            sys.stderr.write("check_exposition: promtool not found (Debian package 'prometheus')\n")
            return 2
        if path == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            print(f"FAIL {path}: not UTF-8: {exc}")
            failed = True
            continue
        if fmt == "prom":
            problems, n_families, n_samples = check_prometheus(text, promtool)
        else:
            problems, n_families, n_samples = check_openmetrics(text)
        if problems:
            failed = True
            for p in problems:
                print(f"FAIL {path}: {p}")
        else:
            print(f"ok   {path}: {n_families} families, {n_samples} samples")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
