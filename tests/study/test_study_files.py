"""A user's own data: NPZ, CSV and IDX files, good and bad."""

import gzip

import numpy as np
import pytest

from initlab.study.datasets import load_dataset
from initlab.study.sources import DataFileError, resolve_source


def _images(n=40, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.integers(0, 256, size=(n, 4, 4), dtype=np.uint8)
    return x, y


def _idx_bytes(array: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">f4"): 0x0D}[array.dtype]
    header = bytes([0, 0, code, array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(folder, x, y, gz=False, prefix="train"):
    images = folder / f"{prefix}-images-idx3-ubyte"
    labels = folder / f"{prefix}-labels-idx1-ubyte"
    for path, array in ((images, x), (labels, y.astype(np.uint8))):
        data = _idx_bytes(array)
        if gz:
            path = path.with_name(path.name + ".gz")
            data = gzip.compress(data)
        path.write_bytes(data)
    return (images.with_name(images.name + ".gz") if gz else images), labels


def write_csv(path, rows, header="a,b,label"):
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _csv_rows(n=20):
    return [f"{i * 0.5},{i % 3 - 1},{i % 2}" for i in range(n)]


# ------------------------------------------------------------------------ good


def test_npz_images_are_scaled_and_split(tmp_path):
    x, y = _images()
    np.savez(tmp_path / "mine.npz", x=x, y=y)
    data = load_dataset(str(tmp_path / "mine.npz"), 0)
    assert (data.name, data.shape, data.kind, data.n_classes) == (
        "mine.npz", (4, 4), "image", 4)
    assert (len(data.y_train), len(data.y_test)) == (32, 8)
    pooled = np.concatenate([data.x_train, data.x_test])
    expected = (x.reshape(40, -1) / 255.0).astype(np.float32)
    np.testing.assert_array_equal(np.sort(pooled, axis=0), np.sort(expected, axis=0))
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64


def test_npz_vectors_are_signals_kept_as_given(tmp_path):
    x = np.linspace(-3, 3, 60, dtype=np.float64).reshape(20, 3)
    np.savez(tmp_path / "v.npz", x=x, y=np.arange(20) % 2)
    data = load_dataset(str(tmp_path / "v.npz"), 0)
    assert (data.shape, data.kind) == ((3,), "signal")
    assert np.isin(data.x_test, x.astype(np.float32)).all()


def test_csv_with_a_named_label_column_is_a_standardized_table(tmp_path):
    path = write_csv(tmp_path / "t.csv", [f"{i % 2},{i},{i * 2.0}" for i in range(20)],
                     header="species,a,b")
    source = resolve_source(str(path), label_column="species")
    data = load_dataset(source, 0)
    assert (data.name, data.shape, data.kind, data.n_classes) == (
        "t.csv", (2,), "table", 2)
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-6)
    labels = np.concatenate([data.y_train, data.y_test])
    assert sorted(labels) == sorted(i % 2 for i in range(20))


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gzip"])
def test_idx_pair_is_found_next_to_the_images(tmp_path, gz):
    x, y = _images(n=30, classes=3)
    images, _ = write_idx(tmp_path, x, y, gz=gz)
    source = resolve_source(str(images))
    assert source.kind == "idx" and source.labels.endswith("labels-idx1-ubyte" +
                                                            (".gz" if gz else ""))
    data = load_dataset(source, 0)
    assert (data.shape, data.kind, data.n_classes) == ((4, 4), "image", 3)
    assert len(data.y_train) + len(data.y_test) == 30


def test_idx_labels_can_be_named(tmp_path):
    x, y = _images(n=30, classes=3)
    images, labels = write_idx(tmp_path, x, y)
    renamed = labels.rename(tmp_path / "answers.bin")
    source = resolve_source(str(images), labels=str(renamed))
    assert load_dataset(source, 0).n_classes == 3


def test_the_content_hash_is_part_of_the_source(tmp_path):
    x, y = _images()
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    first = resolve_source(str(path))
    np.savez(path, x=x[::-1], y=y[::-1])
    assert resolve_source(str(path)).sha256 != first.sha256
    with pytest.raises(DataFileError, match="has changed since the study recorded"):
        load_dataset(first, 0)


# ------------------------------------------------------------------------- bad


def _bad_npz_missing(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.zeros((10, 2)), labels=np.zeros(10))
    return tmp_path / "f.npz", "has no array 'y'"


def _bad_npz_mismatch(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.zeros((10, 2)), y=np.zeros(9, dtype=int))
    return tmp_path / "f.npz", "10 examples in 'x' but 9 labels"


def _bad_npz_float_labels(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.zeros((10, 2)), y=np.full(10, 0.5))
    return tmp_path / "f.npz", "label 0.5 that is not an integer"


def _bad_npz_string_labels(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.zeros((4, 2)), y=np.array(["a", "b"] * 2))
    return tmp_path / "f.npz", "labels must be integers"


def _bad_npz_negative(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.zeros((4, 2)), y=np.array([0, -1, 0, -1]))
    return tmp_path / "f.npz", "negative label -1"


def _bad_npz_rank(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.zeros(10), y=np.zeros(10, dtype=int))
    return tmp_path / "f.npz", "'x' of shape (10,)"


def _bad_npz_nan(tmp_path):
    x = np.zeros((10, 2))
    x[3, 1] = np.nan
    np.savez(tmp_path / "f.npz", x=x, y=np.arange(10) % 2)
    return tmp_path / "f.npz", "NaN or infinite"


def _bad_npz_empty(tmp_path):
    (tmp_path / "f.npz").write_bytes(b"")
    return tmp_path / "f.npz", "is empty"


def _bad_npz_garbage(tmp_path):
    (tmp_path / "f.npz").write_bytes(b"not a zip archive at all")
    return tmp_path / "f.npz", "is not a readable NPZ archive"


def _bad_npz_no_examples(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.zeros((0, 3)), y=np.zeros(0, dtype=int))
    return tmp_path / "f.npz", "holds no examples"


def _bad_npz_single_class_member(tmp_path):
    np.savez(tmp_path / "f.npz", x=np.zeros((9, 2)),
             y=np.array([0, 0, 0, 0, 1, 1, 1, 1, 2]))
    return tmp_path / "f.npz", "a single example of class 2"


def _bad_csv_column(tmp_path):
    return write_csv(tmp_path / "f.csv", _csv_rows(), "a,b,target"), (
        "has no column 'label' (columns: a, b, target)")


def _bad_csv_feature(tmp_path):
    rows = _csv_rows()
    rows[4] = "1.0,oops,1"
    return write_csv(tmp_path / "f.csv", rows), "'oops' in column 'b' on line 6"


def _bad_csv_label(tmp_path):
    rows = _csv_rows()
    rows[2] = "1.0,2.0,cat"
    return write_csv(tmp_path / "f.csv", rows), "the label 'cat' on line 4"


def _bad_csv_fraction(tmp_path):
    rows = _csv_rows()
    rows[0] = "1.0,2.0,1.5"
    return write_csv(tmp_path / "f.csv", rows), "the label '1.5' on line 2"


def _bad_csv_ragged(tmp_path):
    rows = _csv_rows()
    rows[7] = "1.0,2.0"
    return write_csv(tmp_path / "f.csv", rows), "2 fields on line 9 but 3 columns"


def _bad_csv_empty(tmp_path):
    (tmp_path / "f.csv").write_text("")
    return tmp_path / "f.csv", "is empty"


def _bad_csv_header_only(tmp_path):
    return write_csv(tmp_path / "f.csv", []), "has a header but no rows"


def _bad_idx_magic(tmp_path):
    x, y = _images()
    images, _ = write_idx(tmp_path, x, y)
    images.write_bytes(b"\x01\x02" + images.read_bytes()[2:])
    return images, "is not an MNIST-format IDX file"


def _bad_idx_truncated(tmp_path):
    x, y = _images()
    images, _ = write_idx(tmp_path, x, y)
    images.write_bytes(images.read_bytes()[:-5])
    return images, "its header promises 40 x 4 x 4 values"


def _bad_idx_count(tmp_path):
    x, y = _images()
    images, _ = write_idx(tmp_path, x, y[:-1])
    return images, "holds 40 images but its labels file"


def _bad_idx_no_labels(tmp_path):
    x, y = _images()
    images, labels = write_idx(tmp_path, x, y)
    labels.unlink()
    return images, "no labels file was found next to it; name it with --labels"


def _bad_missing(tmp_path):
    return tmp_path / "nowhere.npz", "does not exist"


def _bad_unknown_type(tmp_path):
    (tmp_path / "f.txt").write_text("1 2 3\n")
    return tmp_path / "f.txt", "is of no known type"


def _bad_folder(tmp_path):
    (tmp_path / "d.npz").mkdir()
    return tmp_path / "d.npz", "is a folder"


BAD_FILES = [value for name, value in sorted(globals().items())
             if name.startswith("_bad_")]


@pytest.mark.parametrize("make", BAD_FILES, ids=lambda f: f.__name__[5:])
def test_a_bad_file_gets_one_sentence_naming_it(tmp_path, make):
    path, problem = make(tmp_path)
    with pytest.raises(DataFileError) as info:
        load_dataset(resolve_source(str(path)), 0)
    message = str(info.value)
    assert problem in message
    assert str(path) in message or path.name in message
    assert "\n" not in message and message.endswith(".")


def test_an_unreadable_file_names_the_reason_even_for_root(tmp_path, monkeypatch):
    from initlab.study import sources

    path = tmp_path / "locked.npz"
    np.savez(path, x=np.zeros((4, 2)), y=np.zeros(4, dtype=int))

    def refuse(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(sources, "open", refuse, raising=False)
    with pytest.raises(DataFileError) as info:
        resolve_source(str(path))
    assert str(info.value) == (f"Cannot read data file {str(path)!r}: Permission "
                               "denied.")


def test_an_unreadable_file_names_the_reason(tmp_path):
    import os

    path = tmp_path / "locked.npz"
    np.savez(path, x=np.zeros((4, 2)), y=np.zeros(4, dtype=int))
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who reads any file (root)")
        with pytest.raises(DataFileError, match="Cannot read data file .*locked.npz"):
            resolve_source(str(path))
    finally:
        path.chmod(0o644)
