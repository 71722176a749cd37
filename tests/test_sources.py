"""Listing inputs: files, folders (recursive, hidden skipped), globs; missing paths fail early."""

from __future__ import annotations

import pytest

from sceneline.transforms.io.sources import InputNotFoundError, list_inputs


@pytest.fixture
def tree(tmp_path):
    for rel in ["a.mp4", "sub/b.jpg", "sub/deeper/c.webm", ".hidden.mp4", ".git/d.mp4", "sub/.e.png"]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 10)
    return tmp_path


def names(listing):
    return sorted(f.filename for f in listing.files)


def test_folder_is_listed_recursively_without_hidden_files(tree):
    listing = list_inputs([str(tree)])
    assert names(listing) == ["a.mp4", "b.jpg", "c.webm"]
    assert listing.hidden_skipped == 3  # .hidden.mp4, .git/, sub/.e.png
    assert all(f.size_bytes == 10 for f in listing.files)


def test_globs_and_files_are_listed_once(tree):
    listing = list_inputs([str(tree / "**" / "*.webm"), str(tree / "a.mp4"), str(tree / "a.mp4")])
    assert names(listing) == ["a.mp4", "c.webm"]


def test_missing_path_fails_before_any_work(tree):
    with pytest.raises(InputNotFoundError, match="no such file"):
        list_inputs([str(tree / "nope")])
    with pytest.raises(InputNotFoundError, match="no file matches"):
        list_inputs([str(tree / "*.mkv")])
