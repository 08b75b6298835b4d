#!/usr/bin/env python3
"""Soak driver (standard library only), started by scripts/soak.sh once everything runs.

For SOAK seconds it carries issued permits without a PDF through the whole flow, alternating
instances A and B per permit: the applicant sends `DAFTAR <id>` on the WhatsApp simulator's phone
page (consent), the printed letter is fetched from the SICANTIK simulator and imported, submitted
(staff), approved and signed (official), then verified on the *other* instance's public portal
(`/v/<id>`, and every 10th time by uploading the signed PDF to `/periksa`). Every 5 s it samples
the RSS of each process. Then it waits for the WhatsApp outbox to drain, compares counts (database,
simulator, the driver's own) and writes a markdown report. Exit 1 if a check failed.

Environment: DATABASE_URL (psql), SOAK_STAFF_TOKEN, SOAK_OFFICIAL_TOKEN, and the companion's own
configuration for the `documents check` / `audit verify` commands.
"""

import argparse
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

HTTP_TIMEOUT = 30  # seconds, every call
SIGN_TIMEOUT = 120  # signing stamps a timestamp and writes to S3: allowed longer
VERIFY_UPLOAD_EVERY = 10
STEPS = ["register", "fetch_letter", "import", "submit", "approve", "sign", "verify_qr",
         "verify_upload"]
OK_SENT = ("sent", "delivered", "read")
WAITING_SQL = ("SELECT count(*) FROM permits p WHERE p.status = 'issued' AND NOT EXISTS "
               "(SELECT 1 FROM documents d WHERE d.pendaftaran_id = p.pendaftaran_id)")


class StepError(Exception):
    pass


# --- HTTP ----------------------------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx is an answer of its own (the phone form redirects to a big page)


_opener = urllib.request.build_opener(_NoRedirect)


