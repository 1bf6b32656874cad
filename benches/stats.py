# Summarise the bench's raw timings into Markdown tables of medians and ratios.
#
# usage: stats.py RESULTS.tsv SCENARIOS.tsv > summary.md   (also writes summary.tsv beside
#        RESULTS.tsv, which chart.py reads)
# RESULTS.tsv rows: scenario, implementation, run, seconds, messages, octets, and (newer
# rows) the load's CPU seconds (user + system: the client's, or the client's and the
# local delivery's) and the server's CPU seconds over the load (its process tree; empty
# when the load talks to no server the bench started), both reported as µs per message,
# the server's also as the median of per-run ratios to the first reference's.
# SCENARIOS.tsv rows: scenario, reference implementation, title.
# For each scenario and implementation: the median messages/s and MB/s over the runs, and
# the median of the per-run ratios (implementation's rate / reference's rate in the same
# run: the sides of one run ran back to back, alternating their order run by run).
import collections
import os
import statistics
import sys

results, scenarios = sys.argv[1], sys.argv[2]
rows = collections.defaultdict(dict)  # (scenario, impl) -> run -> (secs, msgs, octets)
cpus = collections.defaultdict(dict)  # (scenario, impl) -> run -> CPU seconds
servers = collections.defaultdict(dict)  # (scenario, impl) -> run -> server CPU seconds
order = collections.defaultdict(list)
with open(results) as f:
    for line in f:
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip("\n").split("\t")
        sc, impl, run, secs, msgs, octets = fields[:6]
        rows[(sc, impl)][int(run)] = (float(secs), int(msgs), int(octets))
        if len(fields) > 6 and fields[6]:
            cpus[(sc, impl)][int(run)] = float(fields[6])
        if len(fields) > 7 and fields[7]:
            servers[(sc, impl)][int(run)] = float(fields[7])
        if impl not in order[sc]:
            order[sc].append(impl)

summary = []
with open(scenarios) as f:
    for line in f:
        if not line.strip() or line.startswith("#"):
            continue
        sc, refs, title = line.rstrip("\n").split("\t")[:3]
        if sc not in order:
            continue
        refs = refs.split(",")
        with_server = any(servers.get((sc, i)) for i in order[sc])
        server_head = (
            f" server CPU µs/msg | server CPU ratio to {refs[0]} |" if with_server else ""
        )
        print(f"#### {title}\n")
        print(
            "| implementation | runs | messages/s | MB/s | load CPU µs/msg |"
            + server_head
            + " "
            + " | ".join(f"ratio to {r}" for r in refs)
            + " |"
        )
        print(
            "| --- | ---: | ---: | ---: | ---: |"
            + (" ---: | ---: |" if with_server else "")
            + " ---: |" * len(refs)
        )
        # mailproto's sides first, then the others, each group alphabetically.
        for impl in sorted(order[sc], key=lambda i: (not i.startswith("mailproto"), i)):
            runs = rows[(sc, impl)]
            rates = [m / s for s, m, _ in runs.values() if s > 0]
            mbs = [o / s / 1e6 for s, _, o in runs.values() if s > 0]
            rate = statistics.median(rates) if rates else 0.0
            mb = statistics.median(mbs) if mbs else 0.0
            cells = []
            for ref in refs:
                ref_runs = rows.get((sc, ref), {})
                ratios = []
                for run, (s, m, _) in runs.items():
                    if run in ref_runs and s > 0:
                        rs, rm, _ = ref_runs[run]
                        ratios.append((m / s) / (rm / rs))
                if ratios and impl != ref:
                    cells.append(f"{statistics.median(ratios):.2f}×")
                else:
                    cells.append("—")
            per_msg = [
                cpus[(sc, impl)][run] / m * 1e6
                for run, (_, m, _) in runs.items()
                if run in cpus[(sc, impl)] and m > 0
            ]
            cpu = f"{statistics.median(per_msg):,.0f}" if per_msg else "—"
            server_cells = ""
            if with_server:
                mine = servers.get((sc, impl), {})
                theirs = servers.get((sc, refs[0]), {})
                per = [mine[r] / runs[r][1] * 1e6 for r in mine if r in runs and runs[r][1] > 0]
                ratios = [mine[r] / theirs[r] for r in mine if theirs.get(r)]
                server_cells = " {} | {} |".format(
                    f"{statistics.median(per):,.1f}" if per else "—",
                    f"{statistics.median(ratios):.2f}×" if ratios and impl != refs[0] else "—",
                )
            print(
                f"| {impl} | {len(rates)} | {rate:,.0f} | {mb:,.1f} | {cpu} |"
                + server_cells
                + " "
                + " | ".join(cells)
                + " |"
            )
            summary.append((sc, title, impl, rate, mb, cells[0]))
        print()

with open(os.path.join(os.path.dirname(os.path.abspath(results)), "summary.tsv"), "w") as f:
    for sc, title, impl, rate, mb, ratio in summary:
        f.write(f"{sc}\t{title}\t{impl}\t{rate:.1f}\t{mb:.2f}\t{ratio}\n")
