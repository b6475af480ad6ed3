"""City-scale benchmark (issue 5, Speed): ``python -m bench.city_run [--write]``.

Needs ``BENCH_DATABASE_URL`` (a PostgreSQL server, an owner role, e.g.
``postgresql://postgres@127.0.0.1:5432/test``). A private database is created there,
migrated, filled with a city (:mod:`bench.city`: ``--schools`` schools in
``--districts`` districts, a school year) by a child process as the owner, and dropped
at the end. Everything measured connects as the non-owner role ``houqin_app``, so
row-level security is live as in production. It measures, for the first district:

- **dashboard data over HTTP**: a real gunicorn (``--workers`` sync workers) on
  127.0.0.1 serving the app; ``--clients`` concurrent client threads (http.client,
  a personal access token of the district admin in ``Authorization: Bearer``) send
  ``GET /api/v1/dashboard?panel=<key>`` for every panel key, then the whole
  ``/api/v1/dashboard``; each endpoint gets ``--requests`` requests (``--requests-all``
  for the whole dashboard) or ``--seconds`` seconds, whichever ends first; p50, p95,
  max and throughput. One client alone first (the latency without queueing).
- **panels in process**: each panel builder called directly (median of 5), to see
  which panel costs what without HTTP and JSON.
- **award computation**: ``award_service.compute_units`` and ``draft_units`` (+commit).
- **bulletin**: ``jobs.generate_bulletin`` for the latest month (gather, Excel, PDF, commit).

``--write`` appends/replaces the "City scale (issue 5)" section of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.run import APP_ROLE, _app, database, machine

ROOT = Path(__file__).resolve().parent.parent
PANEL_KEYS = (
    "league",
    "trends",
    "heatmap",
    "radar",
    "scatter",
    "compliance",
    "coverage",
    "findings",
    "complaints",
)
SECTION = "## City scale (issue 5)"
MARKER = "<!-- city figures -->"


# --- children ----------------------------------------------------------------------------


def child_generate(owner_url: str, schools: int, districts: int) -> dict[str, Any]:
    from flask_migrate import upgrade
    from sqlalchemy import text

    from bench.city import generate_city
    from district.extensions import db

    app = _app(owner_url, owner_url)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory, revision="heads")
        started = time.perf_counter()
        stats = generate_city(schools, districts)
        stats["generate_s"] = round(time.perf_counter() - started, 1)
        db.session.commit()
        conn = db.session.connection()
        conn.commit()
        db.session.close()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))
    return stats


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def child_measure(app_url: str, owner_url: str, district_id: int, repeat: int) -> dict[str, Any]:
    from datetime import date

    from sqlalchemy import select

    from dashboards import award_service, panels, queries
    from dashboards.jobs import generate_bulletin
    from district.extensions import db
    from tenants.scope import Scope, use_scope

    upload = tempfile.mkdtemp(prefix="houqin-city-")
    app = _app(app_url, owner_url)
    app.config["UPLOAD_DIR"] = upload
    out: dict[str, Any] = {}
    with app.app_context(), use_scope(Scope.for_district(district_id)):
        year, month = queries.latest_result_month()
        out["month"] = f"{year}-{month:02d}"
        f = queries.Filters(year=year, month=month)
        db.session.commit()
        today = date.today()
        builders = {
            "league": lambda: panels.league(f),
            "trends": lambda: panels.trends(f),
            "heatmap": lambda: panels.heatmap(f, "canteen"),
            "radar": lambda: panels.radar(f, None, None),
            "scatter": lambda: panels.scatter(f),
            "compliance": lambda: panels.compliance(f),
            "coverage": lambda: panels.coverage(f),
            "findings": lambda: panels.findings(f, today),
            "complaints": lambda: panels.complaints(f),
        }
        from dashboards.panels import EXTRA_PANELS

        for i, extra in enumerate(EXTRA_PANELS):
            builders[f"extra{i}:{extra.__name__}"] = lambda e=extra: e(f, today)
        inproc = {}
        for key, fn in builders.items():
            times = []
            for _ in range(5):
                started = time.perf_counter()
                fn()
                db.session.commit()
                times.append(time.perf_counter() - started)
            inproc[key] = _ms(statistics.median(times))
        out["panels_in_process_ms"] = inproc

        school_year = year if month >= 9 else year - 1
        award_year = award_service.get_or_create_year(school_year)
        db.session.commit()
        compute, draft = [], []
        for _ in range(repeat):
            started = time.perf_counter()
            result = award_service.compute_units(award_year)
            compute.append(time.perf_counter() - started)
            db.session.commit()
            started = time.perf_counter()
            award_year = db.session.scalar(
                select(type(award_year)).where(type(award_year).id == award_year.id)
            )
            award_service.draft_units(award_year)
            db.session.commit()
            draft.append(time.perf_counter() - started)
        out["award_compute_ms"] = _ms(statistics.median(compute))
        out["award_draft_ms"] = _ms(statistics.median(draft))
        out["award_entries"] = len(result.entries)
        out["awarded"] = sum(1 for e in result.entries if e.awarded)

        bulletin = []
        for _ in range(repeat):
            started = time.perf_counter()
            generate_bulletin(district_id, year, month)
            db.session.commit()
            bulletin.append(time.perf_counter() - started)
        out["bulletin_ms"] = _ms(statistics.median(bulletin))
        out["bulletin_pdf_kb"] = round(
            os.path.getsize(
                os.path.join(upload, "bulletins", f"bulletin-{district_id}-{year}-{month:02d}.pdf")
            )
            / 1024
        )
    return out


def server_app() -> Any:
    """The WSGI app for gunicorn (``bench.city_run:server_app()``), from the environment."""
    app = _app(os.environ["BENCH_APP_URL"], os.environ["BENCH_OWNER_URL"])
    app.config["UPLOAD_DIR"] = tempfile.mkdtemp(prefix="houqin-city-srv-")
    return app


# --- HTTP load ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str, token: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        resp = conn.getresponse()
        body = resp.read()
        return time.perf_counter() - started, resp.status, len(body)
    finally:
        conn.close()


def load(
    port: int, path: str, token: str, clients: int, requests: int, seconds: float
) -> dict[str, Any]:
    """``clients`` threads in a closed loop until ``requests`` done or ``seconds`` passed."""
    lock = threading.Lock()
    issued = 0
    deadline = time.perf_counter() + seconds
    samples: list[float] = []
    errors = 0
    size = 0

    def worker() -> None:
        nonlocal issued, errors, size
        while True:
            with lock:
                if issued >= requests or time.perf_counter() > deadline:
                    return
                issued += 1
            try:
                elapsed, status, nbytes = _get(port, path, token)
            except OSError:
                with lock:
                    errors += 1
                continue
            with lock:
                if status == 200:
                    samples.append(elapsed)
                    size = nbytes
                else:
                    errors += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(worker)
    wall = time.perf_counter() - started
    samples.sort()

    def pct(p: float) -> float | None:
        if not samples:
            return None
        return _ms(samples[min(len(samples) - 1, int(round(p * (len(samples) - 1))))])

    return {
        "n": len(samples),
        "errors": errors,
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "max_ms": _ms(samples[-1]) if samples else None,
        "rps": round(len(samples) / wall, 1) if wall else None,
        "bytes": size,
        "loadavg": round(os.getloadavg()[0], 2),
    }


@contextlib.contextmanager
def gunicorn(app_url: str, owner_url: str, workers: int) -> Any:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BENCH_APP_URL": app_url,
        "BENCH_OWNER_URL": owner_url,
    }
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--timeout",
            "120",
            "--log-level",
            "warning",
            "bench.city_run:server_app()",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(300):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            if proc.poll() is not None:
                raise SystemExit("gunicorn exited")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_measure(
    app_url: str, owner_url: str, token: str, args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {"single": {}, "concurrent": {}}
    paths = {k: f"/api/v1/dashboard?panel={k}" for k in PANEL_KEYS}
    paths["(whole dashboard)"] = "/api/v1/dashboard"
    with gunicorn(app_url, owner_url, args.workers) as port:
        # warm every worker (imports, connection pools, plans)
        load(port, paths["(whole dashboard)"], token, args.workers * 2, args.workers * 4, 60)
        for key, path in paths.items():
            out["single"][key] = load(port, path, token, 1, 15, 20)
        for key, path in paths.items():
            n = args.requests_all if key == "(whole dashboard)" else args.requests
            out["concurrent"][key] = load(port, path, token, args.clients, n, args.seconds)
            print(f"  {key}: {out['concurrent'][key]}", file=sys.stderr, flush=True)
    return out


# --- report ------------------------------------------------------------------------------


def report(gen: dict[str, Any], meas: dict[str, Any], web: dict[str, Any], args: Any) -> str:
    d0 = gen["districts"][0]
    lines = [
        f"Run on {time.strftime('%Y-%m-%d %H:%M')} with `python -m bench.city_run "
        f"--schools {args.schools} --districts {args.districts} --write` "
        f"(`bench/city.py`, `bench/city_run.py`; how to run: `bench/README.md`).",
        "",
        f"Data: {args.schools:,} schools in {args.districts} districts, school year "
        f"2025-09…2026-06 (10 months): {gen['results']:,} stored results, "
        f"{gen['self_assessments']:,} self-assessments, {gen['visit_scores']:,} visit scores, "
        f"{gen['findings']:,} findings, {gen['complaints']:,} complaints; loaded in "
        f"{gen['generate_s']} s. Measured: district 1 ({d0['schools']} schools, "
        f"{d0['results']:,} results, {d0['visit_scores']:,} visit scores), month "
        f"{meas['month']}, as `{APP_ROLE}` (row-level security live).",
        "",
        f"### Dashboard data over HTTP — {args.clients} concurrent clients",
        "",
        f"gunicorn, {args.workers} sync workers, 127.0.0.1; client threads (http.client, "
        "a new connection per request, Bearer token) in a closed loop on the same machine; "
        f"{args.requests} requests per panel ({args.requests_all} for the whole dashboard) "
        f"or {args.seconds:g} s. Target: p95 ≤ 150 ms.",
        "",
        "| endpoint | 1 client p50 | p50 | p95 | max | req/s | n | errors | response | "
        "in process | p95 ≤ 150 ms? | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for key, c in web["concurrent"].items():
        s = web["single"][key]
        inproc = meas["panels_in_process_ms"].get(key)
        if key == "(whole dashboard)":
            inproc = round(sum(meas["panels_in_process_ms"].values()), 1)
        ok = "yes" if c["p95_ms"] is not None and c["p95_ms"] <= 150 else "**no**"
        lines.append(
            f"| `{key}` | {s['p50_ms']} ms | {c['p50_ms']} ms | {c['p95_ms']} ms "
            f"| {c['max_ms']} ms | {c['rps']} | {c['n']} | {c['errors']} "
            f"| {c['bytes'] / 1024:.0f} KB | {inproc} ms | {ok} | {c['loadavg']} |"
        )
    extras = {k: v for k, v in meas["panels_in_process_ms"].items() if k.startswith("extra")}
    if extras:
        lines += [
            "",
            "Extra panels (built by `/api/v1/dashboard` as a whole; no `panel=` key of their "
            "own), in process: " + ", ".join(f"`{k}` {v} ms" for k, v in extras.items()) + ".",
        ]
    award_ok = "yes" if meas["award_compute_ms"] <= 1000 else "**no**"
    bull_ok = "yes" if meas["bulletin_ms"] <= 20000 else "**no**"
    lines += [
        "",
        f"### Award computation and bulletin (district 1, in process, median of {args.repeat})",
        "",
        "| figure | measured | target | met? |",
        "|---|---:|---:|---|",
        f"| `award_service.compute_units` ({meas['award_entries']} schools ranked, "
        f"{meas['awarded']} awarded) | {meas['award_compute_ms']:,} ms | ≤ 1 s | {award_ok} |",
        f"| `award_service.draft_units` (+ snapshot, audit, commit) "
        f"| {meas['award_draft_ms']:,} ms | — | — |",
        f"| `jobs.generate_bulletin` {meas['month']} (gather, Excel, PDF "
        f"{meas['bulletin_pdf_kb']} KB, commit) | {meas['bulletin_ms']:,} ms | ≤ 20 s | {bull_ok} |",
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in web["machine"].items()),
        f"Load average (1 min) before the HTTP run: {web['load_before']}; after: "
        f"{web['load_after']}; highest sampled during it: {web['load_max']}.",
    ]
    return "\n".join(lines)


def _child(command: str, **kwargs: Any) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.city_run", command, json.dumps(kwargs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"bench child {command} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("generate", "measure"):
        kwargs = json.loads(argv[1])
        fn = child_generate if argv[0] == "generate" else child_measure
        print(json.dumps(fn(**kwargs)))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.city_run", description=__doc__)
    parser.add_argument("--schools", type=int, default=2000)
    parser.add_argument("--districts", type=int, default=10)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--requests", type=int, default=300, help="per panel")
    parser.add_argument("--requests-all", type=int, default=100, help="whole dashboard")
    parser.add_argument("--seconds", type=float, default=20, help="cap per endpoint")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    pg_url = os.environ.get("BENCH_DATABASE_URL")
    if not pg_url:
        raise SystemExit("set BENCH_DATABASE_URL to a PostgreSQL server")
    with database("postgresql", "city") as (owner_url, app_url):
        print("generating the city…", file=sys.stderr, flush=True)
        gen = _child(
            "generate", owner_url=owner_url, schools=args.schools, districts=args.districts
        )
        print(f"  generated in {gen['generate_s']} s", file=sys.stderr, flush=True)
        d0 = gen["districts"][0]
        print("dashboard over HTTP…", file=sys.stderr, flush=True)
        loads: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(2):
                loads.append(os.getloadavg()[0])

        sampler = threading.Thread(target=sample, daemon=True)
        load_before = round(os.getloadavg()[0], 2)
        sampler.start()
        web = http_measure(app_url, owner_url, d0["token"], args)
        stop.set()
        sampler.join()
        web.update(
            load_before=load_before,
            load_after=round(os.getloadavg()[0], 2),
            load_max=round(max(loads), 2) if loads else None,
        )
        print("award and bulletin…", file=sys.stderr, flush=True)
        meas = _child(
            "measure",
            app_url=app_url,
            owner_url=owner_url,
            district_id=d0["district_id"],
            repeat=args.repeat,
        )
        print(f"  {json.dumps(meas)}", file=sys.stderr, flush=True)
        web["machine"] = machine(pg_url)
    text_ = report(gen, meas, web, args)
    print(SECTION + "\n\n" + text_)
    if args.write:
        # Notes between the section heading and the marker are kept; figures replaced.
        results = ROOT / "bench" / "RESULTS.md"
        current = results.read_text()
        if MARKER in current:
            head = current.split(MARKER)[0]
        else:
            head = current.rstrip() + "\n\n" + SECTION + "\n\n"
        results.write_text(head + MARKER + "\n\n" + text_ + "\n")


if __name__ == "__main__":
    main()