def http(method, url, body=None, headers=None, expect=(200,), timeout=HTTP_TIMEOUT):
    """One request; returns the body. Raises StepError (short message, no token) otherwise."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _opener.open(req, timeout=timeout) as resp:
            status, data = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read() if e.fp else b""
    except (urllib.error.URLError, OSError) as e:  # refused, reset, timeout
        raise StepError(f"{method} {_path(url)}: {getattr(e, 'reason', e)}") from None
    if status not in expect:
        text = data[:200].decode("utf-8", "replace").replace("\n", " ")
        raise StepError(f"{method} {_path(url)}: HTTP {status} {text}")
    return data


def _path(url):
    return urllib.parse.urlsplit(url).path


def api(method, url, token, payload=None, expect=(200,), timeout=HTTP_TIMEOUT):
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    body = None
    if payload is not None:
        body = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    return json.loads(http(method, url, body, headers, expect, timeout))


def multipart(field, filename, content, content_type="application/pdf"):
    boundary = "soak" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n").encode()
    body = head + content + f"\r\n--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


# --- Database (psql) and the command line --------------------------------------------------

def psql(sql):
    """Rows of a query as lists of strings (psql's unaligned output)."""
    out = subprocess.run(
        ["psql", os.environ["DATABASE_URL"], "-qAtX", "-F", "\t", "-v", "ON_ERROR_STOP=1",
         "-c", sql], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise StepError(f"psql: {out.stderr.strip()[:200]}")
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def scalar(sql):
    rows = psql(sql)
    return int(rows[0][0]) if rows and rows[0][0] != "" else 0


def safe_id(s):
    if not re.fullmatch(r"[A-Za-z0-9._/-]{1,64}", s):
        raise StepError(f"unexpected registration id {s!r}")
    return s


# --- Measurements --------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = {s: [] for s in STEPS}
        self.errors = {s: 0 for s in STEPS}
        self.samples = {s: [] for s in STEPS}  # first error messages per step

    def record(self, step, seconds, error=None):
        with self.lock:
            if error is None:
                self.latencies.setdefault(step, []).append(seconds)
            else:
                self.errors[step] = self.errors.get(step, 0) + 1
                if len(self.samples.setdefault(step, [])) < 5:
                    self.samples[step].append(str(error))

    def timed(self, step, fn, *args, **kwargs):
        started = time.monotonic()
        try:
            result = fn(*args, **kwargs)
        except Exception as e:  # recorded, then the permit is abandoned
            self.record(step, time.monotonic() - started, e)
            raise StepError(f"{step}: {e}") from None
        self.record(step, time.monotonic() - started)
        return result


def summary(latencies):
    """(count, mean ms, p95 ms) of a list of seconds."""
    if not latencies:
        return 0, None, None
    xs = sorted(latencies)
    p95 = xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]
    return len(xs), 1000 * sum(xs) / len(xs), 1000 * p95


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class RssSampler(threading.Thread):
    def __init__(self, pids, every=5.0):
        super().__init__(daemon=True)
        self.pids, self.every = pids, every
        self.max = {n: 0 for n in pids}
        self.last = {n: None for n in pids}
        self.count = 0
        self.halt = threading.Event()

    def sample(self):
        for name, pid in self.pids.items():
            kb = rss_kb(pid)
            if kb is not None:
                self.last[name] = kb
                self.max[name] = max(self.max[name], kb)
        self.count += 1

    def run(self):
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(self.every)


# --- The flow ------------------------------------------------------------------------------

class Soak:
    def __init__(self, args):
        self.a = args
        self.instances = [("A", args.a.rstrip("/")), ("B", args.b.rstrip("/"))]
        self.staff = os.environ["SOAK_STAFF_TOKEN"]
        self.official = os.environ["SOAK_OFFICIAL_TOKEN"]
        self.stats = Stats()
        self.work = queue.Queue()
        self.seen = set()  # ids handed to a worker (never twice)
        self.lock = threading.Lock()
        self.n = 0  # permits started
        self.phone_seq = 0
        self.registered = set()  # permit ids whose applicant's consent was recorded
        self.signed = {}  # permit id -> verification id (the case answered "published")
        self.signed_on = {"A": 0, "B": 0}
        self.stop = threading.Event()
        self.idle = 0.0  # worker seconds spent waiting for a permit to carry

    def next_permit_slot(self):
        with self.lock:
            self.n += 1
            return self.n

    def new_phone(self):
        """A unique applicant number; the simulator fails numbers ending in 0000."""
        with self.lock:
            while True:
                self.phone_seq += 1
                number = f"+62857{self.phone_seq:08d}"
                if not number.endswith("0000"):
                    return number

    # The permits to work on: issued, no PDF yet, not taken already.
    def feed(self):
        url = f"{self.instances[0][1]}/api/v1/permits?status=issued&berkas=belum&per_page=200"
        while not self.stop.is_set():
            if self.work.qsize() < 2 * self.a.workers:
                try:
                    page = api("GET", url, self.staff)
                    for p in page["items"]:
                        pid = p["pendaftaran_id"]
                        with self.lock:
                            if pid in self.seen:
                                continue
                            self.seen.add(pid)
                        self.work.put(pid)
                except StepError as e:
                    print(f"soak: permit list: {e}", file=sys.stderr)
            self.stop.wait(2)

    def worker(self):
        while not self.stop.is_set():
            waited = time.monotonic()
            try:
                pid = self.work.get(timeout=1)
            except queue.Empty:
                pid = None
            with self.lock:
                self.idle += time.monotonic() - waited
            if pid is None:
                continue
            n = self.next_permit_slot()
            name, base = self.instances[n % 2]
            _, other = self.instances[(n + 1) % 2]
            try:
                self.carry(pid, n, name, base, other)
            except StepError:
                pass  # counted in its step; the next permit

    def carry(self, pid, n, name, base, other):
        s = self.stats
        pid = safe_id(pid)
        # 1. The applicant registers for WhatsApp: consent recorded through B's webhook.
        phone = self.new_phone()
        s.timed("register", self.register, pid, phone)
        with self.lock:
            self.registered.add(pid)
        # 2. The printed letter, imported as the original.
        pdf = s.timed("fetch_letter", self.fetch_letter, pid)
        body, headers = multipart("berkas", f"{pid}.pdf", pdf)
        headers["Authorization"] = f"Bearer {self.staff}"

        def do_import():
            report = json.loads(http("POST", f"{base}/api/v1/permits/{pid}/documents", body,
                                     headers))
            f = (report.get("files") or [{}])[0]
            if f.get("outcome") != "stored":
                raise StepError(f"import outcome {f.get('outcome')}: {f.get('error')}")
            return f["document"]["id"]

        doc_id = s.timed("import", do_import)
        # 3. Staff submit, the official approves (QR stamp follows) and signs (publication).
        case = s.timed("submit", api, "POST", f"{base}/api/v1/signing/cases", self.staff,
                       {"document_id": doc_id}, (201,))
        steps = f"{base}/api/v1/signing/cases/{case['id']}/steps"

        def step(action, want, timeout=HTTP_TIMEOUT):
            c = api("POST", steps, self.official, {"action": action}, timeout=timeout)
            if c.get("state") not in want:
                raise StepError(f"{action}: case {c.get('id')} is {c.get('state')}")
            return c

        s.timed("approve", step, "approve", ("stamped",))
        signed = s.timed("sign", step, "sign", ("published",), SIGN_TIMEOUT)
        vid = signed["verification_id"]
        with self.lock:
            self.signed[pid] = vid
            self.signed_on[name] += 1
            nth = len(self.signed)
        # 4. Anyone verifies it on the other instance's portal.
        s.timed("verify_qr", self.verify_page, other, vid)
        if nth % VERIFY_UPLOAD_EVERY == 0:
            s.timed("verify_upload", self.verify_upload, other, vid)

    def register(self, pid, phone):
        # DAFTAR is accepted only from the number SICANTIK holds for the permit (issue 18, item
        # 2): the simulator's permits carry none, so the driver records the new number as
        # SICANTIK's first, as the applicant's form would.
        psql(f"UPDATE permits SET applicant_phone = '{phone}' WHERE pendaftaran_id = '{pid}'")
        form = urllib.parse.urlencode({"from": phone, "text": f"DAFTAR {pid}"}).encode()
        http("POST", f"{self.a.whatsapp}/telepon/kirim", form,
             {"Content-Type": "application/x-www-form-urlencoded"}, expect=(200, 302, 303))
        # The simulator posts it to B's webhook; wait until the contact is recorded.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if psql(f"SELECT 1 FROM permit_contacts WHERE pendaftaran_id = '{pid}' "
                    f"AND source = 'daftar'"):
                return
            time.sleep(0.1)
        raise StepError("consent not recorded within 20 s")

    def fetch_letter(self, pid):
        pdf = http("GET", f"{self.a.sicantik}/_sim/cetak/{pid}")
        if not pdf.startswith(b"%PDF"):
            raise StepError("the printed letter is not a PDF")
        return pdf

    @staticmethod
    def verify_page(base, vid):
        page = http("GET", f"{base}/v/{vid}").decode("utf-8", "replace")
        if 'data-verdict="ASLI"' not in page:
            m = re.search(r'data-verdict="([^"]*)"', page)
            raise StepError(f"/v/{vid}: verdict {m.group(1) if m else 'missing'}")

    @staticmethod
    def verify_upload(base, vid):
        pdf = http("GET", f"{base}/v/{vid}/unduh")
        body, headers = multipart("berkas", f"{vid}.pdf", pdf)
        page = http("POST", f"{base}/periksa", body, headers).decode("utf-8", "replace")
        if 'data-verdict="ASLI"' not in page:
            m = re.search(r'data-verdict="([^"]*)"', page)
            raise StepError(f"/periksa: verdict {m.group(1) if m else 'missing'}")

    # --- phases ------------------------------------------------------------------------------

    def wait_for_permits(self, limit=300):
        """The at-start sync must have brought issued permits first."""
        url = f"{self.instances[0][1]}/api/v1/permits?status=issued&berkas=belum&per_page=1"
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            try:
                if api("GET", url, self.staff).get("total", 0) > 0:
                    return
            except StepError as e:
                print(f"soak: waiting for permits: {e}", file=sys.stderr)
            time.sleep(2)
        raise SystemExit(f"no issued permit synced within {limit} s")

    def drive(self):
        threads = [threading.Thread(target=self.feed, daemon=True)]
        threads += [threading.Thread(target=self.worker, daemon=True)
                    for _ in range(self.a.workers)]
        started = time.monotonic()
        for t in threads:
            t.start()
        next_note = started + 60
        while time.monotonic() - started < self.a.seconds:
            time.sleep(1)
            if time.monotonic() >= next_note:
                next_note += 60
                print(f"soak: {int(time.monotonic() - started)} s, {len(self.signed)} signed",
                      file=sys.stderr)
        self.stop.set()
        for t in threads:  # each worker finishes the permit in hand
            t.join(timeout=SIGN_TIMEOUT + 60)
        return time.monotonic() - started

    def outbox(self):
        return {state: int(n) for state, n in
                psql("SELECT state, count(*) FROM wa_messages GROUP BY 1 ORDER BY 1")}

    def drain(self, limit=120):
        """Until the outbox and the simulator's webhooks are settled (twice in a row)."""
        deadline = time.monotonic() + limit
        calm = 0
        while time.monotonic() < deadline:
            try:
                sim = json.loads(http("GET", f"{self.a.whatsapp}/_sim/stats"))
                boxes = self.outbox()
                unplanned = scalar("SELECT (SELECT COALESCE(max(id), 0) FROM domain_events) - "
                                   "(SELECT last_event_id FROM wa_planner)")
            except StepError as e:
                print(f"soak: drain: {e}", file=sys.stderr)
                calm = 0
                time.sleep(2)
                continue
            busy = boxes.get("queued", 0) + boxes.get("sending", 0)
            calm = calm + 1 if (busy == 0 and sim["webhooks_pending"] == 0
                                and unplanned <= 0) else 0
            if calm >= 2:
                return True
            time.sleep(2)
        return False


