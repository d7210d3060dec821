"""Golden values (case C2): the drawn bytes of stream version 1 never change.

golden_v1.json was generated once, from the code at the commit that added it. If
one of these tests fails, drawn bytes changed: that is allowed only together with a
bump of ``initlab.seeds.STREAM_VERSION``, with version 1 kept selectable
(``SUPPORTED_STREAM_VERSIONS``) and a new golden_v2.json. Never edit golden_v1.json.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from _core_reference import CATALOG_NAMES

import initlab
from initlab import seeds

GOLDEN = json.loads((Path(__file__).parent / "golden_v1.json").read_text())

BUMP = ("the drawn bytes of stream version {version} changed for {entry}. If the "
        "change is intended, bump initlab.seeds.STREAM_VERSION, keep version "
        "{version} selectable (seeds.SUPPORTED_STREAM_VERSIONS) so that this test "
        "still passes with it, and add golden_v<new>.json; never edit "
        "golden_v{version}.json.")


def test_golden_file_covers_the_catalog():
    assert sorted(e["class_name"] for e in GOLDEN["entries"].values()) \
        == sorted(CATALOG_NAMES)
    assert GOLDEN["stream_version"] == 1
    assert GOLDEN["chunk_size"] == seeds.CHUNK_SIZE


def test_golden_version_stays_selectable():
    assert GOLDEN["stream_version"] in seeds.SUPPORTED_STREAM_VERSIONS


@pytest.mark.parametrize("entry", sorted(GOLDEN["entries"]))
def test_golden_digest(entry):
    spec = GOLDEN["entries"][entry]
    init = initlab.deserialize({"class_name": spec["class_name"],
                                "config": spec["config"]})
    # Draw with the file's stream version, selected explicitly.
    values = init.sample(tuple(spec["shape"]), GOLDEN["dtype"], name=GOLDEN["name"],
                         layout=GOLDEN["layout"],
                         stream_version=GOLDEN["stream_version"])
    digest = hashlib.sha256(values.astype("<f4").tobytes()).hexdigest()
    assert digest == spec["sha256"], BUMP.format(version=GOLDEN["stream_version"],
                                                 entry=entry)
