"""The landing scan never reads outside the landing folder: symlinks (to files or folders, inside or
outside) are skipped with a warning naming them; hidden, lock and partial files with an info line.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tsunagu.flows import LandingFile
from tsunagu.pipeline import scan_landing

LOGGER = "tsunagu.pipeline"


def touch(path: Path, text: str = "x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def lines(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == level]


def test_symlinks_are_skipped_and_named(tmp_path, caplog):
    landing = tmp_path / "landing"
    outside = tmp_path / "outside"
    touch(outside / "2025" / "19" / "secret.csv")
    touch(outside / "meibo.xlsx")
    folder = landing / "home_care_reports" / "2025" / "19"
    good = touch(folder / "山梨.csv")
    (folder / "passwd.csv").symlink_to("/etc/passwd")  # a file outside
    (folder / "again.csv").symlink_to(good)  # a file inside: still a symlink
    (folder / "gone.csv").symlink_to(tmp_path / "nowhere.csv")  # dangling
    (landing / "home_care_reports" / "2024").symlink_to(outside / "2025", target_is_directory=True)  # a folder
    (landing / "register").symlink_to(outside, target_is_directory=True)  # a kind's whole folder
    (landing / "request_forms").mkdir()
    (landing / "request_forms" / "2025").symlink_to(landing / "home_care_reports" / "2025")  # a folder inside

    with caplog.at_level(logging.INFO, logger=LOGGER):
        found = scan_landing(landing)
    assert found == [LandingFile("home_care_report", str(good), "19", 2025)]
    reason = "a symlink (the landing scan never follows one)"
    assert sorted(lines(caplog, logging.WARNING)) == sorted([
        f"skipping {folder / 'again.csv'}: {reason}",
        f"skipping {folder / 'gone.csv'}: {reason}",
        f"skipping {folder / 'passwd.csv'}: {reason}",
        f"skipping {landing / 'home_care_reports' / '2024'}: {reason}",
        f"skipping {landing / 'register'}: {reason}",
        f"skipping {landing / 'request_forms' / '2025'}: {reason}",
    ])


def test_a_folder_on_the_way_that_is_a_symlink_is_skipped(tmp_path, caplog):
    landing = tmp_path / "landing"
    touch(tmp_path / "elsewhere" / "community_support" / "application" / "2024" / "19" / "申請.xlsx")
    landing.mkdir()
    (landing / "grants").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        assert scan_landing(landing) == []
    warned = lines(caplog, logging.WARNING)
    assert f"skipping {landing / 'grants' / 'community_support' / 'application'}: a symlink on the way " \
           f"(the landing scan never follows one)" in warned


def test_a_landing_root_that_is_itself_a_symlink_is_read(tmp_path, caplog):
    """Mounting the landing folder through a link is the operator's choice; below it, no link is followed."""
    real = tmp_path / "real_landing"
    good = touch(real / "home_care_reports" / "2025" / "19" / "山梨.csv")
    landing = tmp_path / "landing"
    landing.symlink_to(real, target_is_directory=True)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        found = scan_landing(landing)
    assert found == [LandingFile("home_care_report", str(landing / good.relative_to(real)), "19", 2025)]
    assert lines(caplog, logging.WARNING) == []


def test_ignored_names_get_an_info_line(tmp_path, caplog):
    landing = tmp_path / "landing"
    folder = landing / "home_care_reports" / "2025" / "19"
    good = touch(folder / "山梨.xlsx")
    for name in (".DS_Store", "~$山梨.xlsx", "山梨.xlsx.part", "upload.tmp"):
        touch(folder / name)
    os.mkfifo(folder / "pipe.csv")  # not a regular file: never opened
    with caplog.at_level(logging.INFO, logger=LOGGER):
        found = scan_landing(landing)
    assert found == [LandingFile("home_care_report", str(good), "19", 2025)]
    assert sorted(lines(caplog, logging.INFO)) == sorted(
        f"ignoring {folder / name}: a hidden, lock or partial file"
        for name in (".DS_Store", "~$山梨.xlsx", "山梨.xlsx.part", "upload.tmp"))
    assert lines(caplog, logging.WARNING) == [f"skipping {folder / 'pipe.csv'}: not a regular file"]
