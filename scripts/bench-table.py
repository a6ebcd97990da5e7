#!/usr/bin/env python3
"""Helpers of scripts/bench: parse the tools' outputs, and print the comparison table.

    bench-table.py bench BENCH.json            -> "THROUGHPUT P50 P99 EXTRA_JSON" from sourcectl bench --json
                                                  (the Sourced and the Redis rows: --protocol sourced or redis)
    bench-table.py pgbench OUTPUT CHECK LOG... -> "THROUGHPUT P50 P99 EXTRA_JSON" from pgbench's summary,
                                                  its per-transaction logs (--log), and CHECK
                                                  ("EVENTS:SUM_OF_VERSIONS" counted in the database)
    bench-table.py disk OUTPUT.json            -> "THROUGHPUT P50 P99 EXTRA_JSON" from bench-disk
    bench-table.py table RESULTS.jsonl META.json -> the Markdown report on stdout

Every result is one JSON line in RESULTS.jsonl (written by scripts/bench): rep, system, model,
distribution, clients, durability, throughput, p50_ms, p99_ms and extras. With several
repetitions the table shows the median of each figure.
"""
import json
import re
import statistics
import sys

SYSTEMS = [("sourced", "Sourced"), ("redis", "Redis"), ("postgres", "PostgreSQL")]
# The systems driven by sourcectl bench, whose rows show the load generator's CPU per request.
CLIENT_CPU_SYSTEMS = {"sourced", "redis"}


def fields(throughput, p50, p99, extra=None):
    line = f"{throughput:.1f} {p50:.3f} {p99:.3f}"
    return line + (" " + json.dumps(extra, separators=(",", ":")) if extra is not None else "")


def parse_bench(path):
    report = json.load(open(path))
    latency = report["latency_ms"]
    extra = {
        "events_per_second": round(report["events_per_second"], 1),
        "verified": report["verified"],
        "errors": sum(report.get("errors", {}).values()),
        "seconds": round(report["seconds"], 2),
    }
    if report.get("fsyncs_per_command") is not None:  # Sourced's stats only
        extra["fsyncs_per_command"] = round(report["fsyncs_per_command"], 3)
    if report.get("client_cpu_us_per_request") is not None:
        extra["client_cpu_us_per_request"] = round(report["client_cpu_us_per_request"], 2)
    print(fields(report["commands_per_second"], latency["p50"], latency["p99"], extra))


