# Draw the bench's messages/s per implementation as an SVG (plain Python, no plotting
# library): one panel per comparison, one horizontal bar per implementation, each panel on
# its own scale, mailproto's bars in a darker colour.
#
# usage: chart.py SUMMARY.tsv OUT.svg   (SUMMARY.tsv as written by stats.py)
import collections
import html
import sys

summary, out = sys.argv[1], sys.argv[2]
panels = collections.OrderedDict()
with open(summary) as f:
    for line in f:
        sc, title, impl, rate, mb, ratio = line.rstrip("\n").split("\t")
        panels.setdefault((sc, title), []).append((impl, float(rate), float(mb), ratio))

WIDTH, LABEL, BAR, GAP, VALUE = 900, 170, 18, 6, 210
plot = WIDTH - LABEL - VALUE - 20
rows = []
y = 40
for (sc, title), bars in panels.items():
    rows.append(
        f'<text x="10" y="{y}" font-size="13" font-weight="bold">{html.escape(title)}</text>'
    )
    y += 10
    top = max(r for _, r, _, _ in bars) or 1.0
    for impl, rate, mb, ratio in bars:
        w = max(1.0, plot * rate / top)
        colour = "#1f5fa8" if impl.startswith("mailproto") else "#9aa5b1"
        rows.append(
            f'<text x="{LABEL - 6}" y="{y + BAR - 5}" font-size="12" '
            f'text-anchor="end">{html.escape(impl)}</text>'
        )
        rows.append(
            f'<rect x="{LABEL}" y="{y}" width="{w:.1f}" height="{BAR}" fill="{colour}"/>'
        )
        rows.append(
            f'<text x="{LABEL + w + 6:.1f}" y="{y + BAR - 5}" font-size="12">'
            f"{rate:,.0f} msg/s · {mb:,.1f} MB/s</text>"
        )
        y += BAR + GAP
    y += 28
height = y
svg = [
    f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
    f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">',
    f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
    '<text x="10" y="20" font-size="15" font-weight="bold">mailproto end-to-end bench: '
    "messages/s, median of the runs (each panel on its own scale)</text>",
    *rows,
    "</svg>",
]
with open(out, "w") as f:
    f.write("\n".join(svg) + "\n")
