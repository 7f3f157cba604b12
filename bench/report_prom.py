"""bench/report_prom.py: the Prometheus text ringqd's /metrics serves, read back for bench/report.py's
sections (report_limits.py: fdatasyncs per run; report_tail.py: stage, loop-turn and fdatasync
histograms over a window). One parser for both: each sample line is `NAME{LABELS} VALUE` or
`NAME VALUE`; comments (#) and lines without a value are skipped.

A histogram is [buckets, count, sum]: buckets a sorted list of (le in s, cumulative count) whose
last bound is +Inf. A family without its +Inf bucket or its _count line (a scrape cut short) is
left out, so a window that needs it counts it from 0 and says so (report_tail.whole_life).
"""

INF = float("inf")


def read_text(path):
    """The file's text, or None when it is missing or unreadable."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def samples(text):
    """(name, labels, value) of every sample line of `text`: labels the list of `k="v"` parts as
    written (le included); lines whose value is not a number are skipped."""
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        head, val = line.rsplit(" ", 1)
        try:
            v = float(val)
        except ValueError:
            continue
        name, _, labels = head.partition("{")
        yield name, [x for x in labels.rstrip("}").split(",") if x], v


def parse(text):
    """(histograms, values) of a /metrics text: histograms {(name, labels without le): [buckets,
    count, sum]} (complete families only, see above); values {(name, labels): value} of every
    other sample (counters and gauges)."""
    hists, values, counted = {}, {}, set()
    for name, parts, v in samples(text):
        kind = next((k for k in ("_bucket", "_sum", "_count") if name.endswith(k)), None)
        le = next((x[4:-1] for x in parts if x.startswith("le=")), None)
        if kind is None or (kind == "_bucket" and le is None):
            values[(name, ",".join(parts))] = v
            continue
        key = (name[:-len(kind)], ",".join(x for x in parts if not x.startswith("le=")))
        h = hists.setdefault(key, [[], 0.0, 0.0])
        if kind == "_bucket":
            h[0].append((INF if le == "+Inf" else float(le), v))
        elif kind == "_count":
            h[1] = v
            counted.add(key)
        else:
            h[2] = v
    for key in list(hists):
        hists[key][0].sort()
        if key not in counted or not hists[key][0] or hists[key][0][-1][0] != INF:
            del hists[key]
    return hists, values


def read_hists(path):
    """Every complete histogram of a saved /metrics file (parse); None when it is missing."""
    text = read_text(path)
    return None if text is None else parse(text)[0]


def value_sum(values, name):
    """The sum of every series of counter or gauge `name` (all label sets) in parse's values."""
    return sum(v for (n, _), v in values.items() if n == name)


def total(h):
    """The observations of h: its +Inf bucket (the quantiles' rank, as Prometheus'
    histogram_quantile takes it: a scrape under load can read _count one above it), else its
    _count."""
    if h and h[0] and h[0][-1][0] == INF:
        return h[0][-1][1]
    return h[1] if h else 0.0


def window(after, before):
    """The histograms of a window: `after` minus `before` (read_hists), bucket by bucket; a
    family missing from `before` counts from 0. None without `after`."""
    if after is None:
        return None
    if not before:
        return after
    out = {}
    for key, (b, c, s) in after.items():
        b0, c0, s0 = before.get(key, ([], 0.0, 0.0))
        prev = dict(b0)
        out[key] = [[(le, v - prev.get(le, 0.0)) for le, v in b], c - c0, s - s0]
    return out


def quantile(h, q):
    """Quantile q (s) of histogram h, interpolated linearly inside its bucket, ranked against the
    +Inf bucket (total); inf when it lies past the last finite bound; None when h is empty."""
    n = total(h)
    if n <= 0:
        return None
    rank, lo, below = q * n, 0.0, 0.0
    for le, c in h[0]:
        if c >= rank:
            if le == INF:
                return INF
            return lo + (le - lo) * ((rank - below) / (c - below) if c > below else 1.0)
        lo, below = le, c
    return None


def bucket_bound(h, q):
    """The upper bound (s) of the bucket holding quantile q of h, ranked against its _count; None
    when it is past the last finite bound or h is empty."""
    n = h[1] if h else 0.0
    for le, c in sorted(h[0]) if n else []:
        if c >= q * n:
            return le if le != INF else None
    return None


def over(h, bound_s):
    """Observations of h over bound_s (the +Inf bucket minus the bucket at that bound)."""
    if not h:
        return None
    under = max((c for le, c in h[0] if le <= bound_s * (1 + 1e-9)), default=0.0)
    return total(h) - under


def largest(h, fmt):
    """The bucket holding h's largest observation, as text (bounds through fmt): "in (a, b]" or
    "> a"; "-" if none."""
    prev_le, prev_c, top = 0.0, 0.0, None
    for le, c in (h or [[]])[0]:
        if c > prev_c:
            top = (prev_le, le)
        prev_le, prev_c = le, c
    if top is None:
        return "-"
    if top[1] == INF:
        return "> %s" % fmt(top[0])
    return "in (%s, %s]" % (fmt(top[0]), fmt(top[1]))