def percentile(sorted_values, p):
    """Nearest-rank percentile, as HDR histograms and bench-disk report it."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), int(p / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def parse_pgbench(output, check, *logs):
    text = open(output).read()
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", text)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    # Per-transaction log: client_id transaction_no time_us script_no time_epoch time_us_part [...]
    latencies = []
    for log in logs:
        for line in open(log):
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                latencies.append(int(parts[2]))
    latencies.sort()
    extra = {"transactions": len(latencies), "failed": int(failed.group(1)) if failed else 0}
    # check is "EVENTS:SUM_OF_STREAM_VERSIONS" read from the database after the run.
    events, _, versions = check.partition(":")
    extra["verified"] = events.isdigit() and int(events) == len(latencies) and versions == events
    print(fields(float(tps.group(1)) if tps else 0.0,
                 percentile(latencies, 50) / 1000, percentile(latencies, 99) / 1000, extra))


def parse_disk(path):
    report = json.load(open(path))
    extra = {"syncs_per_record": round(report["syncs"] / max(1, report["records"]), 3)}
    print(fields(report["records_per_second"], report["p50_ms"], report["p99_ms"], extra))


# ---- the report ------------------------------------------------------------------------------

def number(value, digits=0):
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def ms(value):
    if value is None:
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def ratio(a, b):
    if a is None or not b:
        return "–"
    return f"{a / b:.2f}×"


def median_results(results):
    """(system, model, distribution, clients, durability) -> median figures over repetitions."""
    groups = {}
    for r in results:
        key = (r["system"], r["model"], r["distribution"], r["clients"], r["durability"])
        groups.setdefault(key, []).append(r)
    merged = {}
    for key, runs in groups.items():
        ok = [r for r in runs if r.get("throughput") is not None]
        entry = {"runs": len(runs), "failed_runs": len(runs) - len(ok)}
        for figure in ("throughput", "p50_ms", "p99_ms"):
            entry[figure] = statistics.median(r[figure] for r in ok) if ok else None
        notes = set()
        for r in runs:
            extra = r.get("extra", {})
            if r.get("error"):
                notes.add(f"run failed: {r['error']}")
            if extra.get("verified") is False:
                notes.add("verification FAILED")
            if extra.get("errors"):
                notes.add(f"{extra['errors']} error replies")
            if extra.get("failed"):
                notes.add(f"{extra['failed']} failed transactions")
        entry["notes"] = sorted(notes)
        entry["extras"] = [r.get("extra", {}) for r in ok]
        cpu = [e["client_cpu_us_per_request"] for e in entry["extras"] if e.get("client_cpu_us_per_request") is not None]
        entry["client_cpu_us"] = statistics.median(cpu) if cpu else None
        merged[key] = entry
    return merged


DISTRIBUTION_LABEL = {"uniform": "{n} uniform", "zipf": "{n} zipf s=0.99", "hot": "1 hot aggregate"}
MODEL_LABEL = {
    "counter": "append 1 event",
    "account": "account chain (2 events)",
}


def table(results_path, meta_path):
    results = [json.loads(line) for line in open(results_path) if line.strip()]
    meta = json.load(open(meta_path))
    merged = median_results(results)
    headline_clients = meta["headline_clients"]
    aggregates = meta["aggregates"]

    out = []
    out.append(f"# Side-by-side: Sourced, Redis, PostgreSQL, the disk ({meta['date']})")
    out.append("")
    out.append(f"- Command: `{meta['command']}`; {meta['duration']} s per run, "
               f"{meta['repeat']} repetition(s) (median shown), systems interleaved shape by shape.")
    out.append(f"- Machine: {meta['machine']}")
    out.append(f"- Data on: {meta['filesystem']}")
    out.append(f"- Versions: {meta['versions']}")
    out.append(f"- Sourced at: {meta['commit']}")
    out.append("- Every figure is with durable commits (fsync/fdatasync before the reply) and no pipelining, "
               "clients on the same machine over Unix sockets, unless the row says durability off.")
    out.append("- Sourced: `sourcectl bench` (commands/s); Redis: `sourcectl bench --protocol redis`, RPUSH of "
               "100 bytes (ops/s), the same load generator, so both servers share the two cores with a client "
               "of the same cost; PostgreSQL: `pgbench`, one event append per transaction (tps). "
               "Latencies in ms, measured by each tool's client. "
               "client µs: the load generator's CPU time (user + system) per request over the measured run.")
    out.append("")

    def row_for(model, distribution, clients, durability):
        cells = {}
        for system, _ in SYSTEMS:
            cells[system] = merged.get((system, model, distribution, clients, durability))
        return cells

    header = ["workload", "clients"]
    for system, name in SYSTEMS:
        header += [f"{name} /s", "p50", "p99"] + (["client µs"] if system in CLIENT_CPU_SYSTEMS else [])
    header += ["Sourced/Redis", "Sourced/PG", "Sourced/disk 1 file"]
    out.append("| " + " | ".join(header) + " |")
    out.append("|" + "---|" * 2 + "--:|" * (len(header) - 2))

    disk_single = merged.get(("disk", "separate", "-", 1, "on"))
    disk_single_rate = disk_single["throughput"] if disk_single else None

    keys = sorted({(r["model"], r["distribution"], r["clients"], r["durability"])
                   for r in results if r["system"] in dict(SYSTEMS)},
                  key=lambda k: (k[3] != "on", list(MODEL_LABEL).index(k[0]) if k[0] in MODEL_LABEL else 9,
                                 list(DISTRIBUTION_LABEL).index(k[1]) if k[1] in DISTRIBUTION_LABEL else 9,
                                 k[2]))
    notes = []
    for model, distribution, clients, durability in keys:
        cells = row_for(model, distribution, clients, durability)
        spread = DISTRIBUTION_LABEL.get(distribution, distribution).format(n=f"{aggregates:,}")
        label = f"{MODEL_LABEL.get(model, model)}, {spread}"
        if durability == "off":
            label += ", **durability off**"
        headline = (model, distribution, clients, durability) == ("counter", "uniform", headline_clients, "on")
        if headline:
            label = f"**{label} (headline)**"
        row = [label, str(clients)]
        for system, name in SYSTEMS:
            cell = cells[system]
            cpu_column = system in CLIENT_CPU_SYSTEMS
            if cell is None:
                row += ["–"] * (4 if cpu_column else 3)
                continue
            mark = ""
            if cell["failed_runs"]:
                mark = " (failed)"
            for n in cell["notes"]:
                notes.append(f"{name}, {label}, {clients} clients: {n}")
                mark = " ⚠"
            row += [number(cell["throughput"]) + mark, ms(cell["p50_ms"]), ms(cell["p99_ms"])]
            if cpu_column:
                row.append(number(cell["client_cpu_us"], 1))
        s = cells["sourced"]["throughput"] if cells["sourced"] else None
        r = cells["redis"]["throughput"] if cells["redis"] else None
        p = cells["postgres"]["throughput"] if cells["postgres"] else None
        row += [ratio(s, r), ratio(s, p), ratio(s, disk_single_rate) if distribution == "hot" else "–"]
        if headline:
            row = [f"**{c}**" if i > 0 and c != "–" else c for i, c in enumerate(row)]
        out.append("| " + " | ".join(row) + " |")
    out.append("")

    disk_rows = sorted(k for k in merged if k[0] == "disk")
    if disk_rows:
        out.append("The disk (`scripts/bench-disk`: 100-byte appends, each durable by `fdatasync` before it counts):")
        out.append("")
        out.append("| probe | threads | records/s | p50 | p99 | syncs per record |")
        out.append("|---|--:|--:|--:|--:|--:|")
        labels = {"separate": "one file per thread", "shared": "one shared file, a sync per record",
                  "group": "one shared file, group commit"}
        for key in sorted(disk_rows, key=lambda k: (k[3], ["separate", "group", "shared"].index(k[1]))):
            cell = merged[key]
            spr = statistics.median(e.get("syncs_per_record", 0) for e in cell["extras"]) if cell["extras"] else None
            out.append(f"| {labels.get(key[1], key[1])} | {key[3]} | {number(cell['throughput'])} | "
                       f"{ms(cell['p50_ms'])} | {ms(cell['p99_ms'])} | {number(spr, 3)} |")
        out.append("")

    # Sourced's own extras: fsyncs per command, verification.
    sourced_keys = sorted(k for k in merged if k[0] == "sourced")
    if sourced_keys:
        fsyncs = []
        for key in sourced_keys:
            cell = merged[key]
            values = [e.get("fsyncs_per_command") for e in cell["extras"] if e.get("fsyncs_per_command") is not None]
            if values:
                fsyncs.append(f"{key[1]}/{key[2]}/{key[3]}c{'/off' if key[4] == 'off' else ''}: "
                              f"{statistics.median(values):.3f}")
        out.append("Sourced fsyncs per command (model/aggregates/clients): " + "; ".join(fsyncs) + ".")
        unverified = [k for k in sourced_keys if any(not e.get("verified", True) for e in merged[k]["extras"])]
        out.append("Sourced verification (every aggregate read back after the run): " +
                   ("all runs ok." if not unverified else f"FAILED in {unverified}."))
        out.append("")

    headline = merged.get(("sourced", "counter", "uniform", headline_clients, "on"))
    summary = []
    if headline:
        for system, name in SYSTEMS[1:]:
            other = merged.get((system, "counter", "uniform", headline_clients, "on"))
            if other and other["throughput"]:
                summary.append(f"Sourced/{name} at {headline_clients} clients, {aggregates:,} uniform: "
                               f"{ratio(headline['throughput'], other['throughput'])}")
    hot = merged.get(("sourced", "counter", "hot", headline_clients, "on"))
    if hot and disk_single_rate:
        summary.append(f"one hot aggregate at {headline_clients} clients: {number(hot['throughput'])} commands/s = "
                       f"{ratio(hot['throughput'], disk_single_rate)} the single-file fdatasync rate "
                       f"({number(disk_single_rate)}/s)")
    if summary:
        out.append("Headline: " + "; ".join(summary) + ".")
        out.append("")
    if notes:
        out.append("Notes:")
        out += [f"- {n}" for n in notes]
        out.append("")
    for line in meta.get("settings", []):
        out.append(line)
    print("\n".join(out))


def main():
    command, args = sys.argv[1], sys.argv[2:]
    {"bench": parse_bench, "pgbench": parse_pgbench,
     "disk": parse_disk, "table": table}[command](*args)


if __name__ == "__main__":
    main()
