"""Scoring benchmark (成绩重新计算): ``python -m bench.run [--write]``.

For each backend — SQLite (a temporary file) and, when ``BENCH_DATABASE_URL`` names a
PostgreSQL server (e.g. ``postgresql://postgres@127.0.0.1:5432/test``), a private
database created on it and dropped afterwards — and for two district sizes
(``--small``, default 100 schools, and ``--schools``, default 300), a fresh child
process generates the district (:mod:`bench.generate`) and another one measures:

- **full, cold**: :func:`scoring.results.recompute` of every school-month of the year
  with no stored results (every row inserted), then commit;
- **full, warm**: the same again when nothing changed (every row compared, none written);
- **one submission**: one school-month after one of its self-assessment items changed;
- **floor**: the same aggregation (self and inspector Σ points ÷ Σ max per school,
  month and programme, weighted) as one hand-written ``INSERT … SELECT``;
- **memory**: peak Python allocations (tracemalloc) during a cold full recomputation,
  and the process's peak RSS.

On PostgreSQL the measuring process connects as the non-owner role ``houqin_app``, so
row-level security is live exactly as in production (and in the floor's statement).
Timings are the median of ``--repeat`` runs. ``--write`` writes ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
APP_ROLE = "houqin_app"

FLOOR_TABLE = """CREATE TABLE bench_floor (
    school_id INTEGER, year INTEGER, month INTEGER, programme VARCHAR(32),
    self_score NUMERIC(8, 4), inspector_score NUMERIC(8, 4), score NUMERIC(8, 4))"""

# The floor: the same rows aggregated by one statement (no stand-ins, applicability,
# measured curves, vetoes, complaints or satisfaction: the least any implementation does).
FLOOR_SQL = """INSERT INTO bench_floor (school_id, year, month, programme, self_score,
                         inspector_score, score)
SELECT school_id, year, month, programme, MAX(self_score), MAX(inspector_score),
       CASE WHEN MAX(self_score) IS NULL THEN MAX(inspector_score)
            WHEN MAX(inspector_score) IS NULL THEN MAX(self_score)
            ELSE (0.3 * MAX(self_score) + 0.5 * MAX(inspector_score)) / 0.8 END
