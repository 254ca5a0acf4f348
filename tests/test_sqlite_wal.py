"""SQLite's write-ahead log shrinks back once a checkpoint lets it start over."""

from pathlib import Path

from grafeas_py.storage.engine import make_engine

MIB = 1024 * 1024


def test_the_wal_is_cut_back_to_its_size_limit_after_a_checkpoint(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    wal = tmp_path / "wal.db-wal"
    try:
        with engine.connect() as conn:
            limit = conn.exec_driver_sql("PRAGMA journal_size_limit").scalar()
        assert limit > 0, "without a limit SQLite keeps the WAL at its largest size for good"
        with engine.begin() as conn:  # one transaction's pages all go to the WAL, checkpoints or not
            conn.exec_driver_sql("CREATE TABLE blobs (b BLOB)")
            conn.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO blobs SELECT randomblob(?) FROM n",
                (limit // MIB + 16, MIB),
            )
        assert wal.stat().st_size > limit
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            busy, frames, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            assert busy == 0 and frames == copied  # a complete checkpoint: the log may start over
            # SQLite starts the log over, cutting the file, at a write whose read began after the
            # checkpoint; the first write here re-takes its read lock for that.
            conn.exec_driver_sql("DELETE FROM blobs")
            conn.exec_driver_sql("INSERT INTO blobs VALUES (x'00')")
        assert wal.stat().st_size <= limit
    finally:
        engine.dispose()
