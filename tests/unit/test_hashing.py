import pytest

from selftrain_core.hashing import cached_file_sha256, derive_seed, file_sha256, place_in_cache, stable_hash


def test_stable_hash_ignores_key_order_and_is_short():
    assert stable_hash({"a": 1, "b": [1, 2]}) == stable_hash({"b": [1, 2], "a": 1})
    assert stable_hash({"a": 1}) != stable_hash({"a": 2})
    assert len(stable_hash("x", 20)) == 20


def test_derive_seed_is_stable_and_31_bit():
    assert derive_seed(0, "answers", "q-1", "no_doc") == derive_seed(0, "answers", "q-1", "no_doc")
    assert derive_seed(0, "q-1") != derive_seed(1, "q-1")
    assert 0 <= derive_seed("anything") < 2**31


def test_cached_file_hash_follows_content(tmp_path):
    path = tmp_path / "w.bin"
    path.write_bytes(b"one")
    assert cached_file_sha256(path) == file_sha256(path)
    path.write_bytes(b"two!")
    assert cached_file_sha256(path) == file_sha256(path)


def test_a_cache_entry_placed_first_by_another_process_is_kept(tmp_path):
    target = tmp_path / "models" / "m"
    target.parent.mkdir()
    for n, text in enumerate(("first", "second")):  # two processes finish the same entry, one after the other
        tmp = tmp_path / "models" / f"m.tmp{n}"
        tmp.mkdir()
        (tmp / "config.json").write_text(text)
        place_in_cache(tmp, target)
        assert not tmp.exists()
    assert (target / "config.json").read_text() == "first"
    lost = tmp_path / "nowhere" / "m.tmp"  # nothing placed there and the move failed: the error is the caller's
    lost.mkdir(parents=True)
    with pytest.raises(OSError):
        place_in_cache(lost, tmp_path / "missing-parent" / "m")