# --- Report --------------------------------------------------------------------------------

def fmt(x, digits=0):
    return "–" if x is None else f"{x:,.{digits}f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--sicantik", required=True, help="the SICANTIK simulator's host URL")
    p.add_argument("--whatsapp", required=True)
    p.add_argument("--bin", required=True)
    p.add_argument("--pids", required=True, help="file of NAME=PID lines")
    p.add_argument("--report", required=True)
    p.add_argument("--logs", default="")
    args = p.parse_args()

    pids = {}
    with open(args.pids) as f:
        for line in f:
            name, _, pid = line.strip().partition("=")
            if pid:
                pids[name] = int(pid)
    sampler = RssSampler(pids)
    sampler.start()
    soak = Soak(args)

    print("soak: waiting for the first sync", file=sys.stderr)
    soak.wait_for_permits()
    print(f"soak: driving for {args.seconds:.0f} s with {args.workers} workers", file=sys.stderr)
    driven = soak.drive()
    print("soak: waiting for the outbox to drain", file=sys.stderr)
    t0 = time.monotonic()
    drained = soak.drain()
    drain_s = time.monotonic() - t0
    sampler.halt.set()
    sampler.join(timeout=10)
    sampler.sample()

    checks = []  # (passed, text)

    def check(ok, text):
        checks.append((bool(ok), text))

    # Steps measured from the database: notifications and sync runs.
    signed_ids = set(soak.signed)
    expected_ready = signed_ids & soak.registered
    ready_rows = psql(
        "SELECT m.subject_id, m.state, EXTRACT(EPOCH FROM (COALESCE(m.delivered_at, m.read_at, "
        "m.sent_at) - c.signed_at)) FROM wa_messages m JOIN signing_cases c "
        "ON c.pendaftaran_id = m.subject_id AND c.state = 'published' "
        "WHERE m.event = 'permit_ready'")
    ready_ok = [r for r in ready_rows if r[1] in OK_SENT]
    notify_lat = [float(r[2]) for r in ready_rows if r[1] in ("delivered", "read") and r[2]]
    notify_err = sum(1 for r in ready_rows if r[1] not in OK_SENT)
    sync_rows = psql("SELECT outcome, EXTRACT(EPOCH FROM (finished_at - started_at)) "
                     "FROM sync_runs WHERE finished_at IS NOT NULL")
    sync_lat = [float(r[1]) for r in sync_rows if r[0] in ("succeeded", "partial")]
    sync_err = sum(1 for r in sync_rows if r[0] not in ("succeeded", "partial"))

    lines = ["# Soak report", ""]
    lines.append(f"- driven {driven:.0f} s with {args.workers} workers, alternating instances "
                 f"A ({args.a}) and B ({args.b}) per permit; {os.cpu_count()} cores; "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    lines.append(f"- permits taken {soak.n}, signed and published {len(soak.signed)} "
                 f"(A {soak.signed_on['A']}, B {soak.signed_on['B']}); outbox drained "
                 f"{'in' if drained else 'NOT within'} {drain_s:.0f} s")
    lines.append(f"- workers idle {100 * soak.idle / (args.workers * driven):.0f}% of the time "
                 f"(waiting for an issued permit without a PDF); "
                 f"{scalar(WAITING_SQL)} such permits left at the end")
    lines += ["", "## Steps", "",
              "| step | count | errors | per second | mean ms | p95 ms |",
              "|---|---:|---:|---:|---:|---:|"]
    rows = [(step, soak.stats.latencies[step], soak.stats.errors[step]) for step in STEPS]
    rows.append(("notify (signed → delivered, from the database)", notify_lat, notify_err))
    rows.append(("sync runs (scheduled, both instances, from the database)", sync_lat, sync_err))
    for step, lats, errors in rows:
        count, mean, p95 = summary(lats)
        lines.append(f"| {step} | {count} | {errors} | {fmt(count / driven, 2)} | "
                     f"{fmt(mean)} | {fmt(p95)} |")
    samples = [(k, v) for k, v in soak.stats.samples.items() if v]
    if samples:
        lines += ["", "First errors per step:", ""]
        for step, msgs in samples:
            for m in msgs:
                lines.append(f"- {step}: `{m}`")

    lines += ["", f"## Memory (VmRSS, {sampler.count} samples every 5 s)", "",
              "| process | max MB | at the end MB |", "|---|---:|---:|"]
    for name in pids:
        last = sampler.last[name]
        lines.append(f"| {name} | {fmt(sampler.max[name] / 1024, 1)} | "
                     f"{fmt(last / 1024 if last else None, 1)} |")

    boxes = soak.outbox()
    sim = json.loads(http("GET", f"{args.whatsapp}/_sim/stats"))
    lines += ["", "## WhatsApp", "", "| outbox state | messages |", "|---|---:|"]
    lines += [f"| {state} | {n} |" for state, n in boxes.items()]
    lines += ["", "Simulator: " + ", ".join(f"{k} {v}" for k, v in sim.items())]

    # Checks.
    published = scalar("SELECT count(*) FROM signing_cases WHERE state = 'published'")
    check(published == len(soak.signed),
          f"published signing cases {published} == permits the driver signed {len(soak.signed)}")
    ready_ids = [r[0] for r in ready_ok]
    missing = sorted(expected_ready - set(ready_ids))
    extra = sorted(set(ready_ids) - expected_ready)
    check(len(ready_ok) == len(expected_ready) and len(set(ready_ids)) == len(ready_ids)
          and not missing and not extra,
          f"permit_ready sent/delivered/read {len(ready_ok)} == published cases whose applicant "
          f"registered {len(expected_ready)}"
          + (f" (missing {missing[:5]})" if missing else "")
          + (f" (unexpected {extra[:5]})" if extra else ""))
    check(drained, "outbox drained (nothing queued or sending, all events planned, "
                   "no webhook pending)")
    check(sim["max_per_reference"] <= 1,
          f"no message sent twice: simulator max_per_reference {sim['max_per_reference']} <= 1")
    settled = sum(boxes.get(s, 0) for s in OK_SENT)
    check(sim["accepted"] == settled,
          f"simulator accepted {sim['accepted']} == messages sent/delivered/read {settled} "
          f"(failed {boxes.get('failed', 0)})")
    for cmd in (["documents", "check", "--json"], ["audit", "verify"]):
        try:
            out = subprocess.run([args.bin, *cmd], capture_output=True, text=True, timeout=600)
            detail = (out.stdout + out.stderr).strip().replace("\n", " ")[:300]
            check(out.returncode == 0, f"`{' '.join(cmd)}` exit {out.returncode}: {detail}")
        except subprocess.TimeoutExpired:
            check(False, f"`{' '.join(cmd)}` did not finish within 600 s")
    runs = scalar("SELECT count(*) FROM sync_runs WHERE finished_at IS NOT NULL")
    check(runs > 0, f"sync runs finished {runs} > 0")
    dup = scalar("SELECT count(*) - count(DISTINCT pendaftaran_id) FROM permits")
    total = scalar("SELECT count(*) FROM permits")
    check(dup == 0, f"no permit duplicated: {total} permits, {dup} duplicates")
    errors = sum(soak.stats.errors.values())
    check(errors == 0, f"no step failed ({errors} errors)")
    for name in ("A", "B"):
        mb = sampler.max.get(name, 0) / 1024
        check(0 < mb < 150, f"max RSS of {name} {mb:.1f} MB < 150 MB")

    lines += ["", "## Checks", ""]
    lines += [f"- {'PASS' if ok else 'FAIL'} {text}" for ok, text in checks]
    if args.logs:
        lines += ["", f"(process logs in {args.logs}, kept with SOAK_KEEP=1)"]
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    with open(args.report, "w") as f:
        f.write(text)
    failed = [t for ok, t in checks if not ok]
    print(f"soak: {'FAIL' if failed else 'PASS'} ({len(checks) - len(failed)}/{len(checks)} "
          f"checks), report in {args.report}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    # Ctrl-C and a plain kill end the run at once (scripts/soak.sh then cleans up).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
        sys.exit(130)
    except StepError as e:  # the database or the simulator gone while checking
        print(f"soak: cannot finish the checks: {e}", file=sys.stderr)
        sys.exit(2)