FROM (
  SELECT a.school_id, a.year, a.month, a.programme,
         SUM(i.points) * 100 / SUM(ri.max_points) AS self_score, NULL AS inspector_score
  FROM self_assessment_items i
  JOIN self_assessments a ON a.id = i.assessment_id
  JOIN rubric_indicators ri ON ri.rubric_version_id = a.rubric_version_id
                           AND ri.code = i.indicator_code
  WHERE a.district_id = :d AND a.status IN ('submitted', 'locked') AND ri.kind <> 'veto'
  GROUP BY a.school_id, a.year, a.month, a.programme
  UNION ALL
  SELECT v.school_id, v.year, v.month, vs.programme,
         NULL, SUM(vs.points) * 100 / SUM(ri.max_points)
  FROM visit_scores vs
  JOIN site_visits v ON v.id = vs.visit_id
  JOIN rubric_indicators ri ON ri.rubric_version_id = vs.rubric_version_id
                           AND ri.code = vs.indicator_code
  WHERE v.district_id = :d AND ri.kind <> 'veto'
  GROUP BY v.school_id, v.year, v.month, vs.programme
) sources
GROUP BY school_id, year, month, programme"""


def _pg(url: str) -> str:
    return (
        "postgresql+psycopg://" + url[len("postgresql://") :]
        if url.startswith("postgresql://")
        else url
    )


def _app(url: str, owner_url: str | None = None) -> Any:
    from config import Config
    from district import create_app

    overrides: dict[str, Any] = {"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None}
    if owner_url and owner_url != url:
        overrides.update(DATABASE_OWNER_URL=owner_url, APP_DB_ROLE=APP_ROLE)
    return create_app(Config, **overrides)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- child processes -------------------------------------------------------------------


def child_generate(owner_url: str, schools: int) -> dict[str, Any]:
    from flask_migrate import upgrade
    from sqlalchemy import text

    from bench.generate import generate
    from district.extensions import db

    app = _app(owner_url, owner_url)
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory, revision="heads")
        started = time.perf_counter()
        stats = generate(schools)
        stats["generate_s"] = round(time.perf_counter() - started, 2)
        db.session.execute(text(FLOOR_TABLE))
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text(f"GRANT ALL ON bench_floor TO {APP_ROLE}"))
            db.session.execute(text("ANALYZE"))
        db.session.commit()
    return stats


def _median(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 1)  # milliseconds


def child_measure(url: str, repeat: int, owner_url: str | None = None) -> dict[str, Any]:
    out = _measure(url, repeat, owner_url=owner_url)
    if owner_url and owner_url != url:
        # The same work as the table owner, whom row-level security does not filter: what
        # the policies cost is the difference.
        owner = _measure(owner_url, repeat, light=True, owner_url=owner_url)
        out.update({f"{k}_owner": v for k, v in owner.items() if k.endswith("_ms")})
    out["loadavg"] = round(os.getloadavg()[0], 1)
    return out


def _vacuum(owner_url: str | None, table: str) -> None:
    """VACUUM a table the measurement emptied (PostgreSQL, as its owner).

    "Cold" means no stored results. Every repetition deletes ~13,000 rows and writes them
    again; without a vacuum the next run would also wade through the dead versions of
    the earlier runs (each key's unique check visits them), which autovacuum removes
    within a minute in a real deployment but not between back-to-back runs.
    """
    if not owner_url or not owner_url.startswith("postgresql"):
        return
    from sqlalchemy import create_engine, text

    engine = create_engine(owner_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"VACUUM {table}"))
    finally:
        engine.dispose()


def _measure(
    url: str, repeat: int, light: bool = False, owner_url: str | None = None
) -> dict[str, Any]:
    from sqlalchemy import delete, select, text

    from bench.generate import MONTHS
    from district.extensions import db
    from scoring.models import SchoolMonthResult, SelfAssessment, SelfAssessmentItem
    from scoring.results import recompute
    from tenants.models import District, School
    from tenants.scope import Scope, unscoped, use_scope

    app = _app(url)
    out: dict[str, Any] = {}
    with app.app_context():
        with unscoped("bench: find the district"):
            district_id = db.session.scalar(select(District.id).where(District.code == "BENCH"))
        db.session.commit()
        with use_scope(Scope.for_district(district_id)):
            school_ids = db.session.scalars(select(School.id).order_by(School.id)).all()
            items = [(s, y, m) for s in school_ids for y, m in MONTHS]
            out["school_months"] = len(items)
            out["rows_in"] = db.session.scalar(
                text(
                    "SELECT (SELECT COUNT(*) FROM self_assessment_items WHERE district_id = :d)"
                    " + (SELECT COUNT(*) FROM visit_scores WHERE district_id = :d)"
                ),
                {"d": district_id},
            )
            db.session.commit()
            rss_before = _maxrss_mb()

            def clear() -> None:
                db.session.execute(delete(SchoolMonthResult))
                db.session.commit()
                _vacuum(owner_url, "school_month_results")

            def timed(fn: Any) -> float:
                started = time.perf_counter()
                fn()
                db.session.commit()
                return time.perf_counter() - started

            def floor_ms() -> float:
                """The floor's statement, median of ``repeat`` runs on an emptied table."""
                runs = []
                for _ in range(repeat):
                    db.session.execute(text("DELETE FROM bench_floor"))
                    db.session.commit()
                    _vacuum(owner_url, "bench_floor")
                    runs.append(
                        timed(lambda: db.session.execute(text(FLOOR_SQL), {"d": district_id}))
                    )
                return _median(runs)

            cold, warm, cpu = [], [], []
            for _ in range(repeat):
                clear()
                started = time.process_time()
                cold.append(timed(lambda: out.__setitem__("full", recompute(items))))
                cpu.append(time.process_time() - started)
                warm.append(timed(lambda: recompute(items)))
            out["full_cold_ms"], out["full_warm_ms"] = _median(cold), _median(warm)
            out["full_cold_runs_ms"] = [round(t * 1000) for t in cold]
            out["full_cold_python_cpu_ms"] = _median(cpu)
            out["results_written"] = out.pop("full")["written"]
            if light:
                out["floor_ms"] = floor_ms()
                return out

            rng = random.Random(1)
            single = []
            for _ in range(max(7, repeat)):
                school_id, year, month = rng.choice(items)
                item = db.session.scalar(
                    select(SelfAssessmentItem)
                    .join(SelfAssessment, SelfAssessment.id == SelfAssessmentItem.assessment_id)
                    .where(
                        SelfAssessment.school_id == school_id,
                        SelfAssessment.year == year,
                        SelfAssessment.month == month,
                        SelfAssessmentItem.value.is_(None),
                        SelfAssessmentItem.points > 1,
                    )
                    .limit(1)
                )
                item.points = item.points - 1  # the submission changed one answer
                db.session.commit()
                single.append(timed(lambda s=school_id, y=year, m=month: recompute([(s, y, m)])))
            out["one_submission_ms"] = _median(single)

            out["floor_ms"] = floor_ms()
            out["floor_rows"] = db.session.scalar(text("SELECT COUNT(*) FROM bench_floor"))
            db.session.commit()
            out["rss_peak_mb"] = round(_maxrss_mb(), 1)
            out["rss_growth_mb"] = round(_maxrss_mb() - rss_before, 1)

            clear()
            tracemalloc.start()
            recompute(items)
            db.session.commit()
            out["traced_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
            tracemalloc.stop()
    return out


# --- databases ---------------------------------------------------------------------------


@contextlib.contextmanager
def database(backend: str, tag: str) -> Iterator[tuple[str, str]]:
    """(owner URL, app URL) of a fresh database, removed afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="houqin-bench-") as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            yield url, url
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = _pg(os.environ["BENCH_DATABASE_URL"])
    name = f"houqin_bench_{os.getpid()}_{tag}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
        if not conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": APP_ROLE}
        ).first():
            with contextlib.suppress(Exception):
                conn.execute(text(f"CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS"))
    owner = make_url(server).set(database=name)
    app = owner.set(username=APP_ROLE, password=None)
    try:
        yield (
            owner.render_as_string(hide_password=False),
            app.render_as_string(hide_password=False),
        )
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _child(command: str, **kwargs: Any) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", command, json.dumps(kwargs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"bench child {command} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --- the machine and the report -------------------------------------------------------------


def machine(pg_url: str | None) -> dict[str, str]:
    import sqlite3

    info = {
        "cpus (nproc)": str(os.cpu_count()),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "os": platform.platform(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram"] = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    if pg_url:
        from sqlalchemy import create_engine, text

        engine = create_engine(_pg(pg_url))
        with engine.connect() as conn:
            info["postgresql"] = conn.execute(text("SHOW server_version")).scalar()
        engine.dispose()
    return info


def report(rows: list[dict[str, Any]], info: dict[str, str]) -> str:
    def ms(value: float | None, digits: int = 0) -> str:
        return "—" if value is None else f"{value:,.{digits}f} ms"

    lines = [
        "| backend | schools | school-months | source rows | full, cold | of which Python CPU "
        "| full, warm | one submission | floor (INSERT … SELECT) | cold ÷ floor "
        "| traced peak | peak RSS | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ratio = r["full_cold_ms"] / r["floor_ms"] if r["floor_ms"] else float("nan")
        lines.append(
            f"| {r['backend']} | {r['schools']} | {r['school_months']} | {r['rows_in']:,} "
            f"| {ms(r['full_cold_ms'])} | {ms(r['full_cold_python_cpu_ms'])} "
            f"| {ms(r['full_warm_ms'])} | {ms(r['one_submission_ms'], 1)} "
            f"| {ms(r['floor_ms'])} | {ratio:.1f}× | {r['traced_peak_mb']} MB "
            f"| {r['rss_peak_mb']} MB | {r['loadavg']} |"
        )
    owners = [r for r in rows if "floor_ms_owner" in r]
    if owners:
        lines += [
            "",
            "The same on PostgreSQL as the table owner (row-level security not applied):",
            "",
            "| schools | full, cold | full, warm | floor | cold ÷ floor |",
            "|---:|---:|---:|---:|---:|",
        ]
        for r in owners:
            lines.append(
                f"| {r['schools']} | {ms(r['full_cold_ms_owner'])} | {ms(r['full_warm_ms_owner'])} "
                f"| {ms(r['floor_ms_owner'])} "
                f"| {r['full_cold_ms_owner'] / r['floor_ms_owner']:.1f}× |"
            )
    lines.append("")
    lines.append("Machine: " + "; ".join(f"{k}: {v}" for k, v in info.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("generate", "measure"):
        kwargs = json.loads(argv[1])
        fn = child_generate if argv[0] == "generate" else child_measure
        print(json.dumps(fn(**kwargs)))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--schools", type=int, default=300)
    parser.add_argument("--small", type=int, default=100, help="the smaller size (memory check)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), action="append")
    parser.add_argument("--write", action="store_true", help="write bench/RESULTS.md")
    args = parser.parse_args(argv)
    pg_url = os.environ.get("BENCH_DATABASE_URL")
    backends = args.backend or (["sqlite", "postgresql"] if pg_url else ["sqlite"])
    if "postgresql" in backends and not pg_url:
        raise SystemExit("set BENCH_DATABASE_URL to a PostgreSQL server to benchmark it")
    rows = []
    for backend in backends:
        for schools in sorted({args.small, args.schools}):
            with database(backend, str(schools)) as (owner_url, app_url):
                print(f"{backend}, {schools} schools: generating…", file=sys.stderr, flush=True)
                generated = _child("generate", owner_url=owner_url, schools=schools)
                print(f"  generated in {generated['generate_s']} s; measuring…", file=sys.stderr)
                measured = _child("measure", url=app_url, repeat=args.repeat, owner_url=owner_url)
                rows.append({"backend": backend, "schools": schools, **generated, **measured})
                print(f"  {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    text_ = report(rows, machine(pg_url if "postgresql" in backends else None))
    print(text_)
    if args.write:
        results = ROOT / "bench" / "RESULTS.md"
        head = results.read_text().split("<!-- figures -->")[0] if results.exists() else ""
        results.write_text(
            (head or "# Scoring benchmark results\n\n")
            + "<!-- figures -->\n\n"
            + f"Run on {time.strftime('%Y-%m-%d')} with `python -m bench.run --write`.\n\n"
            + text_
            + "\n"
        )


if __name__ == "__main__":
    main()
